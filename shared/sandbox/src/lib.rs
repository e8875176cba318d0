//! mde-sandbox: a local emulator of Entra ID and the Microsoft Defender APIs (MDE, Microsoft 365 Defender, Graph
//! security), for mde-bridge's offline tests and demos and for partners' CI.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mde_sandbox::SandboxError> {
//! let sandbox = mde_sandbox::Sandbox::start(mde_sandbox::SandboxConfig::default()).await?;
//! println!("token URL: {}/{}/oauth2/v2.0/token", sandbox.base_url(), mde_sandbox::DEMO_TENANT_FULL);
//! # Ok(()) }
//! ```
//!
//! The key material in `demo/` is public demo material: it only opens the sandbox.

mod action_rules;
mod admin;
mod admin_devices;
mod adversarial;
mod api_actions;
mod api_alerts;
mod api_common;
mod api_error;
mod api_graph;
mod api_hunting;
mod api_incidents;
mod api_indicators;
mod api_machines;
mod auth;
mod clock;
mod config;
mod device_state;
mod entra;
mod error;
mod faults;
mod hunting;
mod hunting_limits;
mod ip_history;
mod keys;
mod model;
mod odata;
mod props;
mod rate_limit;
mod render_graph;
mod render_m365d;
mod render_mde;
mod request_log;
mod routes;
mod seed;
mod server;
mod state;
mod store;

pub use action_rules::{ActionEnd, MachineActionBehaviour, MachineActionRule, RepeatWhilePending};
pub use adversarial::{BulkUpdateReport, MutationReport};
pub use api_indicators::ImportFailureRule;
pub use config::{
    AdversarialSettings, AppRegistration, CONFIG_SCHEMA_FILE, DEMO_CLIENT_CERT_PEM, DEMO_CLIENT_ID,
    DEMO_CLIENT_KEY_PEM, DEMO_CLIENT_SECRET, DEMO_PARTIAL_MISSING_ROLES, DEMO_TENANT_FULL,
    DEMO_TENANT_PARTIAL, DEMO_TENANT_UNCONSENTED, DataSettings, GrantedRoles, ListOrder,
    MachineActionSettings, MutateSettings, RateLimitOverride, RateLimitSettings, SandboxConfig,
    TenantSettings, TokenSettings, config_schema, render_config_schema,
};
pub use device_state::{DeviceAction, DeviceState};
pub use error::SandboxError;
pub use faults::{FaultKind, FaultRule, FaultTally};
pub use hunting_limits::HuntingSettings;
pub use ip_history::IpLease;
pub use request_log::RequestRecord;
pub use server::{Sandbox, SandboxHandle};
