//! indicator-push figures: validation throughput (indicators/s) and the API calls needed to push 10,000
//! indicators into one tenant (sandbox over real sockets, no rate limits so the figure is calls, not waiting).
//!
//! `cargo bench -p indicator-push --bench validation` (add `--profile dev` for a quick debug-build run).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::*;
use indicator_push::validate;
use mde_defender::api::RateLimitConfig;
use serde_json::Value;

fn main() {
    let kinds = [
        ("FileSha256", 64usize),
        ("FileSha1", 40),
        ("FileMd5", 32),
        ("IpAddress", 0),
        ("DomainName", 0),
        ("Url", 0),
    ];
    let raws: Vec<Value> = (0..100_000u32)
        .map(|i| {
            let (kind, hex) = kinds[i as usize % kinds.len()];
            let value = match kind {
                "IpAddress" => format!("198.51.{}.{}", (i / 250) % 250, i % 250),
                "DomainName" => format!("host-{i}.Example.com"),
                "Url" => format!("https://bad-{i}.example.com/payload?id={i}"),
                _ => format!("{:0>width$x}", u128::from(i) * 7919, width = hex),
            };
            indicator(kind, &value, "Block")
        })
        .collect();
    let now = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let mut valid = 0usize;
    for raw in &raws {
        if validate::parse(raw)
            .and_then(|spec| validate::validate(&spec, now, "mde-bridge"))
            .is_ok()
        {
            valid += 1;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(valid, raws.len(), "every generated indicator is valid");
    println!(
        "validation: {} indicators in {:.1} ms = {:.0} indicators/s (parse + check + normalise, 6 types)",
        raws.len(),
        elapsed.as_secs_f64() * 1e3,
        raws.len() as f64 / elapsed.as_secs_f64()
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let sandbox = start(sandbox_config()).await;
        let dir = tempfile::tempdir().expect("dir");
        let pusher = pusher(
            client(&sandbox, 2, RateLimitConfig::unlimited()),
            local_store(dir.path()),
            tenants(),
            settings(15_000),
        );
        // 10,000 indicators as 100 messages of 100, pushed in SQS-sized batches of 10 messages.
        let messages: Vec<_> = (0..100)
            .map(|m| {
                upsert(
                    &format!("m{m}"),
                    serde_json::json!(FULL),
                    (0..100).map(|i| indicator("DomainName", &format!("bench-{m}-{i}.example.com"), "Block")).collect(),
                )
            })
            .collect();
        sandbox.clear_requests();
        let started = Instant::now();
        let mut imported = 0;
        for batch in messages.chunks(10) {
            let outcome = push(&pusher, batch).await;
            imported += outcome.summary.tenants.iter().map(|t| t.imported).sum::<u64>();
        }
        let wall = started.elapsed();
        let api: Vec<_> = sandbox.requests().into_iter().filter(|r| r.path.starts_with("/api/")).collect();
        let per = |path: &str| api.iter().filter(|r| r.path == path).count();
        println!(
            "push, batches of 10 messages × 100: {imported} indicators imported with {} API calls ({} import, {} list) in {:.2} s",
            api.len(),
            per("/api/indicators/import"),
            per("/api/indicators"),
            wall.as_secs_f64()
        );
        // 10,000 in one sync message into Fabrikam (Ti.ReadWrite: it sees only its own, none yet, so the cap
        // leaves room): the floor of 20 imports of 500 plus the listing.
        sandbox.clear_requests();
        let all: Vec<Value> = (0..10_000).map(|i| indicator("DomainName", &format!("feed-{i}.example.com"), "Block")).collect();
        let sync = message("sync", serde_json::json!({"op": "sync", "tenants": PARTIAL, "feed": "bench", "indicators": all}));
        let started = Instant::now();
        let outcome = push(&pusher, &[sync]).await;
        let api = sandbox.requests().into_iter().filter(|r| r.path.starts_with("/api/")).count();
        println!(
            "sync of 10,000 in one message: {} imported with {api} API calls in {:.2} s (floor: 10,000 / 500 = 20 imports + 1 listing page per 10,000 listed)",
            outcome.summary.tenants.iter().map(|t| t.imported).sum::<u64>(),
            started.elapsed().as_secs_f64()
        );
    });
}
