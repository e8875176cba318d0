//! CloudWatch Embedded Metric Format on stdout (Lambda only): one line per answer, `Answers` by HTTP `Status`
//! (202 accepted, 401 signature, 403 binding, 409 in progress, 413 / 415 / 422 refused bodies, 503 unavailable).

use serde_json::json;
use time::OffsetDateTime;

/// The metric namespace.
pub const NAMESPACE: &str = "MdeBridge/AlertWebhook";

/// The EMF line of one answer.
pub fn answer_line(status: u16, at: OffsetDateTime) -> String {
    json!({
        "Status": status.to_string(),
        "Answers": 1,
        "_aws": {
            "Timestamp": (at.unix_timestamp_nanos() / 1_000_000) as i64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Status"]],
                "Metrics": [{"Name": "Answers", "Unit": "Count"}],
            }],
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_counted_by_status() {
        let line: serde_json::Value =
            serde_json::from_str(&answer_line(401, OffsetDateTime::UNIX_EPOCH)).expect("json");
        assert_eq!(line["Status"], "401");
        assert_eq!(line["Answers"], 1);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0], "Status");
    }
}
