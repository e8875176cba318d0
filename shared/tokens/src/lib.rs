//! How an mde-bridge process reaches its tenants: the token source `[tokens]` asks for — direct (the token-broker,
//! the CLI: the credential is read from the secret store) or through the token-broker (every other function in
//! AWS) — and the routing of each tenant to its cloud and its credential secret, as the tenant registry says.
//!
//! [`TenantAccess::new`] builds it once per process from the [`Wiring`]; the Defender client it makes shares the
//! per-tenant clouds with the token source, and both follow the registry as it is reloaded.

mod brokered;
mod credential;
mod dynamo;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mde_contracts::{TenantId, TokenSourceKind};
use mde_defender::api::ClientConfig;
use mde_defender::{DefenderClient, DirectTokenSource, HttpClient, TenantClouds, TokenSource};
use mde_platform::wiring::Wiring;
use mde_platform::{PlatformError, TenantSnapshot, Tenants};
use thiserror::Error;
use tracing::warn;

pub use brokered::BrokeredTokenSource;
pub use credential::{EXPIRY_WARNING_DAYS, SecretCredential};
pub use dynamo::{DYNAMO_TOKEN_KEY, DynamoTokenStore};
pub use wire::{from_broker_error, to_broker_error};

/// Why the access of a process could not be set up.
#[derive(Debug, Error)]
pub enum TokensError {
    /// The configuration does not allow it; the message names the key.
    #[error("configuration: {0}")]
    Config(String),
    /// An adapter could not be built (secret store, tenant registry).
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// Tokens, clouds and credentials of a process, following the tenant registry.
pub struct TenantAccess {
    /// The process's one HTTP client (partner User-Agent).
    pub http: HttpClient,
    /// Tokens for (tenant, API).
    pub tokens: Arc<dyn TokenSource>,
    /// Each tenant's cloud (sign-in and API hosts).
    pub clouds: Arc<TenantClouds>,
    /// The credential, for a direct source (none through the broker: only the broker reads it).
    pub credential: Option<Arc<SecretCredential>>,
    /// The tenant registry.
    pub tenants: Arc<Tenants>,
}

impl TenantAccess {
    /// The access `wiring`'s configuration describes, with tokens from `source` (the broker passes `Direct`;
    /// other callers pass `config.tokens.source`).
    pub async fn new(wiring: &Wiring, source: TokenSourceKind) -> Result<Self, TokensError> {
        let config = wiring.config();
        let http = mde_defender::build_http_client(&config.partner)
            .map_err(|e| TokensError::Config(e.to_string()))?;
        let endpoints = config
            .cloud
            .endpoints()
            .map_err(|e| TokensError::Config(e.to_string()))?;
        let clouds = Arc::new(TenantClouds::new(endpoints.clone()));
        let margin = Duration::from_secs(config.tokens.refresh_margin_seconds);
        let tenants = wiring.tenants().await?;
        let (tokens, credential): (Arc<dyn TokenSource>, _) = match source {
            TokenSourceKind::Direct => {
                let store = wiring.secret_store().await?;
                let credential = Arc::new(SecretCredential::new(store, config.credential.secret_id.clone()));
                let mut direct = DirectTokenSource::new(
                    http.clone(),
                    endpoints,
                    config.tokens.endpoint,
                    credential.clone(),
                    margin,
                )
                .with_clouds(clouds.clone());
                if let Some(table) = &config.tokens.shared_cache_table {
                    let store = DynamoTokenStore::new(wiring.dynamodb().await, table.clone());
                    direct = direct.with_shared_store(Arc::new(store));
                }
                (Arc::new(direct), Some(credential))
            }
            TokenSourceKind::Broker => {
                let invoker = wiring.function_invoker().await;
                let brokered =
                    BrokeredTokenSource::new(invoker, config.tokens.broker_function.clone(), margin);
                (Arc::new(brokered), None)
            }
        };
        let (routed_clouds, routed_credential) = (clouds.clone(), credential.clone());
        tenants.on_load(move |snapshot| route(snapshot, &routed_clouds, routed_credential.as_deref()));
        Ok(Self {
            http,
            tokens,
            clouds,
            credential,
            tenants,
        })
    }

    /// The Defender API client of the process, in each tenant's cloud.
    pub fn defender_client(&self, config: ClientConfig) -> DefenderClient {
        DefenderClient::with_config(
            self.http.clone(),
            self.clouds.default_endpoints().clone(),
            self.tokens.clone(),
            config,
        )
        .with_clouds(self.clouds.clone())
    }
}

/// Points each tenant at its own cloud and credential secret, where its record names them.
fn route(snapshot: &TenantSnapshot, clouds: &TenantClouds, credential: Option<&SecretCredential>) {
    let mut tenant_clouds = HashMap::new();
    let mut secrets: HashMap<TenantId, String> = HashMap::new();
    for t in snapshot.all() {
        if let Some(cloud) = &t.cloud {
            match cloud.endpoints() {
                Ok(e) => {
                    tenant_clouds.insert(t.tenant_id.clone(), e);
                }
                // Records are validated when read; this only guards against a future field.
                Err(e) => {
                    warn!(tenant = %t.tenant_id, error = %e, "the tenant's cloud is invalid; using the default")
                }
            }
        }
        if let Some(secret) = &t.credential_secret_id {
            secrets.insert(t.tenant_id.clone(), secret.clone());
        }
    }
    clouds.replace(tenant_clouds);
    if let Some(credential) = credential {
        credential.route(secrets);
    }
}
