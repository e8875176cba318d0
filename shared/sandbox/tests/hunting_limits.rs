//! Advanced hunting within Microsoft's documented limits, in all three APIs: rows and result size (400), the CPU
//! quota (429 until the quota's cycle ends), and queries that run too long.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, GRAPH, M365D, MDE, code};
use mde_sandbox::{DEMO_TENANT_FULL, DEMO_TENANT_PARTIAL, HuntingSettings, SandboxConfig};
use serde_json::{Value, json};

const TOO_LARGE: &str = "Query execution has exceeded the allowed result size";

/// The three hunting endpoints with a token for each.
struct Hunters {
    calls: Vec<(String, &'static str)>,
}

impl Hunters {
    async fn of(env: &Env, tenant: &str) -> Self {
        Self {
            calls: vec![
                (env.token(tenant, MDE).await, "/api/advancedqueries/run"),
                (env.token(tenant, M365D).await, "/api/advancedhunting/run"),
                (env.token(tenant, GRAPH).await, "/v1.0/security/runHuntingQuery"),
            ],
        }
    }

    /// Status, `Retry-After` and body of each API for `query`.
    async fn run(&self, env: &Env, query: &str) -> Vec<(u16, Option<u64>, Value)> {
        let mut answers = Vec::new();
        for (token, path) in &self.calls {
            let response = env
                .http
                .post(env.url(path))
                .bearer_auth(token)
                .json(&json!({"Query": query}))
                .send()
                .await
                .unwrap();
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse().unwrap());
            let (status, body) = common::split(response).await;
            answers.push((status, retry, body));
        }
        answers
    }
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn more_rows_or_bytes_than_allowed_is_a_400_with_the_documented_message() {
    let env = Env::demo().await;
    let hunters = Hunters::of(&env, DEMO_TENANT_FULL).await;
    let (status, settings) = env.admin("/_sandbox/hunting", json!({"max_rows": 5})).await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(
        (&settings["max_rows"], &settings["max_result_bytes"]),
        (&json!(5), &json!(124 * 1024 * 1024))
    );
    for (status, _, body) in hunters.run(&env, "DeviceProcessEvents").await {
        assert_eq!(status, 400, "{body}");
        assert!(message(&body).starts_with(TOO_LARGE), "{body}");
        assert!(["BadRequest", "badRequest"].contains(&code(&body)));
    }
    for (status, _, body) in hunters.run(&env, "DeviceProcessEvents | take 5").await {
        assert_eq!(status, 200, "{body}");
    }
    env.sandbox
        .set_hunting_settings(HuntingSettings {
            max_result_bytes: 500,
            ..HuntingSettings::default()
        })
        .unwrap();
    assert_eq!(env.sandbox.hunting_settings().max_rows, 100_000);
    for (status, _, body) in hunters.run(&env, "DeviceProcessEvents | take 5").await {
        assert_eq!(status, 400, "{body}");
        assert!(message(&body).starts_with(TOO_LARGE), "{body}");
    }
    for (status, _, body) in hunters.run(&env, "DeviceProcessEvents | count").await {
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn the_documented_100000_rows_are_the_default_limit() {
    let mut config = common::documented(SandboxConfig::default());
    config.data.machines_per_tenant = 25_001; // four process events each: 100,004 rows
    config.data.alerts_per_tenant = 1;
    let env = Env::with(config).await;
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let (status, body) = env
        .post(
            &mde,
            "/api/advancedqueries/run",
            json!({"Query": "DeviceProcessEvents | count"}),
        )
        .await;
    assert_eq!((status, &body["Results"][0]["Count"]), (200, &json!(100_004)));
    let (status, body) = env
        .post(
            &mde,
            "/api/advancedqueries/run",
            json!({"Query": "DeviceProcessEvents | project DeviceId"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(message(&body).starts_with(TOO_LARGE), "{body}");
    assert!(message(&body).contains("100004 rows"), "{body}");
}

#[tokio::test]
async fn an_exhausted_cpu_quota_is_a_429_until_the_quota_cycle_ends_for_that_tenant_only() {
    let env = Env::demo().await;
    let contoso = Hunters::of(&env, DEMO_TENANT_FULL).await;
    let fabrikam = Hunters::of(&env, DEMO_TENANT_PARTIAL).await;
    let (status, view) = env
        .admin(
            "/_sandbox/hunting",
            json!({"exhaust_cpu_quota": [DEMO_TENANT_FULL]}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["cpu_quota_exhausted"][0]["tenant"], DEMO_TENANT_FULL);
    let answers = contoso.run(&env, "DeviceInfo | take 1").await;
    let retry: Vec<u64> = answers
        .iter()
        .map(|(status, retry, body)| {
            assert_eq!(*status, 429, "{body}");
            assert!(message(body).contains("exceeded processing resources"), "{body}");
            retry.expect("Retry-After")
        })
        .collect();
    assert_eq!(code(&answers[0].2), "TooManyRequests");
    assert_eq!(code(&answers[2].2), "activityLimitReached");
    let (mde, xdr, graph) = (retry[0], retry[1], retry[2]);
    assert!((1..=900).contains(&xdr), "the next 15-minute cycle: {xdr}");
    assert_eq!(graph, xdr, "Graph follows Microsoft 365 Defender");
    assert!(mde >= xdr && mde <= 3600, "the next full hour: {mde}");
    for (status, _, body) in fabrikam.run(&env, "DeviceInfo | take 1").await {
        assert_eq!(status, 200, "another tenant is not blocked: {body}");
    }

    env.sandbox.advance(Duration::from_secs(xdr));
    let answers = contoso.run(&env, "DeviceInfo | take 1").await;
    assert_eq!(answers[1].0, 200, "{}", answers[1].2);
    assert_eq!(answers[2].0, 200, "{}", answers[2].2);
    if mde > xdr {
        assert_eq!(answers[0].0, 429);
        env.sandbox.advance(Duration::from_secs(mde - xdr));
    }
    // Up to an hour of simulated time has passed: run just after a full hour, the tokens (3,599 s) have expired.
    let contoso = Hunters::of(&env, DEMO_TENANT_FULL).await;
    assert_eq!(contoso.run(&env, "DeviceInfo | take 1").await[0].0, 200);

    env.sandbox.exhaust_hunting_cpu_quota(DEMO_TENANT_FULL).unwrap();
    assert_eq!(contoso.run(&env, "DeviceInfo | take 1").await[1].0, 429);
    let (_, view) = env
        .admin("/_sandbox/hunting", json!({"reset_cpu_quota": true}))
        .await;
    assert_eq!(view["cpu_quota_exhausted"], json!([]));
    assert_eq!(contoso.run(&env, "DeviceInfo | take 1").await[1].0, 200);
    assert!(env.sandbox.exhaust_hunting_cpu_quota("nope").is_err());
    let (status, _) = env
        .admin("/_sandbox/hunting", json!({"exhaust_cpu_quota": ["nope"]}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_query_holding_the_slow_marker_times_out_and_others_run() {
    let env = Env::demo().await;
    let hunters = Hunters::of(&env, DEMO_TENANT_FULL).await;
    let (status, _) = env
        .admin("/_sandbox/hunting", json!({"slow_query_marker": "heavy-join"}))
        .await;
    assert_eq!(status, 200);
    let slow = "DeviceProcessEvents | where ProcessCommandLine contains \"heavy-join\"";
    for (status, _, body) in hunters.run(&env, slow).await {
        assert_eq!(status, 400, "{body}");
        assert_eq!(message(&body), "Query exceeded the timeout period.");
    }
    for (status, _, body) in hunters.run(&env, "DeviceProcessEvents | take 1").await {
        assert_eq!(status, 200, "{body}");
    }
    let (_, view) = env.admin_get("/_sandbox/hunting").await;
    assert_eq!(view["slow_query_marker"], "heavy-join");
    let (_, config) = env.admin_get("/_sandbox/config").await;
    assert_eq!(config["config"]["hunting"]["slow_query_marker"], "heavy-join");
    let (_, view) = env
        .admin(
            "/_sandbox/hunting",
            json!({"slow_query_marker": null, "max_rows": 10}),
        )
        .await;
    assert_eq!(
        (&view["slow_query_marker"], &view["max_rows"]),
        (&Value::Null, &json!(10))
    );
    for (status, _, body) in hunters.run(&env, slow).await {
        assert_eq!(status, 200, "{body}");
    }
    for body in [
        json!({"slow_query_marker": ""}),
        json!({"max_rows": -1}),
        json!({"cpu_quota_exhausted": true}),
    ] {
        let (status, _) = env.admin("/_sandbox/hunting", body.clone()).await;
        assert_eq!(status, 400, "{body}");
    }
}
