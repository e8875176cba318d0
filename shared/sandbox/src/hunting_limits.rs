//! Microsoft's documented advanced-hunting limits, for the three hunting endpoints (defender-api.md §4.6, §5.2,
//! §6.3), and the admin endpoint that sets them (`GET` / `POST /_sandbox/hunting`).
//!
//! - More than 100,000 rows or a result over 124 MB: 400 "Query execution has exceeded the allowed result size…"
//!   (MDE page, §4.6; the row limit is read as the same refusal rather than a silent truncation).
//! - CPU quota used up: 429 with `Retry-After`, the message of Microsoft's "Handle advanced hunting errors" page.
//!   XDR blocks "until after the next 15-minute cycle" (§5.2); MDE allows 10 min of CPU per hour (§4.6) and says
//!   no more, so the sandbox blocks MDE until the next full hour. Graph documents no quota (§6.3): it follows XDR.
//! - A query that runs too long: Microsoft documents the limit (MDE 200 s, XDR 3 min) and the portal message "Query
//!   exceeded the timeout period." but not the API's status; the sandbox answers that message with 400 at once.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::api_error::{ApiError, Flavor};
use crate::clock::format_time;
use crate::state::AppState;

/// The documented result-size message (MDE run-advanced-query-api.md).
pub const RESULT_TOO_LARGE: &str = "Query execution has exceeded the allowed result size. Optimize your query by limiting the number of results and try again.";
/// The documented timeout message (Defender XDR advanced-hunting-errors.md).
pub const TIMED_OUT: &str = "Query exceeded the timeout period.";

/// Advanced hunting limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HuntingSettings {
    /// Most rows a result may hold (Microsoft: 100,000); more → 400.
    pub max_rows: usize,
    /// Most bytes the JSON rows may take (Microsoft: 124 MB); more → 400.
    pub max_result_bytes: u64,
    /// A query whose text contains this runs "too long" and is answered with the timeout error; none when absent.
    pub slow_query_marker: Option<String>,
}

impl Default for HuntingSettings {
    fn default() -> Self {
        Self {
            max_rows: 100_000,
            max_result_bytes: 124 * 1024 * 1024,
            slow_query_marker: None,
        }
    }
}

/// The hunting endpoint asking (their CPU quotas reset on different cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuntingApi {
    /// `POST /api/advancedqueries/run`.
    Mde,
    /// `POST /api/advancedhunting/run`.
    M365d,
    /// `POST /v1.0/security/runHuntingQuery`.
    Graph,
}

impl HuntingApi {
    const ALL: [Self; 3] = [Self::Mde, Self::M365d, Self::Graph];

    fn cycle_seconds(self) -> i64 {
        match self {
            Self::Mde => 3600,
            Self::M365d | Self::Graph => 900,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Mde => "mde",
            Self::M365d => "m365d",
            Self::Graph => "graph",
        }
    }
}

/// Why a query is refused (see the module comment for the answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 429: the tenant's CPU quota is used up for this many more seconds.
    CpuQuota(u64),
    /// The query ran too long.
    TimedOut,
    /// Too many rows or bytes (the detail is appended to the documented message).
    TooLarge(String),
}

/// The limits in force and the tenants whose CPU quota is used up (since when, on the service's clock).
#[derive(Debug, Default)]
pub struct HuntingGuard {
    settings: Mutex<HuntingSettings>,
    exhausted: Mutex<BTreeMap<String, OffsetDateTime>>,
}

impl HuntingGuard {
    /// The limits in force.
    pub fn settings(&self) -> HuntingSettings {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the limits (an empty marker is refused: it would match every query).
    pub fn replace(&self, settings: HuntingSettings) -> Result<(), String> {
        if settings.slow_query_marker.as_deref() == Some("") {
            return Err("slow_query_marker must not be empty".to_owned());
        }
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = settings;
        Ok(())
    }

    /// Uses up `tenant`'s CPU quota at `now`.
    pub fn exhaust(&self, tenant: &str, now: OffsetDateTime) {
        self.quotas().insert(tenant.to_lowercase(), now);
    }

    /// Gives every tenant its CPU quota back.
    pub fn reset_quotas(&self) {
        self.quotas().clear();
    }

    fn quotas(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, OffsetDateTime>> {
        self.exhausted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The checks made before a query runs: the tenant's CPU quota, then the slow-query marker.
    pub fn before(
        &self,
        tenant: &str,
        api: HuntingApi,
        query: &str,
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        if let Some(since) = self.quotas().get(&tenant.to_lowercase()) {
            let left = cycle_end(*since, api) - now;
            if left.is_positive() {
                // Rounded up: retrying after `Retry-After` seconds must succeed.
                let seconds = left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0);
                return Err(Refusal::CpuQuota(seconds.unsigned_abs()));
            }
        }
        let settings = self.settings();
        match settings.slow_query_marker {
            Some(marker) if query.contains(&marker) => Err(Refusal::TimedOut),
            _ => Ok(()),
        }
    }

    /// The checks made on a result: its rows, then its size as JSON.
    pub fn after(&self, rows: &[Map<String, Value>]) -> Result<(), Refusal> {
        let settings = self.settings();
        if rows.len() > settings.max_rows {
            return Err(Refusal::TooLarge(format!(
                "The result has {} rows; at most {} are allowed.",
                rows.len(),
                settings.max_rows
            )));
        }
        let bytes = serde_json::to_vec(rows).map_or(0, |b| b.len() as u64);
        if bytes > settings.max_result_bytes {
            return Err(Refusal::TooLarge(format!(
                "The result takes {bytes} bytes; at most {} are allowed.",
                settings.max_result_bytes
            )));
        }
        Ok(())
    }

    /// The admin view: the limits and, per exhausted tenant, since when and until when each API blocks it.
    pub fn view(&self, now: OffsetDateTime) -> Value {
        let settings = self.settings();
        let blocked: Vec<Value> = self
            .quotas()
            .iter()
            .filter(|(_, since)| cycle_end(**since, HuntingApi::Mde) > now)
            .map(|(tenant, since)| {
                let until: Map<String, Value> = HuntingApi::ALL
                    .iter()
                    .map(|api| (api.name().to_owned(), json!(format_time(cycle_end(*since, *api)))))
                    .collect();
                json!({"tenant": tenant, "since": format_time(*since), "blocked_until": until})
            })
            .collect();
        json!({
            "max_rows": settings.max_rows,
            "max_result_bytes": settings.max_result_bytes,
            "slow_query_marker": settings.slow_query_marker,
            "cpu_quota_exhausted": blocked,
        })
    }
}

impl Refusal {
    /// The API's error for this refusal.
    pub fn into_error(self, flavor: Flavor) -> ApiError {
        match self {
            Self::CpuQuota(seconds) => {
                let mut e = ApiError::too_many_requests(flavor, seconds);
                e.message = format!(
                    "You have exceeded processing resources allocated to this tenant. You can run queries again in {seconds} seconds."
                );
                e
            }
            Self::TimedOut => ApiError::bad_request(flavor, TIMED_OUT),
            Self::TooLarge(detail) => ApiError::bad_request(flavor, format!("{RESULT_TOO_LARGE} {detail}")),
        }
    }
}

/// The end of the quota cycle of `api` that contains `since` (cycles aligned on the service's clock).
fn cycle_end(since: OffsetDateTime, api: HuntingApi) -> OffsetDateTime {
    let cycle = api.cycle_seconds();
    let end = (since.unix_timestamp().div_euclid(cycle) + 1) * cycle;
    OffsetDateTime::from_unix_timestamp(end).unwrap_or(since)
}

/// Body of `POST /_sandbox/hunting`: absent keys keep their values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HuntingChange {
    #[serde(default)]
    max_rows: Option<usize>,
    #[serde(default)]
    max_result_bytes: Option<u64>,
    /// `null` clears the marker; absent keeps it.
    #[serde(default, deserialize_with = "present")]
    slow_query_marker: Option<Option<String>>,
    #[serde(default)]
    exhaust_cpu_quota: Vec<String>,
    #[serde(default)]
    reset_cpu_quota: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `GET /_sandbox/hunting`: the limits in force and the exhausted CPU quotas.
pub async fn get(State(state): State<AppState>) -> Json<Value> {
    Json(state.hunting.view(state.clock.now()))
}

/// `POST /_sandbox/hunting` `{"max_rows"?, "max_result_bytes"?, "slow_query_marker"?, "exhaust_cpu_quota"?:
/// [tenant…], "reset_cpu_quota"?: bool}`: answers the new view.
pub async fn set(State(state): State<AppState>, body: Bytes) -> Response {
    let change = match serde_json::from_slice::<HuntingChange>(&body) {
        Ok(c) => c,
        Err(e) => return crate::admin::bad(&format!("expected the hunting settings (see the README): {e}")),
    };
    if let Some(unknown) = change
        .exhaust_cpu_quota
        .iter()
        .find(|t| state.config.tenant(t).is_none())
    {
        return crate::admin::unknown_tenant(unknown);
    }
    let current = state.hunting.settings();
    let next = HuntingSettings {
        max_rows: change.max_rows.unwrap_or(current.max_rows),
        max_result_bytes: change.max_result_bytes.unwrap_or(current.max_result_bytes),
        slow_query_marker: change.slow_query_marker.unwrap_or(current.slow_query_marker),
    };
    if let Err(e) = state.hunting.replace(next) {
        return crate::admin::bad(&e);
    }
    if change.reset_cpu_quota {
        state.hunting.reset_quotas();
    }
    let now = state.clock.now();
    for tenant in &change.exhaust_cpu_quota {
        state.hunting.exhaust(tenant, now);
    }
    Json(state.hunting.view(now)).into_response()
}

impl crate::server::SandboxHandle {
    /// The hunting limits in force.
    pub fn hunting_settings(&self) -> HuntingSettings {
        self.shared.hunting.settings()
    }

    /// Replaces the hunting limits (as `POST /_sandbox/hunting`); an empty `slow_query_marker` is refused.
    pub fn set_hunting_settings(&self, settings: HuntingSettings) -> Result<(), crate::SandboxError> {
        self.shared
            .hunting
            .replace(settings)
            .map_err(crate::SandboxError::Config)
    }

    /// Uses up `tenant`'s hunting CPU quota now: its hunting calls answer 429 until the quota's cycle ends (MDE:
    /// the next full hour; Microsoft 365 Defender and Graph: the next 15-minute cycle), as
    /// `POST /_sandbox/hunting` `{"exhaust_cpu_quota": [tenant]}` does.
    pub fn exhaust_hunting_cpu_quota(&self, tenant: &str) -> Result<(), crate::SandboxError> {
        if self.shared.config.tenant(tenant).is_none() {
            return Err(crate::SandboxError::Config(format!("unknown tenant '{tenant}'")));
        }
        self.shared.hunting.exhaust(tenant, self.shared.clock.now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_cycles_end_on_the_next_quarter_or_full_hour() {
        let since = OffsetDateTime::from_unix_timestamp(3600 * 10 + 20 * 60).expect("time");
        assert_eq!(
            cycle_end(since, HuntingApi::M365d).unix_timestamp(),
            3600 * 10 + 30 * 60
        );
        assert_eq!(cycle_end(since, HuntingApi::Mde).unix_timestamp(), 3600 * 11);
        let guard = HuntingGuard::default();
        guard.exhaust("T", since);
        let later = since + time::Duration::minutes(9);
        assert_eq!(
            guard.before("t", HuntingApi::Graph, "q", later),
            Err(Refusal::CpuQuota(60))
        );
        assert!(
            guard
                .before("t", HuntingApi::Graph, "q", later + time::Duration::minutes(1))
                .is_ok()
        );
        assert!(guard.before("other", HuntingApi::Mde, "q", later).is_ok());
    }
}
