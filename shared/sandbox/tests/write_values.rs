//! What the write side accepts: documented update values only (retired determinations refused), Graph's incident
//! update statuses, batchUpdate and CreateAlertByReference bodies and limits, and no `or` in MDE `$filter`s.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, GRAPH, M365D, MDE, code, values};
use mde_sandbox::DEMO_TENANT_FULL;
use serde_json::{Value, json};

async fn alert_ids(env: &Env, token: &str, n: usize) -> Vec<String> {
    let (_, list) = env.get(token, &format!("/api/alerts?$top={n}")).await;
    values(&list)
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

/// POST with the raw response (for `Retry-After`).
async fn post_raw(env: &Env, token: &str, path: &str, body: &Value) -> reqwest::Response {
    env.http
        .post(env.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn or_is_refused_in_mde_filters_and_kept_in_microsoft_365_defender_and_graph() {
    let env = Env::demo().await;
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, machines) = env.get(&mde, "/api/machines?$top=1").await;
    let machine = values(&machines)[0]["id"].as_str().unwrap().to_owned();
    for path in [
        "/api/alerts?$filter=status+eq+'New'+or+status+eq+'Resolved'".to_owned(),
        "/api/alerts/$count?$filter=status+eq+'New'+or+status+eq+'Resolved'".to_owned(),
        format!("/api/machines/{machine}/alerts?$filter=(status+eq+'New'+or+status+eq+'Resolved')"),
        "/api/machines?$filter=healthStatus+eq+'Active'+or+healthStatus+eq+'Inactive'".to_owned(),
        format!(
            "/api/machineactions?$filter=machineId+eq+'{machine}'+and+(status+eq+'Pending'+or+status+eq+'InProgress')"
        ),
        "/api/indicators?$filter=action+eq+'Block'+or+action+eq+'Allowed'".to_owned(),
    ] {
        let (status, body) = env.get(&mde, &path).await;
        assert_eq!((status, code(&body)), (400, "ODataError"), "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("'or'"),
            "{body}"
        );
    }
    let (status, body) = env
        .get(
            &mde,
            &format!("/api/machineactions?$filter=machineId+eq+'{machine}'+and+status+eq+'Pending'"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let xdr = env.token(DEMO_TENANT_FULL, M365D).await;
    let (status, body) = env
        .get(
            &xdr,
            "/api/incidents?$filter=status+eq+'Active'+or+status+eq+'Resolved'",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let (status, body) = env
        .get(
            &graph,
            "/v1.0/security/alerts_v2?$filter=status+eq+'new'+or+status+eq+'resolved'",
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn retired_determinations_are_refused_by_every_update_api_naming_the_value() {
    let env = Env::demo().await;
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let ids = alert_ids(&env, &mde, 2).await;
    for value in ["Apt", "SecurityPersonnel"] {
        let (status, body) = env
            .patch(
                &mde,
                &format!("/api/alerts/{}", ids[0]),
                json!({"classification": "TruePositive", "determination": value}),
            )
            .await;
        assert_eq!((status, code(&body)), (400, "InvalidInput"), "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("'{value}'")) && message.contains("retired"),
            "{message}"
        );
    }
    let (status, body) = env
        .post(
            &mde,
            "/api/alerts/batchUpdate",
            json!({"alertIds": ids, "determination": "Apt"}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidInput"));
    let (_, alert) = env.get(&mde, &format!("/api/alerts/{}", ids[1])).await;
    assert_ne!(alert["determination"], "Apt");

    let xdr = env.token(DEMO_TENANT_FULL, M365D).await;
    let (_, incidents) = env.get(&xdr, "/api/incidents?$top=1").await;
    let incident = values(&incidents)[0]["incidentId"].as_u64().unwrap();
    for (body, expected) in [
        (json!({"determination": "SecurityPersonnel"}), 400),
        (json!({"determination": "Apt"}), 400),
        (json!({"determination": "Whatever"}), 400),
        (json!({"classification": "Unknown"}), 400),
        (json!({"determination": "NotAvailable"}), 200),
        (
            json!({"classification": "FalsePositive", "determination": "Clean"}),
            200,
        ),
    ] {
        let (status, answer) = env
            .patch(&xdr, &format!("/api/incidents/{incident}"), body.clone())
            .await;
        assert_eq!(status, expected, "{body}: {answer}");
    }

    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let (status, body) = env
        .patch(
            &graph,
            &format!("/v1.0/security/incidents/{incident}"),
            json!({"determination": "apt"}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "badRequest"));
    assert!(body["error"]["message"].as_str().unwrap().contains("'apt'"));
    let (status, body) = env
        .patch(
            &graph,
            &format!("/v1.0/security/alerts_v2/{}", ids[0]),
            json!({"determination": "securityPersonnel"}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "badRequest"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'securityPersonnel'")
    );
    let (status, body) = env
        .patch(
            &graph,
            &format!("/v1.0/security/alerts_v2/{}", ids[0]),
            json!({"classification": "truePositive", "determination": "multiStagedAttack"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn mde_alert_updates_take_the_documented_values_only() {
    let env = Env::demo().await;
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let id = alert_ids(&env, &mde, 1).await.remove(0);
    let path = format!("/api/alerts/{id}");
    for determination in [
        "MultiStagedAttack",
        "MaliciousUserActivity",
        "CompromisedUser",
        "Malware",
        "Phishing",
        "UnwantedSoftware",
        "Other",
        "SecurityTesting",
        "LineOfBusinessApplication",
        "ConfirmedUserActivity",
        "Clean",
        "InsufficientData",
        "ConfirmedActivity",
        "NotMalicious",
    ] {
        let (status, body) = env
            .patch(&mde, &path, json!({"determination": determination}))
            .await;
        assert_eq!(status, 200, "{determination}: {body}");
    }
    for classification in ["TruePositive", "InformationalExpectedActivity", "FalsePositive"] {
        let (status, _) = env
            .patch(&mde, &path, json!({"classification": classification}))
            .await;
        assert_eq!(status, 200, "{classification}");
    }
    for body in [
        json!({"classification": "Unknown"}),
        json!({"determination": "NotAvailable"}),
        json!({"determination": "malware"}),
        json!({"status": "Unknown"}),
        json!({"status": "Active"}),
    ] {
        let (status, answer) = env.patch(&mde, &path, body.clone()).await;
        assert_eq!((status, code(&answer)), (400, "InvalidInput"), "{body}");
    }
}

#[tokio::test]
async fn graph_incident_updates_take_only_the_documented_statuses() {
    let env = Env::demo().await;
    let graph = env.token(DEMO_TENANT_FULL, GRAPH).await;
    let (_, list) = env.get(&graph, "/v1.0/security/incidents?$top=1").await;
    let path = format!(
        "/v1.0/security/incidents/{}",
        values(&list)[0]["id"].as_str().unwrap()
    );
    for (status, expected) in [
        ("resolved", "resolved"),
        ("unknownFutureValue", "resolved"),
        ("redirected", "redirected"),
        ("Active", "active"),
    ] {
        let (code, body) = env.patch(&graph, &path, json!({"status": status})).await;
        assert_eq!(
            (code, body["status"].as_str()),
            (200, Some(expected)),
            "{status}: {body}"
        );
    }
    for status in ["inProgress", "awaitingAction", "closed"] {
        let (answer, body) = env.patch(&graph, &path, json!({"status": status})).await;
        assert_eq!((answer, code(&body)), (400, "badRequest"), "{status}");
    }
}

#[tokio::test]
async fn batch_update_needs_alert_ids_and_is_limited_to_10_a_minute_and_500_an_hour() {
    let env = Env::demo().await;
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let ids = alert_ids(&env, &mde, 2).await;
    for (body, expected) in [
        (json!({"status": "Resolved"}), "MissingRequiredParameter"),
        (json!({"alertIds": [], "status": "Resolved"}), "InvalidInput"),
        (json!({"alertIds": [1], "status": "Resolved"}), "InvalidInput"),
        (
            json!({"AlertIds": ids, "status": "Resolved"}),
            "InvalidRequestBody",
        ),
    ] {
        let (status, answer) = env.post(&mde, "/api/alerts/batchUpdate", body.clone()).await;
        assert_eq!((status, code(&answer)), (400, expected), "{body}");
    }
    let (status, _) = env
        .post(
            &mde,
            "/api/alerts/batchUpdate",
            json!({"alertIds": ["da0_0"], "status": "Resolved"}),
        )
        .await;
    assert_eq!(status, 404);
    let ok = json!({"alertIds": ids, "assignedTo": "soc@contoso.example"});
    for _ in 0..5 {
        let (status, _) = env.post(&mde, "/api/alerts/batchUpdate", ok.clone()).await;
        assert_eq!(status, 200);
    }
    let refused = post_raw(&env, &mde, "/api/alerts/batchUpdate", &ok).await;
    assert_eq!(refused.status(), 429, "the 11th call in a minute");
    assert!((1..=60).contains(&retry_after(&refused)));
    // 500 an hour: ten a minute for the next 49 minutes, then one more.
    for _ in 0..49 {
        env.sandbox.advance(Duration::from_secs(60));
        for _ in 0..10 {
            let (status, body) = env.post(&mde, "/api/alerts/batchUpdate", ok.clone()).await;
            assert_eq!(status, 200, "{body}");
        }
    }
    env.sandbox.advance(Duration::from_secs(60));
    let refused = post_raw(&env, &mde, "/api/alerts/batchUpdate", &ok).await;
    assert_eq!(refused.status(), 429, "the 501st call in an hour");
    assert!(retry_after(&refused) > 60);
}

#[tokio::test]
async fn create_alert_by_reference_needs_every_field_and_is_limited_to_15_a_minute() {
    let env = Env::demo().await;
    let mde = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, hunt) = env
        .post(
            &mde,
            "/api/advancedqueries/run",
            json!({"Query": "DeviceProcessEvents | take 1"}),
        )
        .await;
    let event = &hunt["Results"][0];
    let body = json!({
        "machineId": event["DeviceId"], "severity": "Low", "title": "Partner detection", "description": "d",
        "recommendedAction": "r", "eventTime": event["Timestamp"], "reportId": event["ReportId"], "category": "Exploit",
    });
    let mut calls = 0;
    for field in [
        "eventTime",
        "reportId",
        "machineId",
        "severity",
        "title",
        "description",
        "recommendedAction",
        "category",
    ] {
        let mut partial = body.clone();
        partial.as_object_mut().unwrap().remove(field);
        let (status, answer) = env
            .post(&mde, "/api/alerts/CreateAlertByReference", partial)
            .await;
        calls += 1;
        assert_eq!(
            (status, code(&answer)),
            (400, "MissingRequiredParameter"),
            "{field}"
        );
        assert!(answer["error"]["message"].as_str().unwrap().contains(field));
    }
    let mut informational = body.clone();
    informational["severity"] = json!("Informational");
    let (status, answer) = env
        .post(&mde, "/api/alerts/CreateAlertByReference", informational)
        .await;
    calls += 1;
    assert_eq!((status, code(&answer)), (400, "InvalidInput"));
    while calls < 15 {
        let (status, answer) = env
            .post(&mde, "/api/alerts/CreateAlertByReference", body.clone())
            .await;
        calls += 1;
        assert_eq!(status, 200, "{answer}");
    }
    let refused = post_raw(&env, &mde, "/api/alerts/CreateAlertByReference", &body).await;
    assert_eq!(refused.status(), 429, "the 16th call in a minute");
    assert!((1..=60).contains(&retry_after(&refused)));
    env.sandbox.advance(Duration::from_secs(60));
    let (status, _) = env.post(&mde, "/api/alerts/CreateAlertByReference", body).await;
    assert_eq!(status, 200);
}
