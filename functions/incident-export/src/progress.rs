//! What a run reports while it works, for a terminal's progress display. Lambda uses none: its logs and the
//! run summary carry the same facts.

use mde_contracts::{Dataset, DatasetRunSummary, TenantId};

/// Counts of one (tenant, dataset) export so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportProgress {
    /// Records written.
    pub records: u64,
    /// Records skipped as already exported.
    pub suppressed: u64,
    /// Pages read.
    pub pages: u64,
}

/// Receives progress events; every method defaults to doing nothing. Called from the exporting tasks, so an
/// implementation must be cheap and must not block.
pub trait ExportObserver: Send + Sync {
    /// The export of `dataset` for `tenant` begins.
    fn started(&self, _tenant: &TenantId, _dataset: Dataset) {}
    /// A window was read and its records written (or suppressed); `progress.pages` counts requests so far.
    fn page_read(&self, _tenant: &TenantId, _dataset: Dataset, _progress: ExportProgress) {}
    /// The export of one (tenant, dataset) ended; `summary` is its entry of the run summary.
    fn finished(&self, _summary: &DatasetRunSummary) {}
}

/// The observer that ignores everything (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ExportObserver for NoProgress {}
