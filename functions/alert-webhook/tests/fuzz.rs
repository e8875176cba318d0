//! Fuzz target `signed-delivery` of alert-webhook, bounded (`FUZZ_CASES` generated inputs after every committed seed
//! of `tests/fuzz-corpus/signed-delivery/`; see `shared/platform/src/testing/fuzz.rs`), through
//! [`Webhook::handle`] over in-process ports.
//!
//! A seed is a delivery in a small JSON envelope: `{"headers": {...}, "body": "..."}` (or `"body_base64"` for a
//! body that is not UTF-8). An input that is not an envelope is a body. For each input:
//!
//! - as given (an envelope): accepted only when a `v1` signature in it is the HMAC of the fuzz key over
//!   `id.timestamp.body` and the timestamp is within the tolerance;
//! - the body signed with the key: accepted (exactly one message queued, holding the event as sent), or refused
//!   with a 4xx problem whose type, title and detail say why; a body that is not JSON is `malformed-json`;
//! - the same delivery with one body byte changed, another id, a stale timestamp, or signed with a key the webhook
//!   does not know: always 401;
//! - no answer contains the key.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alert_webhook::signature::{SigningKey, Verifier};
use alert_webhook::{StaticKeys, Webhook};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use mde_contracts::{ActionKind, PartnerBinding, TenantConfig, WebhookEvent, WebhookSettings};
use mde_platform::idempotency::MemoryIdempotency;
use mde_platform::testing::fuzz;
use mde_platform::{Clock, Queue, QueueMessage, SendOptions, Tenants};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;
use time::OffsetDateTime;

/// The tenant of the seeds, bound to the fuzz key for every action.
const TENANT: &str = "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17";
/// The partner key's id.
const KEY_ID: &str = "soar-1";
/// The fuzz key's secret bytes (the seeds are signed with it).
const KEY: &[u8] = b"FUZZ-FAKE webhook signing key 0001";
/// A key the webhook does not know.
const OTHER_KEY: &[u8] = b"FUZZ-FAKE another partner's key 0002";
/// The webhook's clock (the seeds are signed at this time).
const NOW: i64 = 1_900_000_000;
/// The timestamp tolerance.
const TOLERANCE: i64 = 300;
/// The body limit.
const MAX_BODY: usize = 64 * 1024;

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW).expect("time")
    }
}

/// A queue that keeps what is sent.
#[derive(Default)]
struct Sent(Mutex<Vec<String>>);

#[async_trait]
impl Queue for Sent {
    async fn send(&self, body: &str, _: &SendOptions) -> mde_platform::Result<String> {
        let mut sent = self.0.lock().expect("lock");
        sent.push(body.to_owned());
        Ok(format!("m-{}", sent.len()))
    }
    async fn receive(&self, _: u32, _: Duration) -> mde_platform::Result<Vec<QueueMessage>> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: &str) -> mde_platform::Result<()> {
        Ok(())
    }
    async fn change_visibility(&self, _: &str, _: Duration) -> mde_platform::Result<()> {
        Ok(())
    }
}

fn key_text(key: &[u8]) -> String {
    format!("whsec_{}", B64.encode(key))
}

fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    SigningKey::parse("k", &key_text(key))
        .expect("key")
        .sign(id, timestamp, body)
}

/// Whether `header` holds a `v1` signature of `id.timestamp.body` by the fuzz key (computed here, not by the
/// webhook).
fn signed_by_key(header: &str, id: &str, timestamp: &str, body: &[u8]) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY).expect("hmac key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    header.split(' ').any(|s| s == expected)
}

/// A seed's delivery.
#[derive(Deserialize)]
struct Envelope {
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
}

impl Envelope {
    fn body(&self) -> Option<Vec<u8>> {
        match (&self.body, &self.body_base64) {
            (Some(text), None) => Some(text.clone().into_bytes()),
            (None, Some(encoded)) => B64.decode(encoded).ok(),
            _ => None,
        }
    }
}

fn request(headers: &[(&str, &str)], body: &[u8]) -> Request<Bytes> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/v1/events")
        .body(Bytes::copy_from_slice(body))
        .expect("request");
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            request.headers_mut().append(name, value);
        }
    }
    request
}

/// A delivery signed with `key` at `timestamp`.
fn signed(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Request<Bytes> {
    let signature = sign(key, id, timestamp, body);
    let timestamp = timestamp.to_string();
    request(
        &[
            ("content-type", "application/json"),
            ("webhook-id", id),
            ("webhook-timestamp", &timestamp),
            ("webhook-signature", &signature),
        ],
        body,
    )
}

/// The slug of a problem answer, after checking it is one: 4xx, problem JSON, a type, a title and a detail.
fn problem(reply: &http::Response<Vec<u8>>) -> Result<String, TestCaseError> {
    let status = reply.status();
    prop_assert!(status.is_client_error(), "not a 4xx: {}", status);
    prop_assert_eq!(
        reply.headers().get("content-type").map(HeaderValue::as_bytes),
        Some(&b"application/problem+json"[..])
    );
    let body: Value = serde_json::from_slice(reply.body())
        .map_err(|e| TestCaseError::fail(format!("a problem that is not JSON: {e}")))?;
    prop_assert_eq!(body["status"].as_u64(), Some(u64::from(status.as_u16())));
    prop_assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "no title: {}",
        body
    );
    let detail_or_errors = body["detail"].as_str().is_some_and(|d| !d.trim().is_empty())
        || body["errors"].as_array().is_some_and(|e| !e.is_empty());
    prop_assert!(detail_or_errors, "no reason: {}", body);
    // A field error names the rule broken, never the sender's event (a JSON object quoted back).
    for error in body["errors"].as_array().into_iter().flatten() {
        let detail = error["detail"].as_str().unwrap_or_default();
        prop_assert!(
            !detail.contains('{'),
            "a field error quotes the event: {}",
            detail
        );
    }
    let text = String::from_utf8_lossy(reply.body());
    prop_assert!(
        !text.contains(&key_text(KEY)) && !text.contains(&B64.encode(KEY)),
        "the key is shown: {}",
        text
    );
    let slug = body["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("urn:mde-bridge:problem:"))
        .ok_or_else(|| TestCaseError::fail(format!("a problem without its type URI: {body}")))?;
    Ok(slug.to_owned())
}

fn all_actions() -> Vec<ActionKind> {
    use ActionKind as A;
    vec![
        A::IsolateDevice,
        A::ReleaseDevice,
        A::AntivirusScan,
        A::RestrictAppExecution,
        A::UnrestrictAppExecution,
        A::CollectInvestigationPackage,
        A::StopAndQuarantineFile,
        A::AddIndicator,
        A::RemoveIndicator,
        A::UpdateAlert,
        A::UpdateIncident,
        A::HuntingQuery,
        A::CorrelateAlert,
    ]
}

#[test]
fn only_deliveries_signed_with_the_key_are_accepted_and_bad_bodies_are_problems() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let verifier = Verifier::new(
        vec![SigningKey::parse(KEY_ID, &key_text(KEY)).expect("key")],
        u64::try_from(TOLERANCE).expect("tolerance"),
    );
    let sent = Arc::new(Sent::default());
    let tenant = TenantConfig {
        actions: all_actions(),
        partners: vec![PartnerBinding {
            key_id: KEY_ID.into(),
            actions: all_actions(),
            dry_run: false,
        }],
        ..TenantConfig::new(TENANT.parse().expect("tenant id"), "Contoso")
    };
    let webhook = Webhook::new(
        Arc::new(StaticKeys(Arc::new(verifier))),
        Arc::new(Tenants::fixed(vec![tenant])),
        Arc::new(MemoryIdempotency::new()),
        sent.clone(),
        Arc::new(FixedClock),
        WebhookSettings {
            max_body_bytes: MAX_BODY as u64,
            ..WebhookSettings::default()
        },
    )
    .expect("webhook");
    let ids = AtomicU64::new(0);
    let handle = |request: Request<Bytes>| rt.block_on(webhook.handle(request));

    fuzz::run(
        env!("CARGO_MANIFEST_DIR"),
        "signed-delivery",
        &[
            b"\"webhook-signature\"",
            b"\"webhook-id\"",
            b"\"webhook-timestamp\"",
            b"v1,",
            b"\"type\"",
            b"\"data\"",
            b"\"tenant_id\"",
            b"device_action.v1",
            b"1900000000",
        ],
        |input| {
            let envelope = serde_json::from_slice::<Envelope>(input)
                .ok()
                .and_then(|e| e.body().map(|b| (e.headers, b)));

            // As given: accepted only if signed with the key, in time.
            if let Some((headers, body)) = &envelope {
                let pairs: Vec<(&str, &str)> =
                    headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let given = request(&pairs, body);
                // The headers as the webhook gets them (any case; the first of repeated ones).
                let get = |name: &str| {
                    given
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let (id, timestamp, signature) = (
                    get("webhook-id"),
                    get("webhook-timestamp"),
                    get("webhook-signature"),
                );
                let reply = handle(given);
                if reply.status() == StatusCode::ACCEPTED {
                    prop_assert!(
                        signed_by_key(&signature, &id, &timestamp, body),
                        "accepted without the key's signature"
                    );
                    let at: i64 = timestamp
                        .parse()
                        .map_err(|_| TestCaseError::fail("accepted without a timestamp"))?;
                    prop_assert!((NOW - at).abs() <= TOLERANCE, "accepted at {}", at);
                } else {
                    problem(&reply)?;
                }
            }

            // Signed with the key: accepted with the event queued, or a problem that says why.
            let body = envelope.map_or_else(|| input.to_vec(), |(_, body)| body);
            let id = format!("fuzz-{}", ids.fetch_add(1, Ordering::Relaxed));
            let queued = sent.0.lock().expect("lock").len();
            let reply = handle(signed(KEY, &id, NOW, &body));
            let now_queued = sent.0.lock().expect("lock").len();
            if body.len() > MAX_BODY {
                prop_assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);
            } else if reply.status() == StatusCode::ACCEPTED {
                prop_assert_eq!(now_queued, queued + 1, "accepted but not queued");
                let event: WebhookEvent = serde_json::from_slice(&body)
                    .map_err(|e| TestCaseError::fail(format!("accepted a body that is not an event: {e}")))?;
                prop_assert!(event.problems().is_empty(), "accepted an event with problems");
                let message: Value =
                    serde_json::from_str(&sent.0.lock().expect("lock")[queued]).expect("json");
                prop_assert_eq!(&message["event"], &serde_json::to_value(&event).expect("event"));
                prop_assert_eq!(message["webhook_id"].as_str(), Some(id.as_str()));
            } else {
                prop_assert_eq!(now_queued, queued, "refused but queued");
                let slug = problem(&reply)?;
                prop_assert!(
                    matches!(
                        reply.status(),
                        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY | StatusCode::FORBIDDEN
                    ),
                    "a signed delivery got {} ({})",
                    reply.status(),
                    slug
                );
                if serde_json::from_slice::<Value>(&body).is_err() {
                    prop_assert_eq!(slug.as_str(), "malformed-json", "a body that is not JSON");
                }
                if reply.status() == StatusCode::BAD_REQUEST {
                    prop_assert_eq!(slug.as_str(), "malformed-json");
                }
            }

            // Not what the key signed: always 401, before anything else is looked at.
            if body.len() <= MAX_BODY {
                let mut tampered = body.clone();
                match tampered.len() {
                    0 => tampered.push(b'{'),
                    n => tampered[input.len() % n] ^= 1 << (input.len() % 8),
                }
                let mut changed_body = signed(KEY, &id, NOW, &body);
                *changed_body.body_mut() = Bytes::from(tampered);
                let mut other_id = signed(KEY, &id, NOW, &body);
                other_id.headers_mut().insert(
                    "webhook-id",
                    HeaderValue::from_str(&format!("{id}x")).expect("id"),
                );
                for (what, request, slug) in [
                    ("a changed byte", changed_body, "invalid-signature"),
                    ("another id", other_id, "invalid-signature"),
                    (
                        "another key",
                        signed(OTHER_KEY, &id, NOW, &body),
                        "invalid-signature",
                    ),
                    (
                        "a stale timestamp",
                        signed(KEY, &id, NOW - TOLERANCE - 1, &body),
                        "timestamp-out-of-tolerance",
                    ),
                ] {
                    let reply = handle(request);
                    prop_assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "{}", what);
                    prop_assert_eq!(problem(&reply)?, slug, "{}", what);
                }
                prop_assert_eq!(
                    sent.0.lock().expect("lock").len(),
                    now_queued,
                    "a refused delivery was queued"
                );
            }
            Ok(())
        },
    );
}

/// The seeds are what their names say: the valid deliveries are accepted as given, the others refused (so the
/// fuzzing above starts from real accepted deliveries, not only from refusals).
#[test]
fn the_valid_seeds_are_accepted_as_given_and_the_hostile_ones_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tenant = TenantConfig {
        actions: all_actions(),
        partners: vec![PartnerBinding {
            key_id: KEY_ID.into(),
            actions: all_actions(),
            dry_run: false,
        }],
        ..TenantConfig::new(TENANT.parse().expect("tenant id"), "Contoso")
    };
    let webhook = Webhook::new(
        Arc::new(StaticKeys(Arc::new(Verifier::new(
            vec![SigningKey::parse(KEY_ID, &key_text(KEY)).expect("key")],
            300,
        )))),
        Arc::new(Tenants::fixed(vec![tenant])),
        Arc::new(MemoryIdempotency::new()),
        Arc::new(Sent::default()),
        Arc::new(FixedClock),
        WebhookSettings::default(),
    )
    .expect("webhook");
    let mut accepted = 0;
    for seed in fuzz::corpus(env!("CARGO_MANIFEST_DIR"), "signed-delivery") {
        let envelope: Envelope = serde_json::from_slice(&seed.bytes).expect("a seed is an envelope");
        let body = envelope.body().expect("a seed has a body");
        let pairs: Vec<(&str, &str)> = envelope
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let status = rt.block_on(webhook.handle(request(&pairs, &body))).status();
        let hostile = ["hostile-", "stale-", "signed-for-", "unsigned", "v2-"]
            .iter()
            .any(|p| seed.name.starts_with(p));
        if hostile {
            assert!(status.is_client_error(), "{}: {status}", seed.name);
        } else {
            assert_eq!(status, StatusCode::ACCEPTED, "{}", seed.name);
            accepted += 1;
        }
    }
    assert!(accepted >= 5, "{accepted} valid seeds");
}
