//! The operations the client performs: for each, its API (token audience), the application permissions that allow
//! it (any one of them) and the rate-limit family it counts against, as Microsoft documents them.

use mde_contracts::Audience;

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

const fn mde(name: &'static str, roles: &'static [&'static str], family: ApiFamily) -> Endpoint {
    Endpoint {
        name,
        audience: Audience::Mde,
        roles,
        family,
    }
}

const ALERT_READ: &[&str] = &["Alert.Read.All", "Alert.ReadWrite.All"];
const MACHINE_READ: &[&str] = &["Machine.Read.All", "Machine.ReadWrite.All"];
const TI: &[&str] = &["Ti.ReadWrite", "Ti.ReadWrite.All"];
const STD: ApiFamily = ApiFamily::MdeStandard;

/// `GET /api/alerts` — Alert.Read.All or Alert.ReadWrite.All.
pub const MDE_ALERTS_LIST: Endpoint = mde("mde.alerts.list", ALERT_READ, STD);
/// `GET /api/alerts/{id}` — Alert.Read.All or Alert.ReadWrite.All.
pub const MDE_ALERTS_GET: Endpoint = mde("mde.alerts.get", ALERT_READ, STD);
/// `PATCH /api/alerts/{id}` — Alert.ReadWrite.All.
pub const MDE_ALERTS_UPDATE: Endpoint = mde("mde.alerts.update", &["Alert.ReadWrite.All"], STD);
/// `GET /api/machines` (with `$filter`) — Machine.Read.All or Machine.ReadWrite.All.
pub const MDE_MACHINES_LIST: Endpoint = mde("mde.machines.list", MACHINE_READ, STD);
/// `GET /api/machines/{id}` — Machine.Read.All or Machine.ReadWrite.All.
pub const MDE_MACHINES_GET: Endpoint = mde("mde.machines.get", MACHINE_READ, STD);
/// `GET /api/machines/findbyip(ip='…',timestamp=…)` — Machine.Read.All or Machine.ReadWrite.All.
pub const MDE_MACHINES_FIND_BY_IP: Endpoint = mde("mde.machines.findbyip", MACHINE_READ, STD);
/// `GET /api/machineactions/{id}` — Machine.Read.All or Machine.ReadWrite.All.
pub const MDE_MACHINE_ACTIONS_GET: Endpoint = mde("mde.machineactions.get", MACHINE_READ, STD);
/// `GET /api/machineactions` — Machine.Read.All or Machine.ReadWrite.All.
pub const MDE_MACHINE_ACTIONS_LIST: Endpoint = mde("mde.machineactions.list", MACHINE_READ, STD);
/// `POST /api/machines/{id}/isolate` — Machine.Isolate.
pub const MDE_ISOLATE: Endpoint = mde("mde.machines.isolate", &["Machine.Isolate"], STD);
/// `POST /api/machines/{id}/unisolate` — Machine.Isolate.
pub const MDE_UNISOLATE: Endpoint = mde("mde.machines.unisolate", &["Machine.Isolate"], STD);
/// `POST /api/machines/{id}/runAntiVirusScan` — Machine.Scan.
pub const MDE_RUN_AV_SCAN: Endpoint = mde("mde.machines.runAntiVirusScan", &["Machine.Scan"], STD);
/// `POST /api/machines/{id}/restrictCodeExecution` — Machine.RestrictExecution.
pub const MDE_RESTRICT: Endpoint = mde(
    "mde.machines.restrictCodeExecution",
    &["Machine.RestrictExecution"],
    STD,
);
/// `POST /api/machines/{id}/unrestrictCodeExecution` — Machine.RestrictExecution.
pub const MDE_UNRESTRICT: Endpoint = mde(
    "mde.machines.unrestrictCodeExecution",
    &["Machine.RestrictExecution"],
    STD,
);
/// `POST /api/machines/{id}/collectInvestigationPackage` — Machine.CollectForensics.
pub const MDE_COLLECT_PACKAGE: Endpoint = mde(
    "mde.machines.collectInvestigationPackage",
    &["Machine.CollectForensics"],
    STD,
);
/// `POST /api/machines/{id}/StopAndQuarantineFile` — Machine.StopAndQuarantine.
pub const MDE_STOP_AND_QUARANTINE: Endpoint = mde(
    "mde.machines.stopAndQuarantineFile",
    &["Machine.StopAndQuarantine"],
    STD,
);
/// `POST /api/machines/{id}/offboard` — Machine.Offboard.
pub const MDE_OFFBOARD: Endpoint = mde("mde.machines.offboard", &["Machine.Offboard"], STD);
/// `GET /api/indicators` — Ti.ReadWrite or Ti.ReadWrite.All.
pub const MDE_INDICATORS_LIST: Endpoint = mde("mde.indicators.list", TI, STD);
/// `POST /api/indicators` — Ti.ReadWrite or Ti.ReadWrite.All.
pub const MDE_INDICATORS_SUBMIT: Endpoint = mde("mde.indicators.submit", TI, STD);
/// `DELETE /api/indicators/{id}` — Ti.ReadWrite or Ti.ReadWrite.All.
pub const MDE_INDICATORS_DELETE: Endpoint = mde("mde.indicators.delete", TI, STD);
/// `POST /api/indicators/import` — Ti.ReadWrite or Ti.ReadWrite.All; 30 per minute.
pub const MDE_INDICATORS_IMPORT: Endpoint = mde("mde.indicators.import", TI, ApiFamily::MdeIndicatorImport);
/// `POST /api/indicators/BatchDelete` — Ti.ReadWrite or Ti.ReadWrite.All; 30 per minute, 1,500 per hour.
pub const MDE_INDICATORS_BATCH_DELETE: Endpoint = mde(
    "mde.indicators.batchDelete",
    TI,
    ApiFamily::MdeIndicatorBatchDelete,
);
/// `POST /api/advancedqueries/run` — AdvancedQuery.Read.All; 45 per minute, 1,500 per hour.
pub const MDE_ADVANCED_QUERY: Endpoint = mde(
    "mde.advancedqueries.run",
    &["AdvancedQuery.Read.All"],
    ApiFamily::MdeHunting,
);

const INCIDENT_READ: &[&str] = &["Incident.Read.All", "Incident.ReadWrite.All"];

/// `GET /api/incidents` (Microsoft 365 Defender) — Incident.Read.All or Incident.ReadWrite.All.
pub const M365D_INCIDENTS_LIST: Endpoint = Endpoint {
    name: "m365d.incidents.list",
    audience: Audience::M365d,
    roles: INCIDENT_READ,
    family: ApiFamily::M365dIncidents,
};
/// `GET /api/incidents/{id}` — Incident.Read.All or Incident.ReadWrite.All.
pub const M365D_INCIDENTS_GET: Endpoint = Endpoint {
    name: "m365d.incidents.get",
    ..M365D_INCIDENTS_LIST
};
/// `PATCH /api/incidents/{id}` — Incident.ReadWrite.All.
pub const M365D_INCIDENTS_UPDATE: Endpoint = Endpoint {
    name: "m365d.incidents.update",
    roles: &["Incident.ReadWrite.All"],
    ..M365D_INCIDENTS_LIST
};

const fn graph(name: &'static str, roles: &'static [&'static str]) -> Endpoint {
    Endpoint {
        name,
        audience: Audience::Graph,
        roles,
        family: ApiFamily::GraphSecurity,
    }
}

const GRAPH_INCIDENT_READ: &[&str] = &["SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All"];
const GRAPH_ALERT_READ: &[&str] = &["SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"];

/// `GET /v1.0/security/incidents` — SecurityIncident.Read.All or SecurityIncident.ReadWrite.All.
pub const GRAPH_INCIDENTS_LIST: Endpoint = graph("graph.incidents.list", GRAPH_INCIDENT_READ);
/// `GET /v1.0/security/incidents/{id}`.
pub const GRAPH_INCIDENTS_GET: Endpoint = graph("graph.incidents.get", GRAPH_INCIDENT_READ);
/// `PATCH /v1.0/security/incidents/{id}` — SecurityIncident.ReadWrite.All.
pub const GRAPH_INCIDENTS_UPDATE: Endpoint =
    graph("graph.incidents.update", &["SecurityIncident.ReadWrite.All"]);
/// `POST /v1.0/security/incidents/{id}/comments` — SecurityIncident.ReadWrite.All.
pub const GRAPH_INCIDENTS_COMMENT: Endpoint =
    graph("graph.incidents.comment", &["SecurityIncident.ReadWrite.All"]);
/// `GET /v1.0/security/alerts_v2` — SecurityAlert.Read.All or SecurityAlert.ReadWrite.All.
pub const GRAPH_ALERTS_LIST: Endpoint = graph("graph.alerts.list", GRAPH_ALERT_READ);
/// `GET /v1.0/security/alerts_v2/{id}`.
pub const GRAPH_ALERTS_GET: Endpoint = graph("graph.alerts.get", GRAPH_ALERT_READ);
/// `PATCH /v1.0/security/alerts_v2/{id}` — SecurityAlert.ReadWrite.All.
pub const GRAPH_ALERTS_UPDATE: Endpoint = graph("graph.alerts.update", &["SecurityAlert.ReadWrite.All"]);
/// `POST /v1.0/security/alerts_v2/{id}/comments` — SecurityAlert.ReadWrite.All.
pub const GRAPH_ALERTS_COMMENT: Endpoint = graph("graph.alerts.comment", &["SecurityAlert.ReadWrite.All"]);
/// `POST /v1.0/security/runHuntingQuery` — ThreatHunting.Read.All.
pub const GRAPH_HUNTING: Endpoint = Endpoint {
    family: ApiFamily::GraphHunting,
    ..graph("graph.runHuntingQuery", &["ThreatHunting.Read.All"])
};
