//! Device response actions end to end: signed request → webhook → queue → executor → sandbox state → audit
//! record → status endpoint; repeats, Defender's "already in progress", release after a pending isolate,
//! missing permissions, transient failures, dry runs, cancel, device resolution, and Defender's end states.

mod actions;

use std::time::Duration;

use actions::*;
use mde_platform::Queue;
use mde_sandbox::{
    ActionEnd, FaultKind, FaultRule, MachineActionBehaviour, MachineActionRule, RepeatWhilePending,
};
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);
const SIX_MINUTES: Duration = Duration::from_secs(360);

fn rule(action_type: &str, pending: u64, end: ActionEnd) -> MachineActionRule {
    MachineActionRule {
        action_type: Some(action_type.into()),
        machine_id: None,
        pending_seconds: pending,
        in_progress_seconds: 5,
        end,
    }
}

fn behave(w: &World, rules: Vec<MachineActionRule>, repeat: RepeatWhilePending) {
    w.sandbox
        .set_machine_action_behaviour(MachineActionBehaviour {
            rules: Some(rules),
            repeat_while_pending: Some(repeat),
            ..MachineActionBehaviour::default()
        })
        .expect("behaviour");
}

fn calls_named<'a>(audit: &'a Value, operation: &str) -> Vec<&'a Value> {
    audit["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["operation"] == operation)
        .collect()
}

#[tokio::test]
async fn an_isolation_by_dns_name_runs_end_to_end_and_its_audit_record_tells_every_call() {
    let w = World::start().await;
    let (machine, name) = w.windows_machine(FULL).await;
    let event = json!({"type": "device_action.v1", "data": {"tenant_id": FULL, "device": {"dns_name": name}, "action": "isolate", "isolation_type": "selective", "comment": "NDR: C2 beacon"}});
    let id = w.send(&event).await;
    assert_eq!(
        w.status(&id).await["status"],
        "queued",
        "before the executor runs"
    );

    w.run_once().await;
    let waiting = w.status(&id).await;
    assert_eq!(waiting["status"], "waiting", "{waiting}");
    assert_eq!(waiting["audit"]["machine_action"]["status"], "Pending");
    assert!(
        !w.device(FULL, &machine).isolated,
        "not yet: the action is pending"
    );

    let done = w.until_completed(&id, SIX_MINUTES).await;
    assert_eq!(done["outcome"]["code"], "succeeded", "{done}");
    let state = w.device(FULL, &machine);
    assert!(state.isolated, "the device is isolated: {state:?}");
    assert_eq!(state.isolation_type.as_deref(), Some("Selective"));

    let audit = &done["audit"];
    assert_eq!(audit["tenant_id"], FULL);
    assert_eq!(audit["key_id"], KEY);
    assert_eq!(audit["action"], "isolate_device");
    assert_eq!(audit["event"]["data"]["device"]["dns_name"], name.as_str());
    for op in [
        "mde.machines.list",
        "mde.machineactions.list",
        "mde.machines.isolate",
        "mde.machineactions.get",
    ] {
        assert!(!calls_named(audit, op).is_empty(), "{op} in {audit}");
    }
    assert_eq!(calls_named(audit, "mde.machines.isolate")[0]["status"], 201);
    assert!(audit["finished_at"].is_string() && audit["received_at"].is_string());
    assert_eq!(done["outcome"]["result"]["machine_id"], machine.as_str());
}

#[tokio::test]
async fn every_device_action_reaches_defender_and_completes() {
    let w = World::start().await;
    let (machine, _) = w.windows_machine(FULL).await;
    let sha1 = "a".repeat(40);
    let cases = [
        ("antivirus_scan", json!({"scan_type": "full"}), "RunAntiVirusScan"),
        ("restrict_app_execution", json!({}), "RestrictCodeExecution"),
        (
            "collect_investigation_package",
            json!({}),
            "CollectInvestigationPackage",
        ),
        (
            "stop_and_quarantine_file",
            json!({"sha1": sha1}),
            "StopAndQuarantineFile",
        ),
        ("unrestrict_app_execution", json!({}), "UnrestrictCodeExecution"),
        ("isolate", json!({}), "Isolate"),
        ("release", json!({}), "Unisolate"),
    ];
    for (action, extra, defender_type) in cases {
        let id = w.send(&device_action(FULL, &machine, action, extra)).await;
        let done = w.until_completed(&id, SIX_MINUTES).await;
        assert_eq!(done["outcome"]["code"], "succeeded", "{action}: {done}");
        assert_eq!(done["outcome"]["result"]["type"], defender_type, "{action}");
    }
    let state = w.device(FULL, &machine);
    assert!(!state.isolated && !state.code_execution_restricted, "{state:?}");
    let types: Vec<&str> = state.actions.iter().map(|a| a.action_type.as_str()).collect();
    assert_eq!(types.len(), 7, "one Defender action per request: {types:?}");
}

#[tokio::test]
async fn a_repeated_delivery_gives_one_request_and_one_action() {
    let w = World::start().await;
    let (machine, _) = w.windows_machine(FULL).await;
    let event = device_action(FULL, &machine, "isolate", json!({}));
    let first = w.send_as(&event, KEY, "delivery-1").await;
    let again = w.send_as(&event, KEY, "delivery-1").await;
    assert_eq!(first, again, "the same delivery is the same request");
    w.until_completed(&first, SIX_MINUTES).await;
    assert_eq!(w.device(FULL, &machine).actions.len(), 1);

    // A second request while the first's action is pending reuses it: no new action, its success is shared.
    let w = World::start().await;
    let (machine, _) = w.windows_machine(FULL).await;
    let a = w.send(&event_for(&machine)).await;
    w.run_once().await;
    let b = w.send(&event_for(&machine)).await;
    w.run_once().await;
    let b_status = w.status(&b).await;
    assert_eq!(b_status["audit"]["machine_action"]["reused"], true, "{b_status}");
    let (a_done, b_done) = (
        w.until_completed(&a, SIX_MINUTES).await,
        w.until_completed(&b, SIX_MINUTES).await,
    );
    assert_eq!(a_done["outcome"]["code"], "succeeded");
    assert_eq!(b_done["outcome"]["code"], "succeeded");
    assert_eq!(
        a_done["outcome"]["result"]["machine_action_id"],
        b_done["outcome"]["result"]["machine_action_id"]
    );
    assert_eq!(w.device(FULL, &machine).actions.len(), 1, "one action for both");
}

fn event_for(machine: &str) -> Value {
    device_action(FULL, machine, "isolate", json!({}))
}

/// Two requests naming one device two ways (different FIFO groups) run at once: both see nothing pending, both
/// ask Defender. Whichever way Defender answers the second — the pending action, or 400 "already in progress" —
/// there is one action and both requests succeed with it.
#[tokio::test]
async fn defenders_already_in_progress_answer_is_the_earlier_actions_success() {
    for repeat in [RepeatWhilePending::Error, RepeatWhilePending::Existing] {
        let w = World::start().await;
        behave(&w, vec![], repeat);
        let (machine, name) = w.windows_machine(FULL).await;
        // Both POSTs wait, so both listings happen before either action exists.
        w.sandbox.add_faults(vec![FaultRule {
            path: "/api/machines/*/isolate".into(),
            method: Some("POST".into()),
            fault: FaultKind::Delay { millis: 400 },
            probability: None,
            nth_call: None,
            max_times: Some(2),
        }]);
        let by_id = w.send(&device_action(FULL, &machine, "isolate", json!({}))).await;
        let by_name = w
            .send(&json!({"type": "device_action.v1", "data": {"tenant_id": FULL, "device": {"dns_name": name}, "action": "isolate", "comment": "EDR: ransomware"}}))
            .await;
        let requests = w
            .requests
            .receive(10, Duration::from_secs(60))
            .await
            .expect("receive");
        assert_eq!(requests.len(), 2, "two groups, both delivered at once");
        let (a, b) = tokio::join!(
            w.executor.handle_message(&requests[0].body, 1),
            w.executor.handle_message(&requests[1].body, 1)
        );
        assert_eq!(
            (a, b),
            (
                action_executor::Disposition::Done,
                action_executor::Disposition::Done
            )
        );
        assert_eq!(
            w.device(FULL, &machine).actions.len(),
            1,
            "{repeat:?}: one action, never two"
        );
        let outcomes = [
            w.until_completed(&by_id, SIX_MINUTES).await,
            w.until_completed(&by_name, SIX_MINUTES).await,
        ];
        for done in &outcomes {
            assert_eq!(done["outcome"]["code"], "succeeded", "{repeat:?}: {done}");
        }
        if repeat == RepeatWhilePending::Error {
            let refused = outcomes
                .iter()
                .flat_map(|o| o["audit"]["calls"].as_array().cloned().unwrap_or_default())
                .filter(|c| c["result"] == "ActiveRequestAlreadyExists")
                .count();
            assert_eq!(
                refused, 1,
                "one 400 ActiveRequestAlreadyExists, recorded, not a failure"
            );
        }
        assert!(w.device(FULL, &machine).isolated);
    }
}

#[tokio::test]
async fn a_release_after_a_pending_isolate_leaves_the_device_released() {
    // The isolate stays pending ten minutes (an offline device); the release would complete first.
    let rules = || {
        vec![
            rule("Isolate", 600, ActionEnd::Succeeded),
            rule("Unisolate", 5, ActionEnd::Succeeded),
        ]
    };

    // Control: the sandbox reproduces the reported bug when nobody cancels the stale isolate.
    let w = World::start().await;
    behave(&w, rules(), RepeatWhilePending::Error);
    let (machine, _) = w.windows_machine(FULL).await;
    let tenant = FULL.parse().expect("tenant");
    use mde_defender::api::{IsolationType, ResponseAction};
    w.client
        .machine_action(
            &tenant,
            &machine,
            &ResponseAction::Isolate(IsolationType::Full),
            "c",
        )
        .await
        .expect("isolate");
    w.client
        .machine_action(&tenant, &machine, &ResponseAction::Unisolate, "c")
        .await
        .expect("release");
    w.advance(Duration::from_secs(900));
    assert!(
        w.device(FULL, &machine).isolated,
        "without a cancel the stale isolate wins"
    );

    let w = World::start().await;
    behave(&w, rules(), RepeatWhilePending::Error);
    let (machine, _) = w.windows_machine(FULL).await;
    let isolate = w.send(&device_action(FULL, &machine, "isolate", json!({}))).await;
    w.run_once().await;
    let release = w.send(&device_action(FULL, &machine, "release", json!({}))).await;
    let released = w.until_completed(&release, MINUTE).await;
    assert_eq!(released["outcome"]["code"], "succeeded", "{released}");
    assert_eq!(
        calls_named(&released["audit"], "mde.machineactions.cancel").len(),
        1,
        "the pending isolate was cancelled first"
    );
    let isolated = w.until_completed(&isolate, MINUTE).await;
    assert_eq!(isolated["outcome"]["code"], "action_cancelled", "{isolated}");
    w.advance(Duration::from_secs(900));
    assert!(
        !w.device(FULL, &machine).isolated,
        "released, and it stays released"
    );
}

#[tokio::test]
async fn a_missing_permission_ends_the_request_with_the_permission_and_the_consent_url() {
    let w = World::start().await;
    let (machine, _) = w.windows_machine(PARTIAL).await;
    let id = w
        .send(&device_action(PARTIAL, &machine, "isolate", json!({})))
        .await;
    let done = w.until_completed(&id, MINUTE).await;
    let outcome = &done["outcome"];
    assert_eq!(outcome["code"], "permission_missing", "{done}");
    assert_eq!(outcome["permission"], "Machine.Isolate");
    let url = outcome["consent_url"].as_str().expect("consent url");
    assert!(url.contains(PARTIAL) && url.contains("adminconsent"), "{url}");
    assert!(w.device(PARTIAL, &machine).actions.is_empty(), "nothing done");
}

#[tokio::test]
async fn transient_5xx_and_429_are_retried_and_the_request_completes_once() {
    let w = World::start().await;
    let (machine, _) = w.windows_machine(FULL).await;
    // Three 503s outlast the client's two retries: the request goes back to the queue. Then a 429 the client
    // waits out, then success.
    w.sandbox.add_faults(vec![
        FaultRule {
            path: "/api/machines/*/isolate".into(),
            method: Some("POST".into()),
            fault: FaultKind::Status { status: 503 },
            probability: None,
            nth_call: None,
            max_times: Some(3),
        },
        FaultRule {
            path: "/api/machines/*/isolate".into(),
            method: Some("POST".into()),
            fault: FaultKind::TooManyRequests {
                retry_after_seconds: 1,
            },
            probability: None,
            nth_call: Some(4),
            max_times: Some(1),
        },
    ]);
    let id = w.send(&device_action(FULL, &machine, "isolate", json!({}))).await;
    let (requests, _) = w.run_once().await;
    assert_eq!(requests.retried, 1, "back to the queue");
    let running = w.status(&id).await;
    assert_eq!(running["status"], "running");
    assert!(
        running["audit"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("503") || e.contains("failed after retries")),
        "{running}"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    let done = w.until_completed(&id, SIX_MINUTES).await;
    assert_eq!(done["outcome"]["code"], "succeeded", "{done}");
    assert_eq!(done["audit"]["attempts"], 2);
    assert_eq!(w.device(FULL, &machine).actions.len(), 1, "exactly one action");
    assert!(
        w.calls_to("POST", "/isolate").contains(&429),
        "the 429 was met and waited out"
    );
}

#[tokio::test]
async fn a_dry_run_key_gets_the_plan_and_defender_gets_no_write() {
    let w = World::start().await;
    let (machine, _) = w.windows_machine(FULL).await;
    let id = w
        .send_as(
            &device_action(FULL, &machine, "isolate", json!({})),
            DRY_KEY,
            "dry-1",
        )
        .await;
    w.run_once().await;
    let done = w.status_as(&id, DRY_KEY).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["outcome"]["code"], "planned", "{done}");
    let planned = calls_named(&done["audit"], "mde.machines.isolate");
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0]["result"], "planned");
    assert!(
        w.calls_to("POST", "/machines/").is_empty(),
        "no write reached Defender"
    );
    assert!(w.device(FULL, &machine).actions.is_empty());
}

#[tokio::test]
async fn cancel_stops_the_pending_action_and_says_when_there_is_none() {
    let w = World::start().await;
    behave(
        &w,
        vec![rule("RunAntiVirusScan", 3600, ActionEnd::Succeeded)],
        RepeatWhilePending::Error,
    );
    let (machine, _) = w.windows_machine(FULL).await;
    let cancel = || {
        device_action(
            FULL,
            &machine,
            "cancel",
            json!({"cancel_action": "antivirus_scan"}),
        )
    };
    let nothing = w.send(&cancel()).await;
    let done = w.until_completed(&nothing, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "nothing_to_cancel", "{done}");

    let scan = w
        .send(&device_action(FULL, &machine, "antivirus_scan", json!({})))
        .await;
    w.run_once().await;
    let cancelled = w.send(&cancel()).await;
    let done = w.until_completed(&cancelled, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "succeeded", "{done}");
    let scanned = w.until_completed(&scan, MINUTE).await;
    assert_eq!(scanned["outcome"]["code"], "action_cancelled");
    let state = w.device(FULL, &machine);
    assert_eq!(state.actions[0].status, "Cancelled");
}

#[tokio::test]
async fn devices_that_cannot_be_resolved_are_outcomes_with_a_reason() {
    let w = World::start().await;
    let unknown = "0".repeat(40);
    let id = w.send(&device_action(FULL, &unknown, "isolate", json!({}))).await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "device_not_found", "{done}");

    let machines = w.machines(FULL).await;
    let (a, b) = (&machines[0], &machines[1]);
    let at = w.sandbox.now() - time::Duration::hours(2);
    let ip = "10.99.0.7";
    for m in [a, b] {
        w.sandbox
            .add_ip_lease(
                FULL,
                &m.id,
                ip,
                at - time::Duration::minutes(5),
                Some(at + time::Duration::minutes(5)),
            )
            .expect("lease");
    }
    let at_text = at
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let by_ip = |ip: &str| json!({"type": "device_action.v1", "data": {"tenant_id": FULL, "device": {"ip": ip, "at": at_text}, "action": "isolate", "comment": "x"}});
    let id = w.send(&by_ip(ip)).await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "device_ambiguous", "{done}");
    assert_eq!(
        done["outcome"]["result"]["machine_ids"].as_array().map(Vec::len),
        Some(2)
    );
    let id = w.send(&by_ip("10.99.0.8")).await;
    let done = w.until_completed(&id, MINUTE).await;
    assert_eq!(done["outcome"]["code"], "device_not_found", "{done}");
    assert!(w.calls_to("POST", "/isolate").is_empty(), "nothing acted on");
}

#[tokio::test]
async fn defenders_end_states_and_the_polling_limit_are_outcomes() {
    let w = World::start().await;
    behave(
        &w,
        vec![
            rule("CollectInvestigationPackage", 5, ActionEnd::Failed),
            rule("RunAntiVirusScan", 5, ActionEnd::TimeOut),
            rule("RestrictCodeExecution", 100_000, ActionEnd::Succeeded),
        ],
        RepeatWhilePending::Error,
    );
    let (machine, _) = w.windows_machine(FULL).await;
    for (action, code) in [
        ("collect_investigation_package", "action_failed"),
        ("antivirus_scan", "action_timed_out"),
    ] {
        let id = w.send(&device_action(FULL, &machine, action, json!({}))).await;
        let done = w.until_completed(&id, MINUTE).await;
        assert_eq!(done["outcome"]["code"], code, "{done}");
    }
    // Restrictions are polled four hours by default; Defender still says Pending after that.
    let id = w
        .send(&device_action(
            FULL,
            &machine,
            "restrict_app_execution",
            json!({}),
        ))
        .await;
    let done = w.until_completed(&id, Duration::from_secs(3 * 3600)).await;
    assert_eq!(done["outcome"]["code"], "unconfirmed", "{done}");
    assert!(
        done["outcome"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("may still run"))
    );
}

/// A partner retrying an isolation with a new delivery id after the first one completed: the device is isolated
/// already, so the request shares the action that isolated it (one Defender action). After a release, the next
/// isolation is a new action.
#[tokio::test]
async fn an_isolation_of_an_isolated_device_shares_the_action_that_isolated_it() {
    let w = World::start().await;
    let (machine, _) = w.windows_machine(FULL).await;
    let first = w.send_as(&event_for(&machine), KEY, "delivery-1").await;
    let done = w.until_completed(&first, SIX_MINUTES).await;
    assert_eq!(done["outcome"]["code"], "succeeded", "{done}");
    let again = w.send_as(&event_for(&machine), KEY, "delivery-2").await;
    let shared = w.until_completed(&again, SIX_MINUTES).await;
    assert_eq!(shared["outcome"]["code"], "succeeded", "{shared}");
    assert_eq!(
        shared["outcome"]["result"]["already"], done["outcome"]["result"]["machine_action_id"],
        "{shared}"
    );
    assert_eq!(w.device(FULL, &machine).actions.len(), 1, "no second isolation");

    let release = w
        .send_as(
            &device_action(FULL, &machine, "release", json!({})),
            KEY,
            "delivery-3",
        )
        .await;
    let released = w.until_completed(&release, SIX_MINUTES).await;
    assert_eq!(released["outcome"]["code"], "succeeded", "{released}");
    let third = w.send_as(&event_for(&machine), KEY, "delivery-4").await;
    let isolated = w.until_completed(&third, SIX_MINUTES).await;
    assert_eq!(isolated["outcome"]["code"], "succeeded", "{isolated}");
    assert_eq!(
        w.device(FULL, &machine).actions.len(),
        3,
        "isolate, release, isolate"
    );
    assert!(w.device(FULL, &machine).isolated);
}
