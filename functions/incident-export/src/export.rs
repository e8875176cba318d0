//! The export of one (tenant, dataset): checkpoint → pages → gzip NDJSON objects → checkpoint.

use std::time::Instant;

use futures::StreamExt;
use mde_contracts::{Dataset, DatasetRunSummary, DatasetStatus, QuarantinedPage, QuarantinedQuery, TenantId};
use mde_defender::{DefenderClient, DefenderError};
use mde_platform::{ObjectStore, PutCondition};
use time::OffsetDateTime;
use tracing::{debug, error, info, warn};

use crate::checkpoint::{self, Pass, Progress, State};
use crate::durable::{self, PutFailure};
use crate::encode::{ObjectWriter, Version};
use crate::keys::{checkpoint_key, format_time, object_key, quarantine_key};
use crate::pages::pages;
use crate::{Clock, ExportError, ExportObserver, ExportProgress, ExportSettings};

/// Everything one (tenant, dataset) export needs.
pub(crate) struct DatasetExport<'a> {
    pub client: &'a DefenderClient,
    pub store: &'a dyn ObjectStore,
    pub settings: &'a ExportSettings,
    pub clock: &'a dyn Clock,
    pub observer: &'a dyn ExportObserver,
    pub run_id: &'a str,
    pub tenant: &'a TenantId,
    pub dataset: Dataset,
    pub since: Option<OffsetDateTime>,
    /// When to stop reading pages (the invocation's deadline minus the margin to write).
    pub deadline: Instant,
}

#[derive(Debug, Default)]
struct Counters {
    records: u64,
    suppressed: u64,
    flagged: u64,
    pages: u64,
    api_calls: u64,
    bytes: u64,
    objects: u64,
    quarantined: u64,
    object_seq: u32,
    quarantine_seq: u32,
}

/// How reading the pass ended.
enum Stop {
    /// Every page was read.
    Complete,
    /// The deadline came.
    Deadline,
}

/// `t − d`, or the earliest representable time.
fn minus(t: OffsetDateTime, d: std::time::Duration) -> OffsetDateTime {
    time::Duration::try_from(d)
        .ok()
        .and_then(|d| t.checked_sub(d))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Errors of one page (kept failing through the client's retries) as opposed to the tenant's (consent,
/// credentials, throttling), which hold the cursor without quarantining anything.
fn is_page_failure(e: &DefenderError) -> bool {
    matches!(
        e,
        DefenderError::Unavailable { .. }
            | DefenderError::UnexpectedBody { .. }
            | DefenderError::Api { .. }
            | DefenderError::ForeignNextLink { .. }
    )
}

impl DatasetExport<'_> {
    /// Exports, and sums up what happened; failures are in the summary, never panics or early returns.
    pub(crate) async fn run(self) -> DatasetRunSummary {
        self.observer.started(self.tenant, self.dataset);
        let mut c = Counters::default();
        let mut watermark = None;
        let result = self.export(&mut c, &mut watermark).await;
        let (status, error) = match result {
            Ok(status) => (status, None),
            Err(e @ ExportError::CheckpointConflict { .. }) => (DatasetStatus::Conflict, Some(e)),
            Err(e) => (DatasetStatus::Failed, Some(e)),
        };
        let lag_seconds = watermark.map(|w: OffsetDateTime| (self.clock.now() - w).whole_seconds());
        let summary = DatasetRunSummary {
            tenant_id: self.tenant.clone(),
            dataset: self.dataset,
            status,
            records: c.records,
            suppressed: c.suppressed,
            flagged: c.flagged,
            pages: c.pages,
            api_calls: c.api_calls,
            bytes: c.bytes,
            objects: c.objects,
            quarantined: c.quarantined,
            lag_seconds,
            watermark: watermark.map(format_time),
            error: error.as_ref().map(ToString::to_string),
        };
        match &error {
            None => info!(
                tenant = %self.tenant, dataset = %self.dataset, status = ?status, records = c.records,
                suppressed = c.suppressed, pages = c.pages, objects = c.objects, bytes = c.bytes,
                lag_seconds, "dataset exported"
            ),
            Some(e) => error!(
                tenant = %self.tenant, dataset = %self.dataset, status = ?status, records = c.records,
                pages = c.pages, quarantined = c.quarantined, error = %e, "dataset export failed"
            ),
        }
        self.observer.finished(&summary);
        summary
    }

    async fn export(
        &self,
        c: &mut Counters,
        watermark: &mut Option<OffsetDateTime>,
    ) -> Result<DatasetStatus, ExportError> {
        let key = checkpoint_key(self.dataset, self.tenant);
        let mut state = checkpoint::load(self.store, &key, self.tenant, self.dataset).await?;
        *watermark = state.watermark;
        let mut pass = match state.pass.take() {
            Some(pass) => {
                info!(tenant = %self.tenant, dataset = %self.dataset, from = %format_time(pass.from), skip = pass.skip, "resuming an unfinished pass");
                pass
            }
            None => {
                let now = self.clock.now();
                let mut from = match state.watermark {
                    Some(w) => minus(w, self.settings.overlap()),
                    None => minus(now, self.settings.initial_lookback()),
                };
                if let Some(since) = self.since
                    && since < from
                {
                    from = since;
                }
                Pass {
                    from,
                    started_at: now,
                    skip: 0,
                }
            }
        };
        let mut writer = None;
        let read = self.read_pass(&mut pass, &mut state, &mut writer, c).await;
        // What was read goes out before any checkpoint mentions it.
        let healthy = match &read {
            Ok(_) => true,
            Err(e) => matches!(e, ExportError::Api(_) | ExportError::PageQuarantined { .. }),
        };
        if !healthy {
            return read.map(|_| DatasetStatus::Failed);
        }
        self.flush(&mut writer, c).await?;
        let complete = matches!(read, Ok(Stop::Complete));
        if complete {
            let new = state
                .watermark
                .map_or(pass.started_at, |w| w.max(pass.started_at));
            state.watermark = Some(new);
            state.seen.prune(
                minus(pass.started_at, self.settings.overlap()),
                usize::try_from(self.settings.max_seen).unwrap_or(usize::MAX),
            );
            self.save(&key, &mut state, None).await?;
            *watermark = state.watermark;
        } else if pass.skip > 0 || c.objects > 0 {
            self.save(&key, &mut state, Some(&pass)).await?;
        }
        match read {
            Ok(Stop::Complete) => Ok(DatasetStatus::Completed),
            Ok(Stop::Deadline) => {
                warn!(tenant = %self.tenant, dataset = %self.dataset, skip = pass.skip, "deadline reached: progress saved, the next run resumes");
                Ok(DatasetStatus::Partial)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads pages until the end, the deadline or an error, writing records into objects and checkpointing
    /// after each object that is rolled.
    async fn read_pass(
        &self,
        pass: &mut Pass,
        state: &mut State,
        writer: &mut Option<ObjectWriter>,
        c: &mut Counters,
    ) -> Result<Stop, ExportError> {
        let key = checkpoint_key(self.dataset, self.tenant);
        let threshold = minus(pass.started_at, self.settings.overlap());
        let top = self.settings.page_size(self.dataset);
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let mut last_len: Option<u64> = None;
        'pass: loop {
            let mut stream = pages(self.client, self.dataset, self.tenant, pass.from, pass.skip, top);
            loop {
                if tokio::time::Instant::now() >= deadline {
                    return Ok(Stop::Deadline);
                }
                let Ok(next) = tokio::time::timeout_at(deadline, stream.next()).await else {
                    return Ok(Stop::Deadline);
                };
                c.api_calls += u64::from(next.is_some());
                let page = match next {
                    None => return Ok(Stop::Complete),
                    Some(Ok(page)) => page,
                    Some(Err(e)) if is_page_failure(&e) => {
                        let location = self.quarantine(pass, top, &e, c).await?;
                        error!(
                            tenant = %self.tenant, dataset = %self.dataset, skip = pass.skip, quarantine = %location,
                            moved_past = self.settings.skip_failed_pages, error = %e, "a page kept failing"
                        );
                        if self.settings.skip_failed_pages {
                            pass.skip += top.map(u64::from).or(last_len).unwrap_or(1);
                            continue 'pass;
                        }
                        return Err(ExportError::PageQuarantined {
                            location,
                            source: Box::new(e),
                        });
                    }
                    Some(Err(e)) => return Err(e.into()),
                };
                c.pages += 1;
                let n = page.items.len() as u64;
                for record in page.items {
                    let version = Version::of(&record);
                    if state.seen.contains(&version.key) {
                        c.suppressed += 1;
                        continue;
                    }
                    let w = writer.get_or_insert_with(|| {
                        ObjectWriter::new(
                            self.settings.gzip_level,
                            self.tenant.as_str(),
                            self.dataset.as_str(),
                            self.clock.now(),
                        )
                    });
                    w.write(&record, &version)?;
                    c.records += 1;
                    if !version.flags.is_empty() {
                        c.flagged += 1;
                        warn!(tenant = %self.tenant, dataset = %self.dataset, id = record.id(), dedupe_key = %version.key, flags = ?version.flags, "record exported with a flag");
                    }
                    if let (Some(at), Some(text)) = (record.last_update(), &version.last_update)
                        && at >= threshold
                    {
                        state.seen.insert(version.key.clone(), &version.id, text, at);
                    }
                }
                pass.skip += n;
                last_len = Some(n);
                debug!(tenant = %self.tenant, dataset = %self.dataset, records = n, skip = pass.skip, "page read");
                let progress = ExportProgress {
                    records: c.records,
                    suppressed: c.suppressed,
                    pages: c.pages,
                };
                self.observer.page_read(self.tenant, self.dataset, progress);
                if writer
                    .as_ref()
                    .is_some_and(|w| w.compressed_len() as u64 >= self.settings.max_object_bytes)
                {
                    self.flush(writer, c).await?;
                    self.save(&key, state, Some(pass)).await?;
                }
            }
        }
    }

    /// Writes the current object, if it has records.
    async fn flush(&self, writer: &mut Option<ObjectWriter>, c: &mut Counters) -> Result<(), ExportError> {
        let Some(w) = writer.take() else {
            return Ok(());
        };
        if w.records() == 0 {
            return Ok(());
        }
        let key = object_key(
            self.dataset,
            self.tenant,
            w.started_at(),
            self.run_id,
            c.object_seq,
        );
        c.object_seq += 1;
        let records = w.records();
        let body = w.finish()?;
        let len = body.len() as u64;
        durable::put(self.store, &key, body, PutCondition::IfAbsent)
            .await
            .map_err(|e| self.storage_failure(&key, e))?;
        c.bytes += len;
        c.objects += 1;
        debug!(tenant = %self.tenant, dataset = %self.dataset, records, bytes = len, key, "object written");
        Ok(())
    }

    async fn save(&self, key: &str, state: &mut State, pass: Option<&Pass>) -> Result<(), ExportError> {
        // The seen list is taken out while the checkpoint borrows it.
        let seen = std::mem::take(&mut state.seen);
        let progress = Progress {
            tenant: self.tenant,
            dataset: self.dataset,
            watermark: state.watermark,
            seen: &seen,
            pass,
            run_id: self.run_id,
            now: self.clock.now(),
        };
        let result = checkpoint::save(self.store, key, state, progress).await;
        state.seen = seen;
        result
    }

    async fn quarantine(
        &self,
        pass: &Pass,
        top: Option<u32>,
        error: &DefenderError,
        c: &mut Counters,
    ) -> Result<String, ExportError> {
        let key = quarantine_key(self.dataset, self.tenant, self.run_id, c.quarantine_seq);
        c.quarantine_seq += 1;
        let page = QuarantinedPage {
            tenant_id: self.tenant.clone(),
            dataset: self.dataset,
            run_id: self.run_id.to_owned(),
            recorded_at: format_time(self.clock.now()),
            query: QuarantinedQuery {
                from: format_time(pass.from),
                skip: pass.skip,
                top,
            },
            error: error.to_string(),
            moved_past: self.settings.skip_failed_pages,
        };
        let body = serde_json::to_vec_pretty(&page).map_err(std::io::Error::other)?;
        durable::put(self.store, &key, body.into(), PutCondition::IfAbsent)
            .await
            .map_err(|e| self.storage_failure(&key, e))?;
        c.quarantined += 1;
        Ok(self.store.location(&key))
    }

    fn storage_failure(&self, key: &str, e: PutFailure) -> ExportError {
        let location = self.store.location(key);
        match e {
            PutFailure::Conflict => ExportError::Storage {
                action: "writing (the key already exists)",
                location: location.clone(),
                source: mde_platform::PlatformError::PreconditionFailed { key: key.to_owned() },
            },
            PutFailure::Store(source) => ExportError::Storage {
                action: "writing",
                location,
                source,
            },
        }
    }
}
