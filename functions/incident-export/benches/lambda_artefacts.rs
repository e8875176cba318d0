//! Benchmark harness, not a test (it never runs in CI): what each Lambda function costs to deploy and to start.
//! For token-broker, incident-export, indicator-push, alert-webhook and action-executor it prints the deployment
//! zip's size, the cold start of the release binary (process start → its first `GET
//! /2018-06-01/runtime/invocation/next` on a local Lambda Runtime API; median of several starts after one
//! discarded warm-up start) and its idle RSS (`VmRSS` once it waits on that first poll), each function configured
//! as the Terraform stack configures it (AWS clients pointed at moto).
//!
//! ```sh
//! cargo build --release --bin token-broker --bin incident-export --bin indicator-push --bin alert-webhook \
//!   --bin action-executor
//! scripts/build    # optional: target/lambda/<fn>/bootstrap.zip (else the harness zips the release binaries)
//! scripts/moto start > /tmp/env.sh; source /tmp/env.sh; export MDE_TEST_AWS_ENDPOINT
//! cargo bench -p incident-export --bench lambda_artefacts
//! ```
//!
//! Variables: `LAMBDA_STARTS` (measured starts per function, default 11, at least 10 for the report's medians),
//! `LAMBDA_BIN_DIR` (where the binaries are, default `target/release`). Writes `target/bench/lambda.json`.
//! The cold start measured here is the process's own initialisation, on this machine's architecture (the zips of
//! `scripts/build` are arm64 by default); Lambda adds its sandbox and code download.

#[path = "common/report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use mde_platform::testing::{AWS_ENDPOINT_VAR, LambdaRuntime};
use report::{Report, Row};
use serde_json::json;
use tokio::io::AsyncReadExt;

/// Cold start target (process start → first poll).
const COLD_START_TARGET: Duration = Duration::from_millis(20);
/// Deployment zip target.
const ZIP_TARGET_BYTES: u64 = 8 * 1000 * 1000;

/// A function: its binary and the memory the stack gives it (infra/stacks/mde-bridge).
struct Function {
    name: &'static str,
    memory_mb: u32,
}

const FUNCTIONS: [Function; 5] = [
    Function {
        name: "token-broker",
        memory_mb: 256,
    },
    Function {
        name: "incident-export",
        memory_mb: 512,
    },
    Function {
        name: "indicator-push",
        memory_mb: 256,
    },
    Function {
        name: "alert-webhook",
        memory_mb: 256,
    },
    Function {
        name: "action-executor",
        memory_mb: 512,
    },
];

/// What moto holds for the functions' configuration.
struct Resources {
    endpoint: String,
    registry_table: String,
    idempotency_table: String,
    credential_secret: String,
    partner_keys_secret: String,
    bucket: String,
    fan_out_queue: String,
    action_queue: String,
    poll_queue: String,
}

impl Resources {
    async fn create(endpoint: &str) -> Result<Self, String> {
        let sdk = mde_platform::testing::aws_sdk_config().await;
        let registry_table = mde_platform::testing::create_registry_table(&sdk).await;
        let idempotency_table = mde_platform::testing::create_idempotency_table(&sdk).await;
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let credential_secret = mde_platform::testing::unique_name("mde-bridge/app-credential");
        secrets
            .create_secret()
            .name(&credential_secret)
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
        let partner_keys_secret = mde_platform::testing::unique_name("mde-bridge/partner-keys");
        secrets
            .create_secret()
            .name(&partner_keys_secret)
            .secret_string(
                json!({"keys": [{"key_id": "soar-1", "partner": "Acme SOAR",
                    "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}]})
                .to_string(),
            )
            .send()
            .await
            .map_err(|e| format!("creating the partner keys secret: {e:?}"))?;
        let bucket = mde_platform::testing::unique_name("artefacts");
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
        let queue = |name: String, fifo: bool| {
            let sqs = sqs.clone();
            async move {
                let mut create = sqs.create_queue().queue_name(name);
                if fifo {
                    create = create.attributes(QueueAttributeName::FifoQueue, "true");
                }
                create
                    .send()
                    .await
                    .map_err(|e| format!("creating a queue: {e:?}"))?
                    .queue_url
                    .ok_or_else(|| "a new queue without a URL".to_owned())
            }
        };
        Ok(Self {
            endpoint: endpoint.to_owned(),
            registry_table,
            idempotency_table,
            credential_secret,
            partner_keys_secret,
            bucket,
            fan_out_queue: queue(mde_platform::testing::unique_name("fan-out"), false).await?,
            action_queue: queue(
                format!("{}.fifo", mde_platform::testing::unique_name("actions")),
                true,
            )
            .await?,
            poll_queue: queue(mde_platform::testing::unique_name("polls"), false).await?,
        })
    }

    /// The environment the stack gives `function` (`local.common_environment` plus the function's own).
    fn environment(&self, function: &str) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("MDE_BRIDGE_AWS_REGION", "us-east-1".to_owned()),
            ("MDE_BRIDGE_AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("MDE_BRIDGE_PARTNER_COMPANY", "Contoso".to_owned()),
            ("MDE_BRIDGE_PARTNER_PRODUCT", "Bridge".to_owned()),
            ("MDE_BRIDGE_PARTNER_VERSION", "1.0.0".to_owned()),
            ("MDE_BRIDGE_CLOUD_NAME", "public".to_owned()),
            ("MDE_BRIDGE_REGISTRY_BACKEND", "dynamodb".to_owned()),
            ("MDE_BRIDGE_REGISTRY_TABLE", self.registry_table.clone()),
        ];
        let broker = [
            ("MDE_BRIDGE_TOKENS_SOURCE", "broker".to_owned()),
            (
                "MDE_BRIDGE_TOKENS_BROKER_FUNCTION",
                "mde-bridge-token-broker".to_owned(),
            ),
        ];
        let storage = [
            ("MDE_BRIDGE_STORAGE_BUCKET", self.bucket.clone()),
            ("MDE_BRIDGE_STORAGE_PREFIX", "bridge".to_owned()),
        ];
        match function {
            "token-broker" => env.extend([
                ("MDE_BRIDGE_CREDENTIAL_SECRET_ID", self.credential_secret.clone()),
                ("MDE_BRIDGE_TOKENS_SOURCE", "direct".to_owned()),
            ]),
            "incident-export" => {
                env.extend(storage);
                env.extend(broker);
                env.push(("MDE_BRIDGE_EXPORT_QUEUE_URL", self.fan_out_queue.clone()));
            }
            "indicator-push" => {
                env.extend(storage);
                env.extend(broker);
            }
            "alert-webhook" => {
                env.extend(storage);
                env.extend([
                    ("MDE_BRIDGE_WEBHOOK_QUEUE_URL", self.action_queue.clone()),
                    ("MDE_BRIDGE_WEBHOOK_TABLE", self.idempotency_table.clone()),
                    (
                        "MDE_BRIDGE_WEBHOOK_PARTNER_KEYS_SECRET_ID",
                        self.partner_keys_secret.clone(),
                    ),
                ]);
            }
            "action-executor" => {
                env.extend(storage);
                env.extend(broker);
                env.extend([
                    ("MDE_BRIDGE_WEBHOOK_QUEUE_URL", self.action_queue.clone()),
                    ("MDE_BRIDGE_EXECUTOR_POLL_QUEUE_URL", self.poll_queue.clone()),
                    ("MDE_BRIDGE_EXECUTOR_CONCURRENCY", "5".to_owned()),
                ]);
            }
            _ => {}
        }
        env
    }
}

/// One start: cold start and idle RSS.
struct Start {
    cold: Duration,
    idle_rss_kib: u64,
}

/// Starts `binary` as `function` under a fresh Runtime API; measures until its first poll; stops it.
async fn start_once(function: &str, binary: &Path, env: &[(&'static str, String)]) -> Result<Start, String> {
    let runtime = LambdaRuntime::start(function).await;
    let mut command = runtime.command(&binary.to_string_lossy());
    command
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("{function}: {} does not start: {e}", binary.display()))?;
    let (first, exited) = tokio::select! {
        at = runtime.first_poll(Duration::from_secs(20)) => (at, None),
        status = child.wait() => (None, Some(status)),
    };
    let pid = child.id();
    let idle_rss_kib = pid.map_or(0, |pid| status_kib(pid, "VmRSS"));
    let outcome = match first {
        Some(at) => Ok(Start {
            cold: at.saturating_duration_since(started),
            idle_rss_kib,
        }),
        None => {
            let _ = child.start_kill();
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = tokio::time::timeout(Duration::from_secs(2), err.read_to_string(&mut stderr)).await;
            }
            let why = match exited {
                Some(status) => format!("exited before its first poll ({status:?})"),
                None => "did not poll the Runtime API within 20 s".to_owned(),
            };
            Err(format!(
                "{function} {why}; its stderr:\n{}",
                stderr.chars().take(2000).collect::<String>()
            ))
        }
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    outcome
}

/// A `/proc/<pid>/status` field in KiB.
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

/// The zip of a function and how it was made.
struct Zip {
    bytes: u64,
    how: String,
}

/// `target/lambda/<fn>/bootstrap.zip` from `scripts/build`, else the release binary zipped here as `bootstrap`
/// (the name Lambda's custom runtime runs) with the `zip` CLI at -9, or Python's zipfile at level 9.
fn zip_of(function: &str, binary: &Path, target: &Path, scratch: &Path) -> Result<Zip, String> {
    let built = target.join("lambda").join(function).join("bootstrap.zip");
    if let Ok(meta) = std::fs::metadata(&built) {
        let arch = std::fs::read_to_string(target.join("lambda").join("ARCHITECTURE"))
            .map(|a| a.trim().to_owned())
            .unwrap_or_else(|_| "architecture not recorded".into());
        return Ok(Zip {
            bytes: meta.len(),
            how: format!("scripts/build (cargo-lambda, {arch})"),
        });
    }
    let dir = scratch.join(function);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bootstrap = dir.join("bootstrap");
    std::fs::copy(binary, &bootstrap).map_err(|e| format!("copying {}: {e}", binary.display()))?;
    let zip = dir.join("bootstrap.zip");
    let by_cli = std::process::Command::new("zip")
        .current_dir(&dir)
        .args(["-q", "-9", "bootstrap.zip", "bootstrap"])
        .status()
        .is_ok_and(|s| s.success());
    let how = if by_cli {
        format!("zip -9 of the binary, {}", std::env::consts::ARCH)
    } else {
        let script = "import sys, zipfile\n\
                      with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:\n    \
                      z.write(sys.argv[2], 'bootstrap')\n";
        let ok = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&zip)
            .arg(&bootstrap)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!(
                "{function}: no target/lambda zip, and neither the zip CLI nor python3 could zip the binary"
            ));
        }
        format!("Python zipfile level 9 of the binary, {}", std::env::consts::ARCH)
    };
    let bytes = std::fs::metadata(&zip)
        .map_err(|e| format!("{}: {e}", zip.display()))?
        .len();
    Ok(Zip { bytes, how })
}

fn median(sorted: &[Duration]) -> Duration {
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// The figures of one function.
struct Measured {
    function: &'static str,
    memory_mb: u32,
    binary_bytes: u64,
    zip: Zip,
    cold: Vec<Duration>,
    idle_rss_kib: Vec<u64>,
}

fn main() {
    let Ok(endpoint) = std::env::var(AWS_ENDPOINT_VAR) else {
        eprintln!(
            "lambda_artefacts needs the local AWS emulator: {AWS_ENDPOINT_VAR} is not set. Start it with\n  \
             scripts/moto start > /tmp/env.sh; source /tmp/env.sh; export {AWS_ENDPOINT_VAR}\nand run again."
        );
        std::process::exit(2);
    };
    let starts: usize = match std::env::var("LAMBDA_STARTS") {
        Err(_) => 11,
        Ok(v) => match v.trim().parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("lambda_artefacts: LAMBDA_STARTS={v:?} is not a positive whole number");
                std::process::exit(2);
            }
        },
    };
    if starts < 10 {
        eprintln!(
            "lambda_artefacts: LAMBDA_STARTS={starts}: fewer than the 10 starts the report's medians ask"
        );
    }
    let target = report::target_dir();
    let bin_dir = std::env::var_os("LAMBDA_BIN_DIR").map_or_else(|| target.join("release"), PathBuf::from);
    let missing: Vec<&str> = FUNCTIONS
        .iter()
        .filter(|f| !bin_dir.join(f.name).is_file())
        .map(|f| f.name)
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "lambda_artefacts: no release binary of {} in {}. Build them first:\n  cargo build --release{}",
            missing.join(", "),
            bin_dir.display(),
            FUNCTIONS
                .iter()
                .map(|f| format!(" --bin {}", f.name))
                .collect::<String>()
        );
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let scratch = tempfile::tempdir().expect("a scratch directory for zips");
    let started = Instant::now();
    let measured = runtime.block_on(async {
        let resources = match Resources::create(&endpoint).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("lambda_artefacts: setting up moto failed: {e}");
                std::process::exit(1);
            }
        };
        let mut measured = Vec::new();
        for f in &FUNCTIONS {
            let binary = bin_dir.join(f.name);
            let env = resources.environment(f.name);
            eprintln!("{}: 1 warm-up start + {starts} measured starts", f.name);
            let mut cold = Vec::new();
            let mut rss = Vec::new();
            for i in 0..=starts {
                match start_once(f.name, &binary, &env).await {
                    Ok(s) if i > 0 => {
                        cold.push(s.cold);
                        rss.push(s.idle_rss_kib);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("lambda_artefacts: {e}");
                        std::process::exit(1);
                    }
                }
            }
            cold.sort();
            rss.sort_unstable();
            let zip = match zip_of(f.name, &binary, &target, scratch.path()) {
                Ok(z) => z,
                Err(e) => {
                    eprintln!("lambda_artefacts: {e}");
                    std::process::exit(1);
                }
            };
            measured.push(Measured {
                function: f.name,
                memory_mb: f.memory_mb,
                binary_bytes: std::fs::metadata(&binary).map_or(0, |m| m.len()),
                zip,
                cold,
                idle_rss_kib: rss,
            });
        }
        measured
    });
    // The binaries' profile is the directory cargo put them in (`target/release`, `target/debug`, ...).
    let profile = match bin_dir.file_name().and_then(|n| n.to_str()) {
        Some("release") => report::profile("release"),
        Some("debug") => report::profile("dev"),
        Some(other) => format!("binaries from {other}"),
        None => format!("binaries from {}", bin_dir.display()),
    };
    println!();
    println!(
        "lambda_artefacts: binaries {} ({profile}); cold start = process start → first GET /next on a local \
         Runtime API, {starts} starts after a warm-up; harness built {}",
        bin_dir.display(),
        report::own_profile()
    );
    println!(
        "{:<16} {:>9} {:>9} {:>11} {:>11} {:>11} {:>11} {:>9}  zip made by",
        "function",
        "binary MB",
        "zip MB",
        "cold p50 ms",
        "cold min ms",
        "cold max ms",
        "idle RSS MiB",
        "memory MB"
    );
    let mut rows = Vec::new();
    for m in &measured {
        let p50 = median(&m.cold);
        let (lo, hi) = (
            m.cold.first().copied().unwrap_or_default(),
            m.cold.last().copied().unwrap_or_default(),
        );
        let rss = m.idle_rss_kib.get(m.idle_rss_kib.len() / 2).copied().unwrap_or(0);
        println!(
            "{:<16} {:>9.2} {:>9.2} {:>11.1} {:>11.1} {:>11.1} {:>12.1} {:>9}  {}",
            m.function,
            mb(m.binary_bytes),
            mb(m.zip.bytes),
            ms(p50),
            ms(lo),
            ms(hi),
            rss as f64 / 1024.0,
            m.memory_mb,
            m.zip.how
        );
        rows.push(Row::against(
            format!("{}: zip size ({})", m.function, m.zip.how),
            format!("{:.2} MB", mb(m.zip.bytes)),
            "≤ 8 MB",
            m.zip.bytes <= ZIP_TARGET_BYTES,
        ));
        rows.push(Row::against(
            format!(
                "{}: cold start of the {} binary, process start → first poll (median of {})",
                m.function,
                std::env::consts::ARCH,
                m.cold.len()
            ),
            format!("{:.1} ms (min {:.1}, max {:.1})", ms(p50), ms(lo), ms(hi)),
            "≤ 20 ms",
            p50 <= COLD_START_TARGET,
        ));
        rows.push(Row::info(
            format!("{}: idle RSS waiting for its first event", m.function),
            format!(
                "{:.1} MiB (function memory {} MB)",
                rss as f64 / 1024.0,
                m.memory_mb
            ),
        ));
    }
    let report = Report::new("lambda", profile, rows);
    match report.write("lambda.json") {
        Ok(path) => println!("\nwrote {}", path.display()),
        Err(e) => eprintln!("lambda_artefacts: could not write target/bench/lambda.json: {e}"),
    }
    println!("harness wall time {:.1} s", started.elapsed().as_secs_f64());
}
