//! The MDE API's JSON views of the world's records (DD `alerts.md`, `machine.md`, `machineaction.md`,
//! `ti-indicator.md`).

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::clock::format_time;
use crate::model::{Alert, Comment, Evidence, Indicator, Machine, MachineAction};
use crate::store::action_status;

fn opt_time(t: Option<OffsetDateTime>) -> Value {
    t.map_or(Value::Null, |t| json!(format_time(t)))
}

/// Comments as `{comment, createdBy, createdTime}`.
pub fn comments(list: &[Comment]) -> Value {
    list.iter()
        .map(|c| json!({"comment": c.comment, "createdBy": c.created_by, "createdTime": format_time(c.created_time)}))
        .collect()
}

/// An MDE alert; `evidence` is `[]` unless expanded.
pub fn alert(a: &Alert, tenant_id: &str, expand_evidence: bool) -> Value {
    let evidence: Vec<Value> = if expand_evidence {
        a.evidence
            .iter()
            .map(|e| evidence(e, a.alert_creation_time))
            .collect()
    } else {
        Vec::new()
    };
    json!({
        "id": a.id,
        "incidentId": a.incident_id,
        "investigationId": a.investigation_id,
        "assignedTo": a.assigned_to,
        "severity": a.severity,
        "status": a.status,
        "classification": a.classification,
        "determination": a.determination,
        "investigationState": a.investigation_state,
        "detectionSource": a.detection_source,
        "detectorId": a.detector_id,
        "category": a.category,
        "threatFamilyName": a.threat_family_name,
        "threatName": a.threat_family_name.as_ref().map(|f| format!("Trojan:Win32/{f}")),
        "title": a.title,
        "description": a.description,
        "alertCreationTime": format_time(a.alert_creation_time),
        "firstEventTime": format_time(a.first_event_time),
        "lastEventTime": format_time(a.last_event_time),
        "lastUpdateTime": format_time(a.last_update_time),
        "resolvedTime": opt_time(a.resolved_time),
        "machineId": a.machine_id,
        "computerDnsName": a.computer_dns_name,
        "rbacGroupName": a.rbac_group_name,
        "aadTenantId": tenant_id,
        "mitreTechniques": a.mitre_techniques,
        "relatedUser": a.related_user.as_ref().map(|(u, d)| json!({"userName": u, "domainName": d})),
        "loggedOnUsers": a.related_user.as_ref().map(|(u, d)| vec![json!({"accountName": u, "domainName": d})]).unwrap_or_default(),
        "comments": comments(&a.comments),
        "evidence": evidence,
    })
}

/// One MDE evidence item (flat shape).
pub fn evidence(e: &Evidence, created: OffsetDateTime) -> Value {
    json!({
        "entityType": e.entity_type,
        "evidenceCreationTime": format_time(created),
        "sha1": e.sha1,
        "sha256": e.sha256,
        "fileName": e.file_name,
        "filePath": e.file_path,
        "processId": e.process_id,
        "processCommandLine": e.process_command_line,
        "processCreationTime": e.process_id.map(|_| format_time(created)),
        "parentProcessId": e.parent_process_id,
        "parentProcessCreationTime": e.parent_process_id.map(|_| format_time(created)),
        "parentProcessFileName": e.parent_process_file_name,
        "parentProcessFilePath": e.parent_process_file_name.as_ref().map(|_| "C:\\Windows"),
        "ipAddress": e.ip_address,
        "url": e.url,
        "registryKey": e.registry_key,
        "registryHive": e.registry_hive,
        "registryValueType": null,
        "registryValue": null,
        "accountName": e.account_name,
        "domainName": e.domain_name,
        "userSid": e.user_sid,
        "aadUserId": e.aad_user_id,
        "userPrincipalName": e.user_principal_name,
        "detectionStatus": e.detection_status,
    })
}

/// An MDE machine.
pub fn machine(m: &Machine) -> Value {
    json!({
        "id": m.id,
        "computerDnsName": m.computer_dns_name,
        "firstSeen": format_time(m.first_seen),
        "lastSeen": format_time(m.last_seen),
        "osPlatform": m.os_platform,
        "osVersion": null,
        "osProcessor": "x64",
        "version": m.version,
        "lastIpAddress": m.last_ip_address,
        "lastExternalIpAddress": m.last_external_ip_address,
        "agentVersion": "10.8760.22621.1010",
        "osBuild": (m.os_build > 0).then_some(m.os_build),
        "healthStatus": m.health_status,
        "deviceValue": m.device_value,
        "rbacGroupId": m.rbac_group_id,
        "rbacGroupName": m.rbac_group_name,
        "riskScore": m.risk_score,
        "exposureLevel": m.exposure_level,
        "isAadJoined": m.is_windows(),
        "aadDeviceId": m.aad_device_id,
        "machineTags": m.machine_tags,
        "onboardingStatus": m.onboarding_status,
        "osArchitecture": "64-bit",
        "managedBy": "MicrosoftDefenderForEndpoint",
        "ipAddresses": [{"ipAddress": m.last_ip_address, "macAddress": m.mac_address.replace(':', "").to_uppercase(), "type": "Ethernet", "operationalStatus": "Up"}],
    })
}

/// A machine action, with its status at `now`.
pub fn machine_action(a: &MachineAction, now: OffsetDateTime) -> Value {
    let (status, updated) = action_status(a, now);
    let cancel = a.cancellation.as_ref();
    json!({
        "id": a.id,
        "type": a.action_type,
        "title": null,
        "requestor": a.requestor,
        "requestorComment": a.requestor_comment,
        "status": status,
        "machineId": a.machine_id,
        "computerDnsName": a.computer_dns_name,
        "creationDateTimeUtc": format_time(a.creation_time),
        "lastUpdateDateTimeUtc": format_time(updated),
        "cancellationRequestor": cancel.map(|c| &c.0),
        "cancellationComment": cancel.map(|c| &c.1),
        "cancellationDateTimeUtc": cancel.map(|c| format_time(c.2)),
        "errorHResult": 0,
        "scope": a.scope,
        "externalId": null,
        "requestSource": "PublicApi",
        "relatedFileInfo": a.related_sha1.as_ref().map(|s| json!({"fileIdentifier": s, "fileIdentifierType": "Sha1"})),
        "commands": [],
        "troubleshootInfo": null,
    })
}

/// An indicator.
pub fn indicator(i: &Indicator) -> Value {
    json!({
        "id": i.id.to_string(),
        "indicatorValue": i.indicator_value,
        "indicatorType": i.indicator_type,
        "action": i.action,
        "application": i.application,
        "source": i.created_by_display_name,
        "sourceType": i.source_type,
        "createdBySource": if i.source_type == "AadApp" { "PublicApi" } else { "Portal" },
        "createdBy": i.created_by,
        "createdByDisplayName": i.created_by_display_name,
        "title": i.title,
        "description": i.description,
        "recommendedActions": i.recommended_actions,
        "creationTimeDateTimeUtc": format_time(i.creation_time),
        "expirationTime": opt_time(i.expiration_time),
        "lastUpdateTime": format_time(i.last_update_time),
        "lastUpdatedBy": i.created_by,
        "severity": i.severity,
        "rbacGroupNames": i.rbac_group_names,
        "rbacGroupIds": [],
        "generateAlert": i.generate_alert,
        "educateUrl": i.educate_url,
        "externalID": i.external_id,
        "mitreTechniques": [],
        "version": null,
    })
}
