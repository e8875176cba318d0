//! Reading a range of last-update time in windows `[w0, w1)`, each fixed before it is read and answered by one
//! request with `$top` and no `$skip` — exact at that moment, whatever order the service lists in and whatever
//! changes while it is read. A full window is read again in two halves; the width adapts to the density. A window
//! full at a single instant (a bulk update) is split on the immutable creation time; a cell full at one instant of
//! both is swept with `$skip` until two sweeps agree (a last resort, counted).
//!
//! Assumed of the service, as documented (`defender-api.md` §3–§8): `ge` / `lt` on the last-update and creation
//! properties; `$top` bounds a page; Graph's nextLink, when present, means more rows. Every record has a creation
//! time (a record without one could not be found by the creation split — only that split relies on it).

use std::collections::BTreeSet;
use std::pin::Pin;

use futures::future::{MaybeDone, maybe_done};
use mde_contracts::{Dataset, TenantId};
use mde_defender::api::{ExportWindow, OpenWindow, RecordView, WindowAnswer, WindowReadError};
use mde_defender::{DefenderClient, DefenderError};
use time::{Duration, OffsetDateTime};
use tracing::{debug, warn};

use crate::ExportError;
use crate::encode::Version;

/// The APIs' time resolution: 100 ns.
pub(crate) const TICK: Duration = Duration::nanoseconds(100);
/// How far a first export's count reaches beyond its range on each side, for a difference between this host's
/// clock and the service's (learnt from the count's own answer): the count only sizes windows.
const CLOCK_MARGIN: Duration = Duration::hours(1);
/// Creation time never precedes this (Defender did not exist before).
const EARLIEST_CREATION: OffsetDateTime = time::macros::datetime!(2000-01-01 0:00 UTC);
/// Windows fill to at most this share of `$top`: each request carries nearly a full page (requests are what the
/// rate limits count).
const MAX_FILL: f64 = 0.97;
/// The margin below `$top`, in standard deviations of the rows a window of fixed width holds when records arrive
/// at random (√rows): a full window costs one more request, so the margin is what keeps them rare.
const FILL_MARGIN_SIGMAS: f64 = 2.5;

/// The share of `$top` a window aims at: `1 − 2.5/√top`, between a half and 97 % (97 % at `$top` 10,000, 94 %
/// at 2,000, 89 % at 500).
fn fill(top: u32) -> f64 {
    (1.0 - FILL_MARGIN_SIGMAS / f64::from(top.max(1)).sqrt()).clamp(0.5, MAX_FILL)
}
/// After a full window, the share of the rows' span read again: a margin below the page that proved too small.
const SPLIT_FILL: f64 = 0.9;
/// The widest window: ten years, so a backfill from long ago crosses its empty years in a few requests (a window
/// grows at most fourfold per complete window).
pub(crate) const MAX_WIDTH: Duration = Duration::days(3_653);
/// Sweeps of one cell before giving up.
const MAX_SWEEPS: u32 = 5;
/// Rows a sweep reads before giving up on a cell.
const MAX_SWEEP_ROWS: u32 = 100_000;

/// When a run must stop making requests: the deadline (checked before every request), or the per-run call budget
/// (checked before each stretch: a stretch once started is finished, so every run makes progress even when a dense
/// instant takes more calls than the budget).
pub(crate) struct Budget {
    pub deadline: tokio::time::Instant,
    pub max_calls: Option<u64>,
}

impl Budget {
    /// Whether a new stretch may start after `calls` requests.
    pub(crate) fn exhausted(&self, calls: u64) -> bool {
        self.past_deadline() || self.max_calls.is_some_and(|max| calls >= max)
    }

    fn past_deadline(&self) -> bool {
        tokio::time::Instant::now() >= self.deadline
    }
}

/// A request that failed, and the window it asked for (for the quarantine record).
pub(crate) struct WindowError {
    pub window: ExportWindow,
    pub source: mde_defender::DefenderError,
}

/// Why a cell could not be read.
pub(crate) enum WalkError {
    /// A request failed.
    Request(WindowError),
    /// A cell full at one instant of both times never gave the same rows twice, or had too many.
    Unstable { window: ExportWindow, reason: String },
    /// The sink could not take a record (encoding, storage).
    Sink(ExportError),
}

impl From<WindowError> for WalkError {
    fn from(e: WindowError) -> Self {
        WalkError::Request(e)
    }
}

/// Where each record read goes (the export's writer): called for every record of every answer, including those
/// of windows that turn out full and are read again in parts — so it must take a version it already has.
pub(crate) type Sink<'s> = dyn FnMut(RecordView<'_>) -> Result<(), ExportError> + Send + 's;

/// A window request sent ahead (prefetch): the open answer, or the failure, once it comes.
type Opening<'a> = MaybeDone<Pin<Box<dyn Future<Output = mde_defender::Result<OpenWindow<'a>>> + Send + 'a>>>;

/// What the records of one answer showed, for choosing how to split a full window (any split is correct; these
/// cost fewer requests).
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    /// The last update every record shares: `Some(Some(t))` so far one instant, `Some(None)` differing or missing.
    same_update: Option<Option<OffsetDateTime>>,
    /// The latest last update strictly inside the window.
    last_inside: Option<OffsetDateTime>,
    /// The earliest last update inside the window.
    first_inside: Option<OffsetDateTime>,
    /// The earliest and latest creation inside the creation range asked for.
    created: Option<(OffsetDateTime, OffsetDateTime)>,
}

impl Observed {
    fn note(&mut self, record: &RecordView<'_>, window: &ExportWindow) {
        let at = record.last_update();
        self.same_update = match self.same_update {
            None => Some(at),
            Some(same) if same == at => Some(same),
            Some(_) => Some(None),
        };
        if let Some(t) = at.filter(|t| *t >= window.from && *t < window.to) {
            self.first_inside = Some(self.first_inside.map_or(t, |f| f.min(t)));
            if t > window.from {
                self.last_inside = Some(self.last_inside.map_or(t, |l| l.max(t)));
            }
        }
        let (c0, c1) = window
            .created
            .unwrap_or((OffsetDateTime::UNIX_EPOCH, OffsetDateTime::UNIX_EPOCH));
        if let Some(c) = record
            .created()
            .filter(|c| window.created.is_some() && (c0..c1).contains(c))
        {
            self.created = Some(self.created.map_or((c, c), |(lo, hi)| (lo.min(c), hi.max(c))));
        }
    }

    /// The instant every record shares (none when they differ, one lacks it, or there were none).
    fn single_update(&self) -> Option<OffsetDateTime> {
        self.same_update.flatten()
    }
}

/// One answer read: what it held and what its records showed.
struct Read {
    answer: WindowAnswer,
    observed: Observed,
}

impl Read {
    fn is_complete(&self) -> bool {
        self.answer.is_complete()
    }
}

/// The reader of one (tenant, dataset), with its counters and what it learnt.
pub(crate) struct Walk<'a> {
    client: &'a DefenderClient,
    tenant: &'a TenantId,
    dataset: Dataset,
    /// `$top` of the next request.
    pub top: u32,
    /// Width of the next window.
    pub width: Duration,
    /// The most rows the service answered below `$top` with more to come (Graph).
    pub page_cap: Option<u32>,
    /// The service's clock at its last answer.
    pub service_now: Option<OffsetDateTime>,
    /// Requests made (prefetches included).
    pub calls: u64,
    /// Windows read again in halves.
    pub splits: u64,
    /// Cells swept with `$skip`.
    pub sweeps: u64,
    /// The next window, requested while the current one is read.
    prefetched: Option<(ExportWindow, Opening<'a>)>,
    /// What a count said about the range ahead: its end, and the records in it not read yet. Caps the width so
    /// windows hold about `fill × $top` rows at the density of what is left (a first export over a long history
    /// finds its windows in one count instead of several full pages read again).
    known: Option<(OffsetDateTime, u64)>,
    /// Whether to ask for counts (the dataset has one, and the service answered the last one asked).
    counting: bool,
    /// Whether a complete window with records was read: from then on a full window (a denser stretch) is shrunk
    /// rather than counted — a count is a request too, and the density is known.
    measured: bool,
    /// Whether the width is settled: the last window came back complete. A window is requested ahead only then
    /// (one requested while the width is being found, after a full window, would be read at a stale width).
    settled: bool,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(
        client: &'a DefenderClient,
        tenant: &'a TenantId,
        dataset: Dataset,
        top: u32,
        width: Duration,
        page_cap: Option<u32>,
    ) -> Self {
        Self {
            client,
            tenant,
            dataset,
            top: page_cap.map_or(top, |cap| top.min(cap)).max(2),
            width: width.clamp(TICK, MAX_WIDTH),
            page_cap,
            service_now: None,
            calls: 0,
            splits: 0,
            sweeps: 0,
            prefetched: None,
            known: None,
            counting: mde_defender::api::has_count(dataset),
            measured: false,
            settled: true,
        }
    }

    /// Counts the records of `[from, to)` (one request) where the dataset has a count; remembers the answer for
    /// sizing the windows that follow. The count only sizes windows: an answer that is not a count, or an error
    /// of the request itself (4xx, a 5xx after retries), means reading on without it — never a quarantined
    /// window; a service that does not count is not asked again by this walk. A refusal of the tenant (permission,
    /// token, throttling beyond retries, network) fails the walk as a window read would.
    async fn count(&mut self, from: OffsetDateTime, to: OffsetDateTime) -> Result<(), WindowError> {
        if !self.counting {
            return Ok(());
        }
        let window = self.window(from, to, None, 0);
        match self.client.count_window(self.dataset, self.tenant, &window).await {
            Ok(Some(count)) => {
                self.calls += 1;
                self.note_service_time(count.service_time);
                match count.records {
                    Some(n) => {
                        debug!(tenant = %self.tenant, dataset = %self.dataset, %from, %to, records = n, "window counted");
                        self.known = Some((to, n));
                    }
                    None => {
                        self.counting = false;
                        warn!(tenant = %self.tenant, dataset = %self.dataset, "the service's count is not a number; sizing windows without counts");
                    }
                }
            }
            Ok(None) => self.counting = false,
            Err(e @ (DefenderError::Api { .. } | DefenderError::UnexpectedBody { .. })) => {
                self.calls += 1;
                let unsupported = matches!(&e, DefenderError::UnexpectedBody { .. })
                    || matches!(&e, DefenderError::Api { status, .. } if (400..500).contains(status));
                self.counting = !unsupported;
                warn!(tenant = %self.tenant, dataset = %self.dataset, error = %e, "the service did not count a window; sizing without its count");
            }
            Err(DefenderError::NotFound { .. } | DefenderError::InvalidRequest { .. }) => {
                self.calls += 1;
                self.counting = false;
            }
            Err(source) => {
                self.calls += 1;
                return Err(WindowError { window, source });
            }
        }
        Ok(())
    }

    /// Whether a count says records lie ahead but no window has found any yet (no records read, no full page).
    fn seeking(&self) -> bool {
        !self.measured && self.splits == 0 && self.known.is_some_and(|(_, records)| records > 0)
    }

    /// The width at which the range a count covered holds about `fill × $top` rows per window from `cursor`
    /// (assuming its unread records are spread evenly), when a count covers `cursor`.
    fn counted_width(&self, cursor: OffsetDateTime) -> Option<Duration> {
        let (until, records) = self.known?;
        if cursor >= until || records == 0 {
            return None;
        }
        let share = fill(self.top) * f64::from(self.top) / records as f64;
        Some(ticks((until - cursor) * share.min(1.0)).max(TICK))
    }

    /// Notes `rows` read in `[from, to)` against the count, and forgets a count whose range is behind `to`.
    fn note_read(&mut self, to: OffsetDateTime, rows: usize) {
        if let Some((until, records)) = self.known.as_mut() {
            if to >= *until {
                self.known = None;
            } else {
                *records = records.saturating_sub(rows as u64);
            }
        }
    }

    fn window(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        created: Option<(OffsetDateTime, OffsetDateTime)>,
        skip: u32,
    ) -> ExportWindow {
        ExportWindow {
            from,
            to,
            created,
            top: self.top,
            skip,
        }
    }

    /// Sends a window request (counted) without waiting for it.
    fn request(&mut self, window: ExportWindow) -> Opening<'a> {
        self.calls += 1;
        let (client, dataset, tenant) = (self.client, self.dataset, self.tenant);
        maybe_done(Box::pin(async move {
            client.open_window(dataset, tenant, window).await
        }))
    }

    /// Reads one window into `sink`; with `ahead`, sends that request while this one's answer is read (it is
    /// kept for the next read that asks for the same window).
    async fn read(
        &mut self,
        window: ExportWindow,
        sink: &mut Sink<'_>,
        ahead: Option<ExportWindow>,
    ) -> Result<Read, WalkError> {
        let opening = match self.prefetched.take() {
            Some((sent, opening)) if sent == window => opening,
            // A request sent ahead for a later window (this one came back full and is read in parts first): kept
            // for when the cursor gets there.
            kept => {
                self.prefetched = kept;
                self.request(window)
            }
        };
        let open = opening_result(opening)
            .await
            .map_err(|source| WindowError { window, source })?;
        // Sent once this answer has begun (a token refused meanwhile is renewed first, so the request ahead does
        // not carry it too); it goes out while this answer is read.
        let mut ahead = match &self.prefetched {
            None => ahead.map(|w| (w, self.request(w))),
            Some(_) => None,
        };
        let mut observed = Observed::default();
        let mut note = |record: RecordView<'_>| {
            observed.note(&record, &window);
            sink(record)
        };
        let reading = self.client.read_open_window(open, &mut note);
        let read = match ahead.as_mut() {
            None => reading.await,
            Some((_, opening)) => {
                tokio::pin!(reading);
                loop {
                    tokio::select! {
                        biased;
                        read = &mut reading => break read,
                        () = &mut *opening, if matches!(opening, MaybeDone::Future(_)) => {}
                    }
                }
            }
        };
        if ahead.is_some() {
            self.prefetched = ahead;
        }
        let answer = match read {
            Ok(answer) => answer,
            Err(WindowReadError::Api(source)) => return Err(WindowError { window, source }.into()),
            Err(WindowReadError::Sink(e)) => return Err(WalkError::Sink(e)),
        };
        self.note_service_time(answer.service_time);
        // Fewer rows than asked for, and more to come: the service caps pages below `$top`. Ask for that many
        // from now on, so that a capped page is seen as full even if a later answer forgets its nextLink.
        if answer.next_link && answer.rows < self.top as usize && answer.rows >= 2 {
            let cap = answer.rows as u32;
            warn!(tenant = %self.tenant, dataset = %self.dataset, asked = self.top, cap, "the service answers fewer rows than $top per page; using its page size");
            self.page_cap = Some(cap);
            self.top = cap;
        }
        debug!(tenant = %self.tenant, dataset = %self.dataset, from = %window.from, to = %window.to, rows = answer.rows, complete = answer.is_complete(), "window read");
        Ok(Read { answer, observed })
    }

    /// The service's clock at an answer (the latest seen: answers may come back out of order).
    fn note_service_time(&mut self, at: Option<OffsetDateTime>) {
        if let Some(now) = at {
            self.service_now = Some(self.service_now.map_or(now, |t| t.max(now)));
        }
    }

    /// A first export's first request, to learn the service's clock (its `Date`) before the range is fixed: the
    /// count of `[from, at)` widened by [`CLOCK_MARGIN`] for the clocks' difference, where the dataset has a count,
    /// which also sizes the first windows (a long history is then read at about `$top` per window from the start,
    /// not first as a full page read and discarded); else, or when the service does not count, a request that
    /// reads nothing (an empty window).
    pub(crate) async fn probe(
        &mut self,
        at: OffsetDateTime,
        from: OffsetDateTime,
    ) -> Result<(), WindowError> {
        let from = from.min(at) - CLOCK_MARGIN;
        self.count(from, at + CLOCK_MARGIN).await?;
        if self.known.is_some() {
            if let Some(counted) = self.counted_width(from) {
                self.width = self.width.min(counted);
            }
            return Ok(());
        }
        self.ask_time(at).await
    }

    /// A request that reads nothing (an empty window) to learn the service's clock.
    pub(crate) async fn ask_time(&mut self, at: OffsetDateTime) -> Result<(), WindowError> {
        let mut ignore = |_: RecordView<'_>| Ok(());
        match self.read(self.window(at, at, None, 0), &mut ignore, None).await {
            Ok(_) => Ok(()),
            Err(WalkError::Request(e)) => Err(e),
            // An empty window has nothing to sink and no cell to sweep.
            Err(WalkError::Sink(_) | WalkError::Unstable { .. }) => Ok(()),
        }
    }

    /// Reads the next complete stretch `[cursor, w1)` (`w1 ≤ end`, `w1 > cursor`) into `sink` and returns `w1`;
    /// `None` when the budget ran out first (records of the stretch may have gone to the sink then: the next
    /// read of the stretch finds them again). The next window is requested while this one is read.
    pub(crate) async fn next(
        &mut self,
        cursor: OffsetDateTime,
        end: OffsetDateTime,
        budget: &Budget,
        sink: &mut Sink<'_>,
    ) -> Result<Option<OffsetDateTime>, WalkError> {
        if budget.exhausted(self.calls) {
            self.prefetched = None;
            return Ok(None);
        }
        loop {
            if budget.past_deadline() {
                self.prefetched = None;
                return Ok(None);
            }
            // The window requested ahead, when it starts here (its width is the one before the last adapt: any
            // width is correct), else one of the current width, ending where a window requested ahead starts. One
            // that can no longer be used is dropped.
            let usable =
                |w: &ExportWindow| w.to <= end && w.created.is_none() && w.skip == 0 && w.top == self.top;
            let planned = (cursor + self.width).min(end);
            let window = match &self.prefetched {
                Some((w, _)) if w.from == cursor && usable(w) => *w,
                Some((w, _)) if w.from > cursor && usable(w) => {
                    self.window(cursor, planned.min(w.from), None, 0)
                }
                _ => {
                    self.prefetched = None;
                    self.window(cursor, planned, None, 0)
                }
            };
            let w1 = window.to;
            // Not while seeking the counted records: an empty window widens the next one.
            let ahead = (self.settled && !self.seeking() && w1 < end && !budget.exhausted(self.calls + 1))
                .then(|| self.window(w1, (w1 + self.width).min(end), None, 0));
            let read = self.read(window, sink, ahead).await?;
            let width = w1 - cursor;
            if read.is_complete() {
                // The density where records are: from the earliest one to the window's end (a window mostly
                // empty before its records would otherwise suggest a width that fills the next one past `$top`).
                let populated = read
                    .observed
                    .first_inside
                    .map_or(width, |first| (w1 - first).max(TICK));
                self.adapt(populated, read.answer.rows, w1 >= end);
                self.settled = true;
                self.note_read(w1, read.answer.rows);
                self.measured |= read.answer.rows > 0;
                if self.seeking() {
                    // No record yet, and the count says they lie further on, not where (it spreads them over a
                    // history's empty years too): the rest is read as one window, whose page — full, then —
                    // shows where they start (see the stretch read first below).
                    self.width = MAX_WIDTH;
                } else if let Some(counted) = self.counted_width(w1) {
                    self.width = self.width.min(counted);
                }
                return Ok(Some(w1));
            }
            self.settled = false;
            if width > TICK {
                self.splits += 1;
                if !self.measured && self.counted_width(cursor).is_none() {
                    self.count(cursor, w1).await?;
                }
                let counted = self.counted_width(cursor);
                // The stretch before the page's earliest record is read first, in one request, when it is half
                // the window or more, or wider than the windows the count sizes (a first export whose look-back
                // starts before the records: the count spreads them over the empty stretch too). Otherwise how
                // many the full window holds sizes the windows that read it again.
                self.width = match read.observed.first_inside.map(|first| first - cursor) {
                    Some(gap) if gap >= width / 2 || counted.is_some_and(|c| gap > c) => ticks(gap).max(TICK),
                    _ => {
                        let shrunk = shrunk(&read.observed, cursor, w1);
                        counted.map_or(shrunk, |c| shrunk.min(c))
                    }
                };
                continue;
            }
            return match self.split_on_creation(cursor, w1, budget, sink).await? {
                Some(()) => Ok(Some(w1)),
                None => Ok(None),
            };
        }
    }

    /// The next width after a complete window of `width` that held `rows`: about `fill × $top` rows at the
    /// density just seen, at most four times wider. A window clipped at the end of its range (the re-check band,
    /// the last stretch) may narrow the width but never widen it: a short quiet stretch says little about the next.
    fn adapt(&mut self, width: Duration, rows: usize, clipped: bool) {
        let ideal = if rows == 0 {
            f64::INFINITY
        } else {
            width.as_seconds_f64() * (fill(self.top) * f64::from(self.top)) / rows as f64
        };
        let cap = if clipped { self.width } else { width * 4 };
        let next = Duration::seconds_f64(ideal.min(cap.as_seconds_f64()));
        self.width = ticks(next).clamp(TICK, MAX_WIDTH);
    }

    async fn split_on_creation(
        &mut self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        budget: &Budget,
        sink: &mut Sink<'_>,
    ) -> Result<Option<()>, WalkError> {
        let mut ranges = vec![(EARLIEST_CREATION.min(from), to.max(from + TICK))];
        while let Some((c0, c1)) = ranges.pop() {
            if budget.past_deadline() {
                return Ok(None);
            }
            let read = self
                .read(self.window(from, to, Some((c0, c1)), 0), sink, None)
                .await?;
            if read.is_complete() {
                continue;
            }
            if c1 - c0 > TICK {
                self.splits += 1;
                ranges.extend(creation_parts(&read.observed, c0, c1).into_iter().rev());
                continue;
            }
            if self.sweep(from, to, (c0, c1), budget, sink).await?.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(()))
    }

    /// Reads a cell full at one instant of both times with `$skip` until two whole sweeps see the same versions
    /// (every record read goes to the sink, which takes a version once).
    async fn sweep(
        &mut self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        created: (OffsetDateTime, OffsetDateTime),
        budget: &Budget,
        sink: &mut Sink<'_>,
    ) -> Result<Option<()>, WalkError> {
        self.sweeps += 1;
        warn!(tenant = %self.tenant, dataset = %self.dataset, at = %from, "more than $top records share one last-update and one creation instant: sweeping with $skip");
        let window = self.window(from, to, Some(created), 0);
        let mut previous: Option<BTreeSet<String>> = None;
        for _ in 0..MAX_SWEEPS {
            let mut keys = BTreeSet::new();
            let mut skip = 0u32;
            loop {
                if budget.past_deadline() {
                    return Ok(None);
                }
                let mut keyed = |record: RecordView<'_>| {
                    keys.insert(Version::of(&record).key().to_owned());
                    sink(record)
                };
                let read = self
                    .read(self.window(from, to, Some(created), skip), &mut keyed, None)
                    .await?;
                let rows = read.answer.rows as u32;
                if read.is_complete() || rows == 0 {
                    break;
                }
                skip = skip.saturating_add(rows);
                if skip > MAX_SWEEP_ROWS {
                    return Err(WalkError::Unstable {
                        window,
                        reason: format!("more than {MAX_SWEEP_ROWS} records at one instant of both times"),
                    });
                }
            }
            if previous.as_ref() == Some(&keys) {
                return Ok(Some(()));
            }
            previous = Some(keys);
        }
        Err(WalkError::Unstable {
            window,
            reason: format!("{MAX_SWEEPS} sweeps with $skip never returned the same records twice"),
        })
    }
}

/// The width to read again after a full window `[cursor, w1)`, guided by the rows the page showed (any width is
/// correct; this one costs fewer requests). Rows all at one instant (a bulk update): up to that instant, then that
/// instant alone. Otherwise at most three quarters of the width, and less when the rows end early: a service that
/// lists oldest first filled the page by `last`, so `[cursor, cursor + 0.9 × (last − cursor))` holds fewer than
/// `$top`; in any other order `last` lies near `w1` and three quarters it is — and if that is still full, again.
fn shrunk(observed: &Observed, cursor: OffsetDateTime, w1: OffsetDateTime) -> Duration {
    let width = w1 - cursor;
    if let Some(t) = observed.single_update() {
        if t > cursor && t < w1 {
            return t - cursor;
        }
        if t == cursor {
            return TICK;
        }
    }
    let three_quarters = ticks(width * 3 / 4);
    let guided = observed
        .last_inside
        .map(|last| ticks((last - cursor) * SPLIT_FILL));
    guided.map_or(three_quarters, |g| g.min(three_quarters)).max(TICK)
}

/// How to split a creation range `[c0, c1)` whose page came back full, guided by the creation times the page
/// showed (any split is correct; these converge on where the records are, whatever the order): one instant alone
/// is isolated as a cell; a spread `lo..=hi` becomes `[c0, lo)`, `[lo, mid)`, `[mid, c1)`; without usable times,
/// halves. Returned in reading order; every part is non-empty and they cover `[c0, c1)` exactly.
fn creation_parts(
    observed: &Observed,
    c0: OffsetDateTime,
    c1: OffsetDateTime,
) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let Some((lo, hi)) = observed
        .created
        .filter(|(lo, hi)| (c0..c1).contains(lo) && (c0..c1).contains(hi))
    else {
        let mid = c0 + ticks((c1 - c0) / 2).max(TICK);
        return vec![(c0, mid), (mid, c1)];
    };
    let cuts: Vec<OffsetDateTime> = if lo == hi {
        vec![lo, lo + TICK]
    } else {
        vec![lo, lo + ticks((hi - lo) / 2).max(TICK)]
    };
    let mut parts = Vec::new();
    let mut start = c0;
    for cut in cuts {
        if cut > start && cut < c1 {
            parts.push((start, cut));
            start = cut;
        }
    }
    parts.push((start, c1));
    parts
}

/// Resolves a request sent ahead.
async fn opening_result<'a>(mut opening: Opening<'a>) -> mde_defender::Result<OpenWindow<'a>> {
    (&mut opening).await;
    match Pin::new(&mut opening).take_output() {
        Some(result) => result,
        // A MaybeDone awaited to completion holds its output until taken once.
        None => unreachable!("the request's output is taken once"),
    }
}

/// `d` rounded down to whole ticks.
fn ticks(d: Duration) -> Duration {
    let n = d.whole_nanoseconds() / 100;
    Duration::nanoseconds(i64::try_from(n * 100).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json(created: OffsetDateTime) -> String {
        format!(
            r#"{{"id":"a","createdDateTime":"{}"}}"#,
            crate::keys::format_time(created)
        )
    }

    proptest! {
        #[test]
        fn creation_parts_cover_the_range_exactly_in_smaller_parts(
            start in 0i64..1_000_000, span in 2i64..1_000_000, times in prop::collection::vec(0i64..1_200_000, 0..20),
        ) {
            let at = |t: i64| EARLIEST_CREATION + TICK * i32::try_from(t).expect("small");
            let (c0, c1) = (at(start), at(start + span));
            let window = ExportWindow { from: c0, to: c1, created: Some((c0, c1)), top: 2, skip: 0 };
            let mut observed = Observed::default();
            for t in &times {
                let text = json(at(*t));
                observed.note(&RecordView::parse(&text).expect("record"), &window);
            }
            let parts = creation_parts(&observed, c0, c1);
            prop_assert!(parts.len() >= 2);
            prop_assert_eq!(parts[0].0, c0);
            prop_assert_eq!(parts[parts.len() - 1].1, c1);
            for pair in parts.windows(2) {
                prop_assert_eq!(pair[0].1, pair[1].0);
            }
            for (a, b) in &parts {
                prop_assert!(a < b && *b - *a < c1 - c0);
            }
        }
    }
}
