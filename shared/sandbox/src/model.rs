//! The emulated world's records. One source of truth per tenant; the MDE, Microsoft 365 Defender and Graph views are
//! rendered from it (see `render_*` modules), so incidents, alerts, machines and evidence always agree.

use time::OffsetDateTime;

/// A device onboarded to MDE.
#[derive(Debug, Clone)]
pub struct Machine {
    /// 40-hex device id.
    pub id: String,
    /// FQDN.
    pub computer_dns_name: String,
    /// e.g. `Windows11`, `WindowsServer2019`, `Linux`, `macOS`.
    pub os_platform: String,
    /// OS build number.
    pub os_build: u64,
    /// OS version string.
    pub version: String,
    /// First seen.
    pub first_seen: OffsetDateTime,
    /// Last full report.
    pub last_seen: OffsetDateTime,
    /// Internal IP.
    pub last_ip_address: String,
    /// Public IP.
    pub last_external_ip_address: String,
    /// MAC of the main interface.
    pub mac_address: String,
    /// Health status enum.
    pub health_status: String,
    /// Risk score enum.
    pub risk_score: String,
    /// Exposure level enum.
    pub exposure_level: String,
    /// Device value enum.
    pub device_value: String,
    /// Entra device id.
    pub aad_device_id: String,
    /// Device group id.
    pub rbac_group_id: u64,
    /// Device group name.
    pub rbac_group_name: String,
    /// Tags.
    pub machine_tags: Vec<String>,
    /// Onboarding status.
    pub onboarding_status: String,
    /// The internal addresses the device held over time (what `findbyip` searches).
    pub ip_history: Vec<crate::ip_history::IpLease>,
}

impl Machine {
    /// Whether the device runs Windows (several actions are Windows-only).
    pub fn is_windows(&self) -> bool {
        self.os_platform.starts_with("Windows")
    }
}

/// A comment on an alert or incident.
#[derive(Debug, Clone)]
pub struct Comment {
    /// Text.
    pub comment: String,
    /// Author.
    pub created_by: String,
    /// When.
    pub created_time: OffsetDateTime,
}

/// One piece of alert evidence (MDE's flat evidence shape; Graph's typed evidence is derived from it).
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// `File`, `Process`, `User`, `Ip`, `Url`, `Registry`.
    pub entity_type: String,
    /// SHA-1 of the file or image.
    pub sha1: Option<String>,
    /// SHA-256.
    pub sha256: Option<String>,
    /// File name.
    pub file_name: Option<String>,
    /// Folder.
    pub file_path: Option<String>,
    /// Process id.
    pub process_id: Option<u64>,
    /// Command line.
    pub process_command_line: Option<String>,
    /// Parent process id.
    pub parent_process_id: Option<u64>,
    /// Parent image name.
    pub parent_process_file_name: Option<String>,
    /// IP address.
    pub ip_address: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Account name.
    pub account_name: Option<String>,
    /// Domain.
    pub domain_name: Option<String>,
    /// SID.
    pub user_sid: Option<String>,
    /// Entra user object id.
    pub aad_user_id: Option<String>,
    /// UPN.
    pub user_principal_name: Option<String>,
    /// Registry key.
    pub registry_key: Option<String>,
    /// Registry hive.
    pub registry_hive: Option<String>,
    /// `Detected`, `Blocked`, `Prevented`.
    pub detection_status: Option<String>,
}

/// An MDE alert (also an alert of its incident and a Graph alerts_v2 record).
#[derive(Debug, Clone)]
pub struct Alert {
    /// MDE alert id (`da…_…`), also the Graph id.
    pub id: String,
    /// Incident id.
    pub incident_id: u64,
    /// Automated investigation id.
    pub investigation_id: Option<u64>,
    /// Investigation state enum.
    pub investigation_state: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// MDE category (e.g. `Execution`).
    pub category: String,
    /// MDE severity: Informational, Low, Medium, High.
    pub severity: String,
    /// MDE status: New, InProgress, Resolved.
    pub status: String,
    /// Classification or none.
    pub classification: Option<String>,
    /// Determination or none.
    pub determination: Option<String>,
    /// Assignee.
    pub assigned_to: Option<String>,
    /// MDE detection source (`WindowsDefenderAv`, `WindowsDefenderAtp`, `CustomerTI`...).
    pub detection_source: String,
    /// Detector id (GUID).
    pub detector_id: String,
    /// Threat family.
    pub threat_family_name: Option<String>,
    /// Machine id.
    pub machine_id: String,
    /// Machine name.
    pub computer_dns_name: String,
    /// Device group.
    pub rbac_group_name: String,
    /// Created.
    pub alert_creation_time: OffsetDateTime,
    /// First event.
    pub first_event_time: OffsetDateTime,
    /// Last event.
    pub last_event_time: OffsetDateTime,
    /// Last update.
    pub last_update_time: OffsetDateTime,
    /// Resolved.
    pub resolved_time: Option<OffsetDateTime>,
    /// MITRE techniques.
    pub mitre_techniques: Vec<String>,
    /// Related user (name, domain).
    pub related_user: Option<(String, String)>,
    /// Comments.
    pub comments: Vec<Comment>,
    /// Evidence.
    pub evidence: Vec<Evidence>,
}

/// Incident status, including Graph's evolvable `awaitingAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentStatus {
    /// Active.
    Active,
    /// In progress.
    InProgress,
    /// Resolved.
    Resolved,
    /// Merged into another incident.
    Redirected,
    /// Graph-only evolvable member (shown as Active by Microsoft 365 Defender).
    AwaitingAction,
}

/// A Microsoft 365 Defender / Graph incident.
#[derive(Debug, Clone)]
pub struct Incident {
    /// Incident id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Created.
    pub created_time: OffsetDateTime,
    /// Own last update (the rendered value is the max with its alerts').
    pub last_update_time: OffsetDateTime,
    /// Assignee.
    pub assigned_to: Option<String>,
    /// Status.
    pub status: IncidentStatus,
    /// Classification (M365D casing: TruePositive...).
    pub classification: Option<String>,
    /// Determination (M365D casing).
    pub determination: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Comments.
    pub comments: Vec<Comment>,
}

/// A machine action (isolate, scan...).
#[derive(Debug, Clone)]
pub struct MachineAction {
    /// GUID.
    pub id: String,
    /// Type enum (`Isolate`, `RunAntiVirusScan`...).
    pub action_type: String,
    /// Scope (`Full`, `Selective`, `Quick`) or none.
    pub scope: Option<String>,
    /// Requestor (the app's client id).
    pub requestor: String,
    /// Comment.
    pub requestor_comment: String,
    /// Machine id.
    pub machine_id: String,
    /// Machine name.
    pub computer_dns_name: String,
    /// Created.
    pub creation_time: OffsetDateTime,
    /// Set when cancelled: (by, comment, when).
    pub cancellation: Option<(String, String, OffsetDateTime)>,
    /// File for StopAndQuarantineFile.
    pub related_sha1: Option<String>,
    /// Timing and end state, resolved from the rules when it was created.
    pub timing: crate::action_rules::ActionTiming,
}

/// A custom indicator of compromise.
#[derive(Debug, Clone)]
pub struct Indicator {
    /// Numeric id.
    pub id: u64,
    /// Value.
    pub indicator_value: String,
    /// Type enum.
    pub indicator_type: String,
    /// Action enum.
    pub action: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Application.
    pub application: Option<String>,
    /// Expiration.
    pub expiration_time: Option<OffsetDateTime>,
    /// Severity.
    pub severity: Option<String>,
    /// Recommended actions.
    pub recommended_actions: Option<String>,
    /// Device groups.
    pub rbac_group_names: Vec<String>,
    /// Educate URL.
    pub educate_url: Option<String>,
    /// Generate an alert.
    pub generate_alert: bool,
    /// Creator (client id for apps, UPN for users).
    pub created_by: String,
    /// Creator display name.
    pub created_by_display_name: String,
    /// `AadApp` or `User`.
    pub source_type: String,
    /// Created.
    pub creation_time: OffsetDateTime,
    /// Last update.
    pub last_update_time: OffsetDateTime,
    /// External id.
    pub external_id: Option<String>,
}

impl Indicator {
    /// Active = not expired at `now`.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.expiration_time.is_none_or(|e| e > now)
    }
}

/// A process event, the row source of advanced hunting's `DeviceProcessEvents` (and of CreateAlertByReference).
#[derive(Debug, Clone)]
pub struct ProcessEvent {
    /// Event time.
    pub timestamp: OffsetDateTime,
    /// Machine id.
    pub device_id: String,
    /// Machine name.
    pub device_name: String,
    /// Report id (unique per device).
    pub report_id: u64,
    /// Image name.
    pub file_name: String,
    /// Image folder.
    pub folder_path: String,
    /// Image SHA-1.
    pub sha1: String,
    /// Command line.
    pub process_command_line: String,
    /// Account.
    pub account_name: String,
}
