//! The Lambda handler without the runtime: a scheduler payload that fans out one job per tenant on a queue, and
//! the queue's SQS event consumed by the same handler, failed tenants reported as batch item failures.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use incident_export::{DatasetStatus, ExportObserver, ExportRunSummary, ExportSettings, handle};
use mde_contracts::{Dataset, DatasetRunSummary, TenantId};
use mde_platform::Queue;
use mde_platform::queue::LocalQueue;
use serde_json::json;

/// Fans `exporter`'s tenants out on a local queue and returns the queue's messages as the SQS event Lambda
/// would deliver (one batch), with the messages.
async fn fanned_out(
    exporter: &incident_export::Exporter,
    queue: &LocalQueue,
    jobs: usize,
) -> (serde_json::Value, Vec<mde_platform::QueueMessage>) {
    let answer = handle(exporter, Some(queue), json!({"fan_out": true}), far_deadline())
        .await
        .expect("fan out");
    let summary: ExportRunSummary = serde_json::from_value(answer).expect("a summary");
    assert_eq!(summary.jobs_enqueued, jobs as u64);
    assert!(summary.datasets.is_empty(), "fan-out exports nothing itself");
    let messages = queue.receive(10, Duration::from_secs(60)).await.expect("receive");
    assert_eq!(messages.len(), jobs);
    let event = json!({
        "Records": messages.iter().map(|m| json!({
            "messageId": m.id, "body": m.body, "eventSource": "aws:sqs",
        })).collect::<Vec<_>>()
    });
    (event, messages)
}

#[tokio::test]
async fn a_fan_out_run_enqueues_one_job_per_tenant_and_the_queue_event_runs_them() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let exporter = exporter(
        client(&sandbox, 2),
        store.clone(),
        vec![
            tenant(FULL, "Contoso", &[Dataset::GraphIncidents]),
            tenant(UNCONSENTED, "Northwind", &[Dataset::GraphIncidents]),
        ],
        settings(),
        Arc::new(SimClock::default()),
    );
    let queue = LocalQueue::new();
    let (event, messages) = fanned_out(&exporter, &queue, 2).await;
    let answer = handle(&exporter, Some(&queue), event, far_deadline())
        .await
        .expect("batch");
    let failures = answer["batchItemFailures"]
        .as_array()
        .expect("batch item failures");
    assert_eq!(failures.len(), 1, "{answer}");
    let failed_id = failures[0]["itemIdentifier"].as_str().expect("an id");
    let failed = messages.iter().find(|m| m.id == failed_id).expect("a message");
    assert!(
        failed.body.contains(UNCONSENTED),
        "the unconsented tenant's job is retried: {}",
        failed.body
    );
    assert!(
        !exported(store.as_ref(), Dataset::GraphIncidents, FULL)
            .await
            .is_empty()
    );
}

/// Counts the (tenant, dataset) exports under way, and the most at once.
#[derive(Default)]
struct Overlap {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl ExportObserver for Overlap {
    fn started(&self, _: &TenantId, _: Dataset) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }
    fn finished(&self, _: &DatasetRunSummary) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn the_jobs_of_an_sqs_batch_run_concurrently_up_to_the_tenant_concurrency() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = local_store(&dir);
    let overlap = Arc::new(Overlap::default());
    let exporter = exporter(
        client(&sandbox, 2),
        store.clone(),
        vec![
            tenant(FULL, "Contoso", &[Dataset::MdeAlerts]),
            tenant(PARTIAL, "Fabrikam", &[Dataset::MdeAlerts]),
        ],
        ExportSettings {
            tenant_concurrency: 2,
            ..settings()
        },
        Arc::new(SimClock::default()),
    )
    .with_observer(overlap.clone());
    let queue = LocalQueue::new();
    let (event, _) = fanned_out(&exporter, &queue, 2).await;
    let answer = handle(&exporter, Some(&queue), event, far_deadline())
        .await
        .expect("batch");
    assert!(answer["batchItemFailures"].is_array(), "{answer}");
    assert_eq!(
        overlap.most.load(Ordering::SeqCst),
        2,
        "the batch's two tenants were exported at the same time"
    );
    assert!(
        !exported(store.as_ref(), Dataset::MdeAlerts, FULL)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_scheduler_payload_runs_the_export_and_answers_the_summary() {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = exporter(
        client(&sandbox, 2),
        local_store(&dir),
        vec![tenant(
            FULL,
            "Contoso",
            &[Dataset::M365dIncidents, Dataset::MdeAlerts],
        )],
        settings(),
        Arc::new(SimClock::default()),
    );
    let payload = json!({"datasets": ["m365d_incidents"], "since": "2020-01-01T00:00:00Z"});
    let answer = handle(&exporter, None, payload, far_deadline())
        .await
        .expect("run");
    let summary: ExportRunSummary = serde_json::from_value(answer).expect("a summary");
    assert_eq!(summary.datasets.len(), 1, "only the dataset asked for");
    assert_eq!(summary.datasets[0].status, DatasetStatus::Completed);

    let err = handle(&exporter, None, json!({"since": "last week"}), far_deadline())
        .await
        .expect_err("a bad since");
    assert!(err.to_string().contains("RFC 3339"), "{err}");
    let err = handle(&exporter, None, json!({"tenants": [UNCONSENTED]}), far_deadline())
        .await
        .expect_err("a tenant outside the registry");
    assert!(err.to_string().contains("is not in the tenant registry"), "{err}");
    let err = handle(&exporter, None, json!({"fan_out": true}), far_deadline())
        .await
        .expect_err("no queue");
    assert!(err.to_string().contains("MDE_BRIDGE_EXPORT_QUEUE_URL"), "{err}");
}
