//! Soak with process kills: `SOAK_INDICATORS` indicators (2,000 in the test command, 10,000 under `scripts/soak`)
//! on an SQS queue in moto with a redrive policy (dead-letter queue after 5 receives), consumed by the BUILT
//! `indicator-push` binary under a local Lambda Runtime API, into a sandbox that answers the indicator endpoints
//! with 5xx, 429, dropped connections, truncated bodies and delays at random and refuses some items per item.
//!
//! The test is the event source mapping: it receives batches with the SDK, invokes the function, and deletes the
//! messages its answer does not name in `batchItemFailures` (none when the invocation fails). At random it
//! SIGKILLs the function process at a uniformly random moment of an invocation: nothing of that batch is
//! deleted, SQS delivers it again after the (short) visibility timeout, and a fresh process takes over the same
//! Runtime API, as Lambda replaces a crashed environment. Messages for a tenant that never consented are
//! deferred on every receive, so the dead-letter queue is exercised too.
//!
//! It proves: every indicator ends in its tenant's Defender (held once), in a rejects object with a reason (an
//! invalid one naming its field), or with its message in the dead-letter queue (with the reason it was
//! deferred): lost = 0; no invocation stalls; no secret in the function's output. It counts how often an
//! indicator was submitted again, and why. The figures are the soak report "indicators" (`SOAK_SEED` repeats
//! a run's kills and faults, though not its timing).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use common::*;
use mde_contracts::IndicatorReject;
use mde_platform::Queue;
use mde_platform::objects::S3ObjectStore;
use mde_platform::queue::SqsQueue;
use mde_platform::testing::soak::{SoakReport, size};
use mde_platform::testing::{LambdaRuntime, aws_endpoint, unique_name};
use mde_sandbox::{FaultKind, FaultRule, ImportFailureRule, SandboxHandle};
use rand::rngs::SmallRng;
use rand::{RngExt as _, SeedableRng as _};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;
use tokio::task::JoinHandle;

/// Indicators in the test command's run (`SOAK_INDICATORS` overrides).
const BOUNDED: u64 = 2_000;
/// Indicators per message.
const PER_MESSAGE: usize = 10;
/// Messages per invocation (one SQS receive).
const BATCH: i32 = 10;
/// The redrive policy: a message received this many times without being deleted goes to the dead-letter queue.
const MAX_RECEIVES: u32 = 5;
/// The main queue's visibility timeout: a killed invocation's messages come back this soon.
const VISIBILITY_SECONDS: u32 = 3;
/// The function's timeout: an invocation neither answered nor killed by then is a stall (below the 30 s
/// `LambdaRuntime::invoke` waits before it panics).
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(25);
/// The share of invocations whose process is killed.
const KILL_CHANCE: f64 = 0.35;
/// A kill comes at least this long after the event is handed over (so the process holds it; see `Function`).
const MIN_KILL_DELAY: Duration = Duration::from_millis(50);
/// Defender's per-item refusal: values containing this (1 in 100) are rejected with the reason below.
const REFUSED: &str = "77.example";
const REFUSED_REASON: &str = "Indicator value is on Microsoft's allow list";

/// `SOAK_SEED`, else one from the clock (reported, so a failing run can be repeated).
fn seed() -> u64 {
    size(
        "SOAK_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64,
    )
}

/// A fault on every indicator endpoint (list, import, batch delete) with chance `probability`.
fn fault(fault: FaultKind, probability: f64) -> FaultRule {
    FaultRule::random("/api/indicators*", fault, probability)
}

/// About one call in four is faulted; the function's client retries (4 times), so some calls still fail.
fn faults() -> Vec<FaultRule> {
    vec![
        fault(FaultKind::Status { status: 503 }, 0.08),
        fault(
            FaultKind::TooManyRequests {
                retry_after_seconds: 1,
            },
            0.05,
        ),
        fault(FaultKind::DropConnection, 0.04),
        fault(FaultKind::TruncatedBody, 0.04),
        fault(FaultKind::Delay { millis: 400 }, 0.04),
    ]
}

/// The messages: `PER_MESSAGE` indicators each, one in three to Fabrikam, one in fifty to Northwind (never
/// consented: deferred on every receive, so dead-lettered), the others to Contoso; every 40th indicator is a
/// private address (invalid: rejected naming `indicatorValue`), values containing `REFUSED` Defender refuses.
fn messages(count: usize) -> Vec<(&'static str, Vec<Value>)> {
    let all: Vec<usize> = (0..count).collect();
    all.chunks(PER_MESSAGE)
        .enumerate()
        .map(|(m, chunk)| {
            let tenant = match m {
                _ if m % 50 == 49 => UNCONSENTED,
                _ if m % 3 == 0 => PARTIAL,
                _ => FULL,
            };
            let indicators = chunk
                .iter()
                .map(|i| match i % 40 {
                    39 => indicator(
                        "IpAddress",
                        &format!("192.168.{}.{}", i / 250 % 250, i % 250),
                        "Block",
                    ),
                    _ => indicator("DomainName", &format!("kill-{i}.example.com"), "Block"),
                })
                .collect();
            (tenant, indicators)
        })
        .collect()
}

/// moto: the main queue (short visibility timeout, redrive to the dead-letter queue) and the function's bucket.
struct Aws {
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    main: String,
    dlq: String,
    bucket: String,
}

async fn aws() -> Aws {
    let sdk = mde_platform::testing::aws_sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique_name("indicator-kills");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq = sqs
        .create_queue()
        .queue_name(unique_name("indicators-dlq"))
        .send()
        .await
        .expect("create the dead-letter queue")
        .queue_url
        .expect("queue url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dead-letter queue attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("dead-letter queue ARN");
    let redrive = json!({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVES});
    let main = sqs
        .create_queue()
        .queue_name(unique_name("indicators"))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY_SECONDS.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .expect("create the main queue")
        .queue_url
        .expect("queue url");
    Aws {
        sqs,
        s3,
        main,
        dlq,
        bucket,
    }
}

/// Up to `BATCH` messages with their receive counts, waiting up to `wait` seconds for one.
async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, wait: i32) -> Vec<Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(BATCH)
        .wait_time_seconds(wait)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
}

/// No message visible, in flight or delayed.
async fn queue_is_empty(sqs: &aws_sdk_sqs::Client, url: &str) -> bool {
    let counts = [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ];
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .set_attribute_names(Some(counts.to_vec()))
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    counts.iter().all(|c| attributes.get(c).is_none_or(|n| n == "0"))
}

/// The ids of every message in the dead-letter queue.
async fn dead_letters(sqs: &aws_sdk_sqs::Client, url: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    loop {
        let batch = receive(sqs, url, 1).await;
        if batch.is_empty() {
            return ids;
        }
        ids.extend(batch.iter().filter_map(|m| m.message_id.clone()));
    }
}

/// The event Lambda's SQS event source mapping sends for `batch`.
fn sqs_event(batch: &[Message]) -> Value {
    let records: Vec<Value> = batch
        .iter()
        .map(|m| {
            let count = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned()
                .unwrap_or_else(|| "1".into());
            json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:indicators",
                "awsRegion": "us-east-1", "attributes": {"ApproximateReceiveCount": count}, "messageAttributes": {},
            })
        })
        .collect();
    json!({ "Records": records })
}

/// How an invocation ended.
enum Outcome {
    /// The function's answer (`batchItemFailures`).
    Answered(Value),
    /// A function error: every message of the batch is to retry.
    FunctionError,
    /// Killed by the test mid-invocation.
    Killed,
    /// Not answered within `FUNCTION_TIMEOUT` (then killed, as Lambda ends a timed-out environment).
    Stalled,
}

/// What one invocation did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Done,
    Deferred,
    Killed,
    Stalled,
}

/// One invocation: the last sandbox request before it (its own requests come after), each message's fate.
struct Run {
    after_seq: u64,
    fates: HashMap<String, Fate>,
}

/// The function: one process at a time on one Runtime API, its output drained (a full pipe would block it) and
/// kept. Each new process is sent an empty batch first and answers it: the process is then initialised and
/// polling, so the next event is handed to it and a kill never leaves an event in the Runtime API's queue.
struct Function {
    runtime: LambdaRuntime,
    env: Vec<(&'static str, String)>,
    child: Option<(Child, [JoinHandle<()>; 2])>,
    started: u32,
    output: Arc<Mutex<Vec<String>>>,
}

impl Function {
    async fn start(sandbox: &SandboxHandle, aws: &Aws, secrets: &Path) -> Self {
        let base = sandbox.base_url();
        let tenants = format!(
            r#"[{{tenant_id="{FULL}", display_name="Contoso", actions=["add_indicator"]}}, {{tenant_id="{PARTIAL}", display_name="Fabrikam", actions=["add_indicator"]}}, {{tenant_id="{UNCONSENTED}", display_name="Northwind", actions=["add_indicator"]}}]"#
        );
        let env = vec![
            ("MDE_BRIDGE_AWS_REGION", "us-east-1".to_owned()),
            ("MDE_BRIDGE_AWS_ENDPOINT_URL", aws_endpoint()),
            ("MDE_BRIDGE_PARTNER_COMPANY", "Contoso".to_owned()),
            ("MDE_BRIDGE_PARTNER_PRODUCT", "Indicators".to_owned()),
            ("MDE_BRIDGE_PARTNER_VERSION", "1.0".to_owned()),
            ("MDE_BRIDGE_CLOUD_LOGIN_URL", base.clone()),
            ("MDE_BRIDGE_CLOUD_MDE_API_URL", base.clone()),
            ("MDE_BRIDGE_CLOUD_M365D_API_URL", base.clone()),
            ("MDE_BRIDGE_CLOUD_GRAPH_URL", base),
            ("MDE_BRIDGE_CREDENTIAL_BACKEND", "local".to_owned()),
            ("MDE_BRIDGE_CREDENTIAL_LOCAL_FILE", secrets.display().to_string()),
            ("MDE_BRIDGE_STORAGE_BUCKET", aws.bucket.clone()),
            ("MDE_BRIDGE_STORAGE_PREFIX", "indicators".to_owned()),
            ("MDE_BRIDGE_TENANTS", tenants),
            ("MDE_BRIDGE_INDICATORS_ACTIVE_CAP", "15000".to_owned()),
        ];
        let mut function = Self {
            runtime: LambdaRuntime::start("indicator-push").await,
            env,
            child: None,
            started: 0,
            output: Arc::default(),
        };
        function.spawn().await;
        function
    }

    /// Starts a process and waits until it has answered an empty batch.
    async fn spawn(&mut self) {
        let mut child = self
            .runtime
            .command(env!("CARGO_BIN_EXE_indicator-push"))
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .spawn()
            .expect("start the indicator-push binary");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let drains = [
            drain(stdout, self.output.clone()),
            drain(stderr, self.output.clone()),
        ];
        self.child = Some((child, drains));
        self.started += 1;
        let id = format!("init-{}", self.started);
        let init = self.runtime.invoke(&id, json!({"Records": []}));
        let answer = tokio::time::timeout(FUNCTION_TIMEOUT, init)
            .await
            .expect("a new process answers an empty batch in time");
        assert!(answer.is_ok(), "an empty batch: {answer:?}");
    }

    /// SIGKILL; waits for the process to end and its output to be read.
    async fn stop(&mut self) {
        if let Some((mut child, drains)) = self.child.take() {
            child.kill().await.expect("kill the function");
            for d in drains {
                d.await.expect("output drained");
            }
        }
    }

    /// Invokes the function with `event`; kills it after `kill_after` if it has not answered by then, or after
    /// `FUNCTION_TIMEOUT`; after a kill a fresh process takes over.
    async fn invoke(&mut self, id: &str, event: Value, kill_after: Option<Duration>) -> Outcome {
        let outcome = {
            let answer = self.runtime.invoke(id, event);
            let kill = async {
                match kill_after {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                answer = answer => return match answer {
                    Ok(answer) => Outcome::Answered(answer),
                    Err(_) => Outcome::FunctionError,
                },
                () = kill => Outcome::Killed,
                () = tokio::time::sleep(FUNCTION_TIMEOUT) => Outcome::Stalled,
            }
        };
        self.stop().await;
        self.spawn().await;
        outcome
    }
}

/// Reads `stream` line by line into `into` until it closes.
fn drain(stream: impl AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<Vec<String>>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().expect("output").push(line);
        }
    })
}

/// The sequence number of the sandbox's latest request (0 before any).
fn last_seq(sandbox: &SandboxHandle) -> u64 {
    sandbox.requests().last().map_or(0, |r| r.seq)
}

/// For each value, the runs whose imports carried it and Defender answered 200 (so applied it, though a
/// truncated answer may not have reached the function), in order.
fn submissions(sandbox: &SandboxHandle, runs: &[Run]) -> HashMap<String, Vec<usize>> {
    let mut out: HashMap<String, Vec<usize>> = HashMap::new();
    for r in sandbox.requests() {
        if r.method != "POST" || r.path != "/api/indicators/import" || r.status != Some(200) {
            continue;
        }
        let run = runs.partition_point(|x| x.after_seq < r.seq).saturating_sub(1);
        let body: Value = serde_json::from_str(&r.body).expect("an import body");
        for i in body["Indicators"].as_array().expect("Indicators") {
            let value = i["indicatorValue"].as_str().expect("indicatorValue");
            out.entry(value.to_owned()).or_default().push(run);
        }
    }
    out
}

/// Why each submission after an indicator's first happened: the fate of its message in the run of the previous
/// submission (the same run: the client retried an import whose answer it could not read).
fn duplicate_causes(
    submissions: &HashMap<String, Vec<usize>>,
    message_of: &HashMap<String, String>,
    runs: &[Run],
) -> BTreeMap<&'static str, usize> {
    let mut causes = BTreeMap::new();
    for (value, seen) in submissions {
        for pair in seen.windows(2) {
            let fate = message_of.get(value).and_then(|m| runs[pair[0]].fates.get(m));
            let cause = match (pair[0] == pair[1], fate) {
                (true, _) => "retried in the same invocation (import answer truncated)",
                // A value Defender refuses is never held, so a redelivery sends it again; a held one is found
                // unchanged in the listing and not sent.
                (false, Some(Fate::Killed)) if value.contains(REFUSED) => {
                    "refused by Defender, sent again after a kill"
                }
                (false, Some(Fate::Killed)) => "redelivered after a kill",
                (false, Some(Fate::Deferred)) => "redelivered after a deferral",
                (false, Some(Fate::Stalled)) => "redelivered after a stall",
                (false, _) => "unexplained",
            };
            *causes.entry(cause).or_default() += 1;
        }
    }
    causes
}

/// The last reason the function logged for deferring each message, without its remedy (after the first ": ").
fn deferral_reasons(output: &[String]) -> HashMap<String, String> {
    output
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "message deferred; it returns to the queue")
        .filter_map(|l| {
            Some((
                l["message_id"].as_str()?.to_owned(),
                l["reason"].as_str()?.split(": ").next()?.to_owned(),
            ))
        })
        .collect()
}

fn joined(counts: &BTreeMap<impl std::fmt::Display, usize>) -> String {
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indicators_under_faults_and_kills_end_applied_rejected_or_dead_lettered() {
    let count = usize::try_from(size("SOAK_INDICATORS", BOUNDED)).expect("a count");
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut config = sandbox_config();
    config.data.seed = seed;
    config.faults = faults();
    let sandbox = start(config).await;
    sandbox.fail_import_items(ImportFailureRule {
        value_contains: REFUSED.into(),
        reason: REFUSED_REASON.into(),
        times: None,
    });
    let aws = aws().await;
    // The demo credential of the sandbox's application, in the local secret file the binary reads.
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
    let mut function = Function::start(&sandbox, &aws, secrets.path()).await;

    let bodies = messages(count);
    let texts: Vec<String> = bodies
        .iter()
        .map(|(t, i)| json!({"op": "upsert", "tenants": t, "indicators": i}).to_string())
        .collect();
    let ids = SqsQueue::new(aws.sqs.clone(), &aws.main)
        .send_many(&texts)
        .await
        .expect("send");
    let sent: BTreeMap<String, (&str, Vec<Value>)> = ids.into_iter().zip(bodies).collect();

    // The event source mapping, until the main queue is empty (everything deleted or dead-lettered).
    let started = Instant::now();
    let limit = Duration::from_secs(120) + Duration::from_millis(100) * u32::try_from(count).expect("count");
    let mut runs: Vec<Run> = Vec::new();
    let (mut receives, mut kills, mut kills_drawn, mut stalls) = (0usize, 0u32, 0u32, 0u32);
    // A running mean of answered invocations' durations: kills fall uniformly within it.
    let mut typical = Duration::from_secs(2);
    loop {
        assert!(
            started.elapsed() < limit,
            "the queue is not empty after {limit:?}"
        );
        let batch = receive(&aws.sqs, &aws.main, 1).await;
        if batch.is_empty() {
            if queue_is_empty(&aws.sqs, &aws.main).await {
                break;
            }
            continue;
        }
        receives += batch.len();
        let kill_after = rng.random_bool(KILL_CHANCE).then(|| {
            MIN_KILL_DELAY
                + typical
                    .saturating_sub(MIN_KILL_DELAY)
                    .mul_f64(rng.random_range(0.0..1.0))
        });
        kills_drawn += u32::from(kill_after.is_some());
        let after_seq = last_seq(&sandbox);
        let began = Instant::now();
        let id = format!("run-{}", runs.len());
        let outcome = function.invoke(&id, sqs_event(&batch), kill_after).await;
        let ids = batch.iter().map(|m| m.message_id().expect("message id"));
        let fates: HashMap<String, Fate> = match outcome {
            Outcome::Answered(answer) => {
                typical = (typical * 3 + began.elapsed()) / 4;
                let failed: BTreeSet<&str> = answer["batchItemFailures"]
                    .as_array()
                    .expect("a partial batch response")
                    .iter()
                    .filter_map(|f| f["itemIdentifier"].as_str())
                    .collect();
                for m in batch
                    .iter()
                    .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
                {
                    aws.sqs
                        .delete_message()
                        .queue_url(&aws.main)
                        .receipt_handle(m.receipt_handle().expect("receipt"))
                        .send()
                        .await
                        .expect("delete");
                }
                ids.map(|id| {
                    let fate = if failed.contains(id) {
                        Fate::Deferred
                    } else {
                        Fate::Done
                    };
                    (id.to_owned(), fate)
                })
                .collect()
            }
            Outcome::FunctionError => ids.map(|id| (id.to_owned(), Fate::Deferred)).collect(),
            Outcome::Killed => {
                kills += 1;
                ids.map(|id| (id.to_owned(), Fate::Killed)).collect()
            }
            Outcome::Stalled => {
                stalls += 1;
                ids.map(|id| (id.to_owned(), Fate::Stalled)).collect()
            }
        };
        runs.push(Run { after_seq, fates });
    }
    let wall = started.elapsed();
    function.stop().await;

    // Where each indicator ended.
    let dead = dead_letters(&aws.sqs, &aws.dlq).await;
    let store = S3ObjectStore::new(aws.s3.clone(), &aws.bucket, "indicators");
    let rejects: Vec<IndicatorReject> = rejects(&store).await;
    let mut rejected: HashMap<(String, String), Vec<&IndicatorReject>> = HashMap::new();
    for r in &rejects {
        let value = r.indicator["indicatorValue"].as_str().unwrap_or_default();
        rejected
            .entry((r.message_id.clone(), value.to_owned()))
            .or_default()
            .push(r);
    }
    let mut held: HashMap<(&str, String), usize> = HashMap::new();
    for tenant in [FULL, PARTIAL, UNCONSENTED] {
        for value in values_in(&sandbox, tenant) {
            *held.entry((tenant, value)).or_default() += 1;
        }
    }
    let (mut applied, mut refused, mut dead_lettered) = (0usize, 0usize, 0usize);
    let mut lost = Vec::new();
    let mut message_of = HashMap::new();
    for (id, (tenant, indicators)) in &sent {
        for i in indicators {
            let value = i["indicatorValue"].as_str().expect("value").to_owned();
            message_of.insert(value.clone(), id.clone());
            if let Some(found) = rejected.get(&(id.clone(), value.clone())) {
                assert!(found.iter().all(|r| !r.reason.is_empty()), "{found:?}");
                if value.starts_with("192.168.") {
                    assert!(
                        found.iter().all(|r| r.field.as_deref() == Some("indicatorValue")),
                        "an invalid value's reject names the field: {found:?}"
                    );
                }
                if value.contains(REFUSED) {
                    assert!(
                        found.iter().all(|r| r.reason.contains(REFUSED_REASON)),
                        "Defender's reason is kept: {found:?}"
                    );
                }
                refused += 1;
            } else if held.contains_key(&(*tenant, value.clone())) {
                applied += 1;
            } else if dead.contains(id) {
                dead_lettered += 1;
            } else {
                lost.push(value);
            }
        }
    }
    let reject_copies: usize = rejected.values().map(|r| r.len() - 1).sum();
    let held_twice = held.values().filter(|n| **n > 1).count();

    // Why indicators were submitted again, and why messages were dead-lettered.
    let submitted = submissions(&sandbox, &runs);
    let causes = duplicate_causes(&submitted, &message_of, &runs);
    let duplicated: usize = causes.values().sum();
    let output = function.output.lock().expect("output").clone();
    let reasons = deferral_reasons(&output);
    let mut dead_reasons: BTreeMap<String, usize> = BTreeMap::new();
    for id in &dead {
        let reason = reasons
            .get(id)
            .cloned()
            .unwrap_or_else(|| "killed or timed out on each receive".into());
        *dead_reasons.entry(reason).or_default() += 1;
    }
    let tally = sandbox.fault_tally();
    let injected: u64 = tally.iter().map(|t| t.fired).sum();
    let by_kind: BTreeMap<String, usize> = tally
        .iter()
        .map(|t| {
            let kind = serde_json::to_value(&t.rule.fault).expect("a fault kind")["kind"].to_string();
            (kind.trim_matches('"').to_owned(), t.fired as usize)
        })
        .collect();

    SoakReport::new("indicators")
        .line("seed (SOAK_SEED)", seed)
        .line(
            "indicators in",
            format!(
                "{count} in {} messages (every 40th invalid, values with {REFUSED:?} refused by Defender)",
                sent.len()
            ),
        )
        .line(
            "runs (invocations)",
            format!("{} ({receives} receives of {} messages)", runs.len(), sent.len()),
        )
        .line("processes started", function.started)
        .line(
            "kills (SIGKILL mid-invocation)",
            format!("{kills} ({kills_drawn} drawn; the others answered first)"),
        )
        .line("faults injected", format!("{injected}: {}", joined(&by_kind)))
        .line("applied (in Defender)", applied)
        .line("rejected (with a reason)", refused)
        .line(
            "dead-lettered",
            format!(
                "{dead_lettered} in {} messages: {}",
                dead.len(),
                joined(&dead_reasons)
            ),
        )
        .line("lost", lost.len())
        .line(
            "duplicated submissions",
            format!("{duplicated}: {}; held once in Defender", joined(&causes)),
        )
        .line(
            "duplicated reject lines",
            format!("{reject_copies} (a kill after the rejects were written)"),
        )
        .line("stalls", stalls)
        .line("wall time", format!("{:.1} s", wall.as_secs_f64()))
        .publish();

    assert!(lost.is_empty(), "lost: {:?}", &lost[..lost.len().min(10)]);
    assert_eq!(applied + refused + dead_lettered, count);
    assert_eq!(stalls, 0, "invocations that did not answer in time");
    assert_eq!(held_twice, 0, "Defender holds each indicator once");
    assert_eq!(causes.get("unexplained"), None, "{causes:?}");
    assert!(kills > 0 && injected > 0, "kills and faults happened");
    assert!(
        reject_copies == 0 || kills > 0,
        "rejects are written once unless a kill interrupts"
    );
    assert!(
        !output.iter().any(|l| l.contains(mde_sandbox::DEMO_CLIENT_SECRET)),
        "the function's output holds no secret"
    );
}
