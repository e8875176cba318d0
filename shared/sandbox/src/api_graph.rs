//! Graph security: incidents (`$expand=alerts`) and alerts_v2 with `$filter`, `$top`, `$skip`, `$count`,
//! `@odata.nextLink` paging; get, PATCH, comments. Evolvable enums follow the `Prefer` header.
//!
//! Documented order: newest first (`createdDateTime` descending, then id); see `adversarial.list_order` for the
//! others. A page holds at most `data.graph_page_size` records; `@odata.nextLink` is present while records remain,
//! unless `adversarial.graph_omit_next_link_with_top` drops it when the request sent `$top`.
//! `adversarial.graph_max_skip` refuses larger `$skip` values with 400 `badRequest`.

use axum::Json;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::adversarial::{self, ListPlan, Listed};
use crate::api_common::{
    self, base_url, entity, include_unknown_enum_members, invalid_input, object_body, off_runtime,
    opt_string, query_options,
};
use crate::api_error::{ApiError, Flavor};
use crate::auth::{Api, Operation, authorize};
use crate::model::{Alert, Comment, Incident, IncidentStatus};
use crate::odata::{self, CollectionSpec, PropType, QueryOptions};
use crate::props;
use crate::rate_limit::Limits;
use crate::render_graph::{self, camel};
use crate::state::AppState;
use crate::store::IncidentRollup;
use crate::{api_alerts, api_incidents};

const F: Flavor = Flavor::Graph;
const LIMITS: Limits = Limits {
    per_minute: Some(150),
    per_hour: None,
};
const INC_READ: &[&str] = &["SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All"];
const ALERT_READ: &[&str] = &["SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"];
const INC_LIST: Operation = Operation {
    api: Api::Graph,
    name: "graph.incidents.list",
    roles: INC_READ,
    limits: LIMITS,
};
const INC_GET: Operation = Operation {
    api: Api::Graph,
    name: "graph.incidents.get",
    roles: INC_READ,
    limits: LIMITS,
};
const INC_WRITE: Operation = Operation {
    api: Api::Graph,
    name: "graph.incidents.update",
    roles: &["SecurityIncident.ReadWrite.All"],
    limits: LIMITS,
};
const ALERT_LIST: Operation = Operation {
    api: Api::Graph,
    name: "graph.alerts.list",
    roles: ALERT_READ,
    limits: LIMITS,
};
const ALERT_GET: Operation = Operation {
    api: Api::Graph,
    name: "graph.alerts.get",
    roles: ALERT_READ,
    limits: LIMITS,
};
const ALERT_WRITE: Operation = Operation {
    api: Api::Graph,
    name: "graph.alerts.update",
    roles: &["SecurityAlert.ReadWrite.All"],
    limits: LIMITS,
};

/// `$filter` properties of Graph incidents.
pub const INCIDENTS: CollectionSpec = CollectionSpec {
    entity: "microsoft.graph.security.incident",
    props: &[
        ("assignedTo", PropType::Str),
        ("classification", PropType::Str),
        ("createdDateTime", PropType::DateTime),
        ("determination", PropType::Str),
        ("lastUpdateDateTime", PropType::DateTime),
        ("severity", PropType::Str),
        ("status", PropType::Str),
    ],
    expand: &["alerts"],
    top_max: None,
    count: true,
    or: true,
};

/// `$filter` properties of Graph alerts_v2.
pub const ALERTS: CollectionSpec = CollectionSpec {
    entity: "microsoft.graph.security.alert",
    props: &[
        ("assignedTo", PropType::Str),
        ("classification", PropType::Str),
        ("determination", PropType::Str),
        ("createdDateTime", PropType::DateTime),
        ("lastUpdateDateTime", PropType::DateTime),
        ("severity", PropType::Str),
        ("serviceSource", PropType::Str),
        ("status", PropType::Str),
    ],
    expand: &[],
    top_max: None,
    count: true,
    or: true,
};

/// One Graph page: `select` gets the caller's options with `$top` capped at the configured page size (and that size
/// as the default `$top`) and answers the rendered page and the number matched; adds `@odata.count` and
/// `@odata.nextLink` (as `plan` allows).
fn page(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    options: &QueryOptions,
    plan: &ListPlan,
    context: &str,
    select: impl FnOnce(&QueryOptions, usize) -> (Vec<Value>, usize),
) -> Result<Response, ApiError> {
    if let Some(max) = plan.graph_max_skip
        && options.skip > max
    {
        return Err(ApiError::bad_request(
            F,
            format!(
                "Invalid value '{}' for query option '$skip': the maximum allowed value is {max}.",
                options.skip
            ),
        ));
    }
    let page_size = state.config.data.graph_page_size.max(1);
    let options_for_page = QueryOptions {
        top: Some(options.top.unwrap_or(page_size).min(page_size)),
        skip: options.skip,
        filter: options.filter.clone(),
        ..QueryOptions::default()
    };
    let (values, total) = select(&options_for_page, page_size);
    let mut body = Map::new();
    body.insert(
        "@odata.context".to_owned(),
        json!(format!("{}/v1.0/$metadata#{context}", base_url(headers))),
    );
    if options.count {
        body.insert("@odata.count".to_owned(), json!(total));
    }
    let next_skip = options.skip + values.len();
    let omit = plan.graph_omit_next_link_with_top && options.top.is_some();
    if next_skip < total && !values.is_empty() && !omit {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let raw = uri.query().unwrap_or_default();
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            if k != "$skip" {
                query.append_pair(&k, &v);
            }
        }
        query.append_pair("$skip", &next_skip.to_string());
        body.insert(
            "@odata.nextLink".to_owned(),
            json!(format!("{}{}?{}", base_url(headers), uri.path(), query.finish())),
        );
    }
    body.insert("value".to_owned(), Value::Array(values));
    Ok(Json(Value::Object(body)).into_response())
}

/// `GET /v1.0/security/incidents`.
pub async fn list_incidents(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, INC_LIST)?;
    let options = query_options(F, query.as_deref(), &INCIDENTS)?;
    let expand = options.expand.iter().any(|e| e == "alerts");
    let unknown = include_unknown_enum_members(&headers);
    let plan = state.adversary.plan(state.clock.now());
    off_runtime(F, move || {
        page(
            &state,
            &headers,
            &uri,
            &options,
            &plan,
            "security/incidents",
            |paged, size| {
                let mut world = state.world();
                let (values, total, ids) = {
                    let Some(d) = world.tenant(&caller.tenant_id) else {
                        return (Vec::new(), 0);
                    };
                    let rollup = IncidentRollup::new(d);
                    let render = |i: &Incident, alerts: &[&Alert]| {
                        render_graph::incident(d, i, alerts, &caller.tenant_id, expand, unknown)
                    };
                    let (items, total) = odata::apply_with(
                        api_incidents::visible(d, &rollup, &plan),
                        |i, p| props::graph_incident(i, p, &rollup, unknown),
                        |i| render(i, &d.incident_alerts(i.id)),
                        paged,
                        size,
                        |items, prefix| {
                            plan.arrange(
                                items,
                                prefix,
                                |i| i.created_time,
                                |i| rollup.summary(i).last_update(i),
                            );
                        },
                    );
                    let ids: Vec<u64> = items.iter().map(|i| i.id).collect();
                    (api_incidents::render_page(d, &items, render), total, ids)
                };
                if let Some(d) = world.tenant_mut(&caller.tenant_id) {
                    adversarial::after_list(d, Listed::Incidents(ids), true, &plan, state.clock.now());
                }
                (values, total)
            },
        )
    })
    .await
}

/// `GET /v1.0/security/incidents/{id}`.
pub async fn get_incident(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, INC_GET)?;
    let options = query_options(F, query.as_deref(), &INCIDENTS)?;
    let expand = options.expand.iter().any(|e| e == "alerts");
    let world = state.world();
    let data = world
        .tenant(&caller.tenant_id)
        .ok_or_else(|| ApiError::not_found(F, "Incident", &id))?;
    let incident = data
        .incidents
        .iter()
        .find(|i| i.id.to_string() == id)
        .ok_or_else(|| ApiError::not_found(F, "Incident", &id))?;
    let value = render_graph::incident(
        data,
        incident,
        &data.incident_alerts(incident.id),
        &caller.tenant_id,
        expand,
        include_unknown_enum_members(&headers),
    );
    Ok(Json(entity(
        format!("{}/v1.0/$metadata#security/incidents/$entity", base_url(&headers)),
        value,
    ))
    .into_response())
}

/// Accepts Graph enum values in camelCase or PascalCase (the docs use both) and returns the M365D casing.
fn graph_enum(name: &str, value: &str, allowed: &[&str]) -> Result<String, ApiError> {
    allowed
        .iter()
        .find(|a| camel(a) == value || **a == value)
        .map(|a| (*a).to_owned())
        .ok_or_else(|| invalid_input(F, format!("Invalid value '{value}' for {name}.")))
}

const CLASSIFICATIONS: &[&str] = &[
    "Unknown",
    "FalsePositive",
    "TruePositive",
    "InformationalExpectedActivity",
    "UnknownFutureValue",
];
/// Graph's alertDetermination members (security-alert.md, with the enum table's and incident-update page's
/// spellings), without the retired `apt` and `securityPersonnel`: refused with a 400 naming them (defender-api.md
/// §6.2, §8).
const DETERMINATIONS: &[&str] = &[
    "Unknown",
    "Malware",
    "SecurityTesting",
    "UnwantedSoftware",
    "Other",
    "MultiStagedAttack",
    "CompromisedUser",
    "CompromisedAccount",
    "Phishing",
    "MaliciousUserActivity",
    "Clean",
    "NotMalicious",
    "InsufficientData",
    "NotEnoughDataToValidate",
    "ConfirmedUserActivity",
    "ConfirmedActivity",
    "LineOfBusinessApplication",
    "UnknownFutureValue",
];

/// `PATCH /v1.0/security/incidents/{id}`.
pub async fn update_incident(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, INC_WRITE)?;
    let map = object_body(
        F,
        &body,
        &[
            "assignedTo",
            "classification",
            "determination",
            "status",
            "customTags",
            "resolvingComment",
        ],
        &[],
    )?;
    // security-incident-update.md accepts only these (defender-api.md §6.1, §8); `unknownFutureValue` is
    // accepted and changes nothing (there is no status to set).
    let status = opt_string(F, &map, "status")?
        .map(|s| {
            graph_enum(
                "status",
                &s,
                &["Active", "Resolved", "Redirected", "UnknownFutureValue"],
            )
        })
        .transpose()?;
    let classification = opt_string(F, &map, "classification")?
        .map(|c| graph_enum("classification", &c, CLASSIFICATIONS))
        .transpose()?;
    let determination = opt_string(F, &map, "determination")?
        .map(|d| api_common::determination(F, &d, |v| graph_enum("determination", v, DETERMINATIONS)))
        .transpose()?;
    let tags: Option<Vec<String>> = match map.get("customTags") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
        Some(_) => return Err(invalid_input(F, "customTags must be a list of strings.")),
    };
    let assigned_to = opt_string(F, &map, "assignedTo")?;
    let resolving = opt_string(F, &map, "resolvingComment")?;
    let now = state.clock.now();
    let mut world = state.world();
    let data = world
        .tenant_mut(&caller.tenant_id)
        .ok_or_else(|| ApiError::not_found(F, "Incident", &id))?;
    let incident = data
        .incidents
        .iter_mut()
        .find(|i| i.id.to_string() == id)
        .ok_or_else(|| ApiError::not_found(F, "Incident", &id))?;
    match status.as_deref() {
        Some("Resolved") => incident.status = IncidentStatus::Resolved,
        Some("Redirected") => incident.status = IncidentStatus::Redirected,
        Some("Active") => incident.status = IncidentStatus::Active,
        _ => {}
    }
    if classification.is_some() {
        incident.classification = classification;
    }
    if determination.is_some() {
        incident.determination = determination;
    }
    if let Some(t) = tags {
        incident.tags = t;
    }
    if let Some(a) = assigned_to {
        incident.assigned_to = Some(a);
    }
    if let Some(c) = resolving {
        incident.comments.push(Comment {
            comment: c,
            created_by: caller.app_id.clone(),
            created_time: now,
        });
    }
    incident.last_update_time = now;
    let snapshot = incident.clone();
    let value = render_graph::incident(
        data,
        &snapshot,
        &data.incident_alerts(snapshot.id),
        &caller.tenant_id,
        false,
        include_unknown_enum_members(&headers),
    );
    Ok(Json(entity(
        format!("{}/v1.0/$metadata#security/incidents/$entity", base_url(&headers)),
        value,
    ))
    .into_response())
}

/// `GET /v1.0/security/alerts_v2`.
pub async fn list_alerts(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, ALERT_LIST)?;
    let options = query_options(F, query.as_deref(), &ALERTS)?;
    let plan = state.adversary.plan(state.clock.now());
    off_runtime(F, move || {
        page(
            &state,
            &headers,
            &uri,
            &options,
            &plan,
            "security/alerts_v2",
            |paged, size| {
                let mut world = state.world();
                let (values, total, ids) = {
                    let Some(d) = world.tenant(&caller.tenant_id) else {
                        return (Vec::new(), 0);
                    };
                    let mut alerts = api_alerts::ordered(d);
                    if plan.visible_until.is_some() {
                        alerts.retain(|a| plan.visible(a.last_update_time));
                    }
                    let render =
                        |a: &&Alert| render_graph::alert(a, d.machine(&a.machine_id), &caller.tenant_id);
                    let (items, total) = odata::apply_with(
                        alerts,
                        |a, p| props::graph_alert(a, p),
                        render,
                        paged,
                        size,
                        |items, prefix| plan.arrange(items, prefix, api_alerts::created, api_alerts::updated),
                    );
                    let ids: Vec<String> = items.iter().map(|a| a.id.clone()).collect();
                    (items.iter().map(render).collect(), total, ids)
                };
                if let Some(d) = world.tenant_mut(&caller.tenant_id) {
                    adversarial::after_list(d, Listed::Alerts(ids), true, &plan, state.clock.now());
                }
                (values, total)
            },
        )
    })
    .await
}

/// `GET /v1.0/security/alerts_v2/{id}`.
pub async fn get_alert(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, ALERT_GET)?;
    let world = state.world();
    let data = world
        .tenant(&caller.tenant_id)
        .ok_or_else(|| ApiError::not_found(F, "Alert", &id))?;
    let alert = data
        .alerts
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::not_found(F, "Alert", &id))?;
    let value = render_graph::alert(alert, data.machine(&alert.machine_id), &caller.tenant_id);
    Ok(Json(entity(
        format!("{}/v1.0/$metadata#security/alerts_v2/$entity", base_url(&headers)),
        value,
    ))
    .into_response())
}

/// `PATCH /v1.0/security/alerts_v2/{id}`.
pub async fn update_alert(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, ALERT_WRITE)?;
    let map = object_body(
        F,
        &body,
        &["assignedTo", "classification", "determination", "status"],
        &[],
    )?;
    let status = opt_string(F, &map, "status")?
        .map(|s| graph_enum("status", &s, &["New", "InProgress", "Resolved"]))
        .transpose()?;
    let classification = opt_string(F, &map, "classification")?
        .map(|c| graph_enum("classification", &c, CLASSIFICATIONS))
        .transpose()?;
    let determination = opt_string(F, &map, "determination")?
        .map(|d| api_common::determination(F, &d, |v| graph_enum("determination", v, DETERMINATIONS)))
        .transpose()?;
    let assigned_to = opt_string(F, &map, "assignedTo")?;
    let now = state.clock.now();
    let mut world = state.world();
    let data = world
        .tenant_mut(&caller.tenant_id)
        .ok_or_else(|| ApiError::not_found(F, "Alert", &id))?;
    let alert = data
        .alerts
        .iter_mut()
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::not_found(F, "Alert", &id))?;
    if let Some(s) = status {
        alert.resolved_time = (s == "Resolved").then_some(now);
        alert.status = s;
    }
    if classification.is_some() {
        alert.classification = classification;
    }
    if determination.is_some() {
        alert.determination = determination;
    }
    if let Some(a) = assigned_to {
        alert.assigned_to = Some(a);
    }
    alert.last_update_time = now;
    let snapshot = alert.clone();
    let value = render_graph::alert(&snapshot, data.machine(&snapshot.machine_id), &caller.tenant_id);
    Ok(Json(entity(
        format!("{}/v1.0/$metadata#security/alerts_v2/$entity", base_url(&headers)),
        value,
    ))
    .into_response())
}

fn comment_text(body: &[u8]) -> Result<String, ApiError> {
    let map = object_body(F, body, &["comment"], &["comment"])?;
    opt_string(F, &map, "comment")?.ok_or_else(|| invalid_input(F, "comment is required."))
}

fn comments_response(headers: &HeaderMap, comments: &[Comment]) -> Response {
    let values: Vec<Value> = comments
        .iter()
        .map(|c| {
            json!({
                "@odata.type": "microsoft.graph.security.alertComment",
                "comment": c.comment,
                "createdByDisplayName": c.created_by,
                "createdDateTime": crate::clock::format_time(c.created_time),
            })
        })
        .collect();
    Json(json!({
        "@odata.context": format!("{}/v1.0/$metadata#Collection(microsoft.graph.security.alertComment)", base_url(headers)),
        "value": values,
    }))
    .into_response()
}

/// `POST /v1.0/security/incidents/{id}/comments`.
pub async fn comment_incident(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, INC_WRITE)?;
    let text = comment_text(&body)?;
    let now = state.clock.now();
    let mut world = state.world();
    let incident = world
        .tenant_mut(&caller.tenant_id)
        .and_then(|d| d.incidents.iter_mut().find(|i| i.id.to_string() == id))
        .ok_or_else(|| ApiError::not_found(F, "Incident", &id))?;
    incident.comments.push(Comment {
        comment: text,
        created_by: caller.app_id.clone(),
        created_time: now,
    });
    incident.last_update_time = now;
    Ok(comments_response(&headers, &incident.comments))
}

/// `POST /v1.0/security/alerts_v2/{id}/comments`.
pub async fn comment_alert(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, ALERT_WRITE)?;
    let text = comment_text(&body)?;
    let now = state.clock.now();
    let mut world = state.world();
    let alert = world
        .tenant_mut(&caller.tenant_id)
        .and_then(|d| d.alerts.iter_mut().find(|a| a.id == id))
        .ok_or_else(|| ApiError::not_found(F, "Alert", &id))?;
    alert.comments.push(Comment {
        comment: text,
        created_by: caller.app_id.clone(),
        created_time: now,
    });
    alert.last_update_time = now;
    Ok(comments_response(&headers, &alert.comments))
}
