//! What the benchmark harnesses share: a Defender client for a sandbox, with the demo app's secret and no client-side
//! rate limits.

use std::sync::Arc;
use std::time::Duration;

use mde_contracts::CloudSettings;
use mde_defender::api::{ClientConfig, RateLimitConfig};
use mde_defender::{DefenderClient, DirectTokenSource, HttpClient, StaticCredential};

/// The HTTP client (for the sandbox's admin endpoints too) and a Defender client of the sandbox at `base`.
pub fn sandbox_client(base: &str, product: &str) -> (HttpClient, Arc<DefenderClient>) {
    let url: url::Url = base.parse().expect("a URL");
    let cloud = CloudSettings {
        login_url: Some(url.clone()),
        mde_api_url: Some(url.clone()),
        m365d_api_url: Some(url.clone()),
        graph_url: Some(url),
        ..CloudSettings::default()
    };
    let endpoints = cloud.endpoints().expect("endpoints");
    let partner = mde_contracts::PartnerIdentity {
        company: "Contoso".into(),
        product: product.into(),
        version: "1.0.0".into(),
    };
    let http = mde_defender::build_http_client(&partner).expect("http client");
    let credential = serde_json::from_value(serde_json::json!({
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
        rate_limits: RateLimitConfig::unlimited(),
        ..ClientConfig::default()
    };
    let client = Arc::new(DefenderClient::with_config(
        http.clone(),
        endpoints,
        tokens,
        config,
    ));
    (http, client)
}
