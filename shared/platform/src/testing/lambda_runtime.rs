//! A local Lambda Runtime API, so tests run a function's built binary exactly as Lambda does: the binary polls
//! for events and posts its answers; the test invokes it and reads the answer. Several processes may poll the
//! same API (a function's concurrency): each event goes to one of them. Benchmarks read when the polls arrive
//! ([`LambdaRuntime::first_poll`]: a process's cold start ends at its first poll).

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

/// Where the answer to one invocation goes: the response payload, or the function's error document.
type Answer = oneshot::Sender<Result<Value, Value>>;

#[derive(Clone)]
struct Shared {
    function: String,
    /// The function's timeout: each event's deadline is its delivery time plus this.
    timeout: Duration,
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    waiting: Arc<Mutex<HashMap<String, Answer>>>,
    polls: Arc<Polls>,
}

/// The `GET .../invocation/next` requests received: when the first arrived, and how many so far.
struct Polls {
    first: OnceLock<Instant>,
    count: watch::Sender<u64>,
}

/// The Runtime API of one function, served on a loopback port.
pub struct LambdaRuntime {
    address: String,
    events: mpsc::Sender<(String, Value)>,
    shared: Shared,
}

impl LambdaRuntime {
    /// Serves the Runtime API for `function` on a free loopback port; each event's deadline is 60 s after its
    /// delivery.
    pub async fn start(function: &str) -> Self {
        Self::start_with_timeout(function, Duration::from_secs(60)).await
    }

    /// [`LambdaRuntime::start`] for a function whose timeout is `timeout` (each event's deadline is its delivery
    /// time plus this), e.g. 900 s as incident-export is deployed.
    pub async fn start_with_timeout(function: &str, timeout: Duration) -> Self {
        let (events, rx) = mpsc::channel(16);
        let shared = Shared {
            function: function.to_string(),
            timeout,
            events: Arc::new(Mutex::new(rx)),
            waiting: Arc::new(Mutex::new(HashMap::new())),
            polls: Arc::new(Polls {
                first: OnceLock::new(),
                count: watch::channel(0).0,
            }),
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
        self.invoke_within(request_id, event, Duration::from_secs(30))
            .await
            .expect("the function answered in time")
    }

    /// [`LambdaRuntime::invoke`] waiting at most `limit` (queueing behind busy processes included): `None` when
    /// no answer came in time.
    pub async fn invoke_within(
        &self,
        request_id: &str,
        event: Value,
        limit: Duration,
    ) -> Option<Result<Value, Value>> {
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
        match tokio::time::timeout(limit, rx).await {
            Ok(answer) => Some(answer.expect("an answer")),
            Err(_) => {
                self.shared.waiting.lock().await.remove(request_id);
                None
            }
        }
    }

    /// The instant the first `GET .../invocation/next` arrived: a process started under this API has finished
    /// its initialisation then (its cold start). Waits for it at most `timeout`; `None` when none came.
    pub async fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        if self.wait_for_polls(1, timeout).await {
            self.shared.polls.first.get().copied()
        } else {
            None
        }
    }

    /// How many `GET .../invocation/next` requests arrived so far: a function polls when it is ready, then
    /// again after each answer.
    pub fn polls(&self) -> u64 {
        *self.shared.polls.count.borrow()
    }

    /// Waits at most `timeout` until `n` polls have arrived (e.g. until all of `n` processes just started under
    /// this API are ready for events); whether they did.
    pub async fn wait_for_polls(&self, n: u64, timeout: Duration) -> bool {
        let mut count = self.shared.polls.count.subscribe();
        matches!(
            tokio::time::timeout(timeout, count.wait_for(|c| *c >= n)).await,
            Ok(Ok(_))
        )
    }
}

async fn next(State(api): State<Shared>) -> (HeaderMap, Bytes) {
    api.polls.first.get_or_init(Instant::now);
    api.polls.count.send_modify(|n| *n += 1);
    let (id, event) = api.events.lock().await.recv().await.expect("an event");
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + api.timeout.as_millis();
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
