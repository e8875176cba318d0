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

use mde_contracts::{Dataset, TenantId};
use mde_defender::DefenderClient;
use mde_defender::api::{ExportWindow, Record, WindowPage};
use time::{Duration, OffsetDateTime};
use tracing::{debug, warn};

use crate::encode::Version;

/// The APIs' time resolution: 100 ns.
pub(crate) const TICK: Duration = Duration::nanoseconds(100);
/// Creation time never precedes this (Defender did not exist before).
const EARLIEST_CREATION: OffsetDateTime = time::macros::datetime!(2000-01-01 0:00 UTC);
/// Windows fill to about this share of `$top`, so density changes rarely make a window full.
const FILL: f64 = 0.9;
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
}

impl From<WindowError> for WalkError {
    fn from(e: WindowError) -> Self {
        WalkError::Request(e)
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
    /// Requests made.
    pub calls: u64,
    /// Windows read again in halves.
    pub splits: u64,
    /// Cells swept with `$skip`.
    pub sweeps: u64,
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
        }
    }

    async fn read(
        &mut self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        created: Option<(OffsetDateTime, OffsetDateTime)>,
        skip: u32,
    ) -> Result<WindowPage, WindowError> {
        let window = ExportWindow {
            from,
            to,
            created,
            top: self.top,
            skip,
        };
        self.calls += 1;
        let page = self
            .client
            .read_window(self.dataset, self.tenant, &window)
            .await
            .map_err(|source| WindowError { window, source })?;
        if let Some(now) = page.service_time {
            self.service_now = Some(self.service_now.map_or(now, |t| t.max(now)));
        }
        // Fewer rows than asked for, and more to come: the service caps pages below `$top`. Ask for that many
        // from now on, so that a capped page is seen as full even if a later answer forgets its nextLink.
        if page.next_link && page.records.len() < self.top as usize && page.records.len() >= 2 {
            let cap = page.records.len() as u32;
            warn!(tenant = %self.tenant, dataset = %self.dataset, asked = self.top, cap, "the service answers fewer rows than $top per page; using its page size");
            self.page_cap = Some(cap);
            self.top = cap;
        }
        debug!(tenant = %self.tenant, dataset = %self.dataset, from = %from, to = %to, rows = page.records.len(), complete = page.is_complete(), "window read");
        Ok(page)
    }

    /// A request that reads nothing (an empty window) to learn the service's clock.
    pub(crate) async fn probe(&mut self, at: OffsetDateTime) -> Result<(), WindowError> {
        self.read(at, at, None, 0).await.map(|_| ())
    }

    /// Reads the next complete stretch `[cursor, w1)` (`w1 ≤ end`, `w1 > cursor`) and returns its records and
    /// `w1`; `None` when the budget ran out first (nothing of the stretch is returned then).
    pub(crate) async fn next(
        &mut self,
        cursor: OffsetDateTime,
        end: OffsetDateTime,
        budget: &Budget,
    ) -> Result<Option<(Vec<Record>, OffsetDateTime)>, WalkError> {
        if budget.exhausted(self.calls) {
            return Ok(None);
        }
        loop {
            if budget.past_deadline() {
                return Ok(None);
            }
            let planned = cursor + self.width;
            let w1 = planned.min(end);
            let page = self.read(cursor, w1, None, 0).await?;
            let width = w1 - cursor;
            if page.is_complete() {
                self.adapt(width, page.records.len(), planned > end);
                return Ok(Some((page.records, w1)));
            }
            if width > TICK {
                self.splits += 1;
                self.width = shrunk(&page.records, cursor, w1);
                continue;
            }
            return match self.split_on_creation(cursor, w1, budget).await? {
                Some(records) => Ok(Some((records, w1))),
                None => Ok(None),
            };
        }
    }

    /// The next width after a complete window of `width` that held `rows`: about `FILL × $top` rows at the
    /// density just seen, at most four times wider. A window clipped at the end of its range (the re-check band,
    /// the last stretch) may narrow the width but never widen it: a short quiet stretch says little about the next.
    fn adapt(&mut self, width: Duration, rows: usize, clipped: bool) {
        let ideal = if rows == 0 {
            f64::INFINITY
        } else {
            width.as_seconds_f64() * (FILL * f64::from(self.top)) / rows as f64
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
    ) -> Result<Option<Vec<Record>>, WalkError> {
        let mut ranges = vec![(EARLIEST_CREATION.min(from), to.max(from + TICK))];
        let mut out = Vec::new();
        while let Some((c0, c1)) = ranges.pop() {
            if budget.past_deadline() {
                return Ok(None);
            }
            let page = self.read(from, to, Some((c0, c1)), 0).await?;
            if page.is_complete() {
                out.extend(page.records);
                continue;
            }
            if c1 - c0 > TICK {
                self.splits += 1;
                ranges.extend(creation_parts(&page.records, c0, c1).into_iter().rev());
                continue;
            }
            match self.sweep(from, to, (c0, c1), budget).await? {
                Some(records) => out.extend(records),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// Reads a cell full at one instant of both times with `$skip` until two whole sweeps see the same versions.
    async fn sweep(
        &mut self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        created: (OffsetDateTime, OffsetDateTime),
        budget: &Budget,
    ) -> Result<Option<Vec<Record>>, WalkError> {
        self.sweeps += 1;
        warn!(tenant = %self.tenant, dataset = %self.dataset, at = %from, "more than $top records share one last-update and one creation instant: sweeping with $skip");
        let window = ExportWindow {
            from,
            to,
            created: Some(created),
            top: self.top,
            skip: 0,
        };
        let mut previous: Option<BTreeSet<String>> = None;
        for _ in 0..MAX_SWEEPS {
            let mut records: Vec<Record> = Vec::new();
            let mut keys = BTreeSet::new();
            let mut skip = 0u32;
            loop {
                if budget.past_deadline() {
                    return Ok(None);
                }
                let page = self.read(from, to, Some(created), skip).await?;
                let complete = page.is_complete();
                let rows = page.records.len() as u32;
                for r in page.records {
                    if keys.insert(Version::of(&r).key) {
                        records.push(r);
                    }
                }
                if complete || rows == 0 {
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
                return Ok(Some(records));
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
fn shrunk(records: &[Record], cursor: OffsetDateTime, w1: OffsetDateTime) -> Duration {
    let width = w1 - cursor;
    if let Some(t) = single_instant(records, Record::last_update) {
        if t > cursor && t < w1 {
            return t - cursor;
        }
        if t == cursor {
            return TICK;
        }
    }
    let three_quarters = ticks(width * 3 / 4);
    let guided = records
        .iter()
        .filter_map(Record::last_update)
        .filter(|t| *t > cursor && *t < w1)
        .max()
        .map(|last| ticks((last - cursor) * FILL));
    guided.map_or(three_quarters, |g| g.min(three_quarters)).max(TICK)
}

/// The instant every record of a page shares, by `at` (none when they differ or one lacks it).
fn single_instant(
    records: &[Record],
    at: impl Fn(&Record) -> Option<OffsetDateTime>,
) -> Option<OffsetDateTime> {
    let first = at(records.first()?)?;
    records.iter().all(|r| at(r) == Some(first)).then_some(first)
}

/// How to split a creation range `[c0, c1)` whose page came back full, guided by the creation times the page
/// showed (any split is correct; these converge on where the records are, whatever the order): one instant alone
/// is isolated as a cell; a spread `lo..=hi` becomes `[c0, lo)`, `[lo, mid)`, `[mid, c1)`; without usable times,
/// halves. Returned in reading order; every part is non-empty and they cover `[c0, c1)` exactly.
fn creation_parts(
    records: &[Record],
    c0: OffsetDateTime,
    c1: OffsetDateTime,
) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let inside: Vec<OffsetDateTime> = records
        .iter()
        .filter_map(Record::created)
        .filter(|t| (c0..c1).contains(t))
        .collect();
    let (Some(lo), Some(hi)) = (inside.iter().min().copied(), inside.iter().max().copied()) else {
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

/// `d` rounded down to whole ticks.
fn ticks(d: Duration) -> Duration {
    let n = d.whole_nanoseconds() / 100;
    Duration::nanoseconds(i64::try_from(n * 100).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(created: OffsetDateTime) -> Record {
        let json = format!(
            r#"{{"id":"a","createdDateTime":"{}"}}"#,
            crate::keys::format_time(created)
        );
        Record::from_raw(serde_json::value::RawValue::from_string(json).expect("json")).expect("record")
    }

    proptest! {
        #[test]
        fn creation_parts_cover_the_range_exactly_in_smaller_parts(
            start in 0i64..1_000_000, span in 2i64..1_000_000, times in prop::collection::vec(0i64..1_200_000, 0..20),
        ) {
            let at = |t: i64| EARLIEST_CREATION + TICK * i32::try_from(t).expect("small");
            let (c0, c1) = (at(start), at(start + span));
            let records: Vec<Record> = times.iter().map(|t| record(at(*t))).collect();
            let parts = creation_parts(&records, c0, c1);
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
