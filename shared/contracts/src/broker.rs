//! The token-broker's invoke contract: requests other functions send it and what it answers.

use std::fmt;

use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::{Audience, TenantId};

/// A request to the token-broker (the Lambda invoke payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BrokerRequest {
    /// A token for one tenant and API.
    Token(TokenRequest),
    /// A health check of one tenant: can tokens be had, which roles are missing.
    Check(HealthCheckRequest),
}

/// Asks for a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The customer tenant (must be in the tenant registry).
    pub tenant_id: TenantId,
    /// The API the token is for.
    pub audience: Audience,
    /// Application permissions the caller needs; the broker refuses with `consent_required` if one is missing.
    #[serde(default)]
    pub required_roles: Vec<String>,
    /// The last token the broker handed out was refused by the API (401): drop it and obtain a new one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh: bool,
}

/// Asks for a tenant's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckRequest {
    /// The tenant to check against the permissions its configured datasets and actions need.
    pub check: TenantId,
}

/// What the token-broker answers: always a JSON document with an `outcome`, so typed errors reach the caller
/// intact (a Lambda function error would flatten them to a string).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BrokerResponse {
    /// A token.
    Token(TokenGrant),
    /// A tenant health report.
    Health(TenantHealth),
    /// A typed failure.
    Error(BrokerError),
}

/// A bearer token on the wire. Redacted in `Debug`; serialised only because the broker must hand it over.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct BearerToken(pub SecretString);

impl Serialize for BearerToken {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose_secret())
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([REDACTED])")
    }
}

/// A granted token.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TokenGrant {
    /// The bearer token.
    #[schemars(with = "String")]
    pub access_token: BearerToken,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: u64,
    /// Tenant (the token's checked `tid`).
    pub tenant_id: TenantId,
    /// API.
    pub audience: Audience,
    /// Application permissions granted (`roles`).
    pub roles: Vec<String>,
}

/// A typed failure of the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BrokerError {
    /// The tenant has not granted what is needed; an administrator must consent.
    ConsentRequired {
        /// Tenant.
        tenant_id: TenantId,
        /// API.
        audience: Audience,
        /// Missing application permissions (empty if the tenant never consented).
        missing_roles: Vec<String>,
        /// The tenant's admin-consent URL.
        consent_url: String,
    },
    /// The tenant is not in the tenant registry (or is disabled).
    UnknownTenant {
        /// Tenant.
        tenant_id: TenantId,
    },
    /// Entra ID refused the application credential, or the secret is missing or malformed.
    CredentialInvalid {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The application credential has expired: rotate it in Entra ID and put the new one into the secret.
    CredentialExpired {
        /// Which credential, since when, and how to fix it.
        message: String,
    },
    /// Entra ID could not be reached or kept failing: retry later.
    UpstreamUnavailable {
        /// What failed.
        message: String,
    },
    /// The request was not understood.
    InvalidRequest {
        /// What is wrong with it.
        message: String,
    },
}

impl BrokerError {
    /// Whether the caller may retry the same request later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BrokerError::UpstreamUnavailable { .. })
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerError::ConsentRequired {
                tenant_id,
                audience,
                missing_roles,
                consent_url,
            } => write!(
                f,
                "tenant {tenant_id} has not granted {audience:?} permissions {missing_roles:?}: an administrator must consent at {consent_url}"
            ),
            BrokerError::UnknownTenant { tenant_id } => {
                write!(
                    f,
                    "tenant {tenant_id} is not in the tenant registry (or is disabled)"
                )
            }
            BrokerError::CredentialInvalid { message } => write!(f, "application credential: {message}"),
            BrokerError::CredentialExpired { message } => {
                write!(f, "application credential expired: {message}")
            }
            BrokerError::UpstreamUnavailable { message } => write!(f, "Entra ID unavailable: {message}"),
            BrokerError::InvalidRequest { message } => write!(f, "invalid request: {message}"),
        }
    }
}

impl std::error::Error for BrokerError {}

/// The health of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantHealth {
    /// Tenant.
    pub tenant_id: TenantId,
    /// Whether every API the tenant's datasets and actions use gave a token with every role needed.
    pub healthy: bool,
    /// One entry per API needed.
    pub audiences: Vec<AudienceHealth>,
    /// The application credential this tenant's tokens use, and when it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialHealth>,
}

/// The state of an application credential (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CredentialHealth {
    /// The secret it was read from.
    pub secret_id: String,
    /// `client_secret` or `certificate`.
    pub kind: String,
    /// When it expires (RFC 3339): the certificate's notAfter, or the secret's `expires_on`; absent when unknown.
    pub expires_at: Option<String>,
    /// Whole days left until then (negative once expired); absent when unknown.
    pub days_left: Option<i64>,
    /// What is wrong with the credential, if anything: it could not be read, it has expired, it expires soon.
    pub problem: Option<String>,
}

/// The health of one (tenant, API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AudienceHealth {
    /// API.
    pub audience: Audience,
    /// Whether a token could be obtained.
    pub token_obtainable: bool,
    /// Roles the token carries.
    pub roles: Vec<String>,
    /// Roles the configuration needs that the token lacks.
    pub missing_roles: Vec<String>,
    /// The problem, if any, in words, with the fix (the consent URL when consent is missing).
    pub problem: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart_by_their_fields() {
        let token: BrokerRequest = serde_json::from_str(
            r#"{"tenant_id":"11111111-1111-1111-1111-111111111111","audience":"graph","required_roles":["SecurityAlert.Read.All"]}"#,
        )
        .expect("token request");
        assert!(matches!(
            token,
            BrokerRequest::Token(TokenRequest {
                audience: Audience::Graph,
                ..
            })
        ));
        let check: BrokerRequest =
            serde_json::from_str(r#"{"check":"11111111-1111-1111-1111-111111111111"}"#).expect("check");
        assert!(matches!(check, BrokerRequest::Check(_)));
        assert!(serde_json::from_str::<BrokerRequest>(r#"{"tenant_id":"x","audience":"mde"}"#).is_err());
    }

    #[test]
    fn a_grant_hides_its_token_in_debug_but_hands_it_over_in_json() {
        let grant = TokenGrant {
            access_token: BearerToken(SecretString::from("eyJ.canary.sig".to_string())),
            expires_at: 1,
            tenant_id: "11111111-1111-1111-1111-111111111111".parse().expect("tenant"),
            audience: Audience::Mde,
            roles: vec![],
        };
        assert!(!format!("{grant:?}").contains("canary"));
        let json = serde_json::to_string(&BrokerResponse::Token(grant)).expect("json");
        assert!(
            json.contains(r#""outcome":"token""#) && json.contains("eyJ.canary.sig"),
            "{json}"
        );
    }
}
