//! Webhook soak: SIGKILL of the alert-webhook function in the middle of an invocation never yields two Defender
//! actions, and never loses an accepted request.
//!
//! The alert-webhook Lambda runs as a separate process (this test binary re-executed with the function's
//! `main.rs` wiring, or the built binary named by `SOAK_WEBHOOK_BINARY`) under a local Lambda Runtime API, on
//! moto: partner keys in Secrets Manager, the idempotency table in DynamoDB, the FIFO request queue in SQS, audit
//! records in S3. The action executor drains that queue in process against the sandbox's Contoso tenant, as the
//! event source mapping would.
//! Each round sends one signed isolate or release (round robin over Contoso's Windows devices) and SIGKILLs the
//! function at a random delay within the invocation: the delays are stratified over 0..1.25 × a calibrated
//! invocation time, so kills land before the claim, between claim and enqueue, between enqueue and completion
//! of the idempotency record, and after the answer. Each kill is classified by the state it left (record
//! absent / in flight / accepted, request message queued or not). The partner then retries the same delivery
//! (same `webhook-id`, fresh timestamp and signature) as Standard Webhooks senders do, honouring the
//! `Retry-After` of a 409 until the in-flight claim's 30 s lease runs out and a retry takes it over.
//!
//! It proves, and fails otherwise: at least one kill landed between enqueue and completion; every delivery was
//! finally answered 202, with the same request id on every 202; every accepted request executed once (one audit
//! record, one Defender machine action, none reused — or, when a kill delayed a request past a later one of its
//! device, the device already in the asked state and that action shared) and completed; the Defender actions
//! created on the soak's devices are exactly those of the audit records (no second action);
//! `GET /v1/requests/{id}` says completed.
//!
//! Size: `SOAK_WEBHOOK_ROUNDS` (`scripts/soak`), else a bounded run; `SOAK_WEBHOOK_SEED` replays a run. Figures
//! go to the soak report `webhook` (`MDE_SOAK_REPORTS`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use action_executor::{Executor, drain};
use alert_webhook::signature::SigningKey;
use base64::Engine as _;
use mde_contracts::{
    ActionKind, AuditRecord, ExecutorSettings, IndicatorSettings, PartnerBinding, RequestStatus, TenantConfig,
};
use mde_platform::idempotency::{DynamoIdempotency, RequestState};
use mde_platform::objects::S3ObjectStore;
use mde_platform::queue::SqsQueue;
use mde_platform::testing::soak::{SoakReport, size};
use mde_platform::testing::{LambdaRuntime, OffsetClock};
use mde_platform::{IdempotencyStore, ObjectStore, Queue, QueueMessage, SendOptions, Tenants};
use mde_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::{Value, json};

const TENANT: &str = mde_sandbox::DEMO_TENANT_FULL;
const KEY_ID: &str = "soar-1";
const KEY: &str = "whsec_c29hay13ZWJob29rLXBhcnRuZXIta2V5LTAx";
/// The bounded run (the test command): about a minute, the 30 s lease included.
const BOUNDED_ROUNDS: u64 = 30;
/// Un-killed rounds first, to time an invocation.
const CALIBRATION_ROUNDS: usize = 3;
/// How long after a kill the state is read (a request the process had sent still lands in moto).
const SETTLE: Duration = Duration::from_millis(300);
/// How far the sandbox (and the executor's clock) moves per executor run: every machine action ends meanwhile.
const SIMULATED_STEP: Duration = Duration::from_secs(600);
/// The in-flight lease (30 s) and some: no delivery may stay unanswered longer than this after its last kill.
const ANSWER_DEADLINE: Duration = Duration::from_secs(75);

/// Where a kill left the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Window {
    /// No idempotency record, nothing queued.
    BeforeClaim,
    /// Record in flight, nothing queued.
    ClaimedNotQueued,
    /// Record in flight, request queued: the window this soak is about.
    QueuedNotCompleted,
    /// Record accepted, the answer not yet given.
    CompletedNotAnswered,
    /// Killed after the function answered 202.
    AfterAnswer,
}

impl Window {
    fn label(self) -> &'static str {
        match self {
            Self::BeforeClaim => "kills before the claim",
            Self::ClaimedNotQueued => "kills after the claim, before enqueue",
            Self::QueuedNotCompleted => "kills after enqueue, before completion",
            Self::CompletedNotAnswered => "kills after completion, before the answer",
            Self::AfterAnswer => "kills after the answer",
        }
    }
}

/// One partner delivery (one round) and what the partner saw.
struct Delivery {
    round: usize,
    webhook_id: String,
    body: String,
    machine_id: String,
    request_id: String,
    window: Option<Window>,
    accepted: Vec<Value>,
    attempts: u32,
    next_due: Option<Instant>,
    last_kill: Instant,
}

/// A small deterministic generator (xorshift64*), so a run can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn shuffled(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = usize::try_from(self.next() % (i as u64 + 1)).expect("index");
            v.swap(i, j);
        }
        v
    }
}

/// Set in the function process's environment: [`function_process`] then serves the function.
const FUNCTION_VAR: &str = "SOAK_WEBHOOK_FUNCTION";
/// A built `alert-webhook` binary to run instead (`cargo build -p alert-webhook`): Cargo sets `CARGO_BIN_EXE_*`
/// only for a test's own package, and building it from here would compile a second feature variant of the AWS
/// SDK (over a minute on two cores).
const BINARY_VAR: &str = "SOAK_WEBHOOK_BINARY";

/// The function process: this test binary re-executed with [`FUNCTION_VAR`] set serves the alert-webhook Lambda
/// under the local Runtime API until it is killed — `alert_webhook::lambda::serve`, exactly what its `main.rs` runs.
#[test]
#[ignore = "the soak's function process: the soak starts it"]
fn function_process() {
    if std::env::var_os(FUNCTION_VAR).is_some() {
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(alert_webhook::lambda::serve())
            .expect("the alert-webhook function");
    }
}

/// A Function URL event (API Gateway v2 format).
fn url_event(method: &str, path: &str, headers: Value, body: &str) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": "soak", "domainName": "soak.lambda-url.us-east-1.on.aws",
            "domainPrefix": "soak", "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "03/Dec/2026:07:00:00 +0000", "timeEpoch": 1_796_000_000_000u64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "partner"}
        },
        "body": body, "isBase64Encoded": false
    })
}

/// Standard Webhooks headers of one attempt: the delivery's id, this attempt's timestamp and signature.
fn signed(webhook_id: &str, body: &str) -> Value {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = SigningKey::parse(KEY_ID, KEY)
        .expect("key")
        .sign(webhook_id, ts, body.as_bytes());
    let mut headers = json!({"webhook-id": webhook_id, "webhook-timestamp": ts.to_string(), "webhook-signature": signature});
    if !body.is_empty() {
        headers["content-type"] = json!("application/json");
    }
    headers
}

fn post(d: &Delivery) -> Value {
    url_event("POST", "/v1/events", signed(&d.webhook_id, &d.body), &d.body)
}

/// The status code, `Retry-After` and JSON body of a Function URL answer.
fn answer_of(answer: &Value) -> (u16, Option<u64>, Value) {
    let raw = answer["body"].as_str().unwrap_or_default();
    let bytes = if answer["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .expect("base64 body")
    } else {
        raw.as_bytes().to_vec()
    };
    let status = answer["statusCode"].as_u64().expect("statusCode");
    let retry_after = answer["headers"]["retry-after"]
        .as_str()
        .and_then(|v| v.parse().ok());
    (
        u16::try_from(status).expect("status"),
        retry_after,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The function: its Runtime API, its environment, and the process serving it now (if any).
struct Function {
    runtime: LambdaRuntime,
    env: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
    log: Arc<Mutex<VecDeque<String>>>,
    invocations: u64,
    starts: u64,
    lost_warmups: u64,
}

impl Function {
    fn next_id(&mut self) -> String {
        self.invocations += 1;
        format!("inv-{}", self.invocations)
    }

    fn recent_log(&self) -> String {
        let log = self.log.lock().expect("log");
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// The process's command: the built binary, or this test binary re-executed as [`function_process`].
    fn command(&self) -> tokio::process::Command {
        let mut cmd = match std::env::var(BINARY_VAR) {
            Ok(binary) => self.runtime.command(&binary),
            Err(_) => {
                let exe = std::env::current_exe().expect("the test binary");
                let mut cmd = self.runtime.command(exe.to_str().expect("path"));
                cmd.args(["--ignored", "--exact", "function_process", "--nocapture"])
                    .env(FUNCTION_VAR, "1");
                cmd
            }
        };
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// Keeps the last lines the process writes (for a failure's message); the pipes never fill.
    fn keep_output(&self, child: &mut tokio::process::Child) {
        type Stream = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
        let stderr = child.stderr.take().map(|s| Box::new(s) as Stream);
        let stdout = child.stdout.take().map(|s| Box::new(s) as Stream);
        for stream in [stderr, stdout].into_iter().flatten() {
            let log = Arc::clone(&self.log);
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt as _;
                let mut lines = tokio::io::BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut log = log.lock().expect("log");
                    log.push_back(line);
                    if log.len() > 40 {
                        log.pop_front();
                    }
                }
            });
        }
    }

    /// Starts a process if none is running, and waits until it answers (a signed status query of an unknown
    /// id: reads the partner keys and the table, so the process is past its cold start).
    async fn ready(&mut self) {
        if self.child.is_some() {
            return;
        }
        let mut child = self.command().spawn().expect("start the function process");
        self.keep_output(&mut child);
        self.child = Some(child);
        self.starts += 1;
        let path = "/v1/requests/00000000000000000000000000000000";
        for _ in 0..5 {
            let id = self.next_id();
            let probe = url_event("GET", path, signed(&format!("warm-{id}"), ""), "");
            // A process killed while it waited for its next event may have taken this one with it: ask again.
            match tokio::time::timeout(Duration::from_secs(3), self.runtime.invoke(&id, probe)).await {
                Ok(Ok(answer)) if answer_of(&answer).0 == 404 => return,
                Ok(other) => panic!("the warm-up answered {other:?}\n{}", self.recent_log()),
                Err(_) => self.lost_warmups += 1,
            }
        }
        panic!("the function never answered its warm-up\n{}", self.recent_log());
    }

    /// Invokes the function and waits for its answer (no kill).
    async fn call(&mut self, event: Value) -> Value {
        self.ready().await;
        let id = self.next_id();
        match tokio::time::timeout(Duration::from_secs(15), self.runtime.invoke(&id, event)).await {
            Ok(Ok(answer)) => answer,
            other => panic!("invocation {id}: {other:?}\n{}", self.recent_log()),
        }
    }

    /// Invokes the function and SIGKILLs its process `delay` after the event was handed over; the answer if it
    /// came before the process died.
    async fn call_and_kill(&mut self, event: Value, delay: Duration) -> Option<Value> {
        self.ready().await;
        // The process is back in its `next` poll: the event is taken the moment it is sent.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let id = self.next_id();
        let runtime = &self.runtime;
        let invocation = runtime.invoke(&id, event);
        tokio::pin!(invocation);
        let early = tokio::select! {
            answer = &mut invocation => Some(answer),
            () = tokio::time::sleep(delay) => None,
        };
        let mut child = self.child.take().expect("a running process");
        child.start_kill().expect("SIGKILL");
        let _ = child.wait().await;
        let answer = match early {
            Some(a) => Some(a),
            None => tokio::time::timeout(Duration::from_millis(200), &mut invocation)
                .await
                .ok(),
        };
        answer.map(|a| a.unwrap_or_else(|e| panic!("function error {e}")))
    }
}

/// The request queue as the executor sees it, counting each request id it receives.
struct Counted {
    inner: SqsQueue,
    received: Mutex<HashMap<String, u32>>,
}

#[async_trait::async_trait]
impl Queue for Counted {
    async fn send(&self, body: &str, options: &SendOptions) -> mde_platform::Result<String> {
        self.inner.send(body, options).await
    }

    async fn receive(&self, max: u32, visibility: Duration) -> mde_platform::Result<Vec<QueueMessage>> {
        let messages = self.inner.receive(max, visibility).await?;
        let mut received = self.received.lock().expect("counts");
        for m in &messages {
            let id = serde_json::from_str::<Value>(&m.body).ok();
            let id = id.as_ref().and_then(|v| v["request_id"].as_str()).unwrap_or("?");
            *received.entry(id.to_owned()).or_default() += 1;
        }
        Ok(messages)
    }

    async fn delete(&self, receipt: &str) -> mde_platform::Result<()> {
        self.inner.delete(receipt).await
    }

    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> mde_platform::Result<()> {
        self.inner.change_visibility(receipt, visibility).await
    }
}

/// Everything AWS-side (moto) of the soak.
struct Aws {
    sqs: aws_sdk_sqs::Client,
    requests_url: String,
    polls_url: String,
    table: String,
    bucket: String,
    secret_id: String,
    s3: aws_sdk_s3::Client,
    records: DynamoIdempotency,
}

impl Aws {
    async fn create() -> Self {
        let sdk = mde_platform::testing::aws_sdk_config().await;
        let table = mde_platform::testing::create_idempotency_table(&sdk).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let fifo = aws_sdk_sqs::types::QueueAttributeName::FifoQueue;
        let name = format!("{}.fifo", mde_platform::testing::unique_name("soak-requests"));
        let requests_url = sqs
            .create_queue()
            .queue_name(name)
            .attributes(fifo, "true")
            .send()
            .await
            .expect("FIFO queue")
            .queue_url
            .expect("url");
        let polls_url = sqs
            .create_queue()
            .queue_name(mde_platform::testing::unique_name("soak-polls"))
            .send()
            .await
            .expect("poll queue")
            .queue_url
            .expect("url");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        let bucket = mde_platform::testing::unique_name("soak-webhook");
        s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
        let secret_id = mde_platform::testing::unique_name("partner-keys");
        aws_sdk_secretsmanager::Client::new(&sdk)
            .create_secret()
            .name(&secret_id)
            .secret_string(
                json!({"keys": [{"key_id": KEY_ID, "partner": "Soak SOAR", "secrets": [KEY]}]}).to_string(),
            )
            .send()
            .await
            .expect("partner keys secret");
        let records = DynamoIdempotency::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
        Self {
            sqs,
            requests_url,
            polls_url,
            table,
            bucket,
            secret_id,
            s3,
            records,
        }
    }

    /// Messages on the request queue, visible or not.
    async fn queued(&self) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.requests_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let attributes = out.attributes.unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|a| attributes.get(a).and_then(|v| v.parse::<u64>().ok()))
        .sum()
    }

    /// The idempotency record's state.
    async fn record(&self, request_id: &str) -> Option<RequestState> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.records
            .get(request_id, now)
            .await
            .expect("read the idempotency record")
            .map(|r| r.state)
    }

    /// The function's environment, as Lambda would set it from the deployment.
    fn function_env(&self) -> Vec<(String, String)> {
        let actions = r#"["isolate_device", "release_device"]"#;
        let tenants = format!(
            r#"[{{tenant_id="{TENANT}", display_name="Contoso", actions={actions}, partners=[{{key_id="{KEY_ID}", actions={actions}}}]}}]"#
        );
        [
            ("MDE_BRIDGE_AWS_REGION", "us-east-1".to_owned()),
            (
                "MDE_BRIDGE_AWS_ENDPOINT_URL",
                mde_platform::testing::aws_endpoint(),
            ),
            ("MDE_BRIDGE_PARTNER_COMPANY", "Contoso".into()),
            ("MDE_BRIDGE_PARTNER_PRODUCT", "Webhook".into()),
            ("MDE_BRIDGE_PARTNER_VERSION", "1.0".into()),
            ("MDE_BRIDGE_CREDENTIAL_BACKEND", "aws".into()),
            ("MDE_BRIDGE_TENANTS", tenants),
            ("MDE_BRIDGE_STORAGE_BUCKET", self.bucket.clone()),
            ("MDE_BRIDGE_STORAGE_PREFIX", "bridge".into()),
            ("MDE_BRIDGE_WEBHOOK_QUEUE_URL", self.requests_url.clone()),
            ("MDE_BRIDGE_WEBHOOK_TABLE", self.table.clone()),
            (
                "MDE_BRIDGE_WEBHOOK_PARTNER_KEYS_SECRET_ID",
                self.secret_id.clone(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// The action executor over the same queue and bucket, against the sandbox; its clock moves with the sandbox's.
struct Back {
    sandbox: SandboxHandle,
    executor: Executor,
    requests: Counted,
    polls: SqsQueue,
    store: Arc<dyn ObjectStore>,
    clock: Arc<OffsetClock>,
    runs: u64,
}

impl Back {
    async fn start(aws: &Aws) -> Self {
        let mut config = SandboxConfig::default();
        config.rate_limits.enabled = false;
        let sandbox = Sandbox::start(config).await.expect("sandbox");
        let client = mde_defender::testing::client_for(
            &sandbox.base_url(),
            mde_sandbox::DEMO_CLIENT_ID,
            mde_sandbox::DEMO_CLIENT_SECRET,
            mde_defender::testing::quick_retries(2),
            mde_defender::api::RateLimitConfig::unlimited(),
        );
        let actions = vec![ActionKind::IsolateDevice, ActionKind::ReleaseDevice];
        let tenant = TenantConfig {
            actions: actions.clone(),
            partners: vec![PartnerBinding {
                key_id: KEY_ID.into(),
                actions,
                dry_run: false,
            }],
            ..TenantConfig::new(TENANT.parse().expect("tenant id"), "Contoso")
        };
        let tenants = Arc::new(Tenants::fixed(vec![tenant]));
        let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(aws.s3.clone(), &aws.bucket, "bridge"));
        let clock = Arc::new(OffsetClock::default());
        let polls = SqsQueue::new(aws.sqs.clone(), aws.polls_url.clone());
        let pusher = Arc::new(mde_indicators::Pusher::new(
            Arc::clone(&client),
            Arc::clone(&tenants),
            Arc::clone(&store),
            clock.clone(),
            IndicatorSettings::default(),
        ));
        let settings = ExecutorSettings {
            poll_interval_seconds: 1,
            ..ExecutorSettings::default()
        };
        let executor = Executor::new(
            client,
            tenants,
            pusher,
            Arc::clone(&store),
            Arc::new(polls.clone()),
            clock.clone(),
            settings,
        );
        Self {
            sandbox,
            executor,
            requests: Counted {
                inner: SqsQueue::new(aws.sqs.clone(), aws.requests_url.clone()),
                received: Mutex::new(HashMap::new()),
            },
            polls,
            store,
            clock,
            runs: 0,
        }
    }

    /// One run of the event source mappings (every visible request, then every visible poll), then simulated
    /// time moves on so every machine action created so far ends.
    async fn run(&mut self) {
        drain(&self.executor, &self.requests)
            .await
            .expect("drain requests");
        drain(&self.executor, &self.polls).await.expect("drain polls");
        self.sandbox.advance(SIMULATED_STEP);
        self.clock.advance(SIMULATED_STEP);
        self.runs += 1;
    }

    async fn audit(&self, request_id: &str) -> Option<AuditRecord> {
        let key = AuditRecord::key(&ExecutorSettings::default().audit_prefix, request_id);
        let object = self.store.get(&key).await.expect("read an audit record")?;
        Some(serde_json::from_slice(&object.body).expect("audit record JSON"))
    }

    /// The machine action ids of the devices.
    fn actions(&self, machines: &[String]) -> HashSet<String> {
        machines
            .iter()
            .flat_map(|m| self.sandbox.device_state(TENANT, m).expect("device").actions)
            .map(|a| a.id)
            .collect()
    }

    async fn windows_machines(&self) -> Vec<String> {
        let tenant = TENANT.parse().expect("tenant");
        let mut ids = mde_defender::testing::machine_ids(
            &self.sandbox.base_url(),
            mde_sandbox::DEMO_CLIENT_ID,
            mde_sandbox::DEMO_CLIENT_SECRET,
            &tenant,
            "Windows",
        )
        .await;
        ids.truncate(4);
        ids
    }
}

/// What the partner did and saw.
#[derive(Default)]
struct Tally {
    sent: u64,
    by_status: BTreeMap<u16, u64>,
    killed_unanswered: u64,
    windows: BTreeMap<Window, u64>,
}

/// Handles one answer the partner got: a 202 ends the delivery; 409 / 503 are retried after `Retry-After`.
fn take_answer(d: &mut Delivery, answer: &Value, tally: &mut Tally) {
    let (status, retry_after, body) = answer_of(answer);
    *tally.by_status.entry(status).or_default() += 1;
    match status {
        202 => {
            assert_eq!(
                body["request_id"], d.request_id,
                "round {}: a 202 with another request id",
                d.round
            );
            d.accepted.push(body);
            d.next_due = None;
        }
        409 | 503 => {
            d.next_due = Some(Instant::now() + Duration::from_secs(retry_after.unwrap_or(2)));
        }
        other => panic!("round {}: answered {other}: {body}", d.round),
    }
}

/// Where the kill left the delivery, from the record's state, whether the request was queued and whether the
/// partner got its answer.
fn classify(d: &Delivery, record: Option<RequestState>, queued: bool, answered: bool) -> Window {
    match (record, queued, answered) {
        (Some(RequestState::Accepted), true, true) => Window::AfterAnswer,
        (None, false, false) => Window::BeforeClaim,
        (Some(RequestState::InFlight), false, false) => Window::ClaimedNotQueued,
        (Some(RequestState::InFlight), true, false) => Window::QueuedNotCompleted,
        (Some(RequestState::Accepted), true, false) => Window::CompletedNotAnswered,
        other => panic!(
            "round {} ({}): impossible state after a kill (record, queued, answered) = {other:?}",
            d.round, d.request_id
        ),
    }
}

/// The soak's parts and what happened so far.
struct Soak {
    aws: Aws,
    back: Back,
    function: Function,
    machines: Vec<String>,
    run: String,
    deliveries: Vec<Delivery>,
    tally: Tally,
}

impl Soak {
    async fn start() -> Self {
        let aws = Aws::create().await;
        let back = Back::start(&aws).await;
        let machines = back.windows_machines().await;
        assert!(!machines.is_empty(), "Contoso has Windows devices");
        let function = Function {
            runtime: LambdaRuntime::start("alert-webhook").await,
            env: aws.function_env(),
            child: None,
            log: Arc::default(),
            invocations: 0,
            starts: 0,
            lost_warmups: 0,
        };
        Self {
            aws,
            back,
            function,
            machines,
            run: mde_platform::testing::unique_name("r"),
            deliveries: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// The round's delivery: an isolate or a release of the next device, with its own `webhook-id`.
    fn delivery(&self, round: usize) -> Delivery {
        let machine_id = self.machines[round % self.machines.len()].clone();
        let action = if (round / self.machines.len()).is_multiple_of(2) {
            "isolate"
        } else {
            "release"
        };
        let webhook_id = format!("msg_soak_{}_{round}", self.run);
        let body = json!({"type": "device_action.v1", "data": {"tenant_id": TENANT,
            "device": {"machine_id": machine_id}, "action": action, "comment": format!("webhook soak round {round}")}})
        .to_string();
        Delivery {
            round,
            request_id: alert_webhook::request_id(KEY_ID, &webhook_id),
            webhook_id,
            body,
            machine_id,
            window: None,
            accepted: Vec::new(),
            attempts: 1,
            next_due: None,
            last_kill: Instant::now(),
        }
    }

    /// An un-killed first delivery; how long it took (ms).
    async fn calibrate(&mut self, d: &mut Delivery) -> f64 {
        self.function.ready().await;
        let t = Instant::now();
        let answer = self.function.call(post(d)).await;
        let took = t.elapsed().as_secs_f64() * 1000.0;
        take_answer(d, &answer, &mut self.tally);
        assert!(d.next_due.is_none(), "calibration round {} accepted", d.round);
        took
    }

    /// The first delivery, SIGKILLed `delay` into its invocation; classifies what the kill left.
    async fn kill(&mut self, d: &mut Delivery, delay: Duration) {
        let before = self.aws.queued().await;
        let answer = self.function.call_and_kill(post(d), delay).await;
        tokio::time::sleep(SETTLE).await;
        let queued = self.aws.queued().await > before;
        let window = classify(d, self.aws.record(&d.request_id).await, queued, answer.is_some());
        *self.tally.windows.entry(window).or_default() += 1;
        d.window = Some(window);
        d.last_kill = Instant::now();
        match answer {
            Some(a) => take_answer(d, &a, &mut self.tally),
            None => {
                self.tally.killed_unanswered += 1;
                d.next_due = Some(Instant::now());
            }
        }
    }

    /// Retries every delivery that is due, one at a time; the executor runs after each 202 (as the queue's
    /// event source mapping would, so two requests of one device are never in one batch).
    async fn retry_due(&mut self) {
        for d in &mut self.deliveries {
            if d.next_due.is_some_and(|t| t <= Instant::now()) {
                d.attempts += 1;
                self.tally.sent += 1;
                let answer = self.function.call(post(d)).await;
                take_answer(d, &answer, &mut self.tally);
                if d.next_due.is_none() {
                    self.back.run().await;
                }
            }
        }
    }

    /// The partner keeps retrying until every delivery has its 202 (the in-flight ones after their lease), or
    /// one waited [`ANSWER_DEADLINE`] since its kill (a stall).
    async fn retry_until_answered(&mut self) {
        while let Some(due) = self.deliveries.iter().filter_map(|d| d.next_due).min() {
            let waiting = self.deliveries.iter().filter(|d| d.next_due.is_some());
            if waiting
                .map(|d| d.last_kill)
                .min()
                .is_some_and(|t| t.elapsed() > ANSWER_DEADLINE)
            {
                return;
            }
            tokio::time::sleep_until(due.into()).await;
            self.retry_due().await;
        }
    }

    fn accepted(&self) -> impl Iterator<Item = &Delivery> {
        self.deliveries.iter().filter(|d| !d.accepted.is_empty())
    }

    /// The executor and simulated time go on until every accepted request is completed (polls wait a second);
    /// the audit records then.
    async fn complete(&mut self) -> HashMap<String, AuditRecord> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.back.run().await;
            let mut audits = HashMap::new();
            for d in self.accepted() {
                if let Some(a) = self.back.audit(&d.request_id).await {
                    audits.insert(d.request_id.clone(), a);
                }
            }
            let done = audits
                .values()
                .filter(|a| a.status == RequestStatus::Completed)
                .count();
            if done == self.accepted().count() || Instant::now() > deadline {
                return audits;
            }
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }

    /// How many accepted requests `GET /v1/requests/{id}` reports completed.
    async fn statuses_completed(&mut self) -> usize {
        let mut completed = 0;
        let queries: Vec<(String, String)> = self
            .accepted()
            .map(|d| {
                (
                    format!("/v1/requests/{}", d.request_id),
                    format!("status-{}", d.webhook_id),
                )
            })
            .collect();
        for (path, id) in queries {
            let answer = self
                .function
                .call(url_event("GET", &path, signed(&id, ""), ""))
                .await;
            let (status, _, body) = answer_of(&answer);
            completed += usize::from(status == 200 && body["status"] == "completed");
        }
        completed
    }

    async fn stop_function(&mut self) {
        if let Some(mut child) = self.function.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

/// The outcome, counted.
struct Figures {
    accepted: usize,
    same_answer: usize,
    messages: u32,
    repeated: usize,
    repeated_windows: BTreeMap<&'static str, usize>,
    audit_records: usize,
    completed: usize,
    performed_once: usize,
    created: usize,
    create_calls: usize,
    reused: usize,
    /// Requests that found the device already in the state asked for (a request of an earlier round, delayed by
    /// a kill, ran after a later one) and completed sharing the action that put it there: no create call.
    shared: usize,
    unaccounted: Vec<String>,
    duplicated_actions: usize,
    lost: usize,
    stalls: usize,
    status_completed: usize,
}

/// The action a completed request shared because the device was already in the state it asked for.
fn shared_state(audit: &AuditRecord) -> Option<&str> {
    audit.outcome.as_ref()?.result.get("already")?.as_str()
}

/// The Defender calls that create a machine action (`POST /api/machines/{id}/isolate|unisolate`) the sandbox
/// answered 201.
fn create_calls(sandbox: &SandboxHandle) -> usize {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && (r.path.ends_with("/isolate") || r.path.ends_with("/unisolate")))
        .filter(|r| r.status == Some(201))
        .count()
}

async fn figures(
    soak: &Soak,
    audits: &HashMap<String, AuditRecord>,
    created: &HashSet<String>,
    status_completed: usize,
) -> Figures {
    let audited: Vec<&String> = audits
        .values()
        .filter_map(|a| a.machine_action.as_ref().map(|m| &m.id))
        .collect();
    let audited_set: HashSet<&String> = audited.iter().copied().collect();
    let unaccounted: Vec<String> = created
        .iter()
        .filter(|id| !audited_set.contains(id))
        .cloned()
        .collect();
    let received = soak.back.requests.received.lock().expect("counts").clone();
    let repeated: Vec<&String> = received
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    let mut repeated_windows = BTreeMap::new();
    for id in &repeated {
        let d = soak.deliveries.iter().find(|d| &&d.request_id == id);
        let w = d.and_then(|d| d.window).map_or("no kill", Window::label);
        *repeated_windows.entry(w).or_default() += 1;
    }
    let prefix = ExecutorSettings::default().audit_prefix;
    let listed = soak.back.store.list(&prefix).await.expect("list audit records");
    let accepted = soak.accepted().count();
    let completed = audits
        .values()
        .filter(|a| a.status == RequestStatus::Completed)
        .count();
    let create_ops = [
        mde_defender::api::endpoint::MDE_ISOLATE.name,
        mde_defender::api::endpoint::MDE_UNISOLATE.name,
    ];
    Figures {
        accepted,
        same_answer: soak
            .deliveries
            .iter()
            .filter(|d| d.accepted.windows(2).all(|w| w[0] == w[1]))
            .count(),
        messages: received.values().sum(),
        repeated: repeated.len(),
        repeated_windows,
        audit_records: listed.len(),
        completed,
        performed_once: audits
            .values()
            .filter(|a| a.attempts == 1)
            .filter(|a| {
                a.calls
                    .iter()
                    .filter(|c| create_ops.contains(&c.operation.as_str()))
                    .count()
                    == 1
            })
            .count(),
        created: created.len(),
        create_calls: create_calls(&soak.back.sandbox),
        reused: audits
            .values()
            .filter(|a| a.machine_action.as_ref().is_some_and(|m| m.reused))
            .count(),
        shared: audits.values().filter(|a| shared_state(a).is_some()).count(),
        duplicated_actions: unaccounted.len() + (audited.len() - audited_set.len()),
        unaccounted,
        lost: soak
            .accepted()
            .filter(|d| {
                audits
                    .get(&d.request_id)
                    .is_none_or(|a| a.machine_action.is_none() && shared_state(a).is_none())
            })
            .count(),
        stalls: soak.deliveries.len() - accepted + (accepted - completed),
        status_completed,
    }
}

fn report(soak: &Soak, f: &Figures, seed: u64, window_ms: f64, phases: [f64; 3]) -> SoakReport {
    let t = &soak.tally;
    let mut r = SoakReport::new("webhook");
    let answers: Vec<String> = t.by_status.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    r.line("rounds", soak.deliveries.len())
        .line("seed (SOAK_WEBHOOK_SEED)", seed)
        .line(
            "function",
            std::env::var(BINARY_VAR).map_or(
                "alert_webhook::lambda::serve (what main runs), in a re-executed test binary".into(),
                |b| b,
            ),
        )
        .line("devices", soak.machines.len())
        .line(
            "invocation time, calibrated (ms)",
            format!(
                "{:.1}; kills at 0..{window_ms:.1} ms, stratified",
                window_ms / 1.25
            ),
        )
        .line("deliveries sent (retries included)", t.sent)
        .line(
            "most attempts for one delivery",
            soak.deliveries.iter().map(|d| d.attempts).max().unwrap_or(0),
        )
        .line("answers", answers.join(", "))
        .line("killed before answering", t.killed_unanswered)
        .line("kills", t.windows.values().sum::<u64>())
        .line(
            "function processes started",
            format!(
                "{} (warm-ups lost to a killed process: {})",
                soak.function.starts, soak.function.lost_warmups
            ),
        );
    for w in [
        Window::BeforeClaim,
        Window::ClaimedNotQueued,
        Window::QueuedNotCompleted,
        Window::CompletedNotAnswered,
        Window::AfterAnswer,
    ] {
        r.line(
            &format!("  {}", w.label()),
            t.windows.get(&w).copied().unwrap_or(0),
        );
    }
    r.line("requests accepted (202)", f.accepted)
        .line("deliveries with one answer on every 202", f.same_answer)
        .line("request messages received by the executor", f.messages)
        .line(
            "duplicated messages (a takeover queued the request again)",
            format!("{} {:?}", f.repeated, f.repeated_windows),
        )
        .line("audit records", f.audit_records)
        .line("requests executed and completed", f.completed)
        .line("performed once (1 attempt, 1 create call)", f.performed_once)
        .line("Defender actions created", f.created)
        .line("create calls answered 201 (sandbox log)", f.create_calls)
        .line("reused actions", f.reused)
        .line(
            "shared the action that had put the device in the asked state",
            f.shared,
        )
        .line("status endpoint: completed", f.status_completed)
        .line("lost (accepted, never executed)", f.lost)
        .line("duplicated actions", f.duplicated_actions)
        .line("stalls", f.stalls)
        .line("executor runs", soak.back.runs)
        .line(
            "wall time (s)",
            format!(
                "{:.1} (rounds {:.1}, lease tail {:.1}, completion {:.1})",
                phases.iter().sum::<f64>(),
                phases[0],
                phases[1],
                phases[2]
            ),
        );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_webhook_between_enqueue_and_completion_never_yields_two_actions() {
    let rounds = usize::try_from(size("SOAK_WEBHOOK_ROUNDS", BOUNDED_ROUNDS)).expect("rounds");
    assert!(
        rounds > CALIBRATION_ROUNDS,
        "SOAK_WEBHOOK_ROUNDS must exceed {CALIBRATION_ROUNDS}"
    );
    let seed = std::env::var("SOAK_WEBHOOK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0x9E37_79B9, |d| d.as_nanos() as u64) ^ u64::from(std::process::id())
        });
    let mut rng = Rng(seed | 1);
    let mut soak = Soak::start().await;
    let actions_before = soak.back.actions(&soak.machines);
    let mut phase = Instant::now();
    let mut phases = [0.0; 3];

    let mut timings = Vec::new();
    let strata = rng.shuffled(rounds - CALIBRATION_ROUNDS);
    let mut window_ms = 0.0;
    for round in 0..rounds {
        let mut d = soak.delivery(round);
        soak.tally.sent += 1;
        if round < CALIBRATION_ROUNDS {
            timings.push(soak.calibrate(&mut d).await);
            timings.sort_by(f64::total_cmp);
            window_ms = timings[timings.len() / 2] * 1.25;
        } else {
            let stratum = strata[round - CALIBRATION_ROUNDS] as f64;
            let delay = window_ms * (stratum + rng.unit()) / strata.len() as f64;
            soak.kill(&mut d, Duration::from_secs_f64(delay / 1000.0)).await;
        }
        soak.back.run().await;
        soak.deliveries.push(d);
        soak.retry_due().await;
    }
    phases[0] = phase.elapsed().as_secs_f64();
    phase = Instant::now();
    soak.retry_until_answered().await;
    phases[1] = phase.elapsed().as_secs_f64();
    phase = Instant::now();
    let audits = soak.complete().await;
    let status_completed = soak.statuses_completed().await;
    soak.stop_function().await;
    phases[2] = phase.elapsed().as_secs_f64();

    let created: HashSet<String> = soak
        .back
        .actions(&soak.machines)
        .difference(&actions_before)
        .cloned()
        .collect();
    let f = figures(&soak, &audits, &created, status_completed).await;
    let file = report(&soak, &f, seed, window_ms, phases).publish();
    eprintln!("report: {}", file.display());

    let in_window = soak
        .tally
        .windows
        .get(&Window::QueuedNotCompleted)
        .copied()
        .unwrap_or(0);
    assert!(
        in_window > 0,
        "no kill landed between enqueue and completion: the soak proved nothing (seed {seed})"
    );
    assert_eq!(
        f.stalls, 0,
        "every delivery answered 202 and every request completed"
    );
    assert_eq!(
        f.same_answer, rounds,
        "every 202 of a delivery is the same answer"
    );
    assert_eq!(f.lost, 0, "every accepted request executed");
    assert!(
        f.unaccounted.is_empty(),
        "Defender actions no audit record accounts for (a second action for a request): {:?}",
        f.unaccounted
    );
    assert_eq!(f.duplicated_actions, 0, "one Defender action per request");
    assert_eq!(f.audit_records, rounds, "one audit record per delivery");
    // A round whose request found its device already in the asked state (an earlier round's request, delayed by a
    // kill, ran after it) shares that action and creates none; every other round creates exactly one.
    assert_eq!(
        f.performed_once + f.shared,
        rounds,
        "each request performed once, or shared the state's action"
    );
    assert_eq!(
        f.created + f.shared,
        rounds,
        "one Defender action per round that needed one"
    );
    assert_eq!(
        f.create_calls + f.shared,
        rounds,
        "one action-creating Defender call per round that needed one"
    );
    assert_eq!(f.reused, 0, "no round shared another's pending action");
    assert_eq!(f.status_completed, rounds, "the status endpoint says completed");
    for d in &soak.deliveries {
        let audit = &audits[&d.request_id];
        assert_eq!(audit.webhook_id, d.webhook_id);
        if let Some(already) = shared_state(audit) {
            assert!(
                created.contains(already),
                "round {}: shared {already}, an action of the soak",
                d.round
            );
            continue;
        }
        let action = audit.machine_action.as_ref().expect("its machine action");
        assert_eq!(action.machine_id, d.machine_id, "round {}", d.round);
    }
}
