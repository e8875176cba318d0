//! Helpers shared by the integration tests: start a sandbox, get tokens, call it over a real socket.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use mde_sandbox::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Sandbox, SandboxConfig, SandboxHandle};
use serde_json::Value;

/// MDE scope.
pub const MDE: &str = "https://api.securitycenter.microsoft.com";
/// Microsoft 365 Defender scope.
pub const M365D: &str = "https://api.security.microsoft.com";
/// Graph scope.
pub const GRAPH: &str = "https://graph.microsoft.com";

/// `config` without adversarial behaviour: documented orders, Graph nextLinks always, no `$skip` ceiling.
pub fn documented(mut config: SandboxConfig) -> SandboxConfig {
    config.adversarial = mde_sandbox::AdversarialSettings {
        list_order: mde_sandbox::ListOrder::Documented,
        mutate: None,
        visibility_lag_seconds: 0,
        clock_skew_seconds: 0,
        graph_omit_next_link_with_top: false,
        graph_max_skip: None,
    };
    config
}

/// A started sandbox and an HTTP client.
pub struct Env {
    pub sandbox: SandboxHandle,
    pub http: reqwest::Client,
}

impl Env {
    /// The demo world, listing as the documentation's examples suggest (the adversarial defaults are tested in
    /// `adversarial.rs`; these tests are about everything else).
    pub async fn demo() -> Self {
        Self::with(documented(SandboxConfig::default())).await
    }

    /// A custom world.
    pub async fn with(config: SandboxConfig) -> Self {
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        let http = reqwest::Client::builder()
            .user_agent("MdePartner-Contoso-Tests/1.0.0")
            .build()
            .unwrap();
        Self { sandbox, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    /// A v2 client-secret token for `resource` in `tenant`.
    pub async fn token(&self, tenant: &str, resource: &str) -> String {
        let response = self
            .http
            .post(self.url(&format!("/{tenant}/oauth2/v2.0/token")))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("scope", &format!("{resource}/.default")),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "token request failed");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// GET with a bearer token; returns status and JSON body (Null when not JSON).
    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        split(response).await
    }

    /// GET an absolute URL (a nextLink).
    pub async fn get_absolute(&self, token: &str, url: &str) -> (u16, Value) {
        let response = self.http.get(url).bearer_auth(token).send().await.unwrap();
        split(response).await
    }

    /// A request with a JSON body.
    pub async fn send(&self, method: reqwest::Method, token: &str, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        split(response).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, token, path, body).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, token, path, body).await
    }

    /// POST to an admin endpoint.
    pub async fn admin(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self.http.post(self.url(path)).json(&body).send().await.unwrap();
        split(response).await
    }
}

pub async fn split(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The `error.code` of an API error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// Values of a collection.
pub fn values(body: &Value) -> &Vec<Value> {
    body["value"].as_array().expect("a collection")
}

/// `token` re-signed with the sandbox's public demo signing key, its `roles` claim replaced by `roles`: a token
/// of the same tenant and app with fewer (or other) permissions than the tenant granted.
pub fn with_roles(token: &str, roles: &[&str]) -> String {
    use base64::Engine as _;
    let header = jsonwebtoken::decode_header(token).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let mut claims: serde_json::Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
    claims.insert("roles".to_owned(), serde_json::json!(roles));
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("../../demo/token-signing-key.pem")).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// The id of the first machine of `platform` (e.g. `Windows11`).
pub async fn machine_of(env: &Env, token: &str, platform: &str) -> String {
    let (_, list) = env
        .get(
            token,
            &format!("/api/machines?$filter=osPlatform+eq+'{platform}'&$top=1"),
        )
        .await;
    values(&list)[0]["id"].as_str().unwrap().to_owned()
}

impl Env {
    /// GET an admin endpoint.
    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        split(response).await
    }
}
