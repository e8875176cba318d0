//! Adversarial modes (`adversarial` in the configuration, `POST /_sandbox/adversarial` at runtime): what the real
//! service may do and clients must survive. List orders other than the documented ones, records updated and created
//! while a client pages, a visibility lag, a skewed service clock, and Graph's paging ceilings. Also the changes a
//! test triggers explicitly (`mutate`, `bulk_update`) and the current version of every exported record.
//!
//! Orders sort only what a page needs: the records a request matched are keyed once, the first `$skip` + `$top` of
//! them are selected in linear time and only those are sorted; `unstable` draws a random prefix (a partial
//! Fisher–Yates shuffle seeded by a per-world request counter). Ties break on the documented order, so a static set
//! pages without gaps or repeats in every mode but `unstable`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use rand::rngs::SmallRng;
use rand::{RngExt as _, SeedableRng as _};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::clock::format_time;
use crate::config::{AdversarialSettings, ListOrder, MutateSettings};
use crate::model::{Alert, Comment};
use crate::store::{IncidentRollup, TenantData};
use crate::{api_alerts, api_incidents, seed};

/// The adversarial settings in force and the per-world request counter behind `unstable`.
#[derive(Debug)]
pub struct Adversary {
    settings: Mutex<AdversarialSettings>,
    list_requests: AtomicU64,
    seed: u64,
}

impl Adversary {
    /// Starts with `settings`; `seed` (the data seed) makes `unstable` orders reproducible.
    pub fn new(settings: AdversarialSettings, seed: u64) -> Self {
        Self {
            settings: Mutex::new(settings),
            list_requests: AtomicU64::new(0),
            seed,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> AdversarialSettings {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the settings (the caller resets the tenants' list-call counters and the clock skew).
    pub fn replace(&self, settings: AdversarialSettings) {
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = settings;
    }

    /// What one list request does, decided when it arrives at service time `now`.
    pub fn plan(&self, now: OffsetDateTime) -> ListPlan {
        let settings = self.settings();
        let request = self.list_requests.fetch_add(1, Ordering::Relaxed);
        let lag = settings.visibility_lag_seconds;
        ListPlan {
            order: settings.list_order,
            seed: splitmix(self.seed ^ splitmix(request)),
            visible_until: (lag > 0)
                .then(|| now - time::Duration::seconds(i64::try_from(lag).unwrap_or(i64::MAX / 4))),
            mutate: settings.mutate,
            graph_omit_next_link_with_top: settings.graph_omit_next_link_with_top,
            graph_max_skip: settings.graph_max_skip,
        }
    }
}

/// A list request's share of the adversarial settings.
#[derive(Debug, Clone)]
pub struct ListPlan {
    /// The order to answer in.
    pub order: ListOrder,
    seed: u64,
    /// Records updated after this are not listed yet.
    pub visible_until: Option<OffsetDateTime>,
    /// Changes to make after list calls.
    pub mutate: Option<MutateSettings>,
    /// Graph: no nextLink when `$top` was sent.
    pub graph_omit_next_link_with_top: bool,
    /// Graph: the largest `$skip` accepted.
    pub graph_max_skip: Option<usize>,
}

impl ListPlan {
    /// Whether a record last updated at `updated` is listed yet.
    pub fn visible(&self, updated: OffsetDateTime) -> bool {
        self.visible_until.is_none_or(|until| updated <= until)
    }

    /// Puts the first `prefix` of `items` (which arrive in the documented order) in this plan's order, given a
    /// record's creation and last-update time (each read only by the orders that need it).
    pub fn arrange<T: Copy>(
        &self,
        items: &mut Vec<T>,
        prefix: usize,
        created: impl Fn(T) -> OffsetDateTime,
        updated: impl Fn(T) -> OffsetDateTime,
    ) {
        match self.order {
            ListOrder::Documented => {}
            ListOrder::CreatedDesc => sort_prefix(items, prefix, |t| -created(t).unix_timestamp_nanos()),
            ListOrder::LastupdateAsc => sort_prefix(items, prefix, |t| updated(t).unix_timestamp_nanos()),
            ListOrder::LastupdateDesc => sort_prefix(items, prefix, |t| -updated(t).unix_timestamp_nanos()),
            ListOrder::Unstable => {
                let mut rng = SmallRng::seed_from_u64(self.seed);
                let n = items.len();
                for i in 0..prefix.min(n.saturating_sub(1)) {
                    let j = rng.random_range(i..n);
                    items.swap(i, j);
                }
            }
        }
    }
}

/// Orders the first `prefix` records by `key` (a time in nanoseconds, negated for a descending order), ties by their
/// current position (the documented order): selects them in linear time and sorts only those. The rest follow in no
/// particular order.
fn sort_prefix<T: Copy>(items: &mut Vec<T>, prefix: usize, key: impl Fn(T) -> i128) {
    let prefix = prefix.min(items.len());
    if prefix == 0 {
        return;
    }
    let mut keyed: Vec<(i128, usize)> = items.iter().enumerate().map(|(i, t)| (key(*t), i)).collect();
    if keyed.is_sorted() {
        return;
    }
    if prefix < keyed.len() {
        keyed.select_nth_unstable(prefix - 1);
    }
    keyed[..prefix].sort_unstable();
    let mut taken = vec![false; items.len()];
    let mut arranged = Vec::with_capacity(items.len());
    for (_, i) in &keyed[..prefix] {
        taken[*i] = true;
        arranged.push(items[*i]);
    }
    arranged.extend(
        items
            .iter()
            .zip(&taken)
            .filter(|(_, taken)| !**taken)
            .map(|(t, _)| *t),
    );
    *items = arranged;
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What list responses have shown of a tenant's alerts, and how many list calls of the exported collections it
/// answered (for `adversarial.mutate`).
#[derive(Debug, Default)]
pub struct Exposure {
    alerts: HashSet<String>,
    incidents: HashSet<u64>,
    list_calls: u64,
}

impl Exposure {
    /// Whether a list response returned this alert, directly or through its incident.
    fn returned(&self, alert: &Alert) -> bool {
        self.incidents.contains(&alert.incident_id) || self.alerts.contains(&alert.id)
    }

    /// Starts counting list calls again (the mutation settings changed).
    pub fn reset_calls(&mut self) {
        self.list_calls = 0;
    }
}

/// The records a list response returned.
#[derive(Debug)]
pub enum Listed {
    /// Alert ids (MDE alerts, machine alerts, Graph alerts_v2).
    Alerts(Vec<String>),
    /// Incident ids (Microsoft 365 Defender and Graph incidents): their alerts count as returned.
    Incidents(Vec<u64>),
}

/// Records what a list response returned and, for the four exported collections (`counted`), counts the call and
/// makes the changes `plan.mutate` asks for after it. Call it after the page is computed, with the world locked.
pub fn after_list(
    data: &mut TenantData,
    listed: Listed,
    counted: bool,
    plan: &ListPlan,
    now: OffsetDateTime,
) -> Option<MutationReport> {
    match listed {
        Listed::Alerts(ids) => data.exposure.alerts.extend(ids),
        Listed::Incidents(ids) => data.exposure.incidents.extend(ids),
    }
    if !counted {
        return None;
    }
    data.exposure.list_calls += 1;
    let calls = data.exposure.list_calls;
    let m = plan.mutate.as_ref()?;
    let fires = calls == m.after_list_calls
        || m.repeat_every.is_some_and(|every| {
            every > 0 && calls > m.after_list_calls && (calls - m.after_list_calls).is_multiple_of(every)
        });
    if !fires {
        return None;
    }
    let report = mutate(data, m.update_returned, m.update_unreturned, m.create, now);
    tracing::info!(
        calls,
        updated_returned = report.updated_returned.len(),
        updated_unreturned = report.updated_unreturned.len(),
        created = report.created.len(),
        "adversarial mutation after a list call"
    );
    Some(report)
}

/// What a mutation changed: every id as the APIs render it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MutationReport {
    /// The last-update time stamped on every changed alert and its incident (and the creation time of new ones).
    pub last_update_time: String,
    /// Updated alerts that a list response had already returned.
    pub updated_returned: Vec<String>,
    /// Updated alerts that no list response had returned.
    pub updated_unreturned: Vec<String>,
    /// New alerts (each in a new incident).
    pub created: Vec<String>,
    /// The incidents of the changed and created alerts.
    pub incidents: Vec<String>,
}

/// What a bulk update changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkUpdateReport {
    /// The one last-update time every updated alert (and its incident) now has.
    pub last_update_time: String,
    /// The updated alerts.
    pub updated: Vec<String>,
}

/// Updates up to `update_returned` alerts some list response returned and up to `update_unreturned` none returned,
/// and creates `create` alerts, each in a new incident; everything stamped `now`.
pub fn mutate(
    data: &mut TenantData,
    update_returned: usize,
    update_unreturned: usize,
    create: usize,
    now: OffsetDateTime,
) -> MutationReport {
    let (returned, unreturned): (Vec<usize>, Vec<usize>) =
        (0..data.alerts.len()).partition(|&i| data.exposure.returned(&data.alerts[i]));
    let mut report = MutationReport {
        last_update_time: format_time(now),
        updated_returned: Vec::new(),
        updated_unreturned: Vec::new(),
        created: Vec::new(),
        incidents: Vec::new(),
    };
    let mut incidents = HashSet::new();
    for (pool, want, out) in [
        (&returned, update_returned, &mut report.updated_returned),
        (&unreturned, update_unreturned, &mut report.updated_unreturned),
    ] {
        let chosen = rand::seq::index::sample(&mut data.rng, pool.len(), want.min(pool.len()));
        for k in chosen {
            let i = pool[k];
            touch(data, i, now);
            out.push(data.alerts[i].id.clone());
            incidents.insert(data.alerts[i].incident_id);
        }
    }
    for _ in 0..create {
        let i = create_alert(data, now);
        report.created.push(data.alerts[i].id.clone());
        incidents.insert(data.alerts[i].incident_id);
    }
    let mut incidents: Vec<u64> = incidents.into_iter().collect();
    incidents.sort_unstable();
    report.incidents = incidents.iter().map(u64::to_string).collect();
    report
}

/// Stamps `count` alerts (all when fewer) with the same last-update time `now`, as a bulk resolve in the portal
/// does: each becomes `Resolved` (already resolved ones keep their resolved time), and so does its incident's time.
pub fn bulk_update(data: &mut TenantData, count: usize, now: OffsetDateTime) -> BulkUpdateReport {
    let chosen = rand::seq::index::sample(&mut data.rng, data.alerts.len(), count.min(data.alerts.len()));
    let mut incidents = HashSet::new();
    let mut updated = Vec::with_capacity(chosen.len());
    for i in chosen {
        let alert = &mut data.alerts[i];
        if alert.status != "Resolved" {
            alert.status = "Resolved".to_owned();
            alert.resolved_time = Some(now);
        }
        alert.last_update_time = now;
        incidents.insert(alert.incident_id);
        updated.push(alert.id.clone());
    }
    for incident in data.incidents.iter_mut().filter(|i| incidents.contains(&i.id)) {
        incident.last_update_time = now;
    }
    BulkUpdateReport {
        last_update_time: format_time(now),
        updated,
    }
}

/// One visible change to an alert, stamped `now` on it and its incident: New → InProgress → Resolved, and a comment
/// on a resolved alert.
fn touch(data: &mut TenantData, index: usize, now: OffsetDateTime) {
    let by = format!("soc-analyst@{}", data.domain());
    let alert = &mut data.alerts[index];
    match alert.status.as_str() {
        "New" => {
            alert.status = "InProgress".to_owned();
            alert.assigned_to = Some("Automation".to_owned());
        }
        "InProgress" => {
            alert.status = "Resolved".to_owned();
            alert.resolved_time = Some(now);
            alert.investigation_state = "SuccessfullyRemediated".to_owned();
            alert.classification = Some("TruePositive".to_owned());
            alert.determination = Some("Malware".to_owned());
        }
        _ => alert.comments.push(Comment {
            comment: "Reviewed again by the SOC.".to_owned(),
            created_by: by,
            created_time: now,
        }),
    }
    alert.last_update_time = now;
    let incident_id = alert.incident_id;
    if let Some(incident) = data.incidents.iter_mut().find(|i| i.id == incident_id) {
        incident.last_update_time = now;
    }
}

/// Creates one alert in a new incident, created and last updated `now`; returns its index.
fn create_alert(data: &mut TenantData, now: OffsetDateTime) -> usize {
    let domain = data.domain().to_owned();
    let incident_id = seed::new_incident(data, &domain, now, 1);
    let index = data.alerts.len() - 1;
    let alert = &mut data.alerts[index];
    alert.alert_creation_time = now;
    alert.last_event_time = now;
    alert.last_update_time = now;
    if alert.resolved_time.is_some() {
        alert.resolved_time = Some(now);
    }
    if let Some(incident) = data.incidents.iter_mut().rev().find(|i| i.id == incident_id) {
        incident.created_time = now;
        incident.last_update_time = now;
        for comment in &mut incident.comments {
            comment.created_time = now;
        }
    }
    index
}

/// The exported datasets, by the names `current_versions` takes.
pub const DATASETS: [&str; 4] = [
    "mde_alerts",
    "m365d_incidents",
    "graph_incidents",
    "graph_alerts_v2",
];

/// Every record of an exported dataset as (id, last update), rendered exactly as the API renders those fields, in
/// the documented order; `None` for an unknown dataset name.
pub fn current_versions(data: &TenantData, dataset: &str) -> Option<Vec<(String, String)>> {
    let alerts = || {
        api_alerts::ordered(data)
            .into_iter()
            .map(|a| (a.id.clone(), format_time(a.last_update_time)))
            .collect()
    };
    let incidents = || {
        let rollup = IncidentRollup::new(data);
        api_incidents::ordered(data)
            .into_iter()
            .map(|i| (i.id.to_string(), format_time(rollup.summary(i).last_update(i))))
            .collect()
    };
    match dataset {
        "mde_alerts" | "graph_alerts_v2" => Some(alerts()),
        "m365d_incidents" | "graph_incidents" => Some(incidents()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(order: ListOrder, seed: u64) -> ListPlan {
        ListPlan {
            order,
            seed,
            visible_until: None,
            mutate: None,
            graph_omit_next_link_with_top: false,
            graph_max_skip: None,
        }
    }

    #[test]
    fn a_sorted_prefix_is_the_prefix_of_the_full_sort() {
        // Keys with many ties: the tie-break on position makes the order total.
        let keys: Vec<i128> = (0..500u64).map(|i| i128::from(splitmix(i) % 37)).collect();
        let mut full: Vec<usize> = (0..keys.len()).collect();
        full.sort_by_key(|&i| (keys[i], i));
        for prefix in [0, 1, 7, 100, 499, 500, 900] {
            let mut items: Vec<usize> = (0..keys.len()).collect();
            sort_prefix(&mut items, prefix, |i| keys[i]);
            let n = prefix.min(keys.len());
            assert_eq!(items[..n], full[..n], "prefix {prefix}");
            let mut all = items.clone();
            all.sort_unstable();
            assert_eq!(all, (0..keys.len()).collect::<Vec<_>>(), "a permutation");
        }
    }

    #[test]
    fn unstable_orders_differ_per_seed_and_keep_every_record() {
        let base: Vec<usize> = (0..50).collect();
        let epoch = |_: usize| OffsetDateTime::UNIX_EPOCH;
        let mut a = base.clone();
        plan(ListOrder::Unstable, 1).arrange(&mut a, 50, epoch, epoch);
        let mut b = base.clone();
        plan(ListOrder::Unstable, 2).arrange(&mut b, 50, epoch, epoch);
        assert_ne!(a, b);
        assert_ne!(a, base);
        a.sort_unstable();
        assert_eq!(a, base);
    }
}
