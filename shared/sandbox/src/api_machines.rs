//! MDE machines: list, get by id or computer name, `findbyip(ip='…',timestamp=…)` (devices whose IP history holds
//! the address within 15 minutes of the timestamp, see `ip_history`; a timestamp older than 30 days is a 400).
//!
//! Documented order: `computerDnsName` ascending, then `id`; see `adversarial.list_order` for the others (machines
//! have no creation or update time: they use `firstSeen` and `lastSeen`).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use time::Duration;

use crate::api_common::{base_url, collection, entity, invalid_input, query_options};
use crate::api_error::{ApiError, Flavor};
use crate::auth::{Api, Operation, authorize};
use crate::clock::parse_time;
use crate::model::Machine;
use crate::odata::{self, CollectionSpec, PropType};
use crate::rate_limit::Limits;
use crate::render_mde;
use crate::state::AppState;

const F: Flavor = Flavor::Mde;
const READ: &[&str] = &["Machine.Read.All", "Machine.ReadWrite.All"];
const STANDARD: Limits = Limits {
    per_minute: Some(100),
    per_hour: Some(1500),
};
const LIST: Operation = Operation {
    api: Api::Mde,
    name: "mde.machines.list",
    roles: READ,
    limits: STANDARD,
};
const GET: Operation = Operation {
    api: Api::Mde,
    name: "mde.machines.get",
    roles: READ,
    limits: STANDARD,
};
const FIND: Operation = Operation {
    api: Api::Mde,
    name: "mde.machines.findbyip",
    roles: READ,
    limits: STANDARD,
};

/// `$filter` properties of machines (DD get-machines.md).
pub const SPEC: CollectionSpec = CollectionSpec {
    entity: "microsoft.windowsDefenderATP.api.PublicMachine",
    props: &[
        ("computerDnsName", PropType::Str),
        ("id", PropType::Str),
        ("version", PropType::Str),
        ("deviceValue", PropType::Str),
        ("aadDeviceId", PropType::Str),
        ("machineTags", PropType::Str),
        ("lastSeen", PropType::DateTime),
        ("firstSeen", PropType::DateTime),
        ("exposureLevel", PropType::Str),
        ("onboardingStatus", PropType::Str),
        ("lastIpAddress", PropType::Str),
        ("healthStatus", PropType::Str),
        ("osPlatform", PropType::Str),
        ("riskScore", PropType::Str),
        ("rbacGroupId", PropType::Num),
    ],
    expand: &[],
    top_max: Some(10_000),
    count: false,
    or: false,
};

/// `GET /api/machines`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, LIST)?;
    let options = query_options(F, query.as_deref(), &SPEC)?;
    let plan = state.adversary.plan(state.clock.now());
    let records: Vec<Value> = {
        let world = state.world();
        let mut machines: Vec<&Machine> = world
            .tenant(&caller.tenant_id)
            .map(|d| d.machines.iter().collect())
            .unwrap_or_default();
        machines.sort_by(|a, b| {
            a.computer_dns_name
                .cmp(&b.computer_dns_name)
                .then_with(|| a.id.cmp(&b.id))
        });
        let all = machines.len();
        plan.arrange(&mut machines, all, |m| m.first_seen, |m| m.last_seen);
        machines.into_iter().map(render_mde::machine).collect()
    };
    let (page, _) = odata::apply(records, &options, 10_000);
    Ok(collection(
        format!("{}/api/$metadata#Machines", base_url(&headers)),
        page,
    ))
}

/// `GET /api/machines/{id}` (id or computer name), and `GET /api/machines/findbyip(ip='…',timestamp=…)`.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if let Some(args) = id.strip_prefix("findbyip(").and_then(|s| s.strip_suffix(')')) {
        return find_by_ip(&state, &headers, args);
    }
    let caller = authorize(&state, &headers, GET)?;
    let world = state.world();
    let machine = world
        .tenant(&caller.tenant_id)
        .and_then(|d| d.machine(&id))
        .ok_or_else(|| ApiError::not_found(F, "Machine", &id))?;
    Ok(Json(entity(
        format!("{}/api/$metadata#Machines/$entity", base_url(&headers)),
        render_mde::machine(machine),
    ))
    .into_response())
}

fn find_by_ip(state: &AppState, headers: &HeaderMap, args: &str) -> Result<Response, ApiError> {
    let caller = authorize(state, headers, FIND)?;
    let mut ip = None;
    let mut timestamp = None;
    for pair in args.split(',') {
        match pair.split_once('=') {
            Some(("ip", v)) => ip = Some(v.trim().trim_matches('\'').to_owned()),
            Some(("timestamp", v)) => timestamp = Some(v.trim().trim_matches('\'').to_owned()),
            _ => {
                return Err(invalid_input(
                    F,
                    format!("Unexpected findbyip argument '{pair}'."),
                ));
            }
        }
    }
    let ip = ip.ok_or_else(|| {
        ApiError::new(
            F,
            axum::http::StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            "Parameter ip is missing.",
        )
    })?;
    let Ok(address) = ip.parse::<std::net::IpAddr>() else {
        return Err(ApiError::new(
            F,
            axum::http::StatusCode::BAD_REQUEST,
            "InvalidIpAddress",
            format!("Invalid IP address '{ip}'."),
        ));
    };
    let timestamp = timestamp.ok_or_else(|| {
        ApiError::new(
            F,
            axum::http::StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            "Parameter timestamp is missing.",
        )
    })?;
    let at = parse_time(&timestamp)
        .ok_or_else(|| invalid_input(F, format!("Invalid timestamp '{timestamp}'.")))?;
    let now = state.clock.now();
    if at < now - Duration::days(30) || at > now + Duration::minutes(15) {
        return Err(ApiError::bad_request(
            F,
            "The timestamp must be within the past 30 days.",
        ));
    }
    let world = state.world();
    let values = world
        .tenant(&caller.tenant_id)
        .map(|d| {
            d.machines
                .iter()
                .filter(|m| m.ip_history.iter().any(|l| l.matches(&address, at, now)))
                .map(render_mde::machine)
                .collect()
        })
        .unwrap_or_default();
    Ok(collection(
        format!("{}/api/$metadata#Machines", base_url(headers)),
        values,
    ))
}
