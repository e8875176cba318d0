//! Ports and adapters of mde-bridge.
//!
//! Function cores depend on the small traits here ([`SecretStore`], [`ObjectStore`], [`Queue`],
//! [`FunctionInvoker`]), never on AWS types. Each port has an AWS adapter (the real AWS SDK) and a local one
//! (files, memory, in-process) that pass the same behavioural suite (`testing` feature). The crate also loads
//! configuration ([`config`]) and sets up logging ([`telemetry`]).

pub mod aws;
mod clock;
pub mod config;
mod error;
pub mod idempotency;
pub mod invoke;
pub mod objects;
pub mod queue;
pub mod registry;
pub mod secrets;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wiring;

pub use clock::{Clock, SystemClock};
pub use error::PlatformError;
pub use idempotency::IdempotencyStore;
pub use invoke::FunctionInvoker;
pub use objects::{ObjectStore, PutCondition, StoredObject};
pub use queue::{Queue, QueueMessage, SendOptions};
pub use registry::{Expect, TenantRegistry, TenantSnapshot, Tenants};
pub use secrets::SecretStore;

/// Result type of this crate.
pub type Result<T, E = PlatformError> = std::result::Result<T, E>;
