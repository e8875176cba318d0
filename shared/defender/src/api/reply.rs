//! What an answer means: success, a retryable failure (5xx, truncated body, 429 with its `Retry-After`, the one 401)
//! or a final error, with the documented error body of MDE / Microsoft 365 Defender and Graph read into it.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::{Call, Reply};
use crate::DefenderError;

/// The result of one attempt that did not succeed.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A 5xx, a network error, a timeout or a truncated body: retry with backoff.
    Transient(String),
    /// 429 (or 503 with `Retry-After`): retry after the given wait.
    Throttled {
        retry_after: Option<Duration>,
        message: String,
    },
    /// 401: retried once with a fresh token when `retry`.
    Unauthorized { message: String, retry: bool },
    /// 403.
    Forbidden {
        code: String,
        message: String,
        consent_url: Option<String>,
    },
    /// 404.
    NotFound { code: String, message: String },
    /// Another 4xx with the documented body.
    Api {
        status: u16,
        code: String,
        message: String,
        correlation: Option<String>,
    },
    /// A body that is not the documented JSON (HTML page, text).
    Unexpected { status: u16, reason: String },
    /// Already a final error (e.g. from the token source).
    Fatal(Box<DefenderError>),
}

impl Outcome {
    pub(crate) fn retryable(&self) -> bool {
        match self {
            Outcome::Transient(_) | Outcome::Throttled { .. } => true,
            Outcome::Unauthorized { retry, .. } => *retry,
            _ => false,
        }
    }

    pub(crate) fn into_error(self, call: &Call<'_>, attempts: u32) -> DefenderError {
        let tenant = call.tenant.clone();
        let endpoint = call.endpoint.name;
        match self {
            Outcome::Transient(reason) => DefenderError::Unavailable {
                what: format!(
                    "{endpoint} for tenant {tenant} at {} ({attempts} attempts)",
                    call.url.origin().ascii_serialization()
                ),
                reason,
            },
            Outcome::Throttled { retry_after, .. } => DefenderError::Throttled {
                tenant,
                endpoint,
                retry_after,
                attempts,
            },
            Outcome::Unauthorized { message, .. } => DefenderError::Unauthorized {
                tenant,
                endpoint,
                message,
            },
            Outcome::Forbidden {
                code,
                message,
                consent_url,
            } => DefenderError::Forbidden {
                tenant,
                endpoint,
                permission: call.endpoint.permission(),
                reason: format!("{code}: {message}"),
                consent_url,
            },
            Outcome::NotFound { code, message } => DefenderError::NotFound {
                tenant,
                endpoint,
                code,
                message,
            },
            Outcome::Api {
                status,
                code,
                message,
                correlation,
            } => DefenderError::Api {
                tenant,
                endpoint,
                status,
                code,
                message,
                correlation: correlation.map(String::into_boxed_str),
            },
            Outcome::Unexpected { status, reason } => DefenderError::UnexpectedBody {
                tenant,
                endpoint,
                status,
                reason,
            },
            Outcome::Fatal(e) => *e,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Transient(reason) => write!(f, "transient failure: {reason}"),
            Outcome::Throttled { retry_after, message } => {
                write!(f, "throttled (Retry-After {retry_after:?}): {message}")
            }
            Outcome::Unauthorized { message, .. } => write!(f, "401, refreshing the token: {message}"),
            Outcome::Forbidden { code, message, .. } => write!(f, "403 {code}: {message}"),
            Outcome::NotFound { code, message } => write!(f, "404 {code}: {message}"),
            Outcome::Api {
                status,
                code,
                message,
                ..
            } => write!(f, "{status} {code}: {message}"),
            Outcome::Unexpected { status, reason } => write!(f, "{status}: {reason}"),
            Outcome::Fatal(e) => write!(f, "{e}"),
        }
    }
}

/// `{"error": {"code", "message", "target" | "innerError": {"request-id"}}}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    target: Option<String>,
    #[serde(default, rename = "innerError")]
    inner_error: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(default, rename = "request-id")]
    request_id: Option<String>,
}

/// A 2xx answer whose status and headers are in and whose body is still to be read.
pub(crate) struct Head {
    pub status: u16,
    /// The answer's `Date` header: the service's clock.
    pub date: Option<std::time::SystemTime>,
    pub response: reqwest::Response,
}

impl Head {
    /// Reads the whole body; a body cut short (connection reset after the headers) is a transient failure.
    pub(crate) async fn into_reply(self) -> Result<Reply, Outcome> {
        let (status, date) = (self.status, self.date);
        let body = self.response.bytes().await.map_err(|e| cut_short(status, &e))?;
        Ok(Reply { status, date, body })
    }
}

/// A body that ended early (reset, timeout) while being read.
pub(crate) fn cut_short(status: u16, e: &reqwest::Error) -> Outcome {
    Outcome::Transient(format!(
        "the {status} answer's body was cut short: {}",
        root_cause(e)
    ))
}

/// Sorts an answer by its status: a 2xx is returned with its body unread; any other is read whole and sorted.
pub(crate) async fn classify_head(response: reqwest::Response) -> Result<Head, Outcome> {
    let status = response.status();
    // The service's clock (RFC 9110 requires an origin server with a clock to send Date).
    let date = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    if status.is_success() {
        return Ok(Head {
            status: status.as_u16(),
            date,
            response,
        });
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .bytes()
        .await
        .map_err(|e| cut_short(status.as_u16(), &e))?;
    Err(failure(status, retry_after, &content_type, &body))
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// Sorts a non-2xx answer.
pub(crate) fn failure(
    status: StatusCode,
    retry_after: Option<Duration>,
    content_type: &str,
    body: &Bytes,
) -> Outcome {
    let parsed = serde_json::from_slice::<ErrorEnvelope>(body)
        .ok()
        .map(|e| e.error);
    let (code, message, correlation) = match parsed {
        Some(e) => {
            let correlation = e.target.or(e.inner_error.and_then(|i| i.request_id));
            (e.code, e.message, correlation)
        }
        None => (String::new(), String::new(), None),
    };
    let describe = || {
        if code.is_empty() {
            format!(
                "no documented error body (content type {content_type:?}, {} bytes)",
                body.len()
            )
        } else {
            format!("{code}: {message}")
        }
    };
    match status.as_u16() {
        429 => Outcome::Throttled {
            retry_after,
            message: describe(),
        },
        503 if retry_after.is_some() => Outcome::Throttled {
            retry_after,
            message: describe(),
        },
        500..=599 => Outcome::Transient(format!("{status} {}", describe())),
        401 => Outcome::Unauthorized {
            message: describe(),
            retry: true,
        },
        _ if code.is_empty() => Outcome::Unexpected {
            status: status.as_u16(),
            reason: describe(),
        },
        403 => Outcome::Forbidden {
            code,
            message,
            consent_url: None,
        },
        404 => Outcome::NotFound { code, message },
        other => Outcome::Api {
            status: other,
            code,
            message,
            correlation,
        },
    }
}

/// Decodes a 2xx JSON body into `T`: typed errors, never a panic; the body itself is not quoted. Truncated JSON is
/// transient (fetched again); anything else that does not decode is an unexpected body.
pub(crate) fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, Outcome> {
    serde_json::from_slice(body).map_err(|e| {
        let reason = body_error(&e, body);
        if e.classify() == serde_json::error::Category::Eof {
            Outcome::Transient(reason)
        } else {
            Outcome::Unexpected { status, reason }
        }
    })
}

/// Describes why a body did not decode.
pub(crate) fn body_error(e: &serde_json::Error, body: &[u8]) -> String {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match (e.classify(), first) {
        (_, Some(b'<')) => "an HTML or XML page instead of JSON".to_owned(),
        (serde_json::error::Category::Eof, _) => format!("truncated JSON ({} bytes): {e}", body.len()),
        (serde_json::error::Category::Syntax, _) => format!("not JSON: {e}"),
        _ => format!("JSON of an unexpected shape: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mde_and_graph_error_bodies_are_read_with_their_code_and_correlation() {
        let mde = Bytes::from_static(
            br#"{"error":{"code":"InvalidRequestBody","message":"bad","target":"c0ffee"}}"#,
        );
        match failure(StatusCode::BAD_REQUEST, None, "application/json", &mde) {
            Outcome::Api {
                status,
                code,
                correlation,
                ..
            } => {
                assert_eq!((status, code.as_str()), (400, "InvalidRequestBody"));
                assert_eq!(correlation.as_deref(), Some("c0ffee"));
            }
            other => panic!("{other:?}"),
        }
        let graph = Bytes::from_static(
            br#"{"error":{"code":"accessDenied","message":"no","innerError":{"request-id":"r1","date":"x"}}}"#,
        );
        assert!(matches!(
            failure(StatusCode::FORBIDDEN, None, "application/json", &graph),
            Outcome::Forbidden { ref code, .. } if code == "accessDenied"
        ));
    }

    #[test]
    fn an_html_error_page_is_an_unexpected_body_and_an_html_502_is_retried() {
        let html = Bytes::from_static(b"<html><body>Bad gateway</body></html>");
        assert!(matches!(
            failure(StatusCode::BAD_REQUEST, None, "text/html", &html),
            Outcome::Unexpected { status: 400, .. }
        ));
        assert!(failure(StatusCode::BAD_GATEWAY, None, "text/html", &html).retryable());
        assert!(!failure(StatusCode::NOT_FOUND, None, "text/html", &html).retryable());
    }

    #[test]
    fn a_429_and_a_503_with_retry_after_are_throttling() {
        let empty = Bytes::new();
        let wait = Some(Duration::from_secs(7));
        assert!(matches!(
            failure(StatusCode::TOO_MANY_REQUESTS, wait, "", &empty),
            Outcome::Throttled { retry_after: Some(d), .. } if d.as_secs() == 7
        ));
        assert!(matches!(
            failure(StatusCode::SERVICE_UNAVAILABLE, wait, "", &empty),
            Outcome::Throttled { .. }
        ));
    }

    #[test]
    fn truncated_json_and_html_are_described_without_quoting_the_body() {
        let truncated = br#"{"value":[{"id":"da1","title":"sec"#;
        let e = serde_json::from_slice::<serde_json::Value>(truncated).err();
        let reason = e.map(|e| body_error(&e, truncated)).unwrap_or_default();
        assert!(reason.starts_with("truncated JSON"), "{reason}");
        assert!(!reason.contains("sec"), "{reason}");
    }
}
