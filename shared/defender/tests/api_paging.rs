//! Paging of the four export datasets against the sandbox over real sockets: `$skip` for MDE and Microsoft 365
//! Defender, `@odata.nextLink` for Graph; every record exactly once, the partner User-Agent and a bearer token on
//! every request, and a nextLink to another host refused before the token goes there.

mod api_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use mde_contracts::Dataset;
use mde_defender::DefenderError;
use mde_defender::api::{Page, RateLimitConfig, Record};
use mde_sandbox::{Sandbox, SandboxConfig};
use time::{Duration, OffsetDateTime};

use api_support::*;

fn config() -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.data.alerts_per_tenant = 60;
    config.data.graph_page_size = 7;
    config
}

fn window() -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now - Duration::days(400), now + Duration::days(1))
}

/// Collects every page; panics on an error.
async fn all_pages(stream: mde_defender::api::PageStream<'_, Record>) -> Vec<Page<Record>> {
    stream.map(|page| page.expect("page")).collect::<Vec<_>>().await
}

fn ids(pages: &[Page<Record>]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.items.iter().map(|r| r.id().expect("an id").to_owned()))
        .collect()
}

fn assert_once(ids: &[String], expected: &HashSet<String>, what: &str) {
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "{what}: a record came twice");
    assert_eq!(&unique, expected, "{what}: every record once");
}

#[tokio::test]
async fn skip_paging_yields_every_mde_alert_and_m365d_incident_exactly_once() {
    let sandbox = Sandbox::start(config()).await.expect("sandbox");
    let client = client(&sandbox);
    let tenant = full();
    let (from, to) = window();

    let whole = all_pages(client.export_pages(Dataset::MdeAlerts, &tenant, from, to, None)).await;
    assert_eq!(whole.len(), 1, "one page of up to 10,000");
    let expected: HashSet<String> = ids(&whole).into_iter().collect();
    assert_eq!(expected.len(), 60);

    let pages = all_pages(client.export_pages(Dataset::MdeAlerts, &tenant, from, to, Some(7))).await;
    assert_eq!(pages.len(), 9, "8 full pages of 7 and a short one");
    assert!(pages.iter().enumerate().all(|(i, p)| p.index == i));
    assert_once(&ids(&pages), &expected, "MDE alerts");
    let first = &pages[0].items[0];
    assert!(first.last_update().is_some(), "lastUpdateTime is read");
    assert!(
        first.raw().get().contains("\"evidence\""),
        "the raw JSON is kept whole"
    );

    let requests = api_requests(&sandbox, "/api/alerts");
    let queries: Vec<String> = requests.iter().filter_map(|r| r.query.clone()).collect();
    assert!(
        queries
            .iter()
            .all(|q| q.contains("%24expand=evidence") && q.contains("%24top=")),
        "{queries:?}"
    );
    assert!(queries.iter().any(|q| q.contains("%24skip=56")), "{queries:?}");

    let incidents = all_pages(client.export_pages(Dataset::M365dIncidents, &tenant, from, to, None)).await;
    let expected_incidents: HashSet<String> = ids(&incidents).into_iter().collect();
    assert!(expected_incidents.len() > 10, "{}", expected_incidents.len());
    let paged = all_pages(client.export_pages(Dataset::M365dIncidents, &tenant, from, to, Some(4))).await;
    assert!(paged.len() >= 3, "several pages");
    assert_once(&ids(&paged), &expected_incidents, "M365D incidents");

    for r in sandbox.requests() {
        assert_eq!(r.user_agent.as_deref(), Some(UA), "{} {}", r.method, r.path);
        if !r.path.contains("/oauth2/") {
            let auth = r.headers.get("authorization").cloned().unwrap_or_default();
            assert!(auth.starts_with("Bearer sha256:"), "{auth}");
        }
    }
}

#[tokio::test]
async fn next_link_paging_yields_every_graph_record_exactly_once_and_asks_for_unknown_enum_members() {
    let sandbox = Sandbox::start(config()).await.expect("sandbox");
    let client = client(&sandbox);
    let tenant = full();
    let (from, to) = window();

    let mde = all_pages(client.export_pages(Dataset::MdeAlerts, &tenant, from, to, None)).await;
    let expected_alerts: HashSet<String> = ids(&mde).into_iter().collect();
    let alerts = all_pages(client.export_pages(Dataset::GraphAlertsV2, &tenant, from, to, None)).await;
    assert_eq!(alerts.len(), 9, "pages of 7 by nextLink");
    assert_once(&ids(&alerts), &expected_alerts, "Graph alerts");

    let m365d = all_pages(client.export_pages(Dataset::M365dIncidents, &tenant, from, to, None)).await;
    let expected_incidents: HashSet<String> = ids(&m365d).into_iter().collect();
    let incidents = all_pages(client.export_pages(Dataset::GraphIncidents, &tenant, from, to, None)).await;
    assert!(incidents.len() >= 2);
    assert_once(&ids(&incidents), &expected_incidents, "Graph incidents");

    let graph = api_requests(&sandbox, "/v1.0/security/");
    assert_eq!(graph.len(), alerts.len() + incidents.len());
    for r in &graph {
        assert_eq!(r.user_agent.as_deref(), Some(UA));
        assert_eq!(
            r.headers.get("prefer").map(String::as_str),
            Some("include-unknown-enum-members")
        );
    }
}

#[tokio::test]
async fn a_window_filter_selects_by_last_update() {
    let sandbox = Sandbox::start(config()).await.expect("sandbox");
    let client = client(&sandbox);
    let tenant = full();
    let (from, to) = window();
    let all = all_pages(client.export_pages(Dataset::MdeAlerts, &tenant, from, to, None)).await;
    let mut times: Vec<OffsetDateTime> = all
        .iter()
        .flat_map(|p| p.items.iter().filter_map(Record::last_update))
        .collect();
    times.sort();
    let cut = times[times.len() / 2];
    let newer = all_pages(client.export_pages(Dataset::MdeAlerts, &tenant, cut, to, None)).await;
    let newer: Vec<&Record> = newer.iter().flat_map(|p| p.items.iter()).collect();
    assert_eq!(newer.len(), times.iter().filter(|t| **t >= cut).count());
    assert!(newer.iter().all(|r| r.last_update().is_some_and(|t| t >= cut)));
}

/// A fake Graph that answers one page whose nextLink points at `next`, counting its calls.
async fn fake_graph(next: String, calls: Arc<AtomicUsize>) -> url::Url {
    let app = axum::Router::new().route(
        "/v1.0/security/alerts_v2",
        axum::routing::get(move || {
            let next = next.clone();
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                axum::Json(serde_json::json!({
                    "@odata.context": "x",
                    "@odata.nextLink": next,
                    "value": [{"id": "a1", "lastUpdateDateTime": "2026-11-20T10:00:00Z"}],
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}").parse().expect("url")
}

#[tokio::test]
async fn a_next_link_to_another_host_or_port_is_refused_and_never_called() {
    let sandbox = Sandbox::start(config()).await.expect("sandbox");
    let tenant = full();
    let (from, to) = window();
    for next in [
        "https://graph.evil.example/v1.0/security/alerts_v2?$skip=1".to_owned(),
        // Same host, other port: the sandbox itself, which must see no Graph call.
        format!("{}/v1.0/security/alerts_v2?$skip=1", sandbox.base_url()),
    ] {
        let calls = Arc::new(AtomicUsize::new(0));
        let graph = fake_graph(next.clone(), Arc::clone(&calls)).await;
        let http = mde_defender::build_http_client(&partner()).expect("http");
        let client = mde_defender::DefenderClient::with_config(
            http,
            endpoints_with_graph(&sandbox, graph),
            Arc::new(token_source(&sandbox)),
            mde_defender::api::ClientConfig {
                retry: fast_retries(3),
                rate_limits: RateLimitConfig::unlimited(),
            },
        );
        let items: Vec<_> = client
            .export_pages(Dataset::GraphAlertsV2, &tenant, from, to, None)
            .collect()
            .await;
        assert_eq!(items.len(), 2, "the good page, then the refusal");
        assert!(items[0].as_ref().is_ok_and(|p| p.items.len() == 1));
        match &items[1] {
            Err(e @ DefenderError::ForeignNextLink { link_origin, .. }) => {
                assert!(next.starts_with(link_origin.as_str()), "{link_origin}");
                assert!(e.to_string().contains("refusing"), "{e}");
            }
            other => panic!("expected ForeignNextLink, got {other:?}"),
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            api_requests(&sandbox, "/v1.0/").is_empty(),
            "the token never went to the other origin"
        );
    }
}

/// A fake Graph that always answers 200 with `body` as `content_type`, counting its calls.
async fn fake_graph_answering(
    content_type: &'static str,
    body: &'static str,
    calls: Arc<AtomicUsize>,
) -> url::Url {
    let app = axum::Router::new().route(
        "/v1.0/security/incidents",
        axum::routing::get(move || {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                ([("content-type", content_type)], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}").parse().expect("url")
}

#[tokio::test]
async fn an_html_page_is_a_typed_error_and_truncated_json_is_fetched_again_within_bounds() {
    let sandbox = Sandbox::start(config()).await.expect("sandbox");
    let tenant = full();
    let (from, to) = window();
    for (content_type, body, expected_calls) in [
        ("text/html", "<html><body>Service unavailable</body></html>", 1),
        (
            "application/json",
            r#"{"value":[{"id":"a1","lastUpdateDateTime":"2026-11-"#,
            3,
        ),
    ] {
        let calls = Arc::new(AtomicUsize::new(0));
        let graph = fake_graph_answering(content_type, body, Arc::clone(&calls)).await;
        let http = mde_defender::build_http_client(&partner()).expect("http");
        let client = mde_defender::DefenderClient::with_config(
            http,
            endpoints_with_graph(&sandbox, graph),
            Arc::new(token_source(&sandbox)),
            mde_defender::api::ClientConfig {
                retry: fast_retries(2),
                rate_limits: RateLimitConfig::unlimited(),
            },
        );
        let items: Vec<_> = client
            .export_pages(Dataset::GraphIncidents, &tenant, from, to, None)
            .collect()
            .await;
        assert_eq!(items.len(), 1);
        let err = items.into_iter().next().and_then(Result::err).expect("an error");
        let text = err.to_string();
        match expected_calls {
            1 => assert!(
                matches!(err, DefenderError::UnexpectedBody { status: 200, .. }),
                "{err:?}"
            ),
            _ => assert!(
                matches!(err, DefenderError::Unavailable { .. }) && text.contains("truncated JSON"),
                "{err:?}"
            ),
        }
        assert!(
            !text.contains("Service unavailable") && !text.contains("a1"),
            "the body is not quoted: {text}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), expected_calls, "{content_type}");
    }
}
