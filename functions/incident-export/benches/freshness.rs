//! Benchmark harness, not a test (it never runs in CI): how fresh the export is at the default settings. The
//! sandbox's tenant changes every few seconds of simulated time (`advance` stamps updates and new alerts as it
//! goes), versions become visible only some seconds after their last-update time, and the exporter runs on the
//! deployed schedule. For every exported version it measures the time from its last-update time to the export
//! (`exported_at`, simulated time) and prints p50 / p90 / p99 / max next to the floor the settings allow.
//!
//! ```sh
//! cargo bench -p incident-export --bench freshness
//! FRESHNESS_HOURS=6 FRESHNESS_SCHEDULE_SECONDS=300 FRESHNESS_STEP_SECONDS=5 FRESHNESS_LAG_SECONDS=30 \
//!   cargo bench -p incident-export --bench freshness
//! ```

mod common;

use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use incident_export::{Clock, ExportJob, ExportSettings, Exporter, RecordEnvelope};
use mde_contracts::{Dataset, TenantConfig};
use mde_platform::ObjectStore;
use mde_platform::objects::LocalObjectStore;
use mde_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn parse_time(text: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(text, &Rfc3339)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The exporter's clock is the sandbox's simulated time.
struct SandboxClock(Arc<SandboxHandle>);

impl Clock for SandboxClock {
    fn now(&self) -> OffsetDateTime {
        self.0.now()
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(measure());
}

async fn measure() {
    let hours = env_number("FRESHNESS_HOURS", 3);
    let schedule = env_number("FRESHNESS_SCHEDULE_SECONDS", 300);
    let step = env_number("FRESHNESS_STEP_SECONDS", 5).max(1);
    let lag = env_number("FRESHNESS_LAG_SECONDS", 30);

    let mut config = SandboxConfig::default();
    config.tenants.retain(|t| t.id == mde_sandbox::DEMO_TENANT_FULL);
    config.rate_limits.enabled = false;
    config.adversarial.visibility_lag_seconds = lag;
    let sandbox = Arc::new(Sandbox::start(config).await.expect("the sandbox starts"));

    let (_, client) = common::sandbox_client(&sandbox.base_url(), "FreshnessBench");
    let out = tempfile::tempdir().expect("output directory");
    let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(out.path(), ""));
    let tenant = TenantConfig {
        datasets: Dataset::ALL.to_vec(),
        ..TenantConfig::new(
            mde_sandbox::DEMO_TENANT_FULL.parse().expect("tenant id"),
            "Contoso",
        )
    };
    let settings = ExportSettings::default();
    let (settle, band) = (settings.settle_seconds, settings.recheck_band_seconds);
    let exporter = Exporter::new(
        client,
        store.clone(),
        Arc::new(mde_platform::Tenants::fixed(vec![tenant])),
        settings,
    )
    .with_clock(Arc::new(SandboxClock(sandbox.clone())));

    let started_wall = Instant::now();
    let start = sandbox.now();
    let mut calls = 0u64;
    let mut runs = 0u64;
    let mut elapsed = 0u64;
    let mut next_run = schedule;
    while elapsed < hours * 3600 {
        sandbox.advance(Duration::from_secs(step));
        elapsed += step;
        if elapsed >= next_run {
            next_run += schedule;
            let summary = exporter
                .run(&ExportJob::default(), Instant::now() + Duration::from_secs(600))
                .await
                .expect("the export runs");
            runs += 1;
            calls += summary.datasets.iter().map(|d| d.api_calls).sum::<u64>();
        }
    }

    let mut delays = Vec::new();
    for key in store.list("").await.expect("list") {
        if !key.ends_with(".ndjson.gz") {
            continue;
        }
        let object = store.get(&key).await.expect("get").expect("listed");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&object.body[..])
            .read_to_string(&mut text)
            .expect("gzip");
        for line in text.lines() {
            let envelope: RecordEnvelope = serde_json::from_str(line).expect("an envelope");
            // `<id>:<lastUpdate>` (the sandbox's ids hold no colon).
            let Some(updated) = envelope
                .dedupe_key
                .split_once(':')
                .and_then(|(_, at)| parse_time(at).ok())
            else {
                continue;
            };
            let exported = parse_time(&envelope.exported_at).expect("exported_at");
            if updated >= start {
                delays.push((exported - updated).as_seconds_f64());
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        delays
            .get(((delays.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "incident-export freshness: {hours} h simulated, a change every {step} s (the sandbox's advance), visibility \
         lag {lag} s"
    );
    println!("  schedule every {schedule} s, settle {settle} s, re-check band {band} s (the defaults)");
    println!(
        "  runs {runs}, API calls {calls} ({:.1} per run over 4 datasets), wall {:.1} s",
        calls as f64 / runs.max(1) as f64,
        started_wall.elapsed().as_secs_f64()
    );
    println!(
        "  versions exported {}: last update → export p50 {:.0} s, p90 {:.0} s, p99 {:.0} s, max {:.0} s",
        delays.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        delays.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  floor at these settings: settle + up to one schedule interval = {settle}–{} s (p50 ≈ {} s)",
        settle + schedule,
        settle + schedule / 2
    );
}
