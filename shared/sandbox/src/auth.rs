//! Bearer-token checks of the API endpoints: signature, expiry, audience of the right API, a known tenant, the
//! documented application permission (`roles`), then the operation's rate limit.

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::{Map, Value};

use crate::api_error::{ApiError, Flavor};
use crate::rate_limit::Limits;
use crate::state::Shared;

/// The protected APIs (token audiences).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Microsoft Defender for Endpoint (WindowsDefenderATP).
    Mde,
    /// Microsoft 365 Defender (Microsoft Threat Protection).
    M365d,
    /// Microsoft Graph.
    Graph,
}

impl Api {
    /// The API's application (client) id, the `aud` of v2 tokens.
    pub fn app_id(self) -> &'static str {
        match self {
            Api::Mde => "fc780465-2017-40d4-a0c5-307022471b92",
            Api::M365d => "8ee8fdad-f234-4243-8f3b-15c294843740",
            Api::Graph => "00000003-0000-0000-c000-000000000000",
        }
    }

    /// Resource URIs (v1 `resource=`, v2 scope prefix) that name this API, lower case, without trailing slash.
    pub fn resources(self) -> &'static [&'static str] {
        match self {
            Api::Mde => &[
                "https://api.securitycenter.microsoft.com",
                "https://securitycenter.onmicrosoft.com/windowsatpservice",
            ],
            Api::M365d => &["https://api.security.microsoft.com"],
            Api::Graph => &["https://graph.microsoft.com"],
        }
    }

    /// Which API a resource identifier (URI or app id) names.
    pub fn from_resource(resource: &str) -> Option<Api> {
        let r = resource.trim().trim_end_matches('/').to_lowercase();
        [Api::Mde, Api::M365d, Api::Graph]
            .into_iter()
            .find(|api| api.app_id() == r || api.resources().contains(&r.as_str()))
    }

    /// Field of the tenant's granted roles.
    pub fn granted(self, roles: &crate::config::GrantedRoles) -> &[String] {
        match self {
            Api::Mde => &roles.mde,
            Api::M365d => &roles.m365d,
            Api::Graph => &roles.graph,
        }
    }

    fn flavor(self) -> Flavor {
        match self {
            Api::Graph => Flavor::Graph,
            _ => Flavor::Mde,
        }
    }
}

/// A protected operation: its API, name (for rate limits and logs), accepted roles and documented limits.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// API.
    pub api: Api,
    /// Name, e.g. `mde.alerts.list`.
    pub name: &'static str,
    /// Any one of these application permissions is enough.
    pub roles: &'static [&'static str],
    /// Documented per-tenant limits.
    pub limits: Limits,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Tenant (`tid`), lower case.
    pub tenant_id: String,
    /// Client application id (`appid` / `azp`).
    pub app_id: String,
    /// Granted application permissions (`roles`).
    pub roles: Vec<String>,
}

impl Caller {
    /// Whether the token carries `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Checks the request's token for `op` and counts the call against the tenant's limits.
pub fn authorize(state: &Shared, headers: &HeaderMap, op: Operation) -> Result<Caller, ApiError> {
    let flavor = op.api.flavor();
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                flavor,
                "Authorization header is missing or is not a Bearer token.",
            )
        })?;
    let claims = verify(state, token).map_err(|m| ApiError::unauthorized(flavor, m))?;
    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or_default();
    if Api::from_resource(aud) != Some(op.api) {
        return Err(ApiError::unauthorized(
            flavor,
            format!("Invalid audience '{aud}' for this API."),
        ));
    }
    let tenant_id = claims
        .get("tid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_lowercase();
    if state.config.tenant(&tenant_id).is_none() {
        return Err(ApiError::unauthorized(flavor, "The token's tenant is unknown."));
    }
    let app_id = claims
        .get("appid")
        .or_else(|| claims.get("azp"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let roles: Vec<String> = claims
        .get("roles")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let caller = Caller {
        tenant_id,
        app_id,
        roles,
    };
    if !op.roles.iter().any(|r| caller.has_role(r)) {
        return Err(ApiError::forbidden(
            flavor,
            format!(
                "The application does not have any of the required application permissions ({}) to access the resource.",
                op.roles.join(", ")
            ),
        ));
    }
    let now = state.clock.now();
    state
        .limiter
        .check(
            &state.config.rate_limits,
            &caller.tenant_id,
            op.name,
            op.limits,
            now,
        )
        .map_err(|retry| ApiError::too_many_requests(flavor, retry))?;
    Ok(caller)
}

/// Verifies signature, `kid`, expiry and issuer of one of our tokens; returns its claims.
fn verify(state: &Shared, token: &str) -> Result<Map<String, Value>, String> {
    let header = decode_header(token).map_err(|_| "The access token is malformed.".to_owned())?;
    if header.kid.as_deref() != Some(state.keys.kid.as_str()) {
        return Err("The access token was not signed by a known key.".to_owned());
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    // Tokens live in simulated time (they are issued at the sandbox's clock), so expiry is checked below.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
    let data = decode::<Map<String, Value>>(token, &state.keys.decoding, &validation)
        .map_err(|_| "The access token signature is invalid.".to_owned())?;
    let claims = data.claims;
    let now = state.clock.token_now().unix_timestamp();
    let claim = |name: &str| claims.get(name).and_then(Value::as_i64).unwrap_or_default();
    if now >= claim("exp") {
        return Err("The access token has expired.".to_owned());
    }
    if now < claim("nbf") {
        return Err("The access token is not yet valid.".to_owned());
    }
    let tid = claims.get("tid").and_then(Value::as_str).unwrap_or_default();
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or_default();
    let expected = [
        format!("https://sts.windows.net/{tid}/"),
        format!("https://login.microsoftonline.com/{tid}/v2.0"),
    ];
    if !expected.iter().any(|e| e == iss) {
        return Err("The access token issuer does not match its tenant.".to_owned());
    }
    Ok(claims)
}
