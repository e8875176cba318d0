//! Admin endpoints (`/_sandbox/...`): the configuration in force, the request log, simulated time, faults,
//! adversarial settings and the changes a test triggers (`mutate`, `bulk_update`). They need no token: the sandbox
//! is a local test tool.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use time::Duration;

use crate::adversarial::{self, BulkUpdateReport, MutationReport};
use crate::clock::format_time;
use crate::config::{AdversarialSettings, DEMO_CLIENT_KEY_PEM, config_schema};
use crate::faults::FaultRule;
use crate::state::{AppState, Shared};

/// `GET /_sandbox/config`: the world in force, including the demo credentials.
pub async fn config(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "config": state.config_in_force(),
        "demoClientKeyPem": DEMO_CLIENT_KEY_PEM,
        "now": format_time(state.clock.now()),
        "faults": state.faults.rules(),
    }))
}

/// `GET /_sandbox/config/schema`: the JSON Schema of the config file.
pub async fn schema() -> Json<schemars::Schema> {
    Json(config_schema())
}

/// `GET /_sandbox/requests`: the request log.
pub async fn requests(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "value": state.log.snapshot() }))
}

/// `DELETE /_sandbox/requests`: empties the request log.
pub async fn clear_requests(State(state): State<AppState>) -> StatusCode {
    state.log.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: u64,
}

/// `POST /_sandbox/advance` `{"seconds": N}`: moves simulated time and generates the updates of that period.
pub async fn advance(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<Advance>(&body) {
        Ok(a) => {
            advance_world(&state, a.seconds);
            Json(json!({"now": format_time(state.clock.now()), "advancedBySeconds": a.seconds}))
                .into_response()
        }
        Err(e) => bad(&format!("expected {{\"seconds\": N}}: {e}")),
    }
}

/// Moves simulated time by `seconds` and applies the world's updates.
pub fn advance_world(state: &Shared, seconds: u64) {
    let by = Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 2));
    state.clock.advance(by);
    let now = state.clock.now();
    state.world().advance(&state.config, by, now);
    tracing::info!(seconds, "simulated time advanced");
}

/// `GET /_sandbox/faults`: the active rules.
pub async fn faults(State(state): State<AppState>) -> Json<Vec<FaultRule>> {
    Json(state.faults.rules())
}

/// `POST /_sandbox/faults`: adds one rule or a list of rules.
pub async fn add_faults(State(state): State<AppState>, body: Bytes) -> Response {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<FaultRule>),
        One(FaultRule),
    }
    match serde_json::from_slice::<OneOrMany>(&body) {
        Ok(rules) => {
            let rules = match rules {
                OneOrMany::Many(r) => r,
                OneOrMany::One(r) => vec![r],
            };
            let bad_status = rules.iter().find_map(|r| match r.fault {
                crate::faults::FaultKind::Status { status } if !(400..=599).contains(&status) => Some(status),
                _ => None,
            });
            if let Some(status) = bad_status {
                return bad(&format!("fault status {status} is not a 4xx or 5xx status"));
            }
            state.faults.add(rules);
            (StatusCode::CREATED, Json(state.faults.rules())).into_response()
        }
        Err(e) => bad(&format!(
            "expected a fault rule or a list of them (see the README): {e}"
        )),
    }
}

/// `DELETE /_sandbox/faults`: removes every rule.
pub async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

/// `GET /_sandbox/adversarial`: the adversarial settings in force.
pub async fn adversarial(State(state): State<AppState>) -> Json<AdversarialSettings> {
    Json(state.adversary.settings())
}

/// `POST /_sandbox/adversarial`: replaces the adversarial settings (the `adversarial` section of the config; absent
/// keys take their defaults).
pub async fn set_adversarial(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<AdversarialSettings>(&body) {
        Ok(settings) => match state.set_adversarial(settings) {
            Ok(()) => Json(state.adversary.settings()).into_response(),
            Err(e) => bad(&e),
        },
        Err(e) => bad(&format!(
            "expected the adversarial settings (see the README): {e}"
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Mutate {
    tenant: String,
    #[serde(default)]
    update: usize,
    #[serde(default)]
    create: usize,
}

/// `POST /_sandbox/mutate` `{"tenant", "update", "create"}`: updates `update` alerts a list already returned and
/// `update` it has not, creates `create` alerts (each in a new incident), all stamped now.
pub async fn mutate(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<Mutate>(&body) {
        Ok(m) => match mutate_tenant(&state, &m.tenant, m.update, m.create) {
            Some(report) => Json(report).into_response(),
            None => unknown_tenant(&m.tenant),
        },
        Err(e) => bad(&format!(
            "expected {{\"tenant\": \"…\", \"update\": N, \"create\": N}}: {e}"
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkUpdate {
    tenant: String,
    count: usize,
}

/// `POST /_sandbox/bulk_update` `{"tenant", "count"}`: stamps `count` alerts with one last-update time.
pub async fn bulk_update(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<BulkUpdate>(&body) {
        Ok(b) => match bulk_update_tenant(&state, &b.tenant, b.count) {
            Some(report) => Json(report).into_response(),
            None => unknown_tenant(&b.tenant),
        },
        Err(e) => bad(&format!("expected {{\"tenant\": \"…\", \"count\": N}}: {e}")),
    }
}

/// Mutates one tenant's data now; `None` for an unknown tenant.
pub fn mutate_tenant(state: &Shared, tenant: &str, update: usize, create: usize) -> Option<MutationReport> {
    let now = state.clock.now();
    let mut world = state.world();
    let data = world.tenant_mut(tenant)?;
    let report = adversarial::mutate(data, update, update, create, now);
    tracing::info!(tenant, update, create, "mutation triggered");
    Some(report)
}

/// Bulk-updates one tenant's alerts now; `None` for an unknown tenant.
pub fn bulk_update_tenant(state: &Shared, tenant: &str, count: usize) -> Option<BulkUpdateReport> {
    let now = state.clock.now();
    let mut world = state.world();
    let data = world.tenant_mut(tenant)?;
    let report = adversarial::bulk_update(data, count, now);
    tracing::info!(tenant, count = report.updated.len(), "bulk update");
    Some(report)
}

/// 404 for an unknown tenant.
pub(crate) fn unknown_tenant(tenant: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"code": "NotFound", "message": format!("unknown tenant '{tenant}'")}})),
    )
        .into_response()
}

/// 400 with a message.
pub(crate) fn bad(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"code": "BadRequest", "message": message}})),
    )
        .into_response()
}
