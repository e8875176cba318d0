//! Adversarial modes, over real sockets: list orders, mutation while paging, bulk updates at one instant, visibility
//! lag, clock skew and the `Date` header, Graph's paging ceilings, refused query options, and the test helpers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use common::{Env, GRAPH, M365D, MDE, code, split, values};
use mde_sandbox::{
    AdversarialSettings, DEMO_TENANT_FULL, DEMO_TENANT_PARTIAL, ListOrder, MutateSettings, SandboxConfig,
};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

const DATASETS: [&str; 4] = [
    "mde_alerts",
    "m365d_incidents",
    "graph_incidents",
    "graph_alerts_v2",
];

/// A world without rate limits, updates of its own or Graph page ceilings getting in the way.
fn quiet() -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.rate_limits.enabled = false;
    config.data.alert_updates_per_hour = 0;
    config.data.new_alerts_per_hour = 0;
    config.data.graph_page_size = 1000;
    // Each test turns on the mode it is about.
    config.adversarial = adversarial(ListOrder::Documented);
    config
}

fn parse_http_date(text: &str) -> OffsetDateTime {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    PrimitiveDateTime::parse(text, &format)
        .unwrap_or_else(|e| panic!("'{text}' is not an IMF-fixdate: {e}"))
        .assume_utc()
}

fn parse_time(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("'{text}' is not a timestamp: {e}"))
}

/// The one `Date` header of a response.
fn date_of(response: &reqwest::Response) -> OffsetDateTime {
    let dates: Vec<_> = response.headers().get_all(reqwest::header::DATE).iter().collect();
    assert_eq!(dates.len(), 1, "exactly one Date header: {dates:?}");
    parse_http_date(dates[0].to_str().unwrap())
}

fn close(a: OffsetDateTime, b: OffsetDateTime, within: Duration) -> bool {
    (a - b).abs() <= within
}

/// Tokens for the three APIs in the full tenant.
async fn tokens(env: &Env) -> (String, String, String) {
    (
        env.token(DEMO_TENANT_FULL, MDE).await,
        env.token(DEMO_TENANT_FULL, M365D).await,
        env.token(DEMO_TENANT_FULL, GRAPH).await,
    )
}

fn strings(list: &[Value], key: &str) -> Vec<String> {
    list.iter()
        .map(|v| match &v[key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// Only `order` differs from the documented behaviour (the defaults are adversarial in other ways too).
fn adversarial(order: ListOrder) -> AdversarialSettings {
    AdversarialSettings {
        list_order: order,
        mutate: None,
        visibility_lag_seconds: 0,
        clock_skew_seconds: 0,
        graph_omit_next_link_with_top: false,
        graph_max_skip: None,
    }
}

// ---- Date header and clock skew ----

#[tokio::test]
async fn every_response_has_a_simulated_date_that_moves_with_advance() {
    let env = Env::with(quiet()).await;
    let token = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let requests = || {
        [
            env.http.get(env.url("/_sandbox/config")),
            env.http
                .post(env.url(&format!("/{DEMO_TENANT_FULL}/oauth2/v2.0/token")))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", mde_sandbox::DEMO_CLIENT_ID),
                    ("client_secret", mde_sandbox::DEMO_CLIENT_SECRET),
                    ("scope", "https://graph.microsoft.com/.default"),
                ]),
            env.http
                .get(env.url("/v1.0/security/alerts_v2?$top=2"))
                .bearer_auth(&token),
            env.http
                .get(env.url("/v1.0/security/alerts_v2/nope"))
                .bearer_auth(&token),
            env.http.get(env.url("/api/alerts")),
            env.http.get(env.url("/no/such/path")),
        ]
    };
    for request in requests() {
        let response = request.send().await.unwrap();
        let date = date_of(&response);
        assert!(
            close(date, env.sandbox.now(), Duration::seconds(3)),
            "{date} vs {}",
            env.sandbox.now()
        );
        assert!(close(date, OffsetDateTime::now_utc(), Duration::seconds(3)));
    }
    let (status, _) = env
        .admin("/_sandbox/advance", json!({"seconds": 3 * 86_400}))
        .await;
    assert_eq!(status, 200);
    let later = OffsetDateTime::now_utc() + Duration::days(3);
    for request in requests() {
        let response = request.send().await.unwrap();
        let date = date_of(&response);
        assert!(
            close(date, later, Duration::seconds(3)),
            "{date} moved with advance"
        );
        assert!(close(date, env.sandbox.now(), Duration::seconds(3)));
    }
    // Error bodies stamp the same clock.
    let response = env
        .http
        .get(env.url("/v1.0/security/alerts_v2/nope"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (_, body) = split(response).await;
    let stamped = parse_time(body["error"]["innerError"]["date"].as_str().unwrap());
    assert!(close(stamped, later, Duration::seconds(3)), "{body}");
}

#[tokio::test]
async fn clock_skew_shows_in_date_and_in_stamped_times_but_not_in_tokens() {
    let mut config = quiet();
    config.adversarial.clock_skew_seconds = -7200;
    let env = Env::with(config).await;
    let behind = OffsetDateTime::now_utc() - Duration::hours(2);
    assert!(close(env.sandbox.now(), behind, Duration::seconds(3)));

    let (mde, _, _) = tokens(&env).await;
    let payload = mde.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let exp = OffsetDateTime::from_unix_timestamp(claims["exp"].as_i64().unwrap()).unwrap();
    assert!(
        close(
            exp,
            OffsetDateTime::now_utc() + Duration::seconds(3599),
            Duration::seconds(60)
        ),
        "tokens keep wall-clock time: exp {exp}"
    );

    let response = env
        .http
        .get(env.url("/api/alerts?$top=1"))
        .bearer_auth(&mde)
        .send()
        .await
        .unwrap();
    assert!(close(date_of(&response), behind, Duration::seconds(3)));
    let (_, list) = split(response).await;
    let id = values(&list)[0]["id"].as_str().unwrap().to_owned();
    let (status, patched) = env
        .patch(&mde, &format!("/api/alerts/{id}"), json!({"comment": "seen"}))
        .await;
    assert_eq!(status, 200);
    let stamped = parse_time(patched["lastUpdateTime"].as_str().unwrap());
    assert!(close(stamped, behind, Duration::seconds(3)), "stamped {stamped}");
    let comment = parse_time(
        patched["comments"].as_array().unwrap().last().unwrap()["createdTime"]
            .as_str()
            .unwrap(),
    );
    assert!(close(comment, behind, Duration::seconds(3)));

    // Changed at runtime: an hour ahead.
    let (status, body) = env
        .admin("/_sandbox/adversarial", json!({"clock_skew_seconds": 3600}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["clock_skew_seconds"], 3600);
    let ahead = OffsetDateTime::now_utc() + Duration::hours(1);
    let response = env
        .http
        .get(env.url("/api/alerts?$top=1"))
        .bearer_auth(&mde)
        .send()
        .await
        .unwrap();
    assert!(close(date_of(&response), ahead, Duration::seconds(3)));
    let report = env.sandbox.mutate(DEMO_TENANT_FULL, 0, 1).unwrap();
    assert!(close(
        parse_time(&report.last_update_time),
        ahead,
        Duration::seconds(3)
    ));
}

// ---- list orders ----

/// Every list of the full tenant with the fields their order is checked on: (path, token kind, created, updated).
const LISTS: [(&str, &str, &str, &str); 7] = [
    ("/api/alerts", "mde", "alertCreationTime", "lastUpdateTime"),
    (
        "/api/incidents?$top=100",
        "m365d",
        "createdTime",
        "lastUpdateTime",
    ),
    (
        "/v1.0/security/incidents",
        "graph",
        "createdDateTime",
        "lastUpdateDateTime",
    ),
    (
        "/v1.0/security/alerts_v2",
        "graph",
        "createdDateTime",
        "lastUpdateDateTime",
    ),
    (
        "/api/machineactions",
        "mde",
        "creationDateTimeUtc",
        "lastUpdateDateTimeUtc",
    ),
    (
        "/api/indicators",
        "mde",
        "creationTimeDateTimeUtc",
        "lastUpdateTime",
    ),
    ("/api/machines", "mde", "firstSeen", "lastSeen"),
];

/// A world whose every list has several records with distinct times: alerts updated at different moments, machine
/// actions created at different times, indicators submitted by the app.
async fn ordered_world() -> (Env, String, String, String) {
    let env = Env::with(quiet()).await;
    let (mde, xdr, graph) = tokens(&env).await;
    let (_, machines) = env
        .get(&mde, "/api/machines?$filter=startswith(osPlatform,'Windows1')")
        .await;
    for (n, machine) in strings(values(&machines), "id").iter().enumerate() {
        let (status, body) = env
            .post(
                &mde,
                &format!("/api/machines/{machine}/runAntiVirusScan"),
                json!({"Comment": "c", "ScanType": "Quick"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, _) = env
            .post(
                &mde,
                "/api/indicators",
                json!({"indicatorValue": format!("bad{n}.contoso-bad.example"), "indicatorType": "DomainName",
                       "action": "AlertAndBlock", "title": "t", "description": "d", "severity": "High"}),
            )
            .await;
        assert_eq!(status, 200);
        env.sandbox.advance(std::time::Duration::from_secs(90));
    }
    env.sandbox.mutate(DEMO_TENANT_FULL, 5, 2).unwrap();
    (env, mde, xdr, graph)
}

async fn list(env: &Env, mde: &str, xdr: &str, graph: &str, path: &str, kind: &str) -> Vec<Value> {
    let token = match kind {
        "mde" => mde,
        "m365d" => xdr,
        _ => graph,
    };
    let (status, body) = env.get(token, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    assert!(
        body.get("@odata.nextLink").is_none(),
        "{path}: one page holds the list"
    );
    values(&body).clone()
}

/// Whether the timestamps of `field` are sorted (ascending or descending).
fn sorted_on(records: &[Value], field: &str, ascending: bool) -> bool {
    let times: Vec<OffsetDateTime> = records
        .iter()
        .map(|r| parse_time(r[field].as_str().unwrap()))
        .collect();
    times
        .windows(2)
        .all(|w| if ascending { w[0] <= w[1] } else { w[0] >= w[1] })
}

#[tokio::test]
async fn each_list_order_mode_orders_every_list() {
    let (env, mde, xdr, graph) = ordered_world().await;
    for (path, kind, _, updated) in LISTS {
        let records = list(&env, &mde, &xdr, &graph, path, kind).await;
        assert!(records.len() >= 3, "{path}: enough records to see an order");
        assert!(
            !sorted_on(&records, updated, true) || !sorted_on(&records, updated, false),
            "{path}: last updates differ"
        );
    }
    for (order, via_http) in [
        (ListOrder::CreatedDesc, false),
        (ListOrder::LastupdateAsc, true),
        (ListOrder::LastupdateDesc, false),
        (ListOrder::Documented, true),
    ] {
        if via_http {
            let body = serde_json::to_value(adversarial(order)).unwrap();
            let (status, answer) = env.admin("/_sandbox/adversarial", body).await;
            assert_eq!(status, 200, "{answer}");
        } else {
            env.sandbox.set_adversarial(adversarial(order)).unwrap();
        }
        assert_eq!(env.sandbox.adversarial().list_order, order);
        for (path, kind, created, updated) in LISTS {
            let records = list(&env, &mde, &xdr, &graph, path, kind).await;
            let ok = match order {
                ListOrder::CreatedDesc => sorted_on(&records, created, false),
                ListOrder::LastupdateAsc => sorted_on(&records, updated, true),
                ListOrder::LastupdateDesc => sorted_on(&records, updated, false),
                ListOrder::Documented => match path {
                    "/api/machines" => strings(&records, "computerDnsName").is_sorted(),
                    "/api/indicators" => {
                        let ids: Vec<u64> = strings(&records, "id")
                            .iter()
                            .map(|i| i.parse().unwrap())
                            .collect();
                        ids.is_sorted()
                    }
                    _ => sorted_on(&records, created, false),
                },
                ListOrder::Unstable => unreachable!(),
            };
            assert!(ok, "{order:?}: {path} not in order of {created} / {updated}");
        }
    }
}

#[tokio::test]
async fn skip_pages_over_the_adversarial_order() {
    let (env, mde, xdr, _) = ordered_world().await;
    env.sandbox
        .set_adversarial(adversarial(ListOrder::LastupdateAsc))
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let (_, body) = env
            .get(&mde, &format!("/api/alerts?$top=7&$skip={}", seen.len()))
            .await;
        if values(&body).is_empty() {
            break;
        }
        seen.extend(values(&body).iter().cloned());
    }
    assert!(sorted_on(&seen, "lastUpdateTime", true));
    let ids: BTreeSet<String> = strings(&seen, "id").into_iter().collect();
    assert_eq!(ids.len(), seen.len(), "no record twice");
    assert_eq!(
        ids.len(),
        env.sandbox.current_versions(DEMO_TENANT_FULL, "mde_alerts").len(),
        "every record"
    );

    env.sandbox
        .set_adversarial(adversarial(ListOrder::LastupdateDesc))
        .unwrap();
    let (_, first) = env.get(&xdr, "/api/incidents?$top=4").await;
    let (_, second) = env.get(&xdr, "/api/incidents?$top=4&$skip=4").await;
    let both: Vec<Value> = values(&first).iter().chain(values(&second)).cloned().collect();
    assert_eq!(both.len(), 8);
    assert!(sorted_on(&both, "lastUpdateTime", false));
}

#[tokio::test]
async fn unstable_gives_a_different_order_to_two_identical_requests() {
    let (env, mde, xdr, graph) = ordered_world().await;
    env.sandbox
        .set_adversarial(adversarial(ListOrder::Unstable))
        .unwrap();
    for (path, kind, _, _) in LISTS {
        let key = if kind == "m365d" { "incidentId" } else { "id" };
        let first = strings(&list(&env, &mde, &xdr, &graph, path, kind).await, key);
        let mut second = strings(&list(&env, &mde, &xdr, &graph, path, kind).await, key);
        // Few records (4 machine actions: 24 orders) may repeat an order by chance: draw again, a few times.
        let mut draws = 0;
        while first == second && first.len() < 8 && draws < 10 {
            second = strings(&list(&env, &mde, &xdr, &graph, path, kind).await, key);
            draws += 1;
        }
        assert_ne!(first, second, "{path}: two requests, two orders");
        let (mut a, mut b) = (first.clone(), second.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b, "{path}: the same records");
    }
}

// ---- mutation while paging ----

/// The alert ids a set of incidents (Microsoft 365 Defender shape) holds.
fn alerts_of_incidents(incidents: &[Value]) -> Vec<String> {
    incidents
        .iter()
        .flat_map(|i| i["alerts"].as_array().unwrap().iter())
        .map(|a| a["alertId"].as_str().unwrap().to_owned())
        .collect()
}

fn versions(env: &Env, dataset: &str) -> BTreeMap<String, String> {
    env.sandbox
        .current_versions(DEMO_TENANT_FULL, dataset)
        .into_iter()
        .collect()
}

/// Ids whose version changed, and ids that are new.
fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> (Vec<String>, Vec<String>) {
    let changed = after
        .iter()
        .filter(|(id, v)| before.get(*id).is_some_and(|b| b != *v))
        .map(|(id, _)| id.clone())
        .collect();
    let created = after
        .keys()
        .filter(|id| !before.contains_key(*id))
        .cloned()
        .collect();
    (changed, created)
}

#[tokio::test]
async fn mutation_fires_after_the_nth_list_call_and_touches_returned_and_unreturned_alerts() {
    let mut config = quiet();
    config.adversarial.mutate = Some(MutateSettings {
        after_list_calls: 2,
        update_returned: 2,
        update_unreturned: 3,
        create: 1,
        repeat_every: None,
    });
    let env = Env::with(config).await;
    let (mde, xdr, graph) = tokens(&env).await;
    let start = versions(&env, "mde_alerts");

    let (_, page) = env.get(&mde, "/api/alerts?$top=4").await;
    let mut returned: BTreeSet<String> = strings(values(&page), "id").into_iter().collect();
    assert_eq!(
        versions(&env, "mde_alerts"),
        start,
        "nothing changes after the first call"
    );

    let (_, incidents) = env.get(&xdr, "/api/incidents?$top=3").await;
    returned.extend(alerts_of_incidents(values(&incidents)));
    let after = versions(&env, "mde_alerts");
    let (changed, created) = diff(&start, &after);
    assert_eq!(changed.len(), 5, "{changed:?}");
    assert_eq!(created.len(), 1);
    let touched_returned = changed.iter().filter(|id| returned.contains(*id)).count();
    assert_eq!(touched_returned, 2, "two alerts a list had returned");
    assert_eq!(changed.len() - touched_returned, 3, "three it had not");

    // One instant, on the alerts, their incidents and the Graph views.
    let stamp = after[&created[0]].clone();
    assert!(changed.iter().all(|id| after[id] == stamp));
    assert!(close(parse_time(&stamp), env.sandbox.now(), Duration::seconds(3)));
    let m365d = versions(&env, "m365d_incidents");
    let graph_incidents = versions(&env, "graph_incidents");
    for id in changed.iter().chain(&created) {
        let (status, alert) = env.get(&graph, &format!("/v1.0/security/alerts_v2/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(alert["lastUpdateDateTime"].as_str(), Some(stamp.as_str()));
        let incident = alert["incidentId"].as_str().unwrap();
        assert_eq!(m365d[incident], stamp);
        assert_eq!(graph_incidents[incident], stamp);
        let (_, incident) = env
            .get(&graph, &format!("/v1.0/security/incidents/{incident}"))
            .await;
        assert_eq!(incident["lastUpdateDateTime"].as_str(), Some(stamp.as_str()));
    }
    let (_, new) = env.get(&mde, &format!("/api/alerts/{}", created[0])).await;
    assert_eq!(new["alertCreationTime"].as_str(), Some(stamp.as_str()));

    // Once only without repeat_every.
    for _ in 0..3 {
        env.get(&graph, "/v1.0/security/alerts_v2?$top=2").await;
    }
    assert_eq!(versions(&env, "mde_alerts"), after);
}

#[tokio::test]
async fn mutation_repeats_and_only_the_exported_lists_of_the_tenant_count() {
    let env = Env::with(quiet()).await;
    let (mde, xdr, graph) = tokens(&env).await;
    let settings = json!({"mutate": {"after_list_calls": 1, "update_returned": 1, "update_unreturned": 1, "create": 0, "repeat_every": 2}});
    let (status, body) = env.admin("/_sandbox/adversarial", settings).await;
    assert_eq!(status, 200, "{body}");

    let mut last = versions(&env, "mde_alerts");
    let mut step = |expect_change: bool, what: &str| {
        let now = versions(&env, "mde_alerts");
        let (changed, _) = diff(&last, &now);
        assert_eq!(!changed.is_empty(), expect_change, "{what}: {changed:?}");
        last = now;
    };
    env.get(&graph, "/v1.0/security/alerts_v2?$top=5").await; // call 1
    step(true, "call 1");
    let (_, machines) = env.get(&mde, "/api/machines?$top=1").await;
    let machine = values(&machines)[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = env.get(&mde, &format!("/api/machines/{machine}/alerts")).await;
    assert_eq!(status, 200);
    env.http
        .get(env.url("/api/alerts/$count"))
        .bearer_auth(&mde)
        .send()
        .await
        .unwrap();
    env.get(&mde, "/api/machineactions").await;
    env.get(&mde, "/api/indicators").await;
    let other = env.token(DEMO_TENANT_PARTIAL, MDE).await;
    env.get(&other, "/api/alerts?$top=1").await;
    env.get(&other, "/api/alerts?$top=1").await;
    step(false, "machine alerts, $count, other lists, another tenant");
    env.get(&graph, "/v1.0/security/incidents?$top=1").await; // call 2
    step(false, "call 2");
    env.get(&xdr, "/api/incidents?$top=1").await; // call 3
    step(true, "call 3");
    env.get(&mde, "/api/alerts?$top=1").await; // call 4
    step(false, "call 4");
    env.get(&mde, "/api/alerts?$top=1").await; // call 5
    step(true, "call 5");

    // Setting the section again starts counting again.
    let settings = json!({"mutate": {"after_list_calls": 2, "update_unreturned": 1}});
    assert_eq!(env.admin("/_sandbox/adversarial", settings).await.0, 200);
    env.get(&mde, "/api/alerts?$top=1").await;
    step(false, "call 1 after the reset");
    env.get(&mde, "/api/alerts?$top=1").await;
    step(true, "call 2 after the reset");
}

#[tokio::test]
async fn explicit_mutation_over_http_and_from_rust() {
    let env = Env::with(quiet()).await;
    let (mde, _, _) = tokens(&env).await;
    let (_, page) = env.get(&mde, "/api/alerts?$top=10").await;
    let listed: BTreeSet<String> = strings(values(&page), "id").into_iter().collect();
    let before = versions(&env, "mde_alerts");

    let (status, report) = env
        .admin(
            "/_sandbox/mutate",
            json!({"tenant": DEMO_TENANT_FULL, "update": 3, "create": 2}),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let as_strings = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let (returned, unreturned, created) = (
        as_strings("updatedReturned"),
        as_strings("updatedUnreturned"),
        as_strings("created"),
    );
    assert_eq!((returned.len(), unreturned.len(), created.len()), (3, 3, 2));
    assert!(returned.iter().all(|id| listed.contains(id)));
    assert!(unreturned.iter().all(|id| !listed.contains(id)));
    let after = versions(&env, "mde_alerts");
    let stamp = report["lastUpdateTime"].as_str().unwrap();
    for id in returned.iter().chain(&unreturned).chain(&created) {
        assert_eq!(after[id], stamp);
    }
    let (changed, new) = diff(&before, &after);
    assert_eq!((changed.len(), new.len()), (6, 2));
    let (_, listed_now) = env
        .get(&mde, &format!("/api/alerts?$filter=lastUpdateTime+ge+{stamp}"))
        .await;
    assert_eq!(values(&listed_now).len(), 8, "the list shows them");

    let report = env.sandbox.mutate(DEMO_TENANT_FULL, 1, 0).unwrap();
    assert_eq!(
        (report.updated_returned.len(), report.updated_unreturned.len()),
        (1, 1)
    );
    assert!(
        env.sandbox
            .mutate("0b5f1f0e-1111-4222-8333-944445555666", 1, 0)
            .is_err()
    );
    let (status, _) = env
        .admin(
            "/_sandbox/mutate",
            json!({"tenant": "0b5f1f0e-1111-4222-8333-944445555666", "update": 1}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = env
        .admin(
            "/_sandbox/mutate",
            json!({"tenant": DEMO_TENANT_FULL, "updates": 1}),
        )
        .await;
    assert_eq!(status, 400);
}

// ---- bulk update ----

#[tokio::test]
async fn bulk_update_gives_count_alerts_one_identical_last_update_time() {
    let mut config = quiet();
    config.data.alerts_per_tenant = 3000;
    let env = Env::with(config).await;
    let (mde, xdr, graph) = tokens(&env).await;
    let report = env.sandbox.bulk_update(DEMO_TENANT_FULL, 2500).unwrap();
    assert_eq!(report.updated.len(), 2500);
    let stamp = report.last_update_time.clone();
    let current = versions(&env, "mde_alerts");
    assert_eq!(current.values().filter(|v| **v == stamp).count(), 2500);

    let response = env
        .http
        .get(env.url(&format!("/api/alerts/$count?$filter=lastUpdateTime+eq+{stamp}")))
        .bearer_auth(&mde)
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "2500");
    let (_, page) = env
        .get(
            &mde,
            &format!(
                "/api/alerts?$filter=lastUpdateTime+ge+{stamp}+and+lastUpdateTime+le+{stamp}&$top=10000"
            ),
        )
        .await;
    assert_eq!(values(&page).len(), 2500);
    assert!(
        values(&page)
            .iter()
            .all(|a| a["lastUpdateTime"] == stamp.as_str() && a["status"] == "Resolved")
    );
    let (_, incidents) = env
        .get(
            &xdr,
            &format!("/api/incidents?$filter=lastUpdateTime+eq+{stamp}&$top=100"),
        )
        .await;
    assert_eq!(
        values(&incidents).len(),
        100,
        "more incidents at that instant than one page holds"
    );
    let (_, graph_page) = env
        .get(
            &graph,
            &format!("/v1.0/security/alerts_v2?$filter=lastUpdateDateTime+eq+{stamp}&$count=true&$top=5"),
        )
        .await;
    assert_eq!(graph_page["@odata.count"], 2500);

    // Over HTTP too, a second instant.
    env.sandbox.advance(std::time::Duration::from_secs(1));
    let (status, body) = env
        .admin(
            "/_sandbox/bulk_update",
            json!({"tenant": DEMO_TENANT_FULL, "count": 10}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let second = body["lastUpdateTime"].as_str().unwrap();
    assert_ne!(second, stamp);
    assert_eq!(
        versions(&env, "mde_alerts")
            .values()
            .filter(|v| *v == second)
            .count(),
        10
    );
}

// ---- visibility lag ----

#[tokio::test]
async fn visibility_lag_hides_recent_changes_until_the_lag_has_passed() {
    let mut config = quiet();
    config.adversarial.visibility_lag_seconds = 600;
    let env = Env::with(config).await;
    let (mde, xdr, graph) = tokens(&env).await;
    // Seeded records last updated in the last 600 s are hidden too: take an alert that is listed.
    let (_, page) = env.get(&mde, "/api/alerts?$top=1").await;
    let id = values(&page)[0]["id"].as_str().unwrap().to_owned();
    let incident = values(&page)[0]["incidentId"].to_string();
    let (status, patched) = env
        .patch(&mde, &format!("/api/alerts/{id}"), json!({"comment": "now"}))
        .await;
    assert_eq!(status, 200);

    let check = |expect: bool| {
        let (mde, xdr, graph, id, incident) = (&mde, &xdr, &graph, &id, &incident);
        let env = &env;
        async move {
            let (_, a) = env.get(mde, &format!("/api/alerts?$filter=id+eq+'{id}'")).await;
            let (_, g) = env.get(graph, "/v1.0/security/alerts_v2").await;
            let (_, i) = env.get(xdr, "/api/incidents?$top=100").await;
            let (_, gi) = env.get(graph, "/v1.0/security/incidents").await;
            assert_eq!(!values(&a).is_empty(), expect, "MDE alerts");
            assert_eq!(strings(values(&g), "id").contains(id), expect, "Graph alerts");
            assert_eq!(
                strings(values(&i), "incidentId").contains(incident),
                expect,
                "M365D incidents"
            );
            assert_eq!(
                strings(values(&gi), "id").contains(incident),
                expect,
                "Graph incidents"
            );
        }
    };
    check(false).await;
    let (status, got) = env.get(&mde, &format!("/api/alerts/{id}")).await;
    assert_eq!(status, 200, "a get by id sees it");
    assert_eq!(got["lastUpdateTime"], patched["lastUpdateTime"]);
    env.sandbox.advance(std::time::Duration::from_secs(590));
    check(false).await;
    env.sandbox.advance(std::time::Duration::from_secs(11));
    check(true).await;
    let (_, a) = env.get(&mde, &format!("/api/alerts?$filter=id+eq+'{id}'")).await;
    assert_eq!(values(&a)[0]["lastUpdateTime"], patched["lastUpdateTime"]);
}

// ---- Graph paging ceilings ----

#[tokio::test]
async fn graph_omits_next_link_with_top_and_refuses_a_skip_above_the_maximum() {
    let mut config = SandboxConfig::default();
    config.rate_limits.enabled = false;
    config.data.graph_page_size = 50;
    config.adversarial.graph_omit_next_link_with_top = true;
    config.adversarial.graph_max_skip = Some(500);
    let env = Env::with(config).await;
    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    for collection in ["alerts_v2", "incidents"] {
        let (status, body) = env
            .get(&graph, &format!("/v1.0/security/{collection}?$top=5&$count=true"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(values(&body).len(), 5);
        assert!(body["@odata.count"].as_u64().unwrap() > 5, "records remain");
        assert!(
            body.get("@odata.nextLink").is_none(),
            "{collection}: no nextLink with $top"
        );
        let (_, body) = env.get(&graph, &format!("/v1.0/security/{collection}")).await;
        assert!(
            body["@odata.nextLink"].is_string() || values(&body).len() < 50,
            "{collection}: nextLink without $top"
        );

        let (status, body) = env
            .get(&graph, &format!("/v1.0/security/{collection}?$skip=501"))
            .await;
        assert_eq!((status, code(&body)), (400, "badRequest"), "{body}");
        assert!(body["error"]["innerError"]["request-id"].is_string());
        assert!(body["error"]["message"].as_str().unwrap().contains("500"));
        let (status, body) = env
            .get(&graph, &format!("/v1.0/security/{collection}?$skip=500"))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, body) = env.get(&graph, "/v1.0/security/alerts_v2").await;
    assert!(
        body["@odata.nextLink"].is_string(),
        "60 alerts, pages of 50: {body}"
    );
}

// ---- refused query options ----

#[tokio::test]
async fn orderby_and_undocumented_count_are_refused_with_the_apis_error_bodies() {
    let mut config = SandboxConfig::default();
    config.rate_limits.enabled = false;
    let env = Env::with(config).await;
    let (mde, xdr, graph) = tokens(&env).await;
    let refused = [
        (&mde, "/api/alerts?$orderby=alertCreationTime+desc", "ODataError"),
        (&mde, "/api/alerts?$orderby=lastUpdateTime", "ODataError"),
        (&mde, "/api/machines?$orderby=computerDnsName", "ODataError"),
        (
            &mde,
            "/api/machineactions?$orderby=creationDateTimeUtc",
            "ODataError",
        ),
        (&mde, "/api/indicators?$orderby=id", "ODataError"),
        (&xdr, "/api/incidents?$orderby=lastUpdateTime+desc", "ODataError"),
        (
            &graph,
            "/v1.0/security/incidents?$orderby=lastUpdateDateTime+desc",
            "badRequest",
        ),
        (
            &graph,
            "/v1.0/security/alerts_v2?$orderby=createdDateTime",
            "badRequest",
        ),
        (&mde, "/api/alerts?$count=true", "ODataError"),
        (&mde, "/api/machines?$count=true", "ODataError"),
        (&mde, "/api/machineactions?$count=true", "ODataError"),
        (&mde, "/api/indicators?$count=true", "ODataError"),
        (&xdr, "/api/incidents?$count=true", "ODataError"),
    ];
    for (token, path, expected) in refused {
        let (status, body) = env.get(token, path).await;
        assert_eq!((status, code(&body)), (400, expected), "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is not allowed"),
            "{path}: {body}"
        );
        if expected == "ODataError" {
            assert!(body["error"]["target"].is_string(), "{path}: MDE body");
        } else {
            assert!(
                body["error"]["innerError"]["date"].is_string(),
                "{path}: Graph body"
            );
        }
    }
    // Documented: Graph's $count=true and MDE's /$count path segment.
    for path in [
        "/v1.0/security/incidents?$count=true",
        "/v1.0/security/alerts_v2?$count=true",
    ] {
        let (status, body) = env.get(&graph, path).await;
        assert_eq!(status, 200);
        assert!(body["@odata.count"].as_u64().unwrap() > 0);
    }
    let response = env
        .http
        .get(env.url("/api/alerts/$count"))
        .bearer_auth(&mde)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().parse::<u64>().unwrap() > 0);
}

// ---- helpers for the exporter's tests ----

async fn graph_all(env: &Env, token: &str, path: &str) -> Vec<Value> {
    let mut url = env.url(path);
    let mut out = Vec::new();
    loop {
        let (status, body) = env.get_absolute(token, &url).await;
        assert_eq!(status, 200, "{body}");
        out.extend(values(&body).iter().cloned());
        match body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return out,
        }
    }
}

#[tokio::test]
async fn current_versions_agree_with_what_the_lists_return() {
    let mut config = SandboxConfig::default();
    config.rate_limits.enabled = false;
    let env = Env::with(config).await;
    for round in 0..2 {
        // Tokens expire in simulated time: the second round, two hours later, needs new ones.
        let (mde, xdr, graph) = tokens(&env).await;
        let (_, alerts) = env.get(&mde, "/api/alerts?$top=10000").await;
        let mut incidents = Vec::new();
        loop {
            let (_, page) = env
                .get(
                    &xdr,
                    &format!("/api/incidents?$top=100&$skip={}", incidents.len()),
                )
                .await;
            if values(&page).is_empty() {
                break;
            }
            incidents.extend(values(&page).iter().cloned());
        }
        let lists: [(Vec<Value>, &str, &str); 4] = [
            (values(&alerts).clone(), "id", "lastUpdateTime"),
            (incidents, "incidentId", "lastUpdateTime"),
            (
                graph_all(&env, &graph, "/v1.0/security/incidents").await,
                "id",
                "lastUpdateDateTime",
            ),
            (
                graph_all(&env, &graph, "/v1.0/security/alerts_v2").await,
                "id",
                "lastUpdateDateTime",
            ),
        ];
        for (dataset, (records, id, updated)) in DATASETS.iter().zip(lists) {
            let mut listed: Vec<(String, String)> = strings(&records, id)
                .into_iter()
                .zip(strings(&records, updated))
                .collect();
            let mut current = env.sandbox.current_versions(DEMO_TENANT_FULL, dataset);
            assert!(!current.is_empty());
            listed.sort();
            current.sort();
            assert_eq!(listed, current, "round {round}: {dataset}");
        }
        // Time passes, alerts change and new ones appear; a mutation adds more.
        env.sandbox.advance(std::time::Duration::from_secs(2 * 3600));
        env.sandbox.mutate(DEMO_TENANT_FULL, 2, 1).unwrap();
    }
    assert!(
        env.sandbox
            .current_versions("0b5f1f0e-1111-4222-8333-944445555666", "mde_alerts")
            .is_empty()
    );
    let sim = env.sandbox.now();
    assert!(close(
        sim,
        OffsetDateTime::now_utc() + Duration::hours(4),
        Duration::seconds(3)
    ));
}

// ---- settings ----

#[tokio::test]
async fn adversarial_settings_are_validated_and_shown_in_the_config() {
    let config: SandboxConfig = serde_json::from_value(json!({
        "adversarial": {"list_order": "lastupdate_desc", "visibility_lag_seconds": 30, "clock_skew_seconds": -5,
                        "graph_omit_next_link_with_top": true, "graph_max_skip": 500,
                        "mutate": {"after_list_calls": 3, "update_returned": 1, "update_unreturned": 1, "create": 1, "repeat_every": 10}}
    }))
    .unwrap();
    assert_eq!(config.adversarial.list_order, ListOrder::LastupdateDesc);
    assert_eq!(
        SandboxConfig::default().adversarial,
        AdversarialSettings::default()
    );
    // Adversarial by default: an order nothing documents, and Graph's reported paging ceilings.
    let defaults = AdversarialSettings::default();
    assert_eq!(defaults.list_order, ListOrder::LastupdateAsc);
    assert!(defaults.graph_omit_next_link_with_top);
    assert_eq!(defaults.graph_max_skip, Some(500));
    assert_eq!(defaults.mutate, None);
    assert!(
        serde_json::from_value::<SandboxConfig>(json!({"adversarial": {"list_order": "random"}})).is_err()
    );
    assert!(serde_json::from_value::<SandboxConfig>(json!({"adversarial": {"lag": 1}})).is_err());

    let mut bad = SandboxConfig::default();
    bad.adversarial.mutate = Some(MutateSettings {
        after_list_calls: 0,
        update_returned: 1,
        update_unreturned: 0,
        create: 0,
        repeat_every: None,
    });
    assert!(mde_sandbox::Sandbox::start(bad).await.is_err());

    let env = Env::with(config).await;
    let (_, shown) = split(env.http.get(env.url("/_sandbox/config")).send().await.unwrap()).await;
    assert_eq!(shown["config"]["adversarial"]["list_order"], "lastupdate_desc");
    let (status, _) = env
        .admin("/_sandbox/adversarial", json!({"list_order": "unstable"}))
        .await;
    assert_eq!(status, 200);
    let (_, shown) = split(env.http.get(env.url("/_sandbox/config")).send().await.unwrap()).await;
    assert_eq!(shown["config"]["adversarial"]["list_order"], "unstable");
    assert_eq!(
        shown["config"]["adversarial"]["visibility_lag_seconds"], 0,
        "the section is replaced"
    );
    let (_, current) = split(
        env.http
            .get(env.url("/_sandbox/adversarial"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(current["list_order"], "unstable");
    for bad in [
        json!({"list_order": "sideways"}),
        json!({"mutate": {"after_list_calls": 0}}),
        json!({"mutate": {"after_list_calls": 1, "repeat_every": 0}}),
        json!({"unknown": true}),
    ] {
        let (status, body) = env.admin("/_sandbox/adversarial", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(
        env.sandbox.adversarial().list_order,
        ListOrder::Unstable,
        "a refused body changes nothing"
    );
}

// ---- large tenants ----

/// A 2,000-alert page (with evidence) of a 1,000,000-alert tenant in every order, and a lastUpdate window. Seeding
/// takes ~10 s and ~4 GB: run with `cargo nextest run --release -p mde-sandbox --run-ignored only` (the limit is
/// about 0.5 s optimised, looser in a debug build).
#[tokio::test]
#[ignore = "seeds 1,000,000 alerts (~4 GB)"]
async fn large_tenant_pages_stay_fast_in_every_order() {
    let mut config = quiet();
    config.data.alerts_per_tenant = 1_000_000;
    config.tenants.truncate(1);
    let env = Env::with(config).await;
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let xdr = env.token(DEMO_TENANT_FULL, M365D).await;
    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let week_ago = time::OffsetDateTime::now_utc() - Duration::days(7);
    let week = mde_sandbox_format(week_ago);
    // About 0.5 s optimised (what the README promises); unoptimised builds are several times slower.
    let limit = if cfg!(debug_assertions) {
        std::time::Duration::from_secs(6)
    } else {
        std::time::Duration::from_millis(600)
    };
    for order in [
        ListOrder::Documented,
        ListOrder::CreatedDesc,
        ListOrder::LastupdateAsc,
        ListOrder::LastupdateDesc,
        ListOrder::Unstable,
    ] {
        env.sandbox.set_adversarial(adversarial(order)).unwrap();
        for (token, path) in [
            (&mde, "/api/alerts?$top=2000&$expand=evidence".to_owned()),
            (&mde, "/api/alerts?$top=2000&$skip=500000".to_owned()),
            (
                &mde,
                format!("/api/alerts?$top=2000&$filter=lastUpdateTime+ge+{week}"),
            ),
            (&xdr, "/api/incidents?$top=100".to_owned()),
            (&graph, "/v1.0/security/alerts_v2?$top=50".to_owned()),
        ] {
            let started = std::time::Instant::now();
            let (status, body) = env.get(token, &path).await;
            let took = started.elapsed();
            assert_eq!(status, 200, "{body}");
            eprintln!("{order:?} {path}: {} records in {took:?}", values(&body).len());
            assert!(took < limit, "{order:?} {path}: {took:?} (limit {limit:?})");
        }
    }
}

fn mde_sandbox_format(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}
