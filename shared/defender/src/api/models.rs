//! Typed request bodies (property names exactly as documented: they are case-sensitive) and typed answers that
//! keep every field they do not name in `extra`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Body of `PATCH /api/alerts/{id}` (MDE). Omitted properties keep their values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MdeAlertUpdate {
    /// New, InProgress, Resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// TruePositive, InformationalExpectedActivity, FalsePositive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// E.g. Malware, SecurityTesting, Clean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub determination: Option<String>,
    /// A comment to add.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Body of `POST /api/alerts/CreateAlertByReference`: every property is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertByReference {
    /// The event's time, as advanced hunting reports it.
    pub event_time: String,
    /// The event's `ReportId`.
    pub report_id: String,
    /// The device.
    pub machine_id: String,
    /// Low, Medium or High.
    pub severity: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// What to do.
    pub recommended_action: String,
    /// One of Defender's alert categories.
    pub category: String,
}

/// Body of `PATCH /api/incidents/{id}` (Microsoft 365 Defender).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct M365dIncidentUpdate {
    /// Active, InProgress, Resolved, Redirected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// TruePositive, InformationalExpectedActivity, FalsePositive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// Determination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub determination: Option<String>,
    /// Replaces the tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// A comment to add.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Body of `PATCH /v1.0/security/incidents/{id}` (Graph).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphIncidentUpdate {
    /// Owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// unknown, falsePositive, truePositive, informationalExpectedActivity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// Determination (camelCase).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub determination: Option<String>,
    /// active, resolved, redirected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Replaces the custom tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_tags: Option<Vec<String>>,
}

/// Body of `PATCH /v1.0/security/alerts_v2/{id}` (Graph).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphAlertUpdate {
    /// Owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// Classification (camelCase).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// Determination (camelCase).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub determination: Option<String>,
    /// new, inProgress, resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A Graph alert or incident comment.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphComment {
    /// The text.
    #[serde(default)]
    pub comment: Option<String>,
    /// Author.
    #[serde(default)]
    pub created_by_display_name: Option<String>,
    /// When.
    #[serde(default)]
    pub created_date_time: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An MDE machine (device).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    /// Device id (40 hex digits).
    pub id: String,
    /// Computer DNS name.
    #[serde(default)]
    pub computer_dns_name: Option<String>,
    /// E.g. Windows11, Linux.
    #[serde(default)]
    pub os_platform: Option<String>,
    /// Active, Inactive...
    #[serde(default)]
    pub health_status: Option<String>,
    /// Last internal IP address.
    #[serde(default)]
    pub last_ip_address: Option<String>,
    /// Last full device report.
    #[serde(default)]
    pub last_seen: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An MDE machine action.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineAction {
    /// Action id (GUID).
    pub id: String,
    /// Isolate, Unisolate, RunAntiVirusScan, ...
    #[serde(rename = "type", default)]
    pub action_type: Option<String>,
    /// Pending, InProgress, Succeeded, Failed, TimeOut, Cancelled.
    #[serde(default)]
    pub status: Option<String>,
    /// Device id.
    #[serde(default)]
    pub machine_id: Option<String>,
    /// Full/Selective (isolation), Quick/Full (scan).
    #[serde(default)]
    pub scope: Option<String>,
    /// Who asked.
    #[serde(default)]
    pub requestor: Option<String>,
    /// The request's comment.
    #[serde(default)]
    pub requestor_comment: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub creation_date_time_utc: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MachineAction {
    /// Whether the action is still Pending or InProgress.
    pub fn is_pending(&self) -> bool {
        matches!(self.status.as_deref(), Some("Pending" | "InProgress"))
    }
}

/// `IsolationType` of an isolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IsolationType {
    /// Full isolation.
    Full,
    /// Selective isolation (Outlook, Teams, Skype stay connected).
    Selective,
    /// Isolation of an unmanaged device.
    UnManagedDevice,
}

/// `ScanType` of an antivirus scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScanType {
    /// Quick scan.
    Quick,
    /// Full scan.
    Full,
}

/// A response action on a machine (`POST /api/machines/{id}/{action}`); every one carries a `Comment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseAction {
    /// `isolate` with `IsolationType` — Machine.Isolate.
    Isolate(IsolationType),
    /// `unisolate` — Machine.Isolate.
    Unisolate,
    /// `runAntiVirusScan` with `ScanType` — Machine.Scan.
    RunAntiVirusScan(ScanType),
    /// `restrictCodeExecution` — Machine.RestrictExecution.
    RestrictCodeExecution,
    /// `unrestrictCodeExecution` — Machine.RestrictExecution.
    UnrestrictCodeExecution,
    /// `collectInvestigationPackage` — Machine.CollectForensics.
    CollectInvestigationPackage,
    /// `StopAndQuarantineFile` with the file's `Sha1` — Machine.StopAndQuarantine.
    StopAndQuarantineFile {
        /// SHA-1 of the file.
        sha1: String,
    },
    /// `offboard` — Machine.Offboard.
    Offboard,
}

pub use mde_contracts::{IndicatorAction, IndicatorSeverity, IndicatorType};

/// Body of `POST /api/indicators` and one item of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewIndicator {
    /// The value (hash, IP, domain, URL).
    pub indicator_value: String,
    /// Its type.
    pub indicator_type: IndicatorType,
    /// What Defender does.
    pub action: IndicatorAction,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Application (applied on create only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// Expiry.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub expiration_time: Option<OffsetDateTime>,
    /// Severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<IndicatorSeverity>,
    /// Recommended actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended_actions: Option<String>,
    /// Device groups (`[]` = all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rbac_group_names: Option<Vec<String>>,
    /// Whether a hit raises an alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_alert: Option<bool>,
    /// A page users are sent to on Block or Warn (URL, domain and IP indicators).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub educate_url: Option<String>,
}

/// An MDE indicator.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Indicator {
    /// Numeric id, as a string.
    pub id: String,
    /// The value.
    #[serde(default)]
    pub indicator_value: Option<String>,
    /// Its type.
    #[serde(default)]
    pub indicator_type: Option<String>,
    /// The action.
    #[serde(default)]
    pub action: Option<String>,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One item of an import's answer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportResult {
    /// The indicator's id when stored.
    #[serde(default)]
    pub id: Option<String>,
    /// The value submitted.
    #[serde(default)]
    pub indicator: Option<String>,
    /// Whether this item failed.
    #[serde(default)]
    pub is_failed: bool,
    /// Why.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A column of a hunting result (`Name`/`Type` in MDE and Microsoft 365 Defender, `name`/`type` in Graph).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct HuntingColumn {
    /// Column name.
    #[serde(alias = "Name")]
    pub name: String,
    /// Kusto type.
    #[serde(alias = "Type", rename = "type")]
    pub column_type: String,
}

/// The result of a hunting query (`Schema`/`Results` or Graph's `schema`/`results`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct HuntingResult {
    /// Columns.
    #[serde(alias = "Schema", default)]
    pub schema: Vec<HuntingColumn>,
    /// Rows.
    #[serde(alias = "Results", default)]
    pub results: Vec<Map<String, Value>>,
    /// Every other field (e.g. `Stats`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
