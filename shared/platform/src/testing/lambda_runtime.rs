//! A local Lambda Runtime API, so tests run a function's built binary exactly as Lambda does: the binary polls
//! for events and posts its answers; the test invokes it and reads the answer.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Where the answer to one invocation goes: the response payload, or the function's error document.
type Answer = oneshot::Sender<Result<Value, Value>>;

#[derive(Clone)]
struct Shared {
    function: String,
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    waiting: Arc<Mutex<HashMap<String, Answer>>>,
}

/// The Runtime API of one function, served on a loopback port.
pub struct LambdaRuntime {
    address: String,
    events: mpsc::Sender<(String, Value)>,
    shared: Shared,
}

impl LambdaRuntime {
    /// Serves the Runtime API for `function` on a free loopback port.
    pub async fn start(function: &str) -> Self {
        let (events, rx) = mpsc::channel(16);
        let shared = Shared {
            function: function.to_string(),
            events: Arc::new(Mutex::new(rx)),
            waiting: Arc::new(Mutex::new(HashMap::new())),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the runtime API");
        let address = listener.local_addr().expect("runtime API address").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            address,
            events,
            shared,
        }
    }

    /// A command running `binary` as this function: a clean environment with `PATH`, the `AWS_LAMBDA_*`
    /// variables Lambda sets, JSON logs and test AWS credentials; stdout and stderr piped; killed on drop.
    /// Add the function's own configuration with `.env(...)`.
    pub fn command(&self, binary: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.shared.function)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.shared.function),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Invokes the function with `event` and waits (at most 30 s) for its answer: `Ok(payload)`, or `Err` with
    /// the error document of a function error.
    pub async fn invoke(&self, request_id: &str, event: Value) -> Result<Value, Value> {
        let (tx, rx) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .await
            .insert(request_id.to_string(), tx);
        self.events
            .send((request_id.to_string(), event))
            .await
            .expect("queue the event");
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("the function answered in time")
            .expect("an answer")
    }
}

async fn next(State(api): State<Shared>) -> (HeaderMap, Bytes) {
    let (id, event) = api.events.lock().await.recv().await.expect("an event");
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 60_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("header value"));
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        format!("arn:aws:lambda:us-east-1:123456789012:function:{}", api.function),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".into(),
    );
    (headers, Bytes::from(event.to_string()))
}

async fn respond(State(api): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(
        &api,
        &id,
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null)),
    )
    .await
}

async fn fail(State(api): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(
        &api,
        &id,
        Err(serde_json::from_slice(&body).unwrap_or(Value::Null)),
    )
    .await
}

async fn answer(api: &Shared, id: &str, outcome: Result<Value, Value>) -> StatusCode {
    if let Some(tx) = api.waiting.lock().await.remove(id) {
        let _ = tx.send(outcome);
    }
    StatusCode::ACCEPTED
}
