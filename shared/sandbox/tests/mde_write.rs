//! MDE write endpoints: alert updates, CreateAlertByReference, machine actions, indicators, advanced queries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, MDE, code, values};
use mde_sandbox::{DEMO_TENANT_FULL, DEMO_TENANT_PARTIAL, SandboxConfig};
use serde_json::{Value, json};

async fn first_alert_id(env: &Env, token: &str) -> String {
    let (_, list) = env
        .get(token, "/api/alerts?$filter=status+ne+'Resolved'&$top=1")
        .await;
    values(&list)[0]["id"].as_str().unwrap().to_owned()
}

async fn machine_id(env: &Env, token: &str, platform: &str) -> String {
    let (_, list) = env
        .get(
            token,
            &format!("/api/machines?$filter=osPlatform+eq+'{platform}'&$top=1"),
        )
        .await;
    values(&list)[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn alert_patch_updates_fields_moves_last_update_and_keeps_the_rest() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let id = first_alert_id(&env, &token).await;
    let (_, before) = env.get(&token, &format!("/api/alerts/{id}")).await;
    let (status, after) = env
        .patch(&token, &format!("/api/alerts/{id}"), json!({"status": "Resolved", "classification": "TruePositive", "determination": "Malware", "comment": "done"}))
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["status"], "Resolved");
    assert_eq!(after["classification"], "TruePositive");
    assert_eq!(after["title"], before["title"]);
    assert!(after["lastUpdateTime"].as_str().unwrap() > before["lastUpdateTime"].as_str().unwrap());
    assert_eq!(
        after["comments"].as_array().unwrap().last().unwrap()["comment"],
        "done"
    );
    let (status, body) = env
        .patch(
            &token,
            &format!("/api/alerts/{id}"),
            json!({"Status": "Resolved"}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidRequestBody"));
    let (status, body) = env
        .patch(&token, &format!("/api/alerts/{id}"), json!({"status": "Closed"}))
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidInput"));
    let (status, _) = env
        .patch(&token, "/api/alerts/da0_0", json!({"status": "Resolved"}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn alert_batch_update_changes_every_listed_alert() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, list) = env.get(&token, "/api/alerts?$top=3").await;
    let ids: Vec<Value> = values(&list).iter().map(|a| a["id"].clone()).collect();
    let (status, _) = env
        .post(
            &token,
            "/api/alerts/batchUpdate",
            json!({"alertIds": ids, "assignedTo": "secops@contoso.example"}),
        )
        .await;
    assert_eq!(status, 200);
    for id in &ids {
        let (_, alert) = env
            .get(&token, &format!("/api/alerts/{}", id.as_str().unwrap()))
            .await;
        assert_eq!(alert["assignedTo"], "secops@contoso.example");
    }
    let (status, body) = env
        .post(&token, "/api/alerts/batchUpdate", json!({"status": "Resolved"}))
        .await;
    assert_eq!((status, code(&body)), (400, "MissingRequiredParameter"));
}

#[tokio::test]
async fn create_alert_by_reference_uses_a_hunting_event_and_merges_repeats() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (status, hunt) = env
        .post(
            &token,
            "/api/advancedqueries/run",
            json!({"Query": "DeviceProcessEvents | take 1"}),
        )
        .await;
    assert_eq!(status, 200, "{hunt}");
    assert!(
        hunt["Schema"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["Name"] == "ReportId")
    );
    let event = &hunt["Results"][0];
    let body = json!({
        "machineId": event["DeviceId"], "severity": "Low", "title": "Partner detection", "description": "From the partner",
        "recommendedAction": "Investigate", "eventTime": event["Timestamp"], "reportId": event["ReportId"], "category": "Exploit",
    });
    let (status, first) = env
        .post(&token, "/api/alerts/CreateAlertByReference", body.clone())
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["title"], "Partner detection");
    assert_eq!(first["machineId"], event["DeviceId"]);
    let (_, second) = env
        .post(&token, "/api/alerts/CreateAlertByReference", body.clone())
        .await;
    assert_eq!(
        second["id"], first["id"],
        "an open alert with the same device and title is reused"
    );
    let mut missing = body.clone();
    missing["reportId"] = json!(1);
    let (status, _) = env
        .post(&token, "/api/alerts/CreateAlertByReference", missing)
        .await;
    assert_eq!(status, 404);
    let mut bad = body;
    bad["category"] = json!("Nope");
    let (status, _) = env.post(&token, "/api/alerts/CreateAlertByReference", bad).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn machine_action_is_created_pending_refused_while_pending_and_succeeds_over_time() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let machine = machine_id(&env, &token, "Windows11").await;
    let (status, action) = env
        .post(
            &token,
            &format!("/api/machines/{machine}/isolate"),
            json!({"Comment": "contain", "IsolationType": "Full"}),
        )
        .await;
    assert_eq!(status, 201, "{action}");
    assert_eq!(action["type"], "Isolate");
    assert_eq!(action["status"], "Pending");
    assert_eq!(action["scope"], "Full");
    assert!(
        action["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#MachineActions/$entity")
    );
    let (status, body) = env
        .post(
            &token,
            &format!("/api/machines/{machine}/isolate"),
            json!({"Comment": "again"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "Action is already in progress");
    let id = action["id"].as_str().unwrap();
    env.admin("/_sandbox/advance", json!({"seconds": 90})).await;
    let (_, now) = env.get(&token, &format!("/api/machineactions/{id}")).await;
    assert_eq!(now["status"], "InProgress");
    env.sandbox.advance(std::time::Duration::from_secs(600));
    let (_, now) = env.get(&token, &format!("/api/machineactions/{id}")).await;
    assert_eq!(now["status"], "Succeeded");
    let (status, _) = env
        .post(
            &token,
            &format!("/api/machines/{machine}/isolate"),
            json!({"Comment": "again"}),
        )
        .await;
    assert_eq!(status, 201, "a finished action no longer blocks a new one");
}

#[tokio::test]
async fn every_machine_action_kind_answers_201_with_its_type() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let machine = machine_id(&env, &token, "Windows10").await;
    let sha1 = "0991a395da64e1c5fbe8732ed11e6be064081d9f";
    for (segment, body, kind) in [
        (
            "isolate",
            json!({"Comment": "c", "IsolationType": "Selective"}),
            "Isolate",
        ),
        ("unisolate", json!({"Comment": "c"}), "Unisolate"),
        (
            "runAntiVirusScan",
            json!({"Comment": "c", "ScanType": "Quick"}),
            "RunAntiVirusScan",
        ),
        (
            "restrictCodeExecution",
            json!({"Comment": "c"}),
            "RestrictCodeExecution",
        ),
        (
            "unrestrictCodeExecution",
            json!({"Comment": "c"}),
            "UnrestrictCodeExecution",
        ),
        (
            "collectInvestigationPackage",
            json!({"Comment": "c"}),
            "CollectInvestigationPackage",
        ),
        (
            "StopAndQuarantineFile",
            json!({"Comment": "c", "Sha1": sha1}),
            "StopAndQuarantineFile",
        ),
        ("offboard", json!({"Comment": "c"}), "Offboard"),
    ] {
        let (status, action) = env
            .post(&token, &format!("/api/machines/{machine}/{segment}"), body)
            .await;
        assert_eq!(status, 201, "{segment}: {action}");
        assert_eq!(action["type"], kind);
    }
    let (_, list) = env
        .get(
            &token,
            &format!("/api/machineactions?$filter=machineId+eq+'{machine}'"),
        )
        .await;
    assert_eq!(values(&list).len(), 8);
    let (_, scans) = env
        .get(&token, "/api/machineactions?$filter=type+eq+'RunAntiVirusScan'")
        .await;
    assert_eq!(values(&scans).len(), 1);
}

#[tokio::test]
async fn machine_action_bodies_are_validated_case_sensitively() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let machine = machine_id(&env, &token, "Windows11").await;
    let linux = machine_id(&env, &token, "Linux").await;
    let cases = [
        (
            machine.as_str(),
            "isolate",
            json!({"comment": "lower case"}),
            "InvalidRequestBody",
        ),
        (machine.as_str(), "isolate", json!({}), "MissingRequiredParameter"),
        (
            machine.as_str(),
            "isolate",
            json!({"Comment": "c", "IsolationType": "Partial"}),
            "InvalidInput",
        ),
        (
            machine.as_str(),
            "runAntiVirusScan",
            json!({"Comment": "c"}),
            "MissingRequiredParameter",
        ),
        (
            machine.as_str(),
            "StopAndQuarantineFile",
            json!({"Comment": "c", "Sha1": "xyz"}),
            "InvalidHashValue",
        ),
        (
            linux.as_str(),
            "offboard",
            json!({"Comment": "c"}),
            "OsPlatformNotSupported",
        ),
    ];
    for (m, segment, body, expected) in cases {
        let (status, answer) = env
            .post(&token, &format!("/api/machines/{m}/{segment}"), body)
            .await;
        assert_eq!((status, code(&answer)), (400, expected), "{segment}");
    }
    let (status, _) = env
        .post(
            &token,
            "/api/machines/0000000000000000000000000000000000000000/isolate",
            json!({"Comment": "c"}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn pending_machine_action_can_be_cancelled_once() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let machine = machine_id(&env, &token, "Windows11").await;
    let (_, action) = env
        .post(
            &token,
            &format!("/api/machines/{machine}/runAntiVirusScan"),
            json!({"Comment": "c", "ScanType": "Full"}),
        )
        .await;
    let id = action["id"].as_str().unwrap();
    let (status, cancelled) = env
        .post(
            &token,
            &format!("/api/machineactions/{id}/cancel"),
            json!({"Comment": "not needed"}),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "Cancelled");
    assert_eq!(cancelled["cancellationComment"], "not needed");
    let (status, _) = env
        .post(
            &token,
            &format!("/api/machineactions/{id}/cancel"),
            json!({"Comment": "again"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = env
        .get(&token, "/api/machineactions/6f1a6a46-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, 404);
}

fn indicator(value: &str, kind: &str) -> Value {
    json!({"indicatorValue": value, "indicatorType": kind, "action": "AlertAndBlock", "title": "t", "description": "d", "severity": "High"})
}

#[tokio::test]
async fn indicator_submit_upserts_lists_and_deletes() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (status, created) = env
        .post(
            &token,
            "/api/indicators",
            indicator("malicious.contoso-bad.example", "DomainName"),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let mut update = indicator("malicious.contoso-bad.example", "DomainName");
    update["title"] = json!("updated");
    let (_, updated) = env.post(&token, "/api/indicators", update).await;
    assert_eq!(
        updated["id"].as_str(),
        Some(id.as_str()),
        "same type and value updates"
    );
    assert_eq!(updated["title"], "updated");
    let (_, list) = env
        .get(&token, "/api/indicators?$filter=indicatorType+eq+'DomainName'")
        .await;
    assert_eq!(values(&list).len(), 1);
    let response = env
        .http
        .delete(env.url(&format!("/api/indicators/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = env
        .http
        .delete(env.url(&format!("/api/indicators/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn indicator_values_are_validated_per_type() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let cases = [
        ("abc", "FileSha1", "InvalidHashValue"),
        (
            "0991a395da64e1c5fbe8732ed11e6be064081d9f",
            "FileSha256",
            "InvalidHashValue",
        ),
        ("zz", "FileMd5", "InvalidHashValue"),
        ("10.0.0.0/8", "IpAddress", "InvalidIpAddress"),
        ("not a domain", "DomainName", "InvalidDomainName"),
        ("http://", "Url", "InvalidUrl"),
    ];
    for (value, kind, expected) in cases {
        let (status, body) = env.post(&token, "/api/indicators", indicator(value, kind)).await;
        assert_eq!((status, code(&body)), (400, expected), "{kind} {value}");
    }
    let (status, body) = env
        .post(&token, "/api/indicators", json!({"IndicatorValue": "x"}))
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidRequestBody"));
    let (status, body) = env
        .post(&token, "/api/indicators", json!({"indicatorValue": "1.2.3.4"}))
        .await;
    assert_eq!((status, code(&body)), (400, "MissingRequiredParameter"));
    for (value, kind) in [
        ("0991A395DA64E1C5FBE8732ED11E6BE064081D9F", "FileSha1"),
        ("203.0.113.7", "IpAddress"),
        ("2001:db8::1", "IpAddress"),
        ("https://contoso-bad.example/path?q=1", "Url"),
        ("d41d8cd98f00b204e9800998ecf8427e", "FileMd5"),
    ] {
        let (status, body) = env.post(&token, "/api/indicators", indicator(value, kind)).await;
        assert_eq!(status, 200, "{kind} {value}: {body}");
    }
}

#[tokio::test]
async fn indicator_import_reports_each_item_and_refuses_more_than_500() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let items = json!([
        indicator("203.0.113.9", "IpAddress"),
        indicator("bad-hash", "FileSha256")
    ]);
    let (status, body) = env
        .post(&token, "/api/indicators/import", json!({"Indicators": items}))
        .await;
    assert_eq!(status, 200, "{body}");
    let results = values(&body);
    assert_eq!(results[0]["isFailed"], false);
    assert_eq!(results[0]["indicator"], "203.0.113.9");
    assert_eq!(results[1]["isFailed"], true);
    assert!(
        results[1]["failureReason"]
            .as_str()
            .unwrap()
            .contains("FileSha256")
    );
    let many: Vec<Value> = (0..501)
        .map(|i| indicator(&format!("198.51.100.{}", i % 250), "IpAddress"))
        .collect();
    let (status, body) = env
        .post(&token, "/api/indicators/import", json!({"Indicators": many}))
        .await;
    assert_eq!((status, code(&body)), (400, "MaximumBatchSizeExceeded"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Received: 501, allowed: 500")
    );
    let (status, body) = env
        .post(&token, "/api/indicators/import", json!({"indicators": []}))
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidRequestBody"));
}

#[tokio::test]
async fn batch_delete_removes_all_or_answers_404_and_checks_size() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, a) = env
        .post(&token, "/api/indicators", indicator("203.0.113.10", "IpAddress"))
        .await;
    let (_, b) = env
        .post(&token, "/api/indicators", indicator("203.0.113.11", "IpAddress"))
        .await;
    let (status, _) = env
        .post(
            &token,
            "/api/indicators/BatchDelete",
            json!({"IndicatorIds": [a["id"], "999999"]}),
        )
        .await;
    assert_eq!(status, 404);
    let response = env
        .http
        .post(env.url("/api/indicators/BatchDelete"))
        .bearer_auth(&token)
        .json(&json!({"IndicatorIds": [a["id"], b["id"]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = env
        .post(&token, "/api/indicators/BatchDelete", json!({"IndicatorIds": []}))
        .await;
    assert_eq!(status, 400);
    let ids: Vec<String> = (0..501).map(|i| i.to_string()).collect();
    let (status, body) = env
        .post(
            &token,
            "/api/indicators/BatchDelete",
            json!({"IndicatorIds": ids}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "MaximumBatchSizeExceeded"));
}

#[tokio::test]
async fn active_indicator_cap_is_enforced() {
    let mut config = SandboxConfig::default();
    config.data.indicator_cap = 7; // five seeded + two
    let env = Env::with(config).await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    for i in 0..2 {
        let (status, _) = env
            .post(
                &token,
                "/api/indicators",
                indicator(&format!("203.0.113.{i}"), "IpAddress"),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, body) = env
        .post(&token, "/api/indicators", indicator("203.0.113.99", "IpAddress"))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum of 7")
    );
}

#[tokio::test]
async fn ti_readwrite_sees_only_the_apps_own_indicators() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_PARTIAL, MDE).await;
    let (status, list) = env.get(&token, "/api/indicators").await;
    assert_eq!(status, 200);
    assert!(
        values(&list).is_empty(),
        "portal-created indicators are hidden from Ti.ReadWrite"
    );
    env.post(&token, "/api/indicators", indicator("203.0.113.50", "IpAddress"))
        .await;
    let (_, list) = env.get(&token, "/api/indicators").await;
    assert_eq!(values(&list).len(), 1);
    let full = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, all) = env.get(&full, "/api/indicators").await;
    assert_eq!(values(&all).len(), 5, "Ti.ReadWrite.All sees the seeded ones");
}

#[tokio::test]
async fn advanced_query_reports_kusto_style_errors() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (status, body) = env
        .post(
            &token,
            "/api/advancedqueries/run",
            json!({"Query": "NoSuchTable | take 1"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Failed to resolve table")
    );
    let (status, body) = env
        .post(
            &token,
            "/api/advancedqueries/run",
            json!({"Query": "DeviceInfo | where OSPlatform == \"Linux\" | project DeviceName, OSPlatform"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["Schema"].as_array().unwrap().len(), 2);
    assert!(
        body["Results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["OSPlatform"] == "Linux")
    );
    let (status, body) = env
        .post(&token, "/api/advancedqueries/run", json!({"query": "DeviceInfo"}))
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidRequestBody"));
}

#[tokio::test]
async fn expired_indicators_disappear_past_expiries_are_accepted_and_item_failures_can_be_injected() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let soon = (env.sandbox.now() + time::Duration::minutes(5))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut expiring = indicator("expiring.example.com", "DomainName");
    expiring["expirationTime"] = json!(soon);
    let (status, body) = env.post(&token, "/api/indicators", expiring).await;
    assert_eq!(status, 200, "{body}");
    // Microsoft's own examples carry past expiry dates: accepted, and born expired (never listed).
    let mut past = indicator("past.example.com", "DomainName");
    past["expirationTime"] = json!("2021-12-12T00:00:00Z");
    let (status, body) = env.post(&token, "/api/indicators", past).await;
    assert_eq!(status, 200, "{body}");
    let listed = |body: &Value, value: &str| values(body).iter().any(|i| i["indicatorValue"] == value);
    let (_, list) = env.get(&token, "/api/indicators?$top=10000").await;
    assert!(listed(&list, "expiring.example.com"));
    assert!(
        !listed(&list, "past.example.com"),
        "an expired indicator is listed"
    );
    env.sandbox.advance(std::time::Duration::from_secs(600));
    let (_, list) = env.get(&token, "/api/indicators?$top=10000").await;
    assert!(
        !listed(&list, "expiring.example.com"),
        "Defender deletes indicators at expiry"
    );

    env.sandbox.fail_import_items(mde_sandbox::ImportFailureRule {
        value_contains: "198.51.100.66".into(),
        reason: "Indicator conflicts with an existing allow rule".into(),
        times: Some(1),
    });
    let items = json!([
        indicator("198.51.100.66", "IpAddress"),
        indicator("198.51.100.67", "IpAddress")
    ]);
    let (_, body) = env
        .post(
            &token,
            "/api/indicators/import",
            json!({"Indicators": items.clone()}),
        )
        .await;
    let results = values(&body);
    assert_eq!(results[0]["isFailed"], true);
    assert_eq!(
        results[0]["failureReason"],
        "Indicator conflicts with an existing allow rule"
    );
    assert_eq!(results[1]["isFailed"], false);
    let (_, body) = env
        .post(&token, "/api/indicators/import", json!({"Indicators": items}))
        .await;
    assert_eq!(values(&body)[0]["isFailed"], false, "the rule fired only once");
}
