//! [`DefenderClient`]: one per process, shared by every tenant. Each call waits for the rate limiter, carries a
//! bearer token for the operation's API and the partner User-Agent (set on the HTTP client), and is retried within
//! bounds: 5xx, timeouts, resets and truncated bodies with exponential backoff and jitter, 429 after `Retry-After`,
//! 401 once with a refreshed token; other 4xx never.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBuilder, Retryable};
use bytes::Bytes;
use mde_contracts::{CloudEndpoints, TenantId};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{debug, warn};
use url::Url;

use super::endpoint::Endpoint;
use super::limiter::{Limiter, RateLimitConfig};
use super::reply::{Head, Outcome, classify_head, decode};
use crate::{AccessToken, DefenderError, Result, TenantClouds, TokenSource};

/// Bounds of the retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (5xx, network errors, 429 and the one 401 refresh all count).
    pub max_retries: usize,
    /// First backoff delay.
    pub min_delay: Duration,
    /// Largest backoff delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` the client waits; a longer one fails at once with [`DefenderError::Throttled`]
    /// (a Lambda function should not sleep through an hour window).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// How the client behaves: retries and rate limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientConfig {
    /// Retry bounds.
    pub retry: RetryPolicy,
    /// Client-side rate limits.
    pub rate_limits: RateLimitConfig,
}

/// The Defender API client of a process (MDE, Microsoft 365 Defender, Graph security).
pub struct DefenderClient {
    pub(crate) http: reqwest::Client,
    pub(crate) clouds: Arc<TenantClouds>,
    tokens: Arc<dyn TokenSource>,
    limiter: Limiter,
    retry: RetryPolicy,
}

/// One call to make: operation, tenant, method, URL, body.
pub(crate) struct Call<'a> {
    pub endpoint: &'static Endpoint,
    pub tenant: &'a TenantId,
    pub method: Method,
    pub url: Url,
    pub body: Option<Vec<u8>>,
    /// Send `Prefer: include-unknown-enum-members` (Graph evolvable enums).
    pub prefer_unknown_enums: bool,
}

/// A successful answer, read whole.
pub(crate) struct Reply {
    pub status: u16,
    /// The answer's `Date` header: the service's clock.
    pub date: Option<std::time::SystemTime>,
    pub body: Bytes,
}

impl DefenderClient {
    /// A client over the process's HTTP client (see [`crate::build_http_client`]), the cloud's endpoints and a
    /// token source, with Microsoft's documented rate limits and default retry bounds.
    pub fn new(http: reqwest::Client, endpoints: CloudEndpoints, tokens: Arc<dyn TokenSource>) -> Self {
        Self::with_config(http, endpoints, tokens, ClientConfig::default())
    }

    /// A client with explicit retry bounds and rate limits.
    pub fn with_config(
        http: reqwest::Client,
        endpoints: CloudEndpoints,
        tokens: Arc<dyn TokenSource>,
        config: ClientConfig,
    ) -> Self {
        Self {
            http,
            limiter: Limiter::new(&config.rate_limits),
            clouds: Arc::new(TenantClouds::new(endpoints)),
            tokens,
            retry: config.retry,
        }
    }

    /// The same client, with each tenant's API hosts from `clouds` (shared with the token source).
    pub fn with_clouds(mut self, clouds: Arc<TenantClouds>) -> Self {
        self.clouds = clouds;
        self
    }

    /// The default endpoints (the deployment's `[cloud]`).
    pub fn endpoints(&self) -> &CloudEndpoints {
        self.clouds.default_endpoints()
    }

    /// The endpoints of `tenant`'s cloud.
    pub fn tenant_endpoints(&self, tenant: &TenantId) -> Arc<CloudEndpoints> {
        self.clouds.endpoints(tenant)
    }

    /// `{base}{path}` plus percent-encoded `segments`, for the operation's API in `tenant`'s cloud.
    pub(crate) fn url(&self, endpoint: &Endpoint, tenant: &TenantId, path: &str, segments: &[&str]) -> Url {
        let mut url = self
            .clouds
            .endpoints(tenant)
            .api(endpoint.audience)
            .base_url
            .clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        if !segments.is_empty()
            && let Ok(mut s) = url.path_segments_mut()
        {
            s.pop_if_empty().extend(segments);
        }
        url
    }

    /// Preflight: whether `tenant` granted the application one of `endpoint`'s permissions, without calling the
    /// API (the token's `roles` say it). Returns the granted roles of the token; the error is the consent error
    /// naming the least privileged permission and the tenant's consent URL.
    pub async fn check_access(&self, endpoint: &Endpoint, tenant: &TenantId) -> Result<Vec<String>> {
        self.token(endpoint, tenant).await.map(|t| t.roles)
    }

    /// A token for the operation: any one of its permissions will do. When none is granted the token source's
    /// consent error names the least privileged one.
    async fn token(&self, endpoint: &Endpoint, tenant: &TenantId) -> Result<AccessToken> {
        let token = self.tokens.token(tenant, endpoint.audience, &[]).await?;
        if endpoint.roles.is_empty()
            || endpoint
                .roles
                .iter()
                .any(|r| token.roles.iter().any(|have| have == r))
        {
            return Ok(token);
        }
        // Ask again requiring the least privileged permission: the source answers with its consent error.
        self.tokens
            .token(tenant, endpoint.audience, &[endpoint.permission()])
            .await
    }

    /// Sends a call with the rate limiter and bounded retries; returns a 2xx answer.
    pub(crate) async fn execute(&self, call: &Call<'_>) -> Result<Reply> {
        self.execute_with(call, Ok).await
    }

    /// Sends a call with the rate limiter and bounded retries and reads its 2xx answer with `read`, inside the
    /// retries: a body that turns out truncated is fetched again.
    pub(crate) async fn execute_with<T>(
        &self,
        call: &Call<'_>,
        read: impl Fn(Reply) -> std::result::Result<T, Outcome>,
    ) -> Result<T> {
        let refreshed = AtomicBool::new(false);
        self.retrying(call, || async {
            let head = self.attempt(call, &refreshed).await?;
            read(head.into_reply().await?)
        })
        .await
    }

    /// Sends a call with the rate limiter and bounded retries until a 2xx answer's status and headers are in; its
    /// body is left to the caller (who retries a body that fails with [`DefenderClient::backoff`]).
    pub(crate) async fn open(&self, call: &Call<'_>) -> Result<Head> {
        let refreshed = AtomicBool::new(false);
        self.retrying(call, || self.attempt(call, &refreshed)).await
    }

    /// The backoff delays of a call's retries (exponential with jitter, bounded), for retrying outside
    /// [`DefenderClient::execute_with`].
    pub(crate) fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        self.backoff_builder().build()
    }

    /// Exponential backoff with jitter within the retry bounds.
    fn backoff_builder(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.max_retries)
    }

    /// Runs `op` (one attempt) within the retry bounds.
    async fn retrying<T, Fut>(&self, call: &Call<'_>, op: impl Fn() -> Fut) -> Result<T>
    where
        Fut: Future<Output = std::result::Result<T, Outcome>>,
    {
        let attempts = AtomicU32::new(0);
        let backoff = self.backoff_builder();
        let max_retry_after = self.retry.max_retry_after;
        let result = (|| async {
            attempts.fetch_add(1, Ordering::Relaxed);
            op().await
        })
        .retry(backoff)
        .when(|outcome: &Outcome| outcome.retryable())
        .adjust(|outcome: &Outcome, proposed| match outcome {
            // The one 401 retry goes at once with the new token.
            Outcome::Unauthorized { .. } => proposed.map(|_| Duration::ZERO),
            Outcome::Throttled {
                retry_after: Some(wait),
                ..
            } if *wait > max_retry_after => None,
            Outcome::Throttled {
                retry_after: Some(wait),
                ..
            } => proposed.map(|_| *wait),
            _ => proposed,
        })
        .notify(|outcome: &Outcome, wait: Duration| {
            warn!(
                tenant = %call.tenant,
                endpoint = call.endpoint.name,
                attempt = attempts.load(Ordering::Relaxed),
                wait_ms = wait.as_millis() as u64,
                reason = %outcome,
                "retrying the call"
            );
        })
        .await;
        result.map_err(|outcome| outcome.into_error(call, attempts.load(Ordering::Relaxed)))
    }

    async fn attempt(&self, call: &Call<'_>, refreshed: &AtomicBool) -> std::result::Result<Head, Outcome> {
        self.limiter
            .acquire(call.endpoint.family, call.tenant, call.endpoint.name)
            .await;
        let token = self
            .token(call.endpoint, call.tenant)
            .await
            .map_err(|e| match e {
                DefenderError::Unavailable { .. } => Outcome::Transient(e.to_string()),
                other => Outcome::Fatal(Box::new(other)),
            })?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.secret().expose_secret()))
            .map_err(|_| {
                Outcome::Fatal(Box::new(DefenderError::MalformedTokenResponse(
                    "the access token is not a valid header value".into(),
                )))
            })?;
        bearer.set_sensitive(true);
        let mut request = self
            .http
            .request(call.method.clone(), call.url.clone())
            .header(AUTHORIZATION, bearer);
        if call.prefer_unknown_enums {
            request = request.header("Prefer", "include-unknown-enum-members");
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json; charset=utf-8")
                .body(body.clone());
        }
        debug!(
            tenant = %call.tenant,
            endpoint = call.endpoint.name,
            method = %call.method,
            path = call.url.path(),
            token = %token.fingerprint(),
            "calling"
        );
        let response = request
            .send()
            .await
            .map_err(|e| Outcome::Transient(crate::http::network_reason(&e)))?;
        let outcome = classify_head(response).await;
        if let Err(Outcome::Unauthorized { .. }) = &outcome
            && !refreshed.swap(true, Ordering::SeqCst)
        {
            // Once: the token may have been revoked or rotated; a new one is fetched on the retry.
            self.tokens.invalidate(&token).await;
            return outcome;
        }
        match outcome {
            Err(Outcome::Unauthorized { message, .. }) => Err(Outcome::Unauthorized {
                message,
                retry: false,
            }),
            Err(Outcome::Forbidden { code, message, .. }) => Err(Outcome::Forbidden {
                code,
                message,
                consent_url: self.tokens.consent_url(call.tenant).await,
            }),
            other => other,
        }
    }

    /// Sends a call and decodes its JSON answer (a truncated one is fetched again).
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T> {
        self.execute_with(call, |reply| decode(reply.status, &reply.body))
            .await
    }

    /// A call with a JSON body.
    pub(crate) fn call_with<'a, B: Serialize + ?Sized>(
        &self,
        endpoint: &'static Endpoint,
        tenant: &'a TenantId,
        method: Method,
        url: Url,
        body: &B,
    ) -> Result<Call<'a>> {
        let body = serde_json::to_vec(body).map_err(|e| DefenderError::InvalidRequest {
            endpoint: endpoint.name,
            reason: format!("the request body does not serialise: {e}"),
        })?;
        Ok(Call {
            endpoint,
            tenant,
            method,
            url,
            body: Some(body),
            prefer_unknown_enums: false,
        })
    }

    /// A call without a body.
    pub(crate) fn call<'a>(
        &self,
        endpoint: &'static Endpoint,
        tenant: &'a TenantId,
        method: Method,
        url: Url,
    ) -> Call<'a> {
        Call {
            endpoint,
            tenant,
            method,
            url,
            body: None,
            prefer_unknown_enums: endpoint.audience == mde_contracts::Audience::Graph,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use mde_contracts::Dataset;

    use super::*;
    use crate::api::ResponseAction;

    #[test]
    fn the_clients_futures_and_streams_can_move_between_threads() {
        fn send<T: Send>(_: &T) {}
        let _compile_time_check = |c: &DefenderClient, t: &TenantId, now: time::OffsetDateTime| {
            send(&c.machine(t, "x"));
            send(&c.machine_action(t, "x", &ResponseAction::Offboard, "c"));
            send(&c.import_indicators(t, &[]));
            send(&c.run_graph_hunting_query(t, "q", None));
            let mut pages = c.export_pages(Dataset::MdeAlerts, t, now, now, None);
            send(&pages);
            send(&pages.next());
        };
    }
}
