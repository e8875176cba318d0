//! A client for a local Defender emulator, for tests and benchmarks of other crates (feature `testing`): every
//! API and the sign-in at one base URL, a client secret, short retries.

use std::sync::Arc;
use std::time::Duration;

use mde_contracts::{CloudSettings, PartnerIdentity};

use crate::api::{ClientConfig, RateLimitConfig, RetryPolicy};
use crate::{DefenderClient, DirectTokenSource, StaticCredential};

/// Short retries: `max_retries` with millisecond backoff, waiting at most 2 s for a `Retry-After`.
pub fn quick_retries(max_retries: usize) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
    }
}

/// Every sign-in and API host of the cloud pointed at the emulator at `base_url`.
pub fn endpoints_for(base_url: &str) -> mde_contracts::CloudEndpoints {
    let base: url::Url = base_url.parse().expect("the emulator's base URL");
    CloudSettings {
        login_url: Some(base.clone()),
        mde_api_url: Some(base.clone()),
        m365d_api_url: Some(base.clone()),
        graph_url: Some(base),
        ..CloudSettings::default()
    }
    .endpoints()
    .expect("endpoints")
}

/// A client of the emulator at `base_url` signing in as (`client_id`, `client_secret`).
pub fn client_for(
    base_url: &str,
    client_id: &str,
    client_secret: &str,
    retry: RetryPolicy,
    rate_limits: RateLimitConfig,
) -> Arc<DefenderClient> {
    let partner = PartnerIdentity {
        company: "Contoso".into(),
        product: "Tests".into(),
        version: "1.0.0".into(),
    };
    let http = crate::build_http_client(&partner).expect("http client");
    let endpoints = endpoints_for(base_url);
    let credential = serde_json::from_value(serde_json::json!({
        "kind": "client_secret",
        "client_id": client_id,
        "client_secret": client_secret,
    }))
    .expect("credential");
    let tokens = Arc::new(DirectTokenSource::new(
        http.clone(),
        endpoints.clone(),
        Default::default(),
        Arc::new(StaticCredential(credential)),
        Duration::from_secs(300),
    ));
    Arc::new(DefenderClient::with_config(
        http,
        endpoints,
        tokens,
        ClientConfig { retry, rate_limits },
    ))
}

/// The ids of `tenant`'s devices whose `osPlatform` starts with `platform` (e.g. "Windows"), in the emulator at
/// `base_url`, signed in as (`client_id`, `client_secret`).
///
/// # Panics
/// When the listing fails (a mistake in the calling test's set-up).
pub async fn machine_ids(
    base_url: &str,
    client_id: &str,
    client_secret: &str,
    tenant: &mde_contracts::TenantId,
    platform: &str,
) -> Vec<String> {
    use futures::TryStreamExt as _;
    let client = client_for(
        base_url,
        client_id,
        client_secret,
        quick_retries(0),
        RateLimitConfig::default(),
    );
    client
        .machines(tenant, &crate::api::Query::new())
        .try_collect::<Vec<_>>()
        .await
        .expect("the emulator lists the tenant's machines")
        .into_iter()
        .flat_map(|page| page.items)
        .filter(|m| m.os_platform.as_deref().is_some_and(|p| p.starts_with(platform)))
        .map(|m| m.id)
        .collect()
}
