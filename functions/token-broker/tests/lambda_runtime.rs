//! End to end: the built `token-broker` binary under a local Lambda Runtime API (served by this test), reading
//! its credential from moto's Secrets Manager through the real AWS SDK, and getting tokens from the sandbox.

mod common;

use common::*;
use mde_platform::testing::LambdaRuntime;
use mde_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn the_built_function_serves_tokens_and_health_under_a_lambda_runtime() {
    // The credential lives in (moto's) Secrets Manager, as in AWS.
    let sdk = mde_platform::testing::aws_sdk_config().await;
    let secret_id = mde_platform::testing::unique_name("mde-bridge/app-credential");
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&secret_id)
        .secret_string(credential_json(mde_sandbox::DEMO_CLIENT_SECRET).to_string())
        .send()
        .await
        .expect("create the secret in moto");

    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let runtime = LambdaRuntime::start("token-broker").await;

    let tenants = format!(
        r#"[{{tenant_id="{}", display_name="Contoso", datasets=["mde_alerts"]}}, {{tenant_id="{}", display_name="Fabrikam", actions=["add_indicator"]}}]"#,
        mde_sandbox::DEMO_TENANT_FULL,
        mde_sandbox::DEMO_TENANT_PARTIAL
    );
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
        .env("MDE_BRIDGE_TENANTS", tenants)
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
        json!(["Ti.ReadWrite.All"])
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
