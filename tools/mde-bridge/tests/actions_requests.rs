//! The requests that are not device actions, end to end: alert and incident updates on each API (documented values
//! only), hunting queries with their results stored, external alert correlation, and indicators through
//! indicator-push's core.

mod actions;

use std::time::Duration;

use actions::*;
use futures::TryStreamExt;
use mde_contracts::TenantId;
use mde_defender::api::Query;
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

fn tenant() -> TenantId {
    FULL.parse().expect("tenant")
}

async fn mde_alert_ids(w: &World, n: usize) -> Vec<String> {
    let t = tenant();
    let pages: Vec<_> = w
        .client
        .mde_alerts(&t, &Query::new())
        .try_collect()
        .await
        .expect("alerts");
    pages
        .into_iter()
        .flat_map(|p| p.items)
        .filter_map(|r| r.id().map(str::to_owned))
        .take(n)
        .collect()
}

async fn record_json(w: &World, path: &str) -> Value {
    // Reads through the client's own get operations, so the casing each API answers with is what is checked.
    let t = tenant();
    let record = match path.split_once(':') {
        Some(("mde", id)) => w.client.mde_alert(&t, id).await,
        Some(("m365d", id)) => w.client.m365d_incident(&t, id.parse().expect("number")).await,
        Some(("graph-incident", id)) => w.client.graph_incident(&t, id).await,
        Some(("graph-alert", id)) => w.client.graph_alert(&t, id).await,
        _ => panic!("{path}"),
    }
    .expect("record");
    serde_json::from_str(record.raw().get()).expect("json")
}

#[tokio::test]
async fn alert_and_incident_updates_reach_each_api_in_its_own_casing() {
    let w = World::start().await;
    let ids = mde_alert_ids(&w, 3).await;

    let id = w
        .send(&json!({"type": "alert_update.v1", "data": {"tenant_id": FULL, "id": ids[0], "status": "resolved", "classification": "true_positive", "determination": "malware", "comment": "contained by SOAR"}}))
        .await;
    assert_eq!(
        w.until_completed(&id, MINUTE).await["outcome"]["code"],
        "succeeded"
    );
    let alert = record_json(&w, &format!("mde:{}", ids[0])).await;
    assert_eq!(
        (
            alert["status"].as_str(),
            alert["classification"].as_str(),
            alert["determination"].as_str()
        ),
        (Some("Resolved"), Some("TruePositive"), Some("Malware")),
        "{alert}"
    );

    let id = w
        .send(&json!({"type": "alert_update.v1", "data": {"tenant_id": FULL, "id": ids[1], "more_ids": [ids[2]], "status": "in_progress", "assigned_to": "analyst@contoso.com"}}))
        .await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "succeeded", "{done}");
    assert_eq!(
        w.calls_to("POST", "/alerts/batchUpdate"),
        [200],
        "one batch call for two alerts"
    );
    for alert_id in &ids[1..3] {
        let alert = record_json(&w, &format!("mde:{alert_id}")).await;
        assert_eq!(alert["status"], "InProgress");
        assert_eq!(alert["assignedTo"], "analyst@contoso.com");
    }

    let t = tenant();
    let incident: Value = {
        let pages: Vec<_> = w
            .client
            .m365d_incidents(&t, &Query::new())
            .try_collect()
            .await
            .expect("incidents");
        let first = pages
            .into_iter()
            .flat_map(|p| p.items)
            .next()
            .expect("an incident");
        serde_json::from_str(first.raw().get()).expect("json")
    };
    let incident_id = incident["incidentId"].as_u64().expect("numeric id").to_string();
    let id = w
        .send(&json!({"type": "incident_update.v1", "data": {"tenant_id": FULL, "id": incident_id, "status": "in_progress", "tags": ["soar", "ransomware"], "comment": "triaged"}}))
        .await;
    assert_eq!(
        w.until_completed(&id, MINUTE).await["outcome"]["code"],
        "succeeded"
    );
    let updated = record_json(&w, &format!("m365d:{incident_id}")).await;
    assert_eq!(updated["status"], "InProgress");
    assert_eq!(updated["tags"], json!(["soar", "ransomware"]));

    let id = w
        .send(&json!({"type": "incident_update.v1", "data": {"tenant_id": FULL, "id": incident_id, "api": "graph", "status": "resolved", "classification": "false_positive", "determination": "clean", "comment": "benign admin tool"}}))
        .await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "succeeded", "{done}");
    let graph = record_json(&w, &format!("graph-incident:{incident_id}")).await;
    assert_eq!(
        (
            graph["status"].as_str(),
            graph["classification"].as_str(),
            graph["determination"].as_str()
        ),
        (Some("resolved"), Some("falsePositive"), Some("clean")),
        "{graph}"
    );
    assert!(w.calls_to("POST", "/comments").contains(&201) || w.calls_to("POST", "/comments").contains(&200));

    let id = w
        .send(&json!({"type": "alert_update.v1", "data": {"tenant_id": FULL, "id": ids[0], "api": "graph", "status": "in_progress"}}))
        .await;
    assert_eq!(
        w.until_completed(&id, MINUTE).await["outcome"]["code"],
        "succeeded"
    );
    let graph = record_json(&w, &format!("graph-alert:{}", ids[0])).await;
    assert_eq!(graph["status"], "inProgress");
}

#[tokio::test]
async fn values_microsoft_no_longer_accepts_are_refused_or_end_the_request_with_the_reason() {
    let w = World::start().await;
    let ids = mde_alert_ids(&w, 1).await;
    // Retired in August 2022: refused at the door, nothing queued.
    let (status, body) = w
        .send_raw(&json!({"type": "alert_update.v1", "data": {"tenant_id": FULL, "id": ids[0], "determination": "apt"}}))
        .await;
    assert_eq!(status, 422);
    assert!(body.to_string().contains("retired"), "{body}");
    // Graph's incident update has no in_progress: the request ends invalid_value, no call is made.
    let id = w
        .send(&json!({"type": "incident_update.v1", "data": {"tenant_id": FULL, "id": "1", "api": "graph", "status": "in_progress"}}))
        .await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "invalid_value", "{done}");
    assert!(w.calls_to("PATCH", "/v1.0/security/incidents").is_empty());
    // An alert that does not exist.
    let id = w
        .send(&json!({"type": "alert_update.v1", "data": {"tenant_id": FULL, "id": "da000000000000000000_0000000000", "status": "resolved"}}))
        .await;
    assert_eq!(
        w.until_completed(&id, MINUTE).await["outcome"]["code"],
        "not_found"
    );
}

#[tokio::test]
async fn hunting_results_are_stored_for_the_partner_from_each_api() {
    let w = World::start().await;
    for api in ["graph", "m365d", "mde"] {
        let id = w
            .send(&json!({"type": "hunting_query.v1", "data": {"tenant_id": FULL, "query": "DeviceInfo | take 3", "api": api}}))
            .await;
        let done = w.until_completed(&id, MINUTE).await;
        assert_eq!(done["outcome"]["code"], "succeeded", "{api}: {done}");
        let key = done["outcome"]["result"]["key"].as_str().expect("key");
        assert_eq!(key, format!("hunting/{FULL}/{id}.json"));
        let stored = w.store.get(key).await.expect("read").expect("stored");
        let result: Value = serde_json::from_slice(&stored.body).expect("json");
        assert_eq!(result["row_count"], 3, "{api}");
        assert_eq!(result["results"].as_array().map(Vec::len), Some(3));
        assert_eq!(result["query"], "DeviceInfo | take 3");
    }
    // A query Kusto cannot run ends invalid_value with Microsoft's message.
    let id = w
        .send(&json!({"type": "hunting_query.v1", "data": {"tenant_id": FULL, "query": "NoSuchTable | take 1"}}))
        .await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "invalid_value", "{done}");
}

#[tokio::test]
async fn a_partner_alert_is_recorded_on_the_devices_open_alert_or_created_from_an_event() {
    let w = World::start().await;
    let t = tenant();
    // A device with an open alert.
    let pages: Vec<_> = w
        .client
        .mde_alerts(&t, &Query::new())
        .try_collect()
        .await
        .expect("alerts");
    let open: Value = pages
        .into_iter()
        .flat_map(|p| p.items)
        .map(|r| serde_json::from_str::<Value>(r.raw().get()).expect("json"))
        .find(|a| a["status"] == "New" || a["status"] == "InProgress")
        .expect("an open alert");
    let machine = open["machineId"].as_str().expect("machine").to_owned();
    let partner_alert = |device: Value, reference: Option<Value>| {
        let mut data = json!({"tenant_id": FULL, "device": device, "alert": {"id": "ndr-4711", "title": "C2 beacon to 203.0.113.9", "severity": "high", "time": "2026-12-06T02:00:00Z"}});
        if let Some(r) = reference {
            data["reference"] = r;
        }
        json!({"type": "external_alert.v1", "data": data})
    };
    let id = w.send(&partner_alert(json!({"machine_id": machine}), None)).await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "succeeded", "{done}");
    let alert_id = done["outcome"]["result"]["alert_id"]
        .as_str()
        .expect("alert")
        .to_owned();
    let alert = record_json(&w, &format!("mde:{alert_id}")).await;
    assert!(
        alert.to_string().contains("ndr-4711"),
        "the comment names the partner's alert: {alert}"
    );

    // From an event found by hunting: CreateAlertByReference.
    let hunt = w
        .client
        .run_mde_query(
            &t,
            &format!("DeviceProcessEvents | where DeviceId == \"{machine}\" | take 1"),
        )
        .await
        .expect("hunt");
    let event = hunt.results.first().expect("an event");
    let reference = json!({"report_id": event["ReportId"].to_string().trim_matches('"'), "event_time": event["Timestamp"], "category": "CommandAndControl"});
    let id = w
        .send(&partner_alert(json!({"machine_id": machine}), Some(reference)))
        .await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "succeeded", "{done}");
    assert_eq!(w.calls_to("POST", "/alerts/CreateAlertByReference"), [200]);

    // A device whose alerts are all resolved: said so, nothing written.
    let quiet = w
        .machines(FULL)
        .await
        .into_iter()
        .map(|m| m.id)
        .find(|m| *m != machine)
        .expect("another device");
    for alert in w.client.machine_alerts(&t, &quiet).await.expect("alerts") {
        let resolve = mde_defender::api::MdeAlertUpdate {
            status: Some("Resolved".into()),
            ..Default::default()
        };
        let alert_id = alert["id"].as_str().expect("id");
        w.client
            .update_mde_alert(&t, alert_id, &resolve)
            .await
            .expect("resolve");
    }
    let patches_before = w.calls_to("PATCH", "/api/alerts/").len();
    let id = w.send(&partner_alert(json!({"machine_id": quiet}), None)).await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "no_open_alert", "{done}");
    assert!(
        done["outcome"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&quiet))
    );
    assert_eq!(
        w.calls_to("PATCH", "/api/alerts/").len(),
        patches_before,
        "nothing written"
    );
}

#[tokio::test]
async fn indicators_are_added_and_removed_through_indicator_pushs_core() {
    let w = World::start().await;
    let add = json!({"type": "indicator.v1", "data": {"op": "add", "tenant_id": FULL, "indicator": {
        "indicatorValue": "evil.example.net", "indicatorType": "DomainName", "action": "Block",
        "title": "NDR: C2 domain", "description": "seen beaconing", "severity": "High"}}});
    let id = w.send(&add).await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "succeeded", "{done}");
    assert!(
        w.sandbox
            .indicators(FULL)
            .iter()
            .any(|i| i["indicatorValue"] == "evil.example.net")
    );

    let bad = json!({"type": "indicator.v1", "data": {"op": "add", "tenant_id": FULL, "indicator": {
        "indicatorValue": "10.0.0.1", "indicatorType": "IpAddress", "action": "Block",
        "title": "private", "description": "a private address"}}});
    let id = w.send(&bad).await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "rejected", "{done}");

    let remove = json!({"type": "indicator.v1", "data": {"op": "remove", "tenant_id": FULL, "indicator": {
        "indicatorType": "DomainName", "indicatorValue": "evil.example.net"}}});
    let id = w.send(&remove).await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "succeeded", "{done}");
    assert!(
        !w.sandbox
            .indicators(FULL)
            .iter()
            .any(|i| i["indicatorValue"] == "evil.example.net")
    );
}

#[tokio::test]
async fn microsofts_hunting_limits_are_clear_outcomes_and_a_cpu_quota_429_is_retried() {
    let w = World::start().await;
    w.sandbox
        .set_hunting_settings(mde_sandbox::HuntingSettings {
            max_rows: 2,
            slow_query_marker: Some("slow-query".into()),
            ..w.sandbox.hunting_settings()
        })
        .expect("hunting settings");
    let hunt = |query: &str| json!({"type": "hunting_query.v1", "data": {"tenant_id": FULL, "query": query}});
    for query in [
        "DeviceInfo | take 3",
        "DeviceInfo | where DeviceName contains \"slow-query\"",
    ] {
        let id = w.send(&hunt(query)).await;
        let done = w.until_completed(&id, MINUTE).await;
        assert_eq!(done["outcome"]["code"], "limit_exceeded", "{query}: {done}");
        assert!(
            done["outcome"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("exceeded")),
            "{done}"
        );
    }

    // The tenant's CPU quota is spent: the request waits for the next cycle through its queue, not in a Lambda.
    w.sandbox.exhaust_hunting_cpu_quota(FULL).expect("quota");
    let id = w.send(&hunt("DeviceInfo | take 1")).await;
    let (requests, _) = w.run_once().await;
    assert_eq!(requests.retried, 1);
    let waiting = w.status(&id).await;
    assert_eq!(waiting["status"], "running", "{waiting}");
    assert!(
        waiting["audit"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("429")),
        "{waiting}"
    );
    assert_eq!(waiting["audit"]["calls"][0]["status"], 429);
}
