//! Fault injection: on requests whose path matches a pattern (`*` matches any run of characters), answer with a
//! 5xx (or 4xx), a 429 with `Retry-After`, a delay, a dropped connection or a truncated body, with a probability or on the
//! Nth matching call. Admin paths (`/_sandbox/...`) are never faulted.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::SmallRng;
use rand::{RngExt as _, SeedableRng as _};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::api_error::{ApiError, Flavor};
use crate::state::AppState;

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Path pattern, e.g. `/api/alerts*` or `*/oauth2/v2.0/token`; `*` matches any characters.
    pub path: String,
    /// Only this HTTP method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// What happens.
    pub fault: FaultKind,
    /// Chance per matching call, 0..=1 (1 when absent and `nth_call` is absent).
    #[serde(default)]
    pub probability: Option<f64>,
    /// Fire on exactly the Nth matching call (1-based) instead of by probability.
    #[serde(default)]
    pub nth_call: Option<u64>,
    /// Stop after firing this many times (unlimited when absent).
    #[serde(default)]
    pub max_times: Option<u64>,
}

impl FaultRule {
    /// `fault` on a share `probability` (0..=1) of the calls whose path matches `path`, any method, unlimited.
    pub fn random(path: &str, fault: FaultKind, probability: f64) -> Self {
        Self {
            path: path.to_owned(),
            method: None,
            fault,
            probability: Some(probability),
            nth_call: None,
            max_times: None,
        }
    }
}

/// A kind of fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Answer with this status and the API's error body for it: 5xx (e.g. 500, 502, 503), or 401 / 403 (a
    /// token refused, consent or a permission withdrawn mid-run), or another 4xx as a bad request.
    Status {
        /// HTTP status, 400..=599.
        status: u16,
    },
    /// Answer 429 with `Retry-After`.
    TooManyRequests {
        /// `Retry-After` seconds.
        retry_after_seconds: u64,
    },
    /// Wait before answering normally.
    Delay {
        /// Milliseconds.
        millis: u64,
    },
    /// Close the connection without answering.
    DropConnection,
    /// Send the full `Content-Length` but only half of the body, then close the connection.
    TruncatedBody,
    /// Answer 200 with an HTML page instead of JSON (what a captive proxy or a gateway error page looks like).
    NotJson,
    /// Answer normally, but with these fields removed from every record of a collection's `value` (records
    /// missing `id` or `lastUpdateTime`, as a degraded API might send them).
    MalformedRecords {
        /// Field names to remove, e.g. `["id"]`.
        drop_fields: Vec<String>,
    },
}

/// One rule with its counters: calls it matched and times it fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultTally {
    /// The rule.
    pub rule: FaultRule,
    /// Calls whose method and path matched it.
    pub matched: u64,
    /// Times it fired.
    pub fired: u64,
}

#[derive(Debug)]
struct RuleState {
    rule: FaultRule,
    calls: u64,
    fired: u64,
}

/// The active rules and their counters.
#[derive(Debug)]
pub struct FaultInjector {
    rules: Mutex<Vec<RuleState>>,
    rng: Mutex<SmallRng>,
}

/// Lets a request close its own connection (inserted per connection by the server).
#[derive(Debug, Clone)]
pub struct ConnectionKiller(pub Arc<Notify>);

impl FaultInjector {
    /// Starts with `rules`; `seed` makes probabilistic faults reproducible.
    pub fn new(rules: Vec<FaultRule>, seed: u64) -> Self {
        Self {
            rules: Mutex::new(
                rules
                    .into_iter()
                    .map(|rule| RuleState {
                        rule,
                        calls: 0,
                        fired: 0,
                    })
                    .collect(),
            ),
            rng: Mutex::new(SmallRng::seed_from_u64(seed)),
        }
    }

    /// Adds rules.
    pub fn add(&self, rules: Vec<FaultRule>) {
        let mut all = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        all.extend(rules.into_iter().map(|rule| RuleState {
            rule,
            calls: 0,
            fired: 0,
        }));
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// The active rules.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|r| r.rule.clone())
            .collect()
    }

    /// How often each active rule has fired so far (in the order of [`FaultInjector::rules`]).
    pub fn tally(&self) -> Vec<FaultTally> {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|r| FaultTally {
                rule: r.rule.clone(),
                matched: r.calls,
                fired: r.fired,
            })
            .collect()
    }

    /// The fault to apply to this call, if any (counts the call against every matching rule).
    pub fn decide(&self, method: &str, path: &str) -> Option<FaultKind> {
        let mut rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let mut chosen = None;
        for state in rules.iter_mut() {
            let rule = &state.rule;
            if rule
                .method
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case(method))
                || !glob(&rule.path, path)
            {
                continue;
            }
            state.calls += 1;
            if chosen.is_some() || rule.max_times.is_some_and(|max| state.fired >= max) {
                continue;
            }
            let fires = match rule.nth_call {
                Some(n) => state.calls == n,
                None => rng.random_bool(rule.probability.unwrap_or(1.0).clamp(0.0, 1.0)),
            };
            if fires {
                state.fired += 1;
                chosen = Some(rule.fault.clone());
            }
        }
        chosen
    }
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

fn flavor_of(path: &str) -> Flavor {
    if path.starts_with("/v1.0/") || path.starts_with("/beta/") {
        Flavor::Graph
    } else {
        Flavor::Mde
    }
}

/// Middleware: applies the first firing rule.
pub async fn inject(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/_sandbox/") {
        return next.run(request).await;
    }
    let Some(fault) = state.faults.decide(request.method().as_str(), &path) else {
        return next.run(request).await;
    };
    tracing::info!(%path, ?fault, "injecting fault");
    if path.contains("/oauth2/")
        && let Some(response) = entra_fault(&fault)
    {
        return response;
    }
    match fault {
        FaultKind::Status { status } => status_error(flavor_of(&path), status).into_response(),
        FaultKind::TooManyRequests { retry_after_seconds } => {
            ApiError::too_many_requests(flavor_of(&path), retry_after_seconds).into_response()
        }
        FaultKind::Delay { millis } => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(request).await
        }
        FaultKind::DropConnection => {
            match request.extensions().get::<ConnectionKiller>() {
                Some(killer) => {
                    killer.0.notify_one();
                    // The connection task drops this request with the connection.
                    std::future::pending::<()>().await;
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                }
                None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        FaultKind::TruncatedBody => truncate(next.run(request).await).await,
        FaultKind::NotJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html><body><h1>Gateway maintenance</h1></body></html>",
        )
            .into_response(),
        FaultKind::MalformedRecords { drop_fields } => {
            strip_fields(next.run(request).await, &drop_fields).await
        }
    }
}

/// Removes `fields` from every record of a JSON collection answer; other answers pass unchanged.
async fn strip_fields(response: Response, fields: &[String]) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if let Some(records) = json.get_mut("value").and_then(serde_json::Value::as_array_mut) {
        for record in records.iter_mut().filter_map(serde_json::Value::as_object_mut) {
            for field in fields {
                record.remove(field);
            }
        }
    }
    let body = serde_json::to_vec(&json).unwrap_or_default();
    parts.headers.insert(header::CONTENT_LENGTH, body.len().into());
    Response::from_parts(parts, Body::from(body))
}

/// The API's error for an injected status.
fn status_error(flavor: Flavor, status: u16) -> ApiError {
    const FAULT: &str = "(sandbox fault injection)";
    match StatusCode::from_u16(status) {
        Ok(StatusCode::UNAUTHORIZED) => {
            ApiError::unauthorized(flavor, format!("The access token is invalid. {FAULT}"))
        }
        Ok(StatusCode::FORBIDDEN) => ApiError::forbidden(
            flavor,
            format!(
                "The application does not have any of the required application permissions to access the resource. {FAULT}"
            ),
        ),
        Ok(s) if s.is_client_error() => {
            let code = match flavor {
                Flavor::Mde => "BadRequest",
                Flavor::Graph => "badRequest",
            };
            ApiError::new(flavor, s, code, format!("The request was refused. {FAULT}"))
        }
        Ok(s) if s.is_server_error() => ApiError::server_error(flavor, s),
        _ => ApiError::server_error(flavor, StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Token endpoints answer faults in Entra's error shape.
fn entra_fault(fault: &FaultKind) -> Option<Response> {
    let (status, retry_after) = match fault {
        FaultKind::Status { status } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            None,
        ),
        FaultKind::TooManyRequests { retry_after_seconds } => {
            (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after_seconds))
        }
        _ => return None,
    };
    let body = serde_json::json!({
        "error": "temporarily_unavailable",
        "error_description": "AADSTS90033: A transient error has occurred. Please try again. (sandbox fault injection)",
        "error_codes": [90033],
        "trace_id": uuid::Uuid::new_v4().to_string(),
        "correlation_id": uuid::Uuid::new_v4().to_string(),
    });
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    }
    Some(response)
}

async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    parts.headers.insert(header::CONTENT_LENGTH, bytes.len().into());
    let half = bytes.slice(..bytes.len() / 2);
    // The pause lets hyper flush the headers and the first half before the error aborts the connection.
    let abort = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "sandbox fault: truncated body",
        ))
    });
    let stream = futures::StreamExt::chain(futures::stream::iter(vec![Ok(half)]), abort);
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_matches_prefixes_suffixes_and_middles() {
        assert!(glob("/api/alerts*", "/api/alerts/da1"));
        assert!(glob("*/oauth2/v2.0/token", "/abc/oauth2/v2.0/token"));
        assert!(glob("/api/*/cancel", "/api/machineactions/x/cancel"));
        assert!(!glob("/api/alerts", "/api/alerts/x"));
        assert!(glob("*", "/anything"));
    }
}
