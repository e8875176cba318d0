//! MDE indicators: list, submit (upsert on type + value), import (≤ 500, per-item results), delete, BatchDelete
//! (≤ 500); value validation per type; the active-indicator cap. `Ti.ReadWrite` sees only the app's own indicators,
//! `Ti.ReadWrite.All` sees all.
//!
//! Documented order of the list: `id` ascending; see `adversarial.list_order` for the others.
//!
//! As in Defender, an indicator whose `expirationTime` has passed is deleted: the list shows active indicators
//! only, and a write after the expiry finds it gone. A past `expirationTime` in a submitted body is not refused
//! (Microsoft's own examples carry past dates); the indicator is simply already expired. Tests can make chosen
//! import items fail the way Defender reports per-item failures (`POST /_sandbox/indicators/import_failures`).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::api_common::{
    base_url, check_names, collection, entity, invalid_input, object_body, query_options,
};
use crate::api_error::{ApiError, Flavor};
use crate::auth::{Api, Caller, Operation, authorize};
use crate::clock::parse_time;
use crate::model::Indicator;
use crate::odata::{self, CollectionSpec, PropType};
use crate::rate_limit::Limits;
use crate::render_mde;
use crate::state::AppState;
use crate::store::TenantData;

const F: Flavor = Flavor::Mde;
const ROLES: &[&str] = &["Ti.ReadWrite", "Ti.ReadWrite.All"];
const STANDARD: Limits = Limits {
    per_minute: Some(100),
    per_hour: Some(1500),
};
const LIST: Operation = Operation {
    api: Api::Mde,
    name: "mde.indicators.list",
    roles: ROLES,
    limits: STANDARD,
};
const SUBMIT: Operation = Operation {
    api: Api::Mde,
    name: "mde.indicators.submit",
    roles: ROLES,
    limits: STANDARD,
};
const DELETE: Operation = Operation {
    api: Api::Mde,
    name: "mde.indicators.delete",
    roles: ROLES,
    limits: STANDARD,
};
const IMPORT: Operation = Operation {
    api: Api::Mde,
    name: "mde.indicators.import",
    roles: ROLES,
    limits: Limits {
        per_minute: Some(30),
        per_hour: None,
    },
};
const BATCH_DELETE: Operation = Operation {
    api: Api::Mde,
    name: "mde.indicators.batchDelete",
    roles: ROLES,
    limits: Limits {
        per_minute: Some(30),
        per_hour: Some(1500),
    },
};
const MAX_BATCH: usize = 500;

/// `$filter` properties of indicators.
pub const SPEC: CollectionSpec = CollectionSpec {
    entity: "microsoft.windowsDefenderATP.api.Indicator",
    props: &[
        ("application", PropType::Str),
        ("createdByDisplayName", PropType::Str),
        ("expirationTime", PropType::DateTime),
        ("generateAlert", PropType::Bool),
        ("title", PropType::Str),
        ("rbacGroupNames", PropType::Str),
        ("rbacGroupIds", PropType::Str),
        ("indicatorValue", PropType::Str),
        ("indicatorType", PropType::Str),
        ("creationTimeDateTimeUtc", PropType::DateTime),
        ("createdBy", PropType::Str),
        ("action", PropType::Str),
        ("severity", PropType::Str),
        ("id", PropType::Str),
        ("externalID", PropType::Str),
    ],
    expand: &[],
    top_max: Some(10_000),
    count: false,
    or: false,
};

const FIELDS: &[&str] = &[
    "indicatorValue",
    "indicatorType",
    "action",
    "title",
    "description",
    "application",
    "expirationTime",
    "severity",
    "recommendedActions",
    "rbacGroupNames",
    "educateUrl",
    "generateAlert",
    "externalID",
];
const REQUIRED: &[&str] = &[
    "indicatorValue",
    "indicatorType",
    "action",
    "title",
    "description",
];
const TYPES: &[&str] = &[
    "FileSha1",
    "FileSha256",
    "FileMd5",
    "CertificateThumbprint",
    "IpAddress",
    "DomainName",
    "Url",
];
const ACTIONS: &[&str] = &[
    "Warn",
    "Block",
    "Audit",
    "Alert",
    "AlertAndBlock",
    "BlockAndRemediate",
    "Allowed",
];
const SEVERITIES: &[&str] = &["Informational", "Low", "Medium", "High"];

fn visible(caller: &Caller, i: &Indicator) -> bool {
    caller.has_role("Ti.ReadWrite.All") || i.created_by.eq_ignore_ascii_case(&caller.app_id)
}

/// `GET /api/indicators`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, LIST)?;
    let options = query_options(F, query.as_deref(), &SPEC)?;
    let plan_now = state.clock.now();
    let plan = state.adversary.plan(plan_now);
    let records: Vec<Value> = {
        let world = state.world();
        let mut indicators: Vec<&Indicator> = world
            .tenant(&caller.tenant_id)
            .map(|d| {
                d.indicators
                    .iter()
                    .filter(|i| visible(&caller, i) && i.is_active(plan_now))
                    .collect()
            })
            .unwrap_or_default();
        let all = indicators.len();
        plan.arrange(&mut indicators, all, |i| i.creation_time, |i| i.last_update_time);
        indicators.into_iter().map(render_mde::indicator).collect()
    };
    let (page, _) = odata::apply(records, &options, 10_000);
    Ok(collection(
        format!("{}/api/$metadata#Indicators", base_url(&headers)),
        page,
    ))
}

/// A 400 with a specific code.
fn error(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(F, StatusCode::BAD_REQUEST, code, message)
}

/// Validates one indicator body into a record (id 0 until stored).
fn validate(map: &Map<String, Value>, caller: &Caller, now: OffsetDateTime) -> Result<Indicator, ApiError> {
    check_names(F, map, FIELDS, REQUIRED)?;
    let text = |k: &str| -> Result<Option<String>, ApiError> {
        match map.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid_input(F, format!("{k} must be a string."))),
        }
    };
    let indicator_type = text("indicatorType")?.unwrap_or_default();
    if !TYPES.contains(&indicator_type.as_str()) {
        return Err(invalid_input(
            F,
            format!(
                "Invalid indicatorType '{indicator_type}'; allowed: {}.",
                TYPES.join(", ")
            ),
        ));
    }
    let value = validate_value(
        &indicator_type,
        text("indicatorValue")?.unwrap_or_default().trim(),
    )?;
    let action = text("action")?.unwrap_or_default();
    if !ACTIONS.contains(&action.as_str()) {
        return Err(invalid_input(
            F,
            format!("Invalid action '{action}'; allowed: {}.", ACTIONS.join(", ")),
        ));
    }
    let severity = text("severity")?;
    if let Some(s) = &severity
        && !SEVERITIES.contains(&s.as_str())
    {
        return Err(invalid_input(F, format!("Invalid severity '{s}'.")));
    }
    let generate_alert = match map.get("generateAlert") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(invalid_input(F, "generateAlert must be true or false.")),
    };
    if action == "Audit" && !generate_alert {
        return Err(invalid_input(
            F,
            "Action 'Audit' requires generateAlert to be true.",
        ));
    }
    let expiration_time = match text("expirationTime")? {
        None => None,
        Some(s) => {
            // A past expiry is accepted (Microsoft's examples carry past dates); the indicator is born expired.
            let t =
                parse_time(&s).ok_or_else(|| invalid_input(F, format!("Invalid expirationTime '{s}'.")))?;
            Some(t)
        }
    };
    let rbac_group_names = match map.get("rbacGroupNames") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect(),
        Some(_) => {
            return Err(invalid_input(
                F,
                "rbacGroupNames must be a list of device group names.",
            ));
        }
    };
    Ok(Indicator {
        id: 0,
        indicator_value: value,
        indicator_type,
        action,
        title: text("title")?.unwrap_or_default(),
        description: text("description")?.unwrap_or_default(),
        application: text("application")?,
        expiration_time,
        severity,
        recommended_actions: text("recommendedActions")?,
        rbac_group_names,
        educate_url: text("educateUrl")?,
        generate_alert,
        created_by: caller.app_id.clone(),
        created_by_display_name: "mde-bridge".to_owned(),
        source_type: "AadApp".to_owned(),
        creation_time: now,
        last_update_time: now,
        external_id: text("externalID")?,
    })
}

/// Checks a value for its type; hashes are returned lower case.
pub fn validate_value(indicator_type: &str, value: &str) -> Result<String, ApiError> {
    let hex = |len: usize| value.len() == len && value.chars().all(|c| c.is_ascii_hexdigit());
    match indicator_type {
        "FileSha1" | "CertificateThumbprint" if hex(40) => Ok(value.to_lowercase()),
        "FileSha256" if hex(64) => Ok(value.to_lowercase()),
        "FileMd5" if hex(32) => Ok(value.to_lowercase()),
        "FileSha1" | "CertificateThumbprint" | "FileSha256" | "FileMd5" => Err(error(
            "InvalidHashValue",
            format!("Invalid {indicator_type} value '{value}'."),
        )),
        "IpAddress" => value
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.to_string())
            .map_err(|_| {
                error(
                    "InvalidIpAddress",
                    format!("Invalid IP address '{value}' (CIDR ranges are not supported)."),
                )
            }),
        "DomainName" if is_domain(value) => Ok(value.to_lowercase()),
        "DomainName" => Err(error(
            "InvalidDomainName",
            format!("Invalid domain name '{value}'."),
        )),
        "Url" => {
            let with_scheme = if value.contains("://") {
                value.to_owned()
            } else {
                format!("http://{value}")
            };
            match url::Url::parse(&with_scheme) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some_and(|h| h.contains('.')) =>
                {
                    Ok(value.to_owned())
                }
                _ => Err(error("InvalidUrl", format!("Invalid URL '{value}'."))),
            }
        }
        other => Err(invalid_input(F, format!("Invalid indicatorType '{other}'."))),
    }
}

fn is_domain(value: &str) -> bool {
    value.len() <= 253
        && value.contains('.')
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Stores an indicator (update when type + value exist), enforcing the cap. Returns its index.
fn upsert(
    data: &mut TenantData,
    mut indicator: Indicator,
    cap: usize,
    now: OffsetDateTime,
) -> Result<usize, ApiError> {
    purge_expired(data, now);
    if let Some(i) = data.indicators.iter().position(|x| {
        x.indicator_type == indicator.indicator_type
            && x.indicator_value.eq_ignore_ascii_case(&indicator.indicator_value)
    }) {
        let existing = &data.indicators[i];
        indicator.id = existing.id;
        indicator.creation_time = existing.creation_time;
        // `application` is only applied on create.
        indicator.application = existing.application.clone();
        data.indicators[i] = indicator;
        return Ok(i);
    }
    let active = data.indicators.iter().filter(|x| x.is_active(now)).count();
    if active >= cap {
        return Err(error(
            "BadRequest",
            format!("Tenant reached the maximum of {cap} active indicators."),
        ));
    }
    indicator.id = data.next_indicator_id();
    data.indicators.push(indicator);
    Ok(data.indicators.len() - 1)
}

/// Deletes what has expired, as Defender does at expiry.
fn purge_expired(data: &mut TenantData, now: OffsetDateTime) {
    data.indicators.retain(|i| i.is_active(now));
}

/// `POST /api/indicators`: submit or update.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, SUBMIT)?;
    let map = object_body(F, &body, FIELDS, REQUIRED)?;
    let now = state.clock.now();
    let indicator = validate(&map, &caller, now)?;
    let mut world = state.world();
    let data = world
        .tenant_mut(&caller.tenant_id)
        .ok_or_else(|| ApiError::forbidden(F, "Unknown tenant."))?;
    let i = upsert(data, indicator, state.config.data.indicator_cap, now)?;
    let value = render_mde::indicator(&data.indicators[i]);
    Ok(Json(entity(
        format!("{}/api/$metadata#Indicators/$entity", base_url(&headers)),
        value,
    ))
    .into_response())
}

/// `POST /api/indicators/import` with `{"Indicators": [...]}`.
pub async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, IMPORT)?;
    let map = object_body(F, &body, &["Indicators"], &["Indicators"])?;
    let items = map
        .get("Indicators")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid_input(F, "Indicators must be an array."))?;
    if items.is_empty() {
        return Err(invalid_input(F, "Indicators must not be empty."));
    }
    if items.len() > MAX_BATCH {
        return Err(error(
            "MaximumBatchSizeExceeded",
            format!(
                "Maximum batch size exceeded. Received: {}, allowed: {MAX_BATCH}.",
                items.len()
            ),
        ));
    }
    let now = state.clock.now();
    let mut world = state.world();
    let data = world
        .tenant_mut(&caller.tenant_id)
        .ok_or_else(|| ApiError::forbidden(F, "Unknown tenant."))?;
    let results: Vec<Value> = items
        .iter()
        .map(|item| {
            let value = item.get("indicatorValue").and_then(Value::as_str).unwrap_or_default().to_owned();
            let injected = state.import_failures.take(&value);
            let outcome = match (injected, item.as_object()) {
                (Some(reason), _) => Err(error("BadRequest", reason)),
                (None, Some(obj)) => validate(obj, &caller, now).and_then(|ind| upsert(data, ind, state.config.data.indicator_cap, now)),
                (None, None) => Err(invalid_input(F, "Each indicator must be an object.")),
            };
            match outcome {
                Ok(i) => json!({"id": data.indicators[i].id.to_string(), "indicator": value, "isFailed": false, "failureReason": null}),
                Err(e) => json!({"id": null, "indicator": value, "isFailed": true, "failureReason": e.message}),
            }
        })
        .collect();
    Ok(collection(
        format!(
            "{}/api/$metadata#Collection(microsoft.windowsDefenderATP.api.ImportIndicatorResult)",
            base_url(&headers)
        ),
        results,
    ))
}

/// `DELETE /api/indicators/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, DELETE)?;
    let mut world = state.world();
    let data = world
        .tenant_mut(&caller.tenant_id)
        .ok_or_else(|| ApiError::not_found(F, "Indicator", &id))?;
    purge_expired(data, state.clock.now());
    let index = data
        .indicators
        .iter()
        .position(|i| i.id.to_string() == id && visible(&caller, i))
        .ok_or_else(|| ApiError::not_found(F, "Indicator", &id))?;
    data.indicators.remove(index);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/indicators/BatchDelete` with `{"IndicatorIds": [...]}`.
pub async fn batch_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, BATCH_DELETE)?;
    let map = object_body(F, &body, &["IndicatorIds"], &["IndicatorIds"])?;
    let ids = map
        .get("IndicatorIds")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid_input(F, "IndicatorIds must be an array."))?;
    if ids.is_empty() {
        return Err(invalid_input(F, "IndicatorIds must not be empty."));
    }
    if ids.len() > MAX_BATCH {
        return Err(error(
            "MaximumBatchSizeExceeded",
            format!(
                "Maximum batch size exceeded. Received: {}, allowed: {MAX_BATCH}.",
                ids.len()
            ),
        ));
    }
    let ids: Vec<u64> = ids
        .iter()
        .map(|v| match v {
            Value::String(s) => s.parse::<u64>().ok(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| invalid_input(F, "Every indicator id must be a numeric id."))?;
    let mut world = state.world();
    let data = world
        .tenant_mut(&caller.tenant_id)
        .ok_or_else(|| ApiError::not_found(F, "Indicator", "?"))?;
    purge_expired(data, state.clock.now());
    if let Some(missing) = ids.iter().find(|id| {
        !data
            .indicators
            .iter()
            .any(|i| i.id == **id && visible(&caller, i))
    }) {
        return Err(ApiError::not_found(F, "Indicator", &missing.to_string()));
    }
    data.indicators.retain(|i| !ids.contains(&i.id));
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A per-item failure of `POST /api/indicators/import` that tests inject: every item whose `indicatorValue`
/// contains `value_contains` fails with `reason` (at most `times` times; always when absent), the way Defender
/// reports an item it refused (`isFailed: true`, `failureReason`) while importing the rest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportFailureRule {
    /// Part of the value of the items that fail.
    pub value_contains: String,
    /// Their `failureReason`.
    pub reason: String,
    /// How many items fail at most (unlimited when absent).
    #[serde(default)]
    pub times: Option<u64>,
}

/// The injected per-item import failures in force.
#[derive(Debug, Default)]
pub struct ImportFailures(std::sync::Mutex<Vec<ImportFailureRule>>);

impl ImportFailures {
    /// Adds rules.
    pub fn add(&self, rules: Vec<ImportFailureRule>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(rules);
    }

    /// The reason the item with `value` fails, consuming one of the rule's times.
    pub fn take(&self, value: &str) -> Option<String> {
        let mut rules = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let rule = rules
            .iter_mut()
            .find(|r| value.contains(&r.value_contains) && r.times != Some(0))?;
        if let Some(t) = rule.times.as_mut() {
            *t -= 1;
        }
        Some(rule.reason.clone())
    }
}

/// `POST /_sandbox/indicators/import_failures` with a list of [`ImportFailureRule`].
pub async fn add_import_failures(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<Vec<ImportFailureRule>>(&body) {
        Ok(rules) => {
            state.import_failures.add(rules);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("expected a list of {{value_contains, reason, times?}}: {e}")})),
        )
            .into_response(),
    }
}
