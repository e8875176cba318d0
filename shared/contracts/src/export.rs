//! incident-export's boundary types: the job it is invoked with, the checkpoint and quarantine objects it keeps
//! in the object store, the envelope of every exported NDJSON line, and the summary of a run.
//!
//! Timestamps are RFC 3339 strings (this crate has no date library); incident-export parses and checks them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Dataset, TenantId};

/// What one invocation of incident-export exports (the EventBridge Scheduler payload, or one SQS job).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportJob {
    /// Tenants to export; empty means every enabled tenant of the registry.
    #[serde(default)]
    pub tenants: Vec<TenantId>,
    /// Datasets to export; empty means each tenant's configured datasets. A dataset a tenant is not configured
    /// for is never exported for it.
    #[serde(default)]
    pub datasets: Vec<Dataset>,
    /// Backfill: also export records last updated between this RFC 3339 time and the start of what the
    /// checkpoint already covers (`covered_from`). Records already exported are not exported again; a time the
    /// export already covers has nothing to backfill (the summary says so); a time in the future is refused.
    #[serde(default)]
    pub since: Option<String>,
    /// Fan-out: instead of exporting, enqueue one job per selected tenant on the export queue (consumed by the
    /// same function, so Lambda concurrency spreads the tenants).
    #[serde(default)]
    pub fan_out: bool,
}

/// One record version already exported: its id and last-update time (normalised RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedVersion {
    /// The record's id, or `sha256-<hex>` of its JSON when it has none.
    pub id: String,
    /// Its last-update time, UTC with seven fractional digits.
    pub last_update: String,
}

/// A pass of the format-1 checkpoint (read only, to upgrade it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PassProgress {
    /// The pass's query: `lastUpdate ge from` (RFC 3339).
    pub from: String,
    /// When the pass started (RFC 3339).
    pub started_at: String,
    /// Records of the query already read.
    pub skip: u64,
}

/// A backfill under way: the range `[from, to)` of last-update time, exported window by window up to `frontier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillProgress {
    /// Start of the range (the job's `since`, RFC 3339).
    pub from: String,
    /// End of the range: where the export's coverage started when the backfill was asked for (RFC 3339).
    pub to: String,
    /// Every record version last updated in `[from, frontier)` has been exported (RFC 3339).
    pub frontier: String,
}

/// The checkpoint object of one (tenant, dataset): `checkpoints/<dataset>/tenant=<id>.json`.
///
/// Times are the service's (from its answers' `Date` header and its records), never this host's. Every record
/// version last updated in `[covered_from, frontier)` has been exported, except a version that became visible
/// more than the re-check band after its last-update time; each run re-reads the band before the frontier and
/// `seen` suppresses what was exported already. Written only after the object holding those records is durable,
/// with a conditional write on the etag read, so two concurrent runs cannot both advance it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportCheckpoint {
    /// Format version: 2 (a format-1 checkpoint is read and upgraded).
    pub version: u32,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The dataset.
    pub dataset: Dataset,
    /// RFC 3339, service time: every version last updated before it has been exported (see above). Absent before
    /// the first window is exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontier: Option<String>,
    /// RFC 3339: where the export's coverage starts (the first run's start, or a finished backfill's `since`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_from: Option<String>,
    /// The window width that suited the dataset's density last time, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_ms: Option<u64>,
    /// The most rows the service has answered per page, when it answered fewer than `$top` with more to come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_cap: Option<u32>,
    /// Record versions already exported whose last update is in the re-check band (at or after `frontier − band`).
    #[serde(default)]
    pub seen: Vec<ExportedVersion>,
    /// A backfill under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillProgress>,
    /// Format 1 only: the start of the last complete pass (read to upgrade, never written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
    /// Format 1 only: an unfinished `$skip` pass (read to upgrade, never written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<PassProgress>,
    /// The run that wrote this checkpoint.
    pub run_id: String,
    /// When it was written (RFC 3339, this host's clock).
    pub updated_at: String,
}

/// Why an exported line is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordFlag {
    /// The record has no id: its dedupe key cannot identify it.
    MissingId,
    /// The record has no (valid) last-update time: it cannot be placed relative to the frontier.
    MissingLastUpdate,
}

/// One line of an export object (`<dataset>/tenant=<id>/dt=YYYY-MM-DD/hour=HH/<from>_<to>.ndjson.gz`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordEnvelope {
    /// The tenant the record belongs to.
    pub tenant_id: TenantId,
    /// The dataset.
    pub dataset: Dataset,
    /// When the record was exported (RFC 3339).
    pub exported_at: String,
    /// `<id>:<lastUpdate>`: the same record version always has the same key (SIEMs deduplicate on it). A part the
    /// record lacks (see `flags`) is replaced by `sha256-<hex>` of the record's JSON.
    pub dedupe_key: String,
    /// Present when the record lacks what the dedupe key is made of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<RecordFlag>,
    /// The API object exactly as the API returned it.
    pub record: serde_json::Value,
}

/// The query of a window that kept failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarantinedQuery {
    /// Last update at or after this (RFC 3339).
    pub from: String,
    /// Last update before this (RFC 3339).
    pub to: String,
    /// Creation time `[start, end)`, when the window was split on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<(String, String)>,
    /// `$top` of the request.
    pub top: u32,
    /// `$skip` of the request (a last-resort sweep), when not 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skip: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A window that kept failing after bounded retries: `quarantine/<dataset>/tenant=<id>/<run-id>-<seq>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarantinedPage {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The dataset.
    pub dataset: Dataset,
    /// The run that met it.
    pub run_id: String,
    /// When (RFC 3339).
    pub recorded_at: String,
    /// The window's query.
    pub query: QuarantinedQuery,
    /// The error, as reported by the client (never a token).
    pub error: String,
    /// Whether the run moved past the window (`skip_failed_pages`: its records are not exported); otherwise the
    /// checkpoint holds before it.
    pub moved_past: bool,
}

/// How the export of one (tenant, dataset) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatasetStatus {
    /// Every window up to the service's time minus the settle time was exported and the frontier advanced.
    Completed,
    /// The deadline (or the per-run call budget) came first: progress is saved and the next run goes on.
    Partial,
    /// It failed (consent, throttling, an unreachable service, a window that keeps failing, storage): see
    /// `error`; the checkpoint holds at the last durable progress.
    Failed,
    /// Another run advanced the checkpoint first, again after each of this run's restarts from its progress: this
    /// run stopped and left the rest to it (what it wrote is exported again at most).
    Conflict,
}

/// The outcome of one (tenant, dataset) in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetRunSummary {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The dataset.
    pub dataset: Dataset,
    /// How it ended.
    pub status: DatasetStatus,
    /// Records written.
    pub records: u64,
    /// Records not written because the checkpoint lists them as already exported.
    pub suppressed: u64,
    /// Records written with a flag (missing id or last-update time).
    pub flagged: u64,
    /// Window requests answered.
    pub pages: u64,
    /// Requests made by this run (the client's internal retries are not visible here).
    pub api_calls: u64,
    /// Windows that came back full and were read again in two parts.
    #[serde(default)]
    pub splits: u64,
    /// Cells full at a single instant of both last-update and creation time, swept with `$skip` until two sweeps
    /// agreed (a last resort: expected 0).
    #[serde(default)]
    pub skip_sweeps: u64,
    /// Compressed bytes written.
    pub bytes: u64,
    /// Export objects written.
    pub objects: u64,
    /// Windows quarantined.
    pub quarantined: u64,
    /// Seconds between the service's time at the end of the run and the frontier, when there is one.
    pub lag_seconds: Option<i64>,
    /// The frontier after the run (RFC 3339, service time).
    pub frontier: Option<String>,
    /// Something the operator should know that is not an error (e.g. a backfill with nothing to do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What went wrong (status `failed` or `conflict`).
    pub error: Option<String>,
}

/// What a run did, per (tenant, dataset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRunSummary {
    /// The run id (in every object key it wrote).
    pub run_id: String,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339).
    pub finished_at: String,
    /// One entry per (tenant, dataset) attempted.
    pub datasets: Vec<DatasetRunSummary>,
    /// Jobs enqueued (fan-out mode).
    #[serde(default)]
    pub jobs_enqueued: u64,
    /// A failure of the whole run (e.g. the application credential was refused: nothing could be exported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ExportRunSummary {
    /// Whether the run, or any (tenant, dataset), failed or lost a checkpoint race.
    pub fn has_failures(&self) -> bool {
        self.error.is_some()
            || self
                .datasets
                .iter()
                .any(|d| matches!(d.status, DatasetStatus::Failed | DatasetStatus::Conflict))
    }
}
