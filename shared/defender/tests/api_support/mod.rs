//! Helpers shared by the `api_*` tests: a sandbox, a client against it over real sockets,
//! fault rules and request-log queries.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use mde_contracts::{AppCredential, CloudEndpoints, CloudSettings, PartnerIdentity, TenantId};
use mde_defender::api::{ClientConfig, RateLimitConfig, RetryPolicy};
use mde_defender::{
    DefenderClient, DirectTokenSource, StaticCredential, TokenEndpointVersion, TokenSource, build_http_client,
};
use mde_sandbox::{FaultKind, FaultRule, RequestRecord, SandboxHandle};

/// The partner User-Agent every request must carry.
pub const UA: &str = "MdePartner-Contoso-BridgeTests/1.0.0";

/// The partner identity of the tests.
pub fn partner() -> PartnerIdentity {
    PartnerIdentity {
        company: "Contoso".into(),
        product: "BridgeTests".into(),
        version: "1.0.0".into(),
    }
}

/// Every URL of the cloud pointed at the sandbox.
pub fn endpoints(sandbox: &SandboxHandle) -> CloudEndpoints {
    let base: url::Url = sandbox.base_url().parse().expect("base url");
    endpoints_with_graph(sandbox, base)
}

/// The sandbox for login, MDE and Microsoft 365 Defender; `graph` for Graph.
pub fn endpoints_with_graph(sandbox: &SandboxHandle, graph: url::Url) -> CloudEndpoints {
    let base: url::Url = sandbox.base_url().parse().expect("base url");
    CloudSettings {
        login_url: Some(base.clone()),
        mde_api_url: Some(base.clone()),
        m365d_api_url: Some(base),
        graph_url: Some(graph),
        ..CloudSettings::default()
    }
    .endpoints()
    .expect("endpoints")
}

/// The demo application's secret credential.
pub fn credential() -> AppCredential {
    serde_json::from_value(serde_json::json!({
        "kind": "client_secret", "client_id": mde_sandbox::DEMO_CLIENT_ID,
        "client_secret": mde_sandbox::DEMO_CLIENT_SECRET }))
    .expect("credential")
}

/// The direct token source against the sandbox's Entra ID.
pub fn token_source(sandbox: &SandboxHandle) -> DirectTokenSource {
    let http = build_http_client(&partner()).expect("http client");
    DirectTokenSource::new(
        http,
        endpoints(sandbox),
        TokenEndpointVersion::V2,
        Arc::new(StaticCredential(credential())),
        Duration::from_secs(300),
    )
}

/// Fast retries for tests: same shape, short delays.
pub fn fast_retries(max_retries: usize) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    }
}

/// A client with fast retries and no client-side rate limit.
pub fn client(sandbox: &SandboxHandle) -> DefenderClient {
    client_with(
        sandbox,
        Arc::new(token_source(sandbox)),
        fast_retries(3),
        RateLimitConfig::unlimited(),
    )
}

/// A client with the given token source, retries and rate limits.
pub fn client_with(
    sandbox: &SandboxHandle,
    tokens: Arc<dyn TokenSource>,
    retry: RetryPolicy,
    rate_limits: RateLimitConfig,
) -> DefenderClient {
    let http = build_http_client(&partner()).expect("http client");
    DefenderClient::with_config(
        http,
        endpoints(sandbox),
        tokens,
        ClientConfig { retry, rate_limits },
    )
}

/// The demo tenant that granted everything.
pub fn full() -> TenantId {
    mde_sandbox::DEMO_TENANT_FULL.parse().expect("tenant")
}

/// The demo tenant that granted part of the permissions.
pub fn partial() -> TenantId {
    mde_sandbox::DEMO_TENANT_PARTIAL.parse().expect("tenant")
}

/// A fault on every call to `path` (glob), at most `times` times (`None`: always).
pub fn fault(path: &str, fault: FaultKind, times: Option<u64>) -> FaultRule {
    FaultRule {
        path: path.into(),
        method: None,
        fault,
        probability: None,
        nth_call: None,
        max_times: times,
    }
}

/// API requests (not token requests) whose path starts with `prefix`.
pub fn api_requests(sandbox: &SandboxHandle, prefix: &str) -> Vec<RequestRecord> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| !r.path.contains("/oauth2/") && r.path.starts_with(prefix))
        .collect()
}
