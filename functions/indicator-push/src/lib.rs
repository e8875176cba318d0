//! indicator-push: threat-intel indicators from SQS into every customer tenant's Defender, none lost.
//!
//! The core — reading and checking messages, per-tenant batching, the cap, sync, rejects — is `mde-indicators`
//! (shared with the action executor), re-exported here; this crate adds the Lambda handler (an SQS event in,
//! partial batch failures out) and its metrics. `main.rs` only wires Lambda, and `mde-bridge push` runs the same
//! core from a file.

mod handler;
mod metrics;

pub use handler::handle;
pub use mde_indicators::{
    Incoming, IndicatorPushError, MessageFate, PushOutcome, Pusher, rejects_key, validate,
};
pub use metrics::{NAMESPACE, emf_lines};
