//! The tenant registry: the file and DynamoDB adapters pass the same behavioural suite; DynamoDB holds an MSSP's
//! 2,000 tenants and reads them in a bounded number of calls; a malformed item is reported with its key and
//! skipped; the per-process cache reads once per TTL and keeps the last good copy when a reload fails.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use mde_contracts::TenantConfig;
use mde_platform::registry::{DynamoRegistry, Expect, FileRegistry, InlineRegistry};
use mde_platform::{PlatformError, TenantRegistry, Tenants, testing};

#[tokio::test]
async fn the_file_registry_passes_the_registry_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    testing::tenant_registry_suite(Arc::new(FileRegistry::new(dir.path().join("reg/tenants.json")))).await;
}

#[tokio::test]
async fn the_dynamodb_registry_passes_the_registry_suite() {
    let sdk = testing::aws_sdk_config().await;
    let table = testing::create_registry_table(&sdk).await;
    testing::tenant_registry_suite(Arc::new(DynamoRegistry::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table,
    )))
    .await;
}

fn tenant_id(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

#[tokio::test]
async fn two_thousand_tenants_are_read_in_a_bounded_number_of_calls_and_a_malformed_item_is_skipped() {
    let sdk = testing::aws_sdk_config().await;
    let table = testing::create_registry_table(&sdk).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let registry = Arc::new(DynamoRegistry::new(client.clone(), &table));

    // 2,000 tenants, written concurrently as an import would.
    let writes = (0..2_000).map(|i| {
        let registry = registry.clone();
        async move {
            let mut t = testing::tenant_record(&tenant_id(i), &format!("Customer {i}"));
            t.datasets = vec![
                mde_contracts::Dataset::MdeAlerts,
                mde_contracts::Dataset::GraphIncidents,
            ];
            registry.put(&t, Expect::Absent).await.expect("create")
        }
    });
    let created: Vec<_> = futures::stream::iter(writes).buffer_unordered(16).collect().await;
    assert_eq!(created.len(), 2_000);
    // An item someone wrote by hand: a tenant id that is not a GUID.
    client
        .put_item()
        .table_name(&table)
        .item("tenant_id", AttributeValue::S("not-a-guid".into()))
        .item("display_name", AttributeValue::S("Broken".into()))
        .send()
        .await
        .expect("put a malformed item");

    let before = registry.calls();
    let tenants = Tenants::new(registry.clone(), Duration::from_secs(300));
    let snapshot = tenants.snapshot().await.expect("loaded");
    assert_eq!(snapshot.len(), 2_000);
    assert_eq!(snapshot.problems().len(), 1);
    assert_eq!(snapshot.problems()[0].key, "not-a-guid");
    assert!(
        snapshot.problems()[0].reason.contains("not a GUID"),
        "{:?}",
        snapshot.problems()
    );
    let scan_calls = registry.calls() - before;
    // 2,000 items of about 150 bytes fit in one 1 MB Scan page; allow for the emulator paging smaller.
    assert!(scan_calls <= 3, "{scan_calls} Scan calls for 2,000 tenants");

    // Many callers, one read per TTL.
    let readers = (0..200).map(|_| tenants.snapshot());
    for s in futures::future::join_all(readers).await {
        assert_eq!(s.expect("snapshot").len(), 2_000);
    }
    assert_eq!(
        registry.calls() - before,
        scan_calls,
        "the cache answered every later caller"
    );

    // An operator updates one tenant with a stale version: refused; with the right one: applied.
    let id = tenant_id(7).parse().expect("guid");
    let current = registry.get(&id).await.expect("get").expect("present");
    let mut disabled = current.clone();
    disabled.enabled = false;
    registry
        .put(&disabled, Expect::Version(current.version))
        .await
        .expect("disable");
    let err = registry
        .put(&current, Expect::Version(current.version))
        .await
        .expect_err("stale");
    assert!(matches!(err, PlatformError::VersionConflict { .. }), "{err}");
    tenants.invalidate().await;
    let snapshot = tenants.snapshot().await.expect("reloaded");
    assert!(
        snapshot.get(&id).is_some() && snapshot.enabled(&id).is_none(),
        "disabled, still listed"
    );
    assert_eq!(snapshot.all_enabled().count(), 1_999);
}

/// A registry that fails on demand, to see the cache keep its last good copy.
struct Flaky {
    inner: InlineRegistry,
    fail: std::sync::atomic::AtomicBool,
    scans: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl TenantRegistry for Flaky {
    fn describe(&self) -> String {
        "a flaky registry".into()
    }
    async fn scan(&self) -> mde_platform::Result<mde_platform::registry::RegistryScan> {
        self.scans.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PlatformError::Config("down".into()));
        }
        self.inner.scan().await
    }
    async fn get(&self, tenant: &mde_contracts::TenantId) -> mde_platform::Result<Option<TenantConfig>> {
        self.inner.get(tenant).await
    }
    async fn put(&self, record: &TenantConfig, expect: Expect) -> mde_platform::Result<TenantConfig> {
        self.inner.put(record, expect).await
    }
}

#[tokio::test(start_paused = true)]
async fn the_cache_reads_again_after_its_ttl_and_keeps_the_last_good_copy_when_that_fails() {
    use std::sync::atomic::Ordering;
    let flaky = Arc::new(Flaky {
        inner: InlineRegistry::new(vec![testing::tenant_record(&tenant_id(1), "One")]),
        fail: false.into(),
        scans: 0.into(),
    });
    let tenants = Tenants::new(flaky.clone(), Duration::from_secs(60));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let seen = seen.clone();
        tenants.on_load(move |s| seen.lock().expect("lock").push(s.len()));
    }
    assert_eq!(tenants.snapshot().await.expect("first").len(), 1);
    tokio::time::advance(Duration::from_secs(30)).await;
    tenants.snapshot().await.expect("cached");
    assert_eq!(flaky.scans.load(Ordering::SeqCst), 1);

    tokio::time::advance(Duration::from_secs(31)).await;
    flaky.fail.store(true, Ordering::SeqCst);
    assert_eq!(tenants.snapshot().await.expect("stale copy").len(), 1);
    assert_eq!(flaky.scans.load(Ordering::SeqCst), 2);
    tenants.snapshot().await.expect("stale copy");
    assert_eq!(
        flaky.scans.load(Ordering::SeqCst),
        2,
        "a failed reload is retried after a pause, not at once"
    );

    flaky.fail.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(31)).await;
    tenants.snapshot().await.expect("fresh");
    assert_eq!(flaky.scans.load(Ordering::SeqCst), 3);
    assert_eq!(
        *seen.lock().expect("lock"),
        [1, 1],
        "listeners see each snapshot loaded"
    );

    let empty = Tenants::new(
        Arc::new(Flaky {
            inner: InlineRegistry::new(Vec::new()),
            fail: true.into(),
            scans: 0.into(),
        }),
        Duration::from_secs(60),
    );
    assert!(empty.snapshot().await.is_err(), "with no good copy, the error");
}

#[tokio::test]
async fn the_file_registry_reports_a_bad_entry_by_key_and_keeps_it_on_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tenants.json");
    let good = tenant_id(1);
    std::fs::write(
        &path,
        serde_json::json!({"tenants": [
            {"tenant_id": good, "display_name": "Good"},
            {"tenant_id": tenant_id(2), "display_name": "Typo", "datasetz": ["mde_alerts"]},
            {"display_name": "No id"},
        ]})
        .to_string(),
    )
    .expect("write");
    let registry = FileRegistry::new(&path);
    let scan = registry.scan().await.expect("scan");
    assert_eq!(scan.tenants.len(), 1);
    let problems: HashMap<String, String> = scan.problems.into_iter().map(|p| (p.key, p.reason)).collect();
    assert!(problems[&tenant_id(2)].contains("datasetz"), "{problems:?}");
    assert!(problems.contains_key("tenants[2]"), "{problems:?}");

    let mut t = scan.tenants[0].clone();
    t.display_name = "Good, renamed".into();
    registry
        .put(&t, Expect::Version(0))
        .await
        .expect("update a hand-written record");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.contains("datasetz") && text.contains("No id"),
        "bad entries are kept as they were:\n{text}"
    );

    std::fs::write(&path, "{\"tenants\": 3}").expect("write");
    let err = registry.scan().await.expect_err("not a list");
    assert!(
        err.to_string().contains("tenants.json") && err.to_string().contains("not a list"),
        "{err}"
    );
}
