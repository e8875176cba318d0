//! Behavioural suites that every adapter of a port must pass, and helpers to reach the local AWS emulator.
//!
//! Each suite takes the port as a trait object, so the local adapter and the AWS adapter (over the real SDK,
//! against moto server) are held to exactly the same behaviour. Suites panic with a message on failure.

pub mod fuzz;
mod lambda_runtime;
pub mod soak;

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use bytes::Bytes;
use secrecy::ExposeSecret;

use crate::PlatformError;
use crate::invoke::{FunctionInvoker, LocalFunction};
use crate::objects::{ObjectStore, PutCondition};
use crate::queue::{Queue, SendOptions};
use crate::secrets::{SecretStore, read_json_secret};

pub use lambda_runtime::LambdaRuntime;

/// The system clock moved forward by what a test advanced it (to follow an emulator's simulated time).
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset: std::sync::Mutex<Duration>,
}

impl OffsetClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut offset = self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *offset += by;
    }
}

impl crate::Clock for OffsetClock {
    fn now(&self) -> time::OffsetDateTime {
        let offset = *self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        time::OffsetDateTime::now_utc() + offset
    }
}

/// The variable the test script sets to moto server's URL.
pub const AWS_ENDPOINT_VAR: &str = "MDE_TEST_AWS_ENDPOINT";

/// moto server's URL. Panics with instructions when the test runs without it.
pub fn aws_endpoint() -> String {
    std::env::var(AWS_ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!(
            "{AWS_ENDPOINT_VAR} is not set: this test needs the local AWS emulator. Run `scripts/test` (it \
             installs and starts moto server), or start one with `scripts/moto start` and export the URL it prints"
        )
    })
}

/// SDK configuration for moto: static test credentials, `us-east-1`, the endpoint override.
pub async fn aws_sdk_config() -> SdkConfig {
    let creds = aws_credential_types::Credentials::new("testing", "testing", None, None, "mde-bridge-tests");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(aws_endpoint())
        .load()
        .await
}

/// A name no other test uses, for buckets, queues and secrets.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// The `ObjectStore` contract: reads, writes, conditional writes (existing key, stale etag, concurrent
/// creators), listing by prefix, key validation.
pub async fn object_store_suite(store: Arc<dyn ObjectStore>) {
    let root = unique_name("suite");
    let key = format!("{root}/checkpoints/t1.json");

    assert!(
        store.get(&key).await.expect("get missing").is_none(),
        "a missing key reads as None"
    );

    let etag1 = store
        .put(&key, Bytes::from_static(b"v1"), PutCondition::Always)
        .await
        .expect("put");
    let got = store.get(&key).await.expect("get").expect("present");
    assert_eq!(got.body, Bytes::from_static(b"v1"));
    assert_eq!(got.etag, etag1, "get returns the etag put returned");

    let err = store
        .put(&key, Bytes::from_static(b"other"), PutCondition::IfAbsent)
        .await;
    assert!(
        matches!(err, Err(PlatformError::PreconditionFailed { .. })),
        "IfAbsent on an existing key: {err:?}"
    );
    assert_eq!(
        store.get(&key).await.expect("get").expect("present").body,
        Bytes::from_static(b"v1")
    );

    let etag2 = store
        .put(
            &key,
            Bytes::from_static(b"v2"),
            PutCondition::IfMatch(etag1.clone()),
        )
        .await
        .expect("IfMatch with the current etag");
    assert_ne!(etag1, etag2, "content changed, so did the etag");
    let stale = store
        .put(&key, Bytes::from_static(b"v3"), PutCondition::IfMatch(etag1))
        .await;
    assert!(
        matches!(stale, Err(PlatformError::PreconditionFailed { .. })),
        "stale etag: {stale:?}"
    );
    assert_eq!(
        store.get(&key).await.expect("get").expect("present").body,
        Bytes::from_static(b"v2")
    );

    let fresh = format!("{root}/checkpoints/t2.json");
    store
        .put(&fresh, Bytes::from_static(b"new"), PutCondition::IfAbsent)
        .await
        .expect("IfAbsent on a new key");

    // Sixteen writers race to create the same key: exactly one wins.
    let contested = format!("{root}/contested.json");
    let racers = (0..16).map(|i| {
        let store = Arc::clone(&store);
        let key = contested.clone();
        tokio::spawn(async move {
            store
                .put(&key, Bytes::from(format!("writer {i}")), PutCondition::IfAbsent)
                .await
        })
    });
    let results = futures::future::join_all(racers).await;
    let winners = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let losers = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(PlatformError::PreconditionFailed { .. }))))
        .count();
    assert_eq!(
        (winners, losers),
        (1, 15),
        "exactly one creator wins: {results:?}"
    );

    let listed = store.list(&format!("{root}/checkpoints/")).await.expect("list");
    assert_eq!(
        listed,
        vec![key.clone(), fresh.clone()],
        "list is sorted and limited to the prefix"
    );
    assert!(
        store
            .list(&format!("{root}/nothing/"))
            .await
            .expect("list")
            .is_empty()
    );

    for bad in ["../escape", "/abs", "a//b"] {
        let err = store.put(bad, Bytes::new(), PutCondition::Always).await;
        assert!(
            matches!(err, Err(PlatformError::InvalidKey { .. })),
            "{bad}: {err:?}"
        );
    }
    assert!(store.location(&key).ends_with(&key), "location names the key");
}

/// The `Queue` contract for a FIFO queue: order within a group, one in flight per group, visibility timeout,
/// redelivery counting, deletion, deduplication.
pub async fn fifo_queue_suite(queue: Arc<dyn Queue>) {
    let group = |g: &str, d: &str| SendOptions {
        group_id: Some(g.into()),
        dedup_id: Some(d.into()),
        ..SendOptions::default()
    };
    queue.send("a1", &group("tenant-a", "a1")).await.expect("send");
    queue.send("a2", &group("tenant-a", "a2")).await.expect("send");
    queue.send("b1", &group("tenant-b", "b1")).await.expect("send");
    // Accepted, but never delivered: the final receive below finds nothing left.
    queue
        .send("a1 again", &group("tenant-a", "a1"))
        .await
        .expect("send duplicate");

    let visibility = Duration::from_secs(1);
    let got = queue.receive(10, visibility).await.expect("receive");
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    let pos = |b: &str| bodies.iter().position(|x| *x == b);
    assert_eq!(bodies.len(), 3, "the duplicate is not delivered: {bodies:?}");
    assert!(
        pos("a1") < pos("a2") && pos("b1").is_some(),
        "group order kept: {bodies:?}"
    );
    assert!(got.iter().all(|m| m.receive_count == 1));

    queue.send("a3", &group("tenant-a", "a3")).await.expect("send");
    assert!(
        queue.receive(10, visibility).await.expect("receive").is_empty(),
        "nothing of a group is delivered while earlier messages of it are in flight"
    );
    for m in got.iter().filter(|m| m.body.starts_with('a')) {
        queue.delete(&m.receipt).await.expect("delete");
    }
    let next = queue.receive(10, visibility).await.expect("receive");
    assert_eq!(
        next.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["a3"],
        "a3 once a1, a2 are deleted"
    );

    // b1 and a3 were not deleted: they come back after the visibility timeout, counted as second receipts.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let redelivered = queue.receive(10, visibility).await.expect("receive");
    let mut again: Vec<_> = redelivered
        .iter()
        .map(|m| (m.body.as_str(), m.receive_count))
        .collect();
    again.sort();
    assert_eq!(again, [("a3", 2), ("b1", 2)]);
    for m in &redelivered {
        queue.delete(&m.receipt).await.expect("delete");
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        queue.receive(10, visibility).await.expect("receive").is_empty(),
        "everything deleted"
    );
}

/// The `Queue` contract for retries and follow-ups on a standard queue: a delayed message is not delivered before
/// its delay; a received message whose visibility is changed comes back after the new timeout, not before.
pub async fn delay_and_visibility_suite(queue: Arc<dyn Queue>) {
    let later = SendOptions {
        delay: Some(Duration::from_secs(2)),
        ..SendOptions::default()
    };
    queue.send("later", &later).await.expect("send delayed");
    queue.send("now", &SendOptions::default()).await.expect("send");
    let first = queue.receive(10, Duration::from_secs(30)).await.expect("receive");
    assert_eq!(
        first.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["now"],
        "the delayed message waits"
    );
    queue
        .change_visibility(&first[0].receipt, Duration::from_secs(1))
        .await
        .expect("change visibility");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut second: Vec<_> = queue
        .receive(10, Duration::from_secs(30))
        .await
        .expect("receive")
        .into_iter()
        .map(|m| (m.body, m.receive_count))
        .collect();
    second.sort();
    assert_eq!(
        second,
        [("later".to_owned(), 1), ("now".to_owned(), 2)],
        "the delayed one arrives, the shortened one comes back"
    );
}

/// The `SecretStore` contract. The caller has stored `value` under `id`, and under `json_id` a JSON object
/// whose `client_id` field is the string `canary` (a value that must never appear in an error).
pub async fn secret_store_suite(store: &dyn SecretStore, id: &str, value: &str, json_id: &str, canary: &str) {
    let got = store.secret(id).await.expect("read");
    assert_eq!(got.expose_secret(), value);

    let missing = store.secret("mde-bridge/no-such-secret").await;
    match missing {
        Err(e @ PlatformError::SecretNotFound { .. }) => {
            assert!(
                e.to_string().contains("mde-bridge/no-such-secret"),
                "names the id: {e}"
            )
        }
        other => panic!("a missing secret is SecretNotFound, got {other:?}"),
    }

    let wrong = read_json_secret::<mde_contracts::AppCredential>(store, json_id).await;
    match wrong {
        Err(e @ PlatformError::SecretMalformed { .. }) => {
            let text = format!("{e} {e:?}");
            assert!(
                text.contains("client_id") || text.contains("client id"),
                "names the field: {text}"
            );
            assert!(!text.contains(canary), "never shows the value: {text}");
        }
        other => panic!("a wrong-shaped secret is SecretMalformed, got {other:?}"),
    }
}

/// A registered function that echoes its payload, and one that always fails, for invoker suites.
pub fn sample_functions() -> Vec<(&'static str, LocalFunction)> {
    let echo: LocalFunction = Arc::new(|payload| Box::pin(async move { Ok(payload) }));
    let fails: LocalFunction = Arc::new(|_| {
        Box::pin(async move {
            Err((
                "ConsentRequired".to_string(),
                "tenant has not consented".to_string(),
            ))
        })
    });
    vec![("echo", echo), ("fails", fails)]
}

/// The `FunctionInvoker` contract, over the [`sample_functions`] registered by the caller.
pub async fn invoker_suite(invoker: &dyn FunctionInvoker) {
    let payload = Bytes::from_static(br#"{"tenant_id":"t","audience":"mde"}"#);
    let answer = invoker.invoke("echo", payload.clone()).await.expect("echo");
    assert_eq!(answer, payload);

    match invoker.invoke("fails", Bytes::from_static(b"{}")).await {
        Err(PlatformError::FunctionFailed {
            error_type, message, ..
        }) => {
            assert_eq!(error_type, "ConsentRequired");
            assert_eq!(message, "tenant has not consented");
        }
        other => panic!("a failing function is FunctionFailed, got {other:?}"),
    }
}

/// Creates a tenant registry table in moto (the layout `infra/modules/table` deploys: hash key `tenant_id`, on
/// demand) and returns its name.
pub async fn create_registry_table(sdk: &SdkConfig) -> String {
    create_table(sdk, "mde-bridge-tenants", crate::registry::DYNAMODB_KEY).await
}

/// Creates an on-demand table in moto named `<prefix>-<unique>` with the string hash key `hash_key` (the layout
/// `infra/modules/table` deploys) and returns its name.
pub async fn create_table(sdk: &SdkConfig, prefix: &str, hash_key: &str) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let name = unique_name(prefix);
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(hash_key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(hash_key)
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create the table {name} in moto: {e}"));
    name
}

/// A tenant record for tests: enabled, with the given datasets and actions.
pub fn tenant_record(id: &str, name: &str) -> mde_contracts::TenantConfig {
    mde_contracts::TenantConfig::new(id.parse().expect("a GUID"), name)
}

/// The `TenantRegistry` contract of a writable registry (file, DynamoDB), starting empty: creates, versioned
/// updates, both kinds of conflict, invalid records refused naming the field, scans in tenant id order.
pub async fn tenant_registry_suite(registry: Arc<dyn crate::TenantRegistry>) {
    use crate::registry::Expect;
    use mde_contracts::{ActionKind, Dataset, PartnerBinding};

    let a = "aaaaaaaa-0000-4000-8000-000000000001";
    let b = "bbbbbbbb-0000-4000-8000-000000000002";
    let id_a: mde_contracts::TenantId = a.parse().expect("guid");
    assert!(
        registry.scan().await.expect("scan").tenants.is_empty(),
        "the suite starts empty"
    );
    assert!(registry.get(&id_a).await.expect("get").is_none());

    let mut record = tenant_record(b, "Bravo");
    record.datasets = vec![Dataset::MdeAlerts];
    let created_b = registry.put(&record, Expect::Absent).await.expect("create b");
    assert_eq!(created_b.version, 1, "a new record is version 1");
    assert!(created_b.updated_at.is_some(), "the registry stamps the time");

    let mut a_record = tenant_record(a, "Alpha");
    a_record.actions = vec![ActionKind::IsolateDevice];
    a_record.partners = vec![PartnerBinding {
        key_id: "soar-1".into(),
        actions: vec![ActionKind::IsolateDevice],
        dry_run: true,
    }];
    a_record.credential_secret_id = Some("mde-bridge/gov-credential".into());
    a_record.cloud = Some(mde_contracts::CloudSettings {
        name: mde_contracts::CloudName::GccHigh,
        ..Default::default()
    });
    let created_a = registry.put(&a_record, Expect::Absent).await.expect("create a");
    assert_eq!(
        registry.get(&id_a).await.expect("get").expect("present"),
        created_a,
        "a record reads back as written, every field"
    );

    match registry.put(&a_record, Expect::Absent).await {
        Err(PlatformError::VersionConflict { found, .. }) => assert_eq!(found, "version 1"),
        other => panic!("creating an existing tenant is a conflict, got {other:?}"),
    }

    let mut renamed = created_a.clone();
    renamed.display_name = "Alpha Corp".into();
    let updated = registry.put(&renamed, Expect::Version(1)).await.expect("update");
    assert_eq!(updated.version, 2);
    match registry.put(&renamed, Expect::Version(1)).await {
        Err(e @ PlatformError::VersionConflict { .. }) => {
            let text = e.to_string();
            assert!(text.contains("expected version 1, found version 2"), "{text}");
        }
        other => panic!("a stale version is a conflict, got {other:?}"),
    }

    let mut invalid = updated.clone();
    invalid.partners[0].actions.push(ActionKind::UpdateAlert);
    match registry.put(&invalid, Expect::Version(2)).await {
        Err(e @ PlatformError::InvalidTenant { .. }) => {
            assert!(e.to_string().contains("partners[0].actions[1]"), "{e}");
        }
        other => panic!("an invalid record is refused, got {other:?}"),
    }

    let scan = registry.scan().await.expect("scan");
    let ids: Vec<&str> = scan.tenants.iter().map(|t| t.tenant_id.as_str()).collect();
    assert_eq!(ids, [a, b], "in tenant id order");
    assert_eq!(scan.tenants[0].display_name, "Alpha Corp");
    assert!(scan.problems.is_empty(), "{:?}", scan.problems);
}

/// Creates an idempotency table (`request_id` as key) in moto; returns its name.
pub async fn create_idempotency_table(sdk: &SdkConfig) -> String {
    create_table(sdk, "mde-bridge-webhook-requests", "request_id").await
}

/// What every [`crate::IdempotencyStore`] must do: one winner among concurrent claims, the stored record for
/// the others, expired records forgotten, a stale in-flight claim taken over, release only of in-flight claims.
pub async fn idempotency_suite(store: Arc<dyn crate::IdempotencyStore>) {
    use crate::idempotency::{Claim, RequestRecord, RequestState};
    let now = 1_900_000_000;
    let record = |id: &str, body: &str, at: i64| RequestRecord {
        request_id: id.to_owned(),
        key_id: "soar-1".into(),
        body_sha256: body.to_owned(),
        state: RequestState::InFlight,
        answer: None,
        created_at: at,
        updated_at: at,
        expires_at: at + 3600,
    };
    let id = unique_name("req");
    let claims = futures::future::join_all((0..16).map(|i| {
        let store = Arc::clone(&store);
        let r = record(&id, &format!("body-{i}"), now);
        async move { store.claim(&r, now, now - 30).await.expect("claim") }
    }))
    .await;
    let won = claims.iter().filter(|c| **c == Claim::Claimed).count();
    assert_eq!(won, 1, "exactly one of 16 concurrent claims wins: {claims:?}");
    let Some(Claim::Existing(existing)) = claims.iter().find(|c| **c != Claim::Claimed) else {
        panic!("the losers see the stored record");
    };
    assert_eq!(existing.state, RequestState::InFlight);
    assert!(existing.body_sha256.starts_with("body-"));

    store
        .complete(&id, "{\"status\":\"accepted\"}", now + 1)
        .await
        .expect("complete");
    let got = store.get(&id, now + 2).await.expect("get").expect("record");
    assert_eq!(
        (got.state, got.answer.as_deref()),
        (RequestState::Accepted, Some("{\"status\":\"accepted\"}"))
    );
    // An accepted record is never taken over, however old, until it expires.
    match store
        .claim(&record(&id, "x", now + 100), now + 100, now + 100)
        .await
        .expect("claim")
    {
        Claim::Existing(r) => assert_eq!(r.state, RequestState::Accepted),
        Claim::Claimed => panic!("an accepted request was claimed again"),
    }
    store.release(&id).await.expect("release");
    assert!(
        store.get(&id, now + 2).await.expect("get").is_some(),
        "release drops in-flight claims only"
    );
    // Expired: forgotten on read and claimable.
    assert!(store.get(&id, now + 3601).await.expect("get").is_none());
    assert_eq!(
        store
            .claim(&record(&id, "y", now + 3601), now + 3601, now + 3571)
            .await
            .expect("claim"),
        Claim::Claimed
    );

    // A fresh in-flight claim holds; a stale one (its owner died) is taken over.
    let other = unique_name("req");
    assert_eq!(
        store
            .claim(&record(&other, "a", now), now, now - 30)
            .await
            .expect("claim"),
        Claim::Claimed
    );
    assert!(matches!(
        store
            .claim(&record(&other, "a", now + 10), now + 10, now - 20)
            .await
            .expect("claim"),
        Claim::Existing(_)
    ));
    assert_eq!(
        store
            .claim(&record(&other, "a", now + 60), now + 60, now + 30)
            .await
            .expect("claim"),
        Claim::Claimed
    );
    store.release(&other).await.expect("release");
    assert!(
        store.get(&other, now + 61).await.expect("get").is_none(),
        "a released claim is gone"
    );
}
