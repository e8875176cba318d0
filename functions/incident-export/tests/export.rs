//! Multi-run exports against the sandbox, into a local directory and into S3 (moto): every record version is
//! exported, none twice; the re-check band is re-read and suppressed; API calls are the windows needed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use incident_export::{DatasetStatus, ExportJob, ExportSettings};
use mde_contracts::Dataset;
use mde_platform::ObjectStore;

async fn every_version_is_exported_exactly_once(store: Arc<dyn ObjectStore>, rounds: usize) {
    let sandbox = start(sandbox_config()).await;
    let clock = Arc::new(SimClock::default());
    let client = client(&sandbox, 3);
    let exporter = exporter(
        client.clone(),
        store.clone(),
        vec![tenant(FULL, "Contoso", &Dataset::ALL)],
        settings(),
        clock.clone(),
    );
    let mut truth: BTreeMap<Dataset, BTreeSet<String>> = BTreeMap::new();
    let (mut suppressed, mut mde_calls) = (0, 0);
    for round in 0..rounds {
        if round > 0 {
            clock.advance(&sandbox, Duration::from_secs(2 * 3600));
        }
        let summary = run(&exporter, &ExportJob::default()).await;
        for d in Dataset::ALL {
            let e = entry(&summary, FULL, d);
            assert_eq!(e.status, DatasetStatus::Completed, "round {round}: {e:?}");
            assert!(e.lag_seconds.is_some_and(|lag| lag >= 0), "{e:?}");
            suppressed += e.suppressed;
            if d == Dataset::MdeAlerts {
                mde_calls += e.api_calls;
            }
            truth
                .entry(d)
                .or_default()
                .extend(current_versions(&client, d, FULL).await);
        }
    }
    let last = next_tick(&exporter).await;
    mde_calls += entry(&last, FULL, Dataset::MdeAlerts).api_calls;
    for d in Dataset::ALL {
        let keys = exported_keys(store.as_ref(), d, FULL).await;
        let expected = &truth[&d];
        let missing: Vec<_> = expected.iter().filter(|k| !keys.contains_key(*k)).collect();
        assert!(missing.is_empty(), "{d}: versions never exported: {missing:?}");
        let twice: Vec<_> = keys.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "{d}: versions exported more than once: {twice:?}"
        );
        let invented: Vec<_> = keys.keys().filter(|k| !expected.contains(*k)).collect();
        assert!(
            invented.is_empty(),
            "{d}: exported versions the API never showed: {invented:?}"
        );
    }
    assert!(
        suppressed > 0,
        "later runs re-read the overlap and suppressed what was already exported"
    );
    let sandbox_calls = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/alerts") && r.status == Some(200))
        .count() as u64;
    // The truth reads add one page per round (page size 10,000).
    assert_eq!(
        mde_calls + rounds as u64,
        sandbox_calls,
        "API calls are the pages needed, no more"
    );
    let expired = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/alerts") && r.status == Some(401))
        .count();
    assert!(
        expired < rounds,
        "at most one refused call per two-hour jump of the clock (the token expired): {expired}"
    );
}

#[tokio::test]
async fn every_record_version_is_exported_once_across_runs_into_a_local_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    every_version_is_exported_exactly_once(local_store(&dir), 3).await;
}

#[tokio::test]
async fn every_record_version_is_exported_once_across_runs_into_s3() {
    every_version_is_exported_exactly_once(s3_store().await, 3).await;
}

#[tokio::test]
async fn objects_roll_at_the_size_bound_and_keep_records_unchanged_in_the_envelope() {
    let mut config = sandbox_config();
    config.data.alerts_per_tenant = 400;
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let clock = Arc::new(SimClock::default());
    let client = client(&sandbox, 3);
    let exporter = exporter(
        client.clone(),
        store.clone(),
        vec![tenant(FULL, "Contoso", &[Dataset::MdeAlerts])],
        ExportSettings {
            max_object_bytes: 16 * 1024,
            ..settings()
        },
        clock,
    );
    let summary = run(&exporter, &ExportJob::default()).await;
    let e = entry(&summary, FULL, Dataset::MdeAlerts);
    assert!(e.objects > 2, "a 16 KiB bound gives several objects: {e:?}");
    let objects = exported(store.as_ref(), Dataset::MdeAlerts, FULL).await;
    assert_eq!(objects.len() as u64, e.objects);
    for (key, lines) in &objects {
        assert!(
            key.contains("/dt=") && key.contains("/hour=") && key.ends_with(".ndjson.gz"),
            "{key}"
        );
        let name = key.rsplit('/').next().unwrap_or_default();
        let (from, to) = name
            .trim_end_matches(".ndjson.gz")
            .split_once('_')
            .expect("an object is named after the range it covers: <from>_<to>");
        assert!(from < to, "{key}");
        for line in lines {
            assert_eq!(line.tenant_id.as_str(), FULL);
            assert_eq!(line.dataset, Dataset::MdeAlerts);
            let id = line.record["id"].as_str().expect("an id");
            assert!(
                line.dedupe_key.starts_with(&format!("{id}:")),
                "{}",
                line.dedupe_key
            );
            assert!(
                line.record["evidence"].is_array(),
                "MDE alerts come with their evidence"
            );
        }
    }
    // One record, compared with the API's own answer field by field.
    let (_, lines) = &objects[0];
    let id = lines[0].record["id"].as_str().expect("id").to_owned();
    let direct = client.mde_alert(&tenant_id(FULL), &id).await.expect("alert");
    let mut direct: serde_json::Value = serde_json::from_str(direct.raw().get()).expect("json");
    // A single-entity answer carries its own context; list items do not.
    direct
        .as_object_mut()
        .expect("an object")
        .remove("@odata.context");
    assert_eq!(
        lines[0].record, direct,
        "the record is the API object, no field dropped"
    );
}

/// Records what an observer is told.
#[derive(Default)]
struct Recorder {
    events: std::sync::Mutex<Vec<String>>,
}

impl incident_export::ExportObserver for Recorder {
    fn started(&self, tenant: &mde_contracts::TenantId, dataset: Dataset) {
        self.push(format!("started {tenant} {dataset}"));
    }
    fn page_read(
        &self,
        tenant: &mde_contracts::TenantId,
        dataset: Dataset,
        p: incident_export::ExportProgress,
    ) {
        self.push(format!("page {tenant} {dataset} {} {}", p.pages, p.records));
    }
    fn finished(&self, s: &incident_export::DatasetRunSummary) {
        self.push(format!(
            "finished {} {} {} {}",
            s.tenant_id, s.dataset, s.pages, s.records
        ));
    }
}

impl Recorder {
    fn push(&self, event: String) {
        self.events.lock().expect("not poisoned").push(event);
    }
}

#[tokio::test]
async fn an_observer_sees_every_page_and_each_dataset_start_and_end() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let recorder = Arc::new(Recorder::default());
    let exporter = exporter(
        client(&sandbox, 3),
        local_store(&dir),
        vec![tenant(
            FULL,
            "Contoso",
            &[Dataset::MdeAlerts, Dataset::M365dIncidents],
        )],
        settings(),
        Arc::new(SimClock::default()),
    )
    .with_observer(recorder.clone());
    let summary = run(&exporter, &ExportJob::default()).await;
    let events = recorder.events.lock().expect("not poisoned").clone();
    for d in [Dataset::MdeAlerts, Dataset::M365dIncidents] {
        let e = entry(&summary, FULL, d);
        assert!(e.pages > 1 && e.records > 0, "{e:?}");
        let mine: Vec<&String> = events.iter().filter(|ev| ev.contains(&format!(" {d}"))).collect();
        assert_eq!(
            mine.first().map(|s| s.as_str()),
            Some(format!("started {FULL} {d}").as_str())
        );
        let pages: Vec<&&String> = mine.iter().filter(|ev| ev.starts_with("page")).collect();
        assert!(
            !pages.is_empty() && pages.len() as u64 <= e.pages,
            "one event per window read (a window may take several requests): {mine:?}"
        );
        assert_eq!(
            pages.last().map(|s| s.as_str()),
            Some(format!("page {FULL} {d} {} {}", e.pages, e.records).as_str())
        );
        assert_eq!(
            mine.last().map(|s| s.as_str()),
            Some(format!("finished {FULL} {d} {} {}", e.pages, e.records).as_str())
        );
    }
}

/// The first export `since` of a sandbox tenant's 3,000 MDE alerts (created over the last 14 days), `top` per page;
/// its summary, checked complete.
async fn first_export_of_3000_alerts(since: String, top: u32) -> incident_export::DatasetRunSummary {
    let mut config = sandbox_config();
    config.data.alerts_per_tenant = 3_000;
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = exporter(
        client(&sandbox, 3),
        local_store(&dir),
        vec![tenant(FULL, "Contoso", &[Dataset::MdeAlerts])],
        ExportSettings {
            mde_alerts_page_size: top,
            max_object_bytes: 64 * 1024 * 1024,
            ..settings()
        },
        Arc::new(SimClock::default()),
    );
    let job = ExportJob {
        since: Some(since),
        ..ExportJob::default()
    };
    let summary = run(&exporter, &job).await;
    let e = entry(&summary, FULL, Dataset::MdeAlerts).clone();
    assert_eq!(e.status, DatasetStatus::Completed, "{e:?}");
    e
}

/// `n` days before now, as the RFC 3339 text a job's `since` takes.
fn days_ago(n: i64) -> String {
    (time::OffsetDateTime::now_utc() - time::Duration::days(n))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time")
}

/// A first export over a long history (since 2000, records in the last weeks): the look-back is counted (MDE
/// alerts' `$count`) and the windows after the empty years are sized from the count, so few records are read twice
/// (sizing by halving instead read 800 of 3,000 twice) and the calls stay near the windows needed.
#[tokio::test]
async fn a_first_export_over_a_long_history_reads_each_record_about_once() {
    let top = 200;
    let e = first_export_of_3000_alerts("2000-01-01T00:00:00Z".into(), top).await;
    let records = e.records;
    // The run ends at the service's clock (whole seconds): a record of its last second waits for the next run.
    assert!(records >= 2_900, "{e:?}");
    // The full window that shows where the records start, and at most one more where they are denser than the
    // one before (sizing by halving read 800 again here).
    assert!(
        e.suppressed <= 2 * u64::from(top),
        "records read again: {} (at most two windows of {top}): {e:?}",
        e.suppressed
    );
    // Windows aim below `$top` (a full one costs a request); finding the records costs the count, the first
    // (empty) window, two empty decades, a full window and the empty stretch before the records.
    let windows_needed = records.div_ceil(u64::from(top) * 4 / 5);
    assert!(
        e.api_calls <= windows_needed + 8,
        "{} calls for {records} records at {top} per page ({windows_needed} windows): {e:?}",
        e.api_calls
    );
}

/// A first export whose records run from its look-back's start (a tenant with steady alerts): the count that
/// learns the service's clock also sizes the first windows, so no page comes back full — before, the first window
/// spanned the whole look-back and its full page of `$top` records was read, counted, and read again.
#[tokio::test]
async fn a_first_export_sized_by_its_count_reads_no_record_twice() {
    let top = 200;
    // The records span the last 14 days; the look-back starts with them.
    let e = first_export_of_3000_alerts(days_ago(14), top).await;
    assert!(e.records >= 2_800, "{e:?}");
    assert_eq!(e.suppressed, 0, "records read twice: {e:?}");
    assert_eq!(e.splits, 0, "windows that came back full: {e:?}");
    // The count, then the windows at the aim (`1 − 2.5/√200` of `$top`) and one more where records are sparser.
    let windows_needed = e.records.div_ceil(u64::from(top) * 82 / 100);
    assert!(
        e.api_calls <= windows_needed + 2,
        "{} calls for {} records at {top} per page ({windows_needed} windows): {e:?}",
        e.api_calls,
        e.records
    );
}

/// A first export whose look-back starts some days before the records: the count spreads them over the empty days
/// too, so after its first window comes back empty the rest is read as one window, whose full page shows where the
/// records start; the empty stretch before them is read in one request, not in windows of the counted width (nine
/// days were crossed in seven requests so).
#[tokio::test]
async fn a_first_export_crosses_the_empty_days_before_the_records_in_one_request() {
    let top = 200;
    // Records over the last 14 days; the look-back starts 9 days before them.
    let e = first_export_of_3000_alerts(days_ago(23), top).await;
    let records = e.records;
    assert!(records >= 2_900, "{e:?}");
    // The windows the records need at the aim (`1 − 2.5/√200` of `$top`), plus the probe, the full first window,
    // its count, the empty stretch and one full window more.
    let windows_needed = records.div_ceil(u64::from(top) * 82 / 100);
    assert!(
        e.api_calls <= windows_needed + 5,
        "{} calls for {records} records at {top} per page ({windows_needed} windows): {e:?}",
        e.api_calls
    );
}
