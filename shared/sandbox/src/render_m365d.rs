//! The Microsoft 365 Defender API's JSON view of incidents and their alerts (DD `api-list-incidents.md`,
//! `api-incident.md`).

use serde_json::{Value, json};

use crate::clock::format_time;
use crate::model::{Alert, Evidence, Incident, IncidentStatus, Machine};
use crate::render_mde::comments;
use crate::store::{AlertSummary, TenantData};

/// The incident's status as Microsoft 365 Defender shows it.
pub fn status(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Active | IncidentStatus::AwaitingAction => "Active",
        IncidentStatus::InProgress => "InProgress",
        IncidentStatus::Resolved => "Resolved",
        IncidentStatus::Redirected => "Redirected",
    }
}

/// A Microsoft 365 Defender incident with its alerts (`alerts`: the incident's alerts, in store order).
pub fn incident(data: &TenantData, i: &Incident, alerts: &[&Alert], tenant_id: &str) -> Value {
    let summary = AlertSummary::of(alerts.iter().copied());
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|a| alert(a, data.machine(&a.machine_id)))
        .collect();
    json!({
        "incidentId": i.id,
        "incidentUri": format!("https://security.microsoft.com/incidents/{}?tid={tenant_id}", i.id),
        "redirectIncidentId": null,
        "incidentName": i.name,
        "createdTime": format_time(i.created_time),
        "lastUpdateTime": format_time(summary.last_update(i)),
        "assignedTo": i.assigned_to,
        "classification": i.classification.as_deref().unwrap_or("Unknown"),
        "determination": i.determination.as_deref().unwrap_or("NotAvailable"),
        "status": status(i.status),
        "severity": summary.severity(),
        "detectionSource": alerts.first().and_then(|a| a.get("detectionSource")).cloned().unwrap_or(Value::Null),
        "tags": i.tags,
        "comments": comments(&i.comments),
        "alerts": alerts,
    })
}

fn alert(a: &Alert, machine: Option<&Machine>) -> Value {
    json!({
        "alertId": a.id,
        "providerAlertId": a.id,
        "incidentId": a.incident_id,
        "serviceSource": "MicrosoftDefenderForEndpoint",
        "creationTime": format_time(a.alert_creation_time),
        "lastUpdatedTime": format_time(a.last_update_time),
        "resolvedTime": a.resolved_time.map(format_time),
        "firstActivity": format_time(a.first_event_time),
        "lastActivity": format_time(a.last_event_time),
        "title": a.title,
        "description": a.description,
        "category": a.category,
        "status": a.status,
        "severity": a.severity,
        "investigationId": a.investigation_id,
        "investigationState": a.investigation_state,
        "classification": a.classification,
        "determination": a.determination,
        "detectionSource": a.detection_source,
        "detectorId": a.detector_id,
        "assignedTo": a.assigned_to,
        "actorName": null,
        "threatFamilyName": a.threat_family_name,
        "mitreTechniques": a.mitre_techniques,
        "devices": machine.map(|m| vec![device(m)]).unwrap_or_default(),
        "entities": a.evidence.iter().map(|e| entity(e, &a.machine_id)).collect::<Vec<_>>(),
    })
}

fn device(m: &Machine) -> Value {
    json!({
        "mdatpDeviceId": m.id,
        "aadDeviceId": m.aad_device_id,
        "deviceDnsName": m.computer_dns_name,
        "osPlatform": m.os_platform,
        "version": m.version,
        "osProcessor": "x64",
        "osBuild": (m.os_build > 0).then_some(m.os_build),
        "healthStatus": m.health_status,
        "riskScore": m.risk_score,
        "rbacGroupName": m.rbac_group_name,
        "rbacGroupId": m.rbac_group_id,
        "firstSeen": format_time(m.first_seen),
        "tags": m.machine_tags,
        "defenderAvStatus": "Updated",
        "onboardingStatus": m.onboarding_status,
        "vmMetadata": null,
    })
}

/// An entity: every documented key present, null when not applicable.
fn entity(e: &Evidence, device_id: &str) -> Value {
    json!({
        "entityType": e.entity_type,
        "sha1": e.sha1, "sha256": e.sha256, "fileName": e.file_name, "filePath": e.file_path,
        "processId": e.process_id, "processCommandLine": e.process_command_line, "processCreationTime": null,
        "parentProcessId": e.parent_process_id, "parentProcessCreationTime": null,
        "ipAddress": e.ip_address, "url": e.url,
        "accountName": e.account_name, "domainName": e.domain_name, "userSid": e.user_sid,
        "aadUserId": e.aad_user_id, "userPrincipalName": e.user_principal_name,
        "mailboxDisplayName": null, "mailboxAddress": null, "clusterBy": null, "sender": null, "recipient": null,
        "subject": null, "deliveryAction": null, "securityGroupId": null, "securityGroupName": null,
        "registryHive": e.registry_hive, "registryKey": e.registry_key, "registryValueType": null, "registryValue": null,
        "deviceId": if matches!(e.entity_type.as_str(), "File" | "Process") { Value::from(device_id) } else { Value::Null },
    })
}
