//! The webhook's own overhead per accepted request — verify + parse + schema + binding + claim + enqueue on
//! in-process ports (the SQS and DynamoDB calls excluded) — for a 4 KiB event, p50 / p99 over 20,000 requests.
//! Goal: p99 ≤ 2 ms. `cargo bench -p alert-webhook --bench latency`.

use std::sync::Arc;
use std::time::Instant;

use alert_webhook::signature::{SigningKey, Verifier};
use alert_webhook::{StaticKeys, Webhook};
use bytes::Bytes;
use http::{Method, Request};
use mde_contracts::{ActionKind, PartnerBinding, TenantConfig, WebhookSettings};
use mde_platform::idempotency::MemoryIdempotency;
use mde_platform::queue::LocalQueue;
use mde_platform::{SystemClock, Tenants};
use serde_json::json;

const TENANT: &str = "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17";
const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let tenant = TenantConfig {
        actions: vec![ActionKind::CorrelateAlert],
        partners: vec![PartnerBinding {
            key_id: "soar-1".into(),
            actions: vec![ActionKind::CorrelateAlert],
            dry_run: false,
        }],
        ..TenantConfig::new(TENANT.parse().expect("id"), "Contoso")
    };
    // Two partners' keys, one of them rotating: three secrets tried per request.
    let keys = vec![
        SigningKey::parse("soar-1", KEY).expect("key"),
        SigningKey::parse("soar-1", "whsec_dGhpcyBpcyB0aGUgbmV3IGtleSBvZiB0aGUgcGFydG5lcg==").expect("key"),
        SigningKey::parse("ndr-7", "whsec_YW5vdGhlciBwYXJ0bmVyIGFsdG9nZXRoZXIhISE=").expect("key"),
    ];
    let webhook = Webhook::new(
        Arc::new(StaticKeys(Arc::new(Verifier::new(keys, 300)))),
        Arc::new(Tenants::fixed(vec![tenant])),
        Arc::new(MemoryIdempotency::new()),
        Arc::new(LocalQueue::new()),
        Arc::new(SystemClock),
        WebhookSettings::default(),
    )
    .expect("webhook");
    let signer = SigningKey::parse("soar-1", KEY).expect("key");
    // An external alert whose description brings the body to about 4 KiB.
    let description = "x".repeat(3700);
    let mut samples = Vec::with_capacity(20_000);
    runtime.block_on(async {
        for i in 0..20_000u32 {
            let body = json!({"type": "external_alert.v1", "data": {"tenant_id": TENANT,
                "device": {"dns_name": format!("pc-{i}.contoso.com")},
                "alert": {"id": format!("ndr-{i}"), "title": "Beaconing to a known C2", "severity": "high",
                          "description": description, "time": "2026-12-03T07:00:00Z"}}})
            .to_string();
            let id = format!("evt-{i}");
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let request = Request::builder()
                .method(Method::POST)
                .uri("/v1/events")
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", now.to_string())
                .header("webhook-signature", signer.sign(&id, now, body.as_bytes()))
                .body(Bytes::from(body))
                .expect("request");
            let started = Instant::now();
            let reply = webhook.handle(request).await;
            samples.push(started.elapsed());
            assert_eq!(reply.status(), 202, "{}", String::from_utf8_lossy(reply.body()));
        }
    });
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    println!(
        "webhook overhead, 4 KiB event, 3 active secrets, in-process ports: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs ({} requests)",
        at(0.5),
        at(0.99),
        samples.last().map(|d| d.as_secs_f64() * 1e6).unwrap_or_default(),
        samples.len()
    );
}
