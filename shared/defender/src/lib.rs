//! The shared auth + API-client library of mde-bridge.
//!
//! This part obtains access tokens for customer tenants with the OAuth 2.0 client-credentials grant of Entra ID
//! (v1 `resource=` or v2 `scope=…/.default` endpoint; client secret or certificate assertion), caches them per
//! (tenant, audience) with refresh ahead of expiry and single-flight, and checks every token's `tid` and
//! `roles` before use. Failures that an operator can fix (missing consent, a bad or expired secret) are typed
//! errors that say what to do, including the tenant's admin-consent URL.
//!
//! Depends on `mde-contracts` only; it never reads AWS directly (a [`CredentialSource`] is injected).

mod consent;
mod error;
mod grant;
mod http;
mod source;
mod token;

pub use consent::{admin_consent_url, legacy_consent_url};
pub use error::DefenderError;
pub use grant::TokenEndpointVersion;
pub use http::build_http_client;
pub use source::{CredentialSource, DirectTokenSource, StaticCredential, TokenSource};
pub use token::{AccessToken, check_claims};

/// Result type of this crate.
pub type Result<T, E = DefenderError> = std::result::Result<T, E>;
