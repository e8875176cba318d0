//! MDE read endpoints: alerts and machines with OData.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, MDE, code, values};
use mde_sandbox::{DEMO_TENANT_FULL, DEMO_TENANT_PARTIAL};
use serde_json::Value;

fn time_of(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn alerts_list_returns_the_seeded_alerts_newest_first_without_evidence() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (status, body) = env.get(&token, "/api/alerts").await;
    assert_eq!(status, 200);
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/api/$metadata#Alerts")
    );
    let alerts = values(&body);
    assert_eq!(alerts.len(), 60);
    assert!(
        alerts
            .windows(2)
            .all(|w| time_of(&w[0], "alertCreationTime") >= time_of(&w[1], "alertCreationTime"))
    );
    assert!(
        alerts
            .iter()
            .all(|a| a["evidence"].as_array().unwrap().is_empty())
    );
    assert!(alerts.iter().all(|a| a["aadTenantId"] == DEMO_TENANT_FULL));
}

#[tokio::test]
async fn alerts_expand_evidence_and_versioned_path_work() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (status, body) = env.get(&token, "/api/v1.0/alerts?$top=3&$expand=evidence").await;
    assert_eq!(status, 200);
    let alerts = values(&body);
    assert_eq!(alerts.len(), 3);
    for alert in alerts {
        let evidence = alert["evidence"].as_array().unwrap();
        assert!(
            evidence
                .iter()
                .any(|e| e["entityType"] == "File" && e["sha1"].is_string())
        );
    }
}

#[tokio::test]
async fn alerts_filter_on_datetime_status_and_severity_with_and() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, all) = env.get(&token, "/api/alerts").await;
    let all = values(&all).clone();
    let pivot = time_of(&all[all.len() / 2], "lastUpdateTime");
    let (status, body) = env
        .get(&token, &format!("/api/alerts?$filter=lastUpdateTime+ge+{pivot}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let expected = all
        .iter()
        .filter(|a| time_of(a, "lastUpdateTime") >= pivot)
        .count();
    assert_eq!(values(&body).len(), expected);

    let (_, body) = env
        .get(
            &token,
            "/api/alerts?$filter=status+eq+'New'+and+(severity+eq+'High')",
        )
        .await;
    let expected = all
        .iter()
        .filter(|a| a["status"] == "New" && a["severity"] == "High")
        .count();
    assert_eq!(values(&body).len(), expected);
    assert!(expected > 0);

    let (_, body) = env
        .get(
            &token,
            "/api/alerts?$filter=status+ne+'Resolved'+and+alertCreationTime+lt+2100-01-01Z",
        )
        .await;
    assert_eq!(
        values(&body).len(),
        all.iter().filter(|a| a["status"] != "Resolved").count()
    );
    let (_, body) = env
        .get(
            &token,
            "/api/alerts?$filter=alertCreationTime+gt+2100-01-01T00:00:00Z",
        )
        .await;
    assert!(values(&body).is_empty());
}

#[tokio::test]
async fn malformed_odata_and_unknown_properties_are_odata_errors() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    for query in [
        "$filter=status+eq",
        "$filter=status+eq+'New",
        "$filter=nosuchprop+eq+'x'",
        "$filter=lastUpdateTime+ge+'2024-01-01'",
        "$filter=(status+eq+'New'",
        "$top=abc",
        "$top=10001",
        "$expand=machine",
        "$frobnicate=1",
    ] {
        let (status, body) = env.get(&token, &format!("/api/alerts?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(code(&body), "ODataError", "{query}");
        assert!(body["error"]["target"].is_string());
    }
    let (status, _) = env.get(&token, "/api/alerts?$top=10000").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn alerts_top_and_skip_page_through_every_alert_once() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let mut seen = Vec::new();
    let mut skip = 0;
    loop {
        let (_, body) = env.get(&token, &format!("/api/alerts?$top=7&$skip={skip}")).await;
        let page = values(&body);
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|a| a["id"].as_str().unwrap().to_owned()));
        skip += page.len();
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (60, 60));
}

#[tokio::test]
async fn alert_get_by_id_and_unknown_id_is_404() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, list) = env.get(&token, "/api/alerts?$top=1").await;
    let id = values(&list)[0]["id"].as_str().unwrap().to_owned();
    let (status, alert) = env
        .get(&token, &format!("/api/alerts/{id}?$expand=evidence"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(alert["id"], id.as_str());
    assert!(!alert["evidence"].as_array().unwrap().is_empty());
    let (status, body) = env.get(&token, "/api/alerts/da000_1").await;
    assert_eq!((status, code(&body)), (404, "ResourceNotFound"));
}

#[tokio::test]
async fn machines_list_get_by_id_and_name_filter_and_findbyip() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (status, body) = env.get(&token, "/api/machines").await;
    assert_eq!(status, 200);
    let machines = values(&body).clone();
    assert_eq!(machines.len(), 12);
    let m = &machines[0];
    let id = m["id"].as_str().unwrap();
    assert_eq!(id.len(), 40);
    let (status, by_id) = env.get(&token, &format!("/api/machines/{id}")).await;
    assert_eq!((status, by_id["id"].as_str()), (200, Some(id)));
    let name = m["computerDnsName"].as_str().unwrap();
    let (status, by_name) = env.get(&token, &format!("/api/machines/{name}")).await;
    assert_eq!((status, by_name["id"].as_str()), (200, Some(id)));

    let (_, linux) = env
        .get(&token, "/api/machines?$filter=osPlatform+eq+'Linux'")
        .await;
    assert!(values(&linux).iter().all(|m| m["osPlatform"] == "Linux"));
    assert!(!values(&linux).is_empty());
    let (_, tagged) = env
        .get(&token, "/api/machines?$filter=machineTags+eq+'Finance'")
        .await;
    assert!(!values(&tagged).is_empty());

    let ip = m["lastIpAddress"].as_str().unwrap();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, found) = env
        .get(
            &token,
            &format!("/api/machines/findbyip(ip='{ip}',timestamp={now})"),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(values(&found)[0]["id"].as_str(), Some(id));
    let (status, _) = env
        .get(
            &token,
            &format!("/api/machines/findbyip(ip='{ip}',timestamp=2020-01-01T00:00:00Z)"),
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = env
        .get(
            &token,
            "/api/machines/findbyip(ip='999.1.1.1',timestamp=2020-01-01T00:00:00Z)",
        )
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidIpAddress"));
    let (status, _) = env.get(&token, "/api/machines/nope").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn tenants_see_only_their_own_alerts_and_machines() {
    let env = Env::demo().await;
    let full = env.token(DEMO_TENANT_FULL, MDE).await;
    let partial = env.token(DEMO_TENANT_PARTIAL, MDE).await;
    let (_, a) = env.get(&full, "/api/alerts?$top=1").await;
    let id = values(&a)[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = env.get(&partial, &format!("/api/alerts/{id}")).await;
    assert_eq!(status, 404, "tenant B must not read tenant A's alert");
    let (_, b) = env.get(&partial, "/api/alerts").await;
    assert!(values(&b).iter().all(|x| x["aadTenantId"] == DEMO_TENANT_PARTIAL));
    let (_, m) = env.get(&full, "/api/machines?$top=1").await;
    let machine = values(&m)[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = env.get(&partial, &format!("/api/machines/{machine}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn same_seed_gives_the_same_world() {
    let a = Env::demo().await;
    let b = Env::demo().await;
    let ta = a.token(DEMO_TENANT_FULL, MDE).await;
    let tb = b.token(DEMO_TENANT_FULL, MDE).await;
    let ids = |body: &Value| {
        values(body)
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (_, x) = a.get(&ta, "/api/alerts").await;
    let (_, y) = b.get(&tb, "/api/alerts").await;
    assert_eq!(ids(&x), ids(&y));
}

#[tokio::test]
async fn count_segments_and_machine_alerts_answer_like_the_collection() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let response = env
        .http
        .get(env.url("/api/alerts/$count?$filter=status+ne+'Resolved'"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let open: usize = response.text().await.unwrap().parse().unwrap();
    let (_, all) = env.get(&token, "/api/alerts").await;
    assert_eq!(
        open,
        values(&all).iter().filter(|a| a["status"] != "Resolved").count()
    );
    let machine = values(&all)[0]["machineId"].as_str().unwrap().to_owned();
    let (status, list) = env.get(&token, &format!("/api/machines/{machine}/alerts")).await;
    assert_eq!(status, 200);
    assert!(values(&list).iter().all(|a| a["machineId"] == machine.as_str()));
    let response = env
        .http
        .get(env.url(&format!("/api/machines/{machine}/alerts/$count")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), values(&list).len().to_string());
    let (status, _) = env.get(&token, "/api/machines/nope/alerts").await;
    assert_eq!(status, 404);
}
