//! The broker serves an MSSP-sized registry (2,000 tenants in DynamoDB, on moto) with a bounded number of reads,
//! whatever the number of requests, and follows it: a tenant disabled there is refused after the cache's TTL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use mde_contracts::{BrokerError, BrokerResponse, Dataset};
use mde_defender::DirectTokenSource;
use mde_platform::registry::{DynamoRegistry, Expect};
use mde_platform::{TenantRegistry, Tenants, testing};
use mde_sandbox::{Sandbox, SandboxConfig};
use mde_tokens::SecretCredential;
use serde_json::json;
use token_broker::Broker;

fn customer(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

#[tokio::test]
async fn two_thousand_tenants_cost_one_registry_read_per_ttl_however_many_requests() {
    let sdk = testing::aws_sdk_config().await;
    let table = testing::create_registry_table(&sdk).await;
    let registry = Arc::new(DynamoRegistry::new(aws_sdk_dynamodb::Client::new(&sdk), &table));
    let records = (0..1_999)
        .map(customer)
        .chain([mde_sandbox::DEMO_TENANT_FULL.to_string()])
        .map(|id| {
            let mut t = testing::tenant_record(&id, "Customer");
            t.datasets = vec![Dataset::MdeAlerts];
            t
        });
    let _: Vec<_> = futures::stream::iter(records.map(|t| {
        let registry = registry.clone();
        async move { registry.put(&t, Expect::Absent).await.expect("create") }
    }))
    .buffer_unordered(16)
    .collect()
    .await;

    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("s.json");
    write_secret(&secrets, credential_json(mde_sandbox::DEMO_CLIENT_SECRET));
    let store = Arc::new(mde_platform::secrets::LocalSecretStore::new(&secrets));
    let credential = Arc::new(SecretCredential::new(store, SECRET_ID));
    let http = mde_defender::build_http_client(&partner()).expect("http");
    let tokens = DirectTokenSource::new(
        http,
        endpoints(&sandbox),
        Default::default(),
        credential.clone(),
        Duration::from_secs(300),
    );
    let tenants = Arc::new(Tenants::new(registry.clone(), Duration::from_secs(300)));
    let broker = Arc::new(Broker::new(tenants.clone(), Arc::new(tokens), Some(credential)));

    let before = registry.calls();
    let requests = (0..300).map(|i| {
        let broker = broker.clone();
        let tenant = if i % 3 == 0 {
            mde_sandbox::DEMO_TENANT_FULL.to_string()
        } else {
            customer(i)
        };
        async move {
            broker
                .handle(json!({"tenant_id": tenant, "audience": "mde"}))
                .await
        }
    });
    let answers: Vec<BrokerResponse> = futures::stream::iter(requests)
        .buffer_unordered(32)
        .collect()
        .await;
    let tokens = answers
        .iter()
        .filter(|a| matches!(a, BrokerResponse::Token(_)))
        .count();
    assert_eq!(tokens, 100, "the consented tenant gets its tokens");
    let reads = registry.calls() - before;
    assert!(
        (1..=3).contains(&reads),
        "300 requests read the registry {reads} time(s)"
    );

    // Disabled in the registry: refused once the cache is read again.
    let full = mde_sandbox::DEMO_TENANT_FULL.parse().expect("guid");
    let mut record = registry.get(&full).await.expect("get").expect("present");
    record.enabled = false;
    registry
        .put(&record, Expect::Version(record.version))
        .await
        .expect("disable");
    tenants.invalidate().await;
    match broker
        .handle(json!({"tenant_id": mde_sandbox::DEMO_TENANT_FULL, "audience": "mde"}))
        .await
    {
        BrokerResponse::Error(BrokerError::UnknownTenant { .. }) => {}
        other => panic!("a disabled tenant is refused, got {other:?}"),
    }
}
