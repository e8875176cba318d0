//! Admin endpoints and [`SandboxHandle`] methods for devices: machine action behaviour
//! (`/_sandbox/machine_actions`), the effects in force on a device (`/_sandbox/machines/{id}/state`) and its IP
//! history (`/_sandbox/machines/{id}/ip_history`). Device paths take `?tenant=<tenant id>`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::action_rules::MachineActionBehaviour;
use crate::admin::{bad, unknown_tenant};
use crate::clock::parse_time;
use crate::config::MachineActionSettings;
use crate::device_state::{self, DeviceState};
use crate::error::SandboxError;
use crate::ip_history::IpLease;
use crate::model::Machine;
use crate::server::SandboxHandle;
use crate::state::{AppState, Shared};
use crate::store::TenantData;

/// `GET /_sandbox/machine_actions`: the settings in force.
pub async fn machine_actions(State(state): State<AppState>) -> Json<MachineActionSettings> {
    Json(state.machine_action_settings())
}

/// `POST /_sandbox/machine_actions` `{"rules"?, "repeat_while_pending"?, "pending_seconds"?,
/// "in_progress_seconds"?}`: absent keys keep their values; answers the settings now in force.
pub async fn set_machine_actions(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<MachineActionBehaviour>(&body) {
        Ok(change) => match state.change_machine_actions(change) {
            Ok(settings) => Json(settings).into_response(),
            Err(e) => bad(&e),
        },
        Err(e) => bad(&format!(
            "expected {{\"rules\": [...], \"repeat_while_pending\": \"error\" | \"existing\"}}: {e}"
        )),
    }
}

/// Why a device path was refused.
enum Lookup {
    NoTenantParameter,
    UnknownTenant(String),
    UnknownMachine(String),
}

impl IntoResponse for Lookup {
    fn into_response(self) -> Response {
        match self {
            Self::NoTenantParameter => bad("expected ?tenant=<tenant id>"),
            Self::UnknownTenant(t) => unknown_tenant(&t),
            Self::UnknownMachine(m) => (
                StatusCode::NOT_FOUND,
                Json(json!({"error": {"code": "NotFound", "message": format!("unknown machine '{m}'")}})),
            )
                .into_response(),
        }
    }
}

fn tenant_parameter(query: Option<&str>) -> Result<String, Lookup> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "tenant")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
        .ok_or(Lookup::NoTenantParameter)
}

/// Reads a machine (id or computer name) of a tenant.
fn read<T>(
    state: &Shared,
    tenant: &str,
    machine: &str,
    f: impl FnOnce(&TenantData, &Machine) -> T,
) -> Result<T, Lookup> {
    let world = state.world();
    let data = world
        .tenant(tenant)
        .ok_or_else(|| Lookup::UnknownTenant(tenant.to_owned()))?;
    let found = data
        .machine(machine)
        .ok_or_else(|| Lookup::UnknownMachine(machine.to_owned()))?;
    Ok(f(data, found))
}

/// Changes a machine (id or computer name) of a tenant.
fn write<T>(
    state: &Shared,
    tenant: &str,
    machine: &str,
    f: impl FnOnce(&mut Machine) -> T,
) -> Result<T, Lookup> {
    let mut world = state.world();
    let data = world
        .tenant_mut(tenant)
        .ok_or_else(|| Lookup::UnknownTenant(tenant.to_owned()))?;
    let id = data
        .machine(machine)
        .map(|m| m.id.clone())
        .ok_or_else(|| Lookup::UnknownMachine(machine.to_owned()))?;
    let found = data
        .machines
        .iter_mut()
        .find(|m| m.id == id)
        .ok_or_else(|| Lookup::UnknownMachine(machine.to_owned()))?;
    Ok(f(found))
}

fn state_of(state: &Shared, tenant: &str, machine: &str) -> Result<DeviceState, Lookup> {
    let now = state.clock.now();
    read(state, tenant, machine, |data, m| {
        device_state::of(data, &m.id, now)
    })
}

fn history(m: &Machine) -> serde_json::Value {
    json!({"machine_id": m.id, "ip_history": m.ip_history})
}

/// `GET /_sandbox/machines/{machine_id}/state?tenant=…`: the effects in force (see `device_state`).
pub async fn machine_state(
    State(state): State<AppState>,
    Path(machine): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = tenant_parameter(query.as_deref()).and_then(|t| state_of(&state, &t, &machine));
    match result {
        Ok(s) => Json(s).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /_sandbox/machines/{machine_id}/ip_history?tenant=…`: `{"machine_id", "ip_history": [{ip, from, until}]}`.
pub async fn ip_history(
    State(state): State<AppState>,
    Path(machine): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let result =
        tenant_parameter(query.as_deref()).and_then(|t| read(&state, &t, &machine, |_, m| history(m)));
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseBody {
    ip: String,
    from: String,
    #[serde(default)]
    until: Option<String>,
}

fn lease_of(body: &[u8]) -> Result<IpLease, String> {
    let b: LeaseBody = serde_json::from_slice(body)
        .map_err(|e| format!("expected {{\"ip\", \"from\", \"until\"}} (RFC 3339 times): {e}"))?;
    let time = |s: &str| parse_time(s).ok_or_else(|| format!("'{s}' is not an RFC 3339 time"));
    let until = b.until.as_deref().map(time).transpose()?;
    IpLease::new(&b.ip, time(&b.from)?, until)
}

/// `POST /_sandbox/machines/{machine_id}/ip_history?tenant=…` `{"ip", "from", "until"?}`: appends a lease (absent
/// `until`: still held); answers 201 with the machine's history.
pub async fn add_ip_lease(
    State(state): State<AppState>,
    Path(machine): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let tenant = match tenant_parameter(query.as_deref()) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let lease = match lease_of(&body) {
        Ok(l) => l,
        Err(e) => return bad(&e),
    };
    let result = write(&state, &tenant, &machine, |m| {
        m.ip_history.push(lease);
        history(m)
    });
    match result {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn lookup_error(e: Lookup) -> SandboxError {
    SandboxError::Config(match e {
        Lookup::NoTenantParameter => "no tenant".to_owned(),
        Lookup::UnknownTenant(t) => format!("unknown tenant '{t}'"),
        Lookup::UnknownMachine(m) => format!("unknown machine '{m}'"),
    })
}

impl SandboxHandle {
    /// The machine action settings in force (defaults, rules, repeat behaviour).
    pub fn machine_action_settings(&self) -> MachineActionSettings {
        self.shared.machine_action_settings()
    }

    /// Changes the machine action settings (as `POST /_sandbox/machine_actions`): absent fields keep their values;
    /// rules apply to actions created from now on. Answers the settings now in force.
    pub fn set_machine_action_behaviour(
        &self,
        change: MachineActionBehaviour,
    ) -> Result<MachineActionSettings, SandboxError> {
        self.shared
            .change_machine_actions(change)
            .map_err(SandboxError::Config)
    }

    /// The effects in force on a machine (id or computer name) of `tenant` now; `None` for an unknown tenant or
    /// machine (as `GET /_sandbox/machines/{id}/state`).
    pub fn device_state(&self, tenant: &str, machine_id: &str) -> Option<DeviceState> {
        state_of(&self.shared, tenant, machine_id).ok()
    }

    /// The IP history of a machine of `tenant`; `None` for an unknown tenant or machine.
    pub fn ip_history(&self, tenant: &str, machine_id: &str) -> Option<Vec<IpLease>> {
        read(&self.shared, tenant, machine_id, |_, m| m.ip_history.clone()).ok()
    }

    /// Appends a lease of `ip` from `from` until `until` (`None`: still held) to a machine's IP history (as
    /// `POST /_sandbox/machines/{id}/ip_history`).
    pub fn add_ip_lease(
        &self,
        tenant: &str,
        machine_id: &str,
        ip: &str,
        from: OffsetDateTime,
        until: Option<OffsetDateTime>,
    ) -> Result<(), SandboxError> {
        let lease = IpLease::new(ip, from, until).map_err(SandboxError::Config)?;
        write(&self.shared, tenant, machine_id, |m| m.ip_history.push(lease)).map_err(lookup_error)
    }
}
