//! Every metric of ours that the dashboard or an alarm names (namespace, metric name, dimension set) is one the code
//! emits: the catalogue is read from the functions' own Embedded Metric Format lines, the references from
//! `infra/stacks/mde-bridge/dashboard.json.tftpl` and the alarms of `infra/**/*.tf`. A renamed metric or
//! dimension cannot silently blank a graph or an alarm.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mde_contracts::{ActionKind, CredentialHealth, IndicatorPushSummary, OutcomeCode, TenantPushSummary};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// (namespace, metric, dimension names sorted).
type Metric = (String, String, Vec<String>);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the code emits, from sample EMF lines of every function.
fn emitted() -> BTreeSet<Metric> {
    let at = OffsetDateTime::UNIX_EPOCH;
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let export: mde_contracts::ExportRunSummary = serde_json::from_value(json!({
        "run_id": "r", "started_at": "2026-12-06T00:00:00Z", "finished_at": "2026-12-06T00:01:00Z",
        "datasets": [{"tenant_id": tenant, "dataset": "mde_alerts", "status": "completed", "records": 1,
            "suppressed": 0, "flagged": 0, "pages": 1, "api_calls": 1, "bytes": 1, "objects": 1, "quarantined": 0,
            "lag_seconds": 60, "frontier": null, "error": null}]
    }))
    .expect("an export summary");
    let indicators = IndicatorPushSummary {
        tenants: vec![TenantPushSummary {
            tenant_id: Some(tenant.parse().expect("tenant")),
            active: Some(3),
            ..Default::default()
        }],
        ..Default::default()
    };
    let credential = CredentialHealth {
        secret_id: "mde-bridge/app-credential".into(),
        kind: "client_secret".into(),
        expires_at: None,
        days_left: Some(90),
        problem: None,
    };
    let mut lines = Vec::new();
    lines.extend(incident_export::emf_lines(&export, at));
    lines.extend(indicator_push::emf_lines(&indicators, at));
    lines.extend(token_broker::metrics::emf_lines(&[credential], 0));
    lines.push(alert_webhook::metrics::answer_line(202, at));
    lines.push(action_executor::metrics::completed_line(
        ActionKind::IsolateDevice,
        OutcomeCode::Succeeded,
        at,
    ));
    lines.push(action_executor::metrics::retry_line(
        ActionKind::IsolateDevice,
        at,
    ));
    let mut out = BTreeSet::new();
    for line in lines {
        let v: Value = serde_json::from_str(&line).expect("an EMF line is JSON");
        for directive in v["_aws"]["CloudWatchMetrics"].as_array().expect("EMF directives") {
            let namespace = directive["Namespace"].as_str().expect("namespace").to_owned();
            for metric in directive["Metrics"].as_array().expect("metrics") {
                let name = metric["Name"].as_str().expect("name").to_owned();
                for dims in directive["Dimensions"].as_array().expect("dimensions") {
                    let mut dims: Vec<String> = dims
                        .as_array()
                        .expect("a dimension set")
                        .iter()
                        .filter_map(|d| d.as_str().map(str::to_owned))
                        .collect();
                    dims.sort();
                    out.insert((namespace.clone(), name.clone(), dims));
                }
            }
        }
    }
    out
}

/// `SEARCH('{Namespace,Dim1,Dim2} MetricName="Name" …', …)` → the metric it searches.
fn from_search(expression: &str) -> Option<Metric> {
    let inner = expression.split('{').nth(1)?.split('}').next()?;
    let mut parts = inner.split(',').map(str::trim);
    let namespace = parts.next()?.to_owned();
    let mut dims: Vec<String> = parts.map(str::to_owned).collect();
    dims.sort();
    let name = expression
        .split("MetricName=\"")
        .nth(1)?
        .split('"')
        .next()?
        .to_owned();
    Some((namespace, name, dims))
}

/// The metrics the dashboard's widgets name.
fn dashboard() -> Vec<Metric> {
    let text = std::fs::read_to_string(root().join("infra/stacks/mde-bridge/dashboard.json.tftpl"))
        .expect("the dashboard template");
    let text = text
        .replace("${region}", "eu-west-1")
        .replace("${name_prefix}", "mde-bridge");
    let body: Value = serde_json::from_str(&text).expect("the dashboard template is JSON once rendered");
    let mut out = Vec::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        for row in widget["properties"]["metrics"].as_array().into_iter().flatten() {
            let row = row.as_array().expect("a metric row");
            match row.first() {
                Some(Value::Object(o)) => {
                    if let Some(m) = o.get("expression").and_then(Value::as_str).and_then(from_search) {
                        out.push(m);
                    }
                }
                Some(Value::String(namespace)) => {
                    let strings: Vec<&str> = row.iter().filter_map(Value::as_str).collect();
                    let mut dims: Vec<String> =
                        strings[2..].iter().step_by(2).map(|d| (*d).to_owned()).collect();
                    dims.sort();
                    out.push((namespace.clone(), strings[1].to_owned(), dims));
                }
                _ => panic!("a metric row of an unknown shape: {row:?}"),
            }
        }
    }
    out
}

/// The metrics the alarms of `infra/` name: each `aws_cloudwatch_metric_alarm` block's namespace, metric name and
/// dimension keys.
fn alarms() -> Vec<Metric> {
    let mut files = Vec::new();
    let mut dirs = vec![root().join("infra")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with(".terraform") {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "tf") {
                files.push(path);
            }
        }
    }
    let value = |block: &str, key: &str| -> Option<String> {
        block.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
        })
    };
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for block in text.split("resource \"aws_cloudwatch_metric_alarm\"").skip(1) {
            let block = block.split("\nresource ").next().unwrap_or(block);
            let (Some(namespace), Some(name)) = (value(block, "namespace"), value(block, "metric_name"))
            else {
                continue;
            };
            let mut dims: Vec<String> = value(block, "dimensions")
                .map(|d| {
                    d.trim_matches(|c| c == '{' || c == '}')
                        .split(',')
                        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.trim().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            dims.sort();
            out.push((namespace, name, dims));
        }
    }
    out
}

#[test]
fn every_metric_the_dashboard_and_the_alarms_name_is_emitted_by_the_code() {
    let emitted = emitted();
    let named: Vec<Metric> = dashboard().into_iter().chain(alarms()).collect();
    let ours: Vec<&Metric> = named.iter().filter(|m| m.0.starts_with("MdeBridge/")).collect();
    assert!(ours.len() >= 12, "the references are found: {ours:?}");
    for metric in ours {
        assert!(
            emitted.contains(metric),
            "{metric:?} is named in infra/ but no function emits it; emitted: {emitted:#?}"
        );
    }
}

#[test]
fn a_renamed_metric_would_be_caught() {
    let emitted = emitted();
    let renamed =
        from_search("SEARCH('{MdeBridge/IncidentExport,Tenant,Dataset} MetricName=\"Lag\"', 'Maximum', 300)")
            .expect("parsed");
    assert!(!emitted.contains(&renamed));
    let moved =
        from_search("SEARCH('{MdeBridge/IncidentExport,Tenant} MetricName=\"LagSeconds\"', 'Maximum', 300)")
            .expect("parsed");
    assert!(
        !emitted.contains(&moved),
        "a dimension set the code does not emit"
    );
}
