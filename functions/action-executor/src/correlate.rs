//! External alert correlation: find the device, then record the partner's alert on the Defender side.
//!
//! - With an event reference (`ReportId` and time of a Defender event, found by advanced hunting):
//!   `CreateAlertByReference` (15/min), which Defender merges into an open alert of the same device and title —
//!   so a retry does not create a second alert (`shared/defender-api.md` 4.2, 8).
//! - Without one: a comment on the device's most recently updated open alert (`New` or `InProgress`,
//!   `GET /api/machines/{id}/alerts`), which is in the device's incident too. No open alert is an outcome with
//!   the reason, not a silent skip.

use mde_contracts::{ExternalAlertV1, OutcomeCode, PartnerSeverity};
use mde_defender::DefenderClient;
use mde_defender::api::AlertByReference;
use mde_defender::api::endpoint as ep;
use serde_json::{Value, json};

use crate::step::{Calls, Step, on_error, outcome, planned};

/// The comment recorded on an alert: who, what, when; within Defender's 1,000 characters.
fn comment_text(key_id: &str, e: &ExternalAlertV1) -> String {
    let text = format!(
        "Partner alert {} via mde-bridge key {key_id} ({:?}, {}): {}{}",
        e.alert.id,
        e.alert.severity,
        e.alert.time,
        e.alert.title,
        if e.alert.description.is_empty() {
            String::new()
        } else {
            format!(" — {}", e.alert.description)
        }
    );
    text.chars().take(1000).collect()
}

fn severity(s: PartnerSeverity) -> &'static str {
    // CreateAlertByReference takes Low, Medium or High: an informational partner alert is created Low.
    match s {
        PartnerSeverity::Informational | PartnerSeverity::Low => "Low",
        PartnerSeverity::Medium => "Medium",
        PartnerSeverity::High => "High",
    }
}

fn last_update(alert: &Value) -> String {
    alert
        .get("lastUpdateTime")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Correlates a partner's alert.
pub async fn perform(client: &DefenderClient, key_id: &str, e: &ExternalAlertV1, calls: &mut Calls) -> Step {
    let tenant = &e.tenant_id;
    let machine = match crate::device::resolve(client, tenant, &e.device, calls).await {
        Ok(m) => m,
        Err(step) => return step,
    };
    if let Some(reference) = &e.reference {
        let body = AlertByReference {
            event_time: reference.event_time.clone(),
            report_id: reference.report_id.clone(),
            machine_id: machine.id.clone(),
            severity: severity(e.alert.severity).into(),
            title: e.alert.title.clone(),
            description: comment_text(key_id, e),
            recommended_action: reference
                .recommended_action
                .clone()
                .unwrap_or_else(|| "Review the partner product's alert and the device's timeline.".into()),
            category: reference
                .category
                .clone()
                .unwrap_or_else(|| "SuspiciousActivity".into()),
        };
        let endpoint = &ep::MDE_ALERTS_CREATE_BY_REFERENCE;
        if calls.dry_run {
            calls.planned(endpoint.name, &machine.id, json!(body).to_string());
            return planned(json!({"machine_id": machine.id}));
        }
        return match client.create_alert_by_reference(tenant, &body).await {
            Ok(alert) => {
                let id = alert.id().unwrap_or_default().to_owned();
                calls.ok(endpoint.name, &machine.id, 200, Some(format!("alert {id}")));
                Step::Done(outcome(
                    OutcomeCode::Succeeded,
                    format!(
                        "alert {id} created on device {} from event {}",
                        machine.id, reference.report_id
                    ),
                    json!({"machine_id": machine.id, "alert_id": id}),
                ))
            }
            Err(err) => {
                calls.failed(endpoint.name, &machine.id, &err);
                on_error(&err, OutcomeCode::NotFound)
            }
        };
    }
    let list = &ep::MDE_MACHINE_ALERTS;
    let alerts = match client.machine_alerts(tenant, &machine.id).await {
        Ok(a) => {
            calls.ok(list.name, &machine.id, 200, Some(format!("{} alert(s)", a.len())));
            a
        }
        Err(err) => {
            calls.failed(list.name, &machine.id, &err);
            return on_error(&err, OutcomeCode::DeviceNotFound);
        }
    };
    let open = alerts
        .iter()
        .filter(|a| {
            matches!(
                a.get("status").and_then(Value::as_str),
                Some("New" | "InProgress")
            )
        })
        .max_by_key(|a| last_update(a));
    let Some(open) = open else {
        return Step::Done(outcome(
            OutcomeCode::NoOpenAlert,
            format!(
                "device {} has no open alert to record the partner's alert on; send it with a reference to a \
                 Defender event to create one",
                machine.id
            ),
            json!({"machine_id": machine.id}),
        ));
    };
    let alert_id = open
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let incident_id = open.get("incidentId").cloned().unwrap_or(Value::Null);
    let update = &ep::MDE_ALERTS_UPDATE;
    let text = comment_text(key_id, e);
    if calls.dry_run {
        calls.planned(update.name, &alert_id, text);
        return planned(json!({"machine_id": machine.id}));
    }
    match client.comment_mde_alert(tenant, &alert_id, &text).await {
        Ok(_) => {
            calls.ok(update.name, &alert_id, 200, Some("comment added".into()));
            Step::Done(outcome(
                OutcomeCode::Succeeded,
                format!("recorded on alert {alert_id} of device {}", machine.id),
                json!({"machine_id": machine.id, "alert_id": alert_id, "incident_id": incident_id}),
            ))
        }
        Err(err) => {
            calls.failed(update.name, &alert_id, &err);
            on_error(&err, OutcomeCode::NotFound)
        }
    }
}
