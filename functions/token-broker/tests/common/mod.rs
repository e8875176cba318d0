//! Shared set-up of the token-broker tests: the sandbox as Entra ID and the demo application's credential.

#![allow(dead_code)]

use std::path::Path;

use mde_contracts::{BridgeConfig, CloudEndpoints, CloudSettings, PartnerIdentity, TenantConfig};
use mde_platform::wiring::Wiring;
use mde_sandbox::SandboxHandle;
use token_broker::Broker;

pub const SECRET_ID: &str = "mde-bridge/app-credential";

pub fn partner() -> PartnerIdentity {
    PartnerIdentity {
        company: "Contoso".into(),
        product: "BrokerTests".into(),
        version: "1.0.0".into(),
    }
}

pub fn endpoints(sandbox: &SandboxHandle) -> CloudEndpoints {
    cloud_settings(sandbox).endpoints().expect("endpoints")
}

pub fn cloud_settings(sandbox: &SandboxHandle) -> CloudSettings {
    let base: url::Url = sandbox.base_url().parse().expect("base url");
    CloudSettings {
        login_url: Some(base.clone()),
        mde_api_url: Some(base.clone()),
        m365d_api_url: Some(base.clone()),
        graph_url: Some(base),
        ..CloudSettings::default()
    }
}

pub fn credential_json(secret: &str) -> serde_json::Value {
    serde_json::json!({ "kind": "client_secret", "client_id": mde_sandbox::DEMO_CLIENT_ID, "client_secret": secret })
}

/// Writes the local secrets file with the credential under [`SECRET_ID`].
pub fn write_secret(path: &Path, credential: serde_json::Value) {
    std::fs::write(path, serde_json::json!({ SECRET_ID: credential }).to_string()).expect("write secrets");
}

pub fn tenant(id: &str, name: &str, datasets: &[&str], actions: &[&str]) -> TenantConfig {
    serde_json::from_value(serde_json::json!({
        "tenant_id": id, "display_name": name, "datasets": datasets, "actions": actions
    }))
    .expect("tenant config")
}

pub fn demo_tenants() -> Vec<TenantConfig> {
    vec![
        tenant(
            mde_sandbox::DEMO_TENANT_FULL,
            "Contoso",
            &["mde_alerts", "graph_incidents"],
            &["isolate_device"],
        ),
        tenant(
            mde_sandbox::DEMO_TENANT_PARTIAL,
            "Fabrikam",
            &["mde_alerts"],
            &["isolate_device"],
        ),
        tenant(
            mde_sandbox::DEMO_TENANT_UNCONSENTED,
            "Northwind",
            &["m365d_incidents"],
            &[],
        ),
    ]
}

/// The configuration of a broker over the sandbox: the demo tenants inline, the credential in a local secrets
/// file read through a long-lived cache.
pub fn config(sandbox: &SandboxHandle, secrets_file: &Path) -> BridgeConfig {
    let mut config: BridgeConfig = serde_json::from_value(serde_json::json!({
        "partner": { "company": "Contoso", "product": "BrokerTests", "version": "1.0.0" },
        "credential": { "backend": "local", "local_file": secrets_file, "cache_ttl_seconds": 3600 },
    }))
    .expect("config");
    config.cloud = cloud_settings(sandbox);
    config.tenants = demo_tenants();
    config.validate().expect("valid config");
    config
}

/// A broker over the sandbox, built as the Lambda builds it (through the composition root).
pub async fn broker(sandbox: &SandboxHandle, secrets_file: &Path) -> Broker {
    broker_of(config(sandbox, secrets_file)).await
}

/// The broker of a configuration.
pub async fn broker_of(config: BridgeConfig) -> Broker {
    Broker::from_wiring(&Wiring::new(config)).await.expect("broker")
}

pub fn token_calls(sandbox: &SandboxHandle) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.path.contains("/oauth2/"))
        .count()
}
