//! Helpers shared by the API handlers: request bodies with case-sensitive names, collection envelopes, enum checks.

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::api_error::{ApiError, Flavor};
use crate::odata::{CollectionSpec, QueryOptions, parse_query};

/// `http://HOST` of the request (the sandbox's own address as the client sees it).
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Parses OData options or answers the family's 400.
pub fn query_options(
    flavor: Flavor,
    raw: Option<&str>,
    spec: &CollectionSpec,
) -> Result<QueryOptions, ApiError> {
    parse_query(raw, spec).map_err(|e| ApiError::odata(flavor, e.0))
}

/// A JSON object body whose property names must be among `allowed` (exact case) and include `required`.
pub fn object_body(
    flavor: Flavor,
    body: &[u8],
    allowed: &[&str],
    required: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_body(flavor, format!("Request body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::invalid_body(
            flavor,
            "Request body must be a JSON object.",
        ));
    };
    check_names(flavor, &map, allowed, required)?;
    Ok(map)
}

/// Checks property names (case-sensitive) of one object.
pub fn check_names(
    flavor: Flavor,
    map: &Map<String, Value>,
    allowed: &[&str],
    required: &[&str],
) -> Result<(), ApiError> {
    if let Some(unknown) = map
        .keys()
        .find(|k| !allowed.contains(&k.as_str()) && !k.starts_with("@odata"))
    {
        return Err(ApiError::invalid_body(
            flavor,
            format!(
                "Request body is invalid: '{unknown}' is not a known parameter (names are case-sensitive; expected one of {}).",
                allowed.join(", ")
            ),
        ));
    }
    if let Some(missing) = required.iter().find(|r| map.get(**r).is_none_or(Value::is_null)) {
        let code = match flavor {
            Flavor::Mde => "MissingRequiredParameter",
            Flavor::Graph => "invalidRequest",
        };
        return Err(ApiError::new(
            flavor,
            axum::http::StatusCode::BAD_REQUEST,
            code,
            format!("Parameter {missing} is missing."),
        ));
    }
    Ok(())
}

/// A string property, or a 400 if present with another type.
pub fn opt_string(flavor: Flavor, map: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid_input(flavor, format!("{name} must be a string."))),
    }
}

/// `InvalidInput` (MDE) / `badRequest` (Graph).
pub fn invalid_input(flavor: Flavor, message: impl Into<String>) -> ApiError {
    let code = match flavor {
        Flavor::Mde => "InvalidInput",
        Flavor::Graph => "badRequest",
    };
    ApiError::new(flavor, axum::http::StatusCode::BAD_REQUEST, code, message)
}

/// Checks an enum value (exact match) and returns it.
pub fn enum_value(flavor: Flavor, name: &str, value: &str, allowed: &[&str]) -> Result<String, ApiError> {
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(invalid_input(
            flavor,
            format!(
                "Invalid value '{value}' for {name}; allowed: {}.",
                allowed.join(", ")
            ),
        ))
    }
}

/// Determinations Microsoft retired in August 2022 and no longer accepts in updates (defender-api.md §4.2, §8).
const RETIRED_DETERMINATIONS: [&str; 2] = ["Apt", "SecurityPersonnel"];

/// Checks a determination: a retired one (any casing: Graph's `apt`, `securityPersonnel` too) is refused with a
/// 400 naming it; anything else must be one of `allowed` (`check` does the matching and returns the stored value).
pub fn determination(
    flavor: Flavor,
    value: &str,
    check: impl FnOnce(&str) -> Result<String, ApiError>,
) -> Result<String, ApiError> {
    if let Some(retired) = RETIRED_DETERMINATIONS
        .iter()
        .find(|r| r.eq_ignore_ascii_case(value))
    {
        return Err(invalid_input(
            flavor,
            format!(
                "Invalid value '{value}' for determination: '{retired}' was retired in August 2022 and is no longer accepted."
            ),
        ));
    }
    check(value)
}

/// Runs a handler's heavy part — querying the world and rendering a page (up to 10,000 MDE alerts with evidence,
/// hundreds of milliseconds of CPU under the world's lock; every list of alerts and incidents does) — on tokio's
/// blocking pool. On a runtime worker it would
/// hold that worker, and an answer another connection is still sending would wait for it: a client that reads one
/// page while it asks for the next saw the next page's rendering and the current page's body take turns, which a
/// real service's servers do not do (measured with `scripts/bench`: the export's wall time against its API time).
pub async fn off_runtime<T: Send + 'static>(
    flavor: Flavor,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: only when the runtime shuts down.
        Err(_) => Err(ApiError::server_error(flavor, StatusCode::SERVICE_UNAVAILABLE)),
    }
}

/// `{"@odata.context": ..., "value": [...]}`.
pub fn collection(context: String, values: Vec<Value>) -> Response {
    Json(json!({"@odata.context": context, "value": values})).into_response()
}

/// A single entity with its `@odata.context`.
pub fn entity(context: String, mut value: Value) -> Value {
    if let Some(obj) = value.as_object_mut() {
        let mut with_context = Map::new();
        with_context.insert("@odata.context".to_owned(), Value::String(context));
        with_context.extend(std::mem::take(obj));
        *obj = with_context;
    }
    value
}

/// Whether the caller sent `Prefer: include-unknown-enum-members`.
pub fn include_unknown_enum_members(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("include-unknown-enum-members"))
}
