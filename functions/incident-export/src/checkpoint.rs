//! The checkpoint of one (tenant, dataset): read and checked strictly (a corrupt one is an error, never a silent
//! reset), and written with a conditional put on the etag read, so two concurrent runs cannot both advance it.

use std::collections::HashSet;

use bytes::Bytes;
use mde_contracts::{Dataset, ExportCheckpoint, ExportedVersion, PassProgress, TenantId};
use mde_platform::{ObjectStore, PutCondition};
use time::OffsetDateTime;
use tracing::warn;

use crate::ExportError;
use crate::durable::{self, PutFailure};
use crate::keys::{format_time, parse_time};

/// The format version written.
const VERSION: u32 = 1;

/// A pass over the dataset: `lastUpdate ge from`, started at `started_at`, `skip` records done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pass {
    pub from: OffsetDateTime,
    pub started_at: OffsetDateTime,
    pub skip: u64,
}

/// Record versions already exported (for suppression), with their times (for pruning).
#[derive(Debug, Default)]
pub(crate) struct Seen {
    keys: HashSet<String>,
    entries: Vec<(OffsetDateTime, ExportedVersion)>,
}

impl Seen {
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    pub(crate) fn insert(&mut self, key: String, id: &str, last_update: &str, at: OffsetDateTime) {
        if self.keys.insert(key) {
            self.entries.push((
                at,
                ExportedVersion {
                    id: id.to_owned(),
                    last_update: last_update.to_owned(),
                },
            ));
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Keeps the versions at or after `threshold`, and at most `max` of them (the newest).
    pub(crate) fn prune(&mut self, threshold: OffsetDateTime, max: usize) {
        self.entries.retain(|(at, _)| *at >= threshold);
        if self.entries.len() > max {
            warn!(
                kept = max,
                dropped = self.entries.len() - max,
                "more versions at the watermark than the checkpoint keeps: the oldest may be exported again"
            );
            self.entries.sort_by_key(|e| std::cmp::Reverse(e.0));
            self.entries.truncate(max);
        }
        self.keys = self
            .entries
            .iter()
            .map(|(_, v)| format!("{}:{}", v.id, v.last_update))
            .collect();
    }

    fn to_contract(&self) -> Vec<ExportedVersion> {
        let mut v: Vec<ExportedVersion> = self.entries.iter().map(|(_, v)| v.clone()).collect();
        v.sort();
        v
    }
}

/// What a checkpoint says, parsed, with the etag to write the next one against.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub watermark: Option<OffsetDateTime>,
    pub seen: Seen,
    pub pass: Option<Pass>,
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
    if cp.version != VERSION {
        return Err(format!("format version {} is not {VERSION}", cp.version));
    }
    if &cp.tenant_id != tenant || cp.dataset != dataset {
        return Err(format!(
            "it belongs to tenant {} and dataset {}, not to tenant {tenant} and dataset {dataset}",
            cp.tenant_id, cp.dataset
        ));
    }
    let time =
        |field: &str, s: &str| parse_time(s).ok_or_else(|| format!("{field} {s:?} is not an RFC 3339 time"));
    let watermark = match &cp.watermark {
        Some(w) => Some(time("watermark", w)?),
        None => None,
    };
    let mut seen = Seen::default();
    for (i, v) in cp.seen.iter().enumerate() {
        let at = time(&format!("seen[{i}].last_update"), &v.last_update)?;
        seen.insert(format!("{}:{}", v.id, v.last_update), &v.id, &v.last_update, at);
    }
    let pass = match &cp.pass {
        None => None,
        Some(p) => Some(Pass {
            from: time("pass.from", &p.from)?,
            started_at: time("pass.started_at", &p.started_at)?,
            skip: p.skip,
        }),
    };
    Ok(State {
        watermark,
        seen,
        pass,
        etag: None,
    })
}

/// What a new checkpoint records.
pub(crate) struct Progress<'a> {
    pub tenant: &'a TenantId,
    pub dataset: Dataset,
    pub watermark: Option<OffsetDateTime>,
    pub seen: &'a Seen,
    pub pass: Option<&'a Pass>,
    pub run_id: &'a str,
    pub now: OffsetDateTime,
}

/// Writes the checkpoint if nobody wrote it since `state.etag` was read (or, with no etag, if none exists),
/// and keeps the new etag in `state`.
pub(crate) async fn save(
    store: &dyn ObjectStore,
    key: &str,
    state: &mut State,
    progress: Progress<'_>,
) -> Result<(), ExportError> {
    let cp = ExportCheckpoint {
        version: VERSION,
        tenant_id: progress.tenant.clone(),
        dataset: progress.dataset,
        watermark: progress.watermark.map(format_time),
        seen: progress.seen.to_contract(),
        pass: progress.pass.map(|p| PassProgress {
            from: format_time(p.from),
            started_at: format_time(p.started_at),
            skip: p.skip,
        }),
        run_id: progress.run_id.to_owned(),
        updated_at: format_time(progress.now),
    };
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
            "version": 1, "tenant_id": tenant(), "dataset": "mde_alerts", "watermark": "yesterday",
            "seen": [], "run_id": "r", "updated_at": "2026-11-23T00:00:00Z"
        });
        let err = parse(json.to_string().as_bytes(), &tenant(), Dataset::MdeAlerts).expect_err("bad time");
        assert!(err.contains("watermark \"yesterday\""), "{err}");
        let other: TenantId = "3f9c1e7b-5d2a-4b8e-a6c0-7e4d9b1f2a85".parse().expect("guid");
        let err = parse(json.to_string().as_bytes(), &other, Dataset::MdeAlerts).expect_err("other tenant");
        assert!(err.contains("belongs to tenant"), "{err}");
        assert!(parse(b"{\"trunc", &tenant(), Dataset::MdeAlerts).is_err());
    }

    #[test]
    fn pruning_keeps_the_versions_inside_the_overlap_and_the_newest_when_over_the_cap() {
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
            seen.insert(format!("{i}:{t}"), &i.to_string(), t, at);
        }
        seen.prune(parse_time("2026-11-23T10:30:00Z").expect("time"), 1);
        assert_eq!(seen.len(), 1);
        assert!(seen.contains("2:2026-11-23T12:00:00Z"));
        assert!(!seen.contains("0:2026-11-23T10:00:00Z"));
    }
}
