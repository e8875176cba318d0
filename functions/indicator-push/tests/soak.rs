//! Soak: 10,000 indicators (`INDICATOR_SOAK_COUNT` to change it) through a queue with redelivery and a
//! dead-letter queue after 5 receives, into a sandbox answering 5xx, 429, dropped connections and truncated
//! bodies at random, with per-item refusals. At the end every indicator is in its tenant, in a rejects object
//! with a reason, or in the dead-letter queue — counted, none lost. Prints its figures.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use indicator_push::{Incoming, MessageFate};
use mde_defender::api::RateLimitConfig;
use mde_platform::Queue;
use mde_platform::queue::LocalQueue;
use mde_sandbox::{FaultKind, FaultRule, ImportFailureRule};
use serde_json::{Value, json};

const PER_MESSAGE: usize = 50;
const MAX_RECEIVES: u32 = 5;

fn fault(fault: FaultKind, probability: f64) -> FaultRule {
    FaultRule::random("/api/indicators*", fault, probability)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_indicators_under_faults_end_applied_rejected_or_dead_lettered() {
    let count: usize = std::env::var("INDICATOR_SOAK_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut config = sandbox_config();
    config.faults = vec![
        fault(FaultKind::Status { status: 503 }, 0.12),
        fault(
            FaultKind::TooManyRequests {
                retry_after_seconds: 0,
            },
            0.06,
        ),
        fault(FaultKind::DropConnection, 0.06),
        fault(FaultKind::TruncatedBody, 0.06),
    ];
    let sandbox = start(config).await;
    sandbox.fail_import_items(ImportFailureRule {
        value_contains: "77.example".into(),
        reason: "Indicator value is on Microsoft's allow list".into(),
        times: None,
    });
    let dir = tempfile::tempdir().expect("dir");
    let store = local_store(dir.path());
    let pusher = pusher(
        client(&sandbox, 1, RateLimitConfig::unlimited()),
        store.clone(),
        tenants(),
        settings(15_000),
    );

    // Every 40th indicator is invalid (a private address); each message goes to Contoso or Fabrikam.
    let queue = Arc::new(LocalQueue::new());
    let mut sent: BTreeMap<String, (&str, Vec<Value>)> = BTreeMap::new();
    let mut bodies = Vec::new();
    for (m, chunk) in (0..count).collect::<Vec<_>>().chunks(PER_MESSAGE).enumerate() {
        let tenant = if m % 3 == 0 { PARTIAL } else { FULL };
        let indicators: Vec<Value> = chunk
            .iter()
            .map(|i| {
                if i % 40 == 39 {
                    indicator(
                        "IpAddress",
                        &format!("192.168.{}.{}", i / 250 % 250, i % 250),
                        "Block",
                    )
                } else {
                    indicator("DomainName", &format!("soak-{i}.example.com"), "Block")
                }
            })
            .collect();
        bodies.push((tenant, indicators));
    }
    for (tenant, indicators) in bodies {
        let body = json!({"op": "upsert", "tenants": tenant, "indicators": indicators}).to_string();
        let id = queue.send(&body, &Default::default()).await.expect("send");
        sent.insert(id, (tenant, indicators));
    }

    let started = Instant::now();
    let mut dead: BTreeSet<String> = BTreeSet::new();
    let (mut invocations, mut redeliveries) = (0u32, 0u32);
    loop {
        let batch = queue.receive(10, Duration::ZERO).await.expect("receive");
        if batch.is_empty() {
            break;
        }
        invocations += 1;
        let incoming: Vec<Incoming> = batch
            .iter()
            .map(|m| Incoming {
                id: m.id.clone(),
                body: m.body.clone(),
            })
            .collect();
        let outcome = pusher.push(&incoming).await.expect("push");
        for (m, (_, fate)) in batch.iter().zip(&outcome.fates) {
            match fate {
                MessageFate::Done => queue.delete(&m.receipt).await.expect("delete"),
                MessageFate::Deferred(_) if m.receive_count >= MAX_RECEIVES => {
                    // The redrive policy: to the dead-letter queue.
                    queue.delete(&m.receipt).await.expect("delete");
                    dead.insert(m.id.clone());
                }
                MessageFate::Deferred(_) => redeliveries += 1,
            }
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the soak stalled");
    }
    let wall = started.elapsed();

    let rejects = rejects(&*store).await;
    let rejected: BTreeSet<(String, String)> = rejects
        .iter()
        .map(|r| {
            (
                r.message_id.clone(),
                r.indicator["indicatorValue"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let in_tenant = |t: &str| values_in(&sandbox, t).into_iter().collect::<BTreeSet<_>>();
    let (full, partial) = (in_tenant(FULL), in_tenant(PARTIAL));
    let (mut applied, mut refused, mut dead_lettered, mut lost) = (0usize, 0usize, 0usize, Vec::new());
    for (id, (tenant, indicators)) in &sent {
        for i in indicators {
            let value = i["indicatorValue"].as_str().expect("value").to_owned();
            let present = if *tenant == FULL { &full } else { &partial };
            if rejected.contains(&(id.clone(), value.clone())) {
                refused += 1;
            } else if dead.contains(id) {
                dead_lettered += 1;
            } else if present.contains(&value) {
                applied += 1;
            } else {
                lost.push(value);
            }
        }
    }
    let api: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/indicators"))
        .collect();
    // Faulted answers: 5xx, 429, dropped (no status); truncated bodies answer 200 and are not counted here.
    let faulted = api
        .iter()
        .filter(|r| r.status.is_none_or(|s| s == 429 || s >= 500))
        .count();
    println!(
        "indicator soak: {count} indicators in {} messages, {invocations} invocations, {redeliveries} redeliveries, \
         {} API calls of which {faulted} answered 5xx / 429 / nothing; applied {applied}, rejected {refused} (with a reason), dead-lettered \
         {dead_lettered}, lost {}; {:.1} s",
        sent.len(),
        api.len(),
        lost.len(),
        wall.as_secs_f64()
    );
    assert!(lost.is_empty(), "lost: {:?}", &lost[..lost.len().min(10)]);
    assert_eq!(applied + refused + dead_lettered, count);
    assert!(
        refused >= count / 40,
        "the invalid ones and the refused ones are rejects"
    );
    assert!(rejects.iter().all(|r| !r.reason.is_empty()));
    assert!(
        redeliveries > 0,
        "faults were injected and retried through the queue"
    );
}
