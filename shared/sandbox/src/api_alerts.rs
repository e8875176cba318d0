//! MDE alerts: list, get, update, batch update, CreateAlertByReference.
//!
//! Documented order: `alertCreationTime` descending, then `id` ascending, stable under `$skip` paging (see
//! `adversarial.list_order` for the others).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::adversarial::{self, Listed};
use crate::api_common::{
    self, base_url, collection, entity, enum_value, invalid_input, object_body, off_runtime, opt_string,
    query_options,
};
use crate::api_error::{ApiError, Flavor};
use crate::auth::{Api, Operation, authorize};
use crate::clock::parse_time;
use crate::model::{Alert, Comment, Evidence};
use crate::odata::{self, CollectionSpec, PropType};
use crate::props;
use crate::rate_limit::Limits;
use crate::render_mde;
use crate::state::AppState;
use crate::store::TenantData;

const F: Flavor = Flavor::Mde;
const READ: &[&str] = &["Alert.Read.All", "Alert.ReadWrite.All"];
const WRITE: &[&str] = &["Alert.ReadWrite.All"];
const STANDARD: Limits = Limits {
    per_minute: Some(100),
    per_hour: Some(1500),
};

const LIST: Operation = Operation {
    api: Api::Mde,
    name: "mde.alerts.list",
    roles: READ,
    limits: STANDARD,
};
const GET: Operation = Operation {
    api: Api::Mde,
    name: "mde.alerts.get",
    roles: READ,
    limits: STANDARD,
};
const UPDATE: Operation = Operation {
    api: Api::Mde,
    name: "mde.alerts.update",
    roles: WRITE,
    limits: STANDARD,
};
const BATCH: Operation = Operation {
    api: Api::Mde,
    name: "mde.alerts.batchUpdate",
    roles: WRITE,
    limits: Limits {
        per_minute: Some(10),
        per_hour: Some(500),
    },
};
const BY_REFERENCE: Operation = Operation {
    api: Api::Mde,
    name: "mde.alerts.createByReference",
    roles: WRITE,
    limits: Limits {
        per_minute: Some(15),
        per_hour: None,
    },
};

/// `$filter` properties of alerts (DD get-alerts.md).
pub const SPEC: CollectionSpec = CollectionSpec {
    entity: "microsoft.windowsDefenderATP.api.PublicAlertV2Entity",
    props: &[
        ("alertCreationTime", PropType::DateTime),
        ("lastUpdateTime", PropType::DateTime),
        ("lastEventTime", PropType::DateTime),
        ("firstEventTime", PropType::DateTime),
        ("resolvedTime", PropType::DateTime),
        ("incidentId", PropType::Num),
        ("investigationId", PropType::Num),
        ("id", PropType::Str),
        ("assignedTo", PropType::Str),
        ("detectionSource", PropType::Str),
        ("status", PropType::Str),
        ("severity", PropType::Str),
        ("category", PropType::Str),
        ("machineId", PropType::Str),
        ("computerDnsName", PropType::Str),
        ("title", PropType::Str),
    ],
    expand: &["evidence"],
    top_max: Some(10_000),
    count: false,
    or: false,
};

/// Update values (update-alert.md, alerts.md; defender-api.md §4.2): statuses New, InProgress, Resolved; the three
/// classifications; the determinations of the alert resource plus update-alert.md's spellings ConfirmedActivity and
/// NotMalicious. The retired `Apt` and `SecurityPersonnel` are refused (see `api_common::determination`).
const STATUSES: &[&str] = &["New", "InProgress", "Resolved"];
const CLASSIFICATIONS: &[&str] = &["TruePositive", "InformationalExpectedActivity", "FalsePositive"];
const DETERMINATIONS: &[&str] = &[
    "MultiStagedAttack",
    "MaliciousUserActivity",
    "CompromisedUser",
    "Malware",
    "Phishing",
    "UnwantedSoftware",
    "Other",
    "SecurityTesting",
    "LineOfBusinessApplication",
    "ConfirmedUserActivity",
    "Clean",
    "InsufficientData",
    "ConfirmedActivity",
    "NotMalicious",
];

/// Alerts of a tenant in the documented order (seeding stores them in the reverse order, so this sort is linear).
pub fn ordered(data: &TenantData) -> Vec<&Alert> {
    let mut alerts: Vec<&Alert> = data.alerts.iter().collect();
    alerts.sort_by(|a, b| {
        b.alert_creation_time
            .cmp(&a.alert_creation_time)
            .then_with(|| a.id.cmp(&b.id))
    });
    alerts
}

/// Alerts of the caller's tenant (optionally of one machine) after visibility, filter, order, skip and top: the
/// page, rendered when `render_page` (`$count` needs only the number matched), and the number matched. A rendered
/// page counts as returned to the client (and, for the whole collection, as a list call: see `adversarial.mutate`).
fn query_alerts(
    state: &AppState,
    tenant: &str,
    machine: Option<&str>,
    options: &odata::QueryOptions,
    render_page: bool,
) -> Result<(Vec<Value>, usize), ApiError> {
    let expand = options.expand.iter().any(|e| e == "evidence");
    let plan = state.adversary.plan(state.clock.now());
    let mut world = state.world();
    let (page, total, ids) = {
        let Some(data) = world.tenant(tenant) else {
            return Ok((Vec::new(), 0));
        };
        let machine_id = match machine {
            Some(m) => Some(
                data.machine(m)
                    .map(|m| m.id.clone())
                    .ok_or_else(|| ApiError::not_found(F, "Machine", m))?,
            ),
            None => None,
        };
        let mut alerts = ordered(data);
        if let Some(m) = &machine_id {
            alerts.retain(|a| &a.machine_id == m);
        }
        if plan.visible_until.is_some() {
            alerts.retain(|a| plan.visible(a.last_update_time));
        }
        let render = |a: &&Alert| render_mde::alert(a, tenant, expand);
        let (page, total) = odata::apply_with(
            alerts,
            |a, p| props::mde_alert(a, p),
            render,
            options,
            10_000,
            |items, prefix| plan.arrange(items, prefix, created, updated),
        );
        if !render_page {
            return Ok((Vec::new(), total));
        }
        let ids: Vec<String> = page.iter().map(|a| a.id.clone()).collect();
        (page.iter().map(render).collect(), total, ids)
    };
    if let Some(data) = world.tenant_mut(tenant) {
        adversarial::after_list(
            data,
            Listed::Alerts(ids),
            machine.is_none(),
            &plan,
            state.clock.now(),
        );
    }
    Ok((page, total))
}

/// An alert's creation time, for the adversarial list orders.
pub fn created(a: &Alert) -> time::OffsetDateTime {
    a.alert_creation_time
}

/// An alert's last update, for the adversarial list orders.
pub fn updated(a: &Alert) -> time::OffsetDateTime {
    a.last_update_time
}

/// A bare number, as OData's `$count` path segment answers.
fn count_response(n: usize) -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        n.to_string(),
    )
        .into_response()
}

/// `GET /api/alerts` (and `/api/v1.0/alerts`).
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    alerts_page(state, &headers, query.as_deref(), None).await
}

/// `GET /api/alerts/$count`: the number of alerts matching `$filter`.
pub async fn count(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, LIST)?;
    let options = query_options(F, query.as_deref(), &SPEC)?;
    let (_, total) = query_alerts(&state, &caller.tenant_id, None, &options, false)?;
    Ok(count_response(total))
}

/// `GET /api/machines/{id}/alerts`: the alerts of one machine (id or computer name).
pub async fn machine_alerts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(machine): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    alerts_page(state, &headers, query.as_deref(), Some(machine)).await
}

/// A page of the caller's alerts (optionally of one machine), rendered off the runtime's workers.
async fn alerts_page(
    state: AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    machine: Option<String>,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, headers, LIST)?;
    let options = query_options(F, query, &SPEC)?;
    let context = format!("{}/api/$metadata#Alerts", base_url(headers));
    off_runtime(F, move || {
        let (page, _) = query_alerts(&state, &caller.tenant_id, machine.as_deref(), &options, true)?;
        Ok(collection(context, page))
    })
    .await
}

/// `GET /api/machines/{id}/alerts/$count`.
pub async fn machine_alerts_count(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(machine): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, LIST)?;
    let options = query_options(F, query.as_deref(), &SPEC)?;
    let (_, total) = query_alerts(&state, &caller.tenant_id, Some(&machine), &options, false)?;
    Ok(count_response(total))
}

/// `GET /api/alerts/{id}`.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, GET)?;
    let options = query_options(F, query.as_deref(), &SPEC)?;
    let expand = options.expand.iter().any(|e| e == "evidence");
    let world = state.world();
    let alert = world
        .tenant(&caller.tenant_id)
        .and_then(|d| d.alerts.iter().find(|a| a.id == id))
        .ok_or_else(|| ApiError::not_found(F, "Alert", &id))?;
    let value = render_mde::alert(alert, &caller.tenant_id, expand);
    Ok(Json(entity(
        format!("{}/api/$metadata#Alerts/$entity", base_url(&headers)),
        value,
    ))
    .into_response())
}

const UPDATE_FIELDS: &[&str] = &[
    "status",
    "assignedTo",
    "classification",
    "determination",
    "comment",
];

/// A validated alert update.
struct AlertUpdate {
    status: Option<String>,
    assigned_to: Option<String>,
    classification: Option<String>,
    determination: Option<String>,
    comment: Option<String>,
}

fn parse_update(map: &Map<String, Value>) -> Result<AlertUpdate, ApiError> {
    let status = opt_string(F, map, "status")?;
    let classification = opt_string(F, map, "classification")?;
    let determination = opt_string(F, map, "determination")?;
    Ok(AlertUpdate {
        status: status
            .map(|s| enum_value(F, "status", &s, STATUSES))
            .transpose()?,
        assigned_to: opt_string(F, map, "assignedTo")?,
        classification: classification
            .map(|c| enum_value(F, "classification", &c, CLASSIFICATIONS))
            .transpose()?,
        determination: determination
            .map(|d| api_common::determination(F, &d, |v| enum_value(F, "determination", v, DETERMINATIONS)))
            .transpose()?,
        comment: opt_string(F, map, "comment")?,
    })
}

fn apply_update(alert: &mut Alert, update: &AlertUpdate, by: &str, now: time::OffsetDateTime) {
    if let Some(s) = &update.status {
        alert.status = s.clone();
        alert.resolved_time = (s == "Resolved").then_some(now);
    }
    if let Some(a) = &update.assigned_to {
        alert.assigned_to = Some(a.clone());
    }
    if let Some(c) = &update.classification {
        alert.classification = Some(c.clone());
    }
    if let Some(d) = &update.determination {
        alert.determination = Some(d.clone());
    }
    if let Some(c) = &update.comment {
        alert.comments.push(Comment {
            comment: c.clone(),
            created_by: by.to_owned(),
            created_time: now,
        });
    }
    alert.last_update_time = now;
}

/// `PATCH /api/alerts/{id}`.
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, UPDATE)?;
    let map = object_body(F, &body, UPDATE_FIELDS, &[])?;
    let update = parse_update(&map)?;
    let now = state.clock.now();
    let mut world = state.world();
    let alert = world
        .tenant_mut(&caller.tenant_id)
        .and_then(|d| d.alerts.iter_mut().find(|a| a.id == id))
        .ok_or_else(|| ApiError::not_found(F, "Alert", &id))?;
    apply_update(alert, &update, &caller.app_id, now);
    let value = render_mde::alert(alert, &caller.tenant_id, false);
    Ok(Json(entity(
        format!("{}/api/$metadata#Alerts/$entity", base_url(&headers)),
        value,
    ))
    .into_response())
}

/// `POST /api/alerts/batchUpdate`.
pub async fn batch_update(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, BATCH)?;
    let mut allowed = UPDATE_FIELDS.to_vec();
    allowed.push("alertIds");
    let map = object_body(F, &body, &allowed, &["alertIds"])?;
    let ids: Vec<String> = map
        .get("alertIds")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .filter(|ids| !ids.is_empty())
        .ok_or_else(|| invalid_input(F, "alertIds must be a non-empty array of alert ids (strings)."))?;
    let update = parse_update(&map)?;
    let now = state.clock.now();
    let mut world = state.world();
    let Some(data) = world.tenant_mut(&caller.tenant_id) else {
        return Err(ApiError::not_found(
            F,
            "Alert",
            ids.first().map_or("", String::as_str),
        ));
    };
    if let Some(missing) = ids.iter().find(|id| !data.alerts.iter().any(|a| &a.id == *id)) {
        return Err(ApiError::not_found(F, "Alert", missing));
    }
    for alert in data.alerts.iter_mut().filter(|a| ids.contains(&a.id)) {
        apply_update(alert, &update, &caller.app_id, now);
    }
    Ok(StatusCode::OK.into_response())
}

const CATEGORIES: &[&str] = &[
    "General",
    "CommandAndControl",
    "Collection",
    "CredentialAccess",
    "DefenseEvasion",
    "Discovery",
    "Exfiltration",
    "Exploit",
    "Execution",
    "InitialAccess",
    "LateralMovement",
    "Malware",
    "Persistence",
    "PrivilegeEscalation",
    "Ransomware",
    "SuspiciousActivity",
];
const REFERENCE_FIELDS: &[&str] = &[
    "eventTime",
    "reportId",
    "machineId",
    "severity",
    "title",
    "description",
    "recommendedAction",
    "category",
];

/// `POST /api/alerts/CreateAlertByReference`: an alert from a hunting event (merged into an open alert with the
/// same device and title).
pub async fn create_by_reference(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, BY_REFERENCE)?;
    let map = object_body(F, &body, REFERENCE_FIELDS, REFERENCE_FIELDS)?;
    let text = |k: &str| opt_string(F, &map, k).map(Option::unwrap_or_default);
    let severity = enum_value(F, "severity", &text("severity")?, &["Low", "Medium", "High"])?;
    let category = enum_value(F, "category", &text("category")?, CATEGORIES)?;
    let event_time = parse_time(&text("eventTime")?)
        .ok_or_else(|| invalid_input(F, "eventTime is not a valid UTC time."))?;
    let report_id: u64 = match map.get("reportId") {
        Some(Value::String(s)) => s.parse().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
    .ok_or_else(|| invalid_input(F, "reportId must be the event's report id."))?;
    let machine_id = text("machineId")?;
    let (title, description) = (text("title")?, text("description")?);
    let now = state.clock.now();
    let mut world = state.world();
    let data = world
        .tenant_mut(&caller.tenant_id)
        .ok_or_else(|| ApiError::not_found(F, "Machine", &machine_id))?;
    let event = data
        .events
        .iter()
        .find(|e| {
            e.device_id == machine_id
                && e.report_id == report_id
                && (e.timestamp - event_time).abs() < time::Duration::seconds(1)
        })
        .cloned()
        .ok_or_else(|| ApiError::not_found(F, "Event", &format!("{machine_id}/{report_id}")))?;
    let existing = data
        .alerts
        .iter()
        .position(|a| a.machine_id == machine_id && a.title == title && a.status != "Resolved");
    let index = match existing {
        Some(i) => {
            let alert = &mut data.alerts[i];
            alert.last_event_time = alert.last_event_time.max(event.timestamp);
            alert.last_update_time = now;
            i
        }
        None => {
            let domain = data.domain().to_owned();
            let incident = crate::seed::new_incident(data, &domain, now, 1);
            let i = data.alerts.len() - 1;
            let alert = &mut data.alerts[i];
            debug_assert_eq!(alert.incident_id, incident);
            *alert = Alert {
                title,
                description,
                severity,
                category,
                status: "New".to_owned(),
                classification: None,
                determination: None,
                assigned_to: None,
                detection_source: "CustomDetection".to_owned(),
                threat_family_name: None,
                machine_id: machine_id.clone(),
                computer_dns_name: event.device_name.clone(),
                first_event_time: event.timestamp,
                last_event_time: event.timestamp,
                alert_creation_time: now,
                last_update_time: now,
                resolved_time: None,
                mitre_techniques: Vec::new(),
                evidence: vec![Evidence {
                    entity_type: "Process".to_owned(),
                    sha1: Some(event.sha1.clone()),
                    file_name: Some(event.file_name.clone()),
                    file_path: Some(event.folder_path.clone()),
                    process_command_line: Some(event.process_command_line.clone()),
                    account_name: Some(event.account_name.clone()),
                    detection_status: Some("Detected".to_owned()),
                    ..Evidence::default()
                }],
                ..alert.clone()
            };
            if let Some(rbac) = data.machine(&machine_id).map(|m| m.rbac_group_name.clone()) {
                data.alerts[i].rbac_group_name = rbac;
            }
            if let Some(inc) = data.incidents.iter_mut().find(|x| x.id == incident) {
                inc.name = format!("{} on one endpoint", data.alerts[i].title);
                inc.created_time = now;
                inc.last_update_time = now;
                inc.tags = vec![event.device_name.clone()];
            }
            i
        }
    };
    let value = render_mde::alert(&data.alerts[index], &caller.tenant_id, false);
    Ok(Json(entity(
        format!("{}/api/$metadata#Alerts/$entity", base_url(&headers)),
        value,
    ))
    .into_response())
}
