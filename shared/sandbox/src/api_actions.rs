//! MDE machine actions: the eight response actions (`201` + MachineAction, `Pending → InProgress →` its end over
//! simulated time, timing and end from `machine_actions.rules`; a repeat while one is pending → 400 or the pending
//! action, per `machine_actions.repeat_while_pending`), and machineactions list / get / cancel.
//!
//! Documented order of the list: `creationDateTimeUtc` descending, then `id`; see `adversarial.list_order` for the
//! others.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::action_rules::RepeatWhilePending;
use crate::api_common::{
    base_url, collection, entity, enum_value, invalid_input, object_body, opt_string, query_options,
};
use crate::api_error::{ApiError, Flavor};
use crate::auth::{Api, Operation, authorize};
use crate::model::MachineAction;
use crate::odata::{self, CollectionSpec, PropType};
use crate::rate_limit::Limits;
use crate::render_mde;
use crate::state::AppState;
use crate::store::{action_status, is_active};

const F: Flavor = Flavor::Mde;
const STANDARD: Limits = Limits {
    per_minute: Some(100),
    per_hour: Some(1500),
};
const READ: &[&str] = &["Machine.Read.All", "Machine.ReadWrite.All"];
const LIST: Operation = Operation {
    api: Api::Mde,
    name: "mde.machineactions.list",
    roles: READ,
    limits: STANDARD,
};
const GET: Operation = Operation {
    api: Api::Mde,
    name: "mde.machineactions.get",
    roles: READ,
    limits: STANDARD,
};
/// The permissions cancel-machine-action.md lists ("one of the following"); `Machine.ReadWrite.All` is not among
/// them. The sandbox also requires the permission of the cancelled action's own type (see [`cancel`]).
const CANCEL: Operation = Operation {
    api: Api::Mde,
    name: "mde.machineactions.cancel",
    roles: &[
        "Machine.CollectForensics",
        "Machine.Isolate",
        "Machine.RestrictExecution",
        "Machine.Scan",
        "Machine.Offboard",
        "Machine.StopAndQuarantine",
        "Machine.LiveResponse",
    ],
    limits: STANDARD,
};

/// One response action: URL segment, MachineAction type, permission, body fields beyond `Comment`.
struct ActionKind {
    segment: &'static str,
    action_type: &'static str,
    op: Operation,
    extra: &'static [&'static str],
    required: &'static [&'static str],
}

const fn op(name: &'static str, roles: &'static [&'static str]) -> Operation {
    Operation {
        api: Api::Mde,
        name,
        roles,
        limits: STANDARD,
    }
}

const ACTIONS: &[ActionKind] = &[
    ActionKind {
        segment: "isolate",
        action_type: "Isolate",
        op: op("mde.machines.isolate", &["Machine.Isolate"]),
        extra: &["IsolationType"],
        required: &["Comment"],
    },
    ActionKind {
        segment: "unisolate",
        action_type: "Unisolate",
        op: op("mde.machines.unisolate", &["Machine.Isolate"]),
        extra: &[],
        required: &["Comment"],
    },
    ActionKind {
        segment: "runAntiVirusScan",
        action_type: "RunAntiVirusScan",
        op: op("mde.machines.runAntiVirusScan", &["Machine.Scan"]),
        extra: &["ScanType"],
        required: &["Comment", "ScanType"],
    },
    ActionKind {
        segment: "restrictCodeExecution",
        action_type: "RestrictCodeExecution",
        op: op(
            "mde.machines.restrictCodeExecution",
            &["Machine.RestrictExecution"],
        ),
        extra: &[],
        required: &["Comment"],
    },
    ActionKind {
        segment: "unrestrictCodeExecution",
        action_type: "UnrestrictCodeExecution",
        op: op(
            "mde.machines.unrestrictCodeExecution",
            &["Machine.RestrictExecution"],
        ),
        extra: &[],
        required: &["Comment"],
    },
    ActionKind {
        segment: "collectInvestigationPackage",
        action_type: "CollectInvestigationPackage",
        op: op(
            "mde.machines.collectInvestigationPackage",
            &["Machine.CollectForensics"],
        ),
        extra: &[],
        required: &["Comment"],
    },
    ActionKind {
        segment: "StopAndQuarantineFile",
        action_type: "StopAndQuarantineFile",
        op: op(
            "mde.machines.stopAndQuarantineFile",
            &["Machine.StopAndQuarantine"],
        ),
        extra: &["Sha1"],
        required: &["Comment", "Sha1"],
    },
    ActionKind {
        segment: "offboard",
        action_type: "Offboard",
        op: op("mde.machines.offboard", &["Machine.Offboard"]),
        extra: &[],
        required: &["Comment"],
    },
];

/// `$filter` properties of machine actions.
pub const SPEC: CollectionSpec = CollectionSpec {
    entity: "microsoft.windowsDefenderATP.api.MachineAction",
    props: &[
        ("id", PropType::Str),
        ("status", PropType::Str),
        ("machineId", PropType::Str),
        ("type", PropType::Str),
        ("requestor", PropType::Str),
        ("creationDateTimeUtc", PropType::DateTime),
        ("lastUpdateDateTimeUtc", PropType::DateTime),
    ],
    expand: &[],
    top_max: Some(10_000),
    count: false,
    or: false,
};

fn action_context(headers: &HeaderMap) -> String {
    format!("{}/api/$metadata#MachineActions/$entity", base_url(headers))
}

/// `POST /api/machines/{id}/{action}`.
pub async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((machine_id, segment)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let kind = ACTIONS
        .iter()
        .find(|a| a.segment.eq_ignore_ascii_case(&segment))
        .ok_or_else(|| {
            ApiError::new(
                F,
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("No such machine action '{segment}'."),
            )
        })?;
    let caller = authorize(&state, &headers, kind.op)?;
    let mut allowed = vec!["Comment"];
    allowed.extend_from_slice(kind.extra);
    let map = object_body(F, &body, &allowed, kind.required)?;
    let comment = opt_string(F, &map, "Comment")?.unwrap_or_default();
    let scope = match kind.action_type {
        "Isolate" => Some(enum_value(
            F,
            "IsolationType",
            &opt_string(F, &map, "IsolationType")?.unwrap_or_else(|| "Full".to_owned()),
            &["Full", "Selective", "UnManagedDevice"],
        )?),
        "RunAntiVirusScan" => Some(enum_value(
            F,
            "ScanType",
            &opt_string(F, &map, "ScanType")?.unwrap_or_default(),
            &["Quick", "Full"],
        )?),
        _ => None,
    };
    let sha1 = opt_string(F, &map, "Sha1")?;
    if let Some(s) = &sha1
        && (s.len() != 40 || !s.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(ApiError::new(
            F,
            StatusCode::BAD_REQUEST,
            "InvalidHashValue",
            format!("Invalid Sha1 '{s}'."),
        ));
    }
    let now = state.clock.now();
    let settings = state.machine_action_settings();
    let mut world = state.world();
    let data = world
        .tenant_mut(&caller.tenant_id)
        .ok_or_else(|| ApiError::not_found(F, "Machine", &machine_id))?;
    let machine = data
        .machine(&machine_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(F, "Machine", &machine_id))?;
    let windows_only = matches!(
        kind.action_type,
        "Offboard" | "RestrictCodeExecution" | "UnrestrictCodeExecution" | "StopAndQuarantineFile"
    );
    let selective = scope.as_deref() == Some("Selective");
    if (windows_only || selective) && !machine.is_windows() {
        return Err(ApiError::new(
            F,
            StatusCode::BAD_REQUEST,
            "OsPlatformNotSupported",
            format!(
                "{} is not supported on {}.",
                kind.action_type, machine.os_platform
            ),
        ));
    }
    let pending = data.actions.iter().find(|a| {
        a.machine_id == machine.id && a.action_type == kind.action_type && is_active(action_status(a, now).0)
    });
    if let Some(pending) = pending {
        // defender-api.md §8: a repeat "returns the pending machine action or HTTP 400".
        return match settings.repeat_while_pending {
            RepeatWhilePending::Error => Err(ApiError::new(
                F,
                StatusCode::BAD_REQUEST,
                "ActiveRequestAlreadyExists",
                "Action is already in progress",
            )),
            RepeatWhilePending::Existing => Ok((
                StatusCode::CREATED,
                Json(entity(
                    action_context(&headers),
                    render_mde::machine_action(pending, now),
                )),
            )
                .into_response()),
        };
    }
    let action = MachineAction {
        id: uuid::Uuid::new_v4().to_string(),
        action_type: kind.action_type.to_owned(),
        scope,
        requestor: caller.app_id.clone(),
        requestor_comment: comment,
        machine_id: machine.id.clone(),
        computer_dns_name: machine.computer_dns_name.clone(),
        creation_time: now,
        cancellation: None,
        related_sha1: sha1,
        timing: settings.resolve(kind.action_type, &machine.id),
    };
    let value = render_mde::machine_action(&action, now);
    tracing::info!(tenant = %caller.tenant_id, machine = %machine.id, action = kind.action_type, "machine action created");
    data.actions.push(action);
    Ok((StatusCode::CREATED, Json(entity(action_context(&headers), value))).into_response())
}

/// `GET /api/machineactions`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, LIST)?;
    let options = query_options(F, query.as_deref(), &SPEC)?;
    let now = state.clock.now();
    let plan = state.adversary.plan(now);
    let records: Vec<Value> = {
        let world = state.world();
        let mut actions: Vec<&MachineAction> = world
            .tenant(&caller.tenant_id)
            .map(|d| d.actions.iter().collect())
            .unwrap_or_default();
        actions.sort_by(|a, b| {
            b.creation_time
                .cmp(&a.creation_time)
                .then_with(|| a.id.cmp(&b.id))
        });
        let all = actions.len();
        plan.arrange(
            &mut actions,
            all,
            |a| a.creation_time,
            |a| action_status(a, now).1,
        );
        actions
            .into_iter()
            .map(|a| render_mde::machine_action(a, now))
            .collect()
    };
    let (page, _) = odata::apply(records, &options, 10_000);
    Ok(collection(
        format!("{}/api/$metadata#MachineActions", base_url(&headers)),
        page,
    ))
}

/// `GET /api/machineactions/{id}`.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, GET)?;
    let now = state.clock.now();
    let world = state.world();
    let action = world
        .tenant(&caller.tenant_id)
        .and_then(|d| d.actions.iter().find(|a| a.id.eq_ignore_ascii_case(&id)))
        .ok_or_else(|| ApiError::not_found(F, "MachineAction", &id))?;
    Ok(Json(entity(
        action_context(&headers),
        render_mde::machine_action(action, now),
    ))
    .into_response())
}

/// `POST /api/machineactions/{id}/cancel` with `{"Comment": "..."}`: only a Pending or InProgress action ("not yet
/// in final state", cancel-machine-action.md) can be cancelled, else 400; a cancelled action never takes effect.
/// Besides one of the page's permissions, the sandbox requires the one of the action's own type (e.g.
/// `Machine.Isolate` to cancel an isolation): the page does not say so, and a client must not count on less.
pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &headers, CANCEL)?;
    let map = object_body(F, &body, &["Comment"], &["Comment"])?;
    let comment = opt_string(F, &map, "Comment")?.unwrap_or_default();
    let now = state.clock.now();
    let mut world = state.world();
    let action = world
        .tenant_mut(&caller.tenant_id)
        .and_then(|d| d.actions.iter_mut().find(|a| a.id.eq_ignore_ascii_case(&id)))
        .ok_or_else(|| ApiError::not_found(F, "MachineAction", &id))?;
    let kind = ACTIONS.iter().find(|k| k.action_type == action.action_type);
    if let Some(kind) = kind
        && !kind.op.roles.iter().any(|r| caller.has_role(r))
    {
        return Err(ApiError::forbidden(
            F,
            format!(
                "Cancelling a {} action needs {}.",
                kind.action_type,
                kind.op.roles.join(" or ")
            ),
        ));
    }
    let (status, _) = action_status(action, now);
    if !is_active(status) {
        return Err(invalid_input(
            F,
            format!("Only a Pending or InProgress action can be cancelled; this one is {status}."),
        ));
    }
    action.cancellation = Some((caller.app_id.clone(), comment, now));
    Ok(Json(entity(
        action_context(&headers),
        render_mde::machine_action(action, now),
    ))
    .into_response())
}
