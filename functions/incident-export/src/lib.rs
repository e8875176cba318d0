//! incident-export: the scheduled, lossless export of Defender incidents and alerts to gzip NDJSON objects.
//!
//! For every selected (tenant, dataset) the core ([`Exporter::run`]) reads the checkpoint object, queries the
//! API by **last-update time** from `watermark − overlap`, follows every page, suppresses the record versions the
//! checkpoint lists as already exported, writes each record (unchanged, inside a small [`RecordEnvelope`]) into
//! gzip NDJSON objects rolled at a size bound, and advances the checkpoint with a conditional write only after the
//! objects holding those records are durable. Incidents and alerts are separate datasets fetched separately
//! (Graph incidents never use `$expand=alerts` together with `$filter`; their alerts come from `alerts_v2`).
//!
//! Guarantee: at-least-once, no loss. A record version is exported again only when a run stops between writing
//! an object and writing the checkpoint (crash, lost checkpoint race) or when the API repeats it within one pass.
//!
//! Everything outside is injected: the [`DefenderClient`](mde_defender::DefenderClient), the
//! [`ObjectStore`](mde_platform::ObjectStore), the [`Clock`] and the deadline; `main.rs` only wires Lambda.

mod checkpoint;
mod durable;
mod encode;
mod error;
mod export;
mod handler;
mod keys;
mod metrics;
mod pages;
mod progress;
mod run;

pub use mde_contracts::{
    DatasetRunSummary, DatasetStatus, ExportCheckpoint, ExportJob, ExportRunSummary, QuarantinedPage,
    RecordEnvelope, RecordFlag,
};

pub use error::ExportError;
pub use handler::{handle, jobs_from_sqs_event};
pub use keys::{checkpoint_key, format_time};
pub use mde_contracts::ExportSettings;
pub use metrics::emf_lines;
pub use progress::{ExportObserver, ExportProgress, NoProgress};
pub use run::Exporter;

use time::OffsetDateTime;

/// Where "now" comes from (the system clock in production, a simulated clock in tests).
pub trait Clock: Send + Sync {
    /// The current time, UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
