//! The core against the sandbox over real sockets: batches valid, invalid and mixed; chunking; per-item failures
//! mapped to their messages; throttling that defers only the affected messages; the cap; sync; deletes;
//! tenants that are unknown, not allowed or not consented; dry runs.

mod common;

use common::*;
use indicator_push::MessageFate;
use mde_contracts::RejectCode;
use mde_defender::api::RateLimitConfig;
use mde_sandbox::{FaultKind, FaultRule, ImportFailureRule};
use serde_json::{Value, json};

struct Setup {
    sandbox: mde_sandbox::SandboxHandle,
    dir: tempfile::TempDir,
    pusher: indicator_push::Pusher,
}

async fn setup_with(cap: u32, retries: usize) -> Setup {
    let sandbox = start(sandbox_config()).await;
    let dir = tempfile::tempdir().expect("dir");
    let pusher = pusher(
        client(&sandbox, retries, RateLimitConfig::unlimited()),
        local_store(dir.path()),
        tenants(),
        settings(cap),
    );
    Setup { sandbox, dir, pusher }
}

async fn setup() -> Setup {
    setup_with(15_000, 2).await
}

impl Setup {
    fn store(&self) -> std::sync::Arc<dyn mde_platform::ObjectStore> {
        local_store(self.dir.path())
    }
}

fn fate<'a>(outcome: &'a indicator_push::PushOutcome, id: &str) -> &'a MessageFate {
    &outcome.fates.iter().find(|(m, _)| m == id).expect("message").1
}

#[tokio::test]
async fn a_mixed_batch_imports_the_valid_rejects_the_invalid_by_field_and_finishes_every_message() {
    let s = setup().await;
    let valid = upsert(
        "m-valid",
        json!(FULL),
        vec![
            indicator("FileSha256", &"AB".repeat(32), "BlockAndRemediate"),
            indicator("IpAddress", "203.0.113.50", "Block"),
        ],
    );
    let mut bad_hash = indicator("FileSha1", "xyz", "Block");
    bad_hash["title"] = json!("bad");
    let mut audit_without_alert = indicator("DomainName", "audit.example.com", "Audit");
    audit_without_alert["generateAlert"] = json!(false);
    let mixed = upsert(
        "m-mixed",
        json!([FULL]),
        vec![
            indicator("Url", "https://phish.example.com/login", "Warn"),
            bad_hash,
            audit_without_alert,
        ],
    );
    let not_json = message("m-garbage", json!("x"));
    let garbage = indicator_push::Incoming {
        id: "m-not-json".into(),
        body: "{\"op\": \"upsert\", ".into(),
    };
    let outcome = push(&s.pusher, &[valid, mixed, not_json, garbage]).await;
    assert!(
        outcome.fates.iter().all(|(_, f)| *f == MessageFate::Done),
        "{:?}",
        outcome.fates
    );
    let values = values_in(&s.sandbox, FULL);
    for v in [
        "abababababababababababababababababababababababababababababababab",
        "203.0.113.50",
        "https://phish.example.com/login",
    ] {
        assert!(
            values.contains(&v.to_owned()),
            "{v} imported (hashes lower-cased)"
        );
    }
    assert!(!values.iter().any(|v| v == "audit.example.com" || v == "xyz"));
    let rejects = rejects(&*s.store()).await;
    let by = |id: &str| rejects.iter().filter(|r| r.message_id == id).collect::<Vec<_>>();
    let mixed = by("m-mixed");
    assert_eq!(mixed.len(), 2, "{rejects:#?}");
    assert!(
        mixed
            .iter()
            .any(|r| r.field.as_deref() == Some("indicatorValue") && r.reason.contains("SHA-1"))
    );
    assert!(mixed.iter().any(|r| r.field.as_deref() == Some("generateAlert")
        && r.indicator["indicatorValue"] == "audit.example.com"));
    assert!(mixed.iter().all(|r| r.code == RejectCode::InvalidIndicator));
    for id in ["m-garbage", "m-not-json"] {
        let r = by(id);
        assert_eq!(r.len(), 1, "{id}");
        assert_eq!(r[0].code, RejectCode::InvalidMessage);
        assert!(r[0].reason.contains("expected"), "{}", r[0].reason);
    }
    assert!(by("m-valid").is_empty());
    assert_eq!(outcome.summary.rejected, 4);
    assert_eq!(outcome.summary.tenants[0].imported, 3);
}

#[tokio::test]
async fn six_hundred_indicators_go_as_500_then_100_and_repeats_in_a_batch_are_sent_once() {
    let s = setup().await;
    let first = upsert("a", json!(FULL), domains("six", 400));
    // The second message repeats 100 of the first with another action (last write wins) and adds 200.
    let mut second: Vec<Value> = domains("six", 100)
        .into_iter()
        .map(|mut i| {
            i["action"] = json!("Warn");
            i
        })
        .collect();
    second.extend((400..600).map(|i| indicator("DomainName", &format!("six-{i}.example.com"), "Block")));
    let second = upsert("b", json!(FULL), second);
    s.sandbox.clear_requests();
    let outcome = push(&s.pusher, &[first, second]).await;
    assert!(outcome.fates.iter().all(|(_, f)| *f == MessageFate::Done));
    let imports: Vec<usize> = s
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path == "/api/indicators/import")
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).expect("json")["Indicators"]
                .as_array()
                .expect("array")
                .len()
        })
        .collect();
    assert_eq!(imports, [500, 100]);
    assert_eq!(outcome.summary.tenants[0].imported, 600);
    let warned = s
        .sandbox
        .indicators(FULL)
        .into_iter()
        .filter(|i| {
            i["indicatorValue"]
                .as_str()
                .is_some_and(|v| v.starts_with("six-"))
                && i["action"] == "Warn"
        })
        .count();
    assert_eq!(warned, 100, "the later message's action won");
    // Only documented fields, Microsoft's casing, in the body sent.
    let body: Value = serde_json::from_str(
        &s.sandbox
            .requests()
            .iter()
            .find(|r| r.path == "/api/indicators/import")
            .expect("import")
            .body,
    )
    .expect("json");
    let item = &body["Indicators"][0];
    for k in item.as_object().expect("object").keys() {
        assert!(
            [
                "indicatorValue",
                "indicatorType",
                "action",
                "title",
                "description",
                "severity",
                "application"
            ]
            .contains(&k.as_str()),
            "{k} sent"
        );
    }
}

#[tokio::test]
async fn a_per_item_failure_is_a_reject_of_the_message_that_asked_for_it() {
    let s = setup().await;
    s.sandbox.fail_import_items(ImportFailureRule {
        value_contains: "conflict".into(),
        reason: "Indicator conflicts with an existing allow rule".into(),
        times: None,
    });
    let a = upsert("a", json!(FULL), domains("fine", 3));
    let b = upsert(
        "b",
        json!(FULL),
        vec![
            indicator("DomainName", "conflict.example.com", "Block"),
            indicator("DomainName", "ok.example.com", "Block"),
        ],
    );
    let outcome = push(&s.pusher, &[a, b]).await;
    assert!(outcome.fates.iter().all(|(_, f)| *f == MessageFate::Done));
    let rejects = rejects(&*s.store()).await;
    assert_eq!(rejects.len(), 1, "{rejects:#?}");
    assert_eq!(rejects[0].message_id, "b");
    assert_eq!(rejects[0].code, RejectCode::RejectedByDefender);
    assert!(rejects[0].reason.contains("existing allow rule"));
    assert_eq!(rejects[0].tenant_id.as_ref().map(|t| t.as_str()), Some(FULL));
    assert!(values_in(&s.sandbox, FULL).contains(&"ok.example.com".to_owned()));
    assert_eq!(outcome.summary.tenants[0].imported, 4);
}

#[tokio::test]
async fn a_429_mid_batch_defers_only_the_messages_in_the_throttled_chunk() {
    let s = setup_with(15_000, 0).await;
    // Keys sort by value: the 500 of "a-" fill the first chunk, "b-" the second, which is throttled.
    let a = upsert("a", json!(FULL), domains("a", 500));
    let b = upsert("b", json!(FULL), domains("b", 20));
    s.sandbox.add_faults(vec![FaultRule {
        path: "/api/indicators/import".into(),
        method: Some("POST".into()),
        fault: FaultKind::TooManyRequests {
            retry_after_seconds: 1,
        },
        probability: None,
        nth_call: Some(2),
        max_times: Some(1),
    }]);
    let outcome = push(&s.pusher, &[a, b]).await;
    assert_eq!(fate(&outcome, "a"), &MessageFate::Done);
    match fate(&outcome, "b") {
        MessageFate::Deferred(why) => assert!(why.contains("429") || why.contains("throttled"), "{why}"),
        other => panic!("b should be deferred: {other:?}"),
    }
    assert_eq!(outcome.deferred().collect::<Vec<_>>(), ["b"]);
    assert!(
        rejects(&*s.store()).await.is_empty(),
        "a throttled indicator is never a reject"
    );
    // SQS delivers b again: it completes.
    let again = push(&s.pusher, &[upsert("b", json!(FULL), domains("b", 20))]).await;
    assert_eq!(fate(&again, "b"), &MessageFate::Done);
    assert_eq!(
        values_in(&s.sandbox, FULL)
            .iter()
            .filter(|v| v.starts_with("b-"))
            .count(),
        20
    );
}

#[tokio::test]
async fn the_cap_is_enforced_before_defender_sees_the_excess() {
    let probe = setup().await;
    let seeded = probe.sandbox.indicators(FULL).len() as u32;
    drop(probe);
    let s = setup_with(seeded + 3, 2).await;
    let outcome = push(&s.pusher, &[upsert("cap", json!(FULL), domains("cap", 5))]).await;
    assert_eq!(fate(&outcome, "cap"), &MessageFate::Done);
    assert_eq!(outcome.summary.tenants[0].imported, 3);
    let rejects = rejects(&*s.store()).await;
    assert_eq!(rejects.len(), 2);
    assert!(
        rejects
            .iter()
            .all(|r| r.code == RejectCode::OverCap && r.reason.contains(&format!("cap of {}", seeded + 3))),
        "{rejects:#?}"
    );
    assert_eq!(s.sandbox.indicators(FULL).len() as u32, seeded + 3);
    // Updating one that exists still works at the cap; a delete makes room for a new one in the same batch.
    let mut update = domains("cap", 1);
    update[0]["severity"] = json!("Low");
    let delete = message(
        "del",
        json!({"op": "delete", "tenants": FULL, "indicators": [{"indicatorType": "DomainName", "indicatorValue": "cap-1.example.com"}]}),
    );
    let outcome = push(
        &s.pusher,
        &[
            upsert("upd", json!(FULL), update),
            delete,
            upsert(
                "new",
                json!(FULL),
                vec![indicator("DomainName", "room.example.com", "Block")],
            ),
        ],
    )
    .await;
    assert!(outcome.fates.iter().all(|(_, f)| *f == MessageFate::Done));
    assert_eq!(outcome.summary.rejected, 0, "{:?}", outcome.summary);
    assert!(values_in(&s.sandbox, FULL).contains(&"room.example.com".to_owned()));
}

#[tokio::test]
async fn sync_creates_updates_and_deletes_only_its_feeds_indicators_and_a_dry_run_changes_nothing() {
    let s = setup().await;
    let portal_before = s.sandbox.indicators(FULL).len();
    let other_feed = message(
        "other",
        json!({"op": "sync", "tenants": FULL, "feed": "other", "indicators": domains("other", 2)}),
    );
    let first = message(
        "s1",
        json!({"op": "sync", "tenants": FULL, "feed": "tor", "indicators": domains("tor", 3)}),
    );
    let outcome = push(&s.pusher, &[other_feed, first]).await;
    assert_eq!(outcome.summary.tenants[0].imported, 5);
    // The feed now: tor-1 changed (Warn), tor-2 unchanged, tor-0 gone, tor-9 new.
    let mut changed = domains("tor", 3);
    changed.remove(0);
    changed[0]["action"] = json!("Warn");
    changed.push(indicator("DomainName", "tor-9.example.com", "Block"));
    let second = json!({"op": "sync", "tenants": FULL, "feed": "tor", "indicators": changed});
    let mut dry = second.clone();
    dry["dry_run"] = json!(true);
    let before = s.sandbox.indicators(FULL);
    s.sandbox.clear_requests();
    let plan = push(&s.pusher, &[message("dry", dry)]).await;
    assert_eq!(s.sandbox.indicators(FULL), before, "a dry run writes nothing");
    assert_eq!(
        calls(&s.sandbox, "POST", "/api/indicators/import")
            + calls(&s.sandbox, "POST", "/api/indicators/BatchDelete"),
        0
    );
    let t = &plan.summary.tenants[0];
    assert_eq!((t.imported, t.deleted, t.unchanged), (2, 1, 1), "{t:?}");
    assert_eq!(plan.summary.plan_locations.len(), 1);
    let plan_file: Value =
        serde_json::from_slice(&std::fs::read(&plan.summary.plan_locations[0]).expect("plan file"))
            .expect("json");
    assert_eq!(plan_file["delete"][0]["indicatorValue"], "tor-0.example.com");

    let outcome = push(&s.pusher, &[message("s2", second)]).await;
    let t = &outcome.summary.tenants[0];
    assert_eq!((t.imported, t.deleted, t.unchanged), (2, 1, 1), "{t:?}");
    let values = values_in(&s.sandbox, FULL);
    assert!(!values.contains(&"tor-0.example.com".to_owned()));
    for v in [
        "tor-1.example.com",
        "tor-2.example.com",
        "tor-9.example.com",
        "other-0.example.com",
        "other-1.example.com",
    ] {
        assert!(values.contains(&v.to_owned()), "{v}");
    }
    let tor1 = s
        .sandbox
        .indicators(FULL)
        .into_iter()
        .find(|i| i["indicatorValue"] == "tor-1.example.com")
        .expect("tor-1");
    assert_eq!(tor1["action"], "Warn");
    assert_eq!(tor1["application"], "mde-bridge feed tor");
    assert_eq!(
        s.sandbox.indicators(FULL).len(),
        portal_before + 5,
        "portal indicators untouched"
    );
    // An empty set empties the feed; a repeat finds nothing to do.
    let empty = json!({"op": "sync", "tenants": FULL, "feed": "tor", "indicators": []});
    let outcome = push(&s.pusher, &[message("s3", empty.clone())]).await;
    assert_eq!(outcome.summary.tenants[0].deleted, 3);
    s.sandbox.clear_requests();
    let outcome = push(&s.pusher, &[message("s4", empty)]).await;
    assert_eq!(outcome.summary.tenants[0].deleted, 0);
    assert_eq!(calls(&s.sandbox, "POST", "/api/indicators/BatchDelete"), 0);
}

#[tokio::test]
async fn a_sync_never_deletes_a_value_its_set_still_names_even_when_that_entry_is_malformed() {
    let s = setup().await;
    push(
        &s.pusher,
        &[message(
            "s1",
            json!({"op": "sync", "tenants": FULL, "feed": "f", "indicators": domains("keep", 2)}),
        )],
    )
    .await;
    let mut set = domains("keep", 2);
    set[1]["title"] = json!("");
    let outcome = push(
        &s.pusher,
        &[message(
            "s2",
            json!({"op": "sync", "tenants": FULL, "feed": "f", "indicators": set}),
        )],
    )
    .await;
    assert_eq!(outcome.summary.tenants[0].deleted, 0);
    assert!(values_in(&s.sandbox, FULL).contains(&"keep-1.example.com".to_owned()));
    let rejects = rejects(&*s.store()).await;
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].field.as_deref(), Some("title"));
}

#[tokio::test]
async fn with_ti_readwrite_only_the_apps_own_indicators_are_counted_synced_and_deleted() {
    let s = setup().await;
    // Fabrikam's portal indicators exist but this application cannot see them.
    let portal = s.sandbox.indicators(PARTIAL).len();
    assert!(portal > 0, "the sandbox seeds portal indicators");
    let outcome = push(
        &s.pusher,
        &[message(
            "s",
            json!({"op": "sync", "tenants": PARTIAL, "feed": "f", "indicators": domains("fab", 2)}),
        )],
    )
    .await;
    assert_eq!(
        outcome.summary.tenants[0].active,
        Some(2),
        "only its own are visible: {:?}",
        outcome.summary
    );
    let outcome = push(
        &s.pusher,
        &[message(
            "s",
            json!({"op": "sync", "tenants": PARTIAL, "feed": "f", "indicators": []}),
        )],
    )
    .await;
    assert_eq!(outcome.summary.tenants[0].deleted, 2);
    assert_eq!(
        s.sandbox.indicators(PARTIAL).len(),
        portal,
        "others' indicators untouched"
    );
}

#[tokio::test]
async fn deletes_by_value_and_by_id_and_an_absent_one_is_already_done() {
    let s = setup().await;
    push(&s.pusher, &[upsert("u", json!(FULL), domains("del", 3))]).await;
    let id = s
        .sandbox
        .indicators(FULL)
        .into_iter()
        .find(|i| i["indicatorValue"] == "del-2.example.com")
        .and_then(|i| i["id"].as_str().map(str::to_owned))
        .expect("id");
    let delete = message(
        "d",
        json!({"op": "delete", "tenants": FULL, "indicators": [
            {"indicatorType": "DomainName", "indicatorValue": "DEL-0.example.com"},
            {"id": id},
            {"indicatorType": "DomainName", "indicatorValue": "never-there.example.com"},
            {"id": "abc"},
        ]}),
    );
    let outcome = push(&s.pusher, &[delete]).await;
    assert_eq!(fate(&outcome, "d"), &MessageFate::Done);
    let t = &outcome.summary.tenants[0];
    assert_eq!((t.deleted, t.unchanged), (2, 1), "{t:?}");
    let values = values_in(&s.sandbox, FULL);
    assert!(values.contains(&"del-1.example.com".to_owned()));
    assert!(
        !values.contains(&"del-0.example.com".to_owned())
            && !values.contains(&"del-2.example.com".to_owned())
    );
    let rejects = rejects(&*s.store()).await;
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].field.as_deref(), Some("id"));
}

#[tokio::test]
async fn tenants_unknown_not_allowed_or_not_consented_are_told_apart() {
    let s = setup().await;
    let unknown = "0b7e2d4c-1111-4222-8333-944455556666";
    let outcome = push(
        &s.pusher,
        &[
            upsert("listed", json!([FULL, unknown, TAILSPIN]), domains("t", 1)),
            upsert("unconsented", json!(UNCONSENTED), domains("n", 1)),
        ],
    )
    .await;
    assert_eq!(fate(&outcome, "listed"), &MessageFate::Done);
    match fate(&outcome, "unconsented") {
        // Missing permission is not bad data: the message waits in the queue (then the DLQ) for consent.
        MessageFate::Deferred(why) => assert!(why.contains("consent"), "{why}"),
        other => panic!("{other:?}"),
    }
    let rejects = rejects(&*s.store()).await;
    let code_for = |t: &str| {
        rejects
            .iter()
            .find(|r| r.tenant_id.as_ref().is_some_and(|x| x.as_str() == t))
            .map(|r| r.code)
    };
    assert_eq!(code_for(unknown), Some(RejectCode::UnknownTenant));
    assert_eq!(code_for(TAILSPIN), Some(RejectCode::TenantNotAllowed));
    assert_eq!(
        code_for(UNCONSENTED),
        None,
        "a missing permission is never a reject"
    );
    assert!(values_in(&s.sandbox, FULL).contains(&"t-0.example.com".to_owned()));
    // No indicator call was made for the unconsented tenant (the preflight stopped it): Contoso's listing and
    // import are the only two.
    let api = s
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/indicators"))
        .count();
    assert_eq!(api, 2);
}

#[tokio::test]
async fn all_means_every_enabled_tenant_that_allows_the_operation() {
    let s = setup().await;
    let outcome = push(&s.pusher, &[upsert("all", json!("all"), domains("everyone", 1))]).await;
    let tenants: Vec<&str> = outcome
        .summary
        .tenants
        .iter()
        .filter_map(|t| t.tenant_id.as_ref().map(|t| t.as_str()))
        .collect();
    let mut expected = vec![FULL, PARTIAL, UNCONSENTED];
    expected.sort_unstable();
    assert_eq!(tenants, expected, "Tailspin does not allow indicators");
    assert!(values_in(&s.sandbox, FULL).contains(&"everyone-0.example.com".to_owned()));
    assert!(values_in(&s.sandbox, PARTIAL).contains(&"everyone-0.example.com".to_owned()));
    assert!(
        matches!(fate(&outcome, "all"), MessageFate::Deferred(_)),
        "Northwind's share waits for consent"
    );
}

#[tokio::test]
async fn the_lambda_handler_answers_batch_item_failures_and_fails_when_everything_is_deferred() {
    let s = setup().await;
    let event = |records: Vec<(&str, Value)>| {
        json!({"Records": records.into_iter().map(|(id, body)| json!({
            "messageId": id, "receiptHandle": "r", "body": body.to_string(), "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:indicators", "awsRegion": "us-east-1",
            "attributes": {}, "messageAttributes": {}
        })).collect::<Vec<_>>()})
    };
    let ok = json!({"op": "upsert", "tenants": FULL, "indicators": domains("h", 1)});
    let waits = json!({"op": "upsert", "tenants": UNCONSENTED, "indicators": domains("h", 1)});
    let answer = indicator_push::handle(&s.pusher, event(vec![("1", ok), ("2", waits.clone())]))
        .await
        .expect("handled");
    let answer = serde_json::to_value(answer).expect("json");
    assert_eq!(answer["batchItemFailures"], json!([{"itemIdentifier": "2"}]));
    let e = indicator_push::handle(&s.pusher, event(vec![("3", waits)]))
        .await
        .expect_err("all deferred");
    assert!(e.to_string().contains("every message"), "{e}");
    let e = indicator_push::handle(&s.pusher, json!({"detail": {}}))
        .await
        .expect_err("not SQS");
    assert!(e.to_string().contains("SQS"), "{e}");
}

#[tokio::test]
async fn an_upsert_of_what_defender_already_holds_costs_no_import_and_the_active_count_stays_true() {
    let s = setup().await;
    let first = push(&s.pusher, &[upsert("1", json!(FULL), domains("same", 3))]).await;
    let active = first.summary.tenants[0].active.expect("active");
    s.sandbox.clear_requests();
    let again = push(&s.pusher, &[upsert("2", json!(FULL), domains("same", 3))]).await;
    let t = &again.summary.tenants[0];
    assert_eq!((t.imported, t.unchanged, t.active), (0, 3, Some(active)), "{t:?}");
    assert_eq!(calls(&s.sandbox, "POST", "/api/indicators/import"), 0);
    // A changed field is sent; the count does not grow for an update.
    let mut changed = domains("same", 1);
    changed[0]["severity"] = json!("Low");
    let third = push(&s.pusher, &[upsert("3", json!(FULL), changed)]).await;
    let t = &third.summary.tenants[0];
    assert_eq!((t.imported, t.active), (1, Some(active)), "{t:?}");
}

#[tokio::test]
async fn hostile_message_bodies_are_rejected_with_a_reason_and_never_retried() {
    let s = setup().await;
    let ok = indicator("DomainName", "fine.example.com", "Block");
    let mut bodies: Vec<(String, String)> = vec![
        ("empty".into(), String::new()),
        ("array".into(), "[]".into()),
        (
            "wrong-op-type".into(),
            json!({"op": 7, "tenants": FULL, "indicators": [ok]}).to_string(),
        ),
        (
            "no-tenants".into(),
            json!({"op": "upsert", "indicators": [ok]}).to_string(),
        ),
        (
            "no-indicators".into(),
            json!({"op": "upsert", "tenants": FULL}).to_string(),
        ),
        (
            "empty-indicators".into(),
            json!({"op": "upsert", "tenants": FULL, "indicators": []}).to_string(),
        ),
        (
            "sync-no-feed".into(),
            json!({"op": "sync", "tenants": FULL, "indicators": [ok]}).to_string(),
        ),
        (
            "sync-bad-source".into(),
            json!({"op": "sync", "tenants": FULL, "feed": "f", "source": "../etc/passwd"}).to_string(),
        ),
        (
            "duplicate-key".into(),
            format!(r#"{{"op": "upsert", "op": "delete", "tenants": "{FULL}", "indicators": [{ok}]}}"#),
        ),
        (
            "trailing".into(),
            format!(
                "{} {{}}",
                json!({"op": "upsert", "tenants": FULL, "indicators": [ok]})
            ),
        ),
        (
            "too-many".into(),
            json!({"op": "upsert", "tenants": FULL, "indicators": vec![ok.clone(); 10_001]}).to_string(),
        ),
    ];
    // Each required field of an indicator missing in turn, and each with a wrong type, is named.
    for field in [
        "indicatorValue",
        "indicatorType",
        "action",
        "title",
        "description",
    ] {
        let mut missing = ok.clone();
        missing.as_object_mut().expect("object").remove(field);
        let mut wrong = ok.clone();
        wrong[field] = json!(12);
        for (kind, item) in [("missing", missing), ("wrong", wrong)] {
            bodies.push((
                format!("{kind}-{field}"),
                json!({"op": "upsert", "tenants": FULL, "indicators": [item]}).to_string(),
            ));
        }
    }
    let batch: Vec<_> = bodies
        .iter()
        .map(|(id, body)| indicator_push::Incoming {
            id: id.clone(),
            body: body.clone(),
        })
        .collect();
    let outcome = push(&s.pusher, &batch).await;
    assert!(
        outcome.fates.iter().all(|(_, f)| *f == MessageFate::Done),
        "{:?}",
        outcome.fates
    );
    let rejects = rejects(&*s.store()).await;
    for (id, _) in &bodies {
        let r: Vec<_> = rejects.iter().filter(|r| &r.message_id == id).collect();
        assert_eq!(r.len(), 1, "{id}: {r:?}");
        let r = r[0];
        assert!(!r.reason.is_empty());
        if let Some(field) = id
            .strip_prefix("missing-")
            .or_else(|| id.strip_prefix("wrong-"))
            .filter(|f| f.starts_with(|c: char| c.is_lowercase()) && *f != "op-type")
        {
            assert!(r.reason.contains(field), "{id}: {}", r.reason);
        }
    }
    let too_many = rejects
        .iter()
        .find(|r| r.message_id == "too-many")
        .expect("too-many");
    assert!(too_many.reason.contains("10000"), "{}", too_many.reason);
    assert!(
        too_many.indicator.as_str().is_some_and(|b| b.len() <= 64 * 1024),
        "a huge body is cut in the reject"
    );
    assert!(
        !values_in(&s.sandbox, FULL).contains(&"fine.example.com".to_owned()),
        "nothing of a refused message is applied"
    );
}
