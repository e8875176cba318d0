//! What goes wrong: faults on the API, a crash between object and checkpoint, a failed object write, a token
//! expiring mid-run, concurrent runs, a corrupt checkpoint, a tenant without consent, the deadline, a page that
//! keeps failing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use common::*;
use incident_export::{
    DatasetStatus, ExportCheckpoint, ExportJob, ExportSettings, QuarantinedPage, RecordEnvelope, RecordFlag,
    checkpoint_key,
};
use mde_contracts::Dataset;
use mde_platform::objects::LocalObjectStore;
use mde_platform::{ObjectStore, PlatformError, PutCondition, StoredObject};
use mde_sandbox::SandboxHandle;
use mde_sandbox::{AdversarialSettings, FaultKind, FaultRule, ListOrder};

fn fault(path: &str, fault: FaultKind, probability: Option<f64>, max_times: Option<u64>) -> FaultRule {
    FaultRule {
        path: path.into(),
        method: None,
        fault,
        probability,
        nth_call: None,
        max_times,
    }
}

/// Fails the next write under `prefix` once armed: under `checkpoints/`, as if the process died after writing
/// the object; under a dataset's prefix, an S3 write that fails. With `arm_after`, arms itself once that many
/// export objects are written.
struct FailNextPut {
    inner: Arc<dyn ObjectStore>,
    prefix: &'static str,
    armed: AtomicBool,
    arm_after: Option<usize>,
    objects: AtomicUsize,
}

impl FailNextPut {
    fn new(inner: Arc<dyn ObjectStore>, prefix: &'static str, arm_after: Option<usize>) -> Self {
        Self {
            inner,
            prefix,
            armed: AtomicBool::new(false),
            arm_after,
            objects: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl ObjectStore for FailNextPut {
    async fn put(&self, key: &str, body: Bytes, condition: PutCondition) -> mde_platform::Result<String> {
        if key.ends_with(".ndjson.gz")
            && self
                .arm_after
                .is_some_and(|n| self.objects.fetch_add(1, Ordering::SeqCst) + 1 == n)
        {
            self.armed.store(true, Ordering::SeqCst);
        }
        if key.starts_with(self.prefix) && self.armed.swap(false, Ordering::SeqCst) {
            return Err(PlatformError::Aws {
                service: "s3",
                operation: "PutObject",
                message: format!("simulated failure writing under {}", self.prefix),
                retryable: false,
            });
        }
        self.inner.put(key, body, condition).await
    }
    async fn get(&self, key: &str) -> mde_platform::Result<Option<StoredObject>> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> mde_platform::Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    fn location(&self, key: &str) -> String {
        self.inner.location(key)
    }
}

/// Holds the first two checkpoint reads until both happened: two runs that read the same checkpoint.
struct BothReadFirst {
    inner: Arc<dyn ObjectStore>,
    barrier: tokio::sync::Barrier,
    reads: AtomicUsize,
}

#[async_trait]
impl ObjectStore for BothReadFirst {
    async fn put(&self, key: &str, body: Bytes, condition: PutCondition) -> mde_platform::Result<String> {
        self.inner.put(key, body, condition).await
    }
    async fn get(&self, key: &str) -> mde_platform::Result<Option<StoredObject>> {
        let got = self.inner.get(key).await;
        if key.starts_with("checkpoints/") && self.reads.fetch_add(1, Ordering::SeqCst) < 2 {
            self.barrier.wait().await;
        }
        got
    }
    async fn list(&self, prefix: &str) -> mde_platform::Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    fn location(&self, key: &str) -> String {
        self.inner.location(key)
    }
}

#[tokio::test]
async fn random_429_5xx_and_truncated_pages_lose_no_record() {
    let mut config = sandbox_config();
    config.data.alerts_per_tenant = 200;
    config.faults = vec![
        fault("/api/alerts*", FaultKind::Status { status: 503 }, Some(0.2), None),
        fault("/api/alerts*", FaultKind::TruncatedBody, Some(0.15), None),
        fault(
            "/api/incidents*",
            FaultKind::Status { status: 500 },
            Some(0.2),
            None,
        ),
        fault(
            "/v1.0/security/*",
            FaultKind::TooManyRequests {
                retry_after_seconds: 0,
            },
            Some(0.2),
            None,
        ),
        fault("/v1.0/security/*", FaultKind::TruncatedBody, Some(0.1), None),
    ];
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let clock = Arc::new(SimClock::default());
    let truth_client = client(&sandbox, 40);
    let small_pages = incident_export::ExportSettings {
        mde_alerts_page_size: 10,
        m365d_incidents_page_size: 10,
        graph_page_size: 10,
        ..settings()
    };
    let exporter = exporter(
        client(&sandbox, 2),
        store.clone(),
        vec![tenant(FULL, "Contoso", &Dataset::ALL)],
        small_pages,
        clock.clone(),
    );
    let mut truth: BTreeMap<Dataset, BTreeSet<String>> = BTreeMap::new();
    let (mut failures, mut quarantined) = (0, 0);
    // Two rounds of changes, then a quiet one for what the last could not see yet.
    for round in 0..3 {
        if round == 1 {
            clock.advance(&sandbox, Duration::from_secs(3 * 3600));
        }
        if round == 2 {
            quiet_second().await;
        }
        // Runs are repeated until every dataset completes, as the schedule would.
        let mut done = false;
        for _ in 0..30 {
            let summary = run(&exporter, &ExportJob::default()).await;
            failures += summary
                .datasets
                .iter()
                .filter(|d| d.status == DatasetStatus::Failed)
                .count();
            quarantined += summary.datasets.iter().map(|d| d.quarantined).sum::<u64>();
            if summary
                .datasets
                .iter()
                .all(|d| d.status == DatasetStatus::Completed)
            {
                done = true;
                break;
            }
        }
        assert!(done, "round {round}: the export completes within 30 runs");
        for d in Dataset::ALL {
            truth
                .entry(d)
                .or_default()
                .extend(current_versions(&truth_client, d, FULL).await);
        }
    }
    for d in Dataset::ALL {
        let keys = exported_keys(store.as_ref(), d, FULL).await;
        let missing: Vec<_> = truth[&d].iter().filter(|k| !keys.contains_key(*k)).collect();
        assert!(missing.is_empty(), "{d}: lost versions: {missing:?}");
    }
    let quarantined_pages = quarantined;
    let quarantined = store.list("quarantine/").await.expect("list");
    assert_eq!(
        quarantined.len() as u64,
        quarantined_pages,
        "every page given up on is in quarantine"
    );
    assert!(failures > 0, "some runs failed and were repeated");
    let faulted = sandbox
        .requests()
        .iter()
        .filter(|r| r.status != Some(200))
        .count();
    assert!(faulted > 10, "the faults fired ({faulted})");
}

#[tokio::test]
async fn a_crash_between_object_and_checkpoint_loses_nothing_and_writes_nothing_twice() {
    // Every dataset: each keys its records its own way (Microsoft 365 Defender incidents by `incidentId`), and
    // the object read back must yield the keys the export wrote.
    for d in Dataset::ALL {
        crash_between_object_and_checkpoint(d).await;
    }
}

async fn crash_between_object_and_checkpoint(d: Dataset) {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let crashing = Arc::new(FailNextPut::new(local_store(&dir), "checkpoints/", None));
    let store: Arc<dyn ObjectStore> = crashing.clone();
    let clock = Arc::new(SimClock::default());
    let client = client(&sandbox, 3);
    let mut s = settings();
    s.max_object_bytes = 1 << 20;
    let exporter = exporter(
        client.clone(),
        store.clone(),
        vec![tenant(FULL, "Contoso", &[d])],
        s.clone(),
        clock.clone(),
    );
    let first = run(&exporter, &ExportJob::default()).await;
    assert_eq!(entry(&first, FULL, d).status, DatasetStatus::Completed);
    let mut truth = current_versions(&client, d, FULL).await;

    clock.advance(&sandbox, Duration::from_secs(2 * 3600));
    crashing.armed.store(true, Ordering::SeqCst);
    let crashed = run(&exporter, &ExportJob::default()).await;
    let e = entry(&crashed, FULL, d);
    assert_eq!(e.status, DatasetStatus::Failed, "{e:?}");
    assert!(e.records > 0 && e.objects == 1, "{e:?}");
    assert!(
        e.error
            .as_deref()
            .is_some_and(|m| m.contains("simulated failure writing under checkpoints/")),
        "{e:?}"
    );
    truth.extend(current_versions(&client, d, FULL).await);

    let third = run(&exporter, &ExportJob::default()).await;
    let e3 = entry(&third, FULL, d);
    assert_eq!(e3.status, DatasetStatus::Completed, "{e3:?}");
    // The object the crashed run wrote is found and its versions suppressed, not written again (a version the
    // sandbox stamped since may still go into a new object; the check for twice-stored versions below holds).
    assert!(
        e3.suppressed > 0,
        "the object the crashed run wrote is found, not written again: {e3:?}"
    );
    truth.extend(current_versions(&client, d, FULL).await);
    // What the last instants stamped is the next run's.
    next_tick(&exporter).await;

    let keys = exported_keys(store.as_ref(), d, FULL).await;
    let missing: Vec<_> = truth.iter().filter(|k| !keys.contains_key(*k)).collect();
    assert!(missing.is_empty(), "lost versions: {missing:?}");
    let twice: BTreeSet<&String> = keys.iter().filter(|(_, n)| **n > 1).map(|(k, _)| k).collect();
    assert!(
        twice.is_empty(),
        "{d}: each version is stored once across the crash: {twice:?}"
    );
}

#[tokio::test]
async fn a_death_after_any_object_of_a_run_loses_nothing_and_writes_nothing_twice() {
    for d in [Dataset::MdeAlerts, Dataset::M365dIncidents] {
        let mut n = 1;
        while die_after_object(d, n).await {
            n += 1;
        }
        assert!(
            n > 2,
            "{d}: the run died after several different objects ({})",
            n - 1
        );
    }
}

/// A run with small objects (a checkpoint after each) over pages listed newest first — a full page holds records
/// past the window read next, so checkpoints list versions past their frontier, and some windows hold only
/// versions read before — dies between its `n`-th object and that object's checkpoint. Returns whether it died.
async fn die_after_object(d: Dataset, n: usize) -> bool {
    let mut config = sandbox_config();
    config.data.alert_updates_per_hour = 0;
    config.data.new_alerts_per_hour = 0;
    let sandbox = start(config).await;
    sandbox
        .set_adversarial(AdversarialSettings {
            list_order: ListOrder::LastupdateDesc,
            ..AdversarialSettings::default()
        })
        .expect("list order");
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = local_store(&dir);
    let dying = Arc::new(FailNextPut::new(plain.clone(), "checkpoints/", Some(n)));
    let clock = Arc::new(SimClock::default());
    let client = client(&sandbox, 3);
    let run_on = |store: Arc<dyn ObjectStore>| {
        exporter(
            client.clone(),
            store,
            vec![tenant(FULL, "Contoso", &[d])],
            ExportSettings {
                max_object_bytes: 1,
                ..settings()
            },
            clock.clone(),
        )
    };
    let first = run(&run_on(plain.clone()), &ExportJob::default()).await;
    assert_eq!(entry(&first, FULL, d).status, DatasetStatus::Completed);
    // Four bursts of new records, each a little smaller than a page.
    let burst = settings().page_size(d) as usize - 5;
    for _ in 0..4 {
        clock.advance(&sandbox, Duration::from_secs(6 * 3600));
        sandbox.mutate(FULL, 0, burst).expect("new alerts");
    }
    quiet_second().await;
    let mut truth = current_versions(&client, d, FULL).await;

    let dying_run = run(&run_on(dying.clone()), &ExportJob::default()).await;
    let died = dying.objects.load(Ordering::SeqCst) >= n;
    let e = entry(&dying_run, FULL, d);
    assert_eq!(
        e.status,
        if died {
            DatasetStatus::Failed
        } else {
            DatasetStatus::Completed
        },
        "{e:?}"
    );

    let after = run(&run_on(plain.clone()), &ExportJob::default()).await;
    let e = entry(&after, FULL, d);
    assert_eq!(e.status, DatasetStatus::Completed, "{e:?}");
    truth.extend(current_versions(&client, d, FULL).await);
    let keys = exported_keys(plain.as_ref(), d, FULL).await;
    let missing: Vec<_> = truth.iter().filter(|k| !keys.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "{d}, death after object {n}: lost versions: {missing:?}"
    );
    let twice: BTreeSet<&String> = keys.iter().filter(|(_, n)| **n > 1).map(|(k, _)| k).collect();
    assert!(
        twice.is_empty(),
        "{d}, death after object {n}: each version is stored once: {twice:?}"
    );
    died
}

#[tokio::test]
async fn two_concurrent_runs_of_one_job_both_complete_and_store_each_record_once() {
    // A duplicate delivery of an SQS job (SQS is at-least-once), or a run by hand during the scheduled one: both
    // read the same checkpoint; the one whose checkpoint write comes second goes on from the other's progress.
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> = Arc::new(BothReadFirst {
        inner: local_store(&dir),
        barrier: tokio::sync::Barrier::new(2),
        reads: AtomicUsize::new(0),
    });
    let clock = Arc::new(SimClock::default());
    let tenants = vec![tenant(FULL, "Contoso", &[Dataset::MdeAlerts])];
    let a = exporter(
        client(&sandbox, 3),
        store.clone(),
        tenants.clone(),
        settings(),
        clock.clone(),
    );
    let b = exporter(client(&sandbox, 3), store.clone(), tenants, settings(), clock);
    let job = ExportJob::default();
    let (ra, rb) = tokio::join!(run(&a, &job), run(&b, &job));
    for r in [&ra, &rb] {
        let e = entry(r, FULL, Dataset::MdeAlerts);
        assert_eq!(e.status, DatasetStatus::Completed, "{e:?}");
        assert!(!r.has_failures(), "{r:?}");
    }
    let truth = current_versions(&client(&sandbox, 3), Dataset::MdeAlerts, FULL).await;
    assert!(!truth.is_empty());
    let keys = exported_keys(store.as_ref(), Dataset::MdeAlerts, FULL).await;
    let missing: Vec<_> = truth.iter().filter(|k| !keys.contains_key(*k)).collect();
    assert!(missing.is_empty(), "lost versions: {missing:?}");
    let twice: Vec<_> = keys.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "each version is stored once: {twice:?}");
    let cp = store
        .get(&checkpoint_key(Dataset::MdeAlerts, &tenant_id(FULL)))
        .await
        .expect("get")
        .expect("a checkpoint");
    let cp: ExportCheckpoint = serde_json::from_slice(&cp.body).expect("checkpoint");
    assert!(
        [&ra.run_id, &rb.run_id].contains(&&cp.run_id),
        "the checkpoint is one of the two runs'"
    );
}

/// Every checkpoint write loses, as if another run kept advancing the checkpoint first; counts the attempts.
struct CheckpointAlwaysTaken {
    inner: Arc<dyn ObjectStore>,
    attempts: AtomicUsize,
}

#[async_trait]
impl ObjectStore for CheckpointAlwaysTaken {
    async fn put(&self, key: &str, body: Bytes, condition: PutCondition) -> mde_platform::Result<String> {
        if key.starts_with("checkpoints/") {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            return Err(PlatformError::PreconditionFailed { key: key.to_owned() });
        }
        self.inner.put(key, body, condition).await
    }
    async fn get(&self, key: &str) -> mde_platform::Result<Option<StoredObject>> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> mde_platform::Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    fn location(&self, key: &str) -> String {
        self.inner.location(key)
    }
}

#[tokio::test]
async fn a_run_whose_checkpoint_keeps_advancing_elsewhere_gives_up_after_a_few_restarts_and_says_so() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(CheckpointAlwaysTaken {
        inner: local_store(&dir),
        attempts: AtomicUsize::new(0),
    });
    let tenants = vec![tenant(FULL, "Contoso", &[Dataset::MdeAlerts])];
    let exporter = exporter(
        client(&sandbox, 3),
        store.clone(),
        tenants,
        settings(),
        Arc::new(SimClock::default()),
    );
    let summary = run(&exporter, &ExportJob::default()).await;
    let e = entry(&summary, FULL, Dataset::MdeAlerts);
    assert_eq!(e.status, DatasetStatus::Conflict, "{e:?}");
    assert!(
        summary.has_failures(),
        "a conflict is reported (an SQS job is then delivered again)"
    );
    assert!(
        e.error
            .as_deref()
            .is_some_and(|m| m.contains("another run advanced the checkpoint")),
        "{e:?}"
    );
    assert_eq!(
        store.attempts.load(Ordering::SeqCst),
        4,
        "the first attempt and three restarts, each stopped at its first checkpoint write"
    );
}

#[tokio::test]
async fn a_corrupt_checkpoint_stops_its_dataset_with_a_clear_error_and_is_left_as_it_was() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let key = checkpoint_key(Dataset::MdeAlerts, &tenant_id(FULL));
    store
        .put(
            &key,
            Bytes::from_static(b"{\"version\": 1, \"tenant_id\": "),
            PutCondition::Always,
        )
        .await
        .expect("put");
    let exporter = exporter(
        client(&sandbox, 3),
        store.clone(),
        vec![tenant(
            FULL,
            "Contoso",
            &[Dataset::MdeAlerts, Dataset::GraphAlertsV2],
        )],
        settings(),
        Arc::new(SimClock::default()),
    );
    let summary = run(&exporter, &ExportJob::default()).await;
    let e = entry(&summary, FULL, Dataset::MdeAlerts);
    assert_eq!(e.status, DatasetStatus::Failed);
    let message = e.error.clone().unwrap_or_default();
    assert!(
        message.contains("is corrupt") && message.contains(&store.location(&key)),
        "{message}"
    );
    assert!(
        message.contains("delete the object"),
        "the error says what to do: {message}"
    );
    assert_eq!(e.records, 0);
    assert!(
        exported(store.as_ref(), Dataset::MdeAlerts, FULL)
            .await
            .is_empty()
    );
    let still = store.get(&key).await.expect("get").expect("kept");
    assert_eq!(
        &still.body[..],
        b"{\"version\": 1, \"tenant_id\": ",
        "no silent reset"
    );
    assert_eq!(
        entry(&summary, FULL, Dataset::GraphAlertsV2).status,
        DatasetStatus::Completed
    );
}

#[tokio::test]
async fn a_tenant_without_consent_is_reported_while_the_others_export() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let datasets = [Dataset::MdeAlerts, Dataset::M365dIncidents];
    let exporter = exporter(
        client(&sandbox, 3),
        store.clone(),
        vec![
            tenant(FULL, "Contoso", &datasets),
            tenant(PARTIAL, "Fabrikam", &datasets),
            tenant(UNCONSENTED, "Northwind", &datasets),
        ],
        settings(),
        Arc::new(SimClock::default()),
    );
    let summary = run(&exporter, &ExportJob::default()).await;
    assert_eq!(summary.datasets.len(), 6);
    for d in datasets {
        for ok in [FULL, PARTIAL] {
            let e = entry(&summary, ok, d);
            assert_eq!(e.status, DatasetStatus::Completed, "{e:?}");
            assert!(e.records > 0, "{e:?}");
        }
        let e = entry(&summary, UNCONSENTED, d);
        assert_eq!(e.status, DatasetStatus::Failed, "{e:?}");
        let message = e.error.clone().unwrap_or_default();
        assert!(
            message.contains("consent"),
            "the error says consent is missing: {message}"
        );
        assert_eq!(e.quarantined, 0, "a tenant's failure quarantines no page");
    }
    assert!(summary.has_failures());
}

#[tokio::test]
async fn a_run_reaching_its_deadline_saves_progress_and_the_next_run_resumes_without_duplicates() {
    let mut config = sandbox_config();
    config.faults = vec![fault("/api/alerts*", FaultKind::Delay { millis: 40 }, None, None)];
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let client = client(&sandbox, 3);
    let mut s = settings();
    s.mde_alerts_page_size = 5;
    s.max_object_bytes = 1;
    s.deadline_margin_seconds = 0;
    let exporter = exporter(
        client.clone(),
        store.clone(),
        vec![tenant(FULL, "Contoso", &[Dataset::MdeAlerts])],
        s,
        Arc::new(SimClock::default()),
    );
    let job = ExportJob::default();
    let first = exporter
        .run(&job, Instant::now() + Duration::from_millis(1_200))
        .await
        .expect("run");
    let e = entry(&first, FULL, Dataset::MdeAlerts);
    assert_eq!(e.status, DatasetStatus::Partial, "{e:?}");
    assert!(e.records > 0 && e.error.is_none(), "{e:?}");
    let cp = store
        .get(&checkpoint_key(Dataset::MdeAlerts, &tenant_id(FULL)))
        .await
        .expect("get")
        .expect("progress saved");
    let cp: ExportCheckpoint = serde_json::from_slice(&cp.body).expect("checkpoint");
    assert_eq!(cp.version, 2);
    assert_eq!(
        cp.frontier, e.frontier,
        "the frontier is saved as far as objects were written"
    );
    assert!(
        cp.pass.is_none() && cp.watermark.is_none(),
        "no offset is ever saved"
    );

    let second = run(&exporter, &job).await;
    assert_eq!(
        entry(&second, FULL, Dataset::MdeAlerts).status,
        DatasetStatus::Completed
    );
    let keys = exported_keys(store.as_ref(), Dataset::MdeAlerts, FULL).await;
    let truth = current_versions(&client, Dataset::MdeAlerts, FULL).await;
    assert_eq!(keys.keys().cloned().collect::<BTreeSet<_>>(), truth);
    assert!(keys.values().all(|n| *n == 1), "resuming repeats nothing");
}

#[tokio::test]
async fn a_window_that_is_not_json_is_quarantined_and_holds_the_cursor() {
    let mut config = sandbox_config();
    // The first call learns the service's clock; the second reads the first window and gets an HTML page.
    config.faults = vec![FaultRule {
        nth_call: Some(2),
        ..fault("/api/alerts*", FaultKind::NotJson, None, Some(1))
    }];
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let client = client(&sandbox, 1);
    let exporter = contoso_exporter(client.clone(), store.clone(), &[Dataset::MdeAlerts]);
    let first = run(&exporter, &ExportJob::default()).await;
    let e = entry(&first, FULL, Dataset::MdeAlerts);
    assert_eq!(
        (e.status, e.quarantined, e.records),
        (DatasetStatus::Failed, 1, 0),
        "{e:?}"
    );
    let message = e.error.as_deref().unwrap_or_default();
    assert!(
        message.contains("recorded at") && message.contains("holds before it"),
        "{e:?}"
    );
    assert!(
        !message.contains("skip_failed_pages"),
        "skipping data is never suggested: {message}"
    );
    let keys = store.list("quarantine/mde_alerts/").await.expect("list");
    assert_eq!(keys.len(), 1);
    let q: QuarantinedPage =
        serde_json::from_slice(&store.get(&keys[0]).await.expect("get").expect("object").body).expect("json");
    assert_eq!((q.query.skip, q.query.top, q.moved_past), (0, 25, false));
    assert!(q.query.from < q.query.to, "{q:?}");
    assert!(
        q.error.contains("HTML or XML page instead of JSON"),
        "{}",
        q.error
    );

    let second = run(&exporter, &ExportJob::default()).await;
    assert_eq!(
        entry(&second, FULL, Dataset::MdeAlerts).status,
        DatasetStatus::Completed
    );
    let keys = exported_keys(store.as_ref(), Dataset::MdeAlerts, FULL).await;
    let truth = current_versions(&client, Dataset::MdeAlerts, FULL).await;
    assert_eq!(
        keys.keys().cloned().collect::<BTreeSet<_>>(),
        truth,
        "nothing was skipped"
    );
}

#[tokio::test]
async fn a_5xx_or_an_unreachable_service_fails_the_dataset_naming_the_host_and_quarantines_nothing() {
    let mut config = sandbox_config();
    config.faults = vec![fault(
        "/api/alerts*",
        FaultKind::Status { status: 500 },
        None,
        Some(2),
    )];
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let client = client(&sandbox, 1);
    let exporter = contoso_exporter(client.clone(), store.clone(), &[Dataset::MdeAlerts]);
    let first = run(&exporter, &ExportJob::default()).await;
    let e = entry(&first, FULL, Dataset::MdeAlerts);
    assert_eq!((e.status, e.quarantined), (DatasetStatus::Failed, 0), "{e:?}");
    let message = e.error.as_deref().unwrap_or_default();
    assert!(
        message.contains(&sandbox.base_url()),
        "the host is named: {message}"
    );
    assert!(
        !message.contains("skip"),
        "skipping data is never suggested: {message}"
    );
    assert!(store.list("quarantine/").await.expect("list").is_empty());
    let second = run(&exporter, &ExportJob::default()).await;
    assert_eq!(
        entry(&second, FULL, Dataset::MdeAlerts).status,
        DatasetStatus::Completed
    );

    // Nothing listens on the port any more: the same, and the message says the connection failed.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let gone = exporter_against(&format!("http://{addr}"), store.clone());
    let summary = run(&gone, &ExportJob::default()).await;
    let e = entry(&summary, FULL, Dataset::MdeAlerts);
    let message = e.error.as_deref().unwrap_or_default();
    assert_eq!((e.status, e.quarantined), (DatasetStatus::Failed, 0), "{e:?}");
    assert!(
        message.contains(&addr.to_string()) && message.contains("connection failed"),
        "{message}"
    );
}

#[tokio::test]
async fn records_without_id_or_last_update_are_kept_and_flagged_without_failing_their_window() {
    let mut config = sandbox_config();
    let strip = |path: &str, fields: &[&str]| FaultRule {
        // Call 1 learns the service's clock; call 2 reads the whole range in one window ($top 100).
        nth_call: Some(2),
        ..fault(
            path,
            FaultKind::MalformedRecords {
                drop_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            },
            None,
            None,
        )
    };
    config.faults = vec![
        strip("/api/alerts*", &["id"]),
        strip("/api/incidents*", &["lastUpdateTime"]),
    ];
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let client = client(&sandbox, 3);
    let mut s = settings();
    s.mde_alerts_page_size = 100;
    s.m365d_incidents_page_size = 100;
    let exporter = exporter(
        client.clone(),
        store.clone(),
        vec![tenant(
            FULL,
            "Contoso",
            &[Dataset::MdeAlerts, Dataset::M365dIncidents],
        )],
        s,
        Arc::new(SimClock::default()),
    );
    let summary = run(&exporter, &ExportJob::default()).await;
    for (d, flag) in [
        (Dataset::MdeAlerts, RecordFlag::MissingId),
        (Dataset::M365dIncidents, RecordFlag::MissingLastUpdate),
    ] {
        let total = current_versions(&client, d, FULL).await.len() as u64;
        let e = entry(&summary, FULL, d);
        assert_eq!(
            (e.status, e.records, e.flagged, e.quarantined),
            (DatasetStatus::Completed, total, total, 0),
            "{e:?}"
        );
        let lines: Vec<RecordEnvelope> = exported(store.as_ref(), d, FULL)
            .await
            .into_iter()
            .flat_map(|(_, l)| l)
            .collect();
        assert!(lines.iter().all(|l| l.flags == [flag]), "{d}");
        let keys: BTreeSet<&str> = lines.iter().map(|l| l.dedupe_key.as_str()).collect();
        assert_eq!(keys.len() as u64, total, "{d}: no two records share a dedupe key");
        assert!(
            lines
                .iter()
                .all(|l| l.record.as_object().is_some_and(|o| o.len() > 3)),
            "records are kept whole"
        );
    }
}

#[tokio::test]
async fn with_skip_failed_pages_the_run_moves_past_a_quarantined_window_and_only_its_records_are_missing() {
    let mut config = sandbox_config();
    config.faults = vec![FaultRule {
        nth_call: Some(4),
        ..fault("/api/alerts*", FaultKind::NotJson, None, Some(1))
    }];
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let client = client(&sandbox, 1);
    let mut s = settings();
    s.skip_failed_pages = true;
    let exporter = exporter(
        client.clone(),
        store.clone(),
        vec![tenant(FULL, "Contoso", &[Dataset::MdeAlerts])],
        s,
        Arc::new(SimClock::default()),
    );
    let summary = run(&exporter, &ExportJob::default()).await;
    let e = entry(&summary, FULL, Dataset::MdeAlerts);
    assert_eq!((e.status, e.quarantined), (DatasetStatus::Completed, 1), "{e:?}");
    let keys = store.list("quarantine/mde_alerts/").await.expect("list");
    let q: QuarantinedPage =
        serde_json::from_slice(&store.get(&keys[0]).await.expect("get").expect("object").body).expect("json");
    assert!(q.moved_past);
    let truth = current_versions(&client, Dataset::MdeAlerts, FULL).await;
    let in_window = |k: &String| {
        let at = k.split_once(':').map(|(_, t)| t).unwrap_or_default();
        at >= q.query.from.as_str() && at < q.query.to.as_str()
    };
    let exported: BTreeSet<String> = exported_keys(store.as_ref(), Dataset::MdeAlerts, FULL)
        .await
        .into_keys()
        .collect();
    assert!(exported.is_subset(&truth), "only versions the service holds");
    // Records of the window may have come with an earlier answer that was full (every record read is written),
    // so at most the quarantined window's records are missing, and nothing outside it.
    let missing: Vec<&String> = truth.difference(&exported).collect();
    assert!(
        missing.iter().all(|k| in_window(k)),
        "only records of the quarantined window are missing: {missing:?}"
    );
}

#[tokio::test]
async fn a_failed_object_write_leaves_the_checkpoint_alone_and_the_next_run_exports_everything() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Dataset::MdeAlerts;
    let failing = Arc::new(FailNextPut::new(local_store(&dir), "mde_alerts/", None));
    failing.armed.store(true, Ordering::SeqCst);
    let store: Arc<dyn ObjectStore> = failing.clone();
    let client = client(&sandbox, 3);
    let mut s = settings();
    s.max_object_bytes = 1 << 20;
    let exporter = exporter(
        client.clone(),
        store.clone(),
        vec![tenant(FULL, "Contoso", &[d])],
        s,
        Arc::new(SimClock::default()),
    );
    let failed = run(&exporter, &ExportJob::default()).await;
    let e = entry(&failed, FULL, d);
    assert_eq!((e.status, e.objects), (DatasetStatus::Failed, 0), "{e:?}");
    assert!(
        e.error
            .as_deref()
            .is_some_and(|m| m.contains("simulated failure writing under mde_alerts/")),
        "the storage error is reported: {e:?}"
    );
    let checkpoint = store
        .get(&checkpoint_key(d, &tenant_id(FULL)))
        .await
        .expect("get")
        .expect("the first run records where its coverage starts");
    let checkpoint: ExportCheckpoint = serde_json::from_slice(&checkpoint.body).expect("json");
    assert_eq!(
        checkpoint.frontier, checkpoint.covered_from,
        "no checkpoint mentions records that were not written"
    );

    let next = run(&exporter, &ExportJob::default()).await;
    assert_eq!(entry(&next, FULL, d).status, DatasetStatus::Completed);
    let keys = exported_keys(store.as_ref(), d, FULL).await;
    let truth = current_versions(&client, d, FULL).await;
    assert_eq!(
        keys.keys().cloned().collect::<BTreeSet<_>>(),
        truth,
        "nothing lost, nothing invented"
    );
    assert!(
        keys.values().all(|n| *n == 1),
        "each version once: the failed object never existed"
    );
}

/// Moves the sandbox's clock two hours on after the first page: the token the client holds expires mid-run.
struct ExpireTokensAfterFirstPage {
    sandbox: SandboxHandle,
    fired: AtomicBool,
}

impl incident_export::ExportObserver for ExpireTokensAfterFirstPage {
    fn page_read(&self, _: &mde_contracts::TenantId, _: Dataset, _: incident_export::ExportProgress) {
        if !self.fired.swap(true, Ordering::SeqCst) {
            self.sandbox.advance(Duration::from_secs(2 * 3600));
        }
    }
}

#[tokio::test]
async fn a_token_expiring_mid_run_is_renewed_once_and_the_run_loses_nothing() {
    let expiring = Arc::new(ExpireTokensAfterFirstPage {
        sandbox: start(sandbox_config()).await,
        fired: AtomicBool::new(false),
    });
    let sandbox = &expiring.sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Dataset::MdeAlerts;
    let client = client(sandbox, 3);
    let exporter = contoso_exporter(client.clone(), local_store(&dir), &[d]).with_observer(expiring.clone());
    let summary = run(&exporter, &ExportJob::default()).await;
    let e = entry(&summary, FULL, d);
    assert_eq!(e.status, DatasetStatus::Completed, "{e:?}");
    assert!(e.pages > 2, "the expiry falls between pages: {e:?}");
    let requests = sandbox.requests();
    let token_requests = requests.iter().filter(|r| r.path.ends_with("/token")).count();
    let refused = requests
        .iter()
        .filter(|r| r.path.starts_with("/api/alerts") && r.status == Some(401))
        .count();
    assert_eq!((token_requests, refused), (2, 1), "one 401, one renewal");
    // Versions the clock jump created at its last instant are the next run's, as for any update.
    let next = next_tick(&exporter).await;
    assert_eq!(entry(&next, FULL, d).status, DatasetStatus::Completed);
    let keys = exported_keys(&LocalObjectStore::new(dir.path(), ""), d, FULL).await;
    let truth = current_versions(&client, d, FULL).await;
    let missing: Vec<_> = truth.iter().filter(|k| !keys.contains_key(*k)).collect();
    assert!(missing.is_empty(), "lost versions: {missing:?}");
}

#[tokio::test]
async fn a_429_storm_fails_its_dataset_loudly_holds_the_cursor_and_the_next_run_catches_up() {
    let mut config = sandbox_config();
    // Every attempt of the first call (one try and three retries) is throttled; then the storm is over.
    config.faults = vec![fault(
        "/v1.0/security/alerts_v2*",
        FaultKind::TooManyRequests {
            retry_after_seconds: 0,
        },
        None,
        Some(4),
    )];
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let client = client(&sandbox, 3);
    let datasets = [Dataset::GraphIncidents, Dataset::GraphAlertsV2];
    let exporter = contoso_exporter(client.clone(), store.clone(), &datasets);
    let first = run(&exporter, &ExportJob::default()).await;
    let stormed = entry(&first, FULL, Dataset::GraphAlertsV2);
    assert_eq!(
        (stormed.status, stormed.records, stormed.quarantined),
        (DatasetStatus::Failed, 0, 0),
        "throttling is the tenant's condition, not a bad page: {stormed:?}"
    );
    assert!(
        stormed.error.as_deref().is_some_and(|m| m.contains("throttl")),
        "{stormed:?}"
    );
    assert_eq!(
        entry(&first, FULL, Dataset::GraphIncidents).status,
        DatasetStatus::Completed,
        "the tenant's other dataset goes on"
    );
    let checkpoint = store
        .get(&checkpoint_key(Dataset::GraphAlertsV2, &tenant_id(FULL)))
        .await
        .expect("get");
    assert!(checkpoint.is_none(), "the cursor holds");

    let second = run(&exporter, &ExportJob::default()).await;
    assert_eq!(
        entry(&second, FULL, Dataset::GraphAlertsV2).status,
        DatasetStatus::Completed
    );
    let keys = exported_keys(store.as_ref(), Dataset::GraphAlertsV2, FULL).await;
    let truth = current_versions(&client, Dataset::GraphAlertsV2, FULL).await;
    assert_eq!(keys.keys().cloned().collect::<BTreeSet<_>>(), truth);
}

#[tokio::test]
async fn a_permission_withdrawn_mid_run_fails_loudly_keeps_what_was_read_and_the_next_run_resumes() {
    let mut config = sandbox_config();
    // The eighth call is refused with 403, as when an administrator removes the application's role: by then
    // windows have been read (the first call learns the service's clock, the full first window is counted).
    config.faults = vec![FaultRule {
        nth_call: Some(8),
        ..fault("/api/alerts*", FaultKind::Status { status: 403 }, None, None)
    }];
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let client = client(&sandbox, 3);
    let d = Dataset::MdeAlerts;
    let mut s = settings();
    s.max_object_bytes = 1;
    let exporter = exporter(
        client.clone(),
        store.clone(),
        vec![tenant(FULL, "Contoso", &[d])],
        s,
        Arc::new(SimClock::default()),
    );
    let first = run(&exporter, &ExportJob::default()).await;
    let e = entry(&first, FULL, d);
    assert_eq!(
        (e.status, e.quarantined),
        (DatasetStatus::Failed, 0),
        "a refusal is the tenant's, not a window's: {e:?}"
    );
    assert!(
        e.records > 0 && e.objects > 0,
        "what was read before is kept: {e:?}"
    );
    let message = e.error.as_deref().unwrap_or_default();
    assert!(
        message.contains("Alert.Read.All") && message.contains("adminconsent"),
        "the error names the permission and the consent URL: {message}"
    );
    let cp = store
        .get(&checkpoint_key(d, &tenant_id(FULL)))
        .await
        .expect("get")
        .expect("progress saved");
    let cp: ExportCheckpoint = serde_json::from_slice(&cp.body).expect("checkpoint");
    assert!(
        cp.frontier > cp.covered_from,
        "the frontier moved past what was written: {cp:?}"
    );
    assert_eq!(cp.frontier, e.frontier);

    let second = run(&exporter, &ExportJob::default()).await;
    assert_eq!(entry(&second, FULL, d).status, DatasetStatus::Completed);
    let keys = exported_keys(store.as_ref(), d, FULL).await;
    let truth = current_versions(&client, d, FULL).await;
    assert_eq!(
        keys.keys().cloned().collect::<BTreeSet<_>>(),
        truth,
        "nothing lost"
    );
    assert!(keys.values().all(|n| *n == 1), "the next run repeats nothing");
}

/// A service that does not answer `$count` (404 here): the export sizes its windows without counts, asks once
/// only, quarantines nothing and loses nothing; a count refused with 403 fails the tenant like any refused call.
#[tokio::test]
async fn a_count_the_service_does_not_answer_only_costs_one_request() {
    let mut config = sandbox_config();
    config.data.alerts_per_tenant = 600;
    config.faults = vec![fault(
        "/api/alerts/$count",
        FaultKind::Status { status: 404 },
        None,
        None,
    )];
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let reader = client(&sandbox, 3);
    let d = Dataset::MdeAlerts;
    let counting = exporter(
        reader.clone(),
        store.clone(),
        vec![tenant(FULL, "Contoso", &[d])],
        incident_export::ExportSettings {
            mde_alerts_page_size: 100,
            max_object_bytes: 64 * 1024 * 1024,
            ..settings()
        },
        Arc::new(SimClock::default()),
    );
    let summary = run(&counting, &ExportJob::default()).await;
    let e = entry(&summary, FULL, d);
    assert_eq!((e.status, e.quarantined), (DatasetStatus::Completed, 0), "{e:?}");
    let counts = sandbox
        .requests()
        .iter()
        .filter(|r| r.path == "/api/alerts/$count")
        .count();
    assert_eq!(counts, 1, "asked once, then sized without counts");
    assert!(e.splits > 1, "full windows were halved instead: {e:?}");
    // The next tick takes the records of the run's last second (its end is the service's whole-second clock).
    next_tick(&counting).await;
    let keys = exported_keys(store.as_ref(), d, FULL).await;
    let truth = current_versions(&reader, d, FULL).await;
    let missing: Vec<_> = truth.iter().filter(|k| !keys.contains_key(*k)).collect();
    assert!(missing.is_empty(), "versions lost: {missing:?}");

    let mut config = sandbox_config();
    config.faults = vec![fault(
        "/api/alerts/$count",
        FaultKind::Status { status: 403 },
        None,
        None,
    )];
    let sandbox = start(config).await;
    let other = tempfile::tempdir().expect("tempdir");
    let refused = exporter(
        client(&sandbox, 3),
        local_store(&other),
        vec![tenant(FULL, "Contoso", &[d])],
        settings(),
        Arc::new(SimClock::default()),
    );
    let summary = run(&refused, &ExportJob::default()).await;
    let e = entry(&summary, FULL, d);
    assert_eq!((e.status, e.quarantined), (DatasetStatus::Failed, 0), "{e:?}");
}
