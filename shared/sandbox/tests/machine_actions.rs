//! Machine actions as an action executor meets them: per-type / per-machine timing, `Failed` and `TimeOut` ends,
//! repeats while pending, the device state that completion order leaves behind, and cancel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, MDE, code, machine_of, values, with_roles};
use mde_sandbox::{
    ActionEnd, DEMO_TENANT_FULL, MachineActionBehaviour, MachineActionRule, RepeatWhilePending, SandboxConfig,
};
use serde_json::{Value, json};

async fn act(env: &Env, token: &str, machine: &str, segment: &str, body: Value) -> (u16, Value) {
    env.post(token, &format!("/api/machines/{machine}/{segment}"), body)
        .await
}

async fn status_of(env: &Env, token: &str, id: &str) -> Value {
    let (status, action) = env.get(token, &format!("/api/machineactions/{id}")).await;
    assert_eq!(status, 200, "{action}");
    action
}

fn id(action: &Value) -> String {
    action["id"].as_str().unwrap().to_owned()
}

fn isolate() -> Value {
    json!({"Comment": "contain", "IsolationType": "Full"})
}

fn comment() -> Value {
    json!({"Comment": "c"})
}

#[tokio::test]
async fn rules_set_timing_and_end_per_type_and_machine_and_never_rewrite_history() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let w11 = machine_of(&env, &token, "Windows11").await;
    let w10 = machine_of(&env, &token, "Windows10").await;
    let (status, settings) = env
        .admin(
            "/_sandbox/machine_actions",
            json!({"rules": [
                {"action_type": "Isolate", "machine_id": w11.to_uppercase(), "pending_seconds": 10, "in_progress_seconds": 20, "end": "Failed"},
                {"action_type": "RunAntiVirusScan", "pending_seconds": 30, "in_progress_seconds": 0, "end": "TimeOut"},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(
        settings["repeat_while_pending"], "error",
        "absent keys keep their values"
    );
    assert_eq!(settings["pending_seconds"], 60);
    let (_, shown) = env.admin_get("/_sandbox/machine_actions").await;
    assert_eq!(shown, settings);
    let (_, config) = env.admin_get("/_sandbox/config").await;
    assert_eq!(config["config"]["machine_actions"], settings);

    let (_, failing) = act(&env, &token, &w11, "isolate", isolate()).await;
    let (_, default) = act(&env, &token, &w10, "isolate", isolate()).await;
    let (_, scan) = act(
        &env,
        &token,
        &w11,
        "runAntiVirusScan",
        json!({"Comment": "c", "ScanType": "Quick"}),
    )
    .await;
    assert_eq!(failing["status"], "Pending");
    env.sandbox.advance(Duration::from_secs(15));
    assert_eq!(
        status_of(&env, &token, &id(&failing)).await["status"],
        "InProgress"
    );
    env.sandbox.advance(Duration::from_secs(20));
    let failed = status_of(&env, &token, &id(&failing)).await;
    assert_eq!(failed["status"], "Failed");
    assert_eq!(
        status_of(&env, &token, &id(&default)).await["status"],
        "Pending",
        "no rule for this machine: the 60 s default"
    );
    assert_eq!(status_of(&env, &token, &id(&scan)).await["status"], "TimeOut");
    let (_, listed) = env
        .get(&token, "/api/machineactions?$filter=status+eq+'Failed'")
        .await;
    assert_eq!(values(&listed).len(), 1);
    assert_eq!(values(&listed)[0]["id"], failing["id"]);

    // A failed action does not block a new one, created under the same rule...
    let (status, second) = act(&env, &token, &w11, "isolate", isolate()).await;
    assert_eq!(status, 201, "{second}");
    // ...and replacing the rules does not rewrite it.
    let settings = env
        .sandbox
        .set_machine_action_behaviour(MachineActionBehaviour {
            rules: Some(Vec::new()),
            ..MachineActionBehaviour::default()
        })
        .unwrap();
    assert!(settings.rules.is_empty());
    env.sandbox.advance(Duration::from_secs(31));
    assert_eq!(status_of(&env, &token, &id(&second)).await["status"], "Failed");
    let (_, third) = act(&env, &token, &w11, "isolate", isolate()).await;
    env.sandbox.advance(Duration::from_secs(360));
    assert_eq!(status_of(&env, &token, &id(&third)).await["status"], "Succeeded");
}

#[tokio::test]
async fn machine_action_settings_are_validated() {
    let env = Env::demo().await;
    for body in [
        json!({"repeat_while_pending": "sometimes"}),
        json!({"rules": [{"action_type": "isolate", "pending_seconds": 1, "in_progress_seconds": 1}]}),
        json!({"rules": [{"pending_seconds": 1}]}),
        json!({"rules": [], "unknown": true}),
        json!({"pending_seconds": u64::MAX}),
    ] {
        let (status, answer) = env.admin("/_sandbox/machine_actions", body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
    }
    let mut config = SandboxConfig::default();
    config.machine_actions.rules.push(MachineActionRule {
        action_type: Some("Reboot".into()),
        machine_id: None,
        pending_seconds: 1,
        in_progress_seconds: 1,
        end: ActionEnd::Failed,
    });
    assert!(mde_sandbox::Sandbox::start(config).await.is_err());
}

#[tokio::test]
async fn a_repeat_while_pending_gets_400_or_the_pending_action() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let machine = machine_of(&env, &token, "Windows11").await;
    let (_, first) = act(&env, &token, &machine, "isolate", isolate()).await;
    let (status, body) = act(&env, &token, &machine, "isolate", isolate()).await;
    assert_eq!((status, code(&body)), (400, "ActiveRequestAlreadyExists"));
    assert_eq!(body["error"]["message"], "Action is already in progress");

    let (status, settings) = env
        .admin(
            "/_sandbox/machine_actions",
            json!({"repeat_while_pending": "existing"}),
        )
        .await;
    assert_eq!(
        (status, &settings["repeat_while_pending"]),
        (200, &json!("existing"))
    );
    env.sandbox.advance(Duration::from_secs(90));
    let (status, again) = act(&env, &token, &machine, "isolate", isolate()).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["id"], first["id"], "the pending action itself");
    assert_eq!(again["status"], "InProgress");
    let (_, unisolate) = act(&env, &token, &machine, "unisolate", comment()).await;
    assert_ne!(unisolate["id"], first["id"], "another type is another action");
    let (_, list) = env
        .get(
            &token,
            &format!("/api/machineactions?$filter=machineId+eq+'{machine}'"),
        )
        .await;
    assert_eq!(values(&list).len(), 2);

    let mut config = common::documented(SandboxConfig::default());
    config.machine_actions.repeat_while_pending = RepeatWhilePending::Existing;
    let env = Env::with(config).await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, first) = act(&env, &token, &machine, "unisolate", comment()).await;
    let (status, again) = act(&env, &token, &machine, "unisolate", comment()).await;
    assert_eq!((status, &again["id"]), (201, &first["id"]));
}

async fn state(env: &Env, machine: &str) -> Value {
    let (status, state) = env
        .admin_get(&format!(
            "/_sandbox/machines/{machine}/state?tenant={DEMO_TENANT_FULL}"
        ))
        .await;
    assert_eq!(status, 200, "{state}");
    let typed = env.sandbox.device_state(DEMO_TENANT_FULL, machine).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), state);
    state
}

#[tokio::test]
async fn a_stale_isolate_that_completes_after_a_later_unisolate_leaves_the_device_isolated() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let machine = machine_of(&env, &token, "Windows11").await;
    env.sandbox
        .set_machine_action_behaviour(MachineActionBehaviour {
            rules: Some(vec![MachineActionRule {
                action_type: Some("Isolate".into()),
                machine_id: None,
                pending_seconds: 600,
                in_progress_seconds: 600,
                end: ActionEnd::Succeeded,
            }]),
            ..MachineActionBehaviour::default()
        })
        .unwrap();
    let (_, isolating) = act(
        &env,
        &token,
        &machine,
        "isolate",
        json!({"Comment": "c", "IsolationType": "Selective"}),
    )
    .await;
    env.sandbox.advance(Duration::from_secs(10));
    let (_, unisolating) = act(&env, &token, &machine, "unisolate", comment()).await;
    env.sandbox.advance(Duration::from_secs(400));
    let now = state(&env, &machine).await;
    assert_eq!(now["machine_id"], machine.as_str());
    assert_eq!(
        (&now["isolated"], &now["isolation_type"]),
        (&json!(false), &Value::Null)
    );
    let actions = now["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2);
    assert_eq!(
        (&actions[0]["id"], &actions[0]["type"], &actions[0]["status"]),
        (&isolating["id"], &json!("Isolate"), &json!("Pending"))
    );
    assert_eq!(actions[0]["completed_at"], Value::Null);
    assert_eq!(
        (&actions[1]["id"], &actions[1]["status"]),
        (&unisolating["id"], &json!("Succeeded"))
    );
    env.sandbox.advance(Duration::from_secs(900));
    let now = state(&env, &machine).await;
    assert_eq!(
        (&now["isolated"], &now["isolation_type"]),
        (&json!(true), &json!("Selective")),
        "the isolate completed last: {now}"
    );

    // Restrict / unrestrict follow the same rule (default timing: 360 s).
    act(&env, &token, &machine, "restrictCodeExecution", comment()).await;
    env.sandbox.advance(Duration::from_secs(360));
    assert_eq!(state(&env, &machine).await["code_execution_restricted"], true);
    act(&env, &token, &machine, "unrestrictCodeExecution", comment()).await;
    env.sandbox.advance(Duration::from_secs(360));
    assert_eq!(state(&env, &machine).await["code_execution_restricted"], false);

    for (path, expected) in [
        (format!("/_sandbox/machines/{machine}/state"), 400),
        (
            format!("/_sandbox/machines/nope/state?tenant={DEMO_TENANT_FULL}"),
            404,
        ),
        (
            format!("/_sandbox/machines/{machine}/state?tenant=00000000-0000-0000-0000-000000000000"),
            404,
        ),
    ] {
        assert_eq!(env.admin_get(&path).await.0, expected, "{path}");
    }
    assert!(env.sandbox.device_state(DEMO_TENANT_FULL, "nope").is_none());
}

#[tokio::test]
async fn cancelling_the_pending_isolate_first_keeps_the_device_unisolated() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let machine = machine_of(&env, &token, "Windows10").await;
    env.sandbox
        .set_machine_action_behaviour(MachineActionBehaviour {
            rules: Some(vec![MachineActionRule {
                action_type: Some("Isolate".into()),
                machine_id: Some(machine.clone()),
                pending_seconds: 600,
                in_progress_seconds: 600,
                end: ActionEnd::Succeeded,
            }]),
            ..MachineActionBehaviour::default()
        })
        .unwrap();
    let (_, isolating) = act(&env, &token, &machine, "isolate", isolate()).await;
    env.sandbox.advance(Duration::from_secs(700));
    let (status, cancelled) = env
        .post(
            &token,
            &format!("/api/machineactions/{}/cancel", id(&isolating)),
            json!({"Comment": "superseded"}),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "Cancelled");
    act(&env, &token, &machine, "unisolate", comment()).await;
    env.sandbox.advance(Duration::from_secs(1800));
    assert_eq!(
        status_of(&env, &token, &id(&isolating)).await["status"],
        "Cancelled",
        "a cancelled action never reaches its end"
    );
    let now = state(&env, &machine).await;
    assert_eq!(now["isolated"], false);
    assert_eq!(now["actions"][0]["status"], "Cancelled");
    assert_eq!(
        now["actions"][0]["completed_at"].as_str().map(|s| s.get(..19)),
        cancelled["cancellationDateTimeUtc"].as_str().map(|s| s.get(..19))
    );
}

#[tokio::test]
async fn cancel_needs_an_active_action_and_the_documented_permission() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let machine = machine_of(&env, &token, "Windows11").await;
    let (_, done) = act(&env, &token, &machine, "collectInvestigationPackage", comment()).await;
    env.sandbox.advance(Duration::from_secs(400));
    let (status, body) = env
        .post(
            &token,
            &format!("/api/machineactions/{}/cancel", id(&done)),
            comment(),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidInput"));
    assert!(body["error"]["message"].as_str().unwrap().contains("Succeeded"));

    let (_, pending) = act(&env, &token, &machine, "isolate", isolate()).await;
    let cancel = format!("/api/machineactions/{}/cancel", id(&pending));
    let read_write = with_roles(&token, &["Machine.Read.All", "Machine.ReadWrite.All"]);
    let (status, body) = env.post(&read_write, &cancel, comment()).await;
    assert_eq!(
        (status, code(&body)),
        (403, "Forbidden"),
        "Machine.ReadWrite.All is not among cancel-machine-action.md's permissions"
    );
    let scan_only = with_roles(&token, &["Machine.Scan"]);
    let (status, body) = env.post(&scan_only, &cancel, comment()).await;
    assert_eq!((status, code(&body)), (403, "Forbidden"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Machine.Isolate")
    );
    let (status, body) = env
        .post(
            &scan_only,
            "/api/machineactions/6f1a6a46-0000-0000-0000-000000000000/cancel",
            comment(),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let isolate_only = with_roles(&token, &["Machine.Isolate"]);
    let (status, body) = env.post(&isolate_only, &cancel, json!({})).await;
    assert_eq!((status, code(&body)), (400, "MissingRequiredParameter"));
    let (status, body) = env.post(&isolate_only, &cancel, comment()).await;
    assert_eq!((status, &body["status"]), (200, &json!("Cancelled")));
}
