//! token-broker: the only function that can read the application credential. It answers other functions'
//! requests for tenant tokens (checked `tid` and `roles`, cached per warm container), reports tenant health and
//! the credential's days left.
//!
//! The core ([`Broker`]) is a plain struct over a [`TokenSource`], the tenant registry ([`Tenants`]) and the
//! credential, so it runs the same in Lambda (`main.rs`), in-process from the CLI ([`Broker::token`],
//! [`Broker::check`]), and in tests. The client side other functions use lives in `mde-tokens`.

mod health;
pub mod metrics;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mde_contracts::{
    BearerToken, BrokerError, BrokerRequest, BrokerResponse, CredentialHealth, TenantConfig, TenantHealth,
    TenantId, TokenGrant, TokenRequest, TokenSourceKind,
};
use mde_defender::TokenSource;
use mde_platform::Tenants;
use mde_platform::wiring::Wiring;
use mde_tokens::{SecretCredential, TenantAccess, TokensError, to_broker_error};
use tracing::{info, warn};

/// The broker: the tenant registry, a direct token source and the credential it reads.
pub struct Broker {
    tenants: Arc<Tenants>,
    tokens: Arc<dyn TokenSource>,
    credential: Option<Arc<SecretCredential>>,
}

impl Broker {
    /// A broker serving the enabled tenants of `tenants` with tokens from `tokens`; `credential` (when the
    /// broker reads it itself) is reported in health checks and metrics.
    pub fn new(
        tenants: Arc<Tenants>,
        tokens: Arc<dyn TokenSource>,
        credential: Option<Arc<SecretCredential>>,
    ) -> Self {
        Self {
            tenants,
            tokens,
            credential,
        }
    }

    /// The broker of a process: a direct token source over the configured secret store (the broker is where
    /// `tokens.source = "broker"` leads, so it is always direct), and the configured tenant registry.
    pub async fn from_wiring(wiring: &Wiring) -> Result<Self, TokensError> {
        let access = TenantAccess::new(wiring, TokenSourceKind::Direct).await?;
        Ok(Self::new(access.tenants, access.tokens, access.credential))
    }

    /// Answers one invoke payload. Never fails: every problem is a typed [`BrokerError`] in the answer.
    pub async fn handle(&self, payload: serde_json::Value) -> BrokerResponse {
        let outcome = match parse(payload) {
            Ok(BrokerRequest::Token(request)) => self.token(&request).await.map(BrokerResponse::Token),
            Ok(BrokerRequest::Check(request)) => self.check(&request.check).await.map(BrokerResponse::Health),
            Err(e) => Err(e),
        };
        outcome.unwrap_or_else(|e| {
            warn!(error = %e, retryable = e.is_retryable(), "request refused");
            BrokerResponse::Error(e)
        })
    }

    /// The enabled record of `tenant` in the registry.
    async fn tenant(&self, id: &TenantId) -> Result<TenantConfig, BrokerError> {
        let snapshot = self
            .tenants
            .snapshot()
            .await
            .map_err(|e| BrokerError::UpstreamUnavailable {
                message: format!(
                    "the tenant registry ({}) could not be read: {e}",
                    self.tenants.registry().describe()
                ),
            })?;
        snapshot
            .enabled(id)
            .cloned()
            .ok_or_else(|| BrokerError::UnknownTenant {
                tenant_id: id.clone(),
            })
    }

    /// A token for one tenant and API, checked to carry `required_roles`.
    pub async fn token(&self, request: &TokenRequest) -> Result<TokenGrant, BrokerError> {
        self.tenant(&request.tenant_id).await?;
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
            .map_err(to_broker_error)?;
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

    /// The health of one tenant: a token per API its datasets and actions use, the permissions missing (with the
    /// consent URL), and the credential's expiry.
    pub async fn check(&self, tenant: &TenantId) -> Result<TenantHealth, BrokerError> {
        let record = self.tenant(tenant).await?;
        let mut health = health::check(self.tokens.as_ref(), &record).await;
        if let Some(credential) = &self.credential {
            let status = credential
                .status(&credential.secret_id(tenant), SystemTime::now())
                .await;
            if status.days_left.is_some_and(|d| d < 0) {
                health.healthy = false;
            }
            health.credential = Some(status);
        }
        Ok(health)
    }

    /// The state of every credential secret in use (the deployment's and tenants' own), for metrics and checks.
    pub async fn credentials(&self) -> Vec<CredentialHealth> {
        let Some(credential) = &self.credential else {
            return Vec::new();
        };
        // The registry names the tenants' own secrets: read it first (a failure leaves the deployment's).
        let _ = self.tenants.snapshot().await;
        let mut out = Vec::new();
        for id in credential.secret_ids() {
            out.push(credential.status(&id, SystemTime::now()).await);
        }
        out
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
