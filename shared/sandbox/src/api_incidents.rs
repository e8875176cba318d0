//! Microsoft 365 Defender incidents: list (`$top` ≤ 100, `$skip`, `$filter` on lastUpdateTime, createdTime, status,
//! assignedTo), get, PATCH.
//!
//! Documented order: newest first (`createdTime` descending, then `incidentId` descending); see
//! `adversarial.list_order` for the others.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::adversarial::{self, ListPlan, Listed};
use crate::api_common::{
    self, base_url, collection, entity, enum_value, invalid_input, object_body, off_runtime, opt_string,
    query_options,
};
use crate::api_error::{ApiError, Flavor};
use crate::auth::{Api, Operation, authorize};
use crate::model::{Alert, Comment, Incident, IncidentStatus};
use crate::odata::{self, CollectionSpec, PropType};
use crate::props;
use crate::rate_limit::Limits;
use crate::render_m365d;
use crate::state::AppState;
use crate::store::{IncidentRollup, TenantData};

const F: Flavor = Flavor::Mde;
const READ: &[&str] = &["Incident.Read.All", "Incident.ReadWrite.All"];
const LIST: Operation = Operation {
    api: Api::M365d,
    name: "m365d.incidents.list",
    roles: READ,
    limits: Limits {
        per_minute: Some(50),
        per_hour: Some(1500),
    },
};
const GET: Operation = Operation {
    api: Api::M365d,
    name: "m365d.incidents.get",
    roles: READ,
    limits: Limits {
        per_minute: Some(100),
        per_hour: Some(1500),
    },
};
const UPDATE: Operation = Operation {
    api: Api::M365d,
    name: "m365d.incidents.update",
    roles: &["Incident.ReadWrite.All"],
    limits: Limits {
        per_minute: Some(50),
        per_hour: Some(1500),
    },
};

/// `$filter` properties of incidents (DD api-list-incidents.md).
pub const SPEC: CollectionSpec = CollectionSpec {
    entity: "Microsoft.Security.Api.Incident",
    props: &[
        ("lastUpdateTime", PropType::DateTime),
        ("createdTime", PropType::DateTime),
        ("status", PropType::Str),
        ("assignedTo", PropType::Str),
    ],
    expand: &[],
    top_max: Some(100),
    count: false,
    or: true,
};

/// Incidents of a tenant, newest first (seeding stores them in the reverse order, so this sort is linear).
pub fn ordered(data: &TenantData) -> Vec<&Incident> {
    let mut list: Vec<&Incident> = data.incidents.iter().collect();
    list.sort_by(|a, b| b.created_time.cmp(&a.created_time).then_with(|| b.id.cmp(&a.id)));
    list
}

/// Renders a page of incidents, gathering their alerts in one pass over the tenant's alerts.
pub fn render_page(
    data: &TenantData,
    page: &[&Incident],
    render: impl Fn(&Incident, &[&Alert]) -> Value,
) -> Vec<Value> {
    let alerts = data.alerts_of(page);
    page.iter()
        .map(|i| render(i, alerts.get(&i.id).map_or(&[][..], Vec::as_slice)))
        .collect()
}

/// `GET /api/incidents`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, LIST)?;
    let options = query_options(F, query.as_deref(), &SPEC)?;
    let plan = state.adversary.plan(state.clock.now());
    let context = format!("{}/api/$metadata#Incidents", base_url(&headers));
    off_runtime(F, move || {
        let mut world = state.world();
        let (page, ids) = match world.tenant(&caller.tenant_id) {
            Some(d) => {
                let rollup = IncidentRollup::new(d);
                let render =
                    |i: &Incident, alerts: &[&Alert]| render_m365d::incident(d, i, alerts, &caller.tenant_id);
                let (page, _) = odata::apply_with(
                    visible(d, &rollup, &plan),
                    |i, p| props::m365d_incident(i, p, &rollup),
                    |i| render(i, &d.incident_alerts(i.id)),
                    &options,
                    100,
                    |items, prefix| {
                        plan.arrange(
                            items,
                            prefix,
                            |i| i.created_time,
                            |i| rollup.summary(i).last_update(i),
                        );
                    },
                );
                let ids: Vec<u64> = page.iter().map(|i| i.id).collect();
                (render_page(d, &page, render), ids)
            }
            None => (Vec::new(), Vec::new()),
        };
        if let Some(d) = world.tenant_mut(&caller.tenant_id) {
            adversarial::after_list(d, Listed::Incidents(ids), true, &plan, state.clock.now());
        }
        Ok(collection(context, page))
    })
    .await
}

/// The tenant's incidents a list shows now (`adversarial.visibility_lag_seconds`), in the documented order.
pub fn visible<'d>(data: &'d TenantData, rollup: &IncidentRollup<'_>, plan: &ListPlan) -> Vec<&'d Incident> {
    let mut list = ordered(data);
    if plan.visible_until.is_some() {
        list.retain(|i| plan.visible(rollup.summary(i).last_update(i)));
    }
    list
}

fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found(F, "Incident", id))
}

/// `GET /api/incidents/{id}`.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, GET)?;
    let n = parse_id(&id)?;
    let world = state.world();
    let data = world
        .tenant(&caller.tenant_id)
        .ok_or_else(|| ApiError::not_found(F, "Incident", &id))?;
    let incident = data
        .incidents
        .iter()
        .find(|i| i.id == n)
        .ok_or_else(|| ApiError::not_found(F, "Incident", &id))?;
    let value = render_m365d::incident(data, incident, &data.incident_alerts(n), &caller.tenant_id);
    Ok(Json(entity(
        format!("{}/api/$metadata#Incidents/$entity", base_url(&headers)),
        value,
    ))
    .into_response())
}

/// Update values (api-update-incidents.md; defender-api.md §5.1): the update page's three classifications; the
/// determinations of the list page, the resource page and the update page together, without the retired `Apt` and
/// `SecurityPersonnel` (refused with a 400 naming them, defender-api.md §8).
const CLASSIFICATIONS: &[&str] = &["TruePositive", "InformationalExpectedActivity", "FalsePositive"];
const DETERMINATIONS: &[&str] = &[
    "NotAvailable",
    "Malware",
    "SecurityTesting",
    "UnwantedSoftware",
    "Other",
    "MultiStagedAttack",
    "MaliciousUserActivity",
    "CompromisedUser",
    "Phishing",
    "LineOfBusinessApplication",
    "ConfirmedUserActivity",
    "Clean",
    "InsufficientData",
    "CompromisedAccount",
    "ConfirmedActivity",
    "NoEnoughDataToValidate",
];

const FIELDS: &[&str] = &[
    "status",
    "assignedTo",
    "classification",
    "determination",
    "tags",
    "comment",
];

/// `PATCH /api/incidents/{id}`.
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, UPDATE)?;
    let n = parse_id(&id)?;
    let map = object_body(F, &body, FIELDS, &[])?;
    let status = opt_string(F, &map, "status")?
        .map(|s| {
            enum_value(
                F,
                "status",
                &s,
                &["Active", "InProgress", "Resolved", "Redirected"],
            )
        })
        .transpose()?;
    let classification = opt_string(F, &map, "classification")?
        .map(|c| enum_value(F, "classification", &c, CLASSIFICATIONS))
        .transpose()?;
    let determination = opt_string(F, &map, "determination")?
        .map(|d| api_common::determination(F, &d, |v| enum_value(F, "determination", v, DETERMINATIONS)))
        .transpose()?;
    let tags: Option<Vec<String>> = match map.get("tags") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
        Some(_) => return Err(invalid_input(F, "tags must be a list of strings.")),
    };
    let assigned_to = opt_string(F, &map, "assignedTo")?;
    let comment = opt_string(F, &map, "comment")?;
    let now = state.clock.now();
    let mut world = state.world();
    let data = world
        .tenant_mut(&caller.tenant_id)
        .ok_or_else(|| ApiError::not_found(F, "Incident", &id))?;
    let incident = data
        .incidents
        .iter_mut()
        .find(|i| i.id == n)
        .ok_or_else(|| ApiError::not_found(F, "Incident", &id))?;
    if let Some(s) = status {
        incident.status = match s.as_str() {
            "InProgress" => IncidentStatus::InProgress,
            "Resolved" => IncidentStatus::Resolved,
            "Redirected" => IncidentStatus::Redirected,
            _ => IncidentStatus::Active,
        };
    }
    if let Some(c) = classification {
        incident.classification = Some(c);
    }
    if let Some(d) = determination {
        incident.determination = Some(d);
    }
    if let Some(t) = tags {
        incident.tags = t;
    }
    if let Some(a) = assigned_to {
        incident.assigned_to = Some(a);
    }
    if let Some(c) = comment {
        incident.comments.push(Comment {
            comment: c,
            created_by: caller.app_id.clone(),
            created_time: now,
        });
    }
    incident.last_update_time = now;
    let snapshot = incident.clone();
    let value = render_m365d::incident(data, &snapshot, &data.incident_alerts(n), &caller.tenant_id);
    Ok(Json(entity(
        format!("{}/api/$metadata#Incidents/$entity", base_url(&headers)),
        value,
    ))
    .into_response())
}
