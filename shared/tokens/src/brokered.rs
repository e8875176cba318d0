//! Tokens through the token-broker function, for every function but the broker itself.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use mde_contracts::{Audience, BrokerResponse, TenantId, TokenRequest};
use mde_defender::{AccessToken, DefenderError, TokenCache, TokenSource};
use mde_platform::FunctionInvoker;
use mde_platform::invoke::invoke_json;

use crate::wire::from_broker_error;

/// Tokens from the token-broker function, cached in this process until shortly before they expire, so a warm
/// function invokes the broker once per (tenant, API) per token lifetime.
pub struct BrokeredTokenSource {
    invoker: Arc<dyn FunctionInvoker>,
    function: String,
    cache: TokenCache,
    // Keys whose token an API refused: the next request asks the broker to renew, not to repeat itself.
    refresh: Mutex<HashSet<(TenantId, Audience)>>,
}

impl BrokeredTokenSource {
    /// Invokes `function` through `invoker`.
    pub fn new(
        invoker: Arc<dyn FunctionInvoker>,
        function: impl Into<String>,
        refresh_margin: Duration,
    ) -> Self {
        Self {
            invoker,
            function: function.into(),
            cache: TokenCache::new(refresh_margin),
            refresh: Mutex::new(HashSet::new()),
        }
    }

    async fn ask(
        &self,
        tenant: &TenantId,
        audience: Audience,
        required_roles: &[&str],
    ) -> mde_defender::Result<AccessToken> {
        let refresh = self
            .refresh
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(tenant.clone(), audience));
        let request = TokenRequest {
            tenant_id: tenant.clone(),
            audience,
            required_roles: required_roles.iter().map(|r| r.to_string()).collect(),
            refresh,
        };
        let answer: BrokerResponse = invoke_json(self.invoker.as_ref(), &self.function, &request)
            .await
            .map_err(|e| DefenderError::Unavailable {
                what: format!("invoking {}", self.function),
                reason: e.to_string(),
            })?;
        match answer {
            BrokerResponse::Token(grant) => Ok(AccessToken::new(
                grant.access_token.0,
                grant.tenant_id,
                grant.audience,
                UNIX_EPOCH + Duration::from_secs(grant.expires_at),
                grant.roles,
            )),
            BrokerResponse::Error(e) => Err(from_broker_error(e)),
            BrokerResponse::Health(_) => Err(DefenderError::Unavailable {
                what: format!("invoking {}", self.function),
                reason: "it answered a health report to a token request".into(),
            }),
        }
    }
}

#[async_trait]
impl TokenSource for BrokeredTokenSource {
    async fn token(
        &self,
        tenant: &TenantId,
        audience: Audience,
        required_roles: &[&str],
    ) -> mde_defender::Result<AccessToken> {
        let token = self
            .cache
            .get_or_fetch(tenant, audience, async {
                self.ask(tenant, audience, &[]).await.map(Arc::new)
            })
            .await?;
        if token.missing_roles(required_roles).is_empty() {
            return Ok((*token).clone());
        }
        // The broker answers with the typed consent error (and its consent URL) from its own cache.
        self.ask(tenant, audience, required_roles).await
    }

    async fn invalidate(&self, rejected: &AccessToken) {
        if self.cache.invalidate(rejected).await {
            let key = (rejected.tenant.clone(), rejected.audience);
            self.refresh.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
        }
    }
}
