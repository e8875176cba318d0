//! The export reads an MSSP-sized tenant registry (2,000 tenants in DynamoDB, on moto) in a bounded number of
//! calls, and fans out one job per enabled tenant. (The queue here is the in-process one: moto's SQS slows down
//! quadratically with queue depth, about a minute for 2,000 messages; SQS batching is tested in mde-platform.)

mod common;

use std::sync::Arc;

use futures::StreamExt;
use std::time::Duration;

use common::*;
use incident_export::{ExportJob, Exporter, handle};
use mde_contracts::Dataset;
use mde_platform::Queue;
use mde_platform::queue::LocalQueue;
use mde_platform::registry::{DynamoRegistry, Expect};
use mde_platform::{TenantRegistry, Tenants, testing};
use serde_json::json;

fn customer(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

#[tokio::test]
async fn a_fan_out_over_two_thousand_tenants_reads_the_registry_once_and_enqueues_one_job_per_enabled_tenant()
{
    let sdk = testing::aws_sdk_config().await;
    let table = testing::create_registry_table(&sdk).await;
    let registry = Arc::new(DynamoRegistry::new(aws_sdk_dynamodb::Client::new(&sdk), &table));
    let writes = (0..2_000).map(|i| {
        let registry = registry.clone();
        async move {
            let mut t = testing::tenant_record(&customer(i), &format!("Customer {i}"));
            t.datasets = vec![Dataset::MdeAlerts];
            // Every hundredth customer has left: disabled, still listed.
            t.enabled = i % 100 != 0;
            registry.put(&t, Expect::Absent).await.expect("create")
        }
    });
    let _: Vec<_> = futures::stream::iter(writes).buffer_unordered(16).collect().await;

    let queue = LocalQueue::new();

    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let tenants = Arc::new(Tenants::new(registry.clone(), Duration::from_secs(300)));
    let exporter = Exporter::new(client(&sandbox, 1), local_store(&dir), tenants, settings());

    let before = registry.calls();
    for _ in 0..3 {
        let answer = handle(&exporter, Some(&queue), json!({"fan_out": true}), far_deadline())
            .await
            .expect("fan out");
        assert_eq!(answer["jobs_enqueued"], 1_980, "{answer}");
    }
    let registry_calls = registry.calls() - before;
    assert!(
        (1..=3).contains(&registry_calls),
        "three scheduled fan-outs within the cache's TTL read the registry once: {registry_calls} calls"
    );

    let mut jobs = std::collections::BTreeSet::new();
    loop {
        let batch = queue
            .receive(10, Duration::from_secs(600))
            .await
            .expect("receive");
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let job: ExportJob = serde_json::from_str(&m.body).expect("a job");
            assert_eq!(job.tenants.len(), 1);
            jobs.insert(job.tenants[0].to_string());
        }
    }
    assert_eq!(jobs.len(), 1_980, "every enabled tenant, none disabled");
    assert!(!jobs.contains(&customer(100)));

    // A job for a disabled customer is refused, naming why.
    let job = ExportJob {
        tenants: vec![customer(100).parse().expect("guid")],
        ..ExportJob::default()
    };
    let err = exporter.run(&job, far_deadline()).await.expect_err("disabled");
    assert!(
        err.to_string().contains("is disabled in the tenant registry"),
        "{err}"
    );
    assert!(
        sandbox.requests().iter().all(|r| !r.path.contains("/api/alerts")),
        "nothing was exported"
    );
}
