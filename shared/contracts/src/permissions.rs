//! The application permissions (token `roles`) of every API operation, dataset and action, as Microsoft
//! documents them. This is the one permission table of mde-bridge: the Defender client's per-operation
//! requirements are built from these constants, and a test there checks that every dataset and action names
//! the permissions of the operations it performs.

use crate::{ActionKind, Audience, Dataset};

/// A permission requirement: an API and the application permissions that satisfy it, any one being enough.
/// The first is the least privileged: the one named when none is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    /// The API (token audience).
    pub audience: Audience,
    /// Roles that satisfy the requirement, least privileged first.
    pub any_of: &'static [&'static str],
}

impl Permission {
    /// The least privileged role, named in consent errors.
    pub fn least(&self) -> &'static str {
        self.any_of.first().copied().unwrap_or_default()
    }

    /// Whether `granted` (a token's `roles`) satisfies this requirement.
    pub fn is_granted_by<S: AsRef<str>>(&self, granted: &[S]) -> bool {
        self.any_of.is_empty()
            || self
                .any_of
                .iter()
                .any(|r| granted.iter().any(|g| g.as_ref() == *r))
    }
}

const fn mde(any_of: &'static [&'static str]) -> Permission {
    Permission {
        audience: Audience::Mde,
        any_of,
    }
}

const fn m365d(any_of: &'static [&'static str]) -> Permission {
    Permission {
        audience: Audience::M365d,
        any_of,
    }
}

const fn graph(any_of: &'static [&'static str]) -> Permission {
    Permission {
        audience: Audience::Graph,
        any_of,
    }
}

/// MDE: read alerts.
pub const MDE_ALERT_READ: Permission = mde(&["Alert.Read.All", "Alert.ReadWrite.All"]);
/// MDE: update alerts, create alerts by reference.
pub const MDE_ALERT_WRITE: Permission = mde(&["Alert.ReadWrite.All"]);
/// MDE: read machines and machine actions.
pub const MDE_MACHINE_READ: Permission = mde(&["Machine.Read.All", "Machine.ReadWrite.All"]);
/// MDE: isolate and release.
pub const MDE_MACHINE_ISOLATE: Permission = mde(&["Machine.Isolate"]);
/// MDE: antivirus scan.
pub const MDE_MACHINE_SCAN: Permission = mde(&["Machine.Scan"]);
/// MDE: restrict and unrestrict app execution.
pub const MDE_MACHINE_RESTRICT: Permission = mde(&["Machine.RestrictExecution"]);
/// MDE: collect an investigation package.
pub const MDE_MACHINE_COLLECT: Permission = mde(&["Machine.CollectForensics"]);
/// MDE: stop and quarantine a file.
pub const MDE_MACHINE_STOP_AND_QUARANTINE: Permission = mde(&["Machine.StopAndQuarantine"]);
/// MDE: offboard a machine.
pub const MDE_MACHINE_OFFBOARD: Permission = mde(&["Machine.Offboard"]);
/// MDE: cancel a machine action — any of the response action permissions, as the cancel page lists them (the
/// sandbox, stricter, also wants the cancelled action's own).
pub const MDE_MACHINE_ACTION_CANCEL: Permission = mde(&[
    "Machine.Isolate",
    "Machine.Scan",
    "Machine.RestrictExecution",
    "Machine.CollectForensics",
    "Machine.StopAndQuarantine",
    "Machine.Offboard",
    "Machine.LiveResponse",
]);
/// MDE: indicators. `Ti.ReadWrite` sees and manages only the application's own indicators; `.All` every one.
pub const MDE_TI: Permission = mde(&["Ti.ReadWrite", "Ti.ReadWrite.All"]);
/// MDE: advanced hunting (legacy endpoint).
pub const MDE_ADVANCED_QUERY: Permission = mde(&["AdvancedQuery.Read.All"]);
/// Microsoft 365 Defender: read incidents.
pub const M365D_INCIDENT_READ: Permission = m365d(&["Incident.Read.All", "Incident.ReadWrite.All"]);
/// Microsoft 365 Defender: update incidents.
pub const M365D_INCIDENT_WRITE: Permission = m365d(&["Incident.ReadWrite.All"]);
/// Microsoft 365 Defender: advanced hunting.
pub const M365D_ADVANCED_HUNTING: Permission = m365d(&["AdvancedHunting.Read.All"]);
/// Graph: read security incidents.
pub const GRAPH_INCIDENT_READ: Permission =
    graph(&["SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All"]);
/// Graph: update security incidents and comment on them.
pub const GRAPH_INCIDENT_WRITE: Permission = graph(&["SecurityIncident.ReadWrite.All"]);
/// Graph: read security alerts (alerts_v2).
pub const GRAPH_ALERT_READ: Permission = graph(&["SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"]);
/// Graph: update security alerts and comment on them.
pub const GRAPH_ALERT_WRITE: Permission = graph(&["SecurityAlert.ReadWrite.All"]);
/// Graph: `runHuntingQuery`.
pub const GRAPH_THREAT_HUNTING: Permission = graph(&["ThreatHunting.Read.All"]);

impl Dataset {
    /// What reading this dataset needs.
    pub fn permission(self) -> Permission {
        match self {
            Dataset::GraphIncidents => GRAPH_INCIDENT_READ,
            Dataset::GraphAlertsV2 => GRAPH_ALERT_READ,
            Dataset::MdeAlerts => MDE_ALERT_READ,
            Dataset::M365dIncidents => M365D_INCIDENT_READ,
        }
    }
}

impl ActionKind {
    /// What performing this action needs: one requirement per kind of call it makes.
    pub fn permissions(self) -> &'static [Permission] {
        // Device actions first find the device and its pending actions (machine reads), then act.
        match self {
            ActionKind::IsolateDevice | ActionKind::ReleaseDevice => &[MDE_MACHINE_READ, MDE_MACHINE_ISOLATE],
            ActionKind::AntivirusScan => &[MDE_MACHINE_READ, MDE_MACHINE_SCAN],
            ActionKind::RestrictAppExecution | ActionKind::UnrestrictAppExecution => {
                &[MDE_MACHINE_READ, MDE_MACHINE_RESTRICT]
            }
            ActionKind::CollectInvestigationPackage => &[MDE_MACHINE_READ, MDE_MACHINE_COLLECT],
            ActionKind::StopAndQuarantineFile => &[MDE_MACHINE_READ, MDE_MACHINE_STOP_AND_QUARANTINE],
            ActionKind::AddIndicator | ActionKind::RemoveIndicator => &[MDE_TI],
            // The default APIs of the events: MDE alerts, Microsoft 365 Defender incidents, Graph hunting. An
            // event that names another API needs that API's permission (checked when it runs).
            ActionKind::UpdateAlert => &[MDE_ALERT_WRITE],
            ActionKind::UpdateIncident => &[M365D_INCIDENT_WRITE],
            ActionKind::HuntingQuery => &[GRAPH_THREAT_HUNTING],
            // Resolving the device (by id, name or IP) reads machines, finding its open alert reads alerts,
            // recording the partner's alert writes one.
            ActionKind::CorrelateAlert => &[MDE_MACHINE_READ, MDE_ALERT_READ, MDE_ALERT_WRITE],
        }
    }
}

impl crate::TenantConfig {
    /// Every permission this tenant's datasets and actions need, sorted, without duplicates.
    pub fn permissions(&self) -> Vec<Permission> {
        let mut needs: Vec<Permission> = self
            .datasets
            .iter()
            .map(|d| d.permission())
            .chain(self.actions.iter().flat_map(|a| a.permissions().iter().copied()))
            .collect();
        needs.sort();
        needs.dedup();
        needs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_listed_role_satisfies_a_requirement_and_the_least_is_named() {
        assert!(MDE_TI.is_granted_by(&["Ti.ReadWrite.All"]));
        assert!(MDE_TI.is_granted_by(&["Ti.ReadWrite"]));
        assert!(!MDE_TI.is_granted_by(&["Alert.Read.All"]));
        assert_eq!(MDE_TI.least(), "Ti.ReadWrite");
        assert!(MDE_ALERT_READ.is_granted_by(&["Alert.ReadWrite.All".to_string()]));
    }
}
