//! The documented error bodies of the Defender APIs: MDE / Microsoft 365 Defender
//! `{"error":{"code","message","target"}}` and Graph `{"error":{"code","message","innerError":{...}}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock::format_time;

/// Which API family answers (decides the error body shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// MDE and Microsoft 365 Defender.
    Mde,
    /// Microsoft Graph.
    Graph,
}

/// An error answer of an API endpoint.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Body shape.
    pub flavor: Flavor,
    /// HTTP status.
    pub status: StatusCode,
    /// Error code (`ODataError`, `Forbidden`, `itemNotFound`...).
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// `Retry-After` seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(flavor: Flavor, status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            flavor,
            status,
            code: code.to_owned(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 with the family's bad-request code (`BadRequest` / `badRequest`).
    pub fn bad_request(flavor: Flavor, message: impl Into<String>) -> Self {
        let code = match flavor {
            Flavor::Mde => "BadRequest",
            Flavor::Graph => "badRequest",
        };
        Self::new(flavor, StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 for a malformed query (`ODataError` / Graph `badRequest`).
    pub fn odata(flavor: Flavor, message: impl Into<String>) -> Self {
        let code = match flavor {
            Flavor::Mde => "ODataError",
            Flavor::Graph => "badRequest",
        };
        Self::new(flavor, StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `InvalidRequestBody` for a body that does not parse or names unknown properties.
    pub fn invalid_body(flavor: Flavor, message: impl Into<String>) -> Self {
        let code = match flavor {
            Flavor::Mde => "InvalidRequestBody",
            Flavor::Graph => "invalidRequest",
        };
        Self::new(flavor, StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 for a missing entity.
    pub fn not_found(flavor: Flavor, what: &str, id: &str) -> Self {
        let code = match flavor {
            Flavor::Mde => "ResourceNotFound",
            Flavor::Graph => "itemNotFound",
        };
        Self::new(
            flavor,
            StatusCode::NOT_FOUND,
            code,
            format!("{what} {id} was not found"),
        )
    }

    /// 401 for a missing or invalid token.
    pub fn unauthorized(flavor: Flavor, message: impl Into<String>) -> Self {
        let code = match flavor {
            Flavor::Mde => "Unauthorized",
            Flavor::Graph => "unauthenticated",
        };
        Self::new(flavor, StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403 for a token without the needed application permission.
    pub fn forbidden(flavor: Flavor, message: impl Into<String>) -> Self {
        let code = match flavor {
            Flavor::Mde => "Forbidden",
            Flavor::Graph => "accessDenied",
        };
        Self::new(flavor, StatusCode::FORBIDDEN, code, message)
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(flavor: Flavor, retry_after: u64) -> Self {
        let code = match flavor {
            Flavor::Mde => "TooManyRequests",
            Flavor::Graph => "activityLimitReached",
        };
        let mut e = Self::new(
            flavor,
            StatusCode::TOO_MANY_REQUESTS,
            code,
            format!(
                "API calls quota exceeded! Maximum admitted calls reached. Try again in {retry_after} seconds."
            ),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 5xx as the family sends it (`InternalServerError` with no message / Graph `generalException`).
    pub fn server_error(flavor: Flavor, status: StatusCode) -> Self {
        let code = match (flavor, status) {
            (Flavor::Mde, StatusCode::SERVICE_UNAVAILABLE) => "ServiceUnavailable",
            (Flavor::Mde, _) => "InternalServerError",
            (Flavor::Graph, StatusCode::SERVICE_UNAVAILABLE) => "serviceNotAvailable",
            (Flavor::Graph, _) => "generalException",
        };
        Self::new(flavor, status, code, "")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = uuid::Uuid::new_v4().to_string();
        let body = match self.flavor {
            Flavor::Mde => {
                json!({"error": {"code": self.code, "message": self.message, "target": request_id}})
            }
            Flavor::Graph => json!({"error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": format_time(crate::clock::request_now()),
                    "request-id": request_id,
                    "client-request-id": request_id,
                }
            }}),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
