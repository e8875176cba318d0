//! What operators run into: a checkpoint from the future, a format-1 checkpoint, backfills with `since` (a gap,
//! nothing to do, the future), and a refused credential that fails the run once instead of every tenant.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use incident_export::{DatasetStatus, ExportCheckpoint, ExportJob, checkpoint_key, format_time};
use mde_contracts::Dataset;
use mde_platform::{ObjectStore, PutCondition};

async fn checkpoint(store: &dyn ObjectStore, d: Dataset) -> ExportCheckpoint {
    let object = store
        .get(&checkpoint_key(d, &tenant_id(FULL)))
        .await
        .expect("get")
        .expect("a checkpoint");
    serde_json::from_slice(&object.body).expect("json")
}

async fn put_checkpoint(store: &dyn ObjectStore, d: Dataset, cp: &ExportCheckpoint) {
    store
        .put(
            &checkpoint_key(d, &tenant_id(FULL)),
            Bytes::from(serde_json::to_vec(cp).expect("json")),
            PutCondition::Always,
        )
        .await
        .expect("put");
}

#[tokio::test]
async fn a_checkpoint_whose_frontier_is_in_the_future_fails_loudly_with_the_fix() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let exporter = contoso_exporter(client(&sandbox, 2), store.clone(), &[Dataset::MdeAlerts]);
    run(&exporter, &ExportJob::default()).await;
    let mut cp = checkpoint(store.as_ref(), Dataset::MdeAlerts).await;
    cp.frontier = Some(format_time(sandbox.now() + time::Duration::days(2)));
    put_checkpoint(store.as_ref(), Dataset::MdeAlerts, &cp).await;
    let before = checkpoint(store.as_ref(), Dataset::MdeAlerts).await;

    let summary = run(&exporter, &ExportJob::default()).await;
    let e = entry(&summary, FULL, Dataset::MdeAlerts);
    assert_eq!(
        e.status,
        DatasetStatus::Failed,
        "never a silent stall with exit 0: {e:?}"
    );
    let message = e.error.as_deref().unwrap_or_default();
    assert!(message.contains("the service's clock says it is"), "{message}");
    assert!(
        message.contains("Set its \"frontier\""),
        "the fix is named: {message}"
    );
    assert!(summary.has_failures());
    assert_eq!(
        checkpoint(store.as_ref(), Dataset::MdeAlerts).await,
        before,
        "left as it was"
    );
}

#[tokio::test]
async fn a_format_one_checkpoint_is_upgraded_and_nothing_it_exported_is_written_again() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let client = client(&sandbox, 2);
    let exporter = contoso_exporter(client.clone(), store.clone(), &[Dataset::MdeAlerts]);
    // A format-1 checkpoint that had seen every current version, its watermark now.
    let truth = current_versions(&client, Dataset::MdeAlerts, FULL).await;
    let seen: Vec<serde_json::Value> = truth
        .iter()
        .map(|k| {
            let (id, at) = k.split_once(':').expect("key");
            serde_json::json!({"id": id, "last_update": at})
        })
        .collect();
    let v1 = serde_json::json!({
        "version": 1, "tenant_id": FULL, "dataset": "mde_alerts",
        "watermark": format_time(sandbox.now()), "seen": seen,
        "run_id": "old", "updated_at": format_time(sandbox.now()),
    });
    store
        .put(
            &checkpoint_key(Dataset::MdeAlerts, &tenant_id(FULL)),
            Bytes::from(v1.to_string()),
            PutCondition::Always,
        )
        .await
        .expect("put");
    let summary = run(&exporter, &ExportJob::default()).await;
    let e = entry(&summary, FULL, Dataset::MdeAlerts);
    assert_eq!((e.status, e.records), (DatasetStatus::Completed, 0), "{e:?}");
    assert_eq!(checkpoint(store.as_ref(), Dataset::MdeAlerts).await.version, 2);
}

#[tokio::test]
async fn since_before_the_coverage_backfills_the_gap_once_and_a_covered_since_has_nothing_to_do() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let client = client(&sandbox, 2);
    let mut s = settings();
    // The first run covers only the last two days; the demo world holds alerts from the last thirty.
    s.initial_lookback_seconds = 2 * 24 * 3600;
    let exporter = exporter(
        client.clone(),
        store.clone(),
        vec![tenant(FULL, "Contoso", &[Dataset::MdeAlerts])],
        s,
        Arc::new(SimClock::default()),
    );
    run(&exporter, &ExportJob::default()).await;
    let covered = checkpoint(store.as_ref(), Dataset::MdeAlerts)
        .await
        .covered_from
        .expect("covered_from");
    let before: BTreeSet<String> = exported_keys(store.as_ref(), Dataset::MdeAlerts, FULL)
        .await
        .into_keys()
        .collect();
    let truth = current_versions(&client, Dataset::MdeAlerts, FULL).await;
    assert!(before.len() < truth.len(), "older alerts are not covered yet");

    let since = format_time(sandbox.now() - time::Duration::days(60));
    let job = ExportJob {
        since: Some(since.clone()),
        ..ExportJob::default()
    };
    let summary = run(&exporter, &job).await;
    let e = entry(&summary, FULL, Dataset::MdeAlerts);
    assert_eq!(e.status, DatasetStatus::Completed, "{e:?}");
    let after = exported_keys(store.as_ref(), Dataset::MdeAlerts, FULL).await;
    assert_eq!(
        after.keys().cloned().collect::<BTreeSet<_>>(),
        truth,
        "the gap is exported"
    );
    assert!(after.values().all(|n| *n == 1), "and nothing twice");
    let cp = checkpoint(store.as_ref(), Dataset::MdeAlerts).await;
    assert_eq!(cp.covered_from.as_deref(), Some(since.as_str()));
    assert!(cp.backfill.is_none());
    assert!(covered > since);

    let again = run(&exporter, &job).await;
    let e = entry(&again, FULL, Dataset::MdeAlerts);
    assert_eq!((e.status, e.records), (DatasetStatus::Completed, 0), "{e:?}");
    assert!(
        e.note
            .as_deref()
            .is_some_and(|n| n.contains("nothing to backfill")),
        "{e:?}"
    );

    let future = ExportJob {
        since: Some(format_time(sandbox.now() + time::Duration::days(1))),
        ..ExportJob::default()
    };
    let err = exporter.run(&future, far_deadline()).await.expect_err("refused");
    assert!(err.to_string().contains("is in the future"), "{err}");
}

#[tokio::test]
async fn a_backfill_goes_on_over_several_runs_when_each_has_a_call_budget() {
    let mut config = sandbox_config();
    config.data.alerts_per_tenant = 200;
    let sandbox = start(config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let client = client(&sandbox, 2);
    let mut s = settings();
    s.initial_lookback_seconds = 3600;
    s.max_calls_per_dataset = Some(3);
    let exporter = exporter(
        client.clone(),
        store.clone(),
        vec![tenant(FULL, "Contoso", &[Dataset::MdeAlerts])],
        s,
        Arc::new(SimClock::default()),
    );
    let job = ExportJob {
        since: Some(format_time(sandbox.now() - time::Duration::days(60))),
        ..ExportJob::default()
    };
    let mut partial = 0;
    for _ in 0..100 {
        let summary = run(&exporter, &job).await;
        match entry(&summary, FULL, Dataset::MdeAlerts).status {
            DatasetStatus::Completed => break,
            DatasetStatus::Partial => partial += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(partial > 1, "the budget spread the work over runs ({partial})");
    // The demo world's newest versions carry the service's "now": the next scheduled run takes them.
    next_tick(&exporter).await;
    let keys = exported_keys(store.as_ref(), Dataset::MdeAlerts, FULL).await;
    assert_eq!(
        keys.keys().cloned().collect::<BTreeSet<_>>(),
        current_versions(&client, Dataset::MdeAlerts, FULL).await
    );
    assert!(keys.values().all(|n| *n == 1));
}

#[tokio::test]
async fn a_refused_credential_fails_the_run_once_instead_of_every_tenant_and_dataset() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let client = client_with_secret(&sandbox, "a-revoked-secret");
    let exporter = exporter(
        client,
        store.clone(),
        vec![
            tenant(FULL, "Contoso", &[Dataset::MdeAlerts, Dataset::GraphIncidents]),
            tenant(PARTIAL, "Fabrikam", &[Dataset::MdeAlerts]),
        ],
        settings(),
        Arc::new(SimClock::default()),
    );
    let summary = run(&exporter, &ExportJob::default()).await;
    let error = summary.error.clone().expect("a run-level error");
    assert!(error.contains("application credential was refused"), "{error}");
    let attempted = summary
        .datasets
        .iter()
        .filter(|d| !d.error.as_deref().unwrap_or("").starts_with("not attempted"))
        .count();
    assert!(
        attempted <= 2,
        "one failure per concurrent tenant at most, then the run stops: {:?}",
        summary.datasets
    );
    let token_requests = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.contains("/oauth2/"))
        .count();
    assert!(token_requests <= 8, "{token_requests} token requests");
    assert!(!error.contains("a-revoked-secret"));
}
