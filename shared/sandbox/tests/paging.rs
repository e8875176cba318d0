//! Paging: whatever the page size, a client following `$skip` (MDE, Microsoft 365 Defender) or `@odata.nextLink`
//! (Graph) sees every record exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, GRAPH, M365D, MDE, documented, values};
use mde_sandbox::{DEMO_TENANT_FULL, SandboxConfig};
use proptest::prelude::*;
use serde_json::Value;

struct World {
    runtime: tokio::runtime::Runtime,
    env: Env,
    mde: String,
    xdr: String,
    graph: String,
}

fn world() -> World {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (env, mde, xdr, graph) = runtime.block_on(async {
        let mut config = documented(SandboxConfig::default());
        config.rate_limits.enabled = false;
        config.data.alerts_per_tenant = 45;
        let env = Env::with(config).await;
        let mde = env.token(DEMO_TENANT_FULL, MDE).await;
        let xdr = env.token(DEMO_TENANT_FULL, M365D).await;
        let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
        (env, mde, xdr, graph)
    });
    World {
        runtime,
        env,
        mde,
        xdr,
        graph,
    }
}

fn exactly_once(ids: &[String], expected: usize) -> bool {
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    unique.len() == ids.len() && ids.len() == expected
}

async fn skip_pages(env: &Env, token: &str, path: &str, top: usize, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let (status, body) = env
            .get(token, &format!("{path}?$top={top}&$skip={}", out.len()))
            .await;
        assert_eq!(status, 200);
        let page: Vec<String> = values(&body).iter().map(|v| v[key].to_string()).collect();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

async fn next_link_pages(env: &Env, token: &str, first: &str) -> Vec<String> {
    let mut url = env.url(first);
    let mut out = Vec::new();
    loop {
        let (status, body) = env.get_absolute(token, &url).await;
        assert_eq!(status, 200);
        out.extend(values(&body).iter().map(|v| v["id"].to_string()));
        match body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return out,
        }
    }
}

fn total(w: &World, path: &str, token: &str) -> usize {
    w.runtime
        .block_on(async { values(&w.env.get(token, path).await.1).len() })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_page_size_sees_every_record_exactly_once(top in 1usize..=60, incidents_top in 1usize..=100, graph_top in 1usize..=60) {
        static WORLD: std::sync::OnceLock<World> = std::sync::OnceLock::new();
        let w = WORLD.get_or_init(world);
        let alerts = total(w, "/api/alerts", &w.mde);
        let incidents = total(w, "/api/incidents?$top=100", &w.xdr);
        let (a, i, g, ga) = w.runtime.block_on(async {
            let a = skip_pages(&w.env, &w.mde, "/api/alerts", top, "id").await;
            let i = skip_pages(&w.env, &w.xdr, "/api/incidents", incidents_top, "incidentId").await;
            let g = next_link_pages(&w.env, &w.graph, &format!("/v1.0/security/incidents?$top={graph_top}")).await;
            let ga = next_link_pages(&w.env, &w.graph, &format!("/v1.0/security/alerts_v2?$top={graph_top}&$filter=status+ne+'unknown'")).await;
            (a, i, g, ga)
        });
        prop_assert!(exactly_once(&a, alerts));
        prop_assert!(exactly_once(&i, incidents));
        prop_assert!(exactly_once(&g, incidents));
        prop_assert!(exactly_once(&ga, alerts));
    }
}

#[test]
fn graph_default_page_is_the_configured_page_size() {
    let w = world();
    let body: Value = w
        .runtime
        .block_on(async { w.env.get(&w.graph, "/v1.0/security/alerts_v2").await.1 });
    assert_eq!(
        values(&body).len(),
        45.min(SandboxConfig::default().data.graph_page_size)
    );
    let body: Value = w
        .runtime
        .block_on(async { w.env.get(&w.graph, "/v1.0/security/alerts_v2?$top=500").await.1 });
    assert!(values(&body).len() <= SandboxConfig::default().data.graph_page_size);
}
