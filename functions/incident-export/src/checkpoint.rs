//! The checkpoint of one (tenant, dataset): read and checked strictly (a corrupt one is an error, never a silent
//! reset; a format-1 one is upgraded), and written with a conditional put on the etag read, so two concurrent runs
//! cannot both advance it.

use std::collections::HashMap;

use bytes::Bytes;
use mde_contracts::{BackfillProgress, Dataset, ExportCheckpoint, ExportedVersion, TenantId};
use mde_platform::{ObjectStore, PutCondition};
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::ExportError;
use crate::durable::{self, PutFailure};
use crate::encode::Version;
use crate::keys::{format_time, parse_time};

/// The format version written.
const VERSION: u32 = 2;

/// Record versions already exported (for suppression), with their times (for pruning): one entry per version,
/// its key (`<id>:<last update>`) the only allocation.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    /// Key → (where its id part ends, its last update).
    versions: HashMap<Box<str>, (usize, OffsetDateTime), foldhash::fast::RandomState>,
}

impl Seen {
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.versions.contains_key(key)
    }

    /// Remembers a version that has a last update (one without is never suppressed: its key holds a content hash
    /// instead, and it cannot be placed in the re-check band).
    pub(crate) fn insert(&mut self, version: &Version) {
        if let Some((at, _)) = version.last_update()
            && !self.versions.contains_key(version.key())
        {
            self.versions
                .insert(version.key().into(), (version.id().len(), at));
        }
    }

    /// Remembers a version a checkpoint lists.
    fn insert_listed(&mut self, id: &str, last_update: &str, at: OffsetDateTime) {
        self.versions
            .entry(format!("{id}:{last_update}").into_boxed_str())
            .or_insert((id.len(), at));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.versions.len()
    }

    /// Keeps the versions at or after `threshold`, and at most `max` of them (the newest; ties by key).
    pub(crate) fn prune(&mut self, threshold: OffsetDateTime, max: usize) {
        self.versions.retain(|_, (_, at)| *at >= threshold);
        if self.versions.len() > max {
            warn!(
                kept = max,
                dropped = self.versions.len() - max,
                "more versions in the re-check band than the checkpoint keeps: the oldest may be exported again"
            );
            let mut newest: Vec<(OffsetDateTime, Box<str>)> = self
                .versions
                .iter()
                .map(|(key, (_, at))| (*at, key.clone()))
                .collect();
            newest.sort_by(|a, b| b.cmp(a));
            for (_, key) in &newest[max..] {
                self.versions.remove(key);
            }
        }
    }

    fn to_contract(&self) -> Vec<ExportedVersion> {
        let mut v: Vec<ExportedVersion> = self
            .versions
            .iter()
            .map(|(key, (id_len, _))| ExportedVersion {
                id: key[..*id_len].to_owned(),
                last_update: key[*id_len + 1..].to_owned(),
            })
            .collect();
        v.sort();
        v
    }
}

/// A backfill under way, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backfill {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub frontier: OffsetDateTime,
}

/// What a checkpoint says, parsed, with the etag to write the next one against.
#[derive(Debug, Default, Clone)]
pub(crate) struct State {
    /// Service time: every version last updated before it (in the covered range) has been exported.
    pub frontier: Option<OffsetDateTime>,
    /// Where coverage starts.
    pub covered_from: Option<OffsetDateTime>,
    /// The window width that suited the density last time.
    pub window: Option<time::Duration>,
    /// The most rows the service answered per page, below `$top`.
    pub page_cap: Option<u32>,
    pub seen: Seen,
    pub backfill: Option<Backfill>,
    pub etag: Option<String>,
}

/// Reads the checkpoint at `key`; `State::default()` when there is none.
pub(crate) async fn load(
    store: &dyn ObjectStore,
    key: &str,
    tenant: &TenantId,
    dataset: Dataset,
) -> Result<State, ExportError> {
    let object = store.get(key).await.map_err(|source| ExportError::Storage {
        action: "reading",
        location: store.location(key),
        source,
    })?;
    let Some(object) = object else {
        return Ok(State::default());
    };
    let mut state =
        parse(&object.body, tenant, dataset).map_err(|reason| ExportError::CorruptCheckpoint {
            location: store.location(key),
            reason,
        })?;
    state.etag = Some(object.etag);
    Ok(state)
}

fn parse(body: &[u8], tenant: &TenantId, dataset: Dataset) -> Result<State, String> {
    let cp: ExportCheckpoint = serde_json::from_slice(body).map_err(|e| format!("not a checkpoint: {e}"))?;
    if cp.version != VERSION && cp.version != 1 {
        return Err(format!(
            "format version {} is not {VERSION} (written by a newer mde-bridge? use that version, or the same one)",
            cp.version
        ));
    }
    if &cp.tenant_id != tenant || cp.dataset != dataset {
        return Err(format!(
            "it belongs to tenant {} and dataset {}, not to tenant {tenant} and dataset {dataset}",
            cp.tenant_id, cp.dataset
        ));
    }
    let time =
        |field: &str, s: &str| parse_time(s).ok_or_else(|| format!("{field} {s:?} is not an RFC 3339 time"));
    let optional = |field: &str, s: &Option<String>| s.as_deref().map(|s| time(field, s)).transpose();
    let mut seen = Seen::default();
    for (i, v) in cp.seen.iter().enumerate() {
        let at = time(&format!("seen[{i}].last_update"), &v.last_update)?;
        seen.insert_listed(&v.id, &v.last_update, at);
    }
    if cp.version == 1 {
        // Format 1 kept a `$skip` pass from `watermark − overlap`: its start is exported up to; the re-check band
        // reads again behind it, and `seen` keeps what it already wrote from being written twice.
        let pass_from = cp.pass.as_ref().map(|p| time("pass.from", &p.from)).transpose()?;
        let watermark = optional("watermark", &cp.watermark)?;
        let frontier = match (pass_from, watermark) {
            (Some(p), Some(w)) => Some(p.min(w)),
            (p, w) => p.or(w),
        };
        info!(tenant = %tenant, dataset = %dataset, "upgrading a format-1 checkpoint");
        return Ok(State {
            frontier,
            covered_from: None,
            seen,
            ..State::default()
        });
    }
    let backfill = match &cp.backfill {
        None => None,
        Some(b) => Some(Backfill {
            from: time("backfill.from", &b.from)?,
            to: time("backfill.to", &b.to)?,
            frontier: time("backfill.frontier", &b.frontier)?,
        }),
    };
    Ok(State {
        frontier: optional("frontier", &cp.frontier)?,
        covered_from: optional("covered_from", &cp.covered_from)?,
        window: cp
            .window_ms
            .map(|ms| time::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))),
        page_cap: cp.page_cap,
        seen,
        backfill,
        etag: None,
    })
}

/// Decodes a checkpoint object's body as a run reads it (strictly: a format-1 checkpoint is upgraded, anything
/// wrong is [`ExportError::CorruptCheckpoint`] at `location` with the reason) and returns the checkpoint a run
/// would write back from it without exporting anything: format 2, with the body's `run_id` and `updated_at`.
/// Public for the fuzz tests (`tests/fuzz.rs`): decoding, then encoding, is the whole checkpoint format.
pub fn decode_checkpoint(
    body: &[u8],
    tenant: &TenantId,
    dataset: Dataset,
    location: &str,
) -> Result<ExportCheckpoint, ExportError> {
    let corrupt = |reason| ExportError::CorruptCheckpoint {
        location: location.to_owned(),
        reason,
    };
    let state = parse(body, tenant, dataset).map_err(corrupt)?;
    let read: ExportCheckpoint =
        serde_json::from_slice(body).map_err(|e| corrupt(format!("not a checkpoint: {e}")))?;
    Ok(contract(&state, tenant, dataset, &read.run_id, read.updated_at))
}

/// The checkpoint [`save`] writes for `state`.
fn contract(
    state: &State,
    tenant: &TenantId,
    dataset: Dataset,
    run_id: &str,
    updated_at: String,
) -> ExportCheckpoint {
    ExportCheckpoint {
        version: VERSION,
        tenant_id: tenant.clone(),
        dataset,
        frontier: state.frontier.map(format_time),
        covered_from: state.covered_from.map(format_time),
        window_ms: state
            .window
            .map(|w| u64::try_from(w.whole_milliseconds()).unwrap_or(0).max(1)),
        page_cap: state.page_cap,
        seen: state.seen.to_contract(),
        backfill: state.backfill.map(|b| BackfillProgress {
            from: format_time(b.from),
            to: format_time(b.to),
            frontier: format_time(b.frontier),
        }),
        watermark: None,
        pass: None,
        run_id: run_id.to_owned(),
        updated_at,
    }
}

/// Writes `state` as the checkpoint if nobody wrote it since `state.etag` was read (or, with no etag, if none
/// exists), and keeps the new etag in `state`.
pub(crate) async fn save(
    store: &dyn ObjectStore,
    key: &str,
    tenant: &TenantId,
    dataset: Dataset,
    state: &mut State,
    run_id: &str,
    now: OffsetDateTime,
) -> Result<(), ExportError> {
    let cp = contract(state, tenant, dataset, run_id, format_time(now));
    let body = Bytes::from(serde_json::to_vec_pretty(&cp).map_err(std::io::Error::other)?);
    let condition = match &state.etag {
        Some(etag) => PutCondition::IfMatch(etag.clone()),
        None => PutCondition::IfAbsent,
    };
    let etag = durable::put(store, key, body, condition)
        .await
        .map_err(|e| match e {
            PutFailure::Conflict => ExportError::CheckpointConflict {
                location: store.location(key),
            },
            PutFailure::Store(source) => ExportError::Storage {
                action: "writing",
                location: store.location(key),
                source,
            },
        })?;
    state.etag = Some(etag);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17".parse().expect("guid")
    }

    #[test]
    fn a_checkpoint_of_another_tenant_or_with_a_bad_time_is_refused_with_the_reason() {
        let json = serde_json::json!({
            "version": 2, "tenant_id": tenant(), "dataset": "mde_alerts", "frontier": "yesterday",
            "seen": [], "run_id": "r", "updated_at": "2026-11-23T00:00:00Z"
        });
        let err = parse(json.to_string().as_bytes(), &tenant(), Dataset::MdeAlerts).expect_err("bad time");
        assert!(err.contains("frontier \"yesterday\""), "{err}");
        let other: TenantId = "3f9c1e7b-5d2a-4b8e-a6c0-7e4d9b1f2a85".parse().expect("guid");
        let err = parse(json.to_string().as_bytes(), &other, Dataset::MdeAlerts).expect_err("other tenant");
        assert!(err.contains("belongs to tenant"), "{err}");
        assert!(parse(b"{\"trunc", &tenant(), Dataset::MdeAlerts).is_err());
        let future = serde_json::json!({
            "version": 3, "tenant_id": tenant(), "dataset": "mde_alerts", "seen": [], "run_id": "r",
            "updated_at": "2026-11-23T00:00:00Z"
        });
        let err = parse(future.to_string().as_bytes(), &tenant(), Dataset::MdeAlerts).expect_err("version 3");
        assert!(err.contains("format version 3"), "{err}");
    }

    #[test]
    fn a_format_one_checkpoint_is_upgraded_from_its_pass_start_keeping_what_it_saw() {
        let json = serde_json::json!({
            "version": 1, "tenant_id": tenant(), "dataset": "mde_alerts",
            "watermark": "2026-11-23T10:00:00Z",
            "seen": [{"id": "a", "last_update": "2026-11-23T09:55:00.0000000Z"}],
            "pass": {"from": "2026-11-23T09:50:00Z", "started_at": "2026-11-23T10:05:00Z", "skip": 25},
            "run_id": "r", "updated_at": "2026-11-23T10:06:00Z"
        });
        let state = parse(json.to_string().as_bytes(), &tenant(), Dataset::MdeAlerts).expect("upgraded");
        assert_eq!(state.frontier, parse_time("2026-11-23T09:50:00Z"));
        assert!(state.seen.contains("a:2026-11-23T09:55:00.0000000Z"));
    }

    #[test]
    fn pruning_keeps_the_versions_inside_the_band_and_the_newest_when_over_the_cap() {
        let mut seen = Seen::default();
        for (i, t) in [
            "2026-11-23T10:00:00Z",
            "2026-11-23T11:00:00Z",
            "2026-11-23T12:00:00Z",
        ]
        .iter()
        .enumerate()
        {
            let at = parse_time(t).expect("time");
            seen.insert_listed(&i.to_string(), t, at);
        }
        seen.prune(parse_time("2026-11-23T10:30:00Z").expect("time"), 1);
        assert_eq!(seen.len(), 1);
        assert!(seen.contains("2:2026-11-23T12:00:00Z"));
        assert!(!seen.contains("0:2026-11-23T10:00:00Z"));
    }
}
