//! Deterministic, realistic seed data: machines, process events, alerts with evidence grouped into incidents, and
//! portal-created indicators. The same seed, tenant and volumes give the same records (timestamps are relative to the
//! sandbox's start).

use rand::rngs::SmallRng;
use rand::seq::IndexedRandom as _;
use rand::{RngExt as _, SeedableRng as _};
use sha2::Digest as _;
use time::{Duration, OffsetDateTime};

use crate::config::{DataSettings, TenantSettings};
use crate::model::{Alert, Comment, Evidence, Incident, IncidentStatus, Indicator, Machine, ProcessEvent};
use crate::store::TenantData;

struct Threat {
    title: &'static str,
    category: &'static str,
    severity: &'static str,
    detection_source: &'static str,
    family: Option<&'static str>,
    mitre: &'static [&'static str],
    file: &'static str,
    folder: &'static str,
    command: &'static str,
    url: Option<&'static str>,
}

const THREATS: &[Threat] = &[
    Threat {
        title: "Suspicious PowerShell command line",
        category: "Execution",
        severity: "Medium",
        detection_source: "WindowsDefenderAtp",
        family: None,
        mitre: &["T1059.001"],
        file: "powershell.exe",
        folder: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0",
        command: "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA",
        url: None,
    },
    Threat {
        title: "'Mimikatz' credential theft tool",
        category: "CredentialAccess",
        severity: "High",
        detection_source: "WindowsDefenderAv",
        family: Some("Mimikatz"),
        mitre: &["T1003.001"],
        file: "mimi.exe",
        folder: "C:\\Users\\Public\\Downloads",
        command: "mimi.exe privilege::debug sekurlsa::logonpasswords exit",
        url: None,
    },
    Threat {
        title: "Ransomware behavior detected in the file system",
        category: "Ransomware",
        severity: "High",
        detection_source: "WindowsDefenderAtp",
        family: Some("Ryuk"),
        mitre: &["T1486"],
        file: "svchosts.exe",
        folder: "C:\\ProgramData\\Temp",
        command: "svchosts.exe -encrypt C:\\Shares",
        url: None,
    },
    Threat {
        title: "Connection to a custom network indicator",
        category: "CommandAndControl",
        severity: "Low",
        detection_source: "CustomerTI",
        family: None,
        mitre: &["T1071.001"],
        file: "msedge.exe",
        folder: "C:\\Program Files (x86)\\Microsoft\\Edge\\Application",
        command: "msedge.exe --single-argument http://malicious.contoso-bad.example/payload",
        url: Some("http://malicious.contoso-bad.example/payload"),
    },
    Threat {
        title: "Suspicious scheduled task created",
        category: "Persistence",
        severity: "Medium",
        detection_source: "WindowsDefenderAtp",
        family: None,
        mitre: &["T1053.005"],
        file: "schtasks.exe",
        folder: "C:\\Windows\\System32",
        command: "schtasks.exe /create /tn Updater /tr C:\\ProgramData\\upd.exe /sc minute",
        url: None,
    },
    Threat {
        title: "An active 'Emotet' malware was detected",
        category: "Malware",
        severity: "High",
        detection_source: "WindowsDefenderAv",
        family: Some("Emotet"),
        mitre: &["T1204.002"],
        file: "invoice_4471.docm",
        folder: "C:\\Users\\Public\\Documents",
        command: "WINWORD.EXE /n invoice_4471.docm",
        url: None,
    },
    Threat {
        title: "Unwanted software was detected",
        category: "SuspiciousActivity",
        severity: "Informational",
        detection_source: "WindowsDefenderAv",
        family: Some("BrowseFox"),
        mitre: &[],
        file: "setup_toolbar.exe",
        folder: "C:\\Users\\Public\\Downloads",
        command: "setup_toolbar.exe /silent",
        url: None,
    },
];

const PLATFORMS: &[(&str, &str, u64)] = &[
    ("Windows11", "23H2", 22631),
    ("Windows10", "22H2", 19045),
    ("WindowsServer2019", "1809", 17763),
    ("WindowsServer2022", "21H2", 20348),
    ("Linux", "Ubuntu 22.04", 0),
    ("macOS", "14.5", 0),
];

const USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "grace"];

/// Generates one tenant's data.
pub fn tenant_data(
    tenant: &TenantSettings,
    index: usize,
    data: &DataSettings,
    now: OffsetDateTime,
) -> TenantData {
    let mut rng = SmallRng::seed_from_u64(data.seed ^ stable_hash(&tenant.id));
    let domain = format!("{}.example", tenant.display_name.to_lowercase().replace(' ', "-"));
    let mut machines: Vec<Machine> = (0..data.machines_per_tenant.max(1))
        .map(|i| machine(&mut rng, &tenant.id, &domain, i, index, now))
        .collect();
    crate::ip_history::seed(&mut machines, index, now);
    let mut events = Vec::new();
    for m in &machines {
        for _ in 0..4 {
            events.push(process_event(&mut rng, m, now));
        }
    }
    let mut tenant_data = TenantData::new(machines, events, rng);
    let base_incident = 1000 * (index as u64 + 1);
    tenant_data.next_incident_id = base_incident;
    let mut remaining = data.alerts_per_tenant;
    while remaining > 0 {
        let size = tenant_data.rng.random_range(1..=4usize).min(remaining);
        let age = Duration::minutes(tenant_data.rng.random_range(30..14 * 24 * 60));
        // A sub-second offset unique per incident (no random draw), so creation times rarely tie and the API order
        // seldom needs its id tie-break.
        let jitter = Duration::microseconds((tenant_data.next_incident_id % 1_000_000) as i64);
        new_incident(&mut tenant_data, &domain, now - age + jitter, size);
        remaining -= size;
    }
    tenant_data.clamp_to_now(0, 0, now);
    // Stored oldest first, the exact reverse of the API order (newest first), so the per-request sort is linear and
    // later alerts and incidents append in order. An incident's alerts keep their relative order (7 minutes apart).
    oldest_first(&mut tenant_data.alerts);
    tenant_data
        .incidents
        .sort_by(|a, b| a.created_time.cmp(&b.created_time).then_with(|| a.id.cmp(&b.id)));
    for i in 0..data.indicators_per_tenant {
        let created = now - Duration::days(i as i64 + 1);
        let id = tenant_data.next_indicator_id();
        tenant_data.indicators.push(Indicator {
            id,
            indicator_value: hex::encode(sha1::Sha1::digest(format!("{}-{i}", tenant.id).as_bytes())),
            indicator_type: "FileSha1".to_owned(),
            action: "AlertAndBlock".to_owned(),
            title: format!("Known bad file #{i}"),
            description: "Blocked by the SOC".to_owned(),
            application: None,
            expiration_time: None,
            severity: Some("High".to_owned()),
            recommended_actions: None,
            rbac_group_names: Vec::new(),
            educate_url: None,
            generate_alert: true,
            created_by: format!("soc-admin@{domain}"),
            created_by_display_name: "SOC Admin".to_owned(),
            source_type: "User".to_owned(),
            creation_time: created,
            last_update_time: created,
            external_id: None,
        });
    }
    tenant_data
}

/// Sorts alerts oldest first, ties by id descending. Sorts indices and then moves each (large) alert once.
fn oldest_first(alerts: &mut [Alert]) {
    let mut order: Vec<usize> = (0..alerts.len()).collect();
    order.sort_unstable_by(|&i, &j| {
        let (a, b) = (&alerts[i], &alerts[j]);
        a.alert_creation_time
            .cmp(&b.alert_creation_time)
            .then_with(|| b.id.cmp(&a.id))
    });
    // Position `i` takes the alert first at `order[i]`; earlier swaps moved it on along the same cycle.
    for i in 0..order.len() {
        let mut j = order[i];
        while j < i {
            j = order[j];
        }
        alerts.swap(i, j);
    }
}

/// Creates a new incident of `size` alerts on one machine, created at `created`; returns its id.
pub fn new_incident(data: &mut TenantData, domain: &str, created: OffsetDateTime, size: usize) -> u64 {
    let incident_id = data.next_incident_id;
    data.next_incident_id += 1;
    let machine_index = data.rng.random_range(0..data.machines.len());
    let user = *USERS.choose(&mut data.rng).unwrap_or(&"alice");
    let first_alert = data.alerts.len();
    let mut first_title = String::new();
    for k in 0..size {
        let threat = THREATS.choose(&mut data.rng).unwrap_or(&THREATS[0]);
        let alert_created = created + Duration::minutes(k as i64 * 7);
        let alert = alert(
            data,
            threat,
            machine_index,
            incident_id,
            user,
            domain,
            alert_created,
        );
        if k == 0 {
            first_title = alert.title.clone();
        }
        data.alerts.push(alert);
    }
    let machine_name = data.machines[machine_index].computer_dns_name.clone();
    // Every eighth incident waits for action (Graph's evolvable `awaitingAction`), so every tenant shows one.
    let roll = if data.incidents.len() % 8 == 2 {
        0
    } else {
        data.rng.random_range(1..10u8)
    };
    let (status, classification, determination) = match roll {
        0 => (IncidentStatus::AwaitingAction, None, None),
        1 => (IncidentStatus::InProgress, None, None),
        2 => (
            IncidentStatus::Resolved,
            Some("TruePositive".to_owned()),
            Some("Malware".to_owned()),
        ),
        _ => (IncidentStatus::Active, None, None),
    };
    let name = if size > 1 {
        format!(
            "Multi-stage incident involving {} on one endpoint",
            categories_text(&data.alerts[first_alert..])
        )
    } else {
        format!("{first_title} on one endpoint")
    };
    let comments = if roll == 2 {
        vec![Comment {
            comment: "Confirmed and remediated by the SOC.".to_owned(),
            created_by: format!("soc-admin@{domain}"),
            created_time: created + Duration::hours(2),
        }]
    } else {
        Vec::new()
    };
    data.incidents.push(Incident {
        id: incident_id,
        name,
        created_time: created,
        last_update_time: created + Duration::minutes(size as i64 * 7),
        assigned_to: (roll <= 2).then(|| format!("soc-analyst@{domain}")),
        status,
        classification,
        determination,
        tags: vec![machine_name],
        comments,
    });
    incident_id
}

fn categories_text(alerts: &[Alert]) -> String {
    let mut cats: Vec<&str> = alerts.iter().map(|a| a.category.as_str()).collect();
    cats.dedup();
    cats.join(" & ")
}

#[allow(clippy::too_many_arguments)]
fn alert(
    data: &mut TenantData,
    threat: &Threat,
    machine_index: usize,
    incident_id: u64,
    user: &str,
    domain: &str,
    created: OffsetDateTime,
) -> Alert {
    let rng = &mut data.rng;
    let m = &data.machines[machine_index];
    let ticks: u64 = rng.random_range(637_400_000_000_000_000..638_900_000_000_000_000);
    let id = format!("da{ticks}_{}", rng.random_range(1_000_000_000u64..2_147_483_647));
    let first_event = created - Duration::minutes(rng.random_range(1..30));
    let sha1 = hex::encode(sha1::Sha1::digest(format!("{}{}", threat.file, m.id).as_bytes()));
    let sha256 = hex::encode(sha2::Sha256::digest(
        format!("{}{}", threat.file, m.id).as_bytes(),
    ));
    let upn = format!("{user}@{domain}");
    let netbios = domain.split('.').next().unwrap_or("CORP").to_uppercase();
    let sid = format!(
        "S-1-5-21-{}-{}-{}-{}",
        rng.random_range(1_000_000_000u64..4_000_000_000),
        1_234_567_890u64,
        987_654_321u64,
        rng.random_range(1000..9999)
    );
    let aad_user = uuid_from(rng);
    let mut evidence = vec![
        Evidence {
            entity_type: "File".to_owned(),
            sha1: Some(sha1.clone()),
            sha256: Some(sha256.clone()),
            file_name: Some(threat.file.to_owned()),
            file_path: Some(threat.folder.to_owned()),
            detection_status: Some(
                if threat.detection_source == "WindowsDefenderAv" {
                    "Prevented"
                } else {
                    "Detected"
                }
                .to_owned(),
            ),
            ..Evidence::default()
        },
        Evidence {
            entity_type: "Process".to_owned(),
            sha1: Some(sha1),
            sha256: Some(sha256),
            file_name: Some(threat.file.to_owned()),
            file_path: Some(threat.folder.to_owned()),
            process_id: Some(rng.random_range(1000..30000)),
            process_command_line: Some(threat.command.to_owned()),
            parent_process_id: Some(rng.random_range(500..1000)),
            parent_process_file_name: Some("explorer.exe".to_owned()),
            account_name: Some(user.to_owned()),
            domain_name: Some(netbios.clone()),
            detection_status: Some("Detected".to_owned()),
            ..Evidence::default()
        },
        Evidence {
            entity_type: "User".to_owned(),
            account_name: Some(user.to_owned()),
            domain_name: Some(netbios.clone()),
            user_sid: Some(sid),
            aad_user_id: Some(aad_user),
            user_principal_name: Some(upn),
            ..Evidence::default()
        },
    ];
    if let Some(url) = threat.url {
        evidence.push(Evidence {
            entity_type: "Url".to_owned(),
            url: Some(url.to_owned()),
            ..Evidence::default()
        });
        evidence.push(Evidence {
            entity_type: "Ip".to_owned(),
            ip_address: Some(format!("203.0.113.{}", rng.random_range(1..255))),
            ..Evidence::default()
        });
    }
    let resolved = rng.random_range(0..4u8) == 0;
    let status = if resolved {
        "Resolved"
    } else if rng.random_bool(0.3) {
        "InProgress"
    } else {
        "New"
    };
    let last_update = created + Duration::minutes(rng.random_range(1..120));
    Alert {
        id,
        incident_id,
        investigation_id: (threat.detection_source != "CustomerTI").then(|| rng.random_range(100..9999)),
        investigation_state: if resolved {
            "SuccessfullyRemediated"
        } else {
            "Running"
        }
        .to_owned(),
        title: threat.title.to_owned(),
        description: format!("{} was observed on {}.", threat.title, m.computer_dns_name),
        category: threat.category.to_owned(),
        severity: threat.severity.to_owned(),
        status: status.to_owned(),
        classification: resolved.then(|| "TruePositive".to_owned()),
        determination: resolved.then(|| "Malware".to_owned()),
        assigned_to: (status != "New").then(|| "Automation".to_owned()),
        detection_source: threat.detection_source.to_owned(),
        detector_id: uuid_from(rng),
        threat_family_name: threat.family.map(str::to_owned),
        machine_id: m.id.clone(),
        computer_dns_name: m.computer_dns_name.clone(),
        rbac_group_name: m.rbac_group_name.clone(),
        alert_creation_time: created,
        first_event_time: first_event,
        last_event_time: created,
        last_update_time: last_update,
        resolved_time: resolved.then_some(last_update),
        mitre_techniques: threat.mitre.iter().map(|s| (*s).to_owned()).collect(),
        related_user: Some((user.to_owned(), netbios)),
        comments: Vec::new(),
        evidence,
    }
}

fn machine(
    rng: &mut SmallRng,
    tenant_id: &str,
    domain: &str,
    i: usize,
    tenant_index: usize,
    now: OffsetDateTime,
) -> Machine {
    let (platform, version, build) = PLATFORMS[i % PLATFORMS.len()];
    let id = hex::encode(sha1::Sha1::digest(format!("{tenant_id}/machine/{i}").as_bytes()));
    let prefix = if platform.starts_with("WindowsServer") {
        "srv"
    } else {
        "ws"
    };
    let health = if i % 7 == 6 { "Inactive" } else { "Active" };
    let group = if platform.starts_with("WindowsServer") {
        (41, "Servers")
    } else {
        (40, "Workstations")
    };
    Machine {
        id,
        computer_dns_name: format!("{prefix}-{i:03}.{domain}"),
        os_platform: platform.to_owned(),
        os_build: build,
        version: version.to_owned(),
        first_seen: now - Duration::days(rng.random_range(60..400)),
        last_seen: now - Duration::minutes(rng.random_range(5..600)),
        last_ip_address: format!("10.{}.{}.{}", tenant_index + 1, i / 200, 10 + i % 200),
        last_external_ip_address: format!("198.51.100.{}", 10 + tenant_index),
        mac_address: format!("00:15:5d:{:02x}:{:02x}:{:02x}", tenant_index, i / 256, i % 256),
        health_status: health.to_owned(),
        risk_score: ["None", "Low", "Medium", "High"]
            .choose(rng)
            .unwrap_or(&"None")
            .to_string(),
        exposure_level: ["Low", "Medium", "High"]
            .choose(rng)
            .unwrap_or(&"Low")
            .to_string(),
        device_value: if i == 0 { "High" } else { "Normal" }.to_owned(),
        aad_device_id: uuid_from(rng),
        rbac_group_id: group.0,
        rbac_group_name: group.1.to_owned(),
        machine_tags: if i.is_multiple_of(3) {
            vec!["Finance".to_owned()]
        } else {
            Vec::new()
        },
        onboarding_status: "Onboarded".to_owned(),
        ip_history: Vec::new(),
    }
}

fn process_event(rng: &mut SmallRng, m: &Machine, now: OffsetDateTime) -> ProcessEvent {
    let threat = THREATS.choose(rng).unwrap_or(&THREATS[0]);
    let seconds = rng.random_range(60..20 * 24 * 3600);
    ProcessEvent {
        timestamp: now - Duration::seconds(seconds),
        device_id: m.id.clone(),
        device_name: m.computer_dns_name.clone(),
        report_id: rng.random_range(1000..900_000),
        file_name: threat.file.to_owned(),
        folder_path: format!("{}\\{}", threat.folder, threat.file),
        sha1: hex::encode(sha1::Sha1::digest(format!("{}{}", threat.file, m.id).as_bytes())),
        process_command_line: threat.command.to_owned(),
        account_name: USERS.choose(rng).unwrap_or(&"alice").to_string(),
    }
}

/// A GUID drawn from the seeded generator.
pub fn uuid_from(rng: &mut SmallRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

fn stable_hash(s: &str) -> u64 {
    let digest = sha2::Sha256::digest(s.to_lowercase().as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use crate::store::World;
    use crate::{SandboxConfig, api_alerts, api_incidents};

    #[test]
    fn seeded_records_are_stored_in_reverse_api_order() {
        let world = World::seed(&SandboxConfig::default(), time::OffsetDateTime::now_utc());
        let data = world.tenant(crate::DEMO_TENANT_FULL).expect("demo tenant");
        let alerts: Vec<&str> = api_alerts::ordered(data).iter().map(|a| a.id.as_str()).collect();
        let stored: Vec<&str> = data.alerts.iter().rev().map(|a| a.id.as_str()).collect();
        assert_eq!(alerts, stored);
        let incidents: Vec<u64> = api_incidents::ordered(data).iter().map(|i| i.id).collect();
        let stored: Vec<u64> = data.incidents.iter().rev().map(|i| i.id).collect();
        assert_eq!(incidents, stored);
        assert!(data.alerts.len() > 10);
    }
}
