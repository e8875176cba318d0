//! End to end: the built `token-broker` binary under a local Lambda Runtime API (served by this test), reading
//! its credential from moto's Secrets Manager and its tenants from a DynamoDB registry table in moto, through the
//! real AWS SDK, and getting tokens from the sandbox.

mod common;

use common::*;
use mde_contracts::{ActionKind, Dataset};
use mde_platform::TenantRegistry;
use mde_platform::registry::{DynamoRegistry, Expect};
use mde_platform::testing::LambdaRuntime;
use mde_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn the_built_function_serves_tokens_and_health_under_a_lambda_runtime() {
    // The credential lives in (moto's) Secrets Manager, as in AWS.
    // It expires in 20 days: the broker reports that, and prints it as a metric.
    let sdk = mde_platform::testing::aws_sdk_config().await;
    let secret_id = mde_platform::testing::unique_name("mde-bridge/app-credential");
    let mut credential = credential_json(mde_sandbox::DEMO_CLIENT_SECRET);
    let expires = time::OffsetDateTime::now_utc() + time::Duration::days(20) + time::Duration::hours(1);
    credential["expires_on"] = json!(
        expires
            .format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    );
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&secret_id)
        .secret_string(credential.to_string())
        .send()
        .await
        .expect("create the secret in moto");

    // The tenants live in the registry table, as in AWS.
    let table = mde_platform::testing::create_registry_table(&sdk).await;
    let registry = DynamoRegistry::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
    let mut contoso = mde_platform::testing::tenant_record(mde_sandbox::DEMO_TENANT_FULL, "Contoso");
    contoso.datasets = vec![Dataset::MdeAlerts];
    let mut fabrikam = mde_platform::testing::tenant_record(mde_sandbox::DEMO_TENANT_PARTIAL, "Fabrikam");
    fabrikam.actions = vec![ActionKind::AddIndicator, ActionKind::IsolateDevice];
    for t in [contoso, fabrikam] {
        registry.put(&t, Expect::Absent).await.expect("put a tenant");
    }

    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let runtime = LambdaRuntime::start("token-broker").await;

    let base = sandbox.base_url();
    let mut child = runtime
        .command(env!("CARGO_BIN_EXE_token-broker"))
        .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
        .env("MDE_BRIDGE_AWS_REGION", "us-east-1")
        .env(
            "MDE_BRIDGE_AWS_ENDPOINT_URL",
            mde_platform::testing::aws_endpoint(),
        )
        .env("MDE_BRIDGE_PARTNER_COMPANY", "Contoso")
        .env("MDE_BRIDGE_PARTNER_PRODUCT", "Broker")
        .env("MDE_BRIDGE_PARTNER_VERSION", "1.0")
        .env("MDE_BRIDGE_CLOUD_LOGIN_URL", &base)
        .env("MDE_BRIDGE_CLOUD_MDE_API_URL", &base)
        .env("MDE_BRIDGE_CLOUD_M365D_API_URL", &base)
        .env("MDE_BRIDGE_CLOUD_GRAPH_URL", &base)
        .env("MDE_BRIDGE_CREDENTIAL_SECRET_ID", &secret_id)
        .env("MDE_BRIDGE_REGISTRY_BACKEND", "dynamodb")
        .env("MDE_BRIDGE_REGISTRY_TABLE", &table)
        .spawn()
        .expect("start the token-broker binary");

    let invoke = |id: &'static str, event: serde_json::Value| runtime.invoke(id, event);

    let token = invoke(
        "req-1",
        json!({"tenant_id": mde_sandbox::DEMO_TENANT_FULL, "audience": "mde"}),
    )
    .await
    .expect("not a function error");
    assert_eq!(token["outcome"], "token", "{token}");
    let access_token = token["access_token"].as_str().expect("a token").to_string();

    let warm = invoke("req-2", json!({"check": mde_sandbox::DEMO_TENANT_FULL}))
        .await
        .expect("answer");
    assert_eq!(warm["outcome"], "health", "{warm}");
    assert_eq!(warm["healthy"], true, "{warm}");
    assert_eq!(warm["credential"]["days_left"], 20, "{warm}");
    assert!(
        warm["credential"]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("expires in 20 day(s)")),
        "{warm}"
    );
    assert_eq!(
        sandbox
            .requests()
            .iter()
            .filter(|r| r.path.contains("/oauth2/"))
            .count(),
        1,
        "the warm container reuses its token for the health check"
    );

    let partial = invoke("req-3", json!({"check": mde_sandbox::DEMO_TENANT_PARTIAL}))
        .await
        .expect("answer");
    assert_eq!(partial["healthy"], false, "{partial}");
    assert_eq!(
        partial["audiences"][0]["missing_roles"],
        json!(["Machine.Isolate"]),
        "Ti.ReadWrite (granted) is enough to add indicators; isolating needs Machine.Isolate"
    );

    let bad = invoke("req-4", json!({"tenant_id": "nope", "audience": "mde"}))
        .await
        .expect("answer");
    assert_eq!(bad["kind"], "invalid_request", "{bad}");

    child.start_kill().expect("stop the function");
    let mut logs = String::new();
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut logs).await.expect("read logs");
    }
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).await.expect("read stdout");
    }
    let metrics: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("CredentialDaysLeft").is_some())
        .collect();
    assert_eq!(
        metrics.len(),
        1,
        "one metric line per hour and container:\n{stdout}"
    );
    assert_eq!(metrics[0]["CredentialDaysLeft"], 20);
    assert_eq!(metrics[0]["Secret"], secret_id.as_str());
    assert_eq!(
        metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "MdeBridge/TokenBroker"
    );
    assert!(logs.contains("tenant registry loaded"), "{logs}");
    assert!(
        logs.contains("\"fingerprint\""),
        "JSON logs with the token fingerprint:\n{logs}"
    );
    assert!(!logs.contains(&access_token), "a token reached the logs");
    assert!(
        !logs.contains(mde_sandbox::DEMO_CLIENT_SECRET),
        "the secret reached the logs"
    );
}
