//! End to end: the built `incident-export` binary under a local Lambda Runtime API (served by this test), with
//! its configuration from `MDE_BRIDGE_*` variables, tokens from the sandbox, and exports written to S3 in moto.

mod common;

use common::*;
use mde_platform::testing::LambdaRuntime;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn the_built_function_exports_to_s3_under_a_lambda_runtime() {
    let sandbox = start(sandbox_config()).await;
    let sdk = mde_platform::testing::aws_sdk_config().await;
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    let bucket = mde_platform::testing::unique_name("export");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let secrets = tempfile::NamedTempFile::new().expect("secrets file");
    std::fs::write(
        secrets.path(),
        json!({"mde-bridge/app-credential": {
            "kind": "client_secret", "client_id": mde_sandbox::DEMO_CLIENT_ID,
            "client_secret": mde_sandbox::DEMO_CLIENT_SECRET,
        }})
        .to_string(),
    )
    .expect("write secrets");

    let runtime = LambdaRuntime::start("incident-export").await;

    let tenants = format!(
        r#"[{{tenant_id="{FULL}", display_name="Contoso", datasets=["mde_alerts", "graph_incidents"]}}, {{tenant_id="{UNCONSENTED}", display_name="Northwind", datasets=["mde_alerts"]}}]"#
    );
    let base = sandbox.base_url();
    let mut child = runtime
        .command(env!("CARGO_BIN_EXE_incident-export"))
        .env("MDE_BRIDGE_AWS_REGION", "us-east-1")
        .env(
            "MDE_BRIDGE_AWS_ENDPOINT_URL",
            mde_platform::testing::aws_endpoint(),
        )
        .env("MDE_BRIDGE_PARTNER_COMPANY", "Contoso")
        .env("MDE_BRIDGE_PARTNER_PRODUCT", "Export")
        .env("MDE_BRIDGE_PARTNER_VERSION", "1.0")
        .env("MDE_BRIDGE_CLOUD_LOGIN_URL", &base)
        .env("MDE_BRIDGE_CLOUD_MDE_API_URL", &base)
        .env("MDE_BRIDGE_CLOUD_M365D_API_URL", &base)
        .env("MDE_BRIDGE_CLOUD_GRAPH_URL", &base)
        .env("MDE_BRIDGE_CREDENTIAL_BACKEND", "local")
        .env("MDE_BRIDGE_CREDENTIAL_LOCAL_FILE", secrets.path())
        .env("MDE_BRIDGE_STORAGE_BUCKET", &bucket)
        .env("MDE_BRIDGE_STORAGE_PREFIX", "siem")
        .env("MDE_BRIDGE_TENANTS", tenants)
        .env(
            "MDE_BRIDGE_EXPORT_INITIAL_LOOKBACK_SECONDS",
            (30 * 24 * 3600).to_string(),
        )
        .spawn()
        .expect("start the incident-export binary");

    let summary = runtime
        .invoke("req-1", json!({}))
        .await
        .expect("not a function error");

    let entries = summary["datasets"].as_array().expect("datasets");
    assert_eq!(entries.len(), 3, "{summary}");
    for e in entries {
        let expected = if e["tenant_id"] == FULL {
            "completed"
        } else {
            "failed"
        };
        assert_eq!(e["status"], expected, "{e}");
    }
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(format!("siem/mde_alerts/tenant={FULL}/"))
        .send()
        .await
        .expect("list");
    assert!(
        !listed.contents().is_empty(),
        "objects in the bucket under the prefix"
    );
    let checkpoint = s3
        .get_object()
        .bucket(&bucket)
        .key(format!("siem/checkpoints/mde_alerts/tenant={FULL}.json"))
        .send()
        .await;
    assert!(checkpoint.is_ok(), "the checkpoint is in the bucket");

    child.start_kill().expect("stop the function");
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).await.expect("read stdout");
    }
    let emf: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(emf.len(), 3, "one EMF line per tenant and dataset:\n{stdout}");
    assert!(emf.iter().all(|l| l["_aws"]["CloudWatchMetrics"].is_array()));
}
