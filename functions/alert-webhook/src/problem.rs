//! RFC 9457 problem details: `application/problem+json` with a type URI per problem, and `errors[]` with JSON
//! Pointers for schema failures. Never an echo of a secret or of the body.

use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

/// The media type of a problem.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field at fault (a JSON Pointer into the event, and what is wrong there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON Pointer, e.g. `/data/device/ip`.
    pub pointer: String,
    /// What is wrong.
    pub detail: String,
}

/// A problem answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `urn:mde-bridge:problem:<slug>` (listed in the crate's README).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, fixed summary of the problem type.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case and what to do.
    pub detail: String,
    /// Fields at fault, for schema failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds to wait before sending again (also the `Retry-After` header).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of a type (`slug`), with a status, a fixed title and a detail.
    pub fn new(status: StatusCode, slug: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:mde-bridge:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// With fields at fault.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// With a `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The HTTP answer.
    pub fn response(&self) -> Response<Vec<u8>> {
        let body = serde_json::to_vec(self).unwrap_or_default();
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}
