//! A small subset of KQL over the seeded data, for the three advanced-hunting endpoints.
//!
//! Tables: `DeviceInfo`, `DeviceProcessEvents`, `AlertInfo`, `AlertEvidence` (last 30 days). Operators, piped:
//! `where Col == "v"` / `!= "v"` / `=~ "v"` / `contains "v"` / `has "v"`, `take N` / `limit N`,
//! `project A, B`, `count`. Anything else is a semantic error, as Kusto reports it. Row, size, CPU and time limits
//! are checked around it (`hunting_limits`).

use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

use crate::clock::format_time;
use crate::store::TenantData;

/// A query result: ordered columns with their types, and rows.
#[derive(Debug)]
pub struct QueryResult {
    /// (name, Kusto type).
    pub columns: Vec<(String, &'static str)>,
    /// Rows as objects.
    pub rows: Vec<Map<String, Value>>,
}

fn row(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn table(data: &TenantData, name: &str, since: OffsetDateTime) -> Option<QueryResult> {
    let cols = |c: &[(&str, &'static str)]| c.iter().map(|(n, t)| ((*n).to_owned(), *t)).collect::<Vec<_>>();
    let (columns, rows) = match name {
        "DeviceInfo" => (
            cols(&[
                ("Timestamp", "DateTime"),
                ("DeviceId", "String"),
                ("DeviceName", "String"),
                ("OSPlatform", "String"),
                ("PublicIP", "String"),
                ("MachineGroup", "String"),
            ]),
            data.machines
                .iter()
                .map(|m| {
                    row(vec![
                        ("Timestamp", json!(format_time(m.last_seen))),
                        ("DeviceId", json!(m.id)),
                        ("DeviceName", json!(m.computer_dns_name)),
                        ("OSPlatform", json!(m.os_platform)),
                        ("PublicIP", json!(m.last_external_ip_address)),
                        ("MachineGroup", json!(m.rbac_group_name)),
                    ])
                })
                .collect(),
        ),
        "DeviceProcessEvents" => (
            cols(&[
                ("Timestamp", "DateTime"),
                ("DeviceId", "String"),
                ("DeviceName", "String"),
                ("ReportId", "Int64"),
                ("ActionType", "String"),
                ("FileName", "String"),
                ("FolderPath", "String"),
                ("SHA1", "String"),
                ("ProcessCommandLine", "String"),
                ("AccountName", "String"),
            ]),
            data.events
                .iter()
                .filter(|e| e.timestamp >= since)
                .map(|e| {
                    row(vec![
                        ("Timestamp", json!(format_time(e.timestamp))),
                        ("DeviceId", json!(e.device_id)),
                        ("DeviceName", json!(e.device_name)),
                        ("ReportId", json!(e.report_id)),
                        ("ActionType", json!("ProcessCreated")),
                        ("FileName", json!(e.file_name)),
                        ("FolderPath", json!(e.folder_path)),
                        ("SHA1", json!(e.sha1)),
                        ("ProcessCommandLine", json!(e.process_command_line)),
                        ("AccountName", json!(e.account_name)),
                    ])
                })
                .collect(),
        ),
        "AlertInfo" => (
            cols(&[
                ("Timestamp", "DateTime"),
                ("AlertId", "String"),
                ("Title", "String"),
                ("Category", "String"),
                ("Severity", "String"),
                ("ServiceSource", "String"),
                ("DetectionSource", "String"),
            ]),
            data.alerts
                .iter()
                .filter(|a| a.alert_creation_time >= since)
                .map(|a| {
                    row(vec![
                        ("Timestamp", json!(format_time(a.alert_creation_time))),
                        ("AlertId", json!(a.id)),
                        ("Title", json!(a.title)),
                        ("Category", json!(a.category)),
                        ("Severity", json!(a.severity)),
                        ("ServiceSource", json!("Microsoft Defender for Endpoint")),
                        ("DetectionSource", json!(a.detection_source)),
                    ])
                })
                .collect(),
        ),
        "AlertEvidence" => (
            cols(&[
                ("Timestamp", "DateTime"),
                ("AlertId", "String"),
                ("EntityType", "String"),
                ("SHA1", "String"),
                ("FileName", "String"),
                ("FolderPath", "String"),
                ("DeviceId", "String"),
                ("DeviceName", "String"),
                ("AccountName", "String"),
                ("RemoteUrl", "String"),
                ("RemoteIP", "String"),
            ]),
            data.alerts
                .iter()
                .filter(|a| a.alert_creation_time >= since)
                .flat_map(|a| {
                    a.evidence.iter().map(move |e| {
                        row(vec![
                            ("Timestamp", json!(format_time(a.alert_creation_time))),
                            ("AlertId", json!(a.id)),
                            ("EntityType", json!(e.entity_type)),
                            ("SHA1", json!(e.sha1)),
                            ("FileName", json!(e.file_name)),
                            ("FolderPath", json!(e.file_path)),
                            ("DeviceId", json!(a.machine_id)),
                            ("DeviceName", json!(a.computer_dns_name)),
                            ("AccountName", json!(e.account_name)),
                            ("RemoteUrl", json!(e.url)),
                            ("RemoteIP", json!(e.ip_address)),
                        ])
                    })
                })
                .collect(),
        ),
        _ => return None,
    };
    Some(QueryResult { columns, rows })
}

/// Runs `query` over a tenant's data at `now`, looking back `window` (30 days by default).
pub fn run(
    data: &TenantData,
    query: &str,
    now: OffsetDateTime,
    window: Option<Duration>,
) -> Result<QueryResult, String> {
    let mut stages = query.split('|').map(str::trim);
    let source = stages.next().unwrap_or_default();
    if source.is_empty() {
        return Err("Query could not be parsed: the query is empty.".to_owned());
    }
    let since = now - window.unwrap_or(Duration::days(30));
    let mut result = table(data, source, since)
        .ok_or_else(|| format!("Failed to resolve table or column expression named '{source}'"))?;
    for stage in stages {
        let (op, rest) = stage.split_once(char::is_whitespace).unwrap_or((stage, ""));
        let rest = rest.trim();
        match op {
            "take" | "limit" => {
                let n: usize = rest
                    .parse()
                    .map_err(|_| format!("Query could not be parsed at '{stage}'"))?;
                result.rows.truncate(n);
            }
            "where" => where_clause(&mut result, rest)?,
            "project" => {
                let wanted: Vec<&str> = rest.split(',').map(str::trim).collect();
                let mut columns = Vec::new();
                for w in &wanted {
                    let col = result
                        .columns
                        .iter()
                        .find(|(n, _)| n == w)
                        .cloned()
                        .ok_or_else(|| format!("Failed to resolve scalar expression named '{w}'"))?;
                    columns.push(col);
                }
                for r in &mut result.rows {
                    r.retain(|k, _| wanted.contains(&k.as_str()));
                }
                result.columns = columns;
            }
            "count" if rest.is_empty() => {
                let n = result.rows.len();
                result = QueryResult {
                    columns: vec![("Count".to_owned(), "Int64")],
                    rows: vec![row(vec![("Count", json!(n))])],
                };
            }
            _ => {
                return Err(format!(
                    "Query could not be parsed at '{stage}' (the sandbox supports where, take, limit, project, count)"
                ));
            }
        }
    }
    Ok(result)
}

fn where_clause(result: &mut QueryResult, clause: &str) -> Result<(), String> {
    let ops = ["==", "!=", "=~", " contains ", " has "];
    let (col, op, lit) = ops
        .iter()
        .find_map(|op| {
            clause
                .split_once(op)
                .map(|(c, l)| (c.trim(), op.trim(), l.trim()))
        })
        .ok_or_else(|| format!("Query could not be parsed at 'where {clause}'"))?;
    if !result.columns.iter().any(|(n, _)| n == col) {
        return Err(format!("Failed to resolve scalar expression named '{col}'"));
    }
    let lit = lit.trim_matches('"').trim_matches('\'');
    result.rows.retain(|r| {
        let value = match r.get(col) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        };
        match op {
            "==" => value == lit,
            "!=" => value != lit,
            "=~" => value.eq_ignore_ascii_case(lit),
            _ => value.to_lowercase().contains(&lit.to_lowercase()),
        }
    });
    Ok(())
}

/// Parses Graph's `Timespan` forms (`P30D`, `start/end`, `P30D/end`, `start/P30D`, `start`) into a look-back from
/// `now`; the sandbox only uses how far back it reaches.
pub fn timespan_window(timespan: &str, now: OffsetDateTime) -> Option<Duration> {
    let start = |part: &str| -> Option<OffsetDateTime> {
        if let Some(days) = part.strip_prefix('P').and_then(|d| d.strip_suffix('D')) {
            return days.parse::<i64>().ok().map(|d| now - Duration::days(d));
        }
        crate::clock::parse_time(part)
    };
    let first = timespan.split('/').next()?;
    start(first).map(|s| now - s)
}
