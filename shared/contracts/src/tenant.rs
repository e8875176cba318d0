//! Tenants: identifiers and the per-tenant configuration of the tenant registry.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::{CloudSettings, ContractError};

macro_rules! guid_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, echo_input = $echo:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The canonical form: lowercase, hyphenated.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ContractError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::try_parse(s.trim())
                    .map(|u| Self(u.hyphenated().to_string()))
                    .map_err(|_| {
                        // Echo the input only where it cannot be a misplaced secret.
                        let shown = if $echo { format!("{s:?}") } else { "the value".to_string() };
                        ContractError::invalid(
                            $what,
                            format!("{shown} is not a GUID (expected e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47)"),
                        )
                    })
            }
        }

        impl TryFrom<String> for $name {
            type Error = ContractError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "format": "uuid",
                    "description": concat!("A ", $what, ": a GUID, any case, canonicalised to lowercase."),
                })
            }
        }
    };
}

guid_newtype!(
    /// An Entra ID (Azure AD) tenant id. Always the GUID: it is what the `tid` claim of a token carries, so a
    /// token can be checked against it; verified domain names are not accepted.
    TenantId,
    "tenant id",
    echo_input = true
);

guid_newtype!(
    /// The application (client) id of the multi-tenant Entra ID application that mde-bridge acts as.
    ClientId,
    "client id",
    // A client id sits beside a client secret in the credential JSON: a swapped field must not echo the secret.
    echo_input = false
);

/// A dataset that incident-export can export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    /// Microsoft Graph security incidents (`/v1.0/security/incidents`).
    GraphIncidents,
    /// Microsoft Graph security alerts, current schema (`/v1.0/security/alerts_v2`).
    GraphAlertsV2,
    /// Microsoft Defender for Endpoint alerts with evidence (`/api/alerts?$expand=evidence`).
    MdeAlerts,
    /// Microsoft 365 Defender incidents (`/api/incidents`).
    M365dIncidents,
}

impl Dataset {
    /// Every dataset, in a stable order.
    pub const ALL: [Dataset; 4] = [
        Dataset::GraphIncidents,
        Dataset::GraphAlertsV2,
        Dataset::MdeAlerts,
        Dataset::M365dIncidents,
    ];

    /// The name used in configuration, object keys and metrics (`graph_incidents`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Dataset::GraphIncidents => "graph_incidents",
            Dataset::GraphAlertsV2 => "graph_alerts_v2",
            Dataset::MdeAlerts => "mde_alerts",
            Dataset::M365dIncidents => "m365d_incidents",
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dataset {
    type Err = ContractError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dataset::ALL.into_iter().find(|d| d.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = Dataset::ALL.iter().map(|d| d.as_str()).collect();
            ContractError::invalid(
                "dataset",
                format!("unknown dataset {s:?}; expected one of {}", names.join(", ")),
            )
        })
    }
}

/// A response action a partner may ask mde-bridge to perform in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Isolate a device from the network.
    IsolateDevice,
    /// Release a device from isolation.
    ReleaseDevice,
    /// Run an antivirus scan on a device.
    AntivirusScan,
    /// Restrict app execution to Microsoft-signed binaries.
    RestrictAppExecution,
    /// Lift the app execution restriction.
    UnrestrictAppExecution,
    /// Collect an investigation package from a device.
    CollectInvestigationPackage,
    /// Stop a file's processes and quarantine it.
    StopAndQuarantineFile,
    /// Add or update an indicator (block, allow, alert).
    AddIndicator,
    /// Remove an indicator.
    RemoveIndicator,
    /// Update an alert (status, classification, determination, assignee, comment).
    UpdateAlert,
    /// Update an incident (status, classification, determination, assignee, comment).
    UpdateIncident,
    /// Run an advanced hunting query.
    HuntingQuery,
    /// Record a partner's alert on the Defender side, correlated with a device.
    CorrelateAlert,
}

impl ActionKind {
    /// Its name in configurations and events (`isolate_device`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::IsolateDevice => "isolate_device",
            ActionKind::ReleaseDevice => "release_device",
            ActionKind::AntivirusScan => "antivirus_scan",
            ActionKind::RestrictAppExecution => "restrict_app_execution",
            ActionKind::UnrestrictAppExecution => "unrestrict_app_execution",
            ActionKind::CollectInvestigationPackage => "collect_investigation_package",
            ActionKind::StopAndQuarantineFile => "stop_and_quarantine_file",
            ActionKind::AddIndicator => "add_indicator",
            ActionKind::RemoveIndicator => "remove_indicator",
            ActionKind::UpdateAlert => "update_alert",
            ActionKind::UpdateIncident => "update_incident",
            ActionKind::HuntingQuery => "hunting_query",
            ActionKind::CorrelateAlert => "correlate_alert",
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One customer tenant in the tenant registry: a record of the inline list (`[[tenants]]`), the local registry
/// file or the DynamoDB registry table (one item per tenant, keyed by `tenant_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The customer's Entra ID tenant id (GUID).
    pub tenant_id: TenantId,
    /// A human-readable name, used in logs and reports only.
    pub display_name: String,
    /// Datasets incident-export exports for this tenant. Empty means none.
    #[serde(default)]
    pub datasets: Vec<Dataset>,
    /// Actions partners may perform in this tenant. Empty means none.
    #[serde(default)]
    pub actions: Vec<ActionKind>,
    /// A disabled tenant stays in the registry but no function works for it.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The tenant's Microsoft cloud, when it is not the deployment's `[cloud]` (an MSSP serving commercial and
    /// GCC High customers from one deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<CloudSettings>,
    /// The secret holding the application credential for this tenant, when it is not the deployment's
    /// `credential.secret_id` (sovereign clouds need their own app registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_secret_id: Option<String>,
    /// Partner keys (of the webhook) allowed to act on this tenant, and what each may do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<PartnerBinding>,
    /// The record's version in the registry: 1 when created, one more on each update; writes name the version
    /// they replace, so two operators cannot overwrite each other. 0 for the inline list.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u64,
    /// When the record was last written (RFC 3339), set by the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// A partner key bound to a tenant: the webhook lets a request signed with `key_id` act on this tenant only
/// with these actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerBinding {
    /// The partner key's id (as in the partner keys secret): letters, digits, `.`, `_`, `-`.
    pub key_id: String,
    /// Actions the key may ask for in this tenant; each must also be in the tenant's `actions`.
    #[serde(default)]
    pub actions: Vec<ActionKind>,
    /// Plan only: requests are checked and recorded but nothing is written to Defender.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

fn enabled_by_default() -> bool {
    true
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl TenantConfig {
    /// A new, enabled record with nothing configured yet.
    pub fn new(tenant_id: TenantId, display_name: impl Into<String>) -> Self {
        Self {
            tenant_id,
            display_name: display_name.into(),
            datasets: Vec::new(),
            actions: Vec::new(),
            enabled: true,
            cloud: None,
            credential_secret_id: None,
            partners: Vec::new(),
            version: 0,
            updated_at: None,
        }
    }

    /// Checks what types alone cannot. Errors name the field (`display_name`, `partners[0].actions`, ...).
    pub fn validate(&self) -> Result<(), ContractError> {
        let name = self.display_name.trim();
        if name.is_empty() || self.display_name.chars().count() > 256 {
            return Err(ContractError::invalid(
                "display_name",
                "must be 1 to 256 characters, not only spaces",
            ));
        }
        if let Some(i) = first_repeat(&self.datasets) {
            return Err(ContractError::invalid(
                format!("datasets[{i}]"),
                format!("{} is listed twice", self.datasets[i]),
            ));
        }
        if let Some(i) = first_repeat(&self.actions) {
            return Err(ContractError::invalid(
                format!("actions[{i}]"),
                format!("{:?} is listed twice", self.actions[i]),
            ));
        }
        if let Some(cloud) = &self.cloud {
            cloud.endpoints()?;
        }
        if let Some(id) = &self.credential_secret_id
            && (id.trim().is_empty() || id.len() > 2048)
        {
            return Err(ContractError::invalid(
                "credential_secret_id",
                "must be a secret name or ARN (1 to 2048 characters), or absent for the deployment's credential",
            ));
        }
        let mut keys = std::collections::HashSet::new();
        for (i, p) in self.partners.iter().enumerate() {
            let valid_id = (1..=128).contains(&p.key_id.len())
                && p.key_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid_id {
                return Err(ContractError::invalid(
                    format!("partners[{i}].key_id"),
                    format!(
                        "{:?} is not a key id (1 to 128 letters, digits, '.', '_' or '-')",
                        p.key_id
                    ),
                ));
            }
            if !keys.insert(p.key_id.as_str()) {
                return Err(ContractError::invalid(
                    format!("partners[{i}].key_id"),
                    format!("{} is bound twice", p.key_id),
                ));
            }
            if let Some((j, a)) = p
                .actions
                .iter()
                .enumerate()
                .find(|(_, a)| !self.actions.contains(a))
            {
                return Err(ContractError::invalid(
                    format!("partners[{i}].actions[{j}]"),
                    format!("{a:?} is not one of the tenant's actions; add it to actions first"),
                ));
            }
        }
        Ok(())
    }

    /// The same record without what the registry maintains (version, time): two records with equal content
    /// compare equal this way, which makes imports idempotent.
    pub fn content(&self) -> TenantConfig {
        TenantConfig {
            version: 0,
            updated_at: None,
            ..self.clone()
        }
    }

    /// The partner binding of `key_id`, if the key may act on this tenant.
    pub fn binding(&self, key_id: &str) -> Option<&PartnerBinding> {
        self.partners.iter().find(|p| p.key_id == key_id)
    }
}

fn first_repeat<T: PartialEq>(items: &[T]) -> Option<usize> {
    (1..items.len()).find(|&i| items[..i].contains(&items[i]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tenant_id_is_canonicalised_to_lowercase() {
        let id: TenantId = "72F988BF-86F1-41AF-91AB-2D7CD011DB47"
            .parse()
            .expect("valid guid");
        assert_eq!(id.as_str(), "72f988bf-86f1-41af-91ab-2d7cd011db47");
    }

    #[test]
    fn tenant_id_rejects_domain_names_and_says_what_is_expected() {
        let err = "contoso.onmicrosoft.com"
            .parse::<TenantId>()
            .expect_err("not a guid");
        let text = err.to_string();
        assert!(text.starts_with("tenant id:"), "{text}");
        assert!(text.contains("not a GUID"), "{text}");
    }

    #[test]
    fn dataset_names_round_trip_through_serde_and_from_str() {
        for d in Dataset::ALL {
            let json = serde_json::to_string(&d).expect("serialise");
            assert_eq!(json, format!("\"{}\"", d.as_str()));
            assert_eq!(d.as_str().parse::<Dataset>().expect("parse"), d);
        }
        assert!("alerts".parse::<Dataset>().is_err());
    }

    #[test]
    fn a_record_names_the_field_that_is_wrong() {
        let mut t = TenantConfig::new(
            "11111111-1111-1111-1111-111111111111".parse().expect("guid"),
            "Fabrikam",
        );
        t.actions = vec![ActionKind::IsolateDevice];
        t.validate().expect("valid");
        t.partners = vec![PartnerBinding {
            key_id: "soar-1".into(),
            actions: vec![ActionKind::IsolateDevice, ActionKind::UpdateAlert],
            dry_run: false,
        }];
        let err = t.validate().expect_err("action not allowed");
        assert!(err.to_string().starts_with("partners[0].actions[1]:"), "{err}");
        t.partners[0].actions.pop();
        t.partners[0].key_id = "has space".into();
        assert!(
            t.validate()
                .expect_err("key id")
                .to_string()
                .starts_with("partners[0].key_id:")
        );
        t.partners.clear();
        t.datasets = vec![Dataset::MdeAlerts, Dataset::MdeAlerts];
        assert!(
            t.validate()
                .expect_err("twice")
                .to_string()
                .starts_with("datasets[1]:")
        );
        t.datasets.pop();
        t.display_name = "  ".into();
        assert!(
            t.validate()
                .expect_err("name")
                .to_string()
                .starts_with("display_name:")
        );
    }

    #[test]
    fn content_ignores_what_the_registry_maintains() {
        let mut a = TenantConfig::new(
            "11111111-1111-1111-1111-111111111111".parse().expect("guid"),
            "Fabrikam",
        );
        let mut b = a.clone();
        a.version = 3;
        b.updated_at = Some("2026-12-01T00:00:00Z".into());
        assert_ne!(a, b);
        assert_eq!(a.content(), b.content());
    }

    proptest! {
        #[test]
        fn any_guid_parses_and_any_non_guid_string_is_refused(bytes in any::<[u8; 16]>(), junk in "[^0-9a-fA-F-]{1,40}") {
            let u = uuid::Uuid::from_bytes(bytes);
            let id: TenantId = u.to_string().to_uppercase().parse().expect("guid");
            prop_assert_eq!(id.as_str(), u.hyphenated().to_string());
            prop_assert!(junk.parse::<TenantId>().is_err());
        }
    }
}
