//! The token cache every token source uses: per (tenant, audience), renewed ahead of expiry, single-flight.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mde_contracts::{Audience, TenantId};
use moka::Expiry;

use crate::{AccessToken, DefenderError, Result};

type Key = (TenantId, Audience);

/// Entries leave the cache `margin` before the token expires (at most half its life), so a new token is
/// fetched while the old one still works.
struct RefreshAhead {
    margin: Duration,
}

impl Expiry<Key, Arc<AccessToken>> for RefreshAhead {
    fn expire_after_create(&self, _: &Key, token: &Arc<AccessToken>, _: Instant) -> Option<Duration> {
        let left = token
            .expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        Some(left.saturating_sub(self.margin.min(left / 2)))
    }
}

/// Tokens by (tenant, audience). Concurrent misses of one key run one fetch and share its result.
pub struct TokenCache {
    inner: moka::future::Cache<Key, Arc<AccessToken>>,
}

impl TokenCache {
    /// A cache renewing tokens `refresh_margin` before they expire.
    pub fn new(refresh_margin: Duration) -> Self {
        Self {
            inner: moka::future::Cache::builder()
                .max_capacity(10_000)
                .expire_after(RefreshAhead {
                    margin: refresh_margin,
                })
                .build(),
        }
    }

    /// The cached token, or the result of `fetch` (run once however many callers wait for the same key).
    pub async fn get_or_fetch<F>(
        &self,
        tenant: &TenantId,
        audience: Audience,
        fetch: F,
    ) -> Result<Arc<AccessToken>>
    where
        F: Future<Output = Result<Arc<AccessToken>>>,
    {
        self.inner
            .try_get_with((tenant.clone(), audience), fetch)
            .await
            .map_err(|e: Arc<DefenderError>| Arc::try_unwrap(e).unwrap_or_else(|shared| shared.duplicate()))
    }

    /// Drops `rejected` from the cache (an API refused it), unless another caller already replaced it.
    /// Returns whether it was dropped.
    pub async fn invalidate(&self, rejected: &AccessToken) -> bool {
        let key = (rejected.tenant.clone(), rejected.audience);
        match self.inner.get(&key).await {
            Some(cached) if cached.fingerprint() == rejected.fingerprint() => {
                self.inner.invalidate(&key).await;
                true
            }
            _ => false,
        }
    }
}
