//! Every typed operation against the sandbox over real sockets, with the documented (case-sensitive) body names:
//! machines, the machine action lifecycle, indicators, alert and incident updates and comments, hunting.

mod api_support;

use std::net::IpAddr;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use mde_defender::DefenderError;
use mde_defender::api::odata::{MachineProperty, MdeAlertProperty};
use mde_defender::api::{
    GraphAlertUpdate, GraphIncidentUpdate, IndicatorAction, IndicatorType, IsolationType,
    M365dIncidentUpdate, Machine, MdeAlertUpdate, NewIndicator, Query, ResponseAction, ScanType,
};
use mde_sandbox::{Sandbox, SandboxConfig};
use time::OffsetDateTime;

use api_support::*;

async fn machines(client: &mde_defender::DefenderClient) -> Vec<Machine> {
    client
        .machines(&full(), &Query::<MachineProperty>::new())
        .map_ok(|p| futures::stream::iter(p.items.into_iter().map(Ok::<_, DefenderError>)))
        .try_flatten()
        .try_collect()
        .await
        .expect("machines")
}

#[tokio::test]
async fn machines_are_found_by_id_name_and_ip_at_a_time() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let client = client(&sandbox);
    let all = machines(&client).await;
    assert!(!all.is_empty());
    let one = &all[0];
    let by_id = client.machine(&full(), &one.id).await.expect("by id");
    assert_eq!(by_id.computer_dns_name, one.computer_dns_name);
    assert!(by_id.extra.contains_key("ipAddresses"), "unknown fields are kept");
    let name = one.computer_dns_name.clone().expect("name");
    let by_name = client.machines_by_name(&full(), &name).await.expect("by name");
    assert_eq!(
        by_name.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec![one.id.as_str()]
    );
    let ip: IpAddr = one.last_ip_address.as_deref().expect("ip").parse().expect("ip");
    let by_ip = client
        .machines_by_ip(&full(), ip, OffsetDateTime::now_utc())
        .await
        .expect("by ip");
    assert!(by_ip.iter().any(|m| m.id == one.id), "{by_ip:?}");
    let find = api_requests(&sandbox, "/api/machines/findbyip");
    assert_eq!(find.len(), 1);
    assert!(find[0].path.contains(&format!("ip='{ip}'")), "{}", find[0].path);
}

#[tokio::test]
async fn a_machine_action_goes_from_pending_to_succeeded_and_cannot_be_repeated_meanwhile() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let client = client(&sandbox);
    let windows = machines(&client)
        .await
        .into_iter()
        .find(|m| m.os_platform.as_deref().is_some_and(|p| p.starts_with("Windows")))
        .expect("a Windows machine");
    let action = client
        .machine_action(
            &full(),
            &windows.id,
            &ResponseAction::Isolate(IsolationType::Full),
            "contain",
        )
        .await
        .expect("isolate");
    assert_eq!(action.action_type.as_deref(), Some("Isolate"));
    assert_eq!(action.scope.as_deref(), Some("Full"));
    assert!(action.is_pending());
    let body = api_requests(&sandbox, "/api/machines/")
        .into_iter()
        .find(|r| r.path.ends_with("/isolate"))
        .expect("isolate request")
        .body;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json"),
        serde_json::json!({"Comment": "contain", "IsolationType": "Full"})
    );

    let again = client
        .machine_action(
            &full(),
            &windows.id,
            &ResponseAction::Isolate(IsolationType::Full),
            "again",
        )
        .await
        .expect_err("already in progress");
    assert!(
        matches!(&again, DefenderError::Api { status: 400, .. }),
        "{again:?}"
    );

    let pending = client
        .pending_machine_actions(&full(), &windows.id)
        .await
        .expect("pending");
    assert_eq!(
        pending.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        vec![action.id.as_str()]
    );

    sandbox.advance(Duration::from_secs(3600));
    let done = client.get_machine_action(&full(), &action.id).await.expect("get");
    assert_eq!(done.status.as_deref(), Some("Succeeded"));
    assert!(
        client
            .pending_machine_actions(&full(), &windows.id)
            .await
            .expect("none")
            .is_empty()
    );

    for (action, comment) in [
        (ResponseAction::Unisolate, "release"),
        (ResponseAction::RunAntiVirusScan(ScanType::Quick), "scan"),
        (ResponseAction::RestrictCodeExecution, "restrict"),
        (ResponseAction::CollectInvestigationPackage, "collect"),
        (
            ResponseAction::StopAndQuarantineFile {
                sha1: "8f0e8d7c6b5a49382716f5e4d3c2b1a098765432".into(),
            },
            "quarantine",
        ),
    ] {
        let started = client
            .machine_action(&full(), &windows.id, &action, comment)
            .await
            .unwrap_or_else(|e| panic!("{action:?}: {e}"));
        assert_eq!(started.requestor_comment.as_deref(), Some(comment));
    }
    sandbox.advance(Duration::from_secs(3600));
    for action in [ResponseAction::UnrestrictCodeExecution, ResponseAction::Offboard] {
        client
            .machine_action(&full(), &windows.id, &action, "done")
            .await
            .unwrap_or_else(|e| panic!("{action:?}: {e}"));
    }
    let listed: usize = client
        .machine_actions(&full(), &Query::new())
        .map(|p| p.map(|p| p.items.len()).unwrap_or_default())
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    assert_eq!(listed, 8);
}

fn indicator(value: &str, kind: IndicatorType) -> NewIndicator {
    NewIndicator {
        indicator_value: value.into(),
        indicator_type: kind,
        action: IndicatorAction::Block,
        title: format!("block {value}"),
        description: "from the partner".into(),
        application: None,
        expiration_time: Some(OffsetDateTime::now_utc() + time::Duration::days(30)),
        severity: None,
        recommended_actions: None,
        rbac_group_names: None,
        generate_alert: Some(true),
        educate_url: None,
    }
}

#[tokio::test]
async fn indicators_are_submitted_imported_with_per_item_failures_listed_and_deleted() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let client = client(&sandbox);
    let tenant = partial();
    let submitted = client
        .submit_indicator(&tenant, &indicator("evil.example.com", IndicatorType::DomainName))
        .await
        .expect("submit");
    assert_eq!(submitted.indicator_value.as_deref(), Some("evil.example.com"));
    let submit_body = api_requests(&sandbox, "/api/indicators")[0].body.clone();
    // Only documented submit fields are sent: `externalID` is not one.
    assert!(!submit_body.contains("externalID"), "{submit_body}");
    assert!(
        submit_body.contains("\"indicatorValue\":\"evil.example.com\""),
        "{submit_body}"
    );

    let results = client
        .import_indicators(
            &tenant,
            &[
                indicator("203.0.113.7", IndicatorType::IpAddress),
                indicator("not-a-hash", IndicatorType::FileSha1),
            ],
        )
        .await
        .expect("import");
    assert_eq!(results.len(), 2);
    assert!(!results[0].is_failed && results[0].id.is_some());
    assert!(results[1].is_failed, "{:?}", results[1]);
    assert!(
        results[1]
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("not-a-hash"))
    );
    let import = api_requests(&sandbox, "/api/indicators/import");
    assert!(
        import[0].body.starts_with("{\"Indicators\":["),
        "{}",
        import[0].body
    );

    // Ti.ReadWrite sees the application's own indicators only: the two stored ones.
    let own: Vec<_> = client
        .indicators(&tenant, &Query::new())
        .map_ok(|p| futures::stream::iter(p.items.into_iter().map(Ok::<_, DefenderError>)))
        .try_flatten()
        .try_collect()
        .await
        .expect("list");
    assert_eq!(own.len(), 2, "{own:?}");

    let too_many = vec![indicator("203.0.113.8", IndicatorType::IpAddress); 501];
    let err = client
        .import_indicators(&tenant, &too_many)
        .await
        .expect_err("501");
    assert!(matches!(err, DefenderError::InvalidRequest { .. }), "{err:?}");
    assert_eq!(
        api_requests(&sandbox, "/api/indicators/import").len(),
        1,
        "nothing sent"
    );

    client
        .delete_indicator(&tenant, &submitted.id)
        .await
        .expect("delete");
    let imported = results[0].id.clone().expect("id");
    client
        .delete_indicators(&tenant, &[imported])
        .await
        .expect("batch delete");
    let batch = api_requests(&sandbox, "/api/indicators/BatchDelete");
    assert!(
        batch[0].body.starts_with("{\"IndicatorIds\":["),
        "{}",
        batch[0].body
    );
    let err = client
        .delete_indicator(&tenant, &submitted.id)
        .await
        .expect_err("gone");
    assert!(matches!(err, DefenderError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn alerts_and_incidents_are_updated_and_commented_in_every_api() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let client = client(&sandbox);
    let tenant = full();
    let first = client
        .mde_alerts(&tenant, &Query::<MdeAlertProperty>::new().top(1))
        .next()
        .await
        .expect("page")
        .expect("page");
    let alert = &first.items[0];
    let update = MdeAlertUpdate {
        status: Some("InProgress".into()),
        assigned_to: Some("soc@contoso.com".into()),
        comment: Some("looking".into()),
        ..MdeAlertUpdate::default()
    };
    let updated = client
        .update_mde_alert(&tenant, alert.id().expect("an id"), &update)
        .await
        .expect("patch");
    let value: serde_json::Value = serde_json::from_str(updated.raw().get()).expect("json");
    assert_eq!(value["status"], "InProgress");
    assert_eq!(value["assignedTo"], "soc@contoso.com");
    let patch = api_requests(&sandbox, "/api/alerts/")
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("patch request");
    assert_eq!(
        patch.headers.get("content-type").map(String::as_str),
        Some("application/json; charset=utf-8")
    );
    client
        .comment_mde_alert(&tenant, alert.id().expect("an id"), "note")
        .await
        .expect("comment");
    let fetched = client
        .mde_alert(&tenant, alert.id().expect("an id"))
        .await
        .expect("get");
    assert!(fetched.raw().get().contains("\"note\""));

    let incident_id: u64 =
        serde_json::from_str::<serde_json::Value>(alert.raw().get()).expect("json")["incidentId"]
            .as_u64()
            .expect("incident id");
    let incident = client
        .update_m365d_incident(
            &tenant,
            incident_id,
            &M365dIncidentUpdate {
                status: Some("Resolved".into()),
                classification: Some("TruePositive".into()),
                tags: Some(vec!["partner".into()]),
                comment: Some("closed by the partner".into()),
                ..M365dIncidentUpdate::default()
            },
        )
        .await
        .expect("m365d patch");
    assert_eq!(incident.id(), Some(incident_id.to_string().as_str()));
    assert!(
        client
            .m365d_incident(&tenant, incident_id)
            .await
            .expect("get")
            .raw()
            .get()
            .contains("\"Resolved\"")
    );

    let graph_alert = client
        .update_graph_alert(
            &tenant,
            alert.id().expect("an id"),
            &GraphAlertUpdate {
                status: Some("resolved".into()),
                ..GraphAlertUpdate::default()
            },
        )
        .await
        .expect("graph alert patch");
    assert!(graph_alert.raw().get().contains("\"resolved\""));
    let comments = client
        .comment_graph_alert(&tenant, alert.id().expect("an id"), "graph note")
        .await
        .expect("comment");
    assert!(
        comments
            .iter()
            .any(|c| c.comment.as_deref() == Some("graph note"))
    );
    let graph_incident = client
        .update_graph_incident(
            &tenant,
            &incident_id.to_string(),
            &GraphIncidentUpdate {
                custom_tags: Some(vec!["x".into()]),
                ..GraphIncidentUpdate::default()
            },
        )
        .await
        .expect("graph incident patch");
    assert_eq!(graph_incident.id(), Some(incident_id.to_string().as_str()));
    client
        .comment_graph_incident(&tenant, &incident_id.to_string(), "incident note")
        .await
        .expect("incident comment");
    assert!(
        client
            .graph_incident(&tenant, &incident_id.to_string())
            .await
            .is_ok()
    );
    assert!(
        client
            .graph_alert(&tenant, alert.id().expect("an id"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn hunting_queries_run_in_mde_and_graph() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let client = client(&sandbox);
    let mde = client
        .run_mde_query(&full(), "DeviceInfo | take 3")
        .await
        .expect("mde hunting");
    assert_eq!(mde.results.len(), 3);
    assert!(mde.schema.iter().any(|c| c.name == "DeviceName"));
    let graph = client
        .run_graph_hunting_query(&full(), "DeviceInfo | take 2", Some("P7D"))
        .await
        .expect("graph hunting");
    assert_eq!(graph.results.len(), 2);
    assert!(graph.schema.iter().any(|c| c.name == "DeviceId"));
    let bodies: Vec<String> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/run") || r.path.ends_with("/runHuntingQuery"))
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies[0], r#"{"Query":"DeviceInfo | take 3"}"#);
    assert_eq!(bodies[1], r#"{"Query":"DeviceInfo | take 2","Timespan":"P7D"}"#);
    let err = client
        .run_mde_query(&full(), "DeviceInfo | summarize count()")
        .await
        .expect_err("unsupported");
    assert!(matches!(err, DefenderError::Api { status: 400, .. }), "{err:?}");
}
