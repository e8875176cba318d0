//! Cross-cutting behaviour: token checks, permissions, rate limits, faults, request log, admin endpoints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Env, GRAPH, M365D, MDE, code, values};
use mde_sandbox::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_FULL, DEMO_TENANT_PARTIAL, FaultKind, FaultRule,
    RateLimitOverride, SandboxConfig,
};
use serde_json::{Value, json};

#[tokio::test]
async fn missing_malformed_or_wrong_audience_tokens_are_401() {
    let env = Env::demo().await;
    let response = env.http.get(env.url("/api/alerts")).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!((status, code(&body)), (401, "Unauthorized"));
    let (status, _) = env.get("not-a-jwt", "/api/alerts").await;
    assert_eq!(status, 401);
    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let (status, _) = env.get(&graph, "/api/alerts").await;
    assert_eq!(status, 401, "a Graph token is not an MDE token");
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let (status, body) = env.get(&mde, "/v1.0/security/incidents").await;
    assert_eq!((status, code(&body)), (401, "unauthenticated"));
    let (status, _) = env.get(&mde, "/api/incidents").await;
    assert_eq!(status, 401, "an MDE token is not a Microsoft 365 Defender token");
    let mut tampered = mde.clone();
    tampered.pop();
    tampered.push(if mde.ends_with('A') { 'B' } else { 'A' });
    let (status, _) = env.get(&tampered, "/api/alerts").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn expired_tokens_are_401() {
    let mut config = SandboxConfig::default();
    config.tokens.lifetime_seconds = 1;
    let env = Env::with(config).await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = env.get(&token, "/api/alerts").await;
    assert_eq!(status, 401);
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn v1_tokens_with_trailing_slash_resource_are_accepted() {
    let env = Env::demo().await;
    let response = env
        .http
        .post(env.url(&format!("/{DEMO_TENANT_FULL}/oauth2/token")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("resource", "https://api.securitycenter.microsoft.com/"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let (status, _) = env
        .get(body["access_token"].as_str().unwrap(), "/api/alerts?$top=1")
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn missing_roles_are_403_in_every_api_family() {
    let env = Env::demo().await;
    let mde = env.token(DEMO_TENANT_PARTIAL, MDE).await;
    let (status, _) = env.get(&mde, "/api/alerts?$top=1").await;
    assert_eq!(status, 200, "Alert.Read.All is granted");
    let (_, list) = env.get(&mde, "/api/alerts?$top=1").await;
    let id = values(&list)[0]["id"].as_str().unwrap().to_owned();
    let (status, body) = env
        .patch(&mde, &format!("/api/alerts/{id}"), json!({"status": "Resolved"}))
        .await;
    assert_eq!((status, code(&body)), (403, "Forbidden"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Alert.ReadWrite.All")
    );
    let (_, machines) = env.get(&mde, "/api/machines?$top=1").await;
    let machine = values(&machines)[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = env
        .post(
            &mde,
            &format!("/api/machines/{machine}/isolate"),
            json!({"Comment": "c"}),
        )
        .await;
    assert_eq!(status, 403, "Machine.Isolate is not granted");
    let (status, _) = env
        .post(
            &mde,
            &format!("/api/machines/{machine}/runAntiVirusScan"),
            json!({"Comment": "c", "ScanType": "Quick"}),
        )
        .await;
    assert_eq!(status, 201, "Machine.Scan is granted");

    let xdr = env.token(DEMO_TENANT_PARTIAL, M365D).await;
    let (_, incidents) = env.get(&xdr, "/api/incidents?$top=1").await;
    let incident = values(&incidents)[0]["incidentId"].as_u64().unwrap();
    let (status, _) = env
        .patch(
            &xdr,
            &format!("/api/incidents/{incident}"),
            json!({"status": "Resolved"}),
        )
        .await;
    assert_eq!(status, 403);

    let graph = env.token(DEMO_TENANT_PARTIAL, GRAPH).await;
    let (status, body) = env
        .patch(
            &graph,
            &format!("/v1.0/security/incidents/{incident}"),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!((status, code(&body)), (403, "accessDenied"));
    let (status, _) = env.get(&graph, "/v1.0/security/incidents?$top=1").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn documented_rate_limit_answers_429_with_retry_after_per_tenant() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, list) = env.get(&token, "/api/alerts?$top=1").await;
    let ids = json!([values(&list)[0]["id"]]);
    for _ in 0..10 {
        let (status, _) = env
            .post(
                &token,
                "/api/alerts/batchUpdate",
                json!({"alertIds": ids, "comment": "x"}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let response = env
        .http
        .post(env.url("/api/alerts/batchUpdate"))
        .bearer_auth(&token)
        .json(&json!({"alertIds": ids}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429, "batchUpdate allows 10 calls per minute");
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "TooManyRequests");
    let other = env.token(DEMO_TENANT_PARTIAL, MDE).await;
    let (status, _) = env.get(&other, "/api/alerts?$top=1").await;
    assert_eq!(status, 200, "another tenant is not throttled");
    env.admin("/_sandbox/advance", json!({"seconds": 61})).await;
    let (status, _) = env
        .post(&token, "/api/alerts/batchUpdate", json!({"alertIds": ids}))
        .await;
    assert_eq!(status, 200, "the window resets after a minute");
}

#[tokio::test]
async fn rate_limits_can_be_overridden_or_switched_off() {
    let mut config = SandboxConfig::default();
    config.rate_limits.overrides.push(RateLimitOverride {
        operation: "graph.incidents.list".to_owned(),
        per_minute: Some(2),
        per_hour: None,
    });
    let env = Env::with(config).await;
    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    for _ in 0..2 {
        assert_eq!(env.get(&graph, "/v1.0/security/incidents?$top=1").await.0, 200);
    }
    let (status, body) = env.get(&graph, "/v1.0/security/incidents?$top=1").await;
    assert_eq!((status, code(&body)), (429, "activityLimitReached"));

    let mut config = SandboxConfig::default();
    config.rate_limits.enabled = false;
    let env = Env::with(config).await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    for _ in 0..12 {
        assert_eq!(
            env.post(&token, "/api/alerts/batchUpdate", json!({"alertIds": ["x"]}))
                .await
                .0,
            404
        );
    }
}

fn rule(path: &str, fault: FaultKind) -> FaultRule {
    FaultRule {
        path: path.to_owned(),
        method: None,
        fault,
        probability: None,
        nth_call: None,
        max_times: None,
    }
}

#[tokio::test]
async fn status_fault_fires_on_the_nth_call_only() {
    let mut config = SandboxConfig::default();
    let mut r = rule("/api/alerts*", FaultKind::Status { status: 503 });
    r.nth_call = Some(2);
    config.faults.push(r);
    let env = Env::with(config).await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    assert_eq!(env.get(&token, "/api/alerts?$top=1").await.0, 200);
    let (status, body) = env.get(&token, "/api/alerts?$top=1").await;
    assert_eq!((status, code(&body)), (503, "ServiceUnavailable"));
    assert_eq!(env.get(&token, "/api/alerts?$top=1").await.0, 200);
}

#[tokio::test]
async fn too_many_requests_storm_stops_after_max_times() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let mut r = rule(
        "/v1.0/security/*",
        FaultKind::TooManyRequests {
            retry_after_seconds: 7,
        },
    );
    r.max_times = Some(3);
    let (status, _) = env
        .admin("/_sandbox/faults", serde_json::to_value(&r).unwrap())
        .await;
    assert_eq!(status, 201);
    for _ in 0..3 {
        let response = env
            .http
            .get(env.url("/v1.0/security/alerts_v2?$top=1"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
    }
    assert_eq!(env.get(&token, "/v1.0/security/alerts_v2?$top=1").await.0, 200);
    let response = env.http.delete(env.url("/_sandbox/faults")).send().await.unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn delay_fault_slows_the_answer() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    env.admin(
        "/_sandbox/faults",
        serde_json::to_value(rule("/api/machines", FaultKind::Delay { millis: 400 })).unwrap(),
    )
    .await;
    let started = Instant::now();
    let (status, _) = env.get(&token, "/api/machines").await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn dropped_connection_fault_closes_without_an_answer() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let mut r = rule("/api/alerts", FaultKind::DropConnection);
    r.max_times = Some(1);
    env.admin("/_sandbox/faults", json!([r])).await;
    let result = env
        .http
        .get(env.url("/api/alerts"))
        .bearer_auth(&token)
        .send()
        .await;
    assert!(result.is_err(), "the client sees a connection error");
    assert_eq!(
        env.get(&token, "/api/alerts?$top=1").await.0,
        200,
        "the next call works"
    );
    let log = env.sandbox.requests();
    let dropped = log
        .iter()
        .find(|r| r.path == "/api/alerts" && r.query.is_none())
        .unwrap();
    assert_eq!(dropped.status, None);
}

#[tokio::test]
async fn truncated_body_fault_cuts_the_body_short() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let mut r = rule("/api/alerts", FaultKind::TruncatedBody);
    r.method = Some("GET".to_owned());
    r.max_times = Some(1);
    env.admin("/_sandbox/faults", json!(r)).await;
    let response = env
        .http
        .get(env.url("/api/alerts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.bytes().await.is_err(),
        "the body ends before Content-Length"
    );
}

#[tokio::test]
async fn status_faults_answer_the_api_error_of_their_status() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let mut forbidden = rule("/api/alerts", FaultKind::Status { status: 403 });
    forbidden.nth_call = Some(1);
    let mut unauthorized = rule("/api/alerts", FaultKind::Status { status: 401 });
    unauthorized.nth_call = Some(2);
    env.admin("/_sandbox/faults", json!([forbidden, unauthorized]))
        .await;
    let (status, body) = env.get(&token, "/api/alerts").await;
    assert_eq!((status, code(&body)), (403, "Forbidden"), "{body}");
    let (status, body) = env.get(&token, "/api/alerts").await;
    assert_eq!((status, code(&body)), (401, "Unauthorized"), "{body}");
    assert_eq!(env.get(&token, "/api/alerts").await.0, 200);
}

#[tokio::test]
async fn not_json_and_malformed_records_faults_degrade_the_answer() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let mut html = rule("/api/alerts", FaultKind::NotJson);
    html.nth_call = Some(1);
    let mut stripped = rule(
        "/api/alerts",
        FaultKind::MalformedRecords {
            drop_fields: vec!["id".to_owned(), "lastUpdateTime".to_owned()],
        },
    );
    stripped.nth_call = Some(2);
    env.admin("/_sandbox/faults", json!([html, stripped])).await;
    let response = env
        .http
        .get(env.url("/api/alerts?$top=3"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().starts_with("<html>"));
    let (status, body) = env.get(&token, "/api/alerts?$top=3").await;
    assert_eq!(status, 200);
    let records = values(&body);
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r.get("id").is_none() && r.get("lastUpdateTime").is_none())
    );
    assert!(
        records.iter().all(|r| r.get("title").is_some()),
        "other fields stay"
    );
    let (_, body) = env.get(&token, "/api/alerts?$top=3").await;
    assert!(
        values(&body).iter().all(|r| r.get("id").is_some()),
        "the third call is whole"
    );
}

#[tokio::test]
async fn probability_zero_never_fires_and_one_always_fires() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let mut never = rule("/api/machines", FaultKind::Status { status: 500 });
    never.probability = Some(0.0);
    env.admin("/_sandbox/faults", json!([never])).await;
    for _ in 0..5 {
        assert_eq!(env.get(&token, "/api/machines?$top=1").await.0, 200);
    }
    let mut always = rule("/api/machineactions", FaultKind::Status { status: 500 });
    always.probability = Some(1.0);
    env.admin("/_sandbox/faults", json!([always])).await;
    let (status, body) = env.get(&token, "/api/machineactions").await;
    assert_eq!((status, code(&body)), (500, "InternalServerError"));
}

#[tokio::test]
async fn request_log_records_headers_with_authorization_redacted() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    env.clear_and_get(&token).await;
    let response = env.http.get(env.url("/_sandbox/requests")).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    let entries = values(&body);
    let call = entries.iter().find(|e| e["path"] == "/api/alerts").unwrap();
    assert_eq!(call["query"], "$top=2");
    assert_eq!(call["userAgent"], "MdePartner-Contoso-Tests/1.0.0");
    assert_eq!(call["status"], 200);
    let auth = call["headers"]["authorization"].as_str().unwrap();
    assert!(auth.starts_with("Bearer sha256:"));
    assert!(!auth.contains(&token[..20]));
}

trait ClearAndGet {
    async fn clear_and_get(&self, token: &str);
}

impl ClearAndGet for Env {
    async fn clear_and_get(&self, token: &str) {
        let response = self
            .http
            .delete(self.url("/_sandbox/requests"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        self.get(token, "/api/alerts?$top=2").await;
    }
}

#[tokio::test]
async fn admin_config_shows_the_world_and_demo_credentials() {
    let env = Env::demo().await;
    let response = env.http.get(env.url("/_sandbox/config")).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["config"]["apps"][0]["client_id"], DEMO_CLIENT_ID);
    assert_eq!(body["config"]["apps"][0]["client_secrets"][0], DEMO_CLIENT_SECRET);
    assert_eq!(body["config"]["tenants"].as_array().unwrap().len(), 3);
    assert!(body["demoClientKeyPem"].as_str().unwrap().contains("PRIVATE KEY"));
    assert_eq!(env.sandbox.config().tenants[0].id, DEMO_TENANT_FULL);
    let response = env
        .http
        .get(env.url("/_sandbox/config/schema"))
        .send()
        .await
        .unwrap();
    let schema: Value = response.json().await.unwrap();
    assert!(schema["properties"]["tenants"].is_object());
    let (status, _) = env.admin("/_sandbox/advance", json!({"minutes": 1})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_documented_error_bodies() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (status, body) = env.get(&token, "/api/nothing-here").await;
    assert_eq!((status, code(&body)), (404, "NotFound"));
    let response = env
        .http
        .delete(env.url("/api/alerts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let (status, body) = env
        .post(&token, "/api/machines/x/dance", json!({"Comment": "c"}))
        .await;
    assert_eq!((status, code(&body)), (404, "NotFound"));
}

#[test]
fn config_schema_describes_the_config_and_the_default_round_trips() {
    let schema = serde_json::to_value(mde_sandbox::config_schema()).unwrap();
    assert!(schema["properties"]["rate_limits"].is_object());
    let text = serde_json::to_string(&SandboxConfig::default()).unwrap();
    let back: SandboxConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, SandboxConfig::default());
    let partial: SandboxConfig = serde_json::from_str(r#"{"data": {"alerts_per_tenant": 5}}"#).unwrap();
    assert_eq!(partial.data.alerts_per_tenant, 5);
    assert_eq!(partial.tenants.len(), 3, "absent sections keep the demo world");
    assert!(serde_json::from_str::<SandboxConfig>(r#"{"tenantz": []}"#).is_err());
}

#[tokio::test]
async fn token_endpoint_faults_use_the_entra_error_shape() {
    let env = Env::demo().await;
    let mut r = rule(
        "*/oauth2/v2.0/token",
        FaultKind::TooManyRequests {
            retry_after_seconds: 3,
        },
    );
    r.max_times = Some(1);
    env.admin("/_sandbox/faults", json!(r)).await;
    let response = env
        .http
        .post(env.url(&format!("/{DEMO_TENANT_FULL}/oauth2/v2.0/token")))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    env.token(DEMO_TENANT_FULL, MDE).await;
}

#[tokio::test]
async fn inconsistent_configs_are_refused_at_start() {
    let mut twice = SandboxConfig::default();
    twice.tenants.push(twice.tenants[0].clone());
    assert!(matches!(
        mde_sandbox::Sandbox::start(twice).await,
        Err(mde_sandbox::SandboxError::Config(_))
    ));
    let mut not_guid = SandboxConfig::default();
    not_guid.tenants[0].id = "contoso".to_owned();
    assert!(mde_sandbox::Sandbox::start(not_guid).await.is_err());
    let mut bad_fault = SandboxConfig::default();
    bad_fault
        .faults
        .push(rule("*", FaultKind::Status { status: 200 }));
    assert!(mde_sandbox::Sandbox::start(bad_fault).await.is_err());
    let busy = SandboxConfig {
        listen: "256.0.0.1:1".to_owned(),
        ..SandboxConfig::default()
    };
    assert!(matches!(
        mde_sandbox::Sandbox::start(busy).await,
        Err(mde_sandbox::SandboxError::Listen { .. })
    ));
}
