//! action-executor: performs the Defender actions partners asked for through alert-webhook — device response
//! actions, indicators, alert and incident updates, hunting queries, external alert correlation — exactly once,
//! within Defender's limits, with one audit record per request (what `GET /v1/requests/{id}` answers).
//!
//! [`Executor`] is the core over injected ports (Defender client, registry, indicator-push's core, object store,
//! poll queue, clock): it runs under Lambda ([`handler::handle`]), in the CLI and in tests ([`handler::drain`]).
//! Each kind of request has its module; [`step`] says what a Defender error means for a request.

mod audit;
pub mod correlate;
pub mod device;
mod error;
mod executor;
pub mod handler;
pub mod hunting;
pub mod indicators;
pub mod metrics;
pub mod records;
pub mod step;

pub use audit::AuditLog;
pub use error::ExecutorError;
pub use executor::{Disposition, Executor};
pub use handler::{DrainReport, QueueSet, drain, handle};
