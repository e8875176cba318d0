//! CloudWatch Embedded Metric Format: one JSON line per (tenant, dataset) on stdout, which Lambda ships to
//! CloudWatch Logs, where the metrics are extracted (records, lag, failures, quarantined pages, bytes).

use std::io::Write;

use mde_contracts::{DatasetStatus, ExportRunSummary};
use serde_json::json;
use time::OffsetDateTime;

/// The metric namespace.
pub const NAMESPACE: &str = "MdeBridge/IncidentExport";

/// The EMF lines of a run summary, stamped `at`.
pub fn emf_lines(summary: &ExportRunSummary, at: OffsetDateTime) -> Vec<String> {
    let timestamp = (at.unix_timestamp_nanos() / 1_000_000) as i64;
    summary
        .datasets
        .iter()
        .map(|d| {
            let mut metrics = vec![
                json!({"Name": "Records", "Unit": "Count"}),
                json!({"Name": "Failures", "Unit": "Count"}),
                json!({"Name": "QuarantinedPages", "Unit": "Count"}),
                json!({"Name": "Bytes", "Unit": "Bytes"}),
                json!({"Name": "ApiCalls", "Unit": "Count"}),
                json!({"Name": "SkipSweeps", "Unit": "Count"}),
            ];
            let mut line = json!({
                "Tenant": d.tenant_id.as_str(),
                "Dataset": d.dataset.as_str(),
                "RunId": summary.run_id,
                "Status": d.status,
                "Records": d.records,
                "Failures": u64::from(matches!(d.status, DatasetStatus::Failed | DatasetStatus::Conflict)),
                "QuarantinedPages": d.quarantined,
                "Bytes": d.bytes,
                "ApiCalls": d.api_calls,
                "SkipSweeps": d.skip_sweeps,
            });
            if let Some(lag) = d.lag_seconds {
                metrics.push(json!({"Name": "LagSeconds", "Unit": "Seconds"}));
                line["LagSeconds"] = json!(lag);
            }
            line["_aws"] = json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    // Per tenant for dashboards; per dataset alone for the alarms (one per dataset, not per tenant).
                    "Dimensions": [["Tenant", "Dataset"], ["Dataset"]],
                    "Metrics": metrics,
                }],
            });
            line.to_string()
        })
        .collect()
}

/// Prints the EMF lines to stdout.
pub(crate) fn emit(summary: &ExportRunSummary, at: OffsetDateTime) {
    let mut out = std::io::stdout().lock();
    for line in emf_lines(summary, at) {
        // A closed stdout must not fail the export: the summary is also logged and returned.
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use mde_contracts::{Dataset, DatasetRunSummary};

    use super::*;

    #[test]
    fn each_dataset_gets_an_emf_line_with_records_and_lag() {
        let summary = ExportRunSummary {
            run_id: "r".into(),
            started_at: "2026-11-23T00:00:00Z".into(),
            finished_at: "2026-11-23T00:01:00Z".into(),
            jobs_enqueued: 0,
            error: None,
            datasets: vec![DatasetRunSummary {
                tenant_id: "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17".parse().expect("guid"),
                dataset: Dataset::MdeAlerts,
                status: DatasetStatus::Completed,
                records: 7,
                suppressed: 0,
                flagged: 0,
                pages: 1,
                api_calls: 1,
                splits: 0,
                skip_sweeps: 0,
                bytes: 100,
                objects: 1,
                quarantined: 0,
                lag_seconds: Some(42),
                frontier: Some("2026-11-23T00:00:00.0000000Z".into()),
                note: None,
                error: None,
            }],
        };
        let lines = emf_lines(&summary, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(lines.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(v["Records"], 7);
        assert_eq!(v["LagSeconds"], 42);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        assert!(
            names.contains(&"Records") && names.contains(&"LagSeconds"),
            "{names:?}"
        );
    }
}
