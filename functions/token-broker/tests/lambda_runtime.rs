//! End to end: the built `token-broker` binary under a local Lambda Runtime API (served by this test), reading
//! its credential from moto's Secrets Manager through the real AWS SDK, and getting tokens from the sandbox.

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
use mde_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Where the answer to one invocation goes: the response payload, or the error document.
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
        "arn:aws:lambda:us-east-1:123456789012:function:token-broker".into(),
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
        r#"[{{tenant_id="{}", display_name="Contoso", datasets=["mde_alerts"]}}, {{tenant_id="{}", display_name="Fabrikam", actions=["add_indicator"]}}]"#,
        mde_sandbox::DEMO_TENANT_FULL,
        mde_sandbox::DEMO_TENANT_PARTIAL
    );
    let base = sandbox.base_url();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_token-broker"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime_addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "token-broker")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/token-broker")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
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
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the token-broker binary");

    let invoke = |id: &str, event: Value| {
        let api = api.clone();
        let event_tx = event_tx.clone();
        let id = id.to_string();
        async move {
            let (tx, rx) = oneshot::channel();
            api.waiting.lock().await.insert(id.clone(), tx);
            event_tx.send((id, event)).await.expect("queue the event");
            tokio::time::timeout(Duration::from_secs(30), rx)
                .await
                .expect("answered in time")
                .expect("answer")
        }
    };

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
