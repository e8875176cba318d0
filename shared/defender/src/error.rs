use mde_contracts::{Audience, TenantId};
use thiserror::Error;

/// Errors of the auth + API client. Each one an operator can fix says how; none carries a secret or a token.
#[derive(Debug, Error)]
pub enum DefenderError {
    /// The tenant has not granted the application what the caller needs (never consented, or some application
    /// permissions missing). An administrator of the tenant must (re-)consent.
    #[error(
        "tenant {tenant} has not granted {audience:?} permissions {missing:?} to the application: an administrator \
         of that tenant must grant admin consent at {consent_url}"
    )]
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
}

impl DefenderError {
    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DefenderError::Unavailable { .. })
    }
}
