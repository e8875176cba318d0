use mde_contracts::{Audience, TenantId};
use thiserror::Error;

/// Errors of the auth + API client. Each one an operator can fix says how; none carries a secret or a token.
#[derive(Debug, Error)]
pub enum DefenderError {
    /// The tenant has not granted the application what the caller needs (never consented, or some application
    /// permissions missing). An administrator of the tenant must (re-)consent.
    #[error("{}", consent_message(tenant, *audience, missing, consent_url))]
    ConsentRequired {
        /// Tenant.
        tenant: TenantId,
        /// The API.
        audience: Audience,
        /// Application permissions missing from the token's `roles` (empty when the tenant never consented).
        missing: Vec<String>,
        /// The tenant's admin-consent URL.
        consent_url: String,
    },

    /// The application credential was refused (wrong or expired client secret, certificate not registered).
    #[error(
        "the application credential was refused by Entra ID ({code}: {description}): put a valid client secret or \
         certificate into the credential secret (see README: Deploy) — one bad credential breaks every tenant"
    )]
    CredentialInvalid {
        /// Entra error code, e.g. `AADSTS7000215`.
        code: String,
        /// Entra's description.
        description: String,
    },

    /// The application credential has expired (its `expires_on`, the certificate's notAfter, or Entra's
    /// AADSTS7000222): no tenant can get a token until it is rotated.
    #[error(
        "the application's {what} {}: create a new one on the app registration in Entra ID and put it into the \
         credential secret (see README: Deploy) — until then no tenant gets a token",
        expired_at.as_deref().map(|t| format!("expired at {t}")).unwrap_or_else(|| "has expired".into())
    )]
    CredentialExpired {
        /// `client secret` or `certificate`.
        what: &'static str,
        /// When (RFC 3339), when known.
        expired_at: Option<String>,
    },

    /// The tenant id is not a directory Entra ID knows.
    #[error(
        "Entra ID does not know tenant {tenant} ({description}): check the tenant id in the tenant registry"
    )]
    TenantNotFound {
        /// Tenant.
        tenant: TenantId,
        /// Entra's description.
        description: String,
    },

    /// A token was issued for another tenant than the one asked for: it is never used.
    #[error("the token obtained for tenant {expected} carries tid {actual:?}: refusing to use it")]
    WrongTenant {
        /// Tenant asked for.
        expected: TenantId,
        /// The token's `tid` claim.
        actual: String,
    },

    /// Entra ID answered with an error that has no more specific meaning here.
    #[error("the token endpoint answered {status} {error}: {description}")]
    TokenEndpoint {
        /// HTTP status.
        status: u16,
        /// OAuth error code.
        error: String,
        /// Entra's description.
        description: String,
    },

    /// The token endpoint's answer could not be understood (HTML error page, truncated JSON, not a JWT).
    #[error("the token endpoint's answer is not a valid token response: {0}")]
    MalformedTokenResponse(String),

    /// A network error or a 5xx that persisted through the bounded retries.
    #[error("{what} failed after retries: {reason}")]
    Unavailable {
        /// What was attempted.
        what: String,
        /// Last error.
        reason: String,
    },

    /// The credential could not be obtained or used (e.g. a private key that is not PKCS#8 PEM).
    #[error("application credential: {0}")]
    Credential(String),

    /// Invalid configuration.
    #[error("configuration: {0}")]
    Config(String),

    /// The API answered with a documented error body (`{"error":{"code","message","target"}}` for MDE and
    /// Microsoft 365 Defender, `{"error":{"code","message","innerError"}}` for Graph) that has no more specific
    /// variant here, e.g. `InvalidRequestBody`, `ODataError`, `ActiveRequestAlreadyExists`.
    #[error("{endpoint} for tenant {tenant} answered {status} {code}: {message}")]
    Api {
        /// Tenant.
        tenant: TenantId,
        /// The operation, e.g. `mde.alerts.update`.
        endpoint: &'static str,
        /// HTTP status.
        status: u16,
        /// The documented error code (`BadRequest`, `InvalidInput`, `badRequest`...).
        code: String,
        /// The API's message (free text).
        message: String,
        /// The correlation id (`target` of MDE / Microsoft 365 Defender, `innerError.request-id` of Graph).
        correlation: Option<Box<str>>,
    },

    /// The API refused the call with 403: the token lacks a permission the API wants, or the feature is disabled
    /// for the tenant. An administrator of the tenant must grant the permission (admin consent) or enable it.
    #[error(
        "{endpoint} for tenant {tenant} was refused (403 {reason}); it needs the application permission \
         {permission}{}",
        consent_url.as_deref().map(|u| format!(": an administrator of that tenant must grant admin consent at {u}")).unwrap_or_default()
    )]
    Forbidden {
        /// Tenant.
        tenant: TenantId,
        /// The operation.
        endpoint: &'static str,
        /// The documented application permission of the operation (the least privileged one).
        permission: &'static str,
        /// The documented error code (`Forbidden`, `DisabledFeature`, `accessDenied`...) and the API's message.
        reason: String,
        /// The tenant's admin-consent URL, when the token source knows the application.
        consent_url: Option<String>,
    },

    /// The entity does not exist (404), or is not visible to the application.
    #[error("{endpoint} for tenant {tenant}: not found ({code}: {message})")]
    NotFound {
        /// Tenant.
        tenant: TenantId,
        /// The operation.
        endpoint: &'static str,
        /// The documented error code (`NotFound`, `ResourceNotFound`, `itemNotFound`).
        code: String,
        /// The API's message.
        message: String,
    },

    /// The API kept answering 401 after the token was refreshed once.
    #[error("{endpoint} for tenant {tenant} refused the access token even after a refresh: {message}")]
    Unauthorized {
        /// Tenant.
        tenant: TenantId,
        /// The operation.
        endpoint: &'static str,
        /// The API's message.
        message: String,
    },

    /// The API kept answering 429 through the bounded retries, or asked for a wait longer than the client accepts.
    #[error(
        "{endpoint} for tenant {tenant} is throttled (429) after {attempts} attempt(s){}: slow down or try later",
        retry_after.map(|d| format!("; the API asks to wait {} s", d.as_secs())).unwrap_or_default()
    )]
    Throttled {
        /// Tenant.
        tenant: TenantId,
        /// The operation.
        endpoint: &'static str,
        /// The last `Retry-After`, if any.
        retry_after: Option<std::time::Duration>,
        /// Attempts made.
        attempts: u32,
    },

    /// The answer was not the JSON the API documents: an HTML error page, plain text, or JSON of another shape.
    #[error(
        "{endpoint} for tenant {tenant} answered {status} with a body that is not the documented JSON ({reason})"
    )]
    UnexpectedBody {
        /// Tenant.
        tenant: TenantId,
        /// The operation.
        endpoint: &'static str,
        /// HTTP status.
        status: u16,
        /// What was wrong (content type, parse error position); never the body itself.
        reason: String,
    },

    /// A page's `@odata.nextLink` points outside the configured API host: it is not followed, so the tenant's
    /// token never leaves the configured cloud.
    #[error(
        "{endpoint} for tenant {tenant} returned a nextLink to {link_origin}, outside the configured {expected_origin}: \
         refusing to follow it (the token must not leave the configured cloud)"
    )]
    ForeignNextLink {
        /// Tenant.
        tenant: TenantId,
        /// The operation.
        endpoint: &'static str,
        /// Scheme, host and port of the link.
        link_origin: String,
        /// Scheme, host and port of the configured API base URL.
        expected_origin: String,
    },

    /// A request the caller built breaks a documented limit before anything is sent (e.g. more than 500
    /// indicators in one import).
    #[error("{endpoint}: {reason}")]
    InvalidRequest {
        /// The operation.
        endpoint: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl DefenderError {
    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            DefenderError::Unavailable { .. } | DefenderError::Throttled { .. }
        )
    }

    /// An equivalent error for another caller: one failed cache fill is shared by every caller waiting on it.
    pub fn duplicate(&self) -> DefenderError {
        match self {
            DefenderError::ConsentRequired {
                tenant,
                audience,
                missing,
                consent_url,
            } => DefenderError::ConsentRequired {
                tenant: tenant.clone(),
                audience: *audience,
                missing: missing.clone(),
                consent_url: consent_url.clone(),
            },
            DefenderError::CredentialInvalid { code, description } => DefenderError::CredentialInvalid {
                code: code.clone(),
                description: description.clone(),
            },
            DefenderError::CredentialExpired { what, expired_at } => DefenderError::CredentialExpired {
                what,
                expired_at: expired_at.clone(),
            },
            DefenderError::TenantNotFound { tenant, description } => DefenderError::TenantNotFound {
                tenant: tenant.clone(),
                description: description.clone(),
            },
            DefenderError::WrongTenant { expected, actual } => DefenderError::WrongTenant {
                expected: expected.clone(),
                actual: actual.clone(),
            },
            DefenderError::TokenEndpoint {
                status,
                error,
                description,
            } => DefenderError::TokenEndpoint {
                status: *status,
                error: error.clone(),
                description: description.clone(),
            },
            DefenderError::MalformedTokenResponse(m) => DefenderError::MalformedTokenResponse(m.clone()),
            DefenderError::Credential(m) => DefenderError::Credential(m.clone()),
            DefenderError::Config(m) => DefenderError::Config(m.clone()),
            other => DefenderError::Unavailable {
                what: "shared request".into(),
                reason: other.to_string(),
            },
        }
    }
}

fn consent_message(tenant: &TenantId, audience: Audience, missing: &[String], consent_url: &str) -> String {
    let what = if missing.is_empty() {
        format!("tenant {tenant} has not consented to the application (no {audience} token)")
    } else {
        format!(
            "tenant {tenant} has not granted the {audience} permission(s) {}",
            missing.join(", ")
        )
    };
    format!("{what}: an administrator of that tenant must grant admin consent at {consent_url}")
}
