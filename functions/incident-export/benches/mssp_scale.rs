//! Benchmark harness, not a test (it never runs in CI): one deployment serving many tenants. For each tenant count
//! T it runs the BUILT `incident-export` binary as C processes polling one local Lambda Runtime API, against
//! moto (the tenant registry in DynamoDB, the fan-out queue in SQS, the credential in Secrets Manager, exports in
//! S3) and the sandbox holding the T tenants with a handful of alerts each, every tenant configured for all four
//! datasets. Each schedule tick is what a deployment does every 5 minutes: invoke the function with
//! `{"fan_out": true}` (one job per tenant on the queue), then — playing the SQS event source mapping — receive
//! batches of up to 10 messages with C batches in flight, invoke the function with each, delete the messages the
//! answer does not name in `batchItemFailures` (the named ones are made visible again, and dropped as
//! dead-lettered at their 5th receive, the stack's `max_receive_count`), until the queue is empty. Between ticks
//! the sandbox's simulated time moves by the schedule interval.
//!
//! Per tick it prints wall time, invocations, registry reads (the functions' `tenant registry loaded` log lines
//! and their DynamoDB Scan calls), token requests and API calls as the sandbox logged them, and the per-tenant
//! cost; tokens are also counted per (tenant, API) over all ticks, as the ticks happen within one token lifetime.
//!
//! ```sh
//! scripts/moto start > /tmp/env.sh; source /tmp/env.sh; export MDE_TEST_AWS_ENDPOINT
//! cargo bench -p incident-export --bench mssp_scale
//! MSSP_TENANTS=20 MSSP_CONCURRENCY=10 MSSP_TICKS=2 cargo bench -p incident-export --bench mssp_scale
//! ```
//!
//! Variables: `MSSP_TENANTS` (comma-separated counts, default `200,1000,2000`), `MSSP_CONCURRENCY` (processes,
//! default 10), `MSSP_TICKS` (at least 2, default 2), `MSSP_BATCH` (messages per invocation, 1 to 10, default
//! 10), `MSSP_INTERVAL_SECONDS` (simulated time between ticks, default 300), `MSSP_ALERTS` (alerts per tenant,
//! default 6). Writes `target/bench/mssp.json`.

#[path = "common/report.rs"]
mod report;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use futures::StreamExt;
use mde_contracts::{Dataset, TenantConfig};
use mde_platform::TenantRegistry;
use mde_platform::registry::{DynamoRegistry, Expect};
use mde_platform::testing::{AWS_ENDPOINT_VAR, LambdaRuntime};
use mde_sandbox::{GrantedRoles, Sandbox, SandboxConfig, SandboxHandle, TenantSettings};
use report::{Report, Row};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// incident-export's timeout as deployed (infra: `timeout_seconds = 900`).
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);
/// The fan-out queue's visibility timeout as deployed (six times the function's timeout).
const VISIBILITY_TIMEOUT_SECONDS: i32 = 6 * 900;
/// Receives before a message is dead-lettered (the queue module's `max_receive_count`).
const MAX_RECEIVES: u32 = 5;
/// Token lifetime in the sandbox (Entra's usual `expires_in`).
const TOKEN_LIFETIME_SECONDS: u64 = 3599;

/// What the harness is asked to run.
struct Settings {
    tenants: Vec<usize>,
    concurrency: usize,
    ticks: usize,
    batch: i32,
    interval_seconds: u64,
    alerts: usize,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match std::env::var(name) {
                Err(_) => Ok(default),
                Ok(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name}={v:?} is not a whole number")),
            }
        };
        let tenants = std::env::var("MSSP_TENANTS").unwrap_or_else(|_| "200,1000,2000".into());
        let tenants =
            tenants
                .split(',')
                .map(|t| {
                    t.trim().parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("MSSP_TENANTS: {t:?} is not a tenant count (e.g. 200,1000,2000)")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
        let concurrency = number("MSSP_CONCURRENCY", 10)?;
        let ticks = number("MSSP_TICKS", 2)?;
        let batch = number("MSSP_BATCH", 10)?;
        let alerts = number("MSSP_ALERTS", 6)?;
        if concurrency == 0 {
            return Err("MSSP_CONCURRENCY must be at least 1".into());
        }
        if ticks < 2 {
            return Err("MSSP_TICKS must be at least 2 (a first run and a steady-state tick)".into());
        }
        if !(1..=10).contains(&batch) {
            return Err("MSSP_BATCH must be 1 to 10 (an SQS receive returns at most 10)".into());
        }
        if alerts == 0 {
            return Err("MSSP_ALERTS must be at least 1".into());
        }
        Ok(Self {
            tenants,
            concurrency: concurrency as usize,
            ticks: ticks as usize,
            batch: batch as i32,
            interval_seconds: number("MSSP_INTERVAL_SECONDS", 300)?,
            alerts: alerts as usize,
        })
    }
}

fn main() {
    let Ok(endpoint) = std::env::var(AWS_ENDPOINT_VAR) else {
        eprintln!(
            "mssp_scale needs the local AWS emulator: {AWS_ENDPOINT_VAR} is not set. Start it with\n  \
             scripts/moto start > /tmp/env.sh; source /tmp/env.sh; export {AWS_ENDPOINT_VAR}\nand run again."
        );
        std::process::exit(2);
    };
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mssp_scale: {e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let started = Instant::now();
    let runs = runtime.block_on(async {
        let mut runs = Vec::new();
        for &tenants in &settings.tenants {
            match run_scale(tenants, &settings, &endpoint).await {
                Ok(run) => runs.push(run),
                Err(e) => {
                    eprintln!("mssp_scale: the run with {tenants} tenants failed: {e}");
                    std::process::exit(1);
                }
            }
        }
        runs
    });
    print_table(&runs, &settings);
    let rows = rows(&runs, &settings);
    let report = Report::new("mssp", report::own_profile(), rows);
    match report.write("mssp.json") {
        Ok(path) => println!("\nwrote {}", path.display()),
        Err(e) => eprintln!("mssp_scale: could not write target/bench/mssp.json: {e}"),
    }
    println!("harness wall time {:.1} s", started.elapsed().as_secs_f64());
}

/// `i`-th tenant id: a valid GUID, stable between runs.
fn tenant_id(i: usize) -> String {
    format!("{:08x}-5eed-4000-8000-{:012x}", i + 1, i + 1)
}

/// What the function processes said on stdout (EMF) and stderr (logs) since the counters were last taken.
#[derive(Debug, Default)]
struct ProcessOutput {
    emf_lines: u64,
    api_calls_by_tenant: HashMap<String, u64>,
    records: u64,
    failed_datasets: u64,
    registry_loads: u64,
    registry_scans: u64,
    warnings: u64,
    errors: u64,
    /// The first few error lines, for the report.
    error_samples: Vec<String>,
    /// The first few warning lines (a shared token cache that could not be read or claimed, say), for the report.
    warning_samples: Vec<String>,
}

type SharedOutput = Arc<Mutex<ProcessOutput>>;

fn take_output(output: &SharedOutput) -> ProcessOutput {
    std::mem::take(&mut *output.lock().unwrap_or_else(PoisonError::into_inner))
}

fn note_stdout(output: &SharedOutput, line: &str) {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return;
    };
    if v.get("_aws").is_none() {
        return;
    }
    let mut out = output.lock().unwrap_or_else(PoisonError::into_inner);
    out.emf_lines += 1;
    let tenant = v["Tenant"].as_str().unwrap_or("?").to_owned();
    *out.api_calls_by_tenant.entry(tenant).or_default() += v["ApiCalls"].as_u64().unwrap_or(0);
    out.records += v["Records"].as_u64().unwrap_or(0);
    out.failed_datasets += v["Failures"].as_u64().unwrap_or(0);
}

fn note_stderr(output: &SharedOutput, line: &str) {
    let mut out = output.lock().unwrap_or_else(PoisonError::into_inner);
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        // Not a JSON log line: a panic message or the runtime's own output.
        if !line.trim().is_empty() {
            out.errors += 1;
            if out.error_samples.len() < 5 {
                out.error_samples.push(line.chars().take(300).collect());
            }
        }
        return;
    };
    match v["message"].as_str().unwrap_or_default() {
        "tenant registry loaded" => out.registry_loads += 1,
        "tenant registry: DynamoDB Scan call" => out.registry_scans += 1,
        _ => {}
    }
    match v["level"].as_str().unwrap_or_default() {
        "WARN" => {
            out.warnings += 1;
            if out.warning_samples.len() < 5 {
                out.warning_samples.push(line.chars().take(300).collect());
            }
        }
        "ERROR" => {
            out.errors += 1;
            if out.error_samples.len() < 5 {
                out.error_samples.push(line.chars().take(300).collect());
            }
        }
        _ => {}
    }
}

/// One function process: its pid (for /proc) and the channel that stops it.
struct Process {
    pid: u32,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

/// Starts `binary` under `runtime`, drains its output into `output`, and kills it when `stop` fires or the
/// `Process` is dropped. A process that exits by itself is counted in `exited`.
fn start_process(
    mut command: tokio::process::Command,
    output: &SharedOutput,
    exited: &Arc<std::sync::atomic::AtomicU64>,
) -> Process {
    command.stdin(Stdio::null());
    let mut child = command.spawn().expect("start the incident-export binary");
    let pid = child.id().expect("a running child has a pid");
    if let Some(stdout) = child.stdout.take() {
        let output = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                note_stdout(&output, &line);
            }
        });
    }
    if let Some(stderr) = child.stderr.take() {
        let output = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                note_stderr(&output, &line);
            }
        });
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let exited = exited.clone();
    let done = tokio::spawn(async move {
        tokio::select! {
            status = child.wait() => {
                exited.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                eprintln!("  incident-export process {pid} exited by itself: {status:?}");
            }
            _ = stopped => {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    });
    Process {
        pid,
        stop: Some(stop),
        done,
    }
}

impl Drop for Process {
    /// A process left behind (an early return) is killed too.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Process {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.done).await;
    }
}

/// CPU seconds (user + system) of `pid` from /proc (Linux reports clock ticks of 1/100 s).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    ticks as f64 / 100.0
}

/// The process listening on the port of `url` (the local AWS emulator), from /proc/net/tcp and the processes'
/// socket descriptors; `None` when it cannot be seen (another user's process, another network namespace).
fn listener_pid(url: &str) -> Option<u32> {
    let port: u16 = url.rsplit(':').next()?.trim_end_matches('/').parse().ok()?;
    let port_hex = format!("{port:04X}");
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|table| {
        std::fs::read_to_string(table)
            .ok()?
            .lines()
            .skip(1)
            .find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields.get(1)?.rsplit(':').next()?;
                // State 0A is LISTEN.
                (local_port == port_hex && fields.get(3) == Some(&"0A"))
                    .then(|| fields.get(9).map(|i| i.to_string()))?
            })
    })?;
    let socket = format!("socket:[{inode}]");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let fds = std::fs::read_dir(entry.path().join("fd")).ok()?;
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == socket))
            .then_some(pid)
    })
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| {
            v.trim_start_matches(':')
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The figures of one schedule tick.
#[derive(Debug, Default)]
struct Tick {
    wall: Duration,
    fan_out: Duration,
    invocations: u64,
    /// Sum of the invocations' durations (what Lambda bills), fan-out included.
    invoked: Duration,
    function_errors: u64,
    item_failures: u64,
    dead_lettered: u64,
    duplicates: u64,
    left_in_queue: u64,
    registry_loads: u64,
    registry_scans: u64,
    token_requests: u64,
    /// Token requests per (tenant, API audience) this tick.
    tokens: TokenCounts,
    api_calls: u64,
    api_throttled: u64,
    api_errors: u64,
    log_truncated: bool,
    emf: ProcessOutput,
    function_cpu: f64,
    harness_cpu: f64,
    /// CPU seconds of the local AWS emulator, when its process could be found.
    moto_cpu: Option<f64>,
}

/// The figures of one tenant count.
struct ScaleRun {
    tenants: usize,
    setup: Duration,
    ticks: Vec<Tick>,
    /// Token requests per (tenant, API) over all ticks.
    tokens: TokenCounts,
    peak_rss_kib: u64,
    exited: u64,
}

/// Where a tick's SQS work goes.
struct Consumer<'a> {
    sqs: &'a aws_sdk_sqs::Client,
    queue_url: &'a str,
    queue_arn: &'a str,
    runtime: &'a LambdaRuntime,
    batch: i32,
    tick: usize,
    /// Message ids delivered this tick, and whether the last delivery failed (so the next is a retry).
    delivered: Mutex<HashMap<String, bool>>,
}

#[derive(Debug, Default)]
struct Consumed {
    invocations: u64,
    invoked: Duration,
    function_errors: u64,
    item_failures: u64,
    dead_lettered: u64,
    /// Deliveries of a message that had already been delivered and had not failed (SQS is at-least-once).
    duplicates: u64,
}

impl Consumer<'_> {
    /// One poller of the event source mapping: receive, invoke, delete, until a receive finds nothing.
    async fn poll(&self, worker: usize) -> Result<Consumed, String> {
        let mut done = Consumed::default();
        for n in 0.. {
            let received = self
                .sqs
                .receive_message()
                .queue_url(self.queue_url)
                .max_number_of_messages(self.batch)
                .visibility_timeout(VISIBILITY_TIMEOUT_SECONDS)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(|e| format!("SQS ReceiveMessage: {e:?}"))?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            {
                let mut delivered = self.delivered.lock().unwrap_or_else(PoisonError::into_inner);
                for m in &messages {
                    let id = m.message_id().unwrap_or_default().to_owned();
                    if delivered.insert(id, false) == Some(false) {
                        done.duplicates += 1;
                    }
                }
            }
            let event = sqs_event(&messages, self.queue_arn);
            let id = format!("tick{}-poller{worker}-{n}", self.tick);
            let started = Instant::now();
            let answer = self
                .runtime
                .invoke_within(&id, event, FUNCTION_TIMEOUT + Duration::from_secs(60))
                .await;
            done.invocations += 1;
            done.invoked += started.elapsed();
            let ids: Vec<&str> = messages.iter().filter_map(|m| m.message_id()).collect();
            let failed: HashSet<String> = match answer {
                Some(Ok(reply)) => reply["batchItemFailures"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|i| i["itemIdentifier"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                Some(Err(error)) => {
                    done.function_errors += 1;
                    eprintln!("  invocation {id} failed: {error}");
                    ids.iter().map(|i| (*i).to_owned()).collect()
                }
                None => {
                    done.function_errors += 1;
                    eprintln!("  invocation {id} got no answer in time");
                    ids.iter().map(|i| (*i).to_owned()).collect()
                }
            };
            done.item_failures += failed.len() as u64;
            {
                let mut delivered = self.delivered.lock().unwrap_or_else(PoisonError::into_inner);
                for id in &failed {
                    delivered.insert(id.clone(), true);
                }
            }
            self.settle(&messages, &failed, &mut done).await?;
        }
        Ok(done)
    }

    /// Deletes the messages that succeeded (and those at their last receive); the others become visible again.
    async fn settle(
        &self,
        messages: &[Message],
        failed: &HashSet<String>,
        done: &mut Consumed,
    ) -> Result<(), String> {
        let mut delete = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let id = m.message_id().unwrap_or_default();
            let Some(receipt) = m.receipt_handle() else {
                continue;
            };
            let receives: u32 = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            if failed.contains(id) && receives < MAX_RECEIVES {
                let shown = self
                    .sqs
                    .change_message_visibility()
                    .queue_url(self.queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await;
                match shown {
                    Ok(_) => {}
                    // The message was received again meanwhile (moto, like SQS, is at-least-once): its newer
                    // receipt is another poller's; this delivery counts as a duplicate.
                    Err(e) if e.code() == Some("ReceiptHandleIsInvalid") => done.duplicates += 1,
                    Err(e) => return Err(format!("SQS ChangeMessageVisibility: {e:?}")),
                }
                continue;
            }
            if failed.contains(id) {
                done.dead_lettered += 1;
            }
            delete.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .map_err(|e| format!("a delete entry: {e}"))?,
            );
        }
        if !delete.is_empty() {
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(self.queue_url)
                .set_entries(Some(delete))
                .send()
                .await
                .map_err(|e| format!("SQS DeleteMessageBatch: {e:?}"))?;
            // A receipt moto no longer knows: the message was received again meanwhile (a duplicate delivery).
            let (stale, refused): (Vec<_>, Vec<_>) = out
                .failed()
                .iter()
                .partition(|f| f.code() == "ReceiptHandleIsInvalid");
            done.duplicates += stale.len() as u64;
            if !refused.is_empty() {
                return Err(format!("SQS DeleteMessageBatch refused {refused:?}"));
            }
        }
        Ok(())
    }
}

/// The SQS event Lambda's event source mapping sends for `messages`.
fn sqs_event(messages: &[Message], queue_arn: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let receives = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned()
                .unwrap_or_else(|| "1".into());
            json!({
                "messageId": m.message_id().unwrap_or_default(),
                "receiptHandle": m.receipt_handle().unwrap_or_default(),
                "body": m.body().unwrap_or_default(),
                "attributes": {"ApproximateReceiveCount": receives},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

/// What the sandbox logged in a tick: token requests per (tenant, API) and API calls.
fn read_sandbox_log(sandbox: &SandboxHandle, tick: &mut Tick) {
    let log = sandbox.requests();
    sandbox.clear_requests();
    // The log restarts at 1 when cleared and drops its oldest records past 100,000.
    tick.log_truncated = log.first().is_some_and(|r| r.seq != 1);
    for r in &log {
        if r.path.starts_with("/_sandbox") {
            continue;
        }
        if r.path.contains("/oauth2/") && r.path.ends_with("/token") {
            tick.token_requests += 1;
            let tenant = r.path.split('/').nth(1).unwrap_or_default().to_ascii_lowercase();
            let audience = url::form_urlencoded::parse(r.body.as_bytes())
                .find(|(k, _)| k == "scope" || k == "resource")
                .map(|(_, v)| api_name(&v))
                .unwrap_or_else(|| "?".into());
            *tick.tokens.entry((tenant, audience)).or_default() += 1;
            continue;
        }
        tick.api_calls += 1;
        match r.status {
            Some(429) => tick.api_throttled += 1,
            Some(s) if s >= 400 => tick.api_errors += 1,
            _ => {}
        }
    }
}

/// A short name of a token's audience (`https://api.securitycenter.microsoft.com/.default` → `mde`).
fn api_name(scope: &str) -> String {
    let host = scope
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or_default();
    match host {
        h if h.contains("securitycenter") => "mde".into(),
        h if h.starts_with("api.security.microsoft") => "m365d".into(),
        h if h.contains("graph") => "graph".into(),
        other => other.to_owned(),
    }
}

async fn run_scale(tenants: usize, settings: &Settings, endpoint: &str) -> Result<ScaleRun, String> {
    let setup_started = Instant::now();
    eprintln!(
        "== {tenants} tenants, {} processes: seeding the sandbox and moto",
        settings.concurrency
    );
    let ids: Vec<String> = (0..tenants).map(tenant_id).collect();
    let defaults = SandboxConfig::default();
    let config = SandboxConfig {
        tenants: ids
            .iter()
            .enumerate()
            .map(|(i, id)| TenantSettings {
                id: id.clone(),
                display_name: format!("Customer {i:05}"),
                consented: true,
                granted_roles: GrantedRoles::all(),
            })
            .collect(),
        data: mde_sandbox::DataSettings {
            alerts_per_tenant: settings.alerts,
            machines_per_tenant: 2,
            indicators_per_tenant: 0,
            ..defaults.data.clone()
        },
        ..defaults
    };
    let sandbox = Sandbox::start(config)
        .await
        .map_err(|e| format!("the sandbox did not start: {e}"))?;
    let base = sandbox.base_url();

    let sdk = mde_platform::testing::aws_sdk_config().await;
    let table = mde_platform::testing::create_registry_table(&sdk).await;
    // The shared token cache the token-broker's containers use in AWS (infra tokens.tf): here every export
    // process is a direct source over it, as a broker container is.
    let token_table =
        mde_platform::testing::create_table(&sdk, "mde-bridge-tokens", mde_tokens::DYNAMO_TOKEN_KEY).await;
    let registry = DynamoRegistry::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
    let registry = &registry;
    let written = futures::stream::iter(ids.iter().enumerate())
        .map(|(i, id)| async move {
            let mut record = TenantConfig::new(
                id.parse().expect("a generated tenant id is a GUID"),
                format!("Customer {i:05}"),
            );
            record.datasets = Dataset::ALL.to_vec();
            registry.put(&record, Expect::Absent).await
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    if let Some(Err(e)) = written.into_iter().find(|w| w.is_err()) {
        return Err(format!("writing the registry table: {e}"));
    }

    let secret_id = mde_platform::testing::unique_name("mde-bridge/app-credential");
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&secret_id)
        .secret_string(
            json!({
                "kind": "client_secret",
                "client_id": mde_sandbox::DEMO_CLIENT_ID,
                "client_secret": mde_sandbox::DEMO_CLIENT_SECRET,
            })
            .to_string(),
        )
        .send()
        .await
        .map_err(|e| format!("creating the credential secret: {e:?}"))?;
    let bucket = mde_platform::testing::unique_name("mssp");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    )
    .create_bucket()
    .bucket(&bucket)
    .send()
    .await
    .map_err(|e| format!("creating the bucket: {e:?}"))?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name(mde_platform::testing::unique_name("export-fan-out"))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY_TIMEOUT_SECONDS.to_string(),
        )
        .send()
        .await
        .map_err(|e| format!("creating the queue: {e:?}"))?
        .queue_url
        .ok_or("the new queue has no URL")?;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("reading the queue ARN: {e:?}"))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_else(|| "arn:aws:sqs:us-east-1:123456789012:export-fan-out".into());

    let runtime = LambdaRuntime::start_with_timeout("incident-export", FUNCTION_TIMEOUT).await;
    let output: SharedOutput = Arc::default();
    let exited = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut processes = Vec::new();
    for _ in 0..settings.concurrency {
        let mut command = runtime.command(env!("CARGO_BIN_EXE_incident-export"));
        command
            .env("RUST_LOG", "info,mde_platform::registry=debug")
            .env("MDE_BRIDGE_AWS_REGION", "us-east-1")
            .env("MDE_BRIDGE_AWS_ENDPOINT_URL", endpoint)
            .env("MDE_BRIDGE_PARTNER_COMPANY", "Contoso")
            .env("MDE_BRIDGE_PARTNER_PRODUCT", "MsspBench")
            .env("MDE_BRIDGE_PARTNER_VERSION", "1.0")
            .env("MDE_BRIDGE_CLOUD_LOGIN_URL", &base)
            .env("MDE_BRIDGE_CLOUD_MDE_API_URL", &base)
            .env("MDE_BRIDGE_CLOUD_M365D_API_URL", &base)
            .env("MDE_BRIDGE_CLOUD_GRAPH_URL", &base)
            .env("MDE_BRIDGE_CREDENTIAL_SECRET_ID", &secret_id)
            .env("MDE_BRIDGE_TOKENS_SOURCE", "direct")
            .env("MDE_BRIDGE_TOKENS_SHARED_CACHE_TABLE", &token_table)
            .env("MDE_BRIDGE_REGISTRY_BACKEND", "dynamodb")
            .env("MDE_BRIDGE_REGISTRY_TABLE", &table)
            .env("MDE_BRIDGE_STORAGE_BUCKET", &bucket)
            .env("MDE_BRIDGE_STORAGE_PREFIX", "siem")
            .env("MDE_BRIDGE_EXPORT_QUEUE_URL", &queue_url)
            // The seeded alerts go back 14 days; the default first pass reads 7.
            .env(
                "MDE_BRIDGE_EXPORT_INITIAL_LOOKBACK_SECONDS",
                (30 * 24 * 3600).to_string(),
            );
        processes.push(start_process(command, &output, &exited));
    }
    let expected = settings.concurrency as u64;
    if !runtime.wait_for_polls(expected, Duration::from_secs(60)).await {
        for p in processes {
            p.stop().await;
        }
        return Err(format!(
            "only {} of {expected} incident-export processes polled the Runtime API within 60 s: {:?}",
            runtime.polls(),
            take_output(&output).error_samples
        ));
    }
    sandbox.clear_requests();
    let _ = take_output(&output);
    let setup = setup_started.elapsed();
    let pids: Vec<String> = processes.iter().map(|p| p.pid.to_string()).collect();
    let ticked = Ticks {
        tenants,
        settings,
        runtime: &runtime,
        sandbox: &sandbox,
        sqs: &sqs,
        queue_url: &queue_url,
        queue_arn: &queue_arn,
        output: &output,
        pids: &pids,
        moto_pid: listener_pid(endpoint).map(|p| p.to_string()),
    }
    .run()
    .await;
    let peak_rss_kib = processes
        .iter()
        .map(|p| status_kib(p.pid, "VmHWM"))
        .max()
        .unwrap_or(0);
    for p in processes {
        p.stop().await;
    }
    sandbox.shutdown().await;
    let (ticks, tokens) = ticked?;
    Ok(ScaleRun {
        tenants,
        setup,
        ticks,
        tokens,
        peak_rss_kib,
        exited: exited.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// The ticks of one tenant count, over the processes started for it.
struct Ticks<'a> {
    tenants: usize,
    settings: &'a Settings,
    runtime: &'a LambdaRuntime,
    sandbox: &'a SandboxHandle,
    sqs: &'a aws_sdk_sqs::Client,
    queue_url: &'a str,
    queue_arn: &'a str,
    output: &'a SharedOutput,
    pids: &'a [String],
    moto_pid: Option<String>,
}

type TokenCounts = HashMap<(String, String), u32>;

impl Ticks<'_> {
    /// Runs every tick; returns their figures and the token requests per (tenant, API) over all of them.
    async fn run(&self) -> Result<(Vec<Tick>, TokenCounts), String> {
        let mut ticks = Vec::new();
        let mut tokens = TokenCounts::new();
        for tick_index in 1..=self.settings.ticks {
            if tick_index > 1 {
                self.sandbox
                    .advance(Duration::from_secs(self.settings.interval_seconds));
                self.sandbox.clear_requests();
            }
            let cpu_before: f64 = self.pids.iter().map(|p| cpu_seconds(p)).sum();
            let harness_before = cpu_seconds("self");
            let moto_before = self.moto_pid.as_deref().map(cpu_seconds);
            let started = Instant::now();
            let fan_out = self
                .runtime
                .invoke_within(
                    &format!("tick{tick_index}-fan-out"),
                    json!({"fan_out": true}),
                    FUNCTION_TIMEOUT,
                )
                .await
                .ok_or("the fan-out invocation got no answer in time")?
                .map_err(|e| format!("the fan-out invocation failed: {e}"))?;
            let fan_out_took = started.elapsed();
            let enqueued = fan_out["jobs_enqueued"].as_u64().unwrap_or(0);
            if enqueued != self.tenants as u64 {
                return Err(format!(
                    "the fan-out enqueued {enqueued} jobs for {} tenants: {fan_out}",
                    self.tenants
                ));
            }
            let consumer = Consumer {
                sqs: self.sqs,
                queue_url: self.queue_url,
                queue_arn: self.queue_arn,
                runtime: self.runtime,
                batch: self.settings.batch,
                tick: tick_index,
                delivered: Mutex::default(),
            };
            let consumer = &consumer;
            let polled = futures::future::join_all(
                (0..self.settings.concurrency).map(|worker| async move { consumer.poll(worker).await }),
            )
            .await;
            let wall = started.elapsed();
            let mut tick = Tick {
                wall,
                fan_out: fan_out_took,
                invocations: 1,
                invoked: fan_out_took,
                ..Tick::default()
            };
            for p in polled {
                let p = p?;
                tick.invocations += p.invocations;
                tick.invoked += p.invoked;
                tick.function_errors += p.function_errors;
                tick.item_failures += p.item_failures;
                tick.dead_lettered += p.dead_lettered;
                tick.duplicates += p.duplicates;
            }
            tick.left_in_queue = left_in_queue(self.sqs, self.queue_url).await?;
            // Every (tenant, dataset) run prints one EMF line before its invocation answers; the pipes may lag.
            let wanted = (self.tenants * Dataset::ALL.len()) as u64;
            let waited = Instant::now();
            while self
                .output
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .emf_lines
                < wanted
                && waited.elapsed() < Duration::from_secs(10)
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            tick.function_cpu = self.pids.iter().map(|p| cpu_seconds(p)).sum::<f64>() - cpu_before;
            tick.harness_cpu = cpu_seconds("self") - harness_before;
            tick.moto_cpu = self
                .moto_pid
                .as_deref()
                .zip(moto_before)
                .map(|(pid, before)| cpu_seconds(pid) - before);
            tick.emf = take_output(self.output);
            tick.registry_loads = tick.emf.registry_loads;
            tick.registry_scans = tick.emf.registry_scans;
            read_sandbox_log(self.sandbox, &mut tick);
            for (pair, n) in &tick.tokens {
                *tokens.entry(pair.clone()).or_default() += n;
            }
            eprintln!(
                "  tick {tick_index}: {:.1} s, {} invocations, {} API calls, {} token requests, {} registry loads",
                tick.wall.as_secs_f64(),
                tick.invocations,
                tick.api_calls,
                tick.token_requests,
                tick.registry_loads
            );
            ticks.push(tick);
        }
        Ok((ticks, tokens))
    }
}

/// Messages still in the queue, visible or in flight.
async fn left_in_queue(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, String> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| format!("SQS GetQueueAttributes: {e:?}"))?;
    Ok(attributes
        .attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum::<u64>())
        .unwrap_or(0))
}

fn per(n: f64, tenants: usize) -> f64 {
    n / tenants.max(1) as f64
}

/// (min, max) API calls of a tenant in a tick, from the functions' EMF lines.
fn calls_range(tick: &Tick) -> (u64, u64) {
    let calls = tick.emf.api_calls_by_tenant.values();
    (
        calls.clone().copied().min().unwrap_or(0),
        calls.copied().max().unwrap_or(0),
    )
}

/// Token requests per (tenant, API) over a run: the largest count and how many pairs got 1, 2, ... tokens.
fn token_spread(tokens: &TokenCounts) -> (u32, BTreeMap<u32, usize>) {
    let mut spread = BTreeMap::new();
    for n in tokens.values() {
        *spread.entry(*n).or_default() += 1;
    }
    (tokens.values().copied().max().unwrap_or(0), spread)
}

fn tick_name(i: usize) -> String {
    if i == 0 {
        "1 (first run)".into()
    } else {
        format!("{} (steady)", i + 1)
    }
}

fn print_table(runs: &[ScaleRun], settings: &Settings) {
    println!();
    println!(
        "mssp_scale: incident-export (built binary) × {} processes on one Lambda Runtime API; fan-out through SQS \
         (moto), batches of ≤ {} messages; registry: DynamoDB (moto); tokens: direct over the shared token cache (DynamoDB, moto), credential in Secrets \
         Manager (moto); sandbox: {} alerts/tenant, 4 datasets/tenant; ticks {} s of simulated time apart",
        settings.concurrency, settings.batch, settings.alerts, settings.interval_seconds
    );
    println!(
        "{:>7} {:<14} {:>8} {:>6} {:>9} {:>9} {:>7} {:>9} {:>8} {:>9} {:>8} {:>8} {:>9} {:>6}",
        "tenants",
        "tick",
        "wall s",
        "invoc",
        "reg load",
        "reg Scan",
        "tokens",
        "API calls",
        "calls/t",
        "tokens/t",
        "wall ms/t",
        "invoc ms/t",
        "fn CPU ms/t",
        "fails"
    );
    for run in runs {
        for (i, t) in run.ticks.iter().enumerate() {
            println!(
                "{:>7} {:<14} {:>8.1} {:>6} {:>9} {:>9} {:>7} {:>9} {:>8.2} {:>9.2} {:>8.1} {:>8.1} {:>9.1} {:>6}",
                run.tenants,
                tick_name(i),
                t.wall.as_secs_f64(),
                t.invocations,
                t.registry_loads,
                t.registry_scans,
                t.token_requests,
                t.api_calls,
                per(t.api_calls as f64, run.tenants),
                per(t.token_requests as f64, run.tenants),
                per(t.wall.as_secs_f64() * 1000.0, run.tenants),
                per(t.invoked.as_secs_f64() * 1000.0, run.tenants),
                per(t.function_cpu * 1000.0, run.tenants),
                t.item_failures + t.function_errors + t.emf.failed_datasets,
            );
        }
    }
    println!();
    println!("per run:");
    for run in runs {
        let (max, spread) = token_spread(&run.tokens);
        let spread: Vec<String> = spread
            .iter()
            .map(|(n, pairs)| format!("{pairs} pairs got {n}"))
            .collect();
        println!(
            "  T={:<5} setup {:.1} s; tokens per (tenant, API) over {} ticks: max {max} ({}); peak RSS of a \
             process {:.1} MiB; processes that exited by themselves: {}",
            run.tenants,
            run.setup.as_secs_f64(),
            run.ticks.len(),
            spread.join(", "),
            run.peak_rss_kib as f64 / 1024.0,
            run.exited
        );
        for (i, t) in run.ticks.iter().enumerate() {
            let (lo, hi) = calls_range(t);
            let emf_calls: u64 = t.emf.api_calls_by_tenant.values().sum();
            let moto = t.moto_cpu.map_or_else(
                || "moto CPU not seen".to_owned(),
                |c| format!("moto CPU {c:.1} s"),
            );
            println!(
                "    tick {}: fan-out {:.2} s; API calls per tenant {lo}..{hi} (functions counted {emf_calls}, \
                 sandbox logged {}; {} throttled, {} other errors); records {}; datasets failed {}; batch \
                 items failed {}, function errors {}, dead-lettered {}, duplicate deliveries {}, left in queue {}; \
                 warnings {}, errors {}; CPU: functions {:.1} s, harness {:.1} s (sandbox, Runtime API, pollers), \
                 {moto}{}",
                i + 1,
                t.fan_out.as_secs_f64(),
                t.api_calls,
                t.api_throttled,
                t.api_errors,
                t.emf.records,
                t.emf.failed_datasets,
                t.item_failures,
                t.function_errors,
                t.dead_lettered,
                t.duplicates,
                t.left_in_queue,
                t.emf.warnings,
                t.emf.errors,
                t.function_cpu,
                t.harness_cpu,
                if t.log_truncated {
                    "; THE SANDBOX LOG WAS TRUNCATED: counts are low"
                } else {
                    ""
                }
            );
            for sample in &t.emf.error_samples {
                println!("      error: {sample}");
            }
            for sample in &t.emf.warning_samples {
                println!("      warning: {sample}");
            }
        }
    }
    if let (Some(first), Some(last)) = (runs.first(), runs.last())
        && runs.len() > 1
    {
        let steady = |r: &ScaleRun| r.ticks.last().map_or(0.0, |t| per(t.api_calls as f64, r.tenants));
        let wall = |r: &ScaleRun| {
            r.ticks
                .last()
                .map_or(0.0, |t| per(t.wall.as_secs_f64() * 1000.0, r.tenants))
        };
        println!(
            "\nlinearity, steady tick: calls/tenant {:.2} at T={} and {:.2} at T={} ({:.2}×); wall ms/tenant {:.1} \
             and {:.1} ({:.2}×)",
            steady(first),
            first.tenants,
            steady(last),
            last.tenants,
            steady(last) / steady(first).max(1e-9),
            wall(first),
            wall(last),
            wall(last) / wall(first).max(1e-9)
        );
    }
    println!(
        "\nnotes: wall time is this machine's ({}), shared by moto, the sandbox and the {} processes; ticks follow \
         each other at once, so a process's registry cache (TTL 300 s) usually outlives the next tick here, \
         while 5 minutes apart every warm process reads the registry again each tick; tokens live {} s of wall \
         time, so all ticks of a run fall within one token lifetime (per hour).",
        report::machine(),
        settings.concurrency,
        TOKEN_LIFETIME_SECONDS
    );
}

fn rows(runs: &[ScaleRun], settings: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    for run in runs {
        let t = run.tenants;
        for (i, tick) in run.ticks.iter().enumerate() {
            rows.push(Row::info(
                format!(
                    "{t} tenants, tick {}: wall, invocations (C = {})",
                    tick_name(i),
                    settings.concurrency
                ),
                format!(
                    "{:.1} s ({:.1} ms/tenant), {} invocations ({:.1} invocation-ms/tenant)",
                    tick.wall.as_secs_f64(),
                    per(tick.wall.as_secs_f64() * 1000.0, t),
                    tick.invocations,
                    per(tick.invoked.as_secs_f64() * 1000.0, t)
                ),
            ));
            rows.push(Row::info(
                format!("{t} tenants, tick {}: API calls, token requests", tick_name(i)),
                format!(
                    "{} calls ({:.2}/tenant), {} tokens ({:.2}/tenant), {} throttled",
                    tick.api_calls,
                    per(tick.api_calls as f64, t),
                    tick.token_requests,
                    per(tick.token_requests as f64, t),
                    tick.api_throttled
                ),
            ));
            rows.push(Row::info(
                format!("{t} tenants, tick {}: registry reads", tick_name(i)),
                format!(
                    "{} loads, {} DynamoDB Scan calls",
                    tick.registry_loads, tick.registry_scans
                ),
            ));
            let failures = tick.item_failures + tick.function_errors + tick.emf.failed_datasets;
            rows.push(Row::against(
                format!("{t} tenants, tick {}: failed jobs or datasets", tick_name(i)),
                failures.to_string(),
                "0",
                failures == 0,
            ));
        }
        let (max, _) = token_spread(&run.tokens);
        let total: u32 = run.tokens.values().sum();
        rows.push(Row::against(
            format!(
                "{t} tenants: token requests per tenant, API and hour (max over {} ticks; shared token cache, C = {})",
                run.ticks.len(),
                settings.concurrency
            ),
            format!("max {max}, total {total}"),
            "≤ 1",
            max <= 1,
        ));
    }
    if let (Some(first), Some(last)) = (runs.first(), runs.last())
        && runs.len() > 1
    {
        let steady = |r: &ScaleRun| r.ticks.last().map_or(0.0, |t| per(t.api_calls as f64, r.tenants));
        rows.push(Row::info(
            format!(
                "API calls per tenant, steady tick, {} → {} tenants",
                first.tenants, last.tenants
            ),
            format!(
                "{:.2} → {:.2} ({:.2}×)",
                steady(first),
                steady(last),
                steady(last) / steady(first).max(1e-9)
            ),
        ));
    }
    rows
}
