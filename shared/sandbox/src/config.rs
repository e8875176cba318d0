//! The sandbox's configuration: tenants, the registered application, seed data volume, rate limits, token lifetime and
//! faults. [`SandboxConfig::default`] is the documented demo world (see the crate README).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::action_rules::{MachineActionRule, RepeatWhilePending};
use crate::faults::FaultRule;
use crate::hunting_limits::HuntingSettings;

/// Tenant id of the demo tenant that granted every application permission ("Contoso").
pub const DEMO_TENANT_FULL: &str = "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17";
/// Tenant id of the demo tenant that granted only part of the permissions ("Fabrikam").
pub const DEMO_TENANT_PARTIAL: &str = "3f9c1e7b-5d2a-4b8e-a6c0-7e4d9b1f2a85";
/// Tenant id of the demo tenant that exists but never consented to the demo application ("Northwind").
pub const DEMO_TENANT_UNCONSENTED: &str = "c4e8a0b2-9d6f-4173-8e5a-1b3d7f9c2e60";
/// Client id of the demo multi-tenant application.
pub const DEMO_CLIENT_ID: &str = "5e1b7c3a-2f4d-4a9e-b8c6-0d7e3f1a9b24";
/// Client secret of the demo application. Public: it only opens the sandbox.
pub const DEMO_CLIENT_SECRET: &str = "sandbox-demo-secret~PUBLIC~not-a-real-credential";
/// The demo application's certificate (PEM). Public demo material, committed in `demo/client-cert.pem`.
pub const DEMO_CLIENT_CERT_PEM: &str = include_str!("../demo/client-cert.pem");
/// The demo certificate's PKCS#8 private key (PEM), for clients that sign client assertions. Public demo material.
pub const DEMO_CLIENT_KEY_PEM: &str = include_str!("../demo/client-key.pem");

/// Roles the demo partial tenant did not grant.
pub const DEMO_PARTIAL_MISSING_ROLES: [&str; 6] = [
    "Alert.ReadWrite.All",
    "Ti.ReadWrite.All",
    "Machine.Isolate",
    "Incident.ReadWrite.All",
    "SecurityIncident.ReadWrite.All",
    "SecurityAlert.ReadWrite.All",
];

/// Everything the sandbox emulates, read once at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Address to listen on; `127.0.0.1:0` picks any free loopback port.
    pub listen: String,
    /// The customer tenants (directories) the emulated Entra ID knows.
    pub tenants: Vec<TenantSettings>,
    /// The registered multi-tenant application(s).
    pub apps: Vec<AppRegistration>,
    /// Seeded data volume and random seed.
    pub data: DataSettings,
    /// Issued access tokens.
    pub tokens: TokenSettings,
    /// Microsoft's documented per-tenant rate limits.
    pub rate_limits: RateLimitSettings,
    /// Machine action timing, end states and repeats.
    pub machine_actions: MachineActionSettings,
    /// Advanced hunting limits (rows, result size, slow queries); also changeable with `POST /_sandbox/hunting`.
    pub hunting: HuntingSettings,
    /// Fault injection rules active from the start (more can be added with `POST /_sandbox/faults`).
    pub faults: Vec<FaultRule>,
    /// Adversarial behaviour: list order, changes while a client pages, visibility lag, clock skew, Graph paging
    /// ceilings (also changeable at runtime with `POST /_sandbox/adversarial`).
    #[serde(default)]
    pub adversarial: AdversarialSettings,
}

/// Behaviour that is legal for the real service but hard on clients: nothing here is promised by Microsoft, and
/// nothing rules it out. The defaults are as hard as the real service may be where it costs a test nothing: lists
/// by last update ascending (no order is documented), Graph omitting `@odata.nextLink` when `$top` is sent and
/// refusing `$skip` over 500 (as reported); changes while paging, visibility lag and clock skew are opt-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AdversarialSettings {
    /// The order of every list (MDE alerts, machine alerts, Microsoft 365 Defender incidents, Graph incidents and
    /// alerts_v2, machine actions, indicators, machines); `$skip` pages over it.
    pub list_order: ListOrder,
    /// Changes made while clients page: after a number of list calls, update some records a list has already
    /// returned and some it has not, and create new ones.
    pub mutate: Option<MutateSettings>,
    /// A record whose last update is later than the service's now minus this many seconds is not listed yet
    /// (gets by id return it). Applies to the alert and incident lists.
    pub visibility_lag_seconds: u64,
    /// The service's clock runs this many seconds ahead (negative: behind) of simulated time: the `Date` header and
    /// every timestamp the service stamps. Tokens keep wall-clock time.
    pub clock_skew_seconds: i64,
    /// Graph answers without `@odata.nextLink` whenever the request sent `$top`, even if records remain.
    pub graph_omit_next_link_with_top: bool,
    /// Graph refuses a `$skip` above this (400 `badRequest`); no limit when absent.
    pub graph_max_skip: Option<usize>,
}

impl Default for AdversarialSettings {
    fn default() -> Self {
        Self {
            list_order: ListOrder::LastupdateAsc,
            mutate: None,
            visibility_lag_seconds: 0,
            clock_skew_seconds: 0,
            graph_omit_next_link_with_top: true,
            graph_max_skip: Some(500),
        }
    }
}

/// The order lists answer in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListOrder {
    /// The orders the documentation's examples suggest: alerts and incidents newest created first, machines by
    /// name, machine actions newest first, indicators by id.
    #[default]
    Documented,
    /// Newest created first (machines: newest `firstSeen` first).
    CreatedDesc,
    /// Oldest last update first (machines: `lastSeen`).
    LastupdateAsc,
    /// Newest last update first (machines: `lastSeen`).
    LastupdateDesc,
    /// A different pseudo-random order on every list request.
    Unstable,
}

/// Changes made while clients page (see [`AdversarialSettings::mutate`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MutateSettings {
    /// Fire right after this list call (1-based), counted per tenant over the four exported collections (MDE
    /// alerts, Microsoft 365 Defender incidents, Graph incidents, Graph alerts_v2) since the setting took effect.
    pub after_list_calls: u64,
    /// Alerts to update among those some list response already returned (directly, or through their incident).
    #[serde(default)]
    pub update_returned: usize,
    /// Alerts to update among those no list response has returned yet.
    #[serde(default)]
    pub update_unreturned: usize,
    /// New alerts to create, each in a new incident.
    #[serde(default)]
    pub create: usize,
    /// Fire again every this many list calls after the first time; once when absent.
    #[serde(default)]
    pub repeat_every: Option<u64>,
}

impl AdversarialSettings {
    /// Checks values that cannot work (a mutation after list call 0, a repeat every 0 calls).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(m) = &self.mutate {
            if m.after_list_calls == 0 {
                return Err("adversarial.mutate.after_list_calls must be at least 1".to_owned());
            }
            if m.repeat_every == Some(0) {
                return Err("adversarial.mutate.repeat_every must be at least 1".to_owned());
            }
        }
        Ok(())
    }
}

/// One tenant of the emulated Entra ID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Directory (tenant) id, a GUID.
    pub id: String,
    /// Display name, used in seeded data (domain names, accounts).
    pub display_name: String,
    /// Whether an admin consented to the application; `false` answers token requests with `unauthorized_client`
    /// (AADSTS700016).
    #[serde(default = "yes")]
    pub consented: bool,
    /// Application permissions granted per API (the `roles` claim of issued tokens).
    #[serde(default)]
    pub granted_roles: GrantedRoles,
}

impl TenantSettings {
    /// The tenant's `*.onmicrosoft.com` domain, accepted in token URLs in place of the id.
    pub fn initial_domain(&self) -> String {
        let name: String = self
            .display_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        format!("{}.onmicrosoft.com", name.to_lowercase())
    }
}

fn yes() -> bool {
    true
}

/// Application permissions granted by a tenant, per API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GrantedRoles {
    /// WindowsDefenderATP (MDE) roles, e.g. `Alert.Read.All`, `Machine.Isolate`, `Ti.ReadWrite.All`.
    pub mde: Vec<String>,
    /// Microsoft Threat Protection (Microsoft 365 Defender) roles, e.g. `Incident.Read.All`.
    pub m365d: Vec<String>,
    /// Microsoft Graph roles, e.g. `SecurityIncident.Read.All`, `SecurityAlert.ReadWrite.All`.
    pub graph: Vec<String>,
}

/// A registered application and its credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRegistration {
    /// Application (client) id, a GUID.
    pub client_id: String,
    /// Display name.
    pub display_name: String,
    /// Accepted client secrets.
    #[serde(default)]
    pub client_secrets: Vec<String>,
    /// Client secrets that have expired: answered with AADSTS7000222, as Entra ID does.
    #[serde(default)]
    pub expired_client_secrets: Vec<String>,
    /// Registered certificates (PEM, `-----BEGIN CERTIFICATE-----`) accepted for client assertions.
    #[serde(default)]
    pub certificates_pem: Vec<String>,
}

/// Seeded data volume and randomness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DataSettings {
    /// Random seed: the same seed and volumes give the same world.
    pub seed: u64,
    /// Machines per tenant.
    pub machines_per_tenant: usize,
    /// MDE alerts per tenant (grouped into incidents of one to four alerts).
    pub alerts_per_tenant: usize,
    /// Indicators created in the portal per tenant (not by the application).
    pub indicators_per_tenant: usize,
    /// Alerts whose status moves per simulated hour passed with `POST /_sandbox/advance`.
    pub alert_updates_per_hour: usize,
    /// New alerts (each in a new incident) created per simulated hour passed with `POST /_sandbox/advance`.
    pub new_alerts_per_hour: usize,
    /// Maximum number of active indicators per tenant (Microsoft documents 15,000).
    pub indicator_cap: usize,
    /// Page size of Graph collections when `$top` is absent, and the largest page served (default 1,000: the `$top`
    /// cap Graph's security constraints name).
    pub graph_page_size: usize,
}

/// Access token settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// Lifetime of issued access tokens, in seconds (Entra's `expires_in`).
    pub lifetime_seconds: u64,
}

/// Rate limit settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Whether the documented limits apply (on by default, as Microsoft documents them).
    pub enabled: bool,
    /// Replacement limits for some operations (see the README for operation names).
    pub overrides: Vec<RateLimitOverride>,
    /// Windows last `60 / time_scale` and `3600 / time_scale` seconds instead of a minute and an hour (default 1):
    /// a test that must exceed a minute's allowance compresses time instead of waiting minutes. A client under
    /// test compresses its own windows by the same factor.
    pub time_scale: u32,
}

/// A replacement limit for one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitOverride {
    /// Operation name, e.g. `mde.alerts.list` (listed in the README).
    pub operation: String,
    /// Calls allowed per minute and tenant; absent = no minute limit.
    #[serde(default)]
    pub per_minute: Option<u32>,
    /// Calls allowed per hour and tenant; absent = no hour limit.
    #[serde(default)]
    pub per_hour: Option<u32>,
}

/// How machine actions progress over simulated time (also changeable at runtime with
/// `POST /_sandbox/machine_actions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MachineActionSettings {
    /// Seconds an action no rule matches stays `Pending` before `InProgress`.
    pub pending_seconds: u64,
    /// Seconds an action no rule matches stays `InProgress` before `Succeeded`.
    pub in_progress_seconds: u64,
    /// Per-type / per-machine timing and end state (`Succeeded`, `Failed`, `TimeOut`); the first matching rule
    /// applies, resolved when an action is created.
    pub rules: Vec<MachineActionRule>,
    /// What a repeat gets while an action of the same type on the same machine is pending: `error` (400
    /// `ActiveRequestAlreadyExists`) or `existing` (201 with the pending action).
    pub repeat_while_pending: RepeatWhilePending,
}

impl Default for SandboxConfig {
    /// The demo world: Contoso (every permission), Fabrikam (missing [`DEMO_PARTIAL_MISSING_ROLES`]), Northwind (never
    /// consented), one application with [`DEMO_CLIENT_ID`], [`DEMO_CLIENT_SECRET`] and the demo certificate.
    fn default() -> Self {
        let full = GrantedRoles::all();
        let mut partial_mde = without_missing(&full.mde);
        // Fabrikam still lets the app manage its own indicators (and only those).
        partial_mde.push("Ti.ReadWrite".to_owned());
        let partial = GrantedRoles {
            mde: partial_mde,
            m365d: without_missing(&full.m365d),
            graph: without_missing(&full.graph),
        };
        Self {
            listen: "127.0.0.1:0".to_owned(),
            tenants: vec![
                TenantSettings {
                    id: DEMO_TENANT_FULL.to_owned(),
                    display_name: "Contoso".to_owned(),
                    consented: true,
                    granted_roles: full,
                },
                TenantSettings {
                    id: DEMO_TENANT_PARTIAL.to_owned(),
                    display_name: "Fabrikam".to_owned(),
                    consented: true,
                    granted_roles: partial,
                },
                TenantSettings {
                    id: DEMO_TENANT_UNCONSENTED.to_owned(),
                    display_name: "Northwind".to_owned(),
                    consented: false,
                    granted_roles: GrantedRoles::default(),
                },
            ],
            apps: vec![AppRegistration {
                client_id: DEMO_CLIENT_ID.to_owned(),
                display_name: "mde-bridge demo partner app".to_owned(),
                client_secrets: vec![DEMO_CLIENT_SECRET.to_owned()],
                expired_client_secrets: Vec::new(),
                certificates_pem: vec![DEMO_CLIENT_CERT_PEM.to_owned()],
            }],
            data: DataSettings::default(),
            tokens: TokenSettings::default(),
            rate_limits: RateLimitSettings::default(),
            machine_actions: MachineActionSettings::default(),
            hunting: HuntingSettings::default(),
            faults: Vec::new(),
            adversarial: AdversarialSettings::default(),
        }
    }
}

fn without_missing(roles: &[String]) -> Vec<String> {
    roles
        .iter()
        .filter(|r| !DEMO_PARTIAL_MISSING_ROLES.contains(&r.as_str()))
        .cloned()
        .collect()
}

impl GrantedRoles {
    /// Every application permission the sandbox checks, per API.
    pub fn all() -> Self {
        let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Self {
            mde: own(&[
                "Alert.Read.All",
                "Alert.ReadWrite.All",
                "Machine.Read.All",
                "Machine.ReadWrite.All",
                "Machine.Isolate",
                "Machine.Scan",
                "Machine.RestrictExecution",
                "Machine.CollectForensics",
                "Machine.StopAndQuarantine",
                "Machine.Offboard",
                "Ti.ReadWrite.All",
                "AdvancedQuery.Read.All",
            ]),
            m365d: own(&[
                "Incident.Read.All",
                "Incident.ReadWrite.All",
                "AdvancedHunting.Read.All",
            ]),
            graph: own(&[
                "SecurityIncident.Read.All",
                "SecurityIncident.ReadWrite.All",
                "SecurityAlert.Read.All",
                "SecurityAlert.ReadWrite.All",
                "ThreatHunting.Read.All",
            ]),
        }
    }
}

impl Default for DataSettings {
    fn default() -> Self {
        Self {
            seed: 20_261_123,
            machines_per_tenant: 12,
            alerts_per_tenant: 60,
            indicators_per_tenant: 5,
            alert_updates_per_hour: 4,
            new_alerts_per_hour: 1,
            indicator_cap: 15_000,
            graph_page_size: 1_000,
        }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            lifetime_seconds: 3599,
        }
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            overrides: Vec::new(),
            time_scale: 1,
        }
    }
}

impl Default for MachineActionSettings {
    fn default() -> Self {
        Self {
            pending_seconds: 60,
            in_progress_seconds: 300,
            rules: Vec::new(),
            repeat_while_pending: RepeatWhilePending::Error,
        }
    }
}

impl SandboxConfig {
    /// Finds a tenant by id (case-insensitive GUID comparison) or by its initial domain
    /// (`{display name without spaces}.onmicrosoft.com`, e.g. `contoso.onmicrosoft.com`).
    pub fn tenant(&self, id_or_domain: &str) -> Option<&TenantSettings> {
        self.tenants.iter().find(|t| {
            t.id.eq_ignore_ascii_case(id_or_domain) || t.initial_domain().eq_ignore_ascii_case(id_or_domain)
        })
    }

    /// Finds an application by client id (case-insensitive GUID comparison).
    pub fn app(&self, client_id: &str) -> Option<&AppRegistration> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }
}

/// The JSON Schema of [`SandboxConfig`] (the `--config` file format).
pub fn config_schema() -> schemars::Schema {
    schemars::schema_for!(SandboxConfig)
}

/// The file under `schemas/` that holds [`config_schema`].
pub const CONFIG_SCHEMA_FILE: &str = "sandbox-config.schema.json";

/// [`config_schema`] exactly as committed: pretty JSON with a trailing newline.
pub fn render_config_schema() -> String {
    let mut text = serde_json::to_string_pretty(&config_schema()).unwrap_or_default();
    text.push('\n');
    text
}
