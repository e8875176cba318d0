//! Benchmark harness, not a test (it never runs in CI): exports every MDE alert of one sandbox tenant through the
//! core into a local directory and prints records/s, CPU time, peak RSS and API calls.
//!
//! ```sh
//! cargo bench -p incident-export --bench export_million                 # 1,000,000 alerts
//! EXPORT_BENCH_ALERTS=30000 EXPORT_BENCH_PAGE_SIZE=10000 cargo bench -p incident-export --bench export_million
//! ```
//!
//! The sandbox runs in a child process (this same executable, re-run with `EXPORT_BENCH_ROLE=sandbox`), so the
//! peak RSS printed (`VmHWM` of /proc/self/status) is the exporter's alone.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use incident_export::{ExportJob, ExportSettings, Exporter};
use mde_contracts::{Dataset, TenantConfig};
use mde_platform::objects::LocalObjectStore;

const ROLE: &str = "EXPORT_BENCH_ROLE";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if std::env::var(ROLE).as_deref() == Ok("sandbox") {
        runtime.block_on(serve_sandbox());
    } else {
        runtime.block_on(export());
    }
}

/// Child: the sandbox with one tenant holding `EXPORT_BENCH_ALERTS` alerts; prints its URL, serves until killed.
async fn serve_sandbox() {
    let mut config = mde_sandbox::SandboxConfig::default();
    config.tenants.retain(|t| t.id == mde_sandbox::DEMO_TENANT_FULL);
    config.data.alerts_per_tenant = env_number("EXPORT_BENCH_ALERTS", 1_000_000) as usize;
    config.rate_limits.enabled = false;
    let sandbox = mde_sandbox::Sandbox::start(config)
        .await
        .expect("the sandbox starts");
    println!("listening on {}", sandbox.base_url());
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// (user + system CPU seconds, peak RSS in KiB) of this process, from /proc.
fn cpu_and_peak_rss() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    // Linux reports CPU time in clock ticks of 1/100 s.
    (ticks as f64 / 100.0, hwm)
}

async fn export() {
    let alerts = env_number("EXPORT_BENCH_ALERTS", 1_000_000);
    let page_size = env_number(
        "EXPORT_BENCH_PAGE_SIZE",
        u64::from(ExportSettings::default().mde_alerts_page_size),
    ) as u32;
    eprintln!(
        "seeding {alerts} MDE alerts in the sandbox child process (large volumes take long: see README)"
    );
    let seeding = Instant::now();
    let exe = std::env::current_exe().expect("this executable");
    let mut child = Command::new(exe)
        .env(ROLE, "sandbox")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the sandbox child starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("child stdout"))
        .read_line(&mut line)
        .expect("the sandbox prints its URL");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("a URL line")
        .to_owned();
    let seeded_in = seeding.elapsed();

    let (http, client) = common::sandbox_client(&base, "ExportBench");
    let out = tempfile::tempdir().expect("output directory");
    let store = Arc::new(LocalObjectStore::new(out.path(), ""));
    let tenant = TenantConfig {
        datasets: vec![Dataset::MdeAlerts],
        ..TenantConfig::new(
            mde_sandbox::DEMO_TENANT_FULL.parse().expect("tenant id"),
            "Contoso",
        )
    };
    let settings = ExportSettings {
        mde_alerts_page_size: page_size,
        // Read up to the service's clock: the seeded alerts updated in the last minute belong to this run too.
        settle_seconds: 0,
        ..ExportSettings::default()
    };
    let exporter = Exporter::new(
        client,
        store,
        Arc::new(mde_platform::Tenants::fixed(vec![tenant])),
        settings,
    );
    let job = ExportJob {
        since: Some("2000-01-01T00:00:00Z".into()),
        ..ExportJob::default()
    };
    let (cpu_before, _) = cpu_and_peak_rss();
    let started = Instant::now();
    let summary = exporter
        .run(&job, Instant::now() + Duration::from_secs(24 * 3600))
        .await
        .expect("the export runs");
    let wall = started.elapsed();
    let (cpu_after, peak_rss_kib) = cpu_and_peak_rss();

    let log = http
        .get(format!("{base}/_sandbox/requests"))
        .send()
        .await
        .expect("request log");
    let log: serde_json::Value = serde_json::from_slice(&log.bytes().await.expect("body")).expect("json");
    let requests = log["value"].as_array().cloned().unwrap_or_default();
    let count = |part: &str| {
        requests
            .iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.contains(part)))
            .count()
    };
    let _ = child.kill();
    let _ = child.wait();

    let d = &summary.datasets[0];
    println!("incident-export benchmark: MDE alerts of one tenant, page size {page_size}");
    println!(
        "  sandbox alerts seeded   {alerts} in {:.1} s",
        seeded_in.as_secs_f64()
    );
    println!(
        "  status                  {:?}{}",
        d.status,
        d.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
    );
    println!("  records exported        {}", d.records);
    println!("  wall time               {:.1} s", wall.as_secs_f64());
    println!(
        "  records/s               {:.0}",
        d.records as f64 / wall.as_secs_f64().max(1e-9)
    );
    println!("  exporter CPU time       {:.1} s", cpu_after - cpu_before);
    println!(
        "  exporter peak RSS       {:.1} MiB (VmHWM)",
        peak_rss_kib as f64 / 1024.0
    );
    println!(
        "  API calls (pages)       {} (sandbox saw {} alert requests)",
        d.api_calls,
        count("/api/alerts")
    );
    println!("  token requests          {}", count("/oauth2/"));
    println!("  objects / gzip bytes    {} / {}", d.objects, d.bytes);
}
