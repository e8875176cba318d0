//! The export of one (tenant, dataset): checkpoint → (objects a crashed run left) → windows → gzip NDJSON objects
//! → checkpoint. One struct, [`DatasetRun`], carries the run's state; its methods are the steps.
//!
//! A run reads from `frontier − re-check band` (the first run: from the initial look-back, or the job's `since`)
//! up to the service's clock minus the settle time, in windows (`window.rs`); versions `seen` lists are
//! suppressed. Records go into an object named after the range it covers (`<frontier>_<end>`), written if absent;
//! then the checkpoint moves the frontier to that end. A run that finds an object named after its frontier (the
//! previous run stopped between the two writes) reads it back and only advances the checkpoint: each record
//! version is stored once, however many crashes.

use std::io::{BufRead, BufReader};

use backon::{BackoffBuilder as _, ExponentialBuilder};
use mde_contracts::{Dataset, DatasetRunSummary, DatasetStatus, QuarantinedPage, QuarantinedQuery, TenantId};
use mde_defender::api::{ExportWindow, Record, RecordView};
use mde_defender::{DefenderClient, DefenderError};
use mde_platform::{ObjectStore, PutCondition};
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};
use tracing::{debug, error, info, warn};

use crate::checkpoint::{self, Backfill, Seen, State};
use crate::durable::{self, PutFailure};
use crate::encode::{ObjectWriter, Version};
use crate::keys::{checkpoint_key, format_time, object_end, object_key, object_prefix, quarantine_key};
use crate::window::{Budget, TICK, Walk, WalkError, WindowError};
use crate::{Clock, ExportError, ExportObserver, ExportProgress, ExportSettings};

/// A checkpoint whose frontier is later than the service's clock by more than this is refused.
const FUTURE_TOLERANCE: Duration = Duration::minutes(5);
/// The first window's width when the checkpoint has none: the whole range (halved while full).
const FIRST_WIDTH: Duration = crate::window::MAX_WIDTH;
/// How often a run that finds its checkpoint advanced by another run starts again from that run's progress
/// (after a short jittered pause each), before it reports the conflict and leaves the rest to that run.
const CONFLICT_RESTARTS: usize = 3;

/// What a run of one (tenant, dataset) needs from the run.
pub(crate) struct Context<'a> {
    pub client: &'a DefenderClient,
    pub store: &'a dyn ObjectStore,
    pub settings: &'a ExportSettings,
    pub clock: &'a dyn Clock,
    pub observer: &'a dyn ExportObserver,
    pub run_id: &'a str,
    /// When to stop reading (the invocation's deadline minus the margin to write).
    pub deadline: std::time::Instant,
}

#[derive(Debug, Default)]
struct Counters {
    records: u64,
    suppressed: u64,
    flagged: u64,
    bytes: u64,
    objects: u64,
    quarantined: u64,
    quarantine_seq: u32,
}

/// How reading a range ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Every window up to the end was exported.
    Complete,
    /// The deadline or the call budget came first.
    OutOfTime,
}

/// Which range is read: the live one (up to the service's time) or a backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    Live,
    Backfill,
}

/// An object being filled: its records, and the range's frontier as last checkpointed when it was started (its
/// key's `from`).
struct OpenObject {
    writer: ObjectWriter,
    from: OffsetDateTime,
    /// Of the record versions written, in order (the key's digest).
    digest: Sha256,
}

/// One (tenant, dataset) export.
pub(crate) struct DatasetRun<'a> {
    ctx: &'a Context<'a>,
    tenant: &'a TenantId,
    dataset: Dataset,
    since: Option<OffsetDateTime>,
    /// The job's `since`, for a restart (`begin` consumes `since`).
    job_since: Option<OffsetDateTime>,
    key: String,
    state: State,
    walk: Walk<'a>,
    budget: Budget,
    counters: Counters,
    object: Option<OpenObject>,
    note: Option<String>,
    /// The end of this run's live range, once known.
    live_end: Option<OffsetDateTime>,
    /// The frontiers (live, backfill) as the stored checkpoint holds them. An object starts at its range's: the
    /// frontier in memory moves on past windows with nothing new, and the run after a crash looks for the
    /// crashed run's object under the checkpoint's frontier.
    saved: (Option<OffsetDateTime>, Option<OffsetDateTime>),
    /// The version of the record being written (a buffer reused from record to record).
    version: Version,
}

impl<'a> DatasetRun<'a> {
    pub(crate) fn new(
        ctx: &'a Context<'a>,
        tenant: &'a TenantId,
        dataset: Dataset,
        since: Option<OffsetDateTime>,
    ) -> Self {
        let settings = ctx.settings;
        Self {
            ctx,
            tenant,
            dataset,
            since,
            job_since: since,
            key: checkpoint_key(dataset, tenant),
            state: State::default(),
            walk: Walk::new(
                ctx.client,
                tenant,
                dataset,
                settings.page_size(dataset),
                FIRST_WIDTH,
                None,
            ),
            budget: Budget {
                deadline: tokio::time::Instant::from_std(ctx.deadline),
                max_calls: settings.max_calls_per_dataset,
            },
            counters: Counters::default(),
            object: None,
            note: None,
            live_end: None,
            saved: (None, None),
            version: Version::default(),
        }
    }

    /// Exports, and sums up what happened (and whether the application credential was refused, which fails
    /// every tenant alike); failures are in the summary, never panics or early returns.
    pub(crate) async fn run(mut self) -> (DatasetRunSummary, bool) {
        self.ctx.observer.started(self.tenant, self.dataset);
        let mut result = self.export().await;
        let mut pauses = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(std::time::Duration::from_millis(250))
            .with_max_times(CONFLICT_RESTARTS)
            .build();
        while matches!(result, Err(ExportError::CheckpointConflict { .. }))
            && let Some(pause) = pauses.next()
            && tokio::time::Instant::now() + pause < self.budget.deadline
        {
            info!(tenant = %self.tenant, dataset = %self.dataset, "another run advanced the checkpoint first: going on from its progress");
            tokio::time::sleep(pause).await;
            self.restart();
            result = self.export().await;
        }
        let (status, error) = match result {
            Ok(status) => (status, None),
            Err(e @ ExportError::CheckpointConflict { .. }) => (DatasetStatus::Conflict, Some(e)),
            Err(e) => (DatasetStatus::Failed, Some(e)),
        };
        let frontier = self.state.frontier;
        let now = self.walk.service_now;
        let lag_seconds = frontier.zip(now).map(|(f, n)| (n - f).whole_seconds());
        let c = &self.counters;
        let summary = DatasetRunSummary {
            tenant_id: self.tenant.clone(),
            dataset: self.dataset,
            status,
            records: c.records,
            suppressed: c.suppressed,
            flagged: c.flagged,
            pages: self.walk.calls,
            api_calls: self.walk.calls,
            splits: self.walk.splits,
            skip_sweeps: self.walk.sweeps,
            bytes: c.bytes,
            objects: c.objects,
            quarantined: c.quarantined,
            lag_seconds,
            frontier: frontier.map(format_time),
            note: self.note.clone(),
            error: error.as_ref().map(ToString::to_string),
        };
        match &error {
            None => info!(
                tenant = %self.tenant, dataset = %self.dataset, status = ?status, records = c.records,
                suppressed = c.suppressed, api_calls = self.walk.calls, splits = self.walk.splits,
                objects = c.objects, bytes = c.bytes, lag_seconds, "dataset exported"
            ),
            Some(e) => error!(
                tenant = %self.tenant, dataset = %self.dataset, status = ?status, records = c.records,
                api_calls = self.walk.calls, quarantined = c.quarantined, error = %e, "dataset export failed"
            ),
        }
        self.ctx.observer.finished(&summary);
        let refused = matches!(&error, Some(ExportError::Api(e)) if matches!(**e,
            DefenderError::Credential(_) | DefenderError::CredentialInvalid { .. } | DefenderError::CredentialExpired { .. }));
        (summary, refused)
    }

    /// Forgets what this run read since its checkpoint, to start again from the one another run advanced (a
    /// duplicate delivery of the same job, say): what that run checkpointed is stored, so nothing is lost, and the
    /// versions it saw are suppressed from here on. An object this run wrote before its checkpoint write lost
    /// stays (it may repeat versions the other run stored: consumers deduplicate on `dedupe_key`). The totals of
    /// the summary are kept.
    fn restart(&mut self) {
        let mut walk = Walk::new(
            self.ctx.client,
            self.tenant,
            self.dataset,
            self.ctx.settings.page_size(self.dataset),
            FIRST_WIDTH,
            None,
        );
        walk.calls = self.walk.calls;
        walk.splits = self.walk.splits;
        walk.sweeps = self.walk.sweeps;
        self.walk = walk;
        self.since = self.job_since;
        self.state = State::default();
        self.object = None;
        self.note = None;
        self.live_end = None;
        self.saved = (None, None);
    }

    async fn export(&mut self) -> Result<DatasetStatus, ExportError> {
        self.state = checkpoint::load(self.ctx.store, &self.key, self.tenant, self.dataset).await?;
        self.note_saved();
        if let Some(w) = self.state.window {
            self.walk.width = w.clamp(TICK, FIRST_WIDTH);
        }
        if let Some(cap) = self.state.page_cap {
            self.walk.top = self.walk.top.min(cap).max(2);
            self.walk.page_cap = Some(cap);
        }
        self.recover().await?;
        let start = match self.state.frontier {
            Some(frontier) => {
                let band_start = frontier - duration(self.ctx.settings.recheck_band());
                self.state.covered_from.map_or(band_start, |c| band_start.max(c))
            }
            None => self.begin().await?,
        };
        self.plan_backfill();
        let live = self.read_range(Range::Live, start).await;
        let live = self.finish_range(Range::Live, live).await?;
        if live == Stop::Complete
            && let Some(backfill) = self.state.backfill
        {
            let stop = self.read_range(Range::Backfill, backfill.frontier).await;
            let stop = self.finish_range(Range::Backfill, stop).await?;
            if stop == Stop::OutOfTime {
                return Ok(DatasetStatus::Partial);
            }
        }
        Ok(match live {
            Stop::Complete => DatasetStatus::Completed,
            Stop::OutOfTime => {
                warn!(tenant = %self.tenant, dataset = %self.dataset, frontier = ?self.state.frontier.map(format_time), "the run's time or call budget ran out: progress saved, the next run goes on");
                DatasetStatus::Partial
            }
        })
    }

    /// The first run of a dataset: learn the service's clock, start at `since` or the initial look-back, and
    /// record that start (so a crash before the first checkpoint still finds its object).
    async fn begin(&mut self) -> Result<OffsetDateTime, ExportError> {
        let probe_at = self.ctx.clock.now();
        let from = self
            .since
            .unwrap_or_else(|| probe_at - duration(self.ctx.settings.initial_lookback()));
        self.walk
            .probe(probe_at, from)
            .await
            .map_err(|e| self.request_failed(e))?;
        let now = self.service_now();
        let start = match self.since {
            Some(since) if since > now => {
                return Err(ExportError::InvalidJob(format!(
                    "since {} is later than the service's time ({}): nothing can have been updated then yet",
                    format_time(since),
                    format_time(now)
                )));
            }
            Some(since) => since,
            None => now - duration(self.ctx.settings.initial_lookback()),
        };
        self.since = None;
        self.state.frontier = Some(start);
        self.state.covered_from = Some(start);
        self.save().await?;
        Ok(start)
    }

    /// A `since` earlier than what is covered becomes a backfill of the gap; a later one has nothing to do.
    fn plan_backfill(&mut self) {
        let Some(since) = self.since else {
            return;
        };
        let Some(covered) = self.state.covered_from else {
            self.note = Some(
                "this checkpoint was upgraded from format 1 and does not record where its coverage starts: a \
                 backfill is not possible without exporting again what it covered"
                    .into(),
            );
            return;
        };
        match self.state.backfill {
            Some(b) if b.from == since => {}
            Some(b) => {
                self.note = Some(format!(
                    "a backfill from {} is under way (exported up to {}); it goes on, ask for {} once it is done",
                    format_time(b.from),
                    format_time(b.frontier),
                    format_time(since)
                ));
            }
            None if since >= covered => {
                self.note = Some(format!(
                    "nothing to backfill: this dataset is exported since {}; records after {} were already \
                     exported",
                    format_time(covered),
                    format_time(since)
                ));
            }
            None => {
                info!(tenant = %self.tenant, dataset = %self.dataset, from = %format_time(since), to = %format_time(covered), "backfill planned");
                self.state.backfill = Some(Backfill {
                    from: since,
                    to: covered,
                    frontier: since,
                });
            }
        }
    }

    /// The service's clock, or this host's if the service sent no `Date` (logged).
    fn service_now(&self) -> OffsetDateTime {
        self.walk.service_now.unwrap_or_else(|| {
            warn!(tenant = %self.tenant, dataset = %self.dataset, "the service sent no Date header: using this host's clock");
            self.ctx.clock.now()
        })
    }

    /// Where the range being read ends. The live range ends at the service's clock minus the settle time, taken
    /// once per run at its first answer: a run whose tenant changes faster than it reads still ends.
    fn end(&mut self, range: Range, start: OffsetDateTime) -> OffsetDateTime {
        match range {
            Range::Backfill => self.state.backfill.map_or(start, |b| b.to),
            Range::Live => {
                let frontier = self.state.frontier.unwrap_or(start);
                if self.live_end.is_none()
                    && let Some(now) = self.walk.service_now
                {
                    self.live_end = Some(now - duration(self.ctx.settings.settle()));
                }
                // Until the service has told its time, read no further than the frontier (the band).
                self.live_end.map_or(frontier, |end| end.max(frontier))
            }
        }
    }

    /// The frontier a range's progress is recorded in.
    fn frontier(&self, range: Range) -> Option<OffsetDateTime> {
        match range {
            Range::Live => self.state.frontier,
            Range::Backfill => self.state.backfill.map(|b| b.frontier),
        }
    }

    /// The range's frontier as the stored checkpoint holds it.
    fn saved_frontier(&self, range: Range) -> Option<OffsetDateTime> {
        match range {
            Range::Live => self.saved.0,
            Range::Backfill => self.saved.1,
        }
    }

    fn note_saved(&mut self) {
        self.saved = (self.state.frontier, self.state.backfill.map(|b| b.frontier));
    }

    /// Reads `[start, end)` window by window into objects, flushing and checkpointing as objects fill.
    ///
    /// The re-check band (behind the frontier) does not count against the per-run call budget: the frontier only
    /// moves past it, so a budget spent in the band would re-read the same band run after run.
    async fn read_range(&mut self, range: Range, start: OffsetDateTime) -> Result<Stop, ExportError> {
        let mut cursor = start;
        let mut checked_future = false;
        let band_end = match range {
            Range::Live => self.state.frontier.filter(|f| *f > start),
            Range::Backfill => None,
        };
        let budget = self.budget.max_calls;
        if band_end.is_some() {
            self.budget.max_calls = None;
        }
        let mut in_band = band_end.is_some();
        loop {
            if in_band && band_end.is_some_and(|f| cursor >= f) {
                in_band = false;
                self.budget.max_calls = budget.map(|max| self.walk.calls + max);
                // Past the band, go on at the width the last live read ended with: the band's density (often the
                // densest stretch, just behind the frontier) says little about what follows.
                if let Some(w) = self.state.window {
                    self.walk.width = w.clamp(TICK, FIRST_WIDTH);
                }
            }
            if range == Range::Live
                && !checked_future
                && let (Some(now), Some(frontier)) = (self.walk.service_now, self.state.frontier)
            {
                checked_future = true;
                if frontier > now + FUTURE_TOLERANCE {
                    return Err(ExportError::FutureCheckpoint {
                        location: self.ctx.store.location(&self.key),
                        frontier: format_time(frontier),
                        service_now: format_time(now),
                    });
                }
            }
            let end = self.end(range, start);
            if cursor >= end {
                if range == Range::Live && self.walk.service_now.is_none() {
                    // No band to read (re-check band 0): ask the service its time to know how far to go.
                    self.walk
                        .ask_time(cursor)
                        .await
                        .map_err(|e| self.request_failed(e))?;
                    continue;
                }
                return Ok(Stop::Complete);
            }
            let mut writer = RecordWriter {
                ctx: self.ctx,
                tenant: self.tenant,
                dataset: self.dataset,
                from: self.saved_frontier(range).unwrap_or_else(|| self.ctx.clock.now()),
                seen: &mut self.state.seen,
                version: &mut self.version,
                object: &mut self.object,
                counters: &mut self.counters,
            };
            let mut sink = |record: RecordView<'_>| writer.write(&record);
            match self.walk.next(cursor, end, &self.budget, &mut sink).await {
                Ok(None) => return Ok(Stop::OutOfTime),
                Ok(Some(to)) => cursor = to,
                Err(WalkError::Sink(e)) => return Err(e),
                Err(WalkError::Request(e)) if is_window_failure(&e.source) => {
                    let location = self.quarantine(&e.window, &e.source.to_string()).await?;
                    if !self.ctx.settings.skip_failed_pages {
                        return Err(ExportError::PageQuarantined {
                            location,
                            source: Box::new(e.source),
                        });
                    }
                    warn!(tenant = %self.tenant, dataset = %self.dataset, quarantine = %location, "moving past a window that keeps failing (export.skip_failed_pages): its records are not exported");
                    cursor = e.window.to;
                }
                Err(WalkError::Request(e)) => return Err(self.request_failed(e)),
                Err(WalkError::Unstable { window, reason }) => {
                    let location = self.quarantine(&window, &reason).await?;
                    return Err(ExportError::UnstableCell { location, reason });
                }
            }
            self.advance(range, cursor);
            let progress = ExportProgress {
                records: self.counters.records,
                suppressed: self.counters.suppressed,
                pages: self.walk.calls,
            };
            self.ctx.observer.page_read(self.tenant, self.dataset, progress);
            if self
                .object
                .as_ref()
                .is_some_and(|o| o.writer.compressed_len() as u64 >= self.ctx.settings.max_object_bytes)
            {
                self.flush(range).await?;
                self.save().await?;
            }
        }
    }

    /// Writes what a range read (or the part read before it failed) and checkpoints; then passes the outcome on.
    async fn finish_range(
        &mut self,
        range: Range,
        read: Result<Stop, ExportError>,
    ) -> Result<Stop, ExportError> {
        // What was read goes out before any checkpoint mentions it; after a storage failure nothing is written.
        if let Err(e) = &read
            && !matches!(
                e,
                ExportError::Api(_) | ExportError::PageQuarantined { .. } | ExportError::UnstableCell { .. }
            )
        {
            return read;
        }
        self.flush(range).await?;
        if range == Range::Backfill
            && read.as_ref().is_ok_and(|s| *s == Stop::Complete)
            && let Some(b) = self.state.backfill.take()
        {
            info!(tenant = %self.tenant, dataset = %self.dataset, from = %format_time(b.from), "backfill complete");
            self.state.covered_from = Some(b.from);
        }
        if range == Range::Live {
            self.state.window = Some(self.walk.width);
        }
        self.state.page_cap = self.walk.page_cap;
        self.save().await?;
        read
    }

    /// Moves the range's progress to `cursor` (the frontier never moves back: the band is read behind it).
    fn advance(&mut self, range: Range, cursor: OffsetDateTime) {
        match range {
            Range::Live => {
                self.state.frontier = Some(self.state.frontier.map_or(cursor, |f| f.max(cursor)));
            }
            Range::Backfill => {
                if let Some(b) = &mut self.state.backfill {
                    b.frontier = b.frontier.max(cursor);
                }
            }
        }
    }

    /// Writes the open object, named after the range it covers, if absent.
    async fn flush(&mut self, range: Range) -> Result<(), ExportError> {
        let Some(object) = self.object.take() else {
            return Ok(());
        };
        let to = self.frontier(range).unwrap_or(object.from).max(object.from);
        let digest = hex::encode(&object.digest.finalize()[..4]);
        let key = object_key(self.dataset, self.tenant, object.from, to, &digest);
        let records = object.writer.records();
        let body = object.writer.finish()?;
        let len = body.len() as u64;
        match durable::put(self.ctx.store, &key, body, PutCondition::IfAbsent).await {
            Ok(_) => {}
            // The same versions of the same range are stored already (a concurrent run from the same checkpoint;
            // its checkpoint write or ours will find the other).
            Err(PutFailure::Conflict) => {
                warn!(tenant = %self.tenant, dataset = %self.dataset, key, "this object is stored already: not written again");
                return Ok(());
            }
            Err(PutFailure::Store(source)) => {
                return Err(ExportError::Storage {
                    action: "writing",
                    location: self.ctx.store.location(&key),
                    source,
                });
            }
        }
        self.counters.bytes += len;
        self.counters.objects += 1;
        debug!(tenant = %self.tenant, dataset = %self.dataset, records, bytes = len, key, "object written");
        Ok(())
    }

    async fn save(&mut self) -> Result<(), ExportError> {
        if let Some(frontier) = self.state.frontier {
            let threshold = frontier - duration(self.ctx.settings.recheck_band());
            let max = usize::try_from(self.ctx.settings.max_seen).unwrap_or(usize::MAX);
            self.state.seen.prune(threshold, max);
        }
        checkpoint::save(
            self.ctx.store,
            &self.key,
            self.tenant,
            self.dataset,
            &mut self.state,
            self.ctx.run_id,
            self.ctx.clock.now(),
        )
        .await?;
        self.note_saved();
        Ok(())
    }

    /// Objects named after the checkpoint's frontiers were written by a run that stopped before checkpointing
    /// them: their records are exported; record them and move the frontier past them.
    async fn recover(&mut self) -> Result<(), ExportError> {
        let mut found = false;
        for range in [Range::Live, Range::Backfill] {
            let Some(frontier) = self.frontier(range) else {
                continue;
            };
            let prefix = object_prefix(self.dataset, self.tenant, frontier);
            let keys = self
                .ctx
                .store
                .list(&prefix)
                .await
                .map_err(|source| ExportError::Storage {
                    action: "listing",
                    location: self.ctx.store.location(&prefix),
                    source,
                })?;
            for key in keys {
                let Some(end) = object_end(&key) else {
                    continue;
                };
                let versions = self.read_back(&key).await?;
                warn!(tenant = %self.tenant, dataset = %self.dataset, key, versions, "an object written by a run that stopped before its checkpoint: recorded, not written again");
                self.advance(range, end);
                found = true;
            }
        }
        if found {
            self.save().await?;
        }
        Ok(())
    }

    /// Reads an export object back and adds its record versions to `seen`; returns how many it holds.
    async fn read_back(&mut self, key: &str) -> Result<usize, ExportError> {
        let corrupt = |reason: String| ExportError::CorruptObject {
            location: self.ctx.store.location(key),
            reason,
        };
        let object = self
            .ctx
            .store
            .get(key)
            .await
            .map_err(|source| ExportError::Storage {
                action: "reading",
                location: self.ctx.store.location(key),
                source,
            })?
            .ok_or_else(|| corrupt("it was listed but cannot be read".into()))?;
        let reader = BufReader::new(flate2::read::GzDecoder::new(&object.body[..]));
        let mut count = 0;
        let mut version = Version::default();
        #[derive(serde::Deserialize)]
        struct Line {
            record: Box<RawValue>,
        }
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| corrupt(format!("line {}: {e}", i + 1)))?;
            let parsed: Line =
                serde_json::from_str(&line).map_err(|e| corrupt(format!("line {}: {e}", i + 1)))?;
            let mut record =
                Record::from_raw(parsed.record).map_err(|e| corrupt(format!("line {}: {e}", i + 1)))?;
            // Keyed as the listing keyed it when it was written (else these versions would not suppress repeats).
            if self.dataset == Dataset::M365dIncidents {
                record = record.keyed_by_incident_id();
            }
            version.read(&record.view());
            self.state.seen.insert(&version);
            count += 1;
        }
        Ok(count)
    }

    fn request_failed(&self, e: WindowError) -> ExportError {
        ExportError::Api(Box::new(e.source))
    }

    async fn quarantine(&mut self, window: &ExportWindow, error: &str) -> Result<String, ExportError> {
        let key = quarantine_key(
            self.dataset,
            self.tenant,
            self.ctx.run_id,
            self.counters.quarantine_seq,
        );
        self.counters.quarantine_seq += 1;
        let page = QuarantinedPage {
            tenant_id: self.tenant.clone(),
            dataset: self.dataset,
            run_id: self.ctx.run_id.to_owned(),
            recorded_at: format_time(self.ctx.clock.now()),
            query: QuarantinedQuery {
                from: format_time(window.from),
                to: format_time(window.to),
                created: window.created.map(|(a, b)| (format_time(a), format_time(b))),
                top: window.top,
                skip: window.skip,
            },
            error: error.to_owned(),
            moved_past: self.ctx.settings.skip_failed_pages,
        };
        let body = serde_json::to_vec_pretty(&page).map_err(std::io::Error::other)?;
        durable::put(self.ctx.store, &key, body.into(), PutCondition::IfAbsent)
            .await
            .map_err(|e| match e {
                PutFailure::Conflict => ExportError::Storage {
                    action: "writing (the key already exists)",
                    location: self.ctx.store.location(&key),
                    source: mde_platform::PlatformError::PreconditionFailed { key: key.clone() },
                },
                PutFailure::Store(source) => ExportError::Storage {
                    action: "writing",
                    location: self.ctx.store.location(&key),
                    source,
                },
            })?;
        self.counters.quarantined += 1;
        let location = self.ctx.store.location(&key);
        error!(tenant = %self.tenant, dataset = %self.dataset, quarantine = %location, error, "a window kept failing");
        Ok(location)
    }
}

/// Failures of one window's answer (garbage, or a 4xx the API gives that request), as opposed to the tenant's or
/// the network's (consent, credentials, throttling, an unreachable or failing service), which hold the cursor
/// without quarantining anything.
fn is_window_failure(e: &DefenderError) -> bool {
    matches!(
        e,
        DefenderError::UnexpectedBody { .. } | DefenderError::Api { .. }
    )
}

fn duration(d: std::time::Duration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::MAX)
}

/// Where the records a walk reads go: the open object (started on the first record), unless the version was
/// exported already. Records of a window that turns out full are written too (they are real versions); reading
/// its parts again finds them in `seen`.
struct RecordWriter<'w> {
    ctx: &'w Context<'w>,
    tenant: &'w TenantId,
    dataset: Dataset,
    /// The range's checkpointed frontier (the key's `from` of an object started now).
    from: OffsetDateTime,
    seen: &'w mut Seen,
    /// The version of the record being written (a buffer reused from record to record).
    version: &'w mut Version,
    object: &'w mut Option<OpenObject>,
    counters: &'w mut Counters,
}

impl RecordWriter<'_> {
    fn write(&mut self, record: &RecordView<'_>) -> Result<(), ExportError> {
        let version = &mut *self.version;
        version.read(record);
        if self.seen.contains(version.key()) {
            self.counters.suppressed += 1;
            return Ok(());
        }
        let object = self.object.get_or_insert_with(|| OpenObject {
            writer: ObjectWriter::new(
                self.ctx.settings.gzip_level,
                self.tenant.as_str(),
                self.dataset.as_str(),
                self.ctx.clock.now(),
            ),
            from: self.from,
            digest: Sha256::new(),
        });
        object.writer.write(record, version)?;
        object.digest.update(version.key().as_bytes());
        object.digest.update(b"\n");
        self.counters.records += 1;
        if !version.flags().is_empty() {
            self.counters.flagged += 1;
            warn!(tenant = %self.tenant, dataset = %self.dataset, id = record.id(), dedupe_key = %version.key(), flags = ?version.flags(), "record exported with a flag");
        }
        self.seen.insert(version);
        Ok(())
    }
}
