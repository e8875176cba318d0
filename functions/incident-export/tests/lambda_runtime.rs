//! End to end: the built `incident-export` binary under a local Lambda Runtime API (served by this test), with
//! its configuration from `MDE_BRIDGE_*` variables, tokens from the sandbox, and exports written to S3 in moto.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use common::*;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::{Mutex, mpsc, oneshot};

type Answer = oneshot::Sender<Result<Value, Value>>;

/// The Lambda Runtime API, as much as a function needs: hand out events, collect responses and errors.
#[derive(Clone)]
struct RuntimeApi {
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    waiting: Arc<Mutex<HashMap<String, Answer>>>,
}

async fn next(State(api): State<RuntimeApi>) -> (HeaderMap, Bytes) {
    let (id, event) = api.events.lock().await.recv().await.expect("an event");
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 60_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("header"));
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:incident-export".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".into(),
    );
    (headers, Bytes::from(event.to_string()))
}

async fn respond(State(api): State<RuntimeApi>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    if let Some(tx) = api.waiting.lock().await.remove(&id) {
        let _ = tx.send(Ok(serde_json::from_slice(&body).unwrap_or(Value::Null)));
    }
    StatusCode::ACCEPTED
}

async fn fail(State(api): State<RuntimeApi>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    if let Some(tx) = api.waiting.lock().await.remove(&id) {
        let _ = tx.send(Err(serde_json::from_slice(&body).unwrap_or(Value::Null)));
    }
    StatusCode::ACCEPTED
}

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

    let (event_tx, event_rx) = mpsc::channel(8);
    let api = RuntimeApi {
        events: Arc::new(Mutex::new(event_rx)),
        waiting: Arc::new(Mutex::new(HashMap::new())),
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let runtime_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let tenants = format!(
        r#"[{{tenant_id="{FULL}", display_name="Contoso", datasets=["mde_alerts", "graph_incidents"]}}, {{tenant_id="{UNCONSENTED}", display_name="Northwind", datasets=["mde_alerts"]}}]"#
    );
    let base = sandbox.base_url();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_incident-export"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime_addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "incident-export")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/incident-export")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
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
            "INCIDENT_EXPORT_INITIAL_LOOKBACK_SECONDS",
            (30 * 24 * 3600).to_string(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the incident-export binary");

    let (tx, rx) = oneshot::channel();
    api.waiting.lock().await.insert("req-1".into(), tx);
    event_tx
        .send(("req-1".into(), json!({})))
        .await
        .expect("queue the event");
    let summary = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("answered in time")
        .expect("answer")
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
