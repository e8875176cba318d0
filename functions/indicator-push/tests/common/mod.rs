//! Shared set-up of the indicator-push tests and benchmark: the sandbox (Defender over real sockets), a client
//! with short retries, a pusher over a local or S3 (moto) store, and message builders.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use indicator_push::{Incoming, PushOutcome, Pusher};
use mde_contracts::{ActionKind, CloudSettings, IndicatorReject, IndicatorSettings, TenantConfig, TenantId};
use mde_defender::api::{ClientConfig, RateLimitConfig, RetryPolicy};
use mde_defender::{DefenderClient, DirectTokenSource, StaticCredential};
use mde_platform::objects::LocalObjectStore;
use mde_platform::{ObjectStore, SystemClock, Tenants};
use mde_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::{Value, json};

pub const FULL: &str = mde_sandbox::DEMO_TENANT_FULL;
pub const PARTIAL: &str = mde_sandbox::DEMO_TENANT_PARTIAL;
pub const UNCONSENTED: &str = mde_sandbox::DEMO_TENANT_UNCONSENTED;

pub fn tenant_id(id: &str) -> TenantId {
    id.parse().expect("tenant id")
}

/// The demo world without rate limits (tests about limits turn them on) and without portal indicators.
pub fn sandbox_config() -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.rate_limits.enabled = false;
    config
}

pub async fn start(config: SandboxConfig) -> SandboxHandle {
    Sandbox::start(config).await.expect("sandbox")
}

/// A Defender client on the sandbox with the demo application, short retries and no client-side limit.
pub fn client(
    sandbox: &SandboxHandle,
    max_retries: usize,
    rate_limits: RateLimitConfig,
) -> Arc<DefenderClient> {
    let base: url::Url = sandbox.base_url().parse().expect("base url");
    let cloud = CloudSettings {
        login_url: Some(base.clone()),
        mde_api_url: Some(base.clone()),
        m365d_api_url: Some(base.clone()),
        graph_url: Some(base),
        ..CloudSettings::default()
    };
    let partner = mde_contracts::PartnerIdentity {
        company: "Contoso".into(),
        product: "IndicatorTests".into(),
        version: "1.0.0".into(),
    };
    let http = mde_defender::build_http_client(&partner).expect("http client");
    let endpoints = cloud.endpoints().expect("endpoints");
    let credential = serde_json::from_value(json!({
        "kind": "client_secret",
        "client_id": mde_sandbox::DEMO_CLIENT_ID,
        "client_secret": mde_sandbox::DEMO_CLIENT_SECRET,
    }))
    .expect("credential");
    let tokens = Arc::new(DirectTokenSource::new(
        http.clone(),
        endpoints.clone(),
        Default::default(),
        Arc::new(StaticCredential(credential)),
        Duration::from_secs(300),
    ));
    let config = ClientConfig {
        retry: RetryPolicy {
            max_retries,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
            max_retry_after: Duration::from_secs(2),
        },
        rate_limits,
    };
    Arc::new(DefenderClient::with_config(http, endpoints, tokens, config))
}

/// The demo tenants: Contoso (Ti.ReadWrite.All) and Fabrikam (Ti.ReadWrite) allow indicators, Northwind
/// (never consented) too, Tailspin (in the registry) allows none.
pub fn tenants() -> Vec<TenantConfig> {
    let allow = vec![ActionKind::AddIndicator, ActionKind::RemoveIndicator];
    vec![
        TenantConfig {
            actions: allow.clone(),
            ..TenantConfig::new(tenant_id(FULL), "Contoso")
        },
        TenantConfig {
            actions: allow.clone(),
            ..TenantConfig::new(tenant_id(PARTIAL), "Fabrikam")
        },
        TenantConfig {
            actions: allow,
            ..TenantConfig::new(tenant_id(UNCONSENTED), "Northwind")
        },
        TenantConfig::new(tenant_id(TAILSPIN), "Tailspin"),
    ]
}

/// A tenant in the registry that allows no indicator operation.
pub const TAILSPIN: &str = "5c8a2d5e-0b1f-4d3a-9e6f-7a1b2c3d4e5f";

pub fn settings(cap: u32) -> IndicatorSettings {
    IndicatorSettings {
        active_cap: cap,
        ..IndicatorSettings::default()
    }
}

pub fn pusher(
    client: Arc<DefenderClient>,
    store: Arc<dyn ObjectStore>,
    tenants: Vec<TenantConfig>,
    settings: IndicatorSettings,
) -> Pusher {
    Pusher::new(
        client,
        Arc::new(Tenants::fixed(tenants)),
        store,
        Arc::new(SystemClock),
        settings,
    )
}

pub fn local_store(dir: &std::path::Path) -> Arc<dyn ObjectStore> {
    Arc::new(LocalObjectStore::new(dir.to_path_buf(), String::new()))
}

/// An indicator body as a feed sends it.
pub fn indicator(kind: &str, value: &str, action: &str) -> Value {
    json!({"indicatorType": kind, "indicatorValue": value, "action": action, "title": format!("Feed: {value}"),
           "description": "Seen in a phishing campaign", "severity": "High"})
}

/// `n` distinct domain indicators `<prefix>-<i>.example.com`.
pub fn domains(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| indicator("DomainName", &format!("{prefix}-{i}.example.com"), "Block"))
        .collect()
}

pub fn message(id: &str, body: Value) -> Incoming {
    Incoming {
        id: id.into(),
        body: body.to_string(),
    }
}

pub fn upsert(id: &str, tenants: Value, indicators: Vec<Value>) -> Incoming {
    message(
        id,
        json!({"op": "upsert", "tenants": tenants, "indicators": indicators}),
    )
}

pub async fn push(pusher: &Pusher, batch: &[Incoming]) -> PushOutcome {
    pusher.push(batch).await.expect("push")
}

/// Every reject written under `rejects/`.
pub async fn rejects(store: &dyn ObjectStore) -> Vec<IndicatorReject> {
    let mut out = Vec::new();
    for key in store.list("rejects/").await.expect("list") {
        let object = store.get(&key).await.expect("get").expect("object");
        for line in String::from_utf8_lossy(&object.body).lines() {
            out.push(serde_json::from_str(line).expect("a reject line"));
        }
    }
    out
}

/// The active indicators of a tenant by value (every creator).
pub fn values_in(sandbox: &SandboxHandle, tenant: &str) -> Vec<String> {
    let mut v: Vec<String> = sandbox
        .indicators(tenant)
        .iter()
        .filter_map(|i| i["indicatorValue"].as_str().map(str::to_owned))
        .collect();
    v.sort();
    v
}

/// Requests the sandbox received to `path` (method + path prefix).
pub fn calls(sandbox: &SandboxHandle, method: &str, path: &str) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}
