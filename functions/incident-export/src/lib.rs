//! incident-export: the scheduled, lossless export of Defender incidents and alerts to gzip NDJSON objects.
//!
//! For every selected (tenant, dataset) the core ([`Exporter::run`]) reads the checkpoint object, reads the
//! dataset by **last-update time** in bounded windows `[w0, w1)` — each fixed before it is read and answered by
//! one `$top` request without `$skip`, so no list order is assumed — from the frontier minus a re-check band up to
//! the service's clock (its `Date` header) minus a settle time, suppresses the versions the checkpoint lists as
//! exported, writes each record (unchanged, inside a small [`RecordEnvelope`]) into gzip NDJSON objects named
//! after the range they cover and written only if absent, and advances the checkpoint with a conditional write
//! once the object holding those records is durable. Incidents and alerts are separate datasets fetched
//! separately (Graph incidents never use `$expand=alerts` together with `$filter`; their alerts come from
//! `alerts_v2`).
//!
//! Guarantee: no loss, and each record version stored once, across crashes — as long as the service makes a
//! version visible within the settle time plus the re-check band after its last-update time (see README).
//!
//! Everything outside is injected: the [`DefenderClient`](mde_defender::DefenderClient), the
//! [`ObjectStore`](mde_platform::ObjectStore), the tenant registry, the [`Clock`] and the deadline; `main.rs`
//! only wires Lambda.

mod checkpoint;
mod durable;
mod encode;
mod error;
mod export;
mod handler;
mod keys;
mod metrics;
mod progress;
mod run;
mod window;

pub use mde_contracts::{
    DatasetRunSummary, DatasetStatus, ExportCheckpoint, ExportJob, ExportRunSummary, QuarantinedPage,
    RecordEnvelope, RecordFlag,
};

pub use checkpoint::decode_checkpoint;
pub use error::ExportError;
pub use handler::{handle, jobs_from_sqs_event};
pub use keys::{checkpoint_key, format_time};
pub use mde_contracts::ExportSettings;
pub use metrics::emf_lines;
pub use progress::{ExportObserver, ExportProgress, NoProgress};
pub use run::Exporter;

pub use mde_platform::{Clock, SystemClock};
