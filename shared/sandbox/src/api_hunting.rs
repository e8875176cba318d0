//! The advanced-hunting endpoints: MDE `POST /api/advancedqueries/run`, Microsoft 365 Defender
//! `POST /api/advancedhunting/run` and Graph `POST /v1.0/security/runHuntingQuery`, within Microsoft's documented
//! limits (`hunting_limits`).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::api_common::{base_url, object_body, opt_string};
use crate::api_error::{ApiError, Flavor};
use crate::auth::{Api, Operation, authorize};
use crate::hunting::{self, QueryResult};
use crate::hunting_limits::HuntingApi;
use crate::rate_limit::Limits;
use crate::state::AppState;

const HUNTING_LIMITS: Limits = Limits {
    per_minute: Some(45),
    per_hour: Some(1500),
};
const MDE: Operation = Operation {
    api: Api::Mde,
    name: "mde.advancedqueries.run",
    roles: &["AdvancedQuery.Read.All"],
    limits: HUNTING_LIMITS,
};
const XDR: Operation = Operation {
    api: Api::M365d,
    name: "m365d.advancedhunting.run",
    roles: &["AdvancedHunting.Read.All"],
    limits: HUNTING_LIMITS,
};
const GRAPH: Operation = Operation {
    api: Api::Graph,
    name: "graph.runHuntingQuery",
    roles: &["ThreatHunting.Read.All"],
    limits: HUNTING_LIMITS,
};

/// Runs a query within the documented limits (`hunting_limits`): CPU quota and run time first, then rows and size.
fn execute(
    state: &AppState,
    tenant: &str,
    query: &str,
    api: HuntingApi,
    timespan: Option<&str>,
) -> Result<QueryResult, ApiError> {
    let flavor = match api {
        HuntingApi::Graph => Flavor::Graph,
        HuntingApi::Mde | HuntingApi::M365d => Flavor::Mde,
    };
    let now = state.clock.now();
    state
        .hunting
        .before(tenant, api, query, now)
        .map_err(|r| r.into_error(flavor))?;
    let window = match timespan {
        Some(t) => Some(
            hunting::timespan_window(t, now)
                .ok_or_else(|| ApiError::bad_request(flavor, format!("Invalid Timespan '{t}'.")))?,
        ),
        None => None,
    };
    let world = state.world();
    let data = world
        .tenant(tenant)
        .ok_or_else(|| ApiError::forbidden(flavor, "Unknown tenant."))?;
    let result = hunting::run(data, query, now, window).map_err(|m| ApiError::bad_request(flavor, m))?;
    state
        .hunting
        .after(&result.rows)
        .map_err(|r| r.into_error(flavor))?;
    Ok(result)
}

fn pascal(result: QueryResult) -> (Value, Value) {
    let schema: Vec<Value> = result
        .columns
        .iter()
        .map(|(n, t)| json!({"Name": n, "Type": t}))
        .collect();
    (
        Value::Array(schema),
        Value::Array(result.rows.into_iter().map(Value::Object).collect()),
    )
}

/// `POST /api/advancedqueries/run` with `{"Query": "..."}`.
pub async fn mde(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, MDE)?;
    let map = object_body(Flavor::Mde, &body, &["Query"], &["Query"])?;
    let query = opt_string(Flavor::Mde, &map, "Query")?.unwrap_or_default();
    let (schema, results) = pascal(execute(&state, &caller.tenant_id, &query, HuntingApi::Mde, None)?);
    Ok(Json(json!({"Schema": schema, "Results": results})).into_response())
}

/// `POST /api/advancedhunting/run` with `{"Query": "..."}`.
pub async fn xdr(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, XDR)?;
    let map = object_body(Flavor::Mde, &body, &["Query"], &["Query"])?;
    let query = opt_string(Flavor::Mde, &map, "Query")?.unwrap_or_default();
    let started = std::time::Instant::now();
    let result = execute(&state, &caller.tenant_id, &query, HuntingApi::M365d, None)?;
    let rows = result.rows.len();
    let (schema, results) = pascal(result);
    Ok(Json(json!({
        "Stats": {
            "ExecutionTime": started.elapsed().as_secs_f64(),
            "resource_usage": {"cache": {"memory": {"hits": 0, "misses": 0, "total": 0}, "disk": {"hits": 0, "misses": 0, "total": 0}},
                "cpu": {"user": "00:00:00", "kernel": "00:00:00", "total cpu": "00:00:00"}, "memory": {"peak_per_node": 0}},
            "dataset_statistics": [{"table_row_count": rows, "table_size": 0}],
        },
        "Schema": schema,
        "Results": results,
    }))
    .into_response())
}

/// `POST /v1.0/security/runHuntingQuery` with `{"Query": "...", "Timespan": "P30D"}`.
pub async fn graph(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, GRAPH)?;
    // Graph property names are case-insensitive; the docs show `Query` / `Timespan`.
    let map = object_body(
        Flavor::Graph,
        &body,
        &["Query", "query", "Timespan", "timespan"],
        &[],
    )?;
    let query = match (
        opt_string(Flavor::Graph, &map, "Query")?,
        opt_string(Flavor::Graph, &map, "query")?,
    ) {
        (Some(q), _) | (None, Some(q)) => q,
        (None, None) => {
            return Err(ApiError::new(
                Flavor::Graph,
                axum::http::StatusCode::BAD_REQUEST,
                "invalidRequest",
                "Parameter Query is missing.",
            ));
        }
    };
    let timespan =
        opt_string(Flavor::Graph, &map, "Timespan")?.or(opt_string(Flavor::Graph, &map, "timespan")?);
    let result = execute(
        &state,
        &caller.tenant_id,
        &query,
        HuntingApi::Graph,
        timespan.as_deref(),
    )?;
    let schema: Vec<Value> = result
        .columns
        .iter()
        .map(|(n, t)| json!({"name": n, "type": t}))
        .collect();
    Ok(Json(json!({
        "@odata.context": format!("{}/v1.0/$metadata#microsoft.graph.security.huntingQueryResults", base_url(&headers)),
        "schema": schema,
        "results": result.rows,
    }))
    .into_response())
}
