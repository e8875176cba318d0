//! 100 requests for one tenant against the sandbox with Microsoft's documented rate limits on, and the executor's
//! client keeping to them: every request completes, in the order it was sent, and Defender never answers 429.
//! Time is compressed thirtyfold on both sides (a minute window lasts two seconds), so exceeding a minute's
//! allowance takes seconds; without the client's limiter the same requests meet 429s (checked below).

mod actions;

use actions::*;
use futures::TryStreamExt;
use mde_contracts::TenantId;
use mde_defender::api::{ApiFamily, Query, RateLimit, RateLimitConfig};
use serde_json::{Value, json};

const SCALE: u32 = 30;

/// Microsoft's documented limits, their windows compressed like the sandbox's.
fn compressed() -> RateLimitConfig {
    ApiFamily::ALL
        .into_iter()
        .fold(RateLimitConfig::unlimited(), |config, family| {
            let limits = family
                .documented()
                .into_iter()
                .map(|l| RateLimit::new(l.max, l.window / SCALE))
                .collect();
            config.with(family, limits)
        })
}

async fn world(limits: RateLimitConfig) -> World {
    let mut config = sandbox_config();
    config.rate_limits.enabled = true;
    config.rate_limits.time_scale = SCALE;
    World::start_with(config, settings(), limits, 0).await
}

#[tokio::test]
async fn a_hundred_requests_for_one_tenant_run_in_order_within_the_limits() {
    let w = world(compressed()).await;
    let sent = send_hundred(&w).await;
    check_hundred(&w, &sent).await;
}

/// Without the client's limiter the same hundred requests provoke 429s: the test above proves the limiter.
#[tokio::test]
async fn without_the_client_limiter_the_same_requests_meet_429s() {
    let w = world(RateLimitConfig::unlimited()).await;
    send_hundred(&w).await;
    w.run_once().await;
    let throttled = w
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    assert!(throttled > 0, "the mix exceeds a minute's allowance");
}

/// Sends 60 Microsoft 365 Defender incident comments (50 per minute allowed), 25 MDE alert comments and 15 Graph
/// alert assignments, interleaved; returns the request ids in order.
async fn send_hundred(w: &World) -> Vec<String> {
    let tenant: TenantId = FULL.parse().expect("tenant");
    let alerts: Vec<String> = w
        .client
        .mde_alerts(&tenant, &Query::new())
        .try_collect::<Vec<_>>()
        .await
        .expect("alerts")
        .into_iter()
        .flat_map(|p| p.items)
        .filter_map(|r| r.id().map(str::to_owned))
        .collect();
    assert!(alerts.len() >= 10, "enough seeded alerts");
    let incident = w
        .client
        .m365d_incidents(&tenant, &Query::new())
        .try_collect::<Vec<_>>()
        .await
        .expect("incidents")
        .into_iter()
        .flat_map(|p| p.items)
        .find_map(|r| r.id().map(str::to_owned))
        .expect("an incident");

    let mut sent = Vec::new();
    for i in 0..100 {
        let alert = &alerts[i % alerts.len()];
        let comment = format!("step {i}");
        let event = match i % 20 {
            0..=11 => {
                json!({"type": "incident_update.v1", "data": {"tenant_id": FULL, "id": incident, "comment": comment}})
            }
            12..=16 => {
                json!({"type": "alert_update.v1", "data": {"tenant_id": FULL, "id": alert, "comment": comment}})
            }
            _ => {
                json!({"type": "alert_update.v1", "data": {"tenant_id": FULL, "id": alert, "api": "graph", "assigned_to": format!("analyst{i}@contoso.com")}})
            }
        };
        sent.push(w.send(&event).await);
    }
    sent
}

async fn check_hundred(w: &World, sent: &[String]) {
    w.run_once().await;

    let mut started = Vec::new();
    for id in sent {
        let status = w.status(id).await;
        assert_eq!(status["outcome"]["code"], "succeeded", "{status}");
        let at = status["audit"]["started_at"].as_str().expect("started");
        started.push(
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).expect("time"),
        );
    }
    let mut in_order = started.clone();
    in_order.sort();
    assert_eq!(started, in_order, "performed in the order they were sent");

    let writes: Vec<(String, u16)> = w
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| (r.body, r.status.unwrap_or_default()))
        .collect();
    assert_eq!(writes.len(), 100, "one write per request");
    let throttled = w
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    assert_eq!(throttled, 0, "no self-inflicted 429");
    // The comments reached Defender in order too.
    let steps: Vec<u32> = writes
        .iter()
        .filter_map(|(body, _)| serde_json::from_str::<Value>(body).ok())
        .filter_map(|b| {
            b["comment"]
                .as_str()
                .and_then(|c| c.strip_prefix("step "))
                .and_then(|n| n.parse().ok())
        })
        .collect();
    let mut sorted = steps.clone();
    sorted.sort_unstable();
    assert_eq!(steps, sorted);
}
