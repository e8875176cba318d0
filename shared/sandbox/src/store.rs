//! The world's state: one [`TenantData`] per tenant, and how it changes when simulated time moves.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};

use rand::RngExt as _;
use rand::rngs::SmallRng;
use time::{Duration, OffsetDateTime};

use crate::config::{MachineActionSettings, SandboxConfig};
use crate::model::{Alert, Incident, Indicator, Machine, MachineAction, ProcessEvent};
use crate::seed;

/// All records of one tenant.
#[derive(Debug)]
pub struct TenantData {
    /// Machines.
    pub machines: Vec<Machine>,
    /// Alerts (each belongs to exactly one incident).
    pub alerts: Vec<Alert>,
    /// Incidents.
    pub incidents: Vec<Incident>,
    /// Machine actions.
    pub actions: Vec<MachineAction>,
    /// Indicators.
    pub indicators: Vec<Indicator>,
    /// Hunting rows.
    pub events: Vec<ProcessEvent>,
    /// The tenant's own random generator (updates, ids).
    pub rng: SmallRng,
    /// Next incident id.
    pub next_incident_id: u64,
    next_indicator: u64,
    domain: String,
}

impl TenantData {
    /// Empty data around the given machines and events.
    pub fn new(machines: Vec<Machine>, events: Vec<ProcessEvent>, rng: SmallRng) -> Self {
        let domain = machines
            .first()
            .and_then(|m| m.computer_dns_name.split_once('.'))
            .map(|(_, d)| d.to_owned())
            .unwrap_or_else(|| "tenant.example".to_owned());
        Self {
            machines,
            alerts: Vec::new(),
            incidents: Vec::new(),
            actions: Vec::new(),
            indicators: Vec::new(),
            events,
            rng,
            next_incident_id: 1,
            next_indicator: 1,
            domain,
        }
    }

    /// Allocates an indicator id.
    pub fn next_indicator_id(&mut self) -> u64 {
        let id = self.next_indicator;
        self.next_indicator += 1;
        id
    }

    /// Finds a machine by id or computer name (case-insensitive), as MDE's get-machine does.
    pub fn machine(&self, id_or_name: &str) -> Option<&Machine> {
        self.machines.iter().find(|m| {
            m.id.eq_ignore_ascii_case(id_or_name)
                || m.computer_dns_name.eq_ignore_ascii_case(id_or_name)
                || m.computer_dns_name
                    .split('.')
                    .next()
                    .is_some_and(|short| short.eq_ignore_ascii_case(id_or_name))
        })
    }

    /// The tenant's DNS domain used by seeded data.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The alerts of one incident, in store order.
    pub fn incident_alerts(&self, id: u64) -> Vec<&Alert> {
        self.alerts.iter().filter(|a| a.incident_id == id).collect()
    }

    /// The alerts of each of `incidents` (in store order), gathered in one pass over the tenant's alerts.
    pub fn alerts_of(&self, incidents: &[&Incident]) -> HashMap<u64, Vec<&Alert>> {
        let mut by_incident: HashMap<u64, Vec<&Alert>> =
            incidents.iter().map(|i| (i.id, Vec::new())).collect();
        if !by_incident.is_empty() {
            for alert in &self.alerts {
                if let Some(list) = by_incident.get_mut(&alert.incident_id) {
                    list.push(alert);
                }
            }
        }
        by_incident
    }

    /// Moves the world forward by `elapsed` ending at `now`: some alerts progress, new incidents appear.
    fn advance(&mut self, config: &SandboxConfig, elapsed: Duration, now: OffsetDateTime) {
        let hours = (elapsed.whole_seconds().max(0) as f64 / 3600.0).ceil() as usize;
        let updates = config.data.alert_updates_per_hour * hours;
        for _ in 0..updates {
            let open: Vec<usize> = (0..self.alerts.len())
                .filter(|&i| self.alerts[i].status != "Resolved")
                .collect();
            if open.is_empty() {
                break;
            }
            let pick = open[self.rng.random_range(0..open.len())];
            let at = now - Duration::seconds(self.rng.random_range(0..elapsed.whole_seconds().max(1)));
            let alert = &mut self.alerts[pick];
            alert.last_update_time = at.max(alert.last_update_time);
            if alert.status == "New" {
                alert.status = "InProgress".to_owned();
                alert.assigned_to = Some("Automation".to_owned());
            } else {
                alert.status = "Resolved".to_owned();
                alert.resolved_time = Some(alert.last_update_time);
                alert.investigation_state = "SuccessfullyRemediated".to_owned();
                alert.classification = Some("TruePositive".to_owned());
                alert.determination = Some("Malware".to_owned());
            }
        }
        let domain = self.domain.clone();
        for _ in 0..config.data.new_alerts_per_hour * hours {
            let created = now - Duration::seconds(self.rng.random_range(0..elapsed.whole_seconds().max(1)));
            seed::new_incident(self, &domain, created, 1);
        }
    }
}

/// Incident severities from lowest (MDE / Microsoft 365 Defender casing).
const SEVERITY_ORDER: [&str; 5] = ["UnSpecified", "Informational", "Low", "Medium", "High"];

/// What an incident shows of its alerts: their newest update and their highest severity.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlertSummary {
    last_update: Option<OffsetDateTime>,
    severity: Option<usize>,
}

impl AlertSummary {
    /// The summary of some alerts.
    pub fn of<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> Self {
        let mut summary = Self::default();
        for alert in alerts {
            summary.add(alert);
        }
        summary
    }

    fn add(&mut self, alert: &Alert) {
        self.last_update = self.last_update.max(Some(alert.last_update_time));
        self.severity = self
            .severity
            .max(SEVERITY_ORDER.iter().position(|s| *s == alert.severity));
    }

    /// The incident's last update: its own, or its newest alert's.
    pub fn last_update(&self, incident: &Incident) -> OffsetDateTime {
        self.last_update
            .map_or(incident.last_update_time, |t| t.max(incident.last_update_time))
    }

    /// The highest alert severity, `UnSpecified` without alerts.
    pub fn severity(&self) -> &'static str {
        self.severity.map_or(SEVERITY_ORDER[0], |i| SEVERITY_ORDER[i])
    }
}

/// The [`AlertSummary`] of every incident of a tenant, computed on first use in one pass over its alerts.
#[derive(Debug)]
pub struct IncidentRollup<'d> {
    data: &'d TenantData,
    summaries: OnceCell<HashMap<u64, AlertSummary>>,
}

impl<'d> IncidentRollup<'d> {
    /// A rollup of `data`'s incidents (nothing is computed yet).
    pub fn new(data: &'d TenantData) -> Self {
        Self {
            data,
            summaries: OnceCell::new(),
        }
    }

    /// The summary of one incident's alerts.
    pub fn summary(&self, incident: &Incident) -> AlertSummary {
        let summaries = self.summaries.get_or_init(|| {
            let mut map: HashMap<u64, AlertSummary> = HashMap::new();
            for alert in &self.data.alerts {
                map.entry(alert.incident_id).or_default().add(alert);
            }
            map
        });
        summaries.get(&incident.id).copied().unwrap_or_default()
    }
}

/// Status of a machine action at `now`.
pub fn action_status(
    action: &MachineAction,
    settings: &MachineActionSettings,
    now: OffsetDateTime,
) -> (&'static str, OffsetDateTime) {
    if let Some((_, _, at)) = &action.cancellation {
        return ("Cancelled", *at);
    }
    let pending_until = action.creation_time + Duration::seconds(settings.pending_seconds as i64);
    let done_at = pending_until + Duration::seconds(settings.in_progress_seconds as i64);
    if now < pending_until {
        ("Pending", action.creation_time)
    } else if now < done_at {
        ("InProgress", pending_until)
    } else {
        ("Succeeded", done_at)
    }
}

/// Every tenant's data, keyed by lower-case tenant id.
#[derive(Debug)]
pub struct World {
    tenants: BTreeMap<String, TenantData>,
}

impl World {
    /// Seeds every configured tenant.
    pub fn seed(config: &SandboxConfig, now: OffsetDateTime) -> Self {
        let tenants = config
            .tenants
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.to_lowercase(), seed::tenant_data(t, i, &config.data, now)))
            .collect();
        Self { tenants }
    }

    /// A tenant's data.
    pub fn tenant(&self, id: &str) -> Option<&TenantData> {
        self.tenants.get(&id.to_lowercase())
    }

    /// A tenant's data, mutable.
    pub fn tenant_mut(&mut self, id: &str) -> Option<&mut TenantData> {
        self.tenants.get_mut(&id.to_lowercase())
    }

    /// Applies the changes of `elapsed` simulated time to every tenant.
    pub fn advance(&mut self, config: &SandboxConfig, elapsed: Duration, now: OffsetDateTime) {
        for data in self.tenants.values_mut() {
            data.advance(config, elapsed, now);
        }
    }
}
