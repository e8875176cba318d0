//! CloudWatch Embedded Metric Format: one JSON line per tenant of a push on stdout (imported, deleted,
//! rejected, deferred, active indicators), extracted by CloudWatch Logs in Lambda.

use std::io::Write;

use mde_contracts::IndicatorPushSummary;
use serde_json::json;
use time::OffsetDateTime;

/// The metric namespace.
pub const NAMESPACE: &str = "MdeBridge/IndicatorPush";

/// The EMF lines of a push, stamped `at`.
pub fn emf_lines(summary: &IndicatorPushSummary, at: OffsetDateTime) -> Vec<String> {
    let timestamp = (at.unix_timestamp_nanos() / 1_000_000) as i64;
    summary
        .tenants
        .iter()
        .map(|t| {
            let mut metrics = vec![
                json!({"Name": "IndicatorsImported", "Unit": "Count"}),
                json!({"Name": "IndicatorsDeleted", "Unit": "Count"}),
                json!({"Name": "IndicatorsRejected", "Unit": "Count"}),
                json!({"Name": "IndicatorsDeferred", "Unit": "Count"}),
            ];
            let mut line = json!({
                "Tenant": t.tenant_id.as_ref().map(|t| t.as_str()).unwrap_or("none"),
                "DryRun": summary.dry_run,
                "IndicatorsImported": t.imported,
                "IndicatorsDeleted": t.deleted,
                "IndicatorsRejected": t.rejected,
                "IndicatorsDeferred": t.deferred,
            });
            if let Some(active) = t.active {
                metrics.push(json!({"Name": "ActiveIndicators", "Unit": "Count"}));
                line["ActiveIndicators"] = json!(active);
            }
            line["_aws"] = json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Tenant"], []],
                    "Metrics": metrics,
                }],
            });
            line.to_string()
        })
        .collect()
}

/// Prints the EMF lines to stdout.
pub(crate) fn emit(summary: &IndicatorPushSummary, at: OffsetDateTime) {
    let mut out = std::io::stdout().lock();
    for line in emf_lines(summary, at) {
        let _ = writeln!(out, "{line}");
    }
}
