//! Typed property accessors for the large collections, so `$filter` and `$orderby` run on the model and only the
//! returned page is rendered (see [`odata::apply_with`](crate::odata::apply_with)). Each accessor answers exactly
//! what the matching `render_*` function renders (the test below checks every answered property over the demo
//! world); `None` means "not known here: render the record and read its JSON".

use std::borrow::Cow;

use crate::model::{Alert, Incident};
use crate::odata::Prop;
use crate::render_graph::{self, camel};
use crate::render_m365d;
use crate::store::IncidentRollup;

/// A property of an MDE alert ([`render_mde::alert`](crate::render_mde::alert)).
pub fn mde_alert<'a>(a: &'a Alert, prop: &str) -> Option<Prop<'a>> {
    Some(match prop {
        "id" => Prop::str(&a.id),
        "incidentId" => Prop::num(a.incident_id),
        "investigationId" => a.investigation_id.map_or(Prop::Null, Prop::num),
        "assignedTo" => Prop::opt_str(a.assigned_to.as_deref()),
        "severity" => Prop::str(&a.severity),
        "status" => Prop::str(&a.status),
        "detectionSource" => Prop::str(&a.detection_source),
        "category" => Prop::str(&a.category),
        "title" => Prop::str(&a.title),
        "machineId" => Prop::str(&a.machine_id),
        "computerDnsName" => Prop::str(&a.computer_dns_name),
        "alertCreationTime" => Prop::time(a.alert_creation_time),
        "firstEventTime" => Prop::time(a.first_event_time),
        "lastEventTime" => Prop::time(a.last_event_time),
        "lastUpdateTime" => Prop::time(a.last_update_time),
        "resolvedTime" => Prop::opt_time(a.resolved_time),
        _ => return None,
    })
}

/// A property of a Graph alerts_v2 record ([`render_graph::alert`]).
pub fn graph_alert<'a>(a: &'a Alert, prop: &str) -> Option<Prop<'a>> {
    let camel_or_unknown =
        |v: &Option<String>| Prop::Str(v.as_deref().map_or(Cow::Borrowed("unknown"), |s| camel(s).into()));
    Some(match prop {
        "id" => Prop::str(&a.id),
        "status" => Prop::Str(camel(&a.status).into()),
        "severity" => Prop::Str(camel(&a.severity).into()),
        "classification" => camel_or_unknown(&a.classification),
        "determination" => camel_or_unknown(&a.determination),
        "serviceSource" => Prop::str("microsoftDefenderForEndpoint"),
        "assignedTo" => Prop::opt_str(a.assigned_to.as_deref()),
        "title" => Prop::str(&a.title),
        "createdDateTime" => Prop::time(a.alert_creation_time),
        "lastUpdateDateTime" => Prop::time(a.last_update_time),
        "resolvedDateTime" => Prop::opt_time(a.resolved_time),
        "firstActivityDateTime" => Prop::time(a.first_event_time),
        "lastActivityDateTime" => Prop::time(a.last_event_time),
        _ => return None,
    })
}

/// A property of a Microsoft 365 Defender incident ([`render_m365d::incident`]).
pub fn m365d_incident<'a>(i: &'a Incident, prop: &str, rollup: &IncidentRollup<'_>) -> Option<Prop<'a>> {
    Some(match prop {
        "incidentId" => Prop::num(i.id),
        "incidentName" => Prop::str(&i.name),
        "createdTime" => Prop::time(i.created_time),
        "lastUpdateTime" => Prop::time(rollup.summary(i).last_update(i)),
        "assignedTo" => Prop::opt_str(i.assigned_to.as_deref()),
        "classification" => Prop::str(i.classification.as_deref().unwrap_or("Unknown")),
        "determination" => Prop::str(i.determination.as_deref().unwrap_or("NotAvailable")),
        "status" => Prop::str(render_m365d::status(i.status)),
        "severity" => Prop::str(rollup.summary(i).severity()),
        _ => return None,
    })
}

/// A property of a Graph incident ([`render_graph::incident`]).
pub fn graph_incident<'a>(
    i: &'a Incident,
    prop: &str,
    rollup: &IncidentRollup<'_>,
    include_unknown: bool,
) -> Option<Prop<'a>> {
    let camel_or_unknown = |v: &Option<String>| Prop::Str(camel(v.as_deref().unwrap_or("Unknown")).into());
    Some(match prop {
        "status" => Prop::str(render_graph::status(i.status, include_unknown)),
        "displayName" => Prop::str(&i.name),
        "createdDateTime" => Prop::time(i.created_time),
        "lastUpdateDateTime" => Prop::time(rollup.summary(i).last_update(i)),
        "assignedTo" => Prop::opt_str(i.assigned_to.as_deref()),
        "classification" => camel_or_unknown(&i.classification),
        "determination" => camel_or_unknown(&i.determination),
        "severity" => Prop::Str(render_graph::severity(rollup.summary(i).severity()).into()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use serde_json::Value;

    use super::*;
    use crate::odata::{CollectionSpec, agrees};
    use crate::store::{TenantData, World};
    use crate::{SandboxConfig, api_alerts, api_graph, api_incidents, render_mde};

    /// Every property of `spec` (plus a few extra names) that `fast` answers agrees with the rendering.
    fn check<T>(
        what: &str,
        items: &[T],
        spec: &CollectionSpec,
        fast: impl for<'x> Fn(&'x T, &str) -> Option<Prop<'x>>,
        render: impl Fn(&T) -> Value,
    ) {
        assert!(!items.is_empty(), "{what}: the demo world has records");
        let extra = [
            "id",
            "title",
            "incidentId",
            "incidentName",
            "displayName",
            "resolvedDateTime",
        ];
        let names: Vec<&str> = spec.props.iter().map(|(p, _)| *p).chain(extra).collect();
        let mut answered = 0;
        for item in items {
            let rendered = render(item);
            for name in &names {
                if let Some(value) = fast(item, name) {
                    answered += 1;
                    assert!(
                        agrees(&value, rendered.get(*name)),
                        "{what}.{name}: model {value:?} != rendered {:?}",
                        rendered.get(*name)
                    );
                }
            }
        }
        for (name, _) in spec.props {
            assert!(fast(&items[0], name).is_some(), "{what}: {name} has an accessor");
        }
        assert!(answered > items.len(), "{what}: accessors answer");
    }

    fn demo() -> (World, String) {
        let config = SandboxConfig::default();
        let world = World::seed(&config, time::OffsetDateTime::now_utc());
        (world, crate::DEMO_TENANT_FULL.to_owned())
    }

    fn with_updates(data: &mut TenantData) {
        // An alert updated later than its incident, so the incident's rendered lastUpdateTime comes from an alert.
        let now = time::OffsetDateTime::now_utc() + time::Duration::nanoseconds(123_456_789);
        if let Some(alert) = data.alerts.first_mut() {
            alert.last_update_time = now;
        }
    }

    #[test]
    fn accessors_agree_with_the_rendered_json() {
        let (mut world, tenant) = demo();
        with_updates(world.tenant_mut(&tenant).expect("demo tenant"));
        let data = world.tenant(&tenant).expect("demo tenant");
        let alerts: Vec<&Alert> = data.alerts.iter().collect();
        for expand in [false, true] {
            check(
                "mde alert",
                &alerts,
                &api_alerts::SPEC,
                |a, p| mde_alert(a, p),
                |a| render_mde::alert(a, &tenant, expand),
            );
        }
        check(
            "graph alert",
            &alerts,
            &api_graph::ALERTS,
            |a, p| graph_alert(a, p),
            |a| render_graph::alert(a, data.machine(&a.machine_id), &tenant),
        );
        let incidents: Vec<&Incident> = data.incidents.iter().collect();
        let rollup = IncidentRollup::new(data);
        check(
            "m365d incident",
            &incidents,
            &api_incidents::SPEC,
            |i, p| m365d_incident(i, p, &rollup),
            |i| render_m365d::incident(data, i, &data.incident_alerts(i.id), &tenant),
        );
        for unknown in [false, true] {
            check(
                "graph incident",
                &incidents,
                &api_graph::INCIDENTS,
                |i, p| graph_incident(i, p, &rollup, unknown),
                |i| render_graph::incident(data, i, &data.incident_alerts(i.id), &tenant, false, unknown),
            );
        }
    }
}
