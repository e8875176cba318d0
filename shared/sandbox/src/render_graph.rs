//! Microsoft Graph security's JSON view (GD `security-incident.md`, `security-alert.md`): camelCase enums, string
//! ids, typed evidence, and evolvable enums (members after `unknownFutureValue` are sent only to callers that send
//! `Prefer: include-unknown-enum-members`).

use serde_json::{Value, json};

use crate::clock::format_time;
use crate::model::{Alert, Evidence, Incident, IncidentStatus, Machine};
use crate::store::{AlertSummary, TenantData};

/// `TruePositive` → `truePositive`.
pub fn camel(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn comments(list: &[crate::model::Comment]) -> Value {
    list.iter()
        .map(|c| {
            json!({
                "@odata.type": "microsoft.graph.security.alertComment",
                "comment": c.comment,
                "createdByDisplayName": c.created_by,
                "createdDateTime": format_time(c.created_time),
            })
        })
        .collect()
}

/// The incident status as Graph shows it.
pub fn status(s: IncidentStatus, include_unknown: bool) -> &'static str {
    match s {
        IncidentStatus::Active => "active",
        IncidentStatus::InProgress => "inProgress",
        IncidentStatus::Resolved => "resolved",
        IncidentStatus::Redirected => "redirected",
        IncidentStatus::AwaitingAction if include_unknown => "awaitingAction",
        IncidentStatus::AwaitingAction => "unknownFutureValue",
    }
}

/// An incident severity (Microsoft 365 Defender casing) as Graph shows it.
pub fn severity(m365d: &str) -> String {
    camel(match m365d {
        "UnSpecified" => "Unknown",
        s => s,
    })
}

/// A Graph incident (`alerts`: the incident's alerts, in store order); `alerts` rendered only when expanded.
pub fn incident(
    data: &TenantData,
    i: &Incident,
    alerts: &[&Alert],
    tenant_id: &str,
    expand_alerts: bool,
    include_unknown: bool,
) -> Value {
    let summary = AlertSummary::of(alerts.iter().copied());
    let mut v = json!({
        "id": i.id.to_string(),
        "tenantId": tenant_id,
        "status": status(i.status, include_unknown),
        "incidentWebUrl": format!("https://security.microsoft.com/incidents/{}?tid={tenant_id}", i.id),
        "redirectIncidentId": null,
        "displayName": i.name,
        "description": null,
        "createdDateTime": format_time(i.created_time),
        "lastUpdateDateTime": format_time(summary.last_update(i)),
        "assignedTo": i.assigned_to,
        "classification": camel(i.classification.as_deref().unwrap_or("Unknown")),
        "determination": camel(i.determination.as_deref().unwrap_or("Unknown")),
        "severity": severity(summary.severity()),
        "customTags": i.tags,
        "systemTags": [],
        "comments": comments(&i.comments),
        "summary": null,
    });
    if expand_alerts && let Some(obj) = v.as_object_mut() {
        let alerts: Vec<Value> = alerts
            .iter()
            .map(|a| alert(a, data.machine(&a.machine_id), tenant_id))
            .collect();
        obj.insert("alerts".to_owned(), Value::Array(alerts));
    }
    v
}

fn detection_source(mde: &str) -> &'static str {
    match mde {
        "WindowsDefenderAv" => "antivirus",
        "CustomerTI" => "customTi",
        "CustomDetection" => "customDetection",
        "WindowsDefenderSmartScreen" => "smartScreen",
        "AutomatedInvestigation" => "automatedInvestigation",
        _ => "microsoftDefenderForEndpoint",
    }
}

/// A Graph alerts_v2 record.
pub fn alert(a: &Alert, machine: Option<&Machine>, tenant_id: &str) -> Value {
    json!({
        "id": a.id,
        "providerAlertId": a.id,
        "incidentId": a.incident_id.to_string(),
        "status": camel(&a.status),
        "severity": camel(&a.severity),
        "classification": a.classification.as_deref().map_or_else(|| "unknown".to_owned(), camel),
        "determination": a.determination.as_deref().map_or_else(|| "unknown".to_owned(), camel),
        "serviceSource": "microsoftDefenderForEndpoint",
        "detectionSource": detection_source(&a.detection_source),
        "productName": "Microsoft Defender for Endpoint",
        "detectorId": a.detector_id,
        "tenantId": tenant_id,
        "title": a.title,
        "description": a.description,
        "recommendedActions": "Investigate the device and the file, then isolate the device if needed.",
        "category": a.category,
        "assignedTo": a.assigned_to,
        "alertWebUrl": format!("https://security.microsoft.com/alerts/{}?tid={tenant_id}", a.id),
        "incidentWebUrl": format!("https://security.microsoft.com/incidents/{}?tid={tenant_id}", a.incident_id),
        "actorDisplayName": null,
        "threatDisplayName": a.threat_family_name,
        "threatFamilyName": a.threat_family_name,
        "mitreTechniques": a.mitre_techniques,
        "createdDateTime": format_time(a.alert_creation_time),
        "lastUpdateDateTime": format_time(a.last_update_time),
        "resolvedDateTime": a.resolved_time.map(format_time),
        "firstActivityDateTime": format_time(a.first_event_time),
        "lastActivityDateTime": format_time(a.last_event_time),
        "comments": comments(&a.comments),
        "systemTags": [],
        "evidence": graph_evidence(a, machine),
    })
}

fn graph_evidence(a: &Alert, machine: Option<&Machine>) -> Vec<Value> {
    let created = format_time(a.alert_creation_time);
    let mut out: Vec<Value> = machine
        .map(|m| {
            json!({
                "@odata.type": "#microsoft.graph.security.deviceEvidence",
                "createdDateTime": created, "verdict": "suspicious", "remediationStatus": "none",
                "remediationStatusDetails": null, "roles": [], "detailedRoles": [], "tags": [],
                "firstSeenDateTime": format_time(m.first_seen), "mdeDeviceId": m.id, "azureAdDeviceId": m.aad_device_id,
                "deviceDnsName": m.computer_dns_name, "osPlatform": m.os_platform, "osBuild": m.os_build,
                "version": m.version, "healthStatus": camel(&m.health_status), "riskScore": camel(&m.risk_score),
                "rbacGroupId": m.rbac_group_id, "rbacGroupName": m.rbac_group_name, "onboardingStatus": "onboarded",
                "defenderAvStatus": "updated", "ipInterfaces": [m.last_ip_address], "loggedOnUsers": [], "vmMetadata": null,
            })
        })
        .into_iter()
        .collect();
    out.extend(
        a.evidence
            .iter()
            .filter_map(|e| evidence(e, &created, &a.machine_id)),
    );
    out
}

fn evidence(e: &Evidence, created: &str, device_id: &str) -> Option<Value> {
    let common = |odata_type: &str| {
        json!({
            "@odata.type": odata_type, "createdDateTime": created, "verdict": "malicious",
            "remediationStatus": "none", "remediationStatusDetails": null, "roles": [], "detailedRoles": [], "tags": [],
        })
    };
    let file_details = || {
        json!({
            "sha1": e.sha1, "sha256": e.sha256, "fileName": e.file_name, "filePath": e.file_path,
            "fileSize": 123_456, "filePublisher": null, "signer": null, "issuer": null,
        })
    };
    let v = match e.entity_type.as_str() {
        "File" => {
            let mut v = common("#microsoft.graph.security.fileEvidence");
            v["detectionStatus"] = json!(e.detection_status.as_deref().map(camel));
            v["mdeDeviceId"] = json!(device_id);
            v["fileDetails"] = file_details();
            v
        }
        "Process" => {
            let mut v = common("#microsoft.graph.security.processEvidence");
            v["processId"] = json!(e.process_id);
            v["parentProcessId"] = json!(e.parent_process_id);
            v["processCommandLine"] = json!(e.process_command_line);
            v["processCreationDateTime"] = json!(created);
            v["parentProcessCreationDateTime"] = json!(created);
            v["detectionStatus"] = json!(e.detection_status.as_deref().map(camel));
            v["mdeDeviceId"] = json!(device_id);
            v["imageFile"] = file_details();
            v["parentProcessImageFile"] =
                json!({"fileName": e.parent_process_file_name, "filePath": "C:\\Windows"});
            v["userAccount"] = json!({"accountName": e.account_name, "domainName": e.domain_name});
            v
        }
        "User" => {
            let mut v = common("#microsoft.graph.security.userEvidence");
            v["userAccount"] = json!({
                "accountName": e.account_name, "domainName": e.domain_name, "userSid": e.user_sid,
                "azureAdUserId": e.aad_user_id, "userPrincipalName": e.user_principal_name, "displayName": e.account_name,
            });
            v
        }
        "Url" => {
            let mut v = common("#microsoft.graph.security.urlEvidence");
            v["url"] = json!(e.url);
            v
        }
        "Ip" => {
            let mut v = common("#microsoft.graph.security.ipEvidence");
            v["ipAddress"] = json!(e.ip_address);
            v
        }
        "Registry" => {
            let mut v = common("#microsoft.graph.security.registryKeyEvidence");
            v["registryKey"] = json!(e.registry_key);
            v["registryHive"] = json!(e.registry_hive);
            v
        }
        _ => return None,
    };
    Some(v)
}
