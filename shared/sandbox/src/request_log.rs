//! The record of every request received, so tests can assert the User-Agent, paging and call counts. Credentials
//! never enter the log: `Authorization` and the form fields `client_secret` / `client_assertion` are replaced by a
//! fingerprint (`sha256:` + the first 12 hex digits of the SHA-256 of the value).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::clock::format_time;
use crate::state::AppState;

/// Most records kept (the oldest tenth is dropped when full).
const MAX_RECORDS: usize = 100_000;

/// Largest request body the sandbox reads (bigger bodies get 413).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One request as the sandbox received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Simulated time of receipt.
    pub received_at: String,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers (lower-case names; repeated headers joined with `, `); `authorization` redacted to a fingerprint.
    pub headers: BTreeMap<String, String>,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// Body as text (lossy UTF-8), secrets in form bodies redacted.
    pub body: String,
    /// Response status; `None` when the connection was dropped before answering.
    pub status: Option<u16>,
}

/// The request log.
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<Vec<RequestRecord>>,
}

impl RequestLog {
    /// A copy of every record so far.
    pub fn snapshot(&self) -> Vec<RequestRecord> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Empties the log.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn push(&self, mut record: RequestRecord) -> u64 {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = entries.last().map_or(1, |r| r.seq + 1);
        record.seq = seq;
        if entries.len() >= MAX_RECORDS {
            // A long-running demo keeps the newest records; `seq` still counts every request.
            entries.drain(..MAX_RECORDS / 10);
        }
        entries.push(record);
        seq
    }

    fn set_status(&self, seq: u64, status: u16) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = entries.iter_mut().rev().find(|r| r.seq == seq) {
            r.status = Some(status);
        }
    }
}

/// A fingerprint of a secret value.
pub fn fingerprint(value: &str) -> String {
    let digest = hex::encode(sha2::Sha256::digest(value.as_bytes()));
    format!("sha256:{}", &digest[..12])
}

fn redact_authorization(value: &str) -> String {
    match value.split_once(' ') {
        Some((scheme, secret)) => format!("{scheme} {}", fingerprint(secret.trim())),
        None => fingerprint(value),
    }
}

fn redact_form(body: &str) -> String {
    if !body.contains("client_secret=") && !body.contains("client_assertion=") {
        return body.to_owned();
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| {
            let v = if k == "client_secret" || k == "client_assertion" {
                fingerprint(&v)
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Middleware: records the request, runs the rest, records the status.
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let mut headers = BTreeMap::new();
    for (name, value) in &parts.headers {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let text = if name == axum::http::header::AUTHORIZATION {
            redact_authorization(&text)
        } else {
            text
        };
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v: &mut String| {
                v.push_str(", ");
                v.push_str(&text);
            })
            .or_insert(text);
    }
    let record = RequestRecord {
        seq: 0,
        received_at: format_time(state.clock.now()),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        user_agent: headers.get("user-agent").cloned(),
        headers,
        body: redact_form(&String::from_utf8_lossy(&bytes)),
        status: None,
    };
    tracing::debug!(method = %record.method, path = %record.path, "request");
    let seq = state.log.push(record);
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    state.log.set_status(seq, response.status().as_u16());
    response
}
