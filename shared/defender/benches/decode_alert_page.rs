//! Decoding one 10,000-alert MDE page (the shape the sandbox renders, evidence expanded) into pass-through
//! [`Record`]s, against plain `serde_json::Value` for comparison. Run with `cargo bench -p mde-defender`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mde_defender::api::{Record, decode_page};
use serde_json::{Value, json};

const ALERTS: usize = 10_000;

fn alert(i: usize) -> Value {
    let evidence = |kind: &str| {
        json!({
            "entityType": kind, "evidenceCreationTime": "2026-11-20T10:15:30.1234567Z",
            "sha1": "8f0e8d7c6b5a49382716f5e4d3c2b1a098765432", "sha256": null,
            "fileName": "powershell.exe", "filePath": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0",
            "processId": 4242, "processCommandLine": "powershell.exe -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
            "processCreationTime": "2026-11-20T10:15:30.1234567Z", "parentProcessId": 1111,
            "parentProcessCreationTime": "2026-11-20T10:15:30.1234567Z", "parentProcessFileName": "explorer.exe",
            "parentProcessFilePath": "C:\\Windows", "ipAddress": null, "url": null, "registryKey": null,
            "registryHive": null, "registryValueType": null, "registryValue": null, "accountName": "alice",
            "domainName": "CONTOSO", "userSid": "S-1-5-21-1004336348-1177238915-682003330-512", "aadUserId": null,
            "userPrincipalName": "alice@contoso.com", "detectionStatus": "Detected"
        })
    };
    json!({
        "id": format!("da63847290038283{i:04}_1364969609"), "incidentId": 1000 + i / 3, "investigationId": 50 + i,
        "assignedTo": null, "severity": "Medium", "status": "New", "classification": null, "determination": null,
        "investigationState": "Running", "detectionSource": "WindowsDefenderAtp",
        "detectorId": "7f1c3609-a3ff-40e2-995b-c01770161d68", "category": "Execution",
        "threatFamilyName": null, "threatName": null, "title": "Suspicious PowerShell command line",
        "description": "A suspicious PowerShell activity was observed on the machine.",
        "alertCreationTime": "2026-11-20T10:15:30.1234567Z", "firstEventTime": "2026-11-20T10:05:30.1234567Z",
        "lastEventTime": "2026-11-20T10:14:30.1234567Z", "lastUpdateTime": "2026-11-20T11:15:30.1234567Z",
        "resolvedTime": null, "machineId": "ff150b2a8d1f4e6e8b1e2c2b1f4c7e1d2a3b4c5d",
        "computerDnsName": "ws-0042.contoso.com", "rbacGroupName": "Workstations",
        "aadTenantId": "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17", "mitreTechniques": ["T1059.001", "T1027"],
        "relatedUser": {"userName": "alice", "domainName": "CONTOSO"},
        "loggedOnUsers": [{"accountName": "alice", "domainName": "CONTOSO"}],
        "comments": [], "evidence": [evidence("Process"), evidence("File"), evidence("User")]
    })
}

fn page() -> Vec<u8> {
    let value: Vec<Value> = (0..ALERTS).map(alert).collect();
    serde_json::to_vec(
        &json!({"@odata.context": "https://api.security.microsoft.com/api/$metadata#Alerts", "value": value}),
    )
    .unwrap_or_default()
}

fn decode(c: &mut Criterion) {
    let body = page();
    println!(
        "page of {ALERTS} alerts: {:.1} MiB",
        body.len() as f64 / (1024.0 * 1024.0)
    );
    let mut group = c.benchmark_group("mde_alert_page_10k");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("records_raw_json_with_keys", |b| {
        b.iter(|| {
            let envelope = decode_page::<Record>(black_box(&body)).map(|e| e.value.len());
            assert_eq!(envelope.ok(), Some(ALERTS));
        })
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| {
            let envelope = decode_page::<Value>(black_box(&body)).map(|e| e.value.len());
            assert_eq!(envelope.ok(), Some(ALERTS));
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
