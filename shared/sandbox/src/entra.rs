//! Emulated Entra ID: the v1 and v2 client-credentials token endpoints (client secret or certificate assertion),
//! OpenID configuration and JWKS.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use jsonwebtoken::{Algorithm, Header, Validation, decode, decode_header, encode};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::auth::Api;
use crate::config::{AppRegistration, TenantSettings};
use crate::state::AppState;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Token endpoint flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// An Entra error answer.
struct EntraError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl EntraError {
    fn new(status: StatusCode, error: &'static str, code: u32, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    fn missing(param: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_144,
            format!("The request body must contain the following parameter: '{param}'."),
        )
    }

    fn assertion(code: u32, description: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", code, description)
    }
}

impl IntoResponse for EntraError {
    fn into_response(self) -> Response {
        let trace = uuid::Uuid::new_v4().to_string();
        let correlation = uuid::Uuid::new_v4().to_string();
        let now = OffsetDateTime::now_utc();
        let timestamp = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let description = format!(
            "AADSTS{}: {} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {timestamp}",
            self.code, self.description
        );
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        (self.status, Json(body)).into_response()
    }
}

/// `POST /{tenant}/oauth2/token` (v1: `resource=`).
pub async fn token_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    issue(&state, &tenant, &headers, &body, Version::V1).unwrap_or_else(IntoResponse::into_response)
}

/// `POST /{tenant}/oauth2/v2.0/token` (v2: `scope=<resource>/.default`).
pub async fn token_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    issue(&state, &tenant, &headers, &body, Version::V2).unwrap_or_else(IntoResponse::into_response)
}

fn issue(
    state: &AppState,
    tenant_segment: &str,
    headers: &HeaderMap,
    body: &[u8],
    version: Version,
) -> Result<Response, EntraError> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let (basic_id, basic_secret) = basic_credentials(headers);
    let grant = form
        .get("grant_type")
        .ok_or_else(|| EntraError::missing("grant_type"))?;
    if grant != "client_credentials" {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70_003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let tenant = state.config.tenant(tenant_segment).ok_or_else(|| {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90_002,
            format!(
                "Tenant '{tenant_segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )
    })?;
    let client_id = form
        .get("client_id")
        .cloned()
        .or(basic_id)
        .ok_or_else(|| EntraError::missing("client_id"))?;
    let app = state
        .config
        .app(&client_id)
        .filter(|_| tenant.consented)
        .ok_or_else(|| {
            EntraError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700_016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
                    tenant.display_name
                ),
            )
        })?;
    let secret = form.get("client_secret").cloned().or(basic_secret);
    let acr = match (secret, form.get("client_assertion")) {
        (Some(secret), None) => {
            if app.expired_client_secrets.iter().any(|s| s == &secret) {
                return Err(EntraError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7_000_222,
                    format!(
                        "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app."
                    ),
                ));
            }
            if !app.client_secrets.iter().any(|s| s == &secret) {
                return Err(EntraError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7_000_215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'.".replace("{client_id}", &client_id),
                ));
            }
            "1"
        }
        (None, Some(assertion)) => {
            match form.get("client_assertion_type") {
                Some(t) if t == ASSERTION_TYPE => {}
                Some(_) => {
                    return Err(EntraError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        50_027,
                        format!("client_assertion_type must be '{ASSERTION_TYPE}'."),
                    ));
                }
                None => return Err(EntraError::missing("client_assertion_type")),
            }
            check_assertion(state, app, &[tenant_segment, &tenant.id], headers, assertion)?;
            "2"
        }
        (Some(_), Some(_)) => {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                700_025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented together.",
            ));
        }
        (None, None) => {
            return Err(EntraError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7_000_218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
    };
    let (api, resource) = requested_resource(&form, version, tenant)?;
    Ok(token_response(state, tenant, app, api, &resource, acr, version))
}

fn basic_credentials(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let decoded = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match decoded.as_deref().and_then(|s| s.split_once(':')) {
        Some((id, secret)) => (Some(id.to_owned()), Some(secret.to_owned())),
        None => (None, None),
    }
}

fn requested_resource(
    form: &HashMap<String, String>,
    version: Version,
    tenant: &TenantSettings,
) -> Result<(Api, String), EntraError> {
    let not_found = |r: &str| {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500_011,
            format!(
                "The resource principal named {r} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
                tenant.display_name
            ),
        )
    };
    match version {
        Version::V1 => {
            let resource = form
                .get("resource")
                .ok_or_else(|| EntraError::missing("resource"))?;
            let api = Api::from_resource(resource).ok_or_else(|| not_found(resource))?;
            Ok((api, resource.clone()))
        }
        Version::V2 => {
            let scope = form.get("scope").ok_or_else(|| EntraError::missing("scope"))?;
            let scopes: Vec<&str> = scope.split_whitespace().collect();
            let invalid = |m: String| EntraError::new(StatusCode::BAD_REQUEST, "invalid_scope", 70_011, m);
            let [single] = scopes.as_slice() else {
                return Err(invalid(format!(
                    "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. .default scope can't be combined with resource-specific scopes."
                )));
            };
            let resource = single.strip_suffix("/.default").ok_or_else(|| {
                invalid(format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope {single} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ))
            })?;
            let api = Api::from_resource(resource).ok_or_else(|| not_found(resource))?;
            Ok((api, resource.to_owned()))
        }
    }
}

fn check_assertion(
    state: &AppState,
    app: &AppRegistration,
    tenant_names: &[&str],
    headers: &HeaderMap,
    assertion: &str,
) -> Result<(), EntraError> {
    let header = decode_header(assertion).map_err(|_| {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50_027,
            "JWT token is invalid or malformed.",
        )
    })?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(EntraError::assertion(
            700_027,
            "Client assertion failed signature validation: only RS256 and PS256 are accepted.",
        ));
    }
    let certs = state
        .certificates
        .get(&app.client_id.to_lowercase())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let cert = certs
        .iter()
        .find(|c| header.x5t.as_deref() == Some(c.x5t.as_str()) || header.x5t_s256.as_deref() == Some(c.x5t_s256.as_str()))
        .ok_or_else(|| {
            EntraError::assertion(
                700_027,
                &format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}']",
                    header.x5t_s256.as_deref().or(header.x5t.as_deref()).unwrap_or("none")
                ),
            )
        })?;
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.leeway = 60;
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let claims = decode::<Map<String, Value>>(assertion, &cert.key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature
            | jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                EntraError::assertion(700_024, "Client assertion is not within its valid time range.")
            }
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                EntraError::assertion(700_027, "Client assertion contains an invalid signature.")
            }
            _ => EntraError::assertion(700_027, "Client assertion failed validation."),
        })?
        .claims;
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if !text("iss").eq_ignore_ascii_case(&app.client_id) || !text("sub").eq_ignore_ascii_case(&app.client_id)
    {
        return Err(EntraError::assertion(
            700_021,
            "Client assertion application identifier doesn't match 'client_id' parameter: iss and sub must both be the client id.",
        ));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let aud = text("aud");
    let accepted = [
        "https://login.microsoftonline.com".to_owned(),
        format!("http://{host}"),
    ]
    .iter()
    .flat_map(|base| {
        tenant_names.iter().flat_map(move |t| {
            [
                format!("{base}/{t}/oauth2/v2.0/token"),
                format!("{base}/{t}/oauth2/token"),
            ]
        })
    })
    .any(|a| a.eq_ignore_ascii_case(&aud));
    if !accepted {
        return Err(EntraError::assertion(
            700_027,
            &format!("Client assertion audience claim does not match the token endpoint. aud: '{aud}'."),
        ));
    }
    Ok(())
}

fn token_response(
    state: &AppState,
    tenant: &TenantSettings,
    app: &AppRegistration,
    api: Api,
    resource: &str,
    acr: &str,
    version: Version,
) -> Response {
    let now = state.clock.token_now().unix_timestamp();
    let lifetime = state.config.tokens.lifetime_seconds as i64;
    let exp = now + lifetime;
    let tid = tenant.id.to_lowercase();
    let oid = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{tid}/{}", app.client_id).as_bytes(),
    )
    .to_string();
    let roles = api.granted(&tenant.granted_roles);
    let mut claims = Map::new();
    let mut put = |k: &str, v: Value| {
        claims.insert(k.to_owned(), v);
    };
    match version {
        Version::V1 => {
            put("aud", json!(resource));
            put("iss", json!(format!("https://sts.windows.net/{tid}/")));
            put("idp", json!(format!("https://sts.windows.net/{tid}/")));
            put("appid", json!(app.client_id));
            put("appidacr", json!(acr));
            put("ver", json!("1.0"));
        }
        Version::V2 => {
            put("aud", json!(api.app_id()));
            put(
                "iss",
                json!(format!("https://login.microsoftonline.com/{tid}/v2.0")),
            );
            put("azp", json!(app.client_id));
            put("azpacr", json!(acr));
            put("ver", json!("2.0"));
        }
    }
    put("iat", json!(now));
    put("nbf", json!(now));
    put("exp", json!(exp));
    put("tid", json!(tid));
    put("oid", json!(oid));
    put("sub", json!(oid));
    put("idtyp", json!("app"));
    put("rh", json!("0.sandbox."));
    put("aio", json!("sandbox"));
    put("uti", json!(uuid::Uuid::new_v4().simple().to_string()));
    if !roles.is_empty() {
        put("roles", json!(roles));
    }
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".to_owned());
    header.kid = Some(state.keys.kid.clone());
    if version == Version::V1 {
        header.x5t = Some(state.keys.x5t.clone());
    }
    let token = match encode(&header, &claims, &state.keys.encoding) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "token signing failed");
            return EntraError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                50_000,
                "There was an error issuing a token.",
            )
            .into_response();
        }
    };
    tracing::info!(tenant = %tid, client_id = %app.client_id, api = ?api, ?version, "token issued");
    let body = match version {
        Version::V1 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": exp.to_string(),
            "not_before": now.to_string(),
            "resource": resource,
            "access_token": token,
        }),
        Version::V2 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }),
    };
    Json(body).into_response()
}

fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `GET /common/discovery/keys` and `/common/discovery/v2.0/keys` (also under a tenant).
pub async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(
        state
            .keys
            .jwks("https://login.microsoftonline.com/{tenantid}/v2.0"),
    )
}

/// `GET /{tenant}/.well-known/openid-configuration` (v1 metadata).
pub async fn openid_v1(Path(tenant): Path<String>, headers: HeaderMap) -> Json<Value> {
    let base = base(&headers);
    let issuer_tenant = if tenant == "common" {
        "{tenantid}".to_owned()
    } else {
        tenant.clone()
    };
    Json(json!({
        "token_endpoint": format!("{base}/{tenant}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/common/discovery/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "issuer": format!("https://sts.windows.net/{issuer_tenant}/"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/authorize"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
    }))
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration` (v2 metadata; `common` gives the `{tenantid}` template).
pub async fn openid_v2(Path(tenant): Path<String>, headers: HeaderMap) -> Json<Value> {
    let base = base(&headers);
    let issuer_tenant = if matches!(tenant.as_str(), "common" | "organizations") {
        "{tenantid}".to_owned()
    } else {
        tenant.clone()
    };
    Json(json!({
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "issuer": format!("https://login.microsoftonline.com/{issuer_tenant}/v2.0"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
    }))
}
