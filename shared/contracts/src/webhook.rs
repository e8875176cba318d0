//! alert-webhook's boundary types: the `[webhook]` settings, the partner keys secret, and the events partners
//! send (`POST /v1/events`), one versioned schema per event type.

use schemars::JsonSchema;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::{ContractError, IndicatorRef, IndicatorSpec, TenantId};

/// The `[webhook]` section: how alert-webhook behaves. Every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// The SQS FIFO queue accepted requests go to (one message group per tenant and device).
    pub queue_url: Option<String>,
    /// The DynamoDB idempotency table (keyed by `request_id`).
    pub table: Option<String>,
    /// The secret holding the partner keys ([`PartnerKeysSecret`]).
    pub partner_keys_secret_id: String,
    /// How far a `webhook-timestamp` may be from now, in seconds (Standard Webhooks recommends 300).
    pub tolerance_seconds: u64,
    /// The largest body accepted, in bytes; a larger one is refused before it is read whole.
    pub max_body_bytes: u64,
    /// How long a request id is remembered (repeats within it get the first answer), in seconds.
    pub idempotency_ttl_seconds: u64,
    /// The public base URL status URLs are built on (the Function URL), when known.
    pub public_base_url: Option<String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            queue_url: None,
            table: None,
            partner_keys_secret_id: "mde-bridge/webhook-partner-keys".into(),
            tolerance_seconds: 300,
            max_body_bytes: 64 * 1024,
            idempotency_ttl_seconds: 7 * 24 * 3600,
            public_base_url: None,
        }
    }
}

impl WebhookSettings {
    /// Checks the ranges; the error names the `webhook.` key.
    pub fn validate(&self) -> Result<(), ContractError> {
        let bad = |key: &str, reason: &str| Err(ContractError::invalid(format!("webhook.{key}"), reason));
        if !(1..=3600).contains(&self.tolerance_seconds) {
            return bad("tolerance_seconds", "must be 1 to 3600");
        }
        if !(256..=6 * 1024 * 1024).contains(&self.max_body_bytes) {
            return bad(
                "max_body_bytes",
                "must be 256 to 6291456 (Lambda's payload limit)",
            );
        }
        if self.idempotency_ttl_seconds < 3600 {
            return bad(
                "idempotency_ttl_seconds",
                "must be at least 3600 (senders retry for hours)",
            );
        }
        if self.partner_keys_secret_id.trim().is_empty() {
            return bad("partner_keys_secret_id", "must not be empty");
        }
        Ok(())
    }
}

/// The partner keys secret (JSON in Secrets Manager, or in the local secrets file). Read only: it is never
/// written back or printed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerKeysSecret {
    /// The keys.
    pub keys: Vec<PartnerKey>,
}

/// One partner key: its id (what tenants bind, see `TenantConfig.partners`) and its active secrets.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerKey {
    /// The key id: letters, digits, `.`, `_`, `-`.
    pub key_id: String,
    /// Who holds it, for logs and audit records.
    #[serde(default)]
    pub partner: String,
    /// Active secrets, `whsec_<base64>` (two during a rotation: the old one until every sender has the new).
    #[schemars(with = "Vec<String>")]
    pub secrets: Vec<SecretString>,
}

/// How a request names a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRef {
    /// Defender's machine id (40 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// The device's DNS name as Defender knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// An IP address the device had at `at` (Defender finds devices seen with it 15 minutes either side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// When the device had `ip` (RFC 3339, within the past 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// Severity of a partner's alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerSeverity {
    /// Informational.
    Informational,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// A partner product's alert, to correlate with a Defender device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerAlert {
    /// The partner's own alert id.
    pub id: String,
    /// Title (1 to 256 characters).
    pub title: String,
    /// Severity.
    pub severity: PartnerSeverity,
    /// Description (up to 4,096 characters).
    #[serde(default)]
    pub description: String,
    /// When it happened (RFC 3339).
    pub time: String,
}

/// `external_alert.v1`: a partner's alert about a device; recorded on the Defender side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalAlertV1 {
    /// The customer tenant.
    pub tenant_id: TenantId,
    /// The device.
    pub device: DeviceRef,
    /// The alert.
    pub alert: PartnerAlert,
    /// A Defender event the alert is about (from advanced hunting): with it the alert is created in Defender
    /// (`CreateAlertByReference`); without it, it is recorded as a comment on the device's open alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<EventReference>,
}

/// A Defender event, as advanced hunting reports it (`ReportId`, `Timestamp` of a device table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventReference {
    /// The event's `ReportId`.
    pub report_id: String,
    /// The event's `Timestamp` (RFC 3339, UTC).
    pub event_time: String,
    /// Defender's alert category (default `SuspiciousActivity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// What the analyst should do (default: review the partner's alert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended_action: Option<String>,
}

/// Which Defender API an update or a hunting query goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefenderApi {
    /// Defender for Endpoint (`/api/alerts`, `/api/advancedqueries/run`).
    Mde,
    /// Microsoft 365 Defender (`/api/incidents`, `/api/advancedhunting/run`).
    M365d,
    /// Microsoft Graph security (`/v1.0/security/...`).
    Graph,
}

/// A device response action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceAction {
    /// Isolate from the network (`isolation_type` full or selective).
    Isolate,
    /// Release from isolation.
    Release,
    /// Antivirus scan (`scan_type` quick or full).
    AntivirusScan,
    /// Restrict app execution to Microsoft-signed binaries.
    RestrictAppExecution,
    /// Lift the restriction.
    UnrestrictAppExecution,
    /// Collect an investigation package.
    CollectInvestigationPackage,
    /// Stop a file's processes and quarantine it (`sha1`).
    StopAndQuarantineFile,
    /// Cancel the device's pending action of the type `cancel_action` names.
    Cancel,
}

/// `device_action.v1`: a response action on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceActionV1 {
    /// The customer tenant.
    pub tenant_id: TenantId,
    /// The device.
    pub device: DeviceRef,
    /// The action.
    pub action: DeviceAction,
    /// Why (Defender requires a comment; shown in the action center).
    pub comment: String,
    /// For `isolate`: `full` (default) or `selective`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_type: Option<String>,
    /// For `antivirus_scan`: `quick` (default) or `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_type: Option<String>,
    /// For `stop_and_quarantine_file`: the file's SHA-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// For `cancel`: the type of the pending action to cancel (cancelling needs that action's permission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_action: Option<DeviceAction>,
}

impl DeviceAction {
    /// The tenant action performing (or cancelling) it is: `None` for `cancel` itself.
    pub fn kind(self) -> Option<crate::ActionKind> {
        use crate::ActionKind as A;
        Some(match self {
            DeviceAction::Isolate => A::IsolateDevice,
            DeviceAction::Release => A::ReleaseDevice,
            DeviceAction::AntivirusScan => A::AntivirusScan,
            DeviceAction::RestrictAppExecution => A::RestrictAppExecution,
            DeviceAction::UnrestrictAppExecution => A::UnrestrictAppExecution,
            DeviceAction::CollectInvestigationPackage => A::CollectInvestigationPackage,
            DeviceAction::StopAndQuarantineFile => A::StopAndQuarantineFile,
            DeviceAction::Cancel => return None,
        })
    }

    /// Its name in events (`isolate`, `antivirus_scan`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceAction::Isolate => "isolate",
            DeviceAction::Release => "release",
            DeviceAction::AntivirusScan => "antivirus_scan",
            DeviceAction::RestrictAppExecution => "restrict_app_execution",
            DeviceAction::UnrestrictAppExecution => "unrestrict_app_execution",
            DeviceAction::CollectInvestigationPackage => "collect_investigation_package",
            DeviceAction::StopAndQuarantineFile => "stop_and_quarantine_file",
            DeviceAction::Cancel => "cancel",
        }
    }
}

/// `indicator.v1`: add or remove one indicator (through indicator-push's core).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum IndicatorRequestV1 {
    /// Add or update.
    Add {
        /// The customer tenant.
        tenant_id: TenantId,
        /// The indicator (Microsoft's submit fields).
        indicator: IndicatorSpec,
    },
    /// Remove.
    Remove {
        /// The customer tenant.
        tenant_id: TenantId,
        /// Which.
        indicator: IndicatorRef,
    },
}

/// `alert_update.v1` / `incident_update.v1`: what to change on an alert or an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateV1 {
    /// The customer tenant.
    pub tenant_id: TenantId,
    /// The alert's or incident's id.
    pub id: String,
    /// The API: alerts `mde` (default) or `graph` (alerts_v2); incidents `m365d` (default) or `graph`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<DefenderApi>,
    /// More MDE alerts to change the same way, in one `batchUpdate` (alerts, `mde` only; up to 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_ids: Option<Vec<String>>,
    /// New status: alerts `new`, `in_progress`, `resolved`; incidents `active`, `in_progress`, `resolved`,
    /// `redirected` (Graph incidents: not `in_progress`). Mapped to each API's casing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Assignee (a user principal name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// Classification: `true_positive`, `informational_expected_activity`, `false_positive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// Determination, snake_case (e.g. `malware`, `security_testing`, `clean`); the retired `apt` and
    /// `security_personnel` are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub determination: Option<String>,
    /// A comment to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Tags (incidents only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// `hunting_query.v1`: an advanced hunting query whose result is stored for the partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HuntingQueryV1 {
    /// The customer tenant.
    pub tenant_id: TenantId,
    /// The KQL query.
    pub query: String,
    /// The API: `graph` (default, `runHuntingQuery`), `m365d` or `mde` (legacy advanced hunting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<DefenderApi>,
    /// Graph only: the ISO 8601 time span searched (default: Microsoft's 30 days), e.g. `P7D`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timespan: Option<String>,
}

/// What a partner sends to `POST /v1/events`, told apart by `type` (`<kind>.v<version>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data", deny_unknown_fields)]
pub enum WebhookEvent {
    /// A partner's alert to correlate.
    #[serde(rename = "external_alert.v1")]
    ExternalAlert(ExternalAlertV1),
    /// A device response action.
    #[serde(rename = "device_action.v1")]
    DeviceAction(DeviceActionV1),
    /// Add or remove an indicator.
    #[serde(rename = "indicator.v1")]
    Indicator(IndicatorRequestV1),
    /// Update an alert.
    #[serde(rename = "alert_update.v1")]
    AlertUpdate(UpdateV1),
    /// Update an incident.
    #[serde(rename = "incident_update.v1")]
    IncidentUpdate(UpdateV1),
    /// Run a hunting query.
    #[serde(rename = "hunting_query.v1")]
    HuntingQuery(HuntingQueryV1),
}

impl WebhookEvent {
    /// The tenant the event is for.
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            Self::ExternalAlert(e) => &e.tenant_id,
            Self::DeviceAction(e) => &e.tenant_id,
            Self::Indicator(
                IndicatorRequestV1::Add { tenant_id, .. } | IndicatorRequestV1::Remove { tenant_id, .. },
            ) => tenant_id,
            Self::AlertUpdate(e) | Self::IncidentUpdate(e) => &e.tenant_id,
            Self::HuntingQuery(e) => &e.tenant_id,
        }
    }

    /// The tenant action it asks for (what a partner binding must allow).
    pub fn action(&self) -> crate::ActionKind {
        use crate::ActionKind as A;
        match self {
            Self::ExternalAlert(_) => A::CorrelateAlert,
            // Cancelling needs the permission of the cancelled action's type; a cancel without a valid
            // `cancel_action` is refused by `problems()` before this matters.
            Self::DeviceAction(e) => e
                .action
                .kind()
                .or_else(|| e.cancel_action.and_then(DeviceAction::kind))
                .unwrap_or(A::IsolateDevice),
            Self::Indicator(IndicatorRequestV1::Add { .. }) => A::AddIndicator,
            Self::Indicator(IndicatorRequestV1::Remove { .. }) => A::RemoveIndicator,
            Self::AlertUpdate(_) => A::UpdateAlert,
            Self::IncidentUpdate(_) => A::UpdateIncident,
            Self::HuntingQuery(_) => A::HuntingQuery,
        }
    }
}

/// Defender's alert categories (`CreateAlertByReference`).
pub const ALERT_CATEGORIES: [&str; 16] = [
    "General",
    "CommandAndControl",
    "Collection",
    "CredentialAccess",
    "DefenseEvasion",
    "Discovery",
    "Exfiltration",
    "Exploit",
    "Execution",
    "InitialAccess",
    "LateralMovement",
    "Malware",
    "Persistence",
    "PrivilegeEscalation",
    "Ransomware",
    "SuspiciousActivity",
];

/// A rule an event breaks that its JSON Schema cannot say: a JSON Pointer into the event and the reason.
pub type EventProblem = (String, String);

fn text_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max
}

fn rfc3339(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

fn hex_of(s: &str, len: usize) -> bool {
    s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit())
}

impl DeviceRef {
    fn check(&self, at: &str, out: &mut Vec<EventProblem>) {
        let ways = [
            self.machine_id.is_some(),
            self.dns_name.is_some(),
            self.ip.is_some(),
        ]
        .iter()
        .filter(|w| **w)
        .count();
        let mut bad = |field: &str, reason: &str| out.push((format!("{at}/{field}"), reason.to_owned()));
        if ways != 1 {
            bad("", "name the device one way: machine_id, dns_name, or ip with at");
            return;
        }
        if let Some(m) = &self.machine_id
            && !hex_of(m, 40)
        {
            bad("machine_id", "a Defender machine id is 40 hexadecimal digits");
        }
        if let Some(d) = &self.dns_name
            && (!text_ok(d, 255) || d.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            bad("dns_name", "1 to 255 characters without spaces");
        }
        match (&self.ip, &self.at) {
            (Some(ip), at) => {
                if ip.parse::<std::net::IpAddr>().is_err() {
                    bad("ip", "an IPv4 or IPv6 address");
                }
                if !at.as_deref().is_some_and(rfc3339) {
                    bad(
                        "at",
                        "an RFC 3339 time is required with ip (when the device had the address)",
                    );
                }
            }
            (None, Some(_)) => bad("at", "only with ip"),
            (None, None) => {}
        }
    }
}

impl WebhookEvent {
    /// The rules of the event its JSON Schema cannot express; empty when it has none.
    pub fn problems(&self) -> Vec<EventProblem> {
        let mut out = Vec::new();
        let mut bad = |p: &str, r: &str| out.push((format!("/data{p}"), r.to_owned()));
        match self {
            Self::ExternalAlert(e) => {
                let mut inner = Vec::new();
                e.device.check("/data/device", &mut inner);
                if !text_ok(&e.alert.id, 256) {
                    bad("/alert/id", "1 to 256 characters");
                }
                if !text_ok(&e.alert.title, 256) {
                    bad("/alert/title", "1 to 256 characters, not blank");
                }
                if e.alert.description.chars().count() > 4096 {
                    bad("/alert/description", "at most 4096 characters");
                }
                if !rfc3339(&e.alert.time) {
                    bad("/alert/time", "an RFC 3339 time");
                }
                if let Some(r) = &e.reference {
                    if !text_ok(&r.report_id, 64) {
                        bad("/reference/report_id", "the event's ReportId");
                    }
                    if !rfc3339(&r.event_time) {
                        bad(
                            "/reference/event_time",
                            "an RFC 3339 time (the event's Timestamp)",
                        );
                    }
                    if r.category
                        .as_deref()
                        .is_some_and(|c| !ALERT_CATEGORIES.contains(&c))
                    {
                        bad(
                            "/reference/category",
                            "one of Defender's alert categories (see the schema)",
                        );
                    }
                    if e.device.machine_id.is_none() {
                        bad(
                            "/device/machine_id",
                            "required with a reference (Defender needs the event's machine id)",
                        );
                    }
                }
                out.extend(inner);
            }
            Self::DeviceAction(a) => {
                let mut inner = Vec::new();
                a.device.check("/data/device", &mut inner);
                if !text_ok(&a.comment, 1000) {
                    bad(
                        "/comment",
                        "required by Defender: 1 to 1000 characters, not blank",
                    );
                }
                match (a.action, a.isolation_type.as_deref()) {
                    (DeviceAction::Isolate, None | Some("full" | "selective")) => {}
                    (DeviceAction::Isolate, Some(_)) => bad("/isolation_type", "full or selective"),
                    (_, Some(_)) => bad("/isolation_type", "only with action isolate"),
                    (_, None) => {}
                }
                match (a.action, a.scan_type.as_deref()) {
                    (DeviceAction::AntivirusScan, None | Some("quick" | "full")) => {}
                    (DeviceAction::AntivirusScan, Some(_)) => bad("/scan_type", "quick or full"),
                    (_, Some(_)) => bad("/scan_type", "only with action antivirus_scan"),
                    (_, None) => {}
                }
                match (a.action, a.cancel_action) {
                    (DeviceAction::Cancel, Some(c)) if c.kind().is_some() => {}
                    (DeviceAction::Cancel, _) => bad(
                        "/cancel_action",
                        "required with action cancel: the type of the pending action to cancel (not cancel)",
                    ),
                    (_, Some(_)) => bad("/cancel_action", "only with action cancel"),
                    (_, None) => {}
                }
                match (a.action, a.sha1.as_deref()) {
                    (DeviceAction::StopAndQuarantineFile, Some(s)) if hex_of(s, 40) => {}
                    (DeviceAction::StopAndQuarantineFile, _) => {
                        bad("/sha1", "the file's SHA-1 (40 hexadecimal digits) is required")
                    }
                    (_, Some(_)) => bad("/sha1", "only with action stop_and_quarantine_file"),
                    (_, None) => {}
                }
                out.extend(inner);
            }
            Self::Indicator(_) => {}
            Self::AlertUpdate(u) | Self::IncidentUpdate(u) => {
                if !text_ok(&u.id, 256) {
                    bad("/id", "the alert's or incident's id");
                }
                let changes = [
                    &u.status,
                    &u.assigned_to,
                    &u.classification,
                    &u.determination,
                    &u.comment,
                ]
                .iter()
                .any(|f| f.is_some())
                    || u.tags.is_some();
                if !changes {
                    bad("", "name at least one thing to change");
                }
                let alert = matches!(self, Self::AlertUpdate(_));
                match (alert, u.api) {
                    (true, None | Some(DefenderApi::Mde | DefenderApi::Graph))
                    | (false, None | Some(DefenderApi::M365d | DefenderApi::Graph)) => {}
                    (true, Some(_)) => bad("/api", "alerts are updated through mde or graph"),
                    (false, Some(_)) => bad("/api", "incidents are updated through m365d or graph"),
                }
                if let Some(more) = &u.more_ids {
                    if !alert || u.api.is_some_and(|a| a != DefenderApi::Mde) {
                        bad("/more_ids", "only for MDE alerts (one batchUpdate)");
                    } else if more.is_empty() || more.len() > 100 || more.iter().any(|i| !text_ok(i, 256)) {
                        bad("/more_ids", "1 to 100 alert ids");
                    }
                }
                if u.tags.is_some() && alert {
                    bad("/tags", "only incidents have tags");
                }
                use crate::triage;
                let statuses: &[&str] = if alert {
                    &triage::ALERT_STATUSES
                } else {
                    &triage::INCIDENT_STATUSES
                };
                let vocabulary = [
                    ("/status", &u.status, statuses),
                    ("/classification", &u.classification, &triage::CLASSIFICATIONS[..]),
                    ("/determination", &u.determination, &triage::DETERMINATIONS[..]),
                ];
                for (pointer, value, allowed) in vocabulary {
                    if let Some(why) = value.as_deref().and_then(|v| triage::check(v, allowed)) {
                        bad(pointer, &why);
                    }
                }
                if u.comment.as_deref().is_some_and(|c| !text_ok(c, 1000)) {
                    bad("/comment", "1 to 1000 characters, not blank");
                }
            }
            Self::HuntingQuery(q) => {
                if !text_ok(&q.query, 100_000) {
                    bad("/query", "a KQL query of 1 to 100,000 characters");
                }
                if q.timespan.is_some() && q.api.is_some_and(|a| a != DefenderApi::Graph) {
                    bad("/timespan", "only with the graph API");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn events_are_told_apart_by_a_versioned_type_and_map_to_tenant_actions() {
        let e: WebhookEvent = serde_json::from_value(json!({
            "type": "device_action.v1",
            "data": {"tenant_id": T, "device": {"dns_name": "pc-1.contoso.com"}, "action": "isolate", "comment": "NDR: C2 beacon"}
        }))
        .expect("valid");
        assert_eq!(e.action(), crate::ActionKind::IsolateDevice);
        assert_eq!(e.tenant_id().as_str(), T);
        let e: WebhookEvent = serde_json::from_value(json!({
            "type": "indicator.v1",
            "data": {"op": "remove", "tenant_id": T, "indicator": {"id": "9"}}
        }))
        .expect("valid");
        assert_eq!(e.action(), crate::ActionKind::RemoveIndicator);
        for bad in [
            json!({"type": "device_action.v2", "data": {}}),
            json!({"type": "device_action.v1", "data": {"tenant_id": T, "device": {}, "action": "wipe", "comment": "x"}}),
            json!({"type": "external_alert.v1", "data": {"tenant_id": T}, "extra": 1}),
        ] {
            assert!(
                serde_json::from_value::<WebhookEvent>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn partner_secrets_never_show_in_debug_output() {
        let keys: PartnerKeysSecret = serde_json::from_value(json!({
            "keys": [{"key_id": "soar-1", "partner": "Acme SOAR", "secrets": ["whsec_CANARYc2VjcmV0LXZhbHVlLWZvci10ZXN0cw=="]}]
        }))
        .expect("valid");
        let shown = format!("{keys:?}");
        assert!(shown.contains("soar-1") && !shown.contains("CANARY"), "{shown}");
    }

    #[test]
    fn settings_are_checked_by_key() {
        assert!(WebhookSettings::default().validate().is_ok());
        let e = WebhookSettings {
            max_body_bytes: 10 * 1024 * 1024,
            ..WebhookSettings::default()
        }
        .validate()
        .expect_err("too big");
        assert_eq!(e.field(), "webhook.max_body_bytes");
    }

    #[test]
    fn rules_beyond_the_schema_name_their_pointer() {
        let e: WebhookEvent = serde_json::from_value(json!({
            "type": "device_action.v1",
            "data": {"tenant_id": T, "device": {"ip": "203.0.113.9"}, "action": "antivirus_scan", "comment": " ", "isolation_type": "full"}
        }))
        .expect("schema-valid");
        let pointers: Vec<String> = e.problems().into_iter().map(|p| p.0).collect();
        for p in ["/data/device/at", "/data/comment", "/data/isolation_type"] {
            assert!(pointers.iter().any(|x| x == p), "{p} in {pointers:?}");
        }
        let ok: WebhookEvent = serde_json::from_value(json!({
            "type": "device_action.v1",
            "data": {"tenant_id": T, "device": {"ip": "203.0.113.9", "at": "2026-12-03T07:00:00Z"}, "action": "isolate", "comment": "C2"}
        }))
        .expect("valid");
        assert!(ok.problems().is_empty(), "{:?}", ok.problems());
    }
}
