//! The application permissions (token `roles`) each dataset and action needs, as Microsoft documents them.

use crate::{ActionKind, Audience, Dataset};

impl Dataset {
    /// The API and the least application permission needed to read this dataset.
    pub fn required_role(self) -> (Audience, &'static str) {
        match self {
            Dataset::GraphIncidents => (Audience::Graph, "SecurityIncident.Read.All"),
            Dataset::GraphAlertsV2 => (Audience::Graph, "SecurityAlert.Read.All"),
            Dataset::MdeAlerts => (Audience::Mde, "Alert.Read.All"),
            Dataset::M365dIncidents => (Audience::M365d, "Incident.Read.All"),
        }
    }
}

impl ActionKind {
    /// The API and the application permission needed to perform this action.
    pub fn required_role(self) -> (Audience, &'static str) {
        match self {
            ActionKind::IsolateDevice | ActionKind::ReleaseDevice => (Audience::Mde, "Machine.Isolate"),
            ActionKind::AntivirusScan => (Audience::Mde, "Machine.Scan"),
            ActionKind::RestrictAppExecution | ActionKind::UnrestrictAppExecution => {
                (Audience::Mde, "Machine.RestrictExecution")
            }
            ActionKind::CollectInvestigationPackage => (Audience::Mde, "Machine.CollectForensics"),
            ActionKind::StopAndQuarantineFile => (Audience::Mde, "Machine.StopAndQuarantine"),
            ActionKind::AddIndicator | ActionKind::RemoveIndicator => (Audience::Mde, "Ti.ReadWrite.All"),
            ActionKind::UpdateAlert | ActionKind::CorrelateAlert => (Audience::Mde, "Alert.ReadWrite.All"),
            ActionKind::UpdateIncident => (Audience::M365d, "Incident.ReadWrite.All"),
            ActionKind::HuntingQuery => (Audience::Mde, "AdvancedQuery.Read.All"),
        }
    }
}

impl crate::TenantConfig {
    /// Every (API, permission) this tenant's configured datasets and actions need, sorted, without duplicates.
    pub fn required_roles(&self) -> Vec<(Audience, &'static str)> {
        let mut roles: Vec<_> = self
            .datasets
            .iter()
            .map(|d| d.required_role())
            .chain(self.actions.iter().map(|a| a.required_role()))
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }
}
