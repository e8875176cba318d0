//! The world's state: one [`TenantData`] per tenant, and how it changes when simulated time moves.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};

use rand::RngExt as _;
use rand::rngs::SmallRng;
use time::{Duration, OffsetDateTime};

use crate::adversarial::Exposure;
use crate::config::SandboxConfig;
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
    /// What list responses returned, and the list calls counted for `adversarial.mutate`.
    pub exposure: Exposure,
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
            exposure: Exposure::default(),
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

    /// Pulls every timestamp after `now` of the alerts from index `alerts_from` and the incidents from
    /// `incidents_from` back to `now`: the service never stamps a time it has not reached (seeded and generated
    /// records draw their update times after their creation).
    pub fn clamp_to_now(&mut self, alerts_from: usize, incidents_from: usize, now: OffsetDateTime) {
        for a in self.alerts.iter_mut().skip(alerts_from) {
            for t in [
                &mut a.alert_creation_time,
                &mut a.first_event_time,
                &mut a.last_event_time,
                &mut a.last_update_time,
            ] {
                *t = (*t).min(now);
            }
            if let Some(t) = &mut a.resolved_time {
                *t = (*t).min(now);
            }
        }
        for i in self.incidents.iter_mut().skip(incidents_from) {
            i.created_time = i.created_time.min(now);
            i.last_update_time = i.last_update_time.min(now);
            for c in &mut i.comments {
                c.created_time = c.created_time.min(now);
            }
        }
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
        let (alerts_from, incidents_from) = (self.alerts.len(), self.incidents.len());
        for _ in 0..config.data.new_alerts_per_hour * hours {
            let created = now - Duration::seconds(self.rng.random_range(0..elapsed.whole_seconds().max(1)));
            seed::new_incident(self, &domain, created, 1);
        }
        self.clamp_to_now(alerts_from, incidents_from, now);
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
    summaries: OnceCell<Summaries>,
}

/// Summaries by incident id: a vector indexed from the smallest id when the ids are dense (they are allocated in
/// sequence per tenant), else a map.
#[derive(Debug)]
enum Summaries {
    Dense { first: u64, list: Vec<AlertSummary> },
    Sparse(HashMap<u64, AlertSummary>),
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
        let summaries = self.summaries.get_or_init(|| self.compute());
        match summaries {
            Summaries::Dense { first, list } => incident
                .id
                .checked_sub(*first)
                .and_then(|i| list.get(usize::try_from(i).ok()?))
                .copied()
                .unwrap_or_default(),
            Summaries::Sparse(map) => map.get(&incident.id).copied().unwrap_or_default(),
        }
    }

    fn compute(&self) -> Summaries {
        let ids = self.data.incidents.iter().map(|i| i.id);
        let (first, last) = (ids.clone().min().unwrap_or(0), ids.max().unwrap_or(0));
        let span = usize::try_from(last - first).unwrap_or(usize::MAX);
        if span < self.data.incidents.len().saturating_mul(4).max(1024) {
            let mut list = vec![AlertSummary::default(); span + 1];
            for alert in &self.data.alerts {
                if let Some(s) = alert
                    .incident_id
                    .checked_sub(first)
                    .and_then(|i| list.get_mut(usize::try_from(i).ok()?))
                {
                    s.add(alert);
                }
            }
            Summaries::Dense { first, list }
        } else {
            let mut map: HashMap<u64, AlertSummary> = HashMap::new();
            for alert in &self.data.alerts {
                map.entry(alert.incident_id).or_default().add(alert);
            }
            Summaries::Sparse(map)
        }
    }
}

/// Status of a machine action at `now` and when it got there, from the timing fixed at its creation: `Pending`,
/// then `InProgress` after `pending_seconds`, then its end (`Succeeded`, `Failed`, `TimeOut`) after
/// `in_progress_seconds` more; `Cancelled` from its cancellation on (only a Pending or InProgress action can be
/// cancelled, so a cancelled one never reaches its end).
pub fn action_status(action: &MachineAction, now: OffsetDateTime) -> (&'static str, OffsetDateTime) {
    if let Some((_, _, at)) = &action.cancellation {
        return ("Cancelled", *at);
    }
    let (pending_until, done_at) = action_phases(action);
    if now < pending_until {
        ("Pending", action.creation_time)
    } else if now < done_at {
        ("InProgress", pending_until)
    } else {
        (action.timing.end.as_str(), done_at)
    }
}

/// Whether a status is not final (a repeat is refused, a cancel accepted).
pub fn is_active(status: &str) -> bool {
    matches!(status, "Pending" | "InProgress")
}

/// When the action leaves `Pending`, and when it reaches its end.
pub fn action_phases(action: &MachineAction) -> (OffsetDateTime, OffsetDateTime) {
    let after = |t: OffsetDateTime, seconds: u64| {
        i64::try_from(seconds)
            .ok()
            .and_then(|s| t.checked_add(Duration::seconds(s)))
            .unwrap_or(t)
    };
    let pending_until = after(action.creation_time, action.timing.pending_seconds);
    (
        pending_until,
        after(pending_until, action.timing.in_progress_seconds),
    )
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

    /// Every tenant's data, mutable.
    pub fn tenants_mut(&mut self) -> impl Iterator<Item = &mut TenantData> {
        self.tenants.values_mut()
    }

    /// Applies the changes of `elapsed` simulated time to every tenant.
    pub fn advance(&mut self, config: &SandboxConfig, elapsed: Duration, now: OffsetDateTime) {
        for data in self.tenants.values_mut() {
            data.advance(config, elapsed, now);
        }
    }
}
