//! Microsoft 365 Defender incidents and Graph security: lists, paging, evolvable enums, updates, comments, hunting,
//! and agreement with the MDE view.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{Env, GRAPH, M365D, MDE, code, values};
use mde_sandbox::DEMO_TENANT_FULL;
use serde_json::{Value, json};

fn ids(list: &[Value], key: &str) -> BTreeSet<String> {
    list.iter()
        .map(|v| v[key].to_string().trim_matches('"').to_owned())
        .collect()
}

#[tokio::test]
async fn m365d_incidents_carry_the_same_alerts_as_mde() {
    let env = Env::demo().await;
    let xdr = env.token(DEMO_TENANT_FULL, M365D).await;
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let mut incident_alerts = BTreeSet::new();
    let mut skip = 0;
    loop {
        let (status, body) = env
            .get(&xdr, &format!("/api/incidents?$top=100&$skip={skip}"))
            .await;
        assert_eq!(status, 200, "{body}");
        let page = values(&body).clone();
        if page.is_empty() {
            break;
        }
        assert!(
            page.windows(2)
                .all(|w| w[0]["createdTime"].as_str() >= w[1]["createdTime"].as_str()),
            "newest first"
        );
        for incident in &page {
            for alert in incident["alerts"].as_array().unwrap() {
                assert_eq!(alert["incidentId"], incident["incidentId"]);
                assert_eq!(alert["devices"].as_array().unwrap().len(), 1);
                incident_alerts.insert(alert["alertId"].as_str().unwrap().to_owned());
            }
        }
        skip += page.len();
    }
    let (_, mde_alerts) = env.get(&mde, "/api/alerts").await;
    assert_eq!(incident_alerts, ids(values(&mde_alerts), "id"));
}

#[tokio::test]
async fn m365d_incidents_top_is_capped_at_100_and_filters_work() {
    let env = Env::demo().await;
    let xdr = env.token(DEMO_TENANT_FULL, M365D).await;
    let (status, body) = env.get(&xdr, "/api/incidents?$top=101").await;
    assert_eq!((status, code(&body)), (400, "ODataError"));
    let (status, body) = env.get(&xdr, "/api/incidents?$filter=severity+eq+'High'").await;
    assert_eq!(
        (status, code(&body)),
        (400, "ODataError"),
        "severity is not filterable on incidents"
    );
    let (_, all) = env.get(&xdr, "/api/incidents").await;
    let all = values(&all).clone();
    let (_, active) = env.get(&xdr, "/api/incidents?$filter=status+eq+'Active'").await;
    assert_eq!(
        values(&active).len(),
        all.iter().filter(|i| i["status"] == "Active").count()
    );
    let pivot = all[3]["lastUpdateTime"].as_str().unwrap();
    let (_, recent) = env
        .get(&xdr, &format!("/api/incidents?$filter=lastUpdateTime+gt+{pivot}"))
        .await;
    assert_eq!(
        values(&recent).len(),
        all.iter()
            .filter(|i| i["lastUpdateTime"].as_str().unwrap() > pivot)
            .count()
    );
}

#[tokio::test]
async fn m365d_incident_get_and_patch() {
    let env = Env::demo().await;
    let xdr = env.token(DEMO_TENANT_FULL, M365D).await;
    let (_, list) = env.get(&xdr, "/api/incidents?$top=1").await;
    let id = values(&list)[0]["incidentId"].as_u64().unwrap();
    let (status, incident) = env.get(&xdr, &format!("/api/incidents/{id}")).await;
    assert_eq!((status, incident["incidentId"].as_u64()), (200, Some(id)));
    let (status, updated) = env
        .patch(&xdr, &format!("/api/incidents/{id}"), json!({"status": "Resolved", "classification": "TruePositive", "tags": ["Partner"], "comment": "closed"}))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["status"], "Resolved");
    assert_eq!(updated["tags"], json!(["Partner"]));
    assert_eq!(
        updated["comments"].as_array().unwrap().last().unwrap()["comment"],
        "closed"
    );
    let (status, body) = env
        .patch(
            &xdr,
            &format!("/api/incidents/{id}"),
            json!({"Status": "Resolved"}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidRequestBody"));
    let (status, _) = env.get(&xdr, "/api/incidents/1").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn m365d_advanced_hunting_returns_stats_schema_and_results() {
    let env = Env::demo().await;
    let xdr = env.token(DEMO_TENANT_FULL, M365D).await;
    let (status, body) = env
        .post(
            &xdr,
            "/api/advancedhunting/run",
            json!({"Query": "AlertInfo | take 5"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["Stats"].is_object());
    assert_eq!(body["Results"].as_array().unwrap().len(), 5);
    let (_, count) = env
        .post(
            &xdr,
            "/api/advancedhunting/run",
            json!({"Query": "AlertEvidence | count"}),
        )
        .await;
    assert!(count["Results"][0]["Count"].as_u64().unwrap() > 0);
}

async fn follow_graph(env: &Env, token: &str, first: &str, prefer: bool) -> Vec<Value> {
    let mut url = env.url(first);
    let mut out = Vec::new();
    loop {
        let mut request = env.http.get(&url).bearer_auth(token);
        if prefer {
            request = request.header("Prefer", "include-unknown-enum-members");
        }
        let (status, body) = common::split(request.send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        out.extend(values(&body).iter().cloned());
        match body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return out,
        }
    }
}

#[tokio::test]
async fn graph_incidents_page_by_next_link_and_expand_alerts() {
    let env = Env::demo().await;
    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let all = follow_graph(
        &env,
        &graph,
        "/v1.0/security/incidents?$top=10&$expand=alerts",
        false,
    )
    .await;
    let xdr = env.token(DEMO_TENANT_FULL, M365D).await;
    let (_, m365d) = env.get(&xdr, "/api/incidents?$top=100").await;
    assert_eq!(ids(&all, "id"), ids(values(&m365d), "incidentId"));
    assert!(
        all.iter()
            .all(|i| i["alerts"].as_array().is_some_and(|a| !a.is_empty()))
    );
    let (_, page) = env
        .get(&graph, "/v1.0/security/incidents?$top=5&$count=true")
        .await;
    assert_eq!(values(&page).len(), 5);
    assert_eq!(page["@odata.count"].as_u64().unwrap() as usize, all.len());
    assert!(
        page["@odata.nextLink"]
            .as_str()
            .unwrap()
            .starts_with(&env.sandbox.base_url())
    );
    let (_, no_alerts) = env.get(&graph, "/v1.0/security/incidents?$top=1").await;
    assert!(values(&no_alerts)[0].get("alerts").is_none());
}

#[tokio::test]
async fn graph_evolvable_enums_need_the_prefer_header() {
    let env = Env::demo().await;
    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let plain = follow_graph(&env, &graph, "/v1.0/security/incidents", false).await;
    let preferred = follow_graph(&env, &graph, "/v1.0/security/incidents", true).await;
    assert!(plain.iter().any(|i| i["status"] == "unknownFutureValue"));
    assert!(plain.iter().all(|i| i["status"] != "awaitingAction"));
    assert!(preferred.iter().any(|i| i["status"] == "awaitingAction"));
    assert!(preferred.iter().all(|i| i["status"] != "unknownFutureValue"));
}

#[tokio::test]
async fn graph_alerts_v2_filter_get_and_agree_with_mde() {
    let env = Env::demo().await;
    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let all = follow_graph(&env, &graph, "/v1.0/security/alerts_v2", false).await;
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, mde_alerts) = env.get(&mde, "/api/alerts").await;
    assert_eq!(ids(&all, "id"), ids(values(&mde_alerts), "id"));
    let high = follow_graph(
        &env,
        &graph,
        "/v1.0/security/alerts_v2?$filter=severity+eq+'high'+and+status+ne+'resolved'",
        false,
    )
    .await;
    assert_eq!(
        high.len(),
        all.iter()
            .filter(|a| a["severity"] == "high" && a["status"] != "resolved")
            .count()
    );
    let id = all[0]["id"].as_str().unwrap();
    let (status, alert) = env.get(&graph, &format!("/v1.0/security/alerts_v2/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        alert["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["@odata.type"] == "#microsoft.graph.security.deviceEvidence")
    );
    let (status, body) = env
        .get(&graph, "/v1.0/security/alerts_v2?$filter=title+eq+'x'")
        .await;
    assert_eq!((status, code(&body)), (400, "badRequest"));
    assert!(body["error"]["innerError"]["request-id"].is_string());
    let (status, body) = env.get(&graph, "/v1.0/security/alerts_v2/nope").await;
    assert_eq!((status, code(&body)), (404, "itemNotFound"));
}

#[tokio::test]
async fn graph_updates_and_comments_show_up_everywhere() {
    let env = Env::demo().await;
    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let (_, list) = env.get(&graph, "/v1.0/security/alerts_v2?$top=1").await;
    let alert_id = values(&list)[0]["id"].as_str().unwrap().to_owned();
    let incident_id = values(&list)[0]["incidentId"].as_str().unwrap().to_owned();
    let (status, updated) = env
        .patch(
            &graph,
            &format!("/v1.0/security/alerts_v2/{alert_id}"),
            json!({"status": "resolved", "classification": "truePositive", "determination": "malware"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["status"], "resolved");
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, mde_alert) = env.get(&mde, &format!("/api/alerts/{alert_id}")).await;
    assert_eq!(mde_alert["status"], "Resolved");
    assert_eq!(mde_alert["classification"], "TruePositive");

    let (status, comments) = env
        .post(
            &graph,
            &format!("/v1.0/security/alerts_v2/{alert_id}/comments"),
            json!({"@odata.type": "microsoft.graph.security.alertComment", "comment": "seen"}),
        )
        .await;
    assert_eq!(status, 200, "{comments}");
    assert_eq!(values(&comments).last().unwrap()["comment"], "seen");

    let (status, incident) = env
        .patch(
            &graph,
            &format!("/v1.0/security/incidents/{incident_id}"),
            json!({"status": "resolved", "assignedTo": "analyst@contoso.example", "customTags": ["x"]}),
        )
        .await;
    assert_eq!(status, 200, "{incident}");
    assert_eq!(incident["status"], "resolved");
    let (status, comments) = env
        .post(
            &graph,
            &format!("/v1.0/security/incidents/{incident_id}/comments"),
            json!({"comment": "working"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(values(&comments).last().unwrap()["comment"], "working");
    let xdr = env.token(DEMO_TENANT_FULL, M365D).await;
    let (_, m365d) = env.get(&xdr, &format!("/api/incidents/{incident_id}")).await;
    assert_eq!(m365d["status"], "Resolved");
    assert_eq!(m365d["assignedTo"], "analyst@contoso.example");
    let (status, body) = env
        .patch(
            &graph,
            &format!("/v1.0/security/incidents/{incident_id}"),
            json!({"status": "sleeping"}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "badRequest"));
}

#[tokio::test]
async fn graph_run_hunting_query_uses_camel_case_schema() {
    let env = Env::demo().await;
    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let (status, body) = env
        .post(
            &graph,
            "/v1.0/security/runHuntingQuery",
            json!({"Query": "DeviceInfo | take 2", "Timespan": "P30D"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["schema"][0]["name"], "Timestamp");
    assert_eq!(body["results"].as_array().unwrap().len(), 2);
    let (status, body) = env
        .post(
            &graph,
            "/v1.0/security/runHuntingQuery",
            json!({"Timespan": "P30D"}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalidRequest"));
}

#[tokio::test]
async fn advancing_time_moves_last_update_times() {
    let env = Env::demo().await;
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, before) = env.get(&mde, "/api/alerts").await;
    let newest_before = values(&before)
        .iter()
        .map(|a| a["lastUpdateTime"].as_str().unwrap().to_owned())
        .max()
        .unwrap();
    let (status, _) = env.admin("/_sandbox/advance", json!({"seconds": 7200})).await;
    assert_eq!(status, 200);
    // Tokens live in simulated time: two hours on, the old one has expired.
    let (status, body) = env.get(&mde, "/api/alerts").await;
    assert_eq!((status, code(&body)), (401, "Unauthorized"), "{body}");
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, changed) = env
        .get(
            &mde,
            &format!("/api/alerts?$filter=lastUpdateTime+gt+{newest_before}"),
        )
        .await;
    assert!(
        values(&changed).len() >= 2,
        "updates and new alerts appear after the old high-water mark"
    );
    let (_, after) = env.get(&mde, "/api/alerts").await;
    assert!(
        values(&after).len() > values(&before).len(),
        "new alerts were created"
    );
}
