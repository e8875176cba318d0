//! Device response actions: find the device, look at its actions, then act — reusing a pending action of the same
//! type, cancelling a pending opposite one first, sharing the action that already put the device in the state
//! asked for — and hand the machine action over for polling.
//!
//! Microsoft's behaviour relied on (`shared/defender-api.md` 4.4 and 8):
//! - a repeat of an action while one of its type is pending "returns the pending machine action or HTTP 400"
//!   `ActiveRequestAlreadyExists`: both are the earlier request's action, never a new one and never a failure;
//! - machine actions are listed with `$filter=machineId eq '…'` only (no `or` is documented for MDE); the status
//!   is checked here;
//! - a stale isolate can complete after a later release and leave the device isolated (MicrosoftDocs issues
//!   5903/5904): a release first cancels the device's pending isolate (and an unrestrict a pending restrict, and
//!   the other way round);
//! - a device is found by id or computer name (`GET /api/machines/{id}`), by DNS name (`$filter=computerDnsName
//!   eq`), or by an IP at a time (`findbyip`, 15 minutes either side). A name or an IP that matches several
//!   devices is refused, never guessed.

use std::net::IpAddr;

use mde_contracts::{DeviceAction, DeviceActionV1, DeviceRef, OutcomeCode, TenantId, TrackedAction};
use mde_defender::DefenderClient;
use mde_defender::api::endpoint as ep;
use mde_defender::api::{IsolationType, Machine, MachineAction, ResponseAction, ScanType};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::step::{Calls, Step, already_in_progress, on_error, outcome, planned};

/// The Defender machine action type of a device action.
pub fn action_type(action: DeviceAction) -> &'static str {
    match action {
        DeviceAction::Isolate => "Isolate",
        DeviceAction::Release => "Unisolate",
        DeviceAction::AntivirusScan => "RunAntiVirusScan",
        DeviceAction::RestrictAppExecution => "RestrictCodeExecution",
        DeviceAction::UnrestrictAppExecution => "UnrestrictCodeExecution",
        DeviceAction::CollectInvestigationPackage => "CollectInvestigationPackage",
        DeviceAction::StopAndQuarantineFile => "StopAndQuarantineFile",
        DeviceAction::Cancel => "Cancel",
    }
}

/// The type whose pending action must not outlive this one (isolate ↔ release, restrict ↔ unrestrict).
fn opposite(action_type: &str) -> Option<&'static str> {
    match action_type {
        "Isolate" => Some("Unisolate"),
        "Unisolate" => Some("Isolate"),
        "RestrictCodeExecution" => Some("UnrestrictCodeExecution"),
        "UnrestrictCodeExecution" => Some("RestrictCodeExecution"),
        _ => None,
    }
}

fn response_action(request: &DeviceActionV1) -> Option<ResponseAction> {
    Some(match request.action {
        DeviceAction::Isolate => ResponseAction::Isolate(match request.isolation_type.as_deref() {
            Some("selective") => IsolationType::Selective,
            _ => IsolationType::Full,
        }),
        DeviceAction::Release => ResponseAction::Unisolate,
        DeviceAction::AntivirusScan => ResponseAction::RunAntiVirusScan(match request.scan_type.as_deref() {
            Some("full") => ScanType::Full,
            _ => ScanType::Quick,
        }),
        DeviceAction::RestrictAppExecution => ResponseAction::RestrictCodeExecution,
        DeviceAction::UnrestrictAppExecution => ResponseAction::UnrestrictCodeExecution,
        DeviceAction::CollectInvestigationPackage => ResponseAction::CollectInvestigationPackage,
        DeviceAction::StopAndQuarantineFile => ResponseAction::StopAndQuarantineFile {
            sha1: request.sha1.clone().unwrap_or_default(),
        },
        DeviceAction::Cancel => return None,
    })
}

fn endpoint_of(action: &ResponseAction) -> &'static ep::Endpoint {
    match action {
        ResponseAction::Isolate(_) => &ep::MDE_ISOLATE,
        ResponseAction::Unisolate => &ep::MDE_UNISOLATE,
        ResponseAction::RunAntiVirusScan(_) => &ep::MDE_RUN_AV_SCAN,
        ResponseAction::RestrictCodeExecution => &ep::MDE_RESTRICT,
        ResponseAction::UnrestrictCodeExecution => &ep::MDE_UNRESTRICT,
        ResponseAction::CollectInvestigationPackage => &ep::MDE_COLLECT_PACKAGE,
        ResponseAction::StopAndQuarantineFile { .. } => &ep::MDE_STOP_AND_QUARANTINE,
        ResponseAction::Offboard => &ep::MDE_OFFBOARD,
    }
}

/// Finds the one device a reference names.
pub async fn resolve(
    client: &DefenderClient,
    tenant: &TenantId,
    device: &DeviceRef,
    calls: &mut Calls,
) -> Result<Machine, Step> {
    let (operation, target, found) = if let Some(id) = &device.machine_id {
        let op = ep::MDE_MACHINES_GET.name;
        match client.machine(tenant, id).await {
            Ok(m) => (op, id.clone(), Ok(vec![m])),
            Err(e) => (op, id.clone(), Err(e)),
        }
    } else if let Some(name) = &device.dns_name {
        (
            ep::MDE_MACHINES_LIST.name,
            name.clone(),
            client.machines_by_name(tenant, name).await,
        )
    } else {
        let ip = device.ip.as_deref().unwrap_or_default();
        let at = device.at.as_deref().unwrap_or_default();
        let target = format!("{ip} at {at}");
        let parsed = (ip.parse::<IpAddr>(), OffsetDateTime::parse(at, &Rfc3339));
        let (Ok(ip), Ok(at)) = parsed else {
            return Err(Step::Done(outcome(
                OutcomeCode::InvalidValue,
                format!("the device reference {target} is not an IP address and an RFC 3339 time"),
                serde_json::Value::Null,
            )));
        };
        (
            ep::MDE_MACHINES_FIND_BY_IP.name,
            target,
            client.machines_by_ip(tenant, ip, at).await,
        )
    };
    match found {
        Err(e) => {
            calls.failed(operation, &target, &e);
            Err(on_error(&e, OutcomeCode::DeviceNotFound))
        }
        Ok(mut machines) => {
            calls.ok(
                operation,
                &target,
                200,
                Some(format!("{} device(s)", machines.len())),
            );
            match machines.len() {
                1 => Ok(machines.remove(0)),
                0 => Err(Step::Done(outcome(
                    OutcomeCode::DeviceNotFound,
                    format!("no device in tenant {tenant} matches {target}"),
                    serde_json::Value::Null,
                ))),
                n => Err(Step::Done(outcome(
                    OutcomeCode::DeviceAmbiguous,
                    format!("{n} devices match {target}; nothing was done: name the device by machine_id"),
                    json!({"machine_ids": machines.iter().map(|m| m.id.clone()).collect::<Vec<_>>()}),
                ))),
            }
        }
    }
}

/// The device's actions, of every status: the pending ones, and the state the toggles left it in.
async fn actions(
    client: &DefenderClient,
    tenant: &TenantId,
    machine_id: &str,
    calls: &mut Calls,
) -> Result<Vec<MachineAction>, Step> {
    let op = ep::MDE_MACHINE_ACTIONS_LIST.name;
    match client.device_machine_actions(tenant, machine_id).await {
        Ok(all) => {
            let pending = all.iter().filter(|a| a.is_pending()).count();
            calls.ok(
                op,
                machine_id,
                200,
                Some(format!("{pending} pending of {}", all.len())),
            );
            Ok(all)
        }
        Err(e) => {
            calls.failed(op, machine_id, &e);
            Err(on_error(&e, OutcomeCode::DeviceNotFound))
        }
    }
}

/// The action that put the device in the state `kind` asks for, when it is there: of the toggle pair (isolate ↔
/// release, restrict ↔ unrestrict), the action that succeeded last is of `kind` (and of `scope`, when given).
/// Ordered here by creation time, as Microsoft documents no list order. A repeat of a request, or a partner
/// retrying with a new delivery id, then shares that action instead of asking Defender again.
fn already_in_state<'a>(
    actions: &'a [MachineAction],
    kind: &str,
    scope: Option<&str>,
) -> Option<&'a MachineAction> {
    let other = opposite(kind)?;
    let (_, latest) = actions
        .iter()
        .filter(|a| a.status.as_deref() == Some("Succeeded"))
        .filter(|a| matches!(a.action_type.as_deref(), Some(t) if t == kind || t == other))
        .filter_map(|a| {
            let created = OffsetDateTime::parse(a.creation_date_time_utc.as_deref()?, &Rfc3339).ok()?;
            Some((created, a))
        })
        .max_by_key(|(created, _)| *created)?;
    let same_scope = match (scope, latest.scope.as_deref()) {
        (Some(asked), Some(had)) => asked.eq_ignore_ascii_case(had),
        _ => true,
    };
    (latest.action_type.as_deref() == Some(kind) && same_scope).then_some(latest)
}

fn tracked(
    action: &MachineAction,
    machine_id: &str,
    reused: bool,
    poll_until: OffsetDateTime,
) -> TrackedAction {
    TrackedAction {
        id: action.id.clone(),
        action_type: action.action_type.clone().unwrap_or_default(),
        machine_id: machine_id.to_owned(),
        status: action.status.clone().unwrap_or_else(|| "Pending".into()),
        reused,
        poll_until: crate::step::rfc3339(poll_until),
    }
}

/// Cancels the pending actions given (their permission is the cancelled type's).
async fn cancel_all(
    client: &DefenderClient,
    tenant: &TenantId,
    actions: &[&MachineAction],
    comment: &str,
    calls: &mut Calls,
) -> Result<Vec<String>, Step> {
    let op = ep::MDE_MACHINE_ACTIONS_CANCEL.name;
    let mut cancelled = Vec::new();
    for action in actions {
        let what = format!(
            "{} {}",
            action.action_type.as_deref().unwrap_or("action"),
            action.id
        );
        if calls.dry_run {
            calls.planned(op, &action.id, format!("cancel the pending {what}"));
            continue;
        }
        match client.cancel_machine_action(tenant, &action.id, comment).await {
            Ok(_) => {
                calls.ok(op, &action.id, 200, Some(format!("cancelled {what}")));
                cancelled.push(action.id.clone());
            }
            Err(e) => {
                calls.failed(op, &action.id, &e);
                // It ended between the listing and the cancel: nothing is pending any more, which is what the
                // cancel was for. Anything else ends or retries the request.
                if !matches!(&e, mde_defender::DefenderError::Api { status: 400, .. }) {
                    return Err(on_error(&e, OutcomeCode::NotFound));
                }
            }
        }
    }
    Ok(cancelled)
}

/// Performs a device action up to the point where Defender has a machine action for it.
pub async fn perform(
    client: &DefenderClient,
    tenant: &TenantId,
    request: &DeviceActionV1,
    poll_until: OffsetDateTime,
    calls: &mut Calls,
) -> Step {
    let machine = match resolve(client, tenant, &request.device, calls).await {
        Ok(m) => m,
        Err(step) => return step,
    };
    let all = match actions(client, tenant, &machine.id, calls).await {
        Ok(all) => all,
        Err(step) => return step,
    };
    let pending: Vec<MachineAction> = all.iter().filter(|a| a.is_pending()).cloned().collect();
    let of_type = |t: &str| -> Vec<&MachineAction> {
        pending
            .iter()
            .filter(|a| a.action_type.as_deref() == Some(t))
            .collect()
    };
    let Some(action) = response_action(request) else {
        let target = request.cancel_action.map(action_type).unwrap_or_default();
        let to_cancel = of_type(target);
        if to_cancel.is_empty() {
            return Step::Done(outcome(
                OutcomeCode::NothingToCancel,
                format!("device {} has no pending {target} action", machine.id),
                json!({"machine_id": machine.id}),
            ));
        }
        return match cancel_all(client, tenant, &to_cancel, &request.comment, calls).await {
            Err(step) => step,
            Ok(_) if calls.dry_run => planned(json!({"machine_id": machine.id})),
            Ok(ids) => Step::Done(outcome(
                OutcomeCode::Succeeded,
                format!(
                    "cancelled the pending {target} action(s) of device {}",
                    machine.id
                ),
                json!({"machine_id": machine.id, "cancelled": ids}),
            )),
        };
    };
    let kind = action_type(request.action);
    if let Some(earlier) = of_type(kind).first() {
        if calls.dry_run {
            calls.planned(
                "reuse",
                &earlier.id,
                format!("follow the pending {kind} action {} (no new action)", earlier.id),
            );
            return planned(json!({"machine_id": machine.id}));
        }
        return Step::Wait(tracked(earlier, &machine.id, true, poll_until));
    }
    if let Some(other) = opposite(kind) {
        let stale = of_type(other);
        if !stale.is_empty() {
            let comment = format!("mde-bridge: superseded by {kind} ({})", request.comment);
            if let Err(step) = cancel_all(client, tenant, &stale, &comment, calls).await {
                return step;
            }
        }
    }
    let scope = match &action {
        ResponseAction::Isolate(IsolationType::Selective) => Some("Selective"),
        ResponseAction::Isolate(IsolationType::Full) => Some("Full"),
        _ => None,
    };
    if let Some(done) = already_in_state(&all, kind, scope) {
        let what = format!(
            "device {} is already in the state a {kind} asks for: action {} succeeded",
            machine.id, done.id
        );
        if calls.dry_run {
            calls.planned("reuse", &done.id, format!("{what} (no new action)"));
            return planned(json!({"machine_id": machine.id}));
        }
        return Step::Done(outcome(
            OutcomeCode::Succeeded,
            what,
            json!({"machine_id": machine.id, "already": done.id}),
        ));
    }
    let endpoint = endpoint_of(&action);
    if calls.dry_run {
        calls.planned(
            endpoint.name,
            &machine.id,
            format!("{kind} device {}", machine.id),
        );
        return planned(json!({"machine_id": machine.id}));
    }
    match client
        .machine_action(tenant, &machine.id, &action, &request.comment)
        .await
    {
        Ok(created) => {
            let reused = pending.iter().any(|p| p.id == created.id);
            calls.ok(
                endpoint.name,
                &machine.id,
                201,
                Some(format!("machine action {}", created.id)),
            );
            Step::Wait(tracked(&created, &machine.id, reused, poll_until))
        }
        Err(e) if already_in_progress(&e) => {
            calls.failed(endpoint.name, &machine.id, &e);
            // The earlier request's action: find it to follow it; if it ended meanwhile, it is still the one.
            match actions(client, tenant, &machine.id, calls).await {
                Ok(now) => match now
                    .iter()
                    .find(|a| a.is_pending() && a.action_type.as_deref() == Some(kind))
                {
                    Some(earlier) => Step::Wait(tracked(earlier, &machine.id, true, poll_until)),
                    None => Step::Done(outcome(
                        OutcomeCode::Succeeded,
                        format!(
                            "Defender reports a {kind} action on device {} already in progress: an earlier \
                             request's action, which this request shares",
                            machine.id
                        ),
                        json!({"machine_id": machine.id, "already_in_progress": true}),
                    )),
                },
                Err(step) => step,
            }
        }
        Err(e) => {
            calls.failed(endpoint.name, &machine.id, &e);
            on_error(&e, OutcomeCode::DeviceNotFound)
        }
    }
}

/// The outcome a terminal machine action status means (Succeeded, Failed, TimeOut, Cancelled); `None` while it
/// is Pending or InProgress.
pub fn terminal_outcome(status: &str) -> Option<OutcomeCode> {
    Some(match status {
        "Succeeded" => OutcomeCode::Succeeded,
        "Failed" => OutcomeCode::ActionFailed,
        "TimeOut" => OutcomeCode::ActionTimedOut,
        "Cancelled" => OutcomeCode::ActionCancelled,
        _ => return None,
    })
}
