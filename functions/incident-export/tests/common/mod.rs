//! Shared set-up of the incident-export tests: the sandbox (Defender over real sockets), a client with short
//! retries, a simulated clock that follows the sandbox's time, object stores (local directory, S3 in moto) and
//! readers of what was exported.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use incident_export::{
    Clock, ExportJob, ExportRunSummary, ExportSettings, Exporter, RecordEnvelope, format_time,
};
use mde_contracts::{CloudSettings, Dataset, TenantConfig, TenantId};
use mde_defender::api::{ClientConfig, RateLimitConfig, RetryPolicy};
use mde_defender::{DefenderClient, DirectTokenSource, StaticCredential};
use mde_platform::objects::{LocalObjectStore, S3ObjectStore};
use mde_platform::{ObjectStore, Tenants};
use mde_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use time::OffsetDateTime;

pub const FULL: &str = mde_sandbox::DEMO_TENANT_FULL;
pub const PARTIAL: &str = mde_sandbox::DEMO_TENANT_PARTIAL;
pub const UNCONSENTED: &str = mde_sandbox::DEMO_TENANT_UNCONSENTED;

pub fn tenant_id(id: &str) -> TenantId {
    id.parse().expect("tenant id")
}

/// The sandbox's demo world with more movement per simulated hour and no rate limits (tests are not about them).
pub fn sandbox_config() -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.data.alert_updates_per_hour = 12;
    config.data.new_alerts_per_hour = 3;
    config.rate_limits.enabled = false;
    config
}

pub async fn start(config: SandboxConfig) -> SandboxHandle {
    Sandbox::start(config).await.expect("sandbox")
}

/// Wall-clock time plus the offset the test moved the sandbox by: the exporter sees the sandbox's time.
#[derive(Default)]
pub struct SimClock {
    offset: Mutex<Duration>,
}

impl Clock for SimClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + *self.offset.lock().expect("clock")
    }
}

impl SimClock {
    /// Moves the sandbox's time and this clock together.
    pub fn advance(&self, sandbox: &SandboxHandle, by: Duration) {
        sandbox.advance(by);
        *self.offset.lock().expect("clock") += by;
    }
}

/// Waits until the service's clock (whole seconds in its `Date` header) has passed every version stamped so far,
/// without changing anything (moving simulated time would stamp new versions).
pub async fn quiet_second() {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
}

/// The next scheduled run, a second later with nothing changed meanwhile: it exports what the last one could not
/// see yet (a run reads up to the service's clock, in whole seconds, minus the settle time).
pub async fn next_tick(exporter: &Exporter) -> ExportRunSummary {
    quiet_second().await;
    run(exporter, &ExportJob::default()).await
}

pub fn cloud(sandbox: &SandboxHandle) -> CloudSettings {
    let base: url::Url = sandbox.base_url().parse().expect("base url");
    CloudSettings {
        login_url: Some(base.clone()),
        mde_api_url: Some(base.clone()),
        m365d_api_url: Some(base.clone()),
        graph_url: Some(base),
        ..CloudSettings::default()
    }
}

/// A Defender client on the sandbox with the demo application, short retry delays and no client-side limit.
pub fn client(sandbox: &SandboxHandle, max_retries: usize) -> Arc<DefenderClient> {
    client_for(sandbox, max_retries, mde_sandbox::DEMO_CLIENT_SECRET)
}

/// A client whose application credential is the client secret `secret` (e.g. a revoked one).
pub fn client_with_secret(sandbox: &SandboxHandle, secret: &str) -> Arc<DefenderClient> {
    client_for(sandbox, 1, secret)
}

fn client_for(sandbox: &SandboxHandle, max_retries: usize, secret: &str) -> Arc<DefenderClient> {
    let partner = mde_contracts::PartnerIdentity {
        company: "Contoso".into(),
        product: "ExportTests".into(),
        version: "1.0.0".into(),
    };
    let http = mde_defender::build_http_client(&partner).expect("http client");
    let endpoints = cloud(sandbox).endpoints().expect("endpoints");
    let credential = serde_json::from_value(serde_json::json!({
        "kind": "client_secret",
        "client_id": mde_sandbox::DEMO_CLIENT_ID,
        "client_secret": secret,
    }))
    .expect("credential");
    let tokens = Arc::new(DirectTokenSource::new(
        http.clone(),
        endpoints.clone(),
        Default::default(),
        Arc::new(StaticCredential(credential)),
        Duration::from_secs(300),
    ));
    let config = ClientConfig {
        retry: RetryPolicy {
            max_retries,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
            max_retry_after: Duration::from_secs(2),
        },
        rate_limits: RateLimitConfig::unlimited(),
    };
    Arc::new(DefenderClient::with_config(http, endpoints, tokens, config))
}

/// An exporter of Contoso's MDE alerts whose every URL is `base` (e.g. a closed port).
pub fn exporter_against(base: &str, store: Arc<dyn ObjectStore>) -> Exporter {
    let base: url::Url = base.parse().expect("url");
    let partner = mde_contracts::PartnerIdentity {
        company: "Contoso".into(),
        product: "ExportTests".into(),
        version: "1.0.0".into(),
    };
    let http = mde_defender::build_http_client(&partner).expect("http client");
    let endpoints = CloudSettings {
        login_url: Some(base.clone()),
        mde_api_url: Some(base.clone()),
        m365d_api_url: Some(base.clone()),
        graph_url: Some(base),
        ..CloudSettings::default()
    }
    .endpoints()
    .expect("endpoints");
    let credential = serde_json::from_value(serde_json::json!({
        "kind": "client_secret", "client_id": mde_sandbox::DEMO_CLIENT_ID, "client_secret": "unused",
    }))
    .expect("credential");
    let tokens = Arc::new(DirectTokenSource::new(
        http.clone(),
        endpoints.clone(),
        Default::default(),
        Arc::new(StaticCredential(credential)),
        Duration::from_secs(300),
    ));
    let config = ClientConfig {
        retry: RetryPolicy {
            max_retries: 1,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(10),
            max_retry_after: Duration::from_secs(1),
        },
        rate_limits: RateLimitConfig::unlimited(),
    };
    let client = Arc::new(DefenderClient::with_config(http, endpoints, tokens, config));
    exporter(
        client,
        store,
        vec![tenant(FULL, "Contoso", &[Dataset::MdeAlerts])],
        settings(),
        Arc::new(SimClock::default()),
    )
}

pub fn tenant(id: &str, name: &str, datasets: &[Dataset]) -> TenantConfig {
    TenantConfig {
        datasets: datasets.to_vec(),
        ..TenantConfig::new(tenant_id(id), name)
    }
}

/// Test settings: small pages and objects (many of both), a one-hour re-check band, no settle time (the sandbox
/// shows every version at once unless a test gives it a visibility lag), a 30-day first lookback.
pub fn settings() -> ExportSettings {
    ExportSettings {
        settle_seconds: 0,
        recheck_band_seconds: 3600,
        initial_lookback_seconds: 30 * 24 * 3600,
        max_object_bytes: 4 * 1024,
        mde_alerts_page_size: 25,
        m365d_incidents_page_size: 20,
        graph_page_size: 50,
        ..ExportSettings::default()
    }
}

pub fn exporter(
    client: Arc<DefenderClient>,
    store: Arc<dyn ObjectStore>,
    tenants: Vec<TenantConfig>,
    settings: ExportSettings,
    clock: Arc<SimClock>,
) -> Exporter {
    Exporter::new(client, store, Arc::new(Tenants::fixed(tenants)), settings).with_clock(clock)
}

/// The exporter of the tests' usual case: tenant Contoso (the full demo tenant) with `datasets`, [`settings`], and
/// a fresh simulated clock.
pub fn contoso_exporter(
    client: Arc<DefenderClient>,
    store: Arc<dyn ObjectStore>,
    datasets: &[Dataset],
) -> Exporter {
    exporter(
        client,
        store,
        vec![tenant(FULL, "Contoso", datasets)],
        settings(),
        Arc::new(SimClock::default()),
    )
}

pub fn local_store(dir: &tempfile::TempDir) -> Arc<dyn ObjectStore> {
    Arc::new(LocalObjectStore::new(dir.path(), ""))
}

/// A fresh bucket in moto, through the platform's S3 adapter.
pub async fn s3_store() -> Arc<dyn ObjectStore> {
    let sdk = mde_platform::testing::aws_sdk_config().await;
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    let bucket = mde_platform::testing::unique_name("exports");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    Arc::new(S3ObjectStore::new(s3, bucket, "siem"))
}

pub fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

pub async fn run(exporter: &Exporter, job: &ExportJob) -> ExportRunSummary {
    exporter.run(job, far_deadline()).await.expect("a valid job")
}

/// Every exported line of `dataset` for `tenant`, object by object (key, lines).
pub async fn exported(
    store: &dyn ObjectStore,
    dataset: Dataset,
    tenant: &str,
) -> Vec<(String, Vec<RecordEnvelope>)> {
    let prefix = format!("{dataset}/tenant={tenant}/");
    let mut out = Vec::new();
    for key in store.list(&prefix).await.expect("list") {
        let object = store.get(&key).await.expect("get").expect("listed object");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&object.body[..])
            .read_to_string(&mut text)
            .expect("a complete gzip object");
        let lines = text
            .lines()
            .map(|l| serde_json::from_str::<RecordEnvelope>(l).expect("an envelope"))
            .collect();
        out.push((key, lines));
    }
    out
}

/// How many times each dedupe key was exported.
pub async fn exported_keys(
    store: &dyn ObjectStore,
    dataset: Dataset,
    tenant: &str,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, lines) in exported(store, dataset, tenant).await {
        for line in lines {
            *counts.entry(line.dedupe_key).or_insert(0) += 1;
        }
    }
    counts
}

/// The record versions the API shows now (every record, any last-update time), as dedupe keys — read with a
/// plain query independent of the exporter.
pub async fn current_versions(client: &DefenderClient, dataset: Dataset, tenant: &str) -> BTreeSet<String> {
    let tenant = tenant_id(tenant);
    let from = OffsetDateTime::UNIX_EPOCH;
    let to = OffsetDateTime::now_utc() + time::Duration::days(3650);
    let mut pages = client.export_pages(dataset, &tenant, from, to, None);
    let mut versions = BTreeSet::new();
    while let Some(page) = pages.next().await {
        for record in page.expect("a page of the truth").items {
            let at = record.last_update().expect("sandbox records have lastUpdate");
            versions.insert(format!(
                "{}:{}",
                record.id().expect("sandbox records have an id"),
                format_time(at)
            ));
        }
    }
    versions
}

pub fn entry<'a>(
    summary: &'a ExportRunSummary,
    tenant: &str,
    dataset: Dataset,
) -> &'a incident_export::DatasetRunSummary {
    summary
        .datasets
        .iter()
        .find(|d| d.tenant_id.as_str() == tenant && d.dataset == dataset)
        .expect("a summary entry")
}
