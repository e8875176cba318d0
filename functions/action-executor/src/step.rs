//! One request's work in progress: the Defender calls it made (for the audit record), and what a failed call
//! means for the request — retry later, or end it with a reason.

use mde_contracts::{AuditCall, Outcome, OutcomeCode, TrackedAction};
use mde_defender::DefenderError;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where a request goes after a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// It ended.
    Done(Outcome),
    /// Defender accepted a machine action: poll it.
    Wait(TrackedAction),
    /// A transient failure: try again later (after at least `after` seconds when Defender said so).
    Retry {
        /// Why.
        reason: String,
        /// Defender's `Retry-After`, when it gave one.
        after: Option<u64>,
    },
}

/// An outcome without permission details.
pub fn outcome(code: OutcomeCode, reason: impl Into<String>, result: Value) -> Outcome {
    Outcome {
        code,
        reason: reason.into(),
        permission: None,
        consent_url: None,
        result,
    }
}

/// The end of a dry run: the calls marked planned would be made; `result` says about what.
pub fn planned(result: Value) -> Step {
    Step::Done(outcome(
        OutcomeCode::Planned,
        "dry run: the calls marked planned would be made",
        result,
    ))
}

/// RFC 3339 of a time (UTC).
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// The calls of one request, with the time source.
pub struct Calls {
    now: Box<dyn Fn() -> OffsetDateTime + Send + Sync>,
    /// The calls so far.
    pub list: Vec<AuditCall>,
    /// Plan only: writes are recorded as `planned`, never made.
    pub dry_run: bool,
}

impl Calls {
    /// A record of calls, with `now` for their times.
    pub fn new(now: impl Fn() -> OffsetDateTime + Send + Sync + 'static, dry_run: bool) -> Self {
        Self {
            now: Box::new(now),
            list: Vec::new(),
            dry_run,
        }
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        (self.now)()
    }

    /// A call that succeeded.
    pub fn ok(&mut self, operation: &str, target: &str, status: u16, detail: Option<String>) {
        let at = rfc3339(self.now());
        self.list.push(AuditCall {
            at,
            operation: operation.to_owned(),
            target: target.to_owned(),
            status: Some(status),
            result: "ok".into(),
            detail,
        });
    }

    /// A write a dry run would make.
    pub fn planned(&mut self, operation: &str, target: &str, detail: String) {
        let at = rfc3339(self.now());
        self.list.push(AuditCall {
            at,
            operation: operation.to_owned(),
            target: target.to_owned(),
            status: None,
            result: "planned".into(),
            detail: Some(detail),
        });
    }

    /// A call that failed: recorded with Defender's status and code.
    pub fn failed(&mut self, operation: &str, target: &str, error: &DefenderError) {
        let (status, code) = status_and_code(error);
        let at = rfc3339(self.now());
        self.list.push(AuditCall {
            at,
            operation: operation.to_owned(),
            target: target.to_owned(),
            status,
            result: code,
            detail: Some(error.to_string()),
        });
    }
}

/// The HTTP status and error code of a failure, as the audit record shows them.
fn status_and_code(error: &DefenderError) -> (Option<u16>, String) {
    match error {
        DefenderError::Api { status, code, .. } => (Some(*status), code.clone()),
        DefenderError::Forbidden { .. } => (Some(403), "Forbidden".into()),
        DefenderError::NotFound { code, .. } => (Some(404), code.clone()),
        DefenderError::Throttled { .. } => (Some(429), "Throttled".into()),
        DefenderError::Unauthorized { .. } => (Some(401), "Unauthorized".into()),
        DefenderError::UnexpectedBody { status, .. } => (Some(*status), "UnexpectedBody".into()),
        DefenderError::ConsentRequired { .. } => (None, "ConsentRequired".into()),
        DefenderError::Unavailable { .. } => (None, "Unavailable".into()),
        _ => (None, "Error".into()),
    }
}

/// What a failed call means for its request. `not_found` is the outcome when the target does not exist.
pub fn on_error(error: &DefenderError, not_found: OutcomeCode) -> Step {
    match error {
        DefenderError::ConsentRequired {
            missing, consent_url, ..
        } => Step::Done(Outcome {
            code: OutcomeCode::PermissionMissing,
            reason: error.to_string(),
            permission: Some(if missing.is_empty() {
                "admin consent to the application".into()
            } else {
                missing.join(", ")
            }),
            consent_url: Some(consent_url.clone()),
            result: Value::Null,
        }),
        DefenderError::Forbidden {
            permission,
            consent_url,
            ..
        } => Step::Done(Outcome {
            code: OutcomeCode::PermissionMissing,
            reason: error.to_string(),
            permission: Some((*permission).to_owned()),
            consent_url: consent_url.clone(),
            result: Value::Null,
        }),
        DefenderError::NotFound { .. } => Step::Done(outcome(not_found, error.to_string(), Value::Null)),
        DefenderError::Api { status, .. } if (400..500).contains(status) => {
            Step::Done(outcome(OutcomeCode::InvalidValue, error.to_string(), Value::Null))
        }
        DefenderError::InvalidRequest { .. } => {
            Step::Done(outcome(OutcomeCode::InvalidValue, error.to_string(), Value::Null))
        }
        DefenderError::Throttled { retry_after, .. } => Step::Retry {
            reason: error.to_string(),
            after: retry_after.map(|d| d.as_secs()),
        },
        // Unavailable, 5xx, bodies that are not the documented JSON, and the operator's problems (a credential
        // refused or expired, a token for the wrong tenant): retried, so nothing is lost while they are fixed;
        // after `max_attempts` the request ends `retries_exhausted` with this reason.
        _ => Step::Retry {
            reason: error.to_string(),
            after: None,
        },
    }
}

/// Whether Defender answered a repeated machine action with "already in progress".
pub fn already_in_progress(error: &DefenderError) -> bool {
    matches!(error, DefenderError::Api { status: 400, code, .. } if code == "ActiveRequestAlreadyExists")
}
