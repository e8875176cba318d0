//! token-broker: the only function that can read the application credential. It answers other functions'
//! requests for tenant tokens (checked `tid` and `roles`, cached per warm container) and reports tenant health.
//!
//! The core ([`Broker::handle`]) is a plain async function over a [`TokenSource`] and the tenant registry, so
//! it runs the same in Lambda (`main.rs`), in-process from the CLI, and in tests. The crate also ships the
//! client side that other functions use: [`BrokeredTokenSource`], and [`token_source`] that picks direct or
//! brokered from the configuration.

mod client;
mod credential;
mod errors;
mod health;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use mde_contracts::{
    BearerToken, BridgeConfig, BrokerError, BrokerRequest, BrokerResponse, HealthCheckRequest, TenantConfig,
    TenantId, TokenGrant, TokenRequest,
};
use mde_defender::TokenSource;
use tracing::{info, warn};

pub use client::{BrokeredTokenSource, token_source};
pub use credential::SecretCredential;

/// The broker: the tenant registry and a token source (direct, with the application credential).
pub struct Broker {
    tenants: HashMap<TenantId, TenantConfig>,
    tokens: Arc<dyn TokenSource>,
}

impl Broker {
    /// A broker serving the enabled tenants of `tenants` with tokens from `tokens`.
    pub fn new(tenants: &[TenantConfig], tokens: Arc<dyn TokenSource>) -> Self {
        let tenants = tenants
            .iter()
            .filter(|t| t.enabled)
            .map(|t| (t.tenant_id.clone(), t.clone()))
            .collect();
        Self { tenants, tokens }
    }

    /// Builds the broker of a configuration: the process's HTTP client and a direct token source over the
    /// configured secret store (the broker is where `tokens.source = "broker"` leads, so it is always direct).
    pub async fn from_config(config: &BridgeConfig) -> Result<Self, mde_platform::PlatformError> {
        let http = mde_defender::build_http_client(&config.partner)
            .map_err(|e| mde_platform::PlatformError::Config(e.to_string()))?;
        let mut direct = config.clone();
        direct.tokens.source = mde_contracts::TokenSourceKind::Direct;
        let tokens = token_source(&direct, http, None).await?;
        Ok(Self::new(&config.tenants, tokens))
    }

    /// Answers one invoke payload. Never fails: every problem is a typed [`BrokerError`] in the answer.
    pub async fn handle(&self, payload: serde_json::Value) -> BrokerResponse {
        let outcome = match parse(payload) {
            Ok(BrokerRequest::Token(request)) => self.token(request).await.map(BrokerResponse::Token),
            Ok(BrokerRequest::Check(request)) => self.check(request).await.map(BrokerResponse::Health),
            Err(e) => Err(e),
        };
        outcome.unwrap_or_else(|e| {
            warn!(error = %e, retryable = e.is_retryable(), "request refused");
            BrokerResponse::Error(e)
        })
    }

    fn tenant(&self, id: &TenantId) -> Result<&TenantConfig, BrokerError> {
        self.tenants.get(id).ok_or_else(|| BrokerError::UnknownTenant {
            tenant_id: id.clone(),
        })
    }

    async fn token(&self, request: TokenRequest) -> Result<TokenGrant, BrokerError> {
        self.tenant(&request.tenant_id)?;
        if request.refresh
            && let Ok(stale) = self.tokens.token(&request.tenant_id, request.audience, &[]).await
        {
            self.tokens.invalidate(&stale).await;
        }
        let roles: Vec<&str> = request.required_roles.iter().map(String::as_str).collect();
        let token = self
            .tokens
            .token(&request.tenant_id, request.audience, &roles)
            .await
            .map_err(errors::to_broker_error)?;
        info!(
            tenant = %request.tenant_id,
            audience = request.audience.as_str(),
            fingerprint = %token.fingerprint(),
            "token handed out"
        );
        Ok(TokenGrant {
            access_token: BearerToken(token.secret().clone()),
            expires_at: token
                .expires_at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            tenant_id: token.tenant.clone(),
            audience: token.audience,
            roles: token.roles.clone(),
        })
    }

    async fn check(&self, request: HealthCheckRequest) -> Result<mde_contracts::TenantHealth, BrokerError> {
        let tenant = self.tenant(&request.check)?;
        Ok(health::check(self.tokens.as_ref(), tenant).await)
    }
}

/// Reads a payload, telling the two request shapes apart by their fields so errors are precise.
fn parse(payload: serde_json::Value) -> Result<BrokerRequest, BrokerError> {
    let invalid = |e: serde_json::Error, shape: &str| BrokerError::InvalidRequest {
        message: format!("{e}; expected {shape}"),
    };
    if !payload.is_object() {
        return Err(BrokerError::InvalidRequest {
            message: "the payload must be a JSON object: {\"tenant_id\", \"audience\", \"required_roles\"} or {\"check\": tenant_id}".into(),
        });
    }
    if payload.get("check").is_some() {
        serde_json::from_value(payload)
            .map(BrokerRequest::Check)
            .map_err(|e| invalid(e, "{\"check\": \"<tenant id>\"}"))
    } else {
        serde_json::from_value(payload).map(BrokerRequest::Token).map_err(|e| {
            invalid(e, "{\"tenant_id\": \"<guid>\", \"audience\": \"mde\" | \"m365d\" | \"graph\", \"required_roles\": [...]}")
        })
    }
}
