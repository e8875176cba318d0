//! The operations the client performs: for each, its API (token audience), the application permissions that allow
//! it (any one of them) and the rate-limit family it counts against, as Microsoft documents them. Permissions come
//! from `mde_contracts::permissions`, the one permission table of the project.

use mde_contracts::Audience;
use mde_contracts::permissions::{self as perm, Permission};

use super::limiter::ApiFamily;

/// One documented operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Name used in logs and errors, e.g. `mde.alerts.list`.
    pub name: &'static str,
    /// The API (token audience).
    pub audience: Audience,
    /// Application permissions that allow the operation; any one is enough. The first is the least privileged,
    /// the one named when none is granted.
    pub roles: &'static [&'static str],
    /// The rate-limit family.
    pub family: ApiFamily,
}

impl Endpoint {
    /// The least privileged permission of the operation.
    pub fn permission(&self) -> &'static str {
        self.roles.first().copied().unwrap_or_default()
    }
}

const fn op(name: &'static str, permission: Permission, family: ApiFamily) -> Endpoint {
    Endpoint {
        name,
        audience: permission.audience,
        roles: permission.any_of,
        family,
    }
}

const STD: ApiFamily = ApiFamily::MdeStandard;

/// `GET /api/alerts` — Alert.Read.All or Alert.ReadWrite.All.
pub const MDE_ALERTS_LIST: Endpoint = op("mde.alerts.list", perm::MDE_ALERT_READ, STD);
/// `GET /api/alerts/{id}` — Alert.Read.All or Alert.ReadWrite.All.
pub const MDE_ALERTS_GET: Endpoint = op("mde.alerts.get", perm::MDE_ALERT_READ, STD);
/// `PATCH /api/alerts/{id}` — Alert.ReadWrite.All.
pub const MDE_ALERTS_UPDATE: Endpoint = op("mde.alerts.update", perm::MDE_ALERT_WRITE, STD);
/// `GET /api/machines` (with `$filter`) — Machine.Read.All or Machine.ReadWrite.All.
pub const MDE_MACHINES_LIST: Endpoint = op("mde.machines.list", perm::MDE_MACHINE_READ, STD);
/// `GET /api/machines/{id}` — Machine.Read.All or Machine.ReadWrite.All.
pub const MDE_MACHINES_GET: Endpoint = op("mde.machines.get", perm::MDE_MACHINE_READ, STD);
/// `GET /api/machines/findbyip(ip='…',timestamp=…)` — Machine.Read.All or Machine.ReadWrite.All.
pub const MDE_MACHINES_FIND_BY_IP: Endpoint = op("mde.machines.findbyip", perm::MDE_MACHINE_READ, STD);
/// `GET /api/machineactions/{id}` — Machine.Read.All or Machine.ReadWrite.All.
pub const MDE_MACHINE_ACTIONS_GET: Endpoint = op("mde.machineactions.get", perm::MDE_MACHINE_READ, STD);
/// `GET /api/machineactions` — Machine.Read.All or Machine.ReadWrite.All.
pub const MDE_MACHINE_ACTIONS_LIST: Endpoint = op("mde.machineactions.list", perm::MDE_MACHINE_READ, STD);
/// `POST /api/machineactions/{id}/cancel` — the permission of the cancelled action's type.
pub const MDE_MACHINE_ACTIONS_CANCEL: Endpoint =
    op("mde.machineactions.cancel", perm::MDE_MACHINE_ACTION_CANCEL, STD);
/// `GET /api/machines/{id}/alerts` — Alert.Read.All or Alert.ReadWrite.All.
pub const MDE_MACHINE_ALERTS: Endpoint = op("mde.machines.alerts", perm::MDE_ALERT_READ, STD);
/// `POST /api/alerts/batchUpdate` — Alert.ReadWrite.All; 10 per minute, 500 per hour.
pub const MDE_ALERTS_BATCH_UPDATE: Endpoint = op(
    "mde.alerts.batchUpdate",
    perm::MDE_ALERT_WRITE,
    ApiFamily::MdeAlertBatchUpdate,
);
/// `POST /api/alerts/CreateAlertByReference` — Alert.ReadWrite.All; 15 per minute.
pub const MDE_ALERTS_CREATE_BY_REFERENCE: Endpoint = op(
    "mde.alerts.createAlertByReference",
    perm::MDE_ALERT_WRITE,
    ApiFamily::MdeAlertByReference,
);
/// `POST /api/machines/{id}/isolate` — Machine.Isolate.
pub const MDE_ISOLATE: Endpoint = op("mde.machines.isolate", perm::MDE_MACHINE_ISOLATE, STD);
/// `POST /api/machines/{id}/unisolate` — Machine.Isolate.
pub const MDE_UNISOLATE: Endpoint = op("mde.machines.unisolate", perm::MDE_MACHINE_ISOLATE, STD);
/// `POST /api/machines/{id}/runAntiVirusScan` — Machine.Scan.
pub const MDE_RUN_AV_SCAN: Endpoint = op("mde.machines.runAntiVirusScan", perm::MDE_MACHINE_SCAN, STD);
/// `POST /api/machines/{id}/restrictCodeExecution` — Machine.RestrictExecution.
pub const MDE_RESTRICT: Endpoint = op(
    "mde.machines.restrictCodeExecution",
    perm::MDE_MACHINE_RESTRICT,
    STD,
);
/// `POST /api/machines/{id}/unrestrictCodeExecution` — Machine.RestrictExecution.
pub const MDE_UNRESTRICT: Endpoint = op(
    "mde.machines.unrestrictCodeExecution",
    perm::MDE_MACHINE_RESTRICT,
    STD,
);
/// `POST /api/machines/{id}/collectInvestigationPackage` — Machine.CollectForensics.
pub const MDE_COLLECT_PACKAGE: Endpoint = op(
    "mde.machines.collectInvestigationPackage",
    perm::MDE_MACHINE_COLLECT,
    STD,
);
/// `POST /api/machines/{id}/StopAndQuarantineFile` — Machine.StopAndQuarantine.
pub const MDE_STOP_AND_QUARANTINE: Endpoint = op(
    "mde.machines.stopAndQuarantineFile",
    perm::MDE_MACHINE_STOP_AND_QUARANTINE,
    STD,
);
/// `POST /api/machines/{id}/offboard` — Machine.Offboard.
pub const MDE_OFFBOARD: Endpoint = op("mde.machines.offboard", perm::MDE_MACHINE_OFFBOARD, STD);
/// `GET /api/indicators` — Ti.ReadWrite or Ti.ReadWrite.All.
pub const MDE_INDICATORS_LIST: Endpoint = op("mde.indicators.list", perm::MDE_TI, STD);
/// `POST /api/indicators` — Ti.ReadWrite or Ti.ReadWrite.All.
pub const MDE_INDICATORS_SUBMIT: Endpoint = op("mde.indicators.submit", perm::MDE_TI, STD);
/// `DELETE /api/indicators/{id}` — Ti.ReadWrite or Ti.ReadWrite.All.
pub const MDE_INDICATORS_DELETE: Endpoint = op("mde.indicators.delete", perm::MDE_TI, STD);
/// `POST /api/indicators/import` — Ti.ReadWrite or Ti.ReadWrite.All; 30 per minute.
pub const MDE_INDICATORS_IMPORT: Endpoint = op(
    "mde.indicators.import",
    perm::MDE_TI,
    ApiFamily::MdeIndicatorImport,
);
/// `POST /api/indicators/BatchDelete` — Ti.ReadWrite or Ti.ReadWrite.All; 30 per minute, 1,500 per hour.
pub const MDE_INDICATORS_BATCH_DELETE: Endpoint = op(
    "mde.indicators.batchDelete",
    perm::MDE_TI,
    ApiFamily::MdeIndicatorBatchDelete,
);
/// `POST /api/advancedqueries/run` — AdvancedQuery.Read.All; 45 per minute, 1,500 per hour.
pub const MDE_ADVANCED_QUERY: Endpoint = op(
    "mde.advancedqueries.run",
    perm::MDE_ADVANCED_QUERY,
    ApiFamily::MdeHunting,
);

/// `GET /api/incidents` (Microsoft 365 Defender) — Incident.Read.All or Incident.ReadWrite.All.
pub const M365D_INCIDENTS_LIST: Endpoint = op(
    "m365d.incidents.list",
    perm::M365D_INCIDENT_READ,
    ApiFamily::M365dIncidents,
);
/// `POST /api/advancedhunting/run` (Microsoft 365 Defender) — AdvancedHunting.Read.All; at least 45 per minute.
pub const M365D_ADVANCED_HUNTING: Endpoint = op(
    "m365d.advancedhunting.run",
    perm::M365D_ADVANCED_HUNTING,
    ApiFamily::M365dHunting,
);
/// `GET /api/incidents/{id}` — Incident.Read.All or Incident.ReadWrite.All.
pub const M365D_INCIDENTS_GET: Endpoint = Endpoint {
    name: "m365d.incidents.get",
    ..M365D_INCIDENTS_LIST
};
/// `PATCH /api/incidents/{id}` — Incident.ReadWrite.All.
pub const M365D_INCIDENTS_UPDATE: Endpoint = Endpoint {
    name: "m365d.incidents.update",
    roles: perm::M365D_INCIDENT_WRITE.any_of,
    ..M365D_INCIDENTS_LIST
};

const fn graph(name: &'static str, permission: Permission) -> Endpoint {
    op(name, permission, ApiFamily::GraphSecurity)
}

/// `GET /v1.0/security/incidents` — SecurityIncident.Read.All or SecurityIncident.ReadWrite.All.
pub const GRAPH_INCIDENTS_LIST: Endpoint = graph("graph.incidents.list", perm::GRAPH_INCIDENT_READ);
/// `GET /v1.0/security/incidents/{id}`.
pub const GRAPH_INCIDENTS_GET: Endpoint = graph("graph.incidents.get", perm::GRAPH_INCIDENT_READ);
/// `PATCH /v1.0/security/incidents/{id}` — SecurityIncident.ReadWrite.All.
pub const GRAPH_INCIDENTS_UPDATE: Endpoint = graph("graph.incidents.update", perm::GRAPH_INCIDENT_WRITE);
/// `POST /v1.0/security/incidents/{id}/comments` — SecurityIncident.ReadWrite.All.
pub const GRAPH_INCIDENTS_COMMENT: Endpoint = graph("graph.incidents.comment", perm::GRAPH_INCIDENT_WRITE);
/// `GET /v1.0/security/alerts_v2` — SecurityAlert.Read.All or SecurityAlert.ReadWrite.All.
pub const GRAPH_ALERTS_LIST: Endpoint = graph("graph.alerts.list", perm::GRAPH_ALERT_READ);
/// `GET /v1.0/security/alerts_v2/{id}`.
pub const GRAPH_ALERTS_GET: Endpoint = graph("graph.alerts.get", perm::GRAPH_ALERT_READ);
/// `PATCH /v1.0/security/alerts_v2/{id}` — SecurityAlert.ReadWrite.All.
pub const GRAPH_ALERTS_UPDATE: Endpoint = graph("graph.alerts.update", perm::GRAPH_ALERT_WRITE);
/// `POST /v1.0/security/alerts_v2/{id}/comments` — SecurityAlert.ReadWrite.All.
pub const GRAPH_ALERTS_COMMENT: Endpoint = graph("graph.alerts.comment", perm::GRAPH_ALERT_WRITE);
/// `POST /v1.0/security/runHuntingQuery` — ThreatHunting.Read.All.
pub const GRAPH_HUNTING: Endpoint = Endpoint {
    family: ApiFamily::GraphHunting,
    ..graph("graph.runHuntingQuery", perm::GRAPH_THREAT_HUNTING)
};

/// The operation that lists a dataset.
pub fn dataset_operation(dataset: mde_contracts::Dataset) -> &'static Endpoint {
    use mde_contracts::Dataset;
    match dataset {
        Dataset::MdeAlerts => &MDE_ALERTS_LIST,
        Dataset::M365dIncidents => &M365D_INCIDENTS_LIST,
        Dataset::GraphIncidents => &GRAPH_INCIDENTS_LIST,
        Dataset::GraphAlertsV2 => &GRAPH_ALERTS_LIST,
    }
}

/// The operations an action may perform (its write, and the reads it needs to find its target).
pub fn action_operations(action: mde_contracts::ActionKind) -> &'static [&'static Endpoint] {
    use mde_contracts::ActionKind as A;
    // Finding the device (by id, name or IP) and its pending actions, then the action itself.
    macro_rules! device {
        ($write:expr) => {
            &[
                &MDE_MACHINES_GET,
                &MDE_MACHINES_FIND_BY_IP,
                &MDE_MACHINE_ACTIONS_LIST,
                &MDE_MACHINE_ACTIONS_GET,
                $write,
            ]
        };
    }
    match action {
        A::IsolateDevice => device!(&MDE_ISOLATE),
        A::ReleaseDevice => device!(&MDE_UNISOLATE),
        A::AntivirusScan => device!(&MDE_RUN_AV_SCAN),
        A::RestrictAppExecution => device!(&MDE_RESTRICT),
        A::UnrestrictAppExecution => device!(&MDE_UNRESTRICT),
        A::CollectInvestigationPackage => device!(&MDE_COLLECT_PACKAGE),
        A::StopAndQuarantineFile => device!(&MDE_STOP_AND_QUARANTINE),
        A::AddIndicator => &[
            &MDE_INDICATORS_IMPORT,
            &MDE_INDICATORS_SUBMIT,
            &MDE_INDICATORS_LIST,
        ],
        A::RemoveIndicator => &[
            &MDE_INDICATORS_BATCH_DELETE,
            &MDE_INDICATORS_DELETE,
            &MDE_INDICATORS_LIST,
        ],
        A::UpdateAlert => &[&MDE_ALERTS_UPDATE, &MDE_ALERTS_BATCH_UPDATE],
        A::UpdateIncident => &[&M365D_INCIDENTS_UPDATE],
        A::HuntingQuery => &[&GRAPH_HUNTING],
        A::CorrelateAlert => &[
            &MDE_MACHINES_GET,
            &MDE_MACHINES_FIND_BY_IP,
            &MDE_MACHINE_ALERTS,
            &MDE_ALERTS_UPDATE,
            &MDE_ALERTS_CREATE_BY_REFERENCE,
        ],
    }
}

impl Endpoint {
    /// The operation's requirement as a contract [`Permission`].
    pub fn requirement(&self) -> Permission {
        Permission {
            audience: self.audience,
            any_of: self.roles,
        }
    }
}

#[cfg(test)]
mod tests {
    use mde_contracts::{ActionKind, Dataset};

    use super::*;

    /// Every action kind, kept in step with the enum by the exhaustive match in `action_operations`.
    const ACTIONS: [ActionKind; 13] = [
        ActionKind::IsolateDevice,
        ActionKind::ReleaseDevice,
        ActionKind::AntivirusScan,
        ActionKind::RestrictAppExecution,
        ActionKind::UnrestrictAppExecution,
        ActionKind::CollectInvestigationPackage,
        ActionKind::StopAndQuarantineFile,
        ActionKind::AddIndicator,
        ActionKind::RemoveIndicator,
        ActionKind::UpdateAlert,
        ActionKind::UpdateIncident,
        ActionKind::HuntingQuery,
        ActionKind::CorrelateAlert,
    ];

    #[test]
    fn each_dataset_asks_for_exactly_what_its_list_operation_needs() {
        for d in Dataset::ALL {
            assert_eq!(dataset_operation(d).requirement(), d.permission(), "{d}");
        }
    }

    #[test]
    fn each_action_asks_for_exactly_what_its_operations_need() {
        for a in ACTIONS {
            let needed: Vec<Permission> = action_operations(a).iter().map(|e| e.requirement()).collect();
            for p in &needed {
                assert!(
                    a.permissions().contains(p),
                    "{a:?}: {p:?} is not among its permissions"
                );
            }
            for p in a.permissions() {
                assert!(
                    needed.contains(p),
                    "{a:?}: {p:?} is asked for but no operation needs it"
                );
            }
        }
    }
}
