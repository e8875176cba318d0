//! The action executor's boundary types: the `[executor]` settings, the messages it consumes (requests the
//! webhook accepted, and its own follow-ups), and the audit record it keeps per request — what
//! `GET /v1/requests/{id}` answers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ActionKind, ContractError, DeviceAction, TenantId, WebhookEvent};

/// The `[executor]` section: how the action executor behaves. Every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorSettings {
    /// The SQS standard queue of follow-ups (polls of machine actions): per-message delays need a standard
    /// queue, FIFO queues have none.
    pub poll_queue_url: Option<String>,
    /// Where audit records go in `[storage]`: `<audit_prefix><request id>.json`.
    pub audit_prefix: String,
    /// Where hunting results go in `[storage]`: `<hunting_prefix><tenant>/<request id>.json`.
    pub hunting_prefix: String,
    /// Seconds between two polls of a pending machine action (at most 900, SQS's longest delay).
    pub poll_interval_seconds: u64,
    /// Receives of a request that failed for a transient reason before it ends as `retries_exhausted`.
    pub max_attempts: u32,
    /// How long each kind of machine action is polled before the request ends `unconfirmed`.
    pub poll_limits: PollLimits,
    /// How many executor processes may run at once (the event source mappings' maximum concurrency, summed).
    /// Each keeps to 1/concurrency of Defender's documented rate limits, so together they never exceed them.
    pub concurrency: u32,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        Self {
            poll_queue_url: None,
            audit_prefix: "audit/requests/".into(),
            hunting_prefix: "hunting/".into(),
            poll_interval_seconds: 60,
            max_attempts: 8,
            poll_limits: PollLimits::default(),
            concurrency: 1,
        }
    }
}

/// Minutes a machine action is polled, per kind: a full scan takes far longer than an isolation. Defender keeps
/// an action Pending while its device is offline; past the limit the request ends `unconfirmed` (the action may
/// still run: its id is in the audit record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PollLimits {
    /// Isolate and release.
    pub isolation_minutes: u64,
    /// Restrict and unrestrict app execution.
    pub restriction_minutes: u64,
    /// Quick antivirus scan.
    pub quick_scan_minutes: u64,
    /// Full antivirus scan.
    pub full_scan_minutes: u64,
    /// Investigation package collection.
    pub investigation_package_minutes: u64,
    /// Stop and quarantine a file.
    pub stop_and_quarantine_minutes: u64,
}

impl Default for PollLimits {
    fn default() -> Self {
        Self {
            isolation_minutes: 240,
            restriction_minutes: 240,
            quick_scan_minutes: 360,
            full_scan_minutes: 2880,
            investigation_package_minutes: 720,
            stop_and_quarantine_minutes: 240,
        }
    }
}

impl PollLimits {
    /// The limit of an action (`full_scan` tells the two scans apart), in minutes.
    pub fn minutes(&self, action: DeviceAction, full_scan: bool) -> u64 {
        match action {
            DeviceAction::Isolate | DeviceAction::Release | DeviceAction::Cancel => self.isolation_minutes,
            DeviceAction::RestrictAppExecution | DeviceAction::UnrestrictAppExecution => {
                self.restriction_minutes
            }
            DeviceAction::AntivirusScan if full_scan => self.full_scan_minutes,
            DeviceAction::AntivirusScan => self.quick_scan_minutes,
            DeviceAction::CollectInvestigationPackage => self.investigation_package_minutes,
            DeviceAction::StopAndQuarantineFile => self.stop_and_quarantine_minutes,
        }
    }
}

impl ExecutorSettings {
    /// Checks the ranges; the error names the `executor.` key.
    pub fn validate(&self) -> Result<(), ContractError> {
        let bad = |key: &str, reason: &str| Err(ContractError::invalid(format!("executor.{key}"), reason));
        if !(1..=900).contains(&self.poll_interval_seconds) {
            return bad("poll_interval_seconds", "must be 1 to 900 (SQS's longest delay)");
        }
        if !(1..=20).contains(&self.concurrency) {
            return bad("concurrency", "must be 1 to 20");
        }
        if !(1..=100).contains(&self.max_attempts) {
            return bad("max_attempts", "must be 1 to 100");
        }
        for (key, prefix) in [
            ("audit_prefix", &self.audit_prefix),
            ("hunting_prefix", &self.hunting_prefix),
        ] {
            if prefix.is_empty() || !prefix.ends_with('/') || prefix.starts_with('/') || prefix.contains("..")
            {
                return bad(key, "a relative key prefix ending with /");
            }
        }
        let l = &self.poll_limits;
        let limits = [
            l.isolation_minutes,
            l.restriction_minutes,
            l.quick_scan_minutes,
            l.full_scan_minutes,
            l.investigation_package_minutes,
            l.stop_and_quarantine_minutes,
        ];
        if limits.iter().any(|m| !(1..=10_080).contains(m)) {
            return bad("poll_limits", "each limit must be 1 to 10080 minutes (a week)");
        }
        Ok(())
    }
}

/// A request the webhook accepted, as queued for the executor (SQS FIFO, one group per tenant and device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueuedRequest {
    /// The request id (`GET /v1/requests/{id}`).
    pub request_id: String,
    /// The partner key that sent it.
    pub key_id: String,
    /// The sender's `webhook-id`.
    pub webhook_id: String,
    /// Plan only: no Defender write (the binding's dry-run flag).
    pub dry_run: bool,
    /// When it was accepted (Unix seconds).
    pub received_at: i64,
    /// The event.
    pub event: WebhookEvent,
}

/// A follow-up the executor sends itself: look at a machine action again (SQS standard queue, with a delay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PollMessage {
    /// The request.
    pub request_id: String,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The machine action.
    pub action_id: String,
    /// When to stop polling (Unix seconds): the request then ends `unconfirmed`.
    pub deadline: i64,
}

/// What the executor's queues carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ExecutorMessage {
    /// A follow-up poll: `{"poll": {...}}`.
    Poll {
        /// The poll.
        poll: PollMessage,
    },
    /// A partner's request.
    Request(Box<QueuedRequest>),
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Accepted, not started yet.
    Queued,
    /// Being performed (or waiting for a retry after a transient failure).
    Running,
    /// Defender accepted a machine action; it is polled until it ends.
    Waiting,
    /// Done: see the outcome.
    Completed,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeCode {
    /// Done as asked (a reused pending action or Defender's "already in progress" counts: the earlier
    /// request's action is this one's).
    Succeeded,
    /// A dry run: the plan, nothing written.
    Planned,
    /// Defender ran the machine action and it failed.
    ActionFailed,
    /// Defender gave up on the machine action (`TimeOut`).
    ActionTimedOut,
    /// The machine action was cancelled.
    ActionCancelled,
    /// The machine action was still pending when polling stopped; it may still run.
    Unconfirmed,
    /// No device matches the request's device reference.
    DeviceNotFound,
    /// Several devices match (a DNS name or an IP used by more than one): nothing was done.
    DeviceAmbiguous,
    /// No open alert on the device to record a partner's alert on.
    NoOpenAlert,
    /// The alert, incident or action named does not exist.
    NotFound,
    /// Nothing to cancel: no pending action of that type.
    NothingToCancel,
    /// The tenant has not granted a permission the request needs: see `permission` and `consent_url`.
    PermissionMissing,
    /// Defender refused a value of the request (e.g. a retired determination).
    InvalidValue,
    /// A Microsoft limit the request cannot fit in (hunting result size, time, quota).
    LimitExceeded,
    /// The indicator was rejected (see the reason).
    Rejected,
    /// The tenant is no longer enabled or no longer allows the action.
    NotAllowed,
    /// Transient failures persisted through every attempt.
    RetriesExhausted,
}

/// The end of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Outcome {
    /// What happened.
    pub code: OutcomeCode,
    /// In words, for a person.
    pub reason: String,
    /// The application permission missing (with `permission_missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// The tenant's admin-consent URL (with `permission_missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_url: Option<String>,
    /// What was produced: the machine action, the updated record's id, the hunting result's location, ...
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub result: Value,
}

/// One Defender call a request made (or, in a dry run, would make).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditCall {
    /// When (RFC 3339).
    pub at: String,
    /// The operation, e.g. `mde.machines.isolate`.
    pub operation: String,
    /// What it was about (a device, an alert, an action id).
    pub target: String,
    /// The HTTP status, when Defender answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `ok`, `planned`, or the error's code.
    pub result: String,
    /// More, for a person (an error's message, the action id created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A machine action the request is waiting for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TrackedAction {
    /// Defender's machine action id.
    pub id: String,
    /// Its type (`Isolate`, ...).
    pub action_type: String,
    /// The device.
    pub machine_id: String,
    /// The last status seen (`Pending`, `InProgress`, `Succeeded`, `Failed`, `TimeOut`, `Cancelled`).
    pub status: String,
    /// Whether it was an earlier request's pending action, reused.
    pub reused: bool,
    /// When polling stops (RFC 3339).
    pub poll_until: String,
}

/// One request's audit record: stored at `<executor.audit_prefix><request id>.json`, read by
/// `GET /v1/requests/{id}`. It never holds a secret or a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditRecord {
    /// Format version (1).
    pub version: u32,
    /// The request id.
    pub request_id: String,
    /// The partner key that sent it.
    pub key_id: String,
    /// The sender's `webhook-id`.
    pub webhook_id: String,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The tenant action.
    pub action: ActionKind,
    /// A dry run.
    pub dry_run: bool,
    /// Where it is.
    pub status: RequestStatus,
    /// Accepted (RFC 3339).
    pub received_at: String,
    /// First picked up by the executor (RFC 3339).
    pub started_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
    /// Ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Times the executor picked it up.
    pub attempts: u32,
    /// The last transient failure, while it is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The request.
    pub event: WebhookEvent,
    /// Each Defender call, in order (in a dry run: the plan).
    pub calls: Vec<AuditCall>,
    /// The machine action waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_action: Option<TrackedAction>,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

impl AuditRecord {
    /// The record's key under an audit prefix.
    pub fn key(prefix: &str, request_id: &str) -> String {
        format!("{prefix}{request_id}.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_messages_are_told_apart_by_shape() {
        let poll = serde_json::json!({"poll": {"request_id": "ab", "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47", "action_id": "x", "deadline": 1}});
        assert!(matches!(
            serde_json::from_value::<ExecutorMessage>(poll).expect("poll"),
            ExecutorMessage::Poll { .. }
        ));
        let request = serde_json::json!({"request_id": "ab", "key_id": "k", "webhook_id": "w", "dry_run": false, "received_at": 1,
            "event": {"type": "hunting_query.v1", "data": {"tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47", "query": "DeviceInfo | take 1"}}});
        assert!(matches!(
            serde_json::from_value::<ExecutorMessage>(request).expect("request"),
            ExecutorMessage::Request(_)
        ));
        assert!(serde_json::from_value::<ExecutorMessage>(serde_json::json!({"poll": {}})).is_err());
    }

    #[test]
    fn settings_are_checked_by_key() {
        assert!(ExecutorSettings::default().validate().is_ok());
        let e = ExecutorSettings {
            poll_interval_seconds: 901,
            ..ExecutorSettings::default()
        }
        .validate()
        .expect_err("too long");
        assert_eq!(e.field(), "executor.poll_interval_seconds");
        let e = ExecutorSettings {
            audit_prefix: "../audit".into(),
            ..ExecutorSettings::default()
        }
        .validate()
        .expect_err("escapes");
        assert_eq!(e.field(), "executor.audit_prefix");
    }
}
