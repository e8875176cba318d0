//! The client-credentials grant: one token request to Entra ID, with a client secret or a certificate
//! assertion, and the mapping of Entra's answers to typed errors.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mde_contracts::{AppCredential, Audience, CloudEndpoints, TenantId};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::consent::admin_consent_url;
use crate::{DefenderError, Result};

/// Which token endpoint to use (the configuration type, under the name this crate uses).
pub use mde_contracts::TokenEndpoint as TokenEndpointVersion;

/// A token as Entra returned it, before the claims check.
pub(crate) struct IssuedToken {
    pub value: SecretString,
    pub expires_in: Duration,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: serde_json::Value,
}

#[derive(Deserialize, Default)]
struct ErrorResponse {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

fn token_url(endpoints: &CloudEndpoints, tenant: &TenantId, version: TokenEndpointVersion) -> String {
    let login = endpoints.login.as_str().trim_end_matches('/');
    match version {
        TokenEndpointVersion::V1 => format!("{login}/{tenant}/oauth2/token"),
        TokenEndpointVersion::V2 => format!("{login}/{tenant}/oauth2/v2.0/token"),
    }
}

/// The client assertion for a certificate credential: an RS256 JWT with the certificate's SHA-1 (`x5t`) and
/// SHA-256 (`x5t#S256`) thumbprints, `aud` = the token URL, `iss` = `sub` = client id, valid five minutes.
fn client_assertion(
    token_url: &str,
    client_id: &str,
    cert_pem: &str,
    key_pem: &SecretString,
) -> Result<String> {
    let cert = pem::parse(cert_pem)
        .map_err(|e| DefenderError::Credential(format!("certificate_pem is not a PEM certificate: {e}")))?;
    let der = cert.contents();
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".into());
    header.x5t = Some(URL_SAFE_NO_PAD.encode(Sha1::digest(der)));
    header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(Sha256::digest(der)));
    let key = EncodingKey::from_rsa_pem(key_pem.expose_secret().as_bytes()).map_err(|_| {
        DefenderError::Credential(
            "private_key_pem is not an RSA private key in PEM (PKCS#8 or PKCS#1)".into(),
        )
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = serde_json::json!({
        "aud": token_url,
        "iss": client_id,
        "sub": client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + 300,
    });
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| DefenderError::Credential(format!("signing the client assertion: {e}")))
}

/// Requests one token. Network errors and 5xx answers are [`DefenderError::Unavailable`] (the caller retries);
/// Entra's 4xx answers become the typed error that says what to fix.
pub(crate) async fn request_token(
    http: &reqwest::Client,
    endpoints: &CloudEndpoints,
    version: TokenEndpointVersion,
    credential: &AppCredential,
    tenant: &TenantId,
    audience: Audience,
) -> Result<IssuedToken> {
    let url = token_url(endpoints, tenant, version);
    let api = endpoints.api(audience);
    let client_id = credential.client_id().as_str();
    let mut form: Vec<(&str, String)> = vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", client_id.into()),
    ];
    match version {
        TokenEndpointVersion::V1 => form.push(("resource", api.resource.clone())),
        TokenEndpointVersion::V2 => form.push(("scope", api.default_scope())),
    }
    match credential {
        AppCredential::ClientSecret { client_secret, .. } => {
            form.push(("client_secret", client_secret.expose_secret().to_string()));
        }
        AppCredential::Certificate {
            certificate_pem,
            private_key_pem,
            ..
        } => {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push((
                "client_assertion",
                client_assertion(&url, client_id, certificate_pem, private_key_pem)?,
            ));
        }
    }

    let unavailable = |reason: String| DefenderError::Unavailable {
        what: format!(
            "token request for tenant {tenant} to {}",
            endpoints.login.origin().ascii_serialization()
        ),
        reason,
    };
    // reqwest's error text names the URL, never the form body, so no secret can reach the message.
    let response = http
        .post(&url)
        .form(&form)
        .send()
        .await
        .map_err(|e| unavailable(crate::http::network_reason(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| unavailable(format!("reading the answer: {}", crate::http::network_reason(&e))))?;

    if status.is_success() {
        // Never quote the body: it may hold a token.
        let mut json = serde_json::Deserializer::from_slice(&body);
        let parsed = serde_path_to_error::deserialize::<_, TokenResponse>(&mut json)
            .map_err(|e| json_error_without_values(&e.path().to_string(), e.inner()))
            // Nothing but whitespace may follow the object (what `serde_json::from_slice` checks).
            .and_then(|parsed| {
                json.end()
                    .map(|()| parsed)
                    .map_err(|e| json_error_without_values("", &e))
            })
            .map_err(|reason| {
                DefenderError::MalformedTokenResponse(format!(
                    "{} bytes that are not the expected JSON ({reason})",
                    body.len()
                ))
            })?;
        let seconds = match &parsed.expires_in {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            DefenderError::MalformedTokenResponse(
                "expires_in is neither a number nor a numeric string".into(),
            )
        })?;
        if seconds > MAX_EXPIRES_IN.as_secs() {
            return Err(DefenderError::MalformedTokenResponse(format!(
                "expires_in of {seconds} s is beyond any token lifetime Entra ID issues (at most {} s here)",
                MAX_EXPIRES_IN.as_secs()
            )));
        }
        return Ok(IssuedToken {
            value: SecretString::from(parsed.access_token),
            expires_in: Duration::from_secs(seconds),
        });
    }
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(unavailable(format!("HTTP {status}")));
    }
    let err: ErrorResponse = serde_json::from_slice(&body).unwrap_or_default();
    Err(classify(
        status.as_u16(),
        err,
        endpoints,
        tenant,
        audience,
        credential,
    ))
}

fn classify(
    status: u16,
    err: ErrorResponse,
    endpoints: &CloudEndpoints,
    tenant: &TenantId,
    audience: Audience,
    credential: &AppCredential,
) -> DefenderError {
    let code = err
        .error_codes
        .first()
        .map(|c| format!("AADSTS{c}"))
        .unwrap_or_default();
    match err.error_codes.first().copied() {
        // Application not found in the directory (never consented), consent missing, resource not consented.
        Some(700016 | 65001 | 500011) => DefenderError::ConsentRequired {
            tenant: tenant.clone(),
            audience,
            missing: Vec::new(),
            consent_url: admin_consent_url(&endpoints.login, tenant, credential.client_id()),
        },
        // The client secret has expired.
        Some(7000222) => DefenderError::CredentialExpired {
            what: "client secret",
            expired_at: None,
        },
        // Invalid secret; invalid, expired or unregistered certificate assertion.
        Some(7000215 | 700027 | 700024 | 700023 | 7000274) => DefenderError::CredentialInvalid {
            code,
            description: err.error_description,
        },
        Some(90002 | 900023) => DefenderError::TenantNotFound {
            tenant: tenant.clone(),
            description: err.error_description,
        },
        _ if err.error == "invalid_client" => DefenderError::CredentialInvalid {
            code: if code.is_empty() { err.error } else { code },
            description: err.error_description,
        },
        _ => DefenderError::TokenEndpoint {
            status,
            error: if err.error.is_empty() {
                "unknown".into()
            } else {
                err.error
            },
            description: err.error_description,
        },
    }
}

/// The longest `expires_in` accepted: Entra ID's access tokens live 60–90 minutes by default and at most a day
/// under a token lifetime policy; a week leaves room and keeps expiry arithmetic far from overflow.
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(7 * 24 * 3600);

/// What went wrong in a JSON answer, without any of its values (serde's own message quotes a mistyped string,
/// which in a token answer may be the token): a missing, repeated or unknown field is named, a mistyped one named
/// and located, anything else located.
fn json_error_without_values(path: &str, e: &serde_json::Error) -> String {
    let text = e.to_string();
    match e.classify() {
        serde_json::error::Category::Data
            if ["missing field", "duplicate field", "unknown field"]
                .iter()
                .any(|p| text.starts_with(p)) =>
        {
            text
        }
        serde_json::error::Category::Data => {
            let field = match path {
                "" | "." => String::new(),
                path => format!("{path}: "),
            };
            format!(
                "{field}a value of an unexpected type at line {} column {}",
                e.line(),
                e.column()
            )
        }
        serde_json::error::Category::Syntax => {
            format!("invalid JSON at line {} column {}", e.line(), e.column())
        }
        serde_json::error::Category::Eof => "the JSON ends early".into(),
        serde_json::error::Category::Io => "the answer could not be read".into(),
    }
}
