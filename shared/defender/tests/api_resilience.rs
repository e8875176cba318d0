//! Politeness and failures against the sandbox over real sockets: 429 honours `Retry-After`, 5xx / dropped
//! connections / truncated bodies / timeouts are retried within bounds, other 4xx are not, a 401 refreshes the token
//! once, missing permissions name the permission and the consent URL, and the client-side rate limiter keeps a burst
//! under the API's limit.

mod api_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mde_contracts::{Audience, TenantId};
use mde_defender::api::{ApiFamily, MdeAlertUpdate, RateLimit, RateLimitConfig, ResponseAction};
use mde_defender::{AccessToken, DefenderError, DirectTokenSource, TokenSource};
use mde_sandbox::{FaultKind, RateLimitOverride, Sandbox, SandboxConfig};

use api_support::*;

async fn sandbox_with(faults: Vec<mde_sandbox::FaultRule>) -> mde_sandbox::SandboxHandle {
    let config = SandboxConfig {
        faults,
        ..SandboxConfig::default()
    };
    Sandbox::start(config).await.expect("sandbox")
}

async fn any_alert_id(client: &mde_defender::DefenderClient, sandbox: &mde_sandbox::SandboxHandle) -> String {
    use futures::StreamExt;
    let query = mde_defender::api::Query::<mde_defender::api::odata::MdeAlertProperty>::new().top(1);
    let page = client
        .mde_alerts(&full(), &query)
        .next()
        .await
        .expect("a page")
        .expect("page");
    sandbox.clear_requests();
    page.items[0].id().expect("an id").to_owned()
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let sandbox = sandbox_with(vec![fault(
        "/api/alerts/*",
        FaultKind::TooManyRequests {
            retry_after_seconds: 1,
        },
        Some(1),
    )])
    .await;
    let client = client(&sandbox);
    let id = any_alert_id(&client, &sandbox).await;
    let started = Instant::now();
    let alert = client
        .mde_alert(&full(), &id)
        .await
        .expect("second attempt succeeds");
    assert_eq!(alert.id(), Some(id.as_str()));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited {:?}",
        started.elapsed()
    );
    let calls = api_requests(&sandbox, "/api/alerts/");
    let statuses: Vec<Option<u16>> = calls.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Some(429), Some(200)]);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_client_accepts_fails_as_throttled_at_once() {
    let sandbox = sandbox_with(vec![fault(
        "/api/alerts/*",
        FaultKind::TooManyRequests {
            retry_after_seconds: 3600,
        },
        None,
    )])
    .await;
    let client = client(&sandbox);
    let id = any_alert_id(&client, &sandbox).await;
    let err = client.mde_alert(&full(), &id).await.expect_err("throttled");
    match &err {
        DefenderError::Throttled {
            retry_after,
            attempts,
            ..
        } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(3600)));
            assert_eq!(*attempts, 1);
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(api_requests(&sandbox, "/api/alerts/").len(), 1);
}

#[tokio::test]
async fn server_errors_dropped_connections_and_truncated_bodies_are_retried() {
    for kind in [
        FaultKind::Status { status: 503 },
        FaultKind::Status { status: 500 },
        FaultKind::DropConnection,
        FaultKind::TruncatedBody,
    ] {
        let sandbox = sandbox_with(vec![fault("/api/machines/*", kind.clone(), Some(2))]).await;
        let client = client(&sandbox);
        let answer = client.machine(&full(), "no-such-machine").await;
        assert!(
            matches!(answer, Err(DefenderError::NotFound { .. })),
            "{kind:?}: {answer:?}"
        );
        let calls = api_requests(&sandbox, "/api/machines/");
        assert_eq!(calls.len(), 3, "{kind:?}: two faulted attempts and one answered");
    }
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_the_bounded_retries() {
    let sandbox = sandbox_with(vec![fault(
        "/api/alerts*",
        FaultKind::Status { status: 502 },
        None,
    )])
    .await;
    let client = client_with(
        &sandbox,
        Arc::new(token_source(&sandbox)),
        fast_retries(2),
        RateLimitConfig::unlimited(),
    );
    let err = client.mde_alert(&full(), "da1").await.expect_err("down");
    assert!(matches!(err, DefenderError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(
        api_requests(&sandbox, "/api/alerts").len(),
        3,
        "one attempt and two retries"
    );
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let sandbox = sandbox_with(vec![fault(
        "/api/machines/*",
        FaultKind::Delay { millis: 1_500 },
        Some(1),
    )])
    .await;
    let http = reqwest::Client::builder()
        .user_agent(UA)
        .timeout(Duration::from_millis(700))
        .build()
        .expect("http");
    let client = mde_defender::DefenderClient::with_config(
        http,
        endpoints(&sandbox),
        Arc::new(token_source(&sandbox)),
        mde_defender::api::ClientConfig {
            retry: fast_retries(2),
            rate_limits: RateLimitConfig::unlimited(),
        },
    );
    let names = client.machines_by_name(&full(), "nobody").await;
    assert!(names.is_ok(), "{names:?}");
    let err = client
        .machine(&full(), "no-such-machine")
        .await
        .expect_err("404 after the timeout");
    assert!(matches!(err, DefenderError::NotFound { .. }), "{err:?}");
    assert_eq!(
        api_requests(&sandbox, "/api/machines/").len(),
        2,
        "timed out once, then answered"
    );
}

#[tokio::test]
async fn client_errors_are_not_retried_and_carry_the_documented_code() {
    let sandbox = sandbox_with(Vec::new()).await;
    let client = client(&sandbox);
    let id = any_alert_id(&client, &sandbox).await;
    let err = client.mde_alert(&full(), "no-such-alert").await.expect_err("404");
    match &err {
        DefenderError::NotFound { code, endpoint, .. } => {
            assert_eq!(code, "ResourceNotFound");
            assert_eq!(*endpoint, "mde.alerts.get");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(!err.is_retryable());
    let bad = MdeAlertUpdate {
        status: Some("Closed".into()),
        ..MdeAlertUpdate::default()
    };
    let err = client
        .update_mde_alert(&full(), &id, &bad)
        .await
        .expect_err("400");
    match &err {
        DefenderError::Api {
            status,
            code,
            correlation,
            ..
        } => {
            assert_eq!((*status, code.as_str()), (400, "InvalidInput"));
            assert!(correlation.is_some(), "the target correlation id is kept");
        }
        other => panic!("expected Api, got {other:?}"),
    }
    assert_eq!(api_requests(&sandbox, "/api/alerts/").len(), 2, "each 4xx once");
}

/// Hands out a token of the wrong API (the sandbox answers 401) until invalidated `fixed_after` times.
struct StaleTokens {
    inner: DirectTokenSource,
    invalidations: AtomicUsize,
    fixed_after: usize,
}

#[async_trait]
impl TokenSource for StaleTokens {
    async fn token(
        &self,
        tenant: &TenantId,
        audience: Audience,
        roles: &[&str],
    ) -> mde_defender::Result<AccessToken> {
        if self.invalidations.load(Ordering::SeqCst) >= self.fixed_after {
            self.inner.token(tenant, audience, roles).await
        } else {
            self.inner.token(tenant, Audience::Graph, &[]).await
        }
    }
    async fn invalidate(&self, rejected: &AccessToken) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.inner.invalidate(rejected).await;
    }
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_a_second_401_is_final() {
    let sandbox = sandbox_with(Vec::new()).await;
    let stale = Arc::new(StaleTokens {
        inner: token_source(&sandbox),
        invalidations: AtomicUsize::new(0),
        fixed_after: 1,
    });
    let client = client_with(
        &sandbox,
        stale.clone(),
        fast_retries(3),
        RateLimitConfig::unlimited(),
    );
    client
        .machine(&full(), "x")
        .await
        .expect_err("404 after the refresh");
    assert_eq!(stale.invalidations.load(Ordering::SeqCst), 1);
    let statuses: Vec<Option<u16>> = api_requests(&sandbox, "/api/machines/")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![Some(401), Some(404)]);

    sandbox.clear_requests();
    let never = Arc::new(StaleTokens {
        inner: token_source(&sandbox),
        invalidations: AtomicUsize::new(0),
        fixed_after: usize::MAX,
    });
    let client = client_with(
        &sandbox,
        never.clone(),
        fast_retries(3),
        RateLimitConfig::unlimited(),
    );
    let err = client.machine(&full(), "x").await.expect_err("401");
    assert!(matches!(err, DefenderError::Unauthorized { .. }), "{err:?}");
    assert_eq!(
        never.invalidations.load(Ordering::SeqCst),
        1,
        "refreshed once only"
    );
    assert_eq!(api_requests(&sandbox, "/api/machines/").len(), 2);
}

#[tokio::test]
async fn a_missing_permission_is_named_with_the_consent_url_before_any_call() {
    let sandbox = sandbox_with(Vec::new()).await;
    let client = client(&sandbox);
    let err = client
        .machine_action(&partial(), "any", &ResponseAction::Unisolate, "test")
        .await
        .expect_err("no Machine.Isolate");
    match &err {
        DefenderError::ConsentRequired {
            missing, consent_url, ..
        } => {
            assert_eq!(missing, &["Machine.Isolate".to_owned()]);
            assert!(consent_url.contains("/adminconsent?client_id="), "{consent_url}");
        }
        other => panic!("expected ConsentRequired, got {other:?}"),
    }
    // Read permissions the partial tenant has are enough for reads.
    client
        .machines_by_name(&partial(), "nobody")
        .await
        .expect("Machine.Read.All is granted");
    assert!(
        api_requests(&sandbox, "/api/machines/any").is_empty(),
        "nothing was sent without the permission"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limiter_keeps_a_burst_under_the_apis_limit_without_a_single_429() {
    let mut config = SandboxConfig::default();
    config.data.alert_updates_per_hour = 0;
    config.data.new_alerts_per_hour = 0;
    config.rate_limits.overrides = vec![RateLimitOverride {
        operation: "mde.machines.get".into(),
        per_minute: Some(8),
        per_hour: None,
    }];
    let sandbox = Arc::new(Sandbox::start(config).await.expect("sandbox"));
    // The sandbox's minute is made to pass in 100 ms of real time, so its window is at most that long; the client
    // allows 8 calls per real second, hence never 9 in one of the sandbox's windows.
    let clock = Arc::clone(&sandbox);
    let ticker = tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        for _ in 0..200 {
            interval.tick().await;
            clock.advance(Duration::from_secs(60));
        }
    });
    let limits = RateLimitConfig::unlimited().with(
        ApiFamily::MdeStandard,
        vec![RateLimit::new(8, Duration::from_secs(1))],
    );
    let client = client_with(
        &sandbox,
        Arc::new(token_source(&sandbox)),
        fast_retries(0),
        limits,
    );
    let tenant = full();
    let started = Instant::now();
    let burst = (0..24).map(|_| client.machine(&tenant, "no-such-machine"));
    let results = futures::future::join_all(burst).await;
    ticker.abort();
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(DefenderError::NotFound { .. }))),
        "{results:?}"
    );
    let statuses: Vec<Option<u16>> = api_requests(&sandbox, "/api/machines/")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses.len(), 24);
    assert!(
        statuses.iter().all(|s| *s == Some(404)),
        "zero 429s: {statuses:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the limiter spread the burst: {:?}",
        started.elapsed()
    );
}
