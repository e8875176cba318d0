//! The router over in-process ports: the bad-request matrix (each refusal a 4xx with problem JSON and nothing
//! queued), idempotent repeats, concurrent duplicates, the status endpoint, and a queue that fails.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alert_webhook::signature::{SigningKey, Verifier};
use alert_webhook::{StaticKeys, Webhook};
use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use mde_contracts::{ActionKind, PartnerBinding, TenantConfig, WebhookSettings};
use mde_platform::idempotency::{Claim, IdempotencyStore, MemoryIdempotency, RequestRecord, RequestState};
use mde_platform::queue::LocalQueue;
use mde_platform::{Clock, Queue, QueueMessage, SendOptions, Tenants};
use proptest::strategy::Strategy as _;
use serde_json::{Value, json};
use time::OffsetDateTime;

const A: &str = "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17";
const B: &str = "3f9c1e7b-5d2a-4b8e-a6c0-7e4d9b1f2a85";
const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW: &str = "whsec_dGhpcyBpcyB0aGUgbmV3IGtleSBvZiB0aGUgcGFydG5lcg==";
const OTHER: &str = "whsec_YW5vdGhlciBwYXJ0bmVyIGFsdG9nZXRoZXIhISE=";
const NOW: i64 = 1_900_000_000;

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW).expect("time")
    }
}

/// A queue that can be told to fail, counting what it holds.
#[derive(Default)]
struct TestQueue {
    inner: LocalQueue,
    failing: Mutex<bool>,
}

#[async_trait]
impl Queue for TestQueue {
    async fn send(&self, body: &str, options: &SendOptions) -> mde_platform::Result<String> {
        if *self.failing.lock().expect("lock") {
            return Err(mde_platform::PlatformError::Config("queue down (test)".into()));
        }
        self.inner.send(body, options).await
    }
    async fn receive(&self, max: u32, visibility: Duration) -> mde_platform::Result<Vec<QueueMessage>> {
        self.inner.receive(max, visibility).await
    }
    async fn delete(&self, receipt: &str) -> mde_platform::Result<()> {
        self.inner.delete(receipt).await
    }
    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> mde_platform::Result<()> {
        self.inner.change_visibility(receipt, visibility).await
    }
}

impl TestQueue {
    async fn drain(&self) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let batch = self
                .inner
                .receive(10, Duration::from_secs(600))
                .await
                .expect("receive");
            if batch.is_empty() {
                return out;
            }
            for m in batch {
                out.push(serde_json::from_str(&m.body).expect("json"));
                self.inner.delete(&m.receipt).await.expect("delete");
            }
        }
    }
}

fn tenants() -> Vec<TenantConfig> {
    let bound = PartnerBinding {
        key_id: "soar-1".into(),
        actions: vec![ActionKind::IsolateDevice],
        dry_run: false,
    };
    vec![
        TenantConfig {
            actions: vec![ActionKind::IsolateDevice, ActionKind::AntivirusScan],
            partners: vec![bound],
            ..TenantConfig::new(A.parse().expect("id"), "Contoso")
        },
        TenantConfig {
            actions: vec![ActionKind::IsolateDevice],
            partners: vec![PartnerBinding {
                key_id: "ndr-7".into(),
                actions: vec![ActionKind::IsolateDevice],
                dry_run: true,
            }],
            ..TenantConfig::new(B.parse().expect("id"), "Fabrikam")
        },
    ]
}

fn setup() -> (Arc<Webhook>, Arc<TestQueue>) {
    let verifier = Verifier::new(
        vec![
            SigningKey::parse("soar-1", OLD).expect("key"),
            SigningKey::parse("soar-1", NEW).expect("key"),
            SigningKey::parse("ndr-7", OTHER).expect("key"),
        ],
        300,
    );
    let queue = Arc::new(TestQueue::default());
    let webhook = Webhook::new(
        Arc::new(StaticKeys(Arc::new(verifier))),
        Arc::new(Tenants::fixed(tenants())),
        Arc::new(MemoryIdempotency::new()),
        queue.clone(),
        Arc::new(FixedClock),
        WebhookSettings {
            max_body_bytes: 4096,
            ..WebhookSettings::default()
        },
    )
    .expect("webhook");
    (Arc::new(webhook), queue)
}

fn isolate(tenant: &str) -> Value {
    json!({"type": "device_action.v1", "data": {"tenant_id": tenant, "device": {"dns_name": "pc-7.contoso.com"}, "action": "isolate", "comment": "NDR: beaconing to a C2"}})
}

/// A signed POST /v1/events.
fn post(body: &[u8], key: &str, id: &str, ts: i64) -> Request<Bytes> {
    let signature = SigningKey::parse("k", key).expect("key").sign(id, ts, body);
    Request::builder()
        .method(Method::POST)
        .uri("/v1/events")
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(Bytes::copy_from_slice(body))
        .expect("request")
}

fn get_status(request_id: &str, key: &str) -> Request<Bytes> {
    let signature = SigningKey::parse("k", key)
        .expect("key")
        .sign("status-1", NOW, b"");
    Request::builder()
        .method(Method::GET)
        .uri(format!("/v1/requests/{request_id}"))
        .header("webhook-id", "status-1")
        .header("webhook-timestamp", NOW.to_string())
        .header("webhook-signature", signature)
        .body(Bytes::new())
        .expect("request")
}

fn json_of(reply: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(reply.body()).expect("json body")
}

#[tokio::test]
async fn every_bad_request_gets_its_4xx_problem_and_queues_nothing() {
    let (webhook, queue) = setup();
    let good = serde_json::to_vec(&isolate(A)).expect("json");
    let with = |f: &dyn Fn(&mut Request<Bytes>)| {
        let mut r = post(&good, OLD, "m-1", NOW);
        f(&mut r);
        r
    };
    let mut cases: Vec<(&str, Request<Bytes>, StatusCode, &str)> = vec![
        ("no signature", with(&|r| { r.headers_mut().remove("webhook-signature"); }), StatusCode::UNAUTHORIZED, "invalid-signature"),
        ("no id", with(&|r| { r.headers_mut().remove("webhook-id"); }), StatusCode::UNAUTHORIZED, "invalid-signature"),
        ("malformed signature", with(&|r| { r.headers_mut().insert("webhook-signature", "v1,***".parse().expect("h")); }), StatusCode::UNAUTHORIZED, "invalid-signature"),
        ("unknown key", post(&good, "whsec_bm90IGEga2V5IHRoZSBicmlkZ2Uga25vd3MgYXQgYWxs", "m-1", NOW), StatusCode::UNAUTHORIZED, "invalid-signature"),
        ("stale", post(&good, OLD, "m-1", NOW - 301), StatusCode::UNAUTHORIZED, "timestamp-out-of-tolerance"),
        ("future", post(&good, OLD, "m-1", NOW + 301), StatusCode::UNAUTHORIZED, "timestamp-out-of-tolerance"),
        ("wrong content type", with(&|r| { r.headers_mut().insert("content-type", "text/plain".parse().expect("h")); }), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
        ("declared oversize", with(&|r| { r.headers_mut().insert("content-length", "999999".parse().expect("h")); }), StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"),
        ("oversize", post(&vec![b' '; 5000], OLD, "m-1", NOW), StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"),
        ("malformed json", post(b"{\"type\": ", OLD, "m-1", NOW), StatusCode::BAD_REQUEST, "malformed-json"),
        ("unknown type", post(br#"{"type": "device_action.v9", "data": {}}"#, OLD, "m-1", NOW), StatusCode::UNPROCESSABLE_ENTITY, "invalid-event"),
        ("not bound tenant", post(&serde_json::to_vec(&isolate(B)).expect("json"), OLD, "m-1", NOW), StatusCode::FORBIDDEN, "tenant-not-bound"),
        ("unknown tenant", post(&serde_json::to_vec(&isolate("0b7e2d4c-1111-4222-8333-944455556666")).expect("json"), OLD, "m-1", NOW), StatusCode::FORBIDDEN, "tenant-not-bound"),
        ("action not bound", post(&serde_json::to_vec(&json!({"type": "device_action.v1", "data": {"tenant_id": A, "device": {"machine_id": "a".repeat(40)}, "action": "antivirus_scan", "comment": "x"}})).expect("json"), OLD, "m-1", NOW), StatusCode::FORBIDDEN, "action-not-allowed"),
        ("wrong path", Request::builder().uri("/v2/events").body(Bytes::new()).expect("r"), StatusCode::NOT_FOUND, "not-found"),
        ("wrong method", Request::builder().method(Method::PUT).uri("/v1/events").body(Bytes::new()).expect("r"), StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed"),
    ];
    // The body was signed, then changed by one byte.
    let mut tampered = post(&good, OLD, "m-1", NOW);
    *tampered.body_mut() = Bytes::from(
        serde_json::to_vec(&isolate(A))
            .expect("json")
            .into_iter()
            .map(|b| if b == b'7' { b'8' } else { b })
            .collect::<Vec<u8>>(),
    );
    cases.push((
        "tampered body",
        tampered,
        StatusCode::UNAUTHORIZED,
        "invalid-signature",
    ));
    for (name, request, status, slug) in cases {
        let reply = webhook.handle(request).await;
        assert_eq!(
            reply.status(),
            status,
            "{name}: {}",
            String::from_utf8_lossy(reply.body())
        );
        assert_eq!(
            reply.headers()["content-type"],
            "application/problem+json",
            "{name}"
        );
        let problem = json_of(&reply);
        assert_eq!(
            problem["type"],
            format!("urn:mde-bridge:problem:{slug}"),
            "{name}: {problem}"
        );
        assert_eq!(problem["status"], status.as_u16(), "{name}");
        assert!(
            !problem.to_string().contains("MfKQ9r8"),
            "{name}: a key in a problem"
        );
    }
    assert!(
        queue.drain().await.is_empty(),
        "nothing is queued for a refused request"
    );

    // A schema failure names the field with a JSON Pointer.
    let bad = json!({"type": "device_action.v1", "data": {"tenant_id": A, "device": {}, "action": "wipe", "comment": "x"}});
    let reply = webhook
        .handle(post(&serde_json::to_vec(&bad).expect("json"), OLD, "m-2", NOW))
        .await;
    assert_eq!(reply.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = json_of(&reply);
    assert!(
        problem["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{problem}"
    );
}

#[tokio::test]
async fn a_repeat_gets_the_first_answer_another_body_422_and_the_status_is_the_senders_only() {
    let (webhook, queue) = setup();
    let body = serde_json::to_vec(&isolate(A)).expect("json");
    // Signed with the new key during a rotation: accepted.
    let first = webhook.handle(post(&body, NEW, "evt-1", NOW)).await;
    assert_eq!(
        first.status(),
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(first.body())
    );
    let answer = json_of(&first);
    let again = webhook.handle(post(&body, OLD, "evt-1", NOW + 5)).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(json_of(&again), answer, "a repeat gets the first answer");
    let other = webhook
        .handle(post(
            &serde_json::to_vec(&isolate(A))
                .expect("json")
                .repeat(1)
                .into_iter()
                .chain(b" ".iter().copied())
                .collect::<Vec<u8>>(),
            OLD,
            "evt-1",
            NOW,
        ))
        .await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        json_of(&other)["type"],
        "urn:mde-bridge:problem:webhook-id-reused"
    );
    let queued = queue.drain().await;
    assert_eq!(queued.len(), 1, "one message for one request");
    assert_eq!(queued[0]["request_id"], answer["request_id"]);
    assert_eq!(queued[0]["event"]["data"]["action"], "isolate");

    let id = answer["request_id"].as_str().expect("id");
    let status = webhook.handle(get_status(id, OLD)).await;
    assert_eq!(status.status(), StatusCode::OK);
    assert_eq!(json_of(&status)["status"], "queued");
    // Another partner's key, an unknown id and a malformed id: the same 404.
    let foreign = webhook.handle(get_status(id, OTHER)).await;
    let unknown = webhook.handle(get_status(&"0".repeat(32), OLD)).await;
    let malformed = webhook.handle(get_status("../etc", OLD)).await;
    for reply in [&foreign, &unknown, &malformed] {
        assert_eq!(reply.status(), StatusCode::NOT_FOUND);
        assert_eq!(json_of(reply)["type"], "urn:mde-bridge:problem:request-not-found");
    }
}

#[tokio::test]
async fn fifty_concurrent_identical_deliveries_queue_one_message() {
    let (webhook, queue) = setup();
    let body = serde_json::to_vec(&isolate(A)).expect("json");
    let replies = futures::future::join_all((0..50).map(|_| {
        let webhook = Arc::clone(&webhook);
        let request = post(&body, OLD, "storm-1", NOW);
        async move { webhook.handle(request).await.status() }
    }))
    .await;
    let accepted = replies.iter().filter(|s| **s == StatusCode::ACCEPTED).count();
    let conflicts = replies.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!(accepted + conflicts, 50, "{replies:?}");
    assert!(accepted >= 1);
    assert_eq!(
        queue.drain().await.len(),
        1,
        "one message, whatever the concurrency"
    );
}

/// An idempotency store in which every request is already in flight, claimed `age` seconds ago by a process
/// that never finished (it died between its claim and its answer).
struct InFlightFor(i64);

#[async_trait]
impl IdempotencyStore for InFlightFor {
    async fn claim(&self, record: &RequestRecord, now: i64, _: i64) -> mde_platform::Result<Claim> {
        Ok(Claim::Existing(RequestRecord {
            state: RequestState::InFlight,
            updated_at: now - self.0,
            ..record.clone()
        }))
    }
    async fn complete(&self, _: &str, _: &str, _: i64) -> mde_platform::Result<()> {
        Ok(())
    }
    async fn release(&self, _: &str) -> mde_platform::Result<()> {
        Ok(())
    }
    async fn get(&self, _: &str, _: i64) -> mde_platform::Result<Option<RequestRecord>> {
        Ok(None)
    }
}

#[tokio::test]
async fn a_delivery_in_flight_elsewhere_is_a_409_whose_retry_after_is_the_rest_of_a_dead_owners_lease() {
    let body = serde_json::to_vec(&isolate(A)).expect("json");
    let mut waits = Vec::new();
    for age in [0, 1, 10, 29, 45] {
        let webhook = Webhook::new(
            Arc::new(StaticKeys(Arc::new(Verifier::new(
                vec![SigningKey::parse("soar-1", OLD).expect("key")],
                300,
            )))),
            Arc::new(Tenants::fixed(tenants())),
            Arc::new(InFlightFor(age)),
            Arc::new(TestQueue::default()),
            Arc::new(FixedClock),
            WebhookSettings::default(),
        )
        .expect("webhook");
        let reply = webhook.handle(post(&body, OLD, "dead-owner-1", NOW)).await;
        assert_eq!(reply.status(), StatusCode::CONFLICT);
        assert_eq!(json_of(&reply)["type"], "urn:mde-bridge:problem:in-progress");
        let wait: u64 = reply.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        waits.push(wait);
    }
    // Young: the other acceptance finishes in milliseconds. Older: its owner died, and the claim can be taken
    // over after 30 s — so the rest of that, and at least a second once it is due.
    assert_eq!(waits, [2, 2, 20, 1, 1]);
}

#[tokio::test]
async fn a_queue_failure_is_a_503_and_the_retry_succeeds() {
    let (webhook, queue) = setup();
    let body = serde_json::to_vec(&isolate(A)).expect("json");
    *queue.failing.lock().expect("lock") = true;
    let reply = webhook.handle(post(&body, OLD, "q-1", NOW)).await;
    assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.headers()["retry-after"], "2");
    *queue.failing.lock().expect("lock") = false;
    let reply = webhook.handle(post(&body, OLD, "q-1", NOW)).await;
    assert_eq!(
        reply.status(),
        StatusCode::ACCEPTED,
        "the claim was released, so the retry is accepted"
    );
    assert_eq!(queue.drain().await.len(), 1);
}

#[tokio::test]
async fn a_dry_run_key_is_marked_in_the_answer_and_the_message() {
    let (webhook, queue) = setup();
    let body = serde_json::to_vec(&isolate(B)).expect("json");
    let reply = webhook.handle(post(&body, OTHER, "dry-1", NOW)).await;
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    assert_eq!(json_of(&reply)["dry_run"], true);
    assert_eq!(queue.drain().await[0]["dry_run"], true);
}

#[tokio::test]
async fn the_openapi_document_is_served_and_is_the_committed_one() {
    let (webhook, _) = setup();
    let reply = webhook
        .handle(
            Request::builder()
                .uri("/v1/openapi.json")
                .body(Bytes::new())
                .expect("r"),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::OK);
    let served = json_of(&reply);
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../schemas/webhook-openapi.json"
        ))
        .expect("committed document"),
    )
    .expect("json");
    assert_eq!(served, committed, "run `cargo xtask schemas`");
    assert_eq!(served["openapi"], "3.1.0");
    assert!(served["components"]["schemas"]["DeviceActionV1"].is_object());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Fuzz: whatever the headers and body, the router answers a 4xx problem (never a panic, never a 5xx for
    /// bad input) and queues nothing unless the delivery is validly signed.
    #[test]
    fn arbitrary_requests_get_a_4xx_and_queue_nothing(
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
        id in "\\PC{0,40}",
        ts in "\\PC{0,14}",
        sig in "\\PC{0,120}",
        content_type in proptest::sample::select(vec!["application/json", "text/plain", "application/json; charset=utf-8", ""]),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(async {
            let (webhook, queue) = setup();
            let mut builder = Request::builder().method(Method::POST).uri("/v1/events");
            for (name, value) in [("content-type", content_type), ("webhook-id", id.as_str()), ("webhook-timestamp", ts.as_str()), ("webhook-signature", sig.as_str())] {
                if let Ok(v) = http::HeaderValue::from_str(value) {
                    builder = builder.header(name, v);
                }
            }
            let reply = webhook.handle(builder.body(Bytes::from(body.clone())).expect("request")).await;
            assert!(reply.status().is_client_error(), "{}", reply.status());
            assert_eq!(reply.headers()["content-type"], "application/problem+json");
            assert!(queue.drain().await.is_empty());
        });
    }

    /// Fuzz: validly signed but arbitrary JSON values are refused with 400/422/403, never accepted or 5xx.
    #[test]
    fn signed_arbitrary_json_is_refused_cleanly(value in proptest::arbitrary::any::<u32>().prop_map(|n| json!({"type": "device_action.v1", "data": {"n": n}})) ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(async {
            let (webhook, queue) = setup();
            let body = serde_json::to_vec(&value).expect("json");
            let reply = webhook.handle(post(&body, OLD, "fz-1", NOW)).await;
            assert_eq!(reply.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert!(queue.drain().await.is_empty());
        });
    }
}

/// The committed corpus (`tests/corpus/`): hostile bodies, each validly signed, each refused with a 4xx problem
/// and nothing queued. New cases found by fuzzing go there.
#[tokio::test]
async fn the_corpus_of_hostile_bodies_is_refused_cleanly() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("corpus") {
        let path = entry.expect("entry").path();
        let body = std::fs::read(&path).expect("read");
        let (webhook, queue) = setup();
        let reply = webhook.handle(post(&body, OLD, "corpus-1", NOW)).await;
        assert!(
            reply.status().is_client_error(),
            "{}: {}",
            path.display(),
            reply.status()
        );
        assert_eq!(
            reply.headers()["content-type"],
            "application/problem+json",
            "{}",
            path.display()
        );
        assert!(queue.drain().await.is_empty(), "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 10, "the corpus is there");
}
