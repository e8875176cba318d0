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
    /// Backfill: also export records whose last update is at or after this RFC 3339 time, even if the
    /// checkpoint is later. It never moves the query start later than the checkpoint's.
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

/// A pass over a dataset that a run started and did not finish (deadline, failure): the next run resumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PassProgress {
    /// The pass's query: `lastUpdate ge from` (RFC 3339).
    pub from: String,
    /// When the pass started (RFC 3339): the watermark it will set once complete.
    pub started_at: String,
    /// Records of the query already read and durably written (or deliberately moved past): the `$skip` to resume at.
    pub skip: u64,
}

/// The checkpoint object of one (tenant, dataset): `checkpoints/<dataset>/tenant=<id>.json`.
///
/// Every record version whose last update is before `watermark − overlap` has been exported; versions at or
/// after it that were exported are listed in `seen`, so the next run (which queries from `watermark − overlap`)
/// suppresses them. Written only after the objects holding those records are durable, with a conditional write
/// on the etag read, so two concurrent runs cannot both advance it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportCheckpoint {
    /// Format version (1).
    pub version: u32,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The dataset.
    pub dataset: Dataset,
    /// RFC 3339: the start of the last complete pass (the next pass queries from `watermark − overlap`); absent
    /// until the first pass completes.
    #[serde(default)]
    pub watermark: Option<String>,
    /// Record versions already exported whose last update is at or after `watermark − overlap`.
    #[serde(default)]
    pub seen: Vec<ExportedVersion>,
    /// An unfinished pass, resumed by the next run.
    #[serde(default)]
    pub pass: Option<PassProgress>,
    /// The run that wrote this checkpoint.
    pub run_id: String,
    /// When it was written (RFC 3339).
    pub updated_at: String,
}

/// Why an exported line is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordFlag {
    /// The record has no id: its dedupe key cannot identify it.
    MissingId,
    /// The record has no (valid) last-update time: it cannot be placed relative to the watermark.
    MissingLastUpdate,
}

/// One line of an export object (`<dataset>/tenant=<id>/dt=YYYY-MM-DD/hour=HH/<run-id>-<seq>.ndjson.gz`).
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

/// The query of a page that kept failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarantinedQuery {
    /// `lastUpdate ge from` (RFC 3339).
    pub from: String,
    /// `$skip` of the page.
    pub skip: u64,
    /// `$top` of the page, when set.
    pub top: Option<u32>,
}

/// A page that kept failing after bounded retries: `quarantine/<dataset>/tenant=<id>/<run-id>-<seq>.json`.
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
    /// The page's query.
    pub query: QuarantinedQuery,
    /// The error, as reported by the client (never a token).
    pub error: String,
    /// Whether the run moved past the page (`skip_failed_pages`); otherwise the checkpoint holds before it.
    pub moved_past: bool,
}

/// How the export of one (tenant, dataset) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatasetStatus {
    /// Every page was exported and the watermark advanced.
    Completed,
    /// The deadline came first: progress is saved and the next run resumes the pass.
    Partial,
    /// It failed (consent, throttling, a page that keeps failing, storage): see `error`; the checkpoint holds
    /// at the last durable progress.
    Failed,
    /// Another run advanced the checkpoint first: this run stopped (what it wrote is exported again at most).
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
    /// Pages read.
    pub pages: u64,
    /// Page requests made by this run (the client's internal retries are not visible here).
    pub api_calls: u64,
    /// Compressed bytes written.
    pub bytes: u64,
    /// Export objects written.
    pub objects: u64,
    /// Pages quarantined.
    pub quarantined: u64,
    /// Seconds between the end of the run and the watermark, when there is one.
    pub lag_seconds: Option<i64>,
    /// The watermark after the run (RFC 3339).
    pub watermark: Option<String>,
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
}

impl ExportRunSummary {
    /// Whether any (tenant, dataset) failed or lost a checkpoint race.
    pub fn has_failures(&self) -> bool {
        self.datasets
            .iter()
            .any(|d| matches!(d.status, DatasetStatus::Failed | DatasetStatus::Conflict))
    }
}
