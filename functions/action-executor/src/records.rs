//! Alert and incident updates: the event's snake_case values mapped to each API's casing, only the values Microsoft
//! documents as accepted today (`mde_contracts::triage`; `shared/defender-api.md` 4.2, 5.1, 6.1, 8).
//!
//! - MDE alerts: `PATCH /api/alerts/{id}`, or one `POST /api/alerts/batchUpdate` (10/min, 500/h) for several.
//! - Microsoft 365 Defender incidents: `PATCH /api/incidents/{id}` (numeric ids), tags and comment in the body.
//! - Graph incidents and alerts_v2: `PATCH` (incident status only `active`, `resolved`, `redirected`), tags as
//!   `customTags`, the comment as a separate `POST …/comments`.

use mde_contracts::triage::{camel, pascal};
use mde_contracts::{DefenderApi, OutcomeCode, UpdateV1};
use mde_defender::DefenderClient;
use mde_defender::api::endpoint as ep;
use mde_defender::api::{GraphAlertUpdate, GraphIncidentUpdate, M365dIncidentUpdate, MdeAlertUpdate};
use serde_json::{Value, json};

use crate::step::{Calls, Step, on_error, outcome, planned};

/// Whether the update is of an alert or an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `alert_update.v1`.
    Alert,
    /// `incident_update.v1`.
    Incident,
}

fn updated(what: &str, ids: &[String], api: &str) -> Step {
    Step::Done(outcome(
        OutcomeCode::Succeeded,
        format!("updated {what} {} ({api})", ids.join(", ")),
        json!({"ids": ids, "api": api}),
    ))
}

/// Performs an update.
pub async fn perform(client: &DefenderClient, u: &UpdateV1, target: Target, calls: &mut Calls) -> Step {
    let tenant = &u.tenant_id;
    let api = u.api.unwrap_or(match target {
        Target::Alert => DefenderApi::Mde,
        Target::Incident => DefenderApi::M365d,
    });
    match (target, api) {
        (Target::Alert, DefenderApi::Mde) => {
            let body = MdeAlertUpdate {
                status: u.status.as_deref().map(pascal),
                assigned_to: u.assigned_to.clone(),
                classification: u.classification.as_deref().map(pascal),
                determination: u.determination.as_deref().map(pascal),
                comment: u.comment.clone(),
            };
            let mut ids = vec![u.id.clone()];
            ids.extend(u.more_ids.clone().unwrap_or_default());
            ids.dedup();
            let (endpoint, result) = if ids.len() == 1 {
                let e = &ep::MDE_ALERTS_UPDATE;
                if calls.dry_run {
                    calls.planned(e.name, &u.id, json!(body).to_string());
                    return planned(Value::Null);
                }
                (e, client.update_mde_alert(tenant, &u.id, &body).await.map(|_| ()))
            } else {
                let e = &ep::MDE_ALERTS_BATCH_UPDATE;
                if calls.dry_run {
                    calls.planned(e.name, &ids.join(","), json!(body).to_string());
                    return planned(Value::Null);
                }
                (e, client.batch_update_mde_alerts(tenant, &ids, &body).await)
            };
            match result {
                Ok(()) => {
                    calls.ok(endpoint.name, &ids.join(","), 200, None);
                    updated("MDE alert(s)", &ids, "mde")
                }
                Err(e) => {
                    calls.failed(endpoint.name, &ids.join(","), &e);
                    on_error(&e, OutcomeCode::NotFound)
                }
            }
        }
        (Target::Incident, DefenderApi::M365d) => {
            let Ok(id) = u.id.parse::<u64>() else {
                return Step::Done(outcome(
                    OutcomeCode::InvalidValue,
                    format!("{} is not a Microsoft 365 Defender incident id (a number)", u.id),
                    Value::Null,
                ));
            };
            let body = M365dIncidentUpdate {
                status: u.status.as_deref().map(pascal),
                assigned_to: u.assigned_to.clone(),
                classification: u.classification.as_deref().map(pascal),
                determination: u.determination.as_deref().map(pascal),
                tags: u.tags.clone(),
                comment: u.comment.clone(),
            };
            let e = &ep::M365D_INCIDENTS_UPDATE;
            if calls.dry_run {
                calls.planned(e.name, &u.id, json!(body).to_string());
                return planned(Value::Null);
            }
            match client.update_m365d_incident(tenant, id, &body).await {
                Ok(_) => {
                    calls.ok(e.name, &u.id, 200, None);
                    updated("incident", std::slice::from_ref(&u.id), "m365d")
                }
                Err(err) => {
                    calls.failed(e.name, &u.id, &err);
                    on_error(&err, OutcomeCode::NotFound)
                }
            }
        }
        (_, DefenderApi::Graph) => graph(client, u, target, calls).await,
        (_, other) => Step::Done(outcome(
            OutcomeCode::InvalidValue,
            format!("{other:?} cannot update this; see the event's api field"),
            Value::Null,
        )),
    }
}

async fn graph(client: &DefenderClient, u: &UpdateV1, target: Target, calls: &mut Calls) -> Step {
    let tenant = &u.tenant_id;
    if target == Target::Incident && u.status.as_deref() == Some("in_progress") {
        return Step::Done(outcome(
            OutcomeCode::InvalidValue,
            "Graph's incident update accepts status active, resolved or redirected, not in_progress",
            Value::Null,
        ));
    }
    let changes = u.status.is_some()
        || u.assigned_to.is_some()
        || u.classification.is_some()
        || u.determination.is_some()
        || u.tags.is_some();
    let (patch, comment) = match target {
        Target::Incident => (&ep::GRAPH_INCIDENTS_UPDATE, &ep::GRAPH_INCIDENTS_COMMENT),
        Target::Alert => (&ep::GRAPH_ALERTS_UPDATE, &ep::GRAPH_ALERTS_COMMENT),
    };
    if changes {
        let result = match target {
            Target::Incident => {
                let body = GraphIncidentUpdate {
                    assigned_to: u.assigned_to.clone(),
                    classification: u.classification.as_deref().map(camel),
                    determination: u.determination.as_deref().map(camel),
                    status: u.status.as_deref().map(camel),
                    custom_tags: u.tags.clone(),
                };
                if calls.dry_run {
                    calls.planned(patch.name, &u.id, json!(body).to_string());
                    Ok(())
                } else {
                    client
                        .update_graph_incident(tenant, &u.id, &body)
                        .await
                        .map(|_| ())
                }
            }
            Target::Alert => {
                let body = GraphAlertUpdate {
                    assigned_to: u.assigned_to.clone(),
                    classification: u.classification.as_deref().map(camel),
                    determination: u.determination.as_deref().map(camel),
                    status: u.status.as_deref().map(camel),
                };
                if calls.dry_run {
                    calls.planned(patch.name, &u.id, json!(body).to_string());
                    Ok(())
                } else {
                    client.update_graph_alert(tenant, &u.id, &body).await.map(|_| ())
                }
            }
        };
        match result {
            Ok(()) if !calls.dry_run => calls.ok(patch.name, &u.id, 200, None),
            Ok(()) => {}
            Err(e) => {
                calls.failed(patch.name, &u.id, &e);
                return on_error(&e, OutcomeCode::NotFound);
            }
        }
    }
    if let Some(text) = &u.comment {
        if calls.dry_run {
            calls.planned(comment.name, &u.id, text.clone());
        } else {
            let result = match target {
                Target::Incident => client.comment_graph_incident(tenant, &u.id, text).await,
                Target::Alert => client.comment_graph_alert(tenant, &u.id, text).await,
            };
            match result {
                Ok(_) => calls.ok(comment.name, &u.id, 200, None),
                Err(e) => {
                    calls.failed(comment.name, &u.id, &e);
                    return on_error(&e, OutcomeCode::NotFound);
                }
            }
        }
    }
    if calls.dry_run {
        return planned(Value::Null);
    }
    let what = match target {
        Target::Incident => "Graph incident",
        Target::Alert => "Graph alert",
    };
    updated(what, std::slice::from_ref(&u.id), "graph")
}
