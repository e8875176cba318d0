//! The shared auth + API-client library of mde-bridge.
//!
//! This part obtains access tokens for customer tenants with the OAuth 2.0 client-credentials grant of Entra ID
//! (v1 `resource=` or v2 `scope=…/.default` endpoint; client secret or certificate assertion), caches them per
//! (tenant, audience) with refresh ahead of expiry and single-flight, and checks every token's `tid` and
//! `roles` before use. Failures that an operator can fix (missing consent, a bad or expired secret) are typed
//! errors that say what to do, including the tenant's admin-consent URL.
//!
//! The [`api`] part calls MDE, Microsoft 365 Defender and Graph security with those tokens: typed operations, a
//! typed OData builder, page streams, a per-(tenant, API family) rate limiter and bounded retries.
//!
//! Depends on `mde-contracts` only; it never reads AWS directly (a [`CredentialSource`] is injected).

pub mod api;
mod cache;
mod clouds;
mod consent;
mod error;
mod expiry;
mod grant;
mod http;
mod shared_tokens;
mod source;
#[cfg(feature = "testing")]
pub mod testing;
mod token;

pub use api::DefenderClient;
pub use cache::TokenCache;
pub use clouds::TenantClouds;
pub use consent::{admin_consent_url, legacy_consent_url};
pub use error::DefenderError;
pub use expiry::{certificate_not_after, credential_expiry, days_left, rfc3339};
pub use grant::{MAX_EXPIRES_IN, TokenEndpointVersion};
pub use http::build_http_client;
/// The HTTP client type of [`build_http_client`].
pub use reqwest::Client as HttpClient;
pub use shared_tokens::{MemoryTokenStore, SharedTokenStore, StoredToken, shared_key};
pub use source::{CredentialSource, DirectTokenSource, StaticCredential, TokenSource};
pub use token::{AccessToken, check_claims};

/// Result type of this crate.
pub type Result<T, E = DefenderError> = std::result::Result<T, E>;
