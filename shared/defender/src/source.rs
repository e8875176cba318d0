//! Token sources: where functions get tokens from. The direct source asks Entra ID itself and caches.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use backon::{BackoffBuilder as _, ExponentialBuilder, Retryable};
use mde_contracts::{AppCredential, Audience, CloudEndpoints, TenantId};
use tokio::sync::RwLock;
use tracing::{debug, warn};

use crate::consent::admin_consent_url;
use crate::grant::{TokenEndpointVersion, request_token};
use crate::shared_tokens::{Sealer, SharedTokenStore, StoredToken, shared_key};
use crate::token::{AccessToken, check_claims};
use crate::{DefenderError, Result};
use crate::{TenantClouds, TokenCache};

/// Gives access tokens for (tenant, audience), checked to hold `required_roles`.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A valid token whose `tid` is `tenant` and whose `roles` include every one of `required_roles`;
    /// otherwise a typed error ([`DefenderError::ConsentRequired`] names the missing roles and the consent URL).
    async fn token(
        &self,
        tenant: &TenantId,
        audience: Audience,
        required_roles: &[&str],
    ) -> Result<AccessToken>;

    /// Forgets `rejected` (an API answered 401 with it), so the next [`TokenSource::token`] for its tenant and
    /// audience obtains a new one. A cached token other than `rejected` (already renewed by another caller) is kept.
    async fn invalidate(&self, rejected: &AccessToken) {
        let _ = rejected;
    }

    /// The tenant's admin-consent URL, when this source knows the application (used in permission errors).
    async fn consent_url(&self, tenant: &TenantId) -> Option<String> {
        let _ = tenant;
        None
    }
}

/// Where the application credential comes from (a secret store in production). Most tenants share the
/// deployment's credential; a tenant in a sovereign cloud may have its own app registration.
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// The current credential for `tenant`.
    async fn credential(&self, tenant: &TenantId) -> Result<AppCredential>;
    /// Forgets any cached credential of `tenant`, so the next call reads it again (after Entra refused it: a
    /// rotation).
    async fn refresh(&self, tenant: &TenantId) {
        let _ = tenant;
    }
}

/// A credential held in memory (tests, the CLI with a local file already read).
pub struct StaticCredential(pub AppCredential);

#[async_trait]
impl CredentialSource for StaticCredential {
    async fn credential(&self, _tenant: &TenantId) -> Result<AppCredential> {
        Ok(self.0.clone())
    }
}

/// How long a claim to ask Entra ID for a token holds (see [`SharedTokenStore::claim`]): a token request takes well
/// under a second, its retries a few; the others wait this long at most before asking themselves.
const FETCH_CLAIM: Duration = Duration::from_secs(5);

/// Asks Entra ID directly with the application credential, caching per (tenant, audience): one token request
/// per key per token lifetime, however many concurrent callers (single-flight), refreshed ahead of expiry.
pub struct DirectTokenSource {
    http: reqwest::Client,
    clouds: Arc<TenantClouds>,
    version: TokenEndpointVersion,
    credentials: Arc<dyn CredentialSource>,
    cache: TokenCache,
    refresh_margin: Duration,
    shared: Option<Arc<dyn SharedTokenStore>>,
    /// This source's name in claims of the shared store (random, per process).
    holder: String,
    // Serialises credential refreshes so a rotation is read once, not by every failing caller.
    refresh_lock: RwLock<()>,
}

impl DirectTokenSource {
    /// A source over the process's HTTP client. `refresh_margin` is how long before expiry a token is renewed
    /// (5 minutes is a good default for Entra's 60-90 minute tokens).
    pub fn new(
        http: reqwest::Client,
        endpoints: CloudEndpoints,
        version: TokenEndpointVersion,
        credentials: Arc<dyn CredentialSource>,
        refresh_margin: Duration,
    ) -> Self {
        Self {
            http,
            clouds: Arc::new(TenantClouds::new(endpoints)),
            version,
            credentials,
            cache: TokenCache::new(refresh_margin),
            refresh_margin,
            shared: None,
            holder: uuid::Uuid::new_v4().to_string(),
            refresh_lock: RwLock::new(()),
        }
    }

    /// The same source, with each tenant's sign-in host from `clouds` (shared with the API client).
    pub fn with_clouds(mut self, clouds: Arc<TenantClouds>) -> Self {
        self.clouds = clouds;
        self
    }

    /// The same source, sharing its tokens with other processes through `store` (see [`SharedTokenStore`]).
    pub fn with_shared_store(mut self, store: Arc<dyn SharedTokenStore>) -> Self {
        self.shared = Some(store);
        self
    }

    /// A token another process kept in the shared store, when it opens with `credential`, is for `tenant` and
    /// lives longer than the refresh margin. Store failures are logged: Entra ID is asked instead.
    async fn shared_token(
        &self,
        store: &dyn SharedTokenStore,
        sealer: &Sealer,
        tenant: &TenantId,
        audience: Audience,
    ) -> Option<Arc<AccessToken>> {
        let key = shared_key(tenant, audience);
        let stored = match store.load(&key).await {
            Ok(stored) => stored?,
            Err(e) => {
                warn!(tenant = %tenant, audience = audience.as_str(), error = %e, "the shared token cache could not be read; asking Entra ID");
                return None;
            }
        };
        if stored.expires_at <= SystemTime::now() + self.refresh_margin {
            return None;
        }
        let Some(value) = sealer.open(&stored.sealed, &key) else {
            debug!(tenant = %tenant, audience = audience.as_str(), "a shared token does not open with the current credential (rotated?); asking Entra ID");
            return None;
        };
        let roles = check_claims(&value, tenant).ok()?;
        let token = AccessToken::new(value, tenant.clone(), audience, stored.expires_at, roles);
        debug!(tenant = %tenant, audience = audience.as_str(), fingerprint = %token.fingerprint(), "token from the shared cache");
        Some(Arc::new(token))
    }

    /// Whether to ask Entra ID for the token of `tenant` and `audience`, or a token another process is asking for
    /// right now (it holds the claim): that one is awaited in the store for up to [`FETCH_CLAIM`], then asked
    /// for anyway. A store that cannot be reached is no reason to wait.
    async fn claimed_or_awaited(
        &self,
        store: &dyn SharedTokenStore,
        sealer: &Sealer,
        tenant: &TenantId,
        audience: Audience,
    ) -> Option<Arc<AccessToken>> {
        let key = shared_key(tenant, audience);
        match store
            .claim(&key, &self.holder, SystemTime::now() + FETCH_CLAIM)
            .await
        {
            Ok(true) => return None,
            Ok(false) => {}
            Err(e) => {
                warn!(tenant = %tenant, audience = audience.as_str(), error = %e, "the shared token cache could not be claimed; asking Entra ID");
                return None;
            }
        }
        debug!(tenant = %tenant, audience = audience.as_str(), "another process is asking for this token; waiting for it");
        let started = tokio::time::Instant::now();
        let pauses = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_millis(800))
            .without_max_times()
            .build();
        for pause in pauses {
            if started.elapsed() + pause > FETCH_CLAIM {
                break;
            }
            tokio::time::sleep(pause).await;
            if let Some(token) = self.shared_token(store, sealer, tenant, audience).await {
                return Some(token);
            }
        }
        debug!(tenant = %tenant, audience = audience.as_str(), "the other process's token did not come; asking Entra ID");
        None
    }

    /// Keeps `token` in the shared store for the other processes; a failure is logged only.
    async fn share(&self, store: &dyn SharedTokenStore, sealer: &Sealer, token: &AccessToken) {
        let key = shared_key(&token.tenant, token.audience);
        let saved = match sealer.seal(&token.value, &key) {
            Ok(sealed) => {
                let stored = StoredToken {
                    sealed,
                    fingerprint: token.fingerprint(),
                    expires_at: token.expires_at,
                };
                store.save(&key, &stored).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = saved {
            warn!(tenant = %token.tenant, audience = token.audience.as_str(), error = %e, "the token could not be kept in the shared token cache");
        }
    }

    async fn fetch(&self, tenant: &TenantId, audience: Audience) -> Result<Arc<AccessToken>> {
        match self.fetch_once(tenant, audience).await {
            // Entra refused the credential: it may have been rotated since we read it. Read it again, once.
            Err(DefenderError::CredentialInvalid { .. }) => {
                {
                    let _guard = self.refresh_lock.write().await;
                    self.credentials.refresh(tenant).await;
                }
                warn!(tenant = %tenant, "credential refused; re-read it once in case it was rotated");
                self.fetch_once(tenant, audience).await
            }
            other => other,
        }
    }

    async fn fetch_once(&self, tenant: &TenantId, audience: Audience) -> Result<Arc<AccessToken>> {
        let credential = {
            let _guard = self.refresh_lock.read().await;
            self.credentials.credential(tenant).await?
        };
        crate::expiry::refuse_expired(&credential, SystemTime::now())?;
        let shared = match &self.shared {
            Some(store) => Some((store.as_ref(), Sealer::new(&credential)?)),
            None => None,
        };
        if let Some((store, sealer)) = &shared {
            if let Some(token) = self.shared_token(*store, sealer, tenant, audience).await {
                return Ok(token);
            }
            if let Some(token) = self.claimed_or_awaited(*store, sealer, tenant, audience).await {
                return Ok(token);
            }
        }
        let endpoints = self.clouds.endpoints(tenant);
        let issued = (|| request_token(&self.http, &endpoints, self.version, &credential, tenant, audience))
            .retry(ExponentialBuilder::default().with_jitter().with_max_times(3).with_min_delay(Duration::from_millis(200)))
            .when(DefenderError::is_retryable)
            .notify(|e, wait| warn!(tenant = %tenant, audience = audience.as_str(), error = %e, ?wait, "token request failed; retrying"))
            .await?;
        let roles = check_claims(&issued.value, tenant)?;
        let token = AccessToken {
            value: issued.value,
            tenant: tenant.clone(),
            audience,
            expires_at: SystemTime::now() + issued.expires_in,
            roles,
        };
        debug!(tenant = %tenant, audience = audience.as_str(), fingerprint = %token.fingerprint(), "token acquired");
        if let Some((store, sealer)) = &shared {
            self.share(*store, sealer, &token).await;
        }
        Ok(Arc::new(token))
    }
}

#[async_trait]
impl TokenSource for DirectTokenSource {
    async fn token(
        &self,
        tenant: &TenantId,
        audience: Audience,
        required_roles: &[&str],
    ) -> Result<AccessToken> {
        let token = self
            .cache
            .get_or_fetch(tenant, audience, self.fetch(tenant, audience))
            .await?;
        let missing = token.missing_roles(required_roles);
        if !missing.is_empty() {
            let client_id = self.credentials.credential(tenant).await?.client_id().clone();
            return Err(DefenderError::ConsentRequired {
                tenant: tenant.clone(),
                audience,
                missing: missing.into_iter().map(str::to_string).collect(),
                consent_url: admin_consent_url(&self.clouds.endpoints(tenant).login, tenant, &client_id),
            });
        }
        Ok((*token).clone())
    }

    async fn invalidate(&self, rejected: &AccessToken) {
        if self.cache.invalidate(rejected).await {
            debug!(tenant = %rejected.tenant, audience = rejected.audience.as_str(), fingerprint = %rejected.fingerprint(), "token invalidated after a 401");
        }
        // Other processes must not get it from the shared store either (unless it was replaced already).
        if let Some(store) = &self.shared
            && let Err(e) = store
                .remove(
                    &shared_key(&rejected.tenant, rejected.audience),
                    &rejected.fingerprint(),
                )
                .await
        {
            warn!(tenant = %rejected.tenant, audience = rejected.audience.as_str(), error = %e, "a rejected token could not be removed from the shared token cache");
        }
    }

    async fn consent_url(&self, tenant: &TenantId) -> Option<String> {
        let credential = self.credentials.credential(tenant).await.ok()?;
        Some(admin_consent_url(
            &self.clouds.endpoints(tenant).login,
            tenant,
            credential.client_id(),
        ))
    }
}
