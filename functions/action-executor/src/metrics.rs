//! CloudWatch Embedded Metric Format on stdout (Lambda only): one line per request that ends (by outcome and
//! action) and one per request sent back for a retry.

use mde_contracts::{ActionKind, OutcomeCode};
use serde_json::json;
use time::OffsetDateTime;

/// The metric namespace.
pub const NAMESPACE: &str = "MdeBridge/ActionExecutor";

fn code_name(code: OutcomeCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The EMF line of a request that ended: `RequestsCompleted` by `Outcome`, and by `Action` and `Outcome`.
pub fn completed_line(action: ActionKind, outcome: OutcomeCode, at: OffsetDateTime) -> String {
    json!({
        "Action": action.as_str(),
        "Outcome": code_name(outcome),
        "RequestsCompleted": 1,
        "_aws": {
            "Timestamp": (at.unix_timestamp_nanos() / 1_000_000) as i64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Outcome"], ["Action", "Outcome"]],
                "Metrics": [{"Name": "RequestsCompleted", "Unit": "Count"}],
            }],
        },
    })
    .to_string()
}

/// The EMF line of a request sent back to its queue: `RequestRetries` by `Action`.
pub fn retry_line(action: ActionKind, at: OffsetDateTime) -> String {
    json!({
        "Action": action.as_str(),
        "RequestRetries": 1,
        "_aws": {
            "Timestamp": (at.unix_timestamp_nanos() / 1_000_000) as i64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Action"]],
                "Metrics": [{"Name": "RequestRetries", "Unit": "Count"}],
            }],
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_emf_with_the_outcome_and_action() {
        let line: serde_json::Value = serde_json::from_str(&completed_line(
            ActionKind::IsolateDevice,
            OutcomeCode::PermissionMissing,
            OffsetDateTime::UNIX_EPOCH,
        ))
        .expect("json");
        assert_eq!(line["Outcome"], "permission_missing");
        assert_eq!(line["Action"], "isolate_device");
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
    }
}
