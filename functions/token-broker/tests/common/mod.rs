//! Shared set-up of the token-broker tests: the sandbox as Entra ID and the demo application's credential.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mde_contracts::{CloudEndpoints, CloudSettings, PartnerIdentity, TenantConfig};
use mde_defender::DirectTokenSource;
use mde_platform::SecretStore;
use mde_platform::secrets::{CachedSecretStore, LocalSecretStore};
use mde_sandbox::SandboxHandle;
use token_broker::{Broker, SecretCredential};

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

/// A broker over the sandbox, reading its credential from a local secrets file through a long-lived cache.
pub fn broker(sandbox: &SandboxHandle, secrets_file: &Path) -> Broker {
    let store: Arc<dyn SecretStore> = Arc::new(CachedSecretStore::new(
        Arc::new(LocalSecretStore::new(secrets_file)),
        Duration::from_secs(3_600),
    ));
    let http = mde_defender::build_http_client(&partner()).expect("http client");
    let tokens = DirectTokenSource::new(
        http,
        endpoints(sandbox),
        Default::default(),
        Arc::new(SecretCredential::new(store, SECRET_ID.into())),
        Duration::from_secs(300),
    );
    Broker::new(&demo_tenants(), Arc::new(tokens))
}

pub fn token_calls(sandbox: &SandboxHandle) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.path.contains("/oauth2/"))
        .count()
}
