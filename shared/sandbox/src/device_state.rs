//! Which response actions are in force on a device, derived from its machine actions.
//!
//! Effects apply in the order the actions reached `Succeeded` (their completion time, not their creation time), so
//! a slow isolate that completes after a later unisolate leaves the device isolated, as users reported
//! (defender-api.md §8, MicrosoftDocs microsoft-365-docs issues 5903/5904). Failed, timed-out and cancelled actions
//! have no effect.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::MachineAction;
use crate::store::{TenantData, action_status, is_active};

/// The effects in force on one device (`GET /_sandbox/machines/{id}/state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    /// The machine id.
    pub machine_id: String,
    /// Whether the last isolate / unisolate to succeed was an isolate.
    pub isolated: bool,
    /// That isolate's `IsolationType` (`Full`, `Selective`, `UnManagedDevice`); null when not isolated.
    pub isolation_type: Option<String>,
    /// Whether the last restrict / unrestrict to succeed was a restrict.
    pub code_execution_restricted: bool,
    /// Every action of the device, oldest created first.
    pub actions: Vec<DeviceAction>,
}

/// One machine action as the device state shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAction {
    /// Action id.
    pub id: String,
    /// MachineAction type.
    #[serde(rename = "type")]
    pub action_type: String,
    /// Status now.
    pub status: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it reached its final status (`Succeeded`, `Failed`, `TimeOut`, `Cancelled`); null before.
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
}

/// The state of machine `machine_id` (its exact id) of `data` at `now`.
pub fn of(data: &TenantData, machine_id: &str, now: OffsetDateTime) -> DeviceState {
    let mut actions: Vec<&MachineAction> = data
        .actions
        .iter()
        .filter(|a| a.machine_id == machine_id)
        .collect();
    actions.sort_by(|a, b| {
        a.creation_time
            .cmp(&b.creation_time)
            .then_with(|| a.id.cmp(&b.id))
    });
    let listed: Vec<DeviceAction> = actions
        .iter()
        .map(|a| {
            let (status, at) = action_status(a, now);
            DeviceAction {
                id: a.id.clone(),
                action_type: a.action_type.clone(),
                status: status.to_owned(),
                created_at: a.creation_time,
                completed_at: (!is_active(status)).then_some(at),
            }
        })
        .collect();
    let mut succeeded: Vec<(OffsetDateTime, &MachineAction)> = actions
        .iter()
        .zip(&listed)
        .filter(|(_, l)| l.status == "Succeeded")
        .filter_map(|(a, l)| l.completed_at.map(|t| (t, *a)))
        .collect();
    // Stable: actions completing at the same instant apply in creation order.
    succeeded.sort_by_key(|(at, _)| *at);
    let mut state = DeviceState {
        machine_id: machine_id.to_owned(),
        isolated: false,
        isolation_type: None,
        code_execution_restricted: false,
        actions: listed,
    };
    for (_, action) in succeeded {
        match action.action_type.as_str() {
            "Isolate" => {
                state.isolated = true;
                state.isolation_type = action.scope.clone().or_else(|| Some("Full".to_owned()));
            }
            "Unisolate" => {
                state.isolated = false;
                state.isolation_type = None;
            }
            "RestrictCodeExecution" => state.code_execution_restricted = true,
            "UnrestrictCodeExecution" => state.code_execution_restricted = false,
            _ => {}
        }
    }
    state
}
