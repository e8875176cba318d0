//! Tenants: identifiers and the per-tenant configuration of the tenant registry.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::ContractError;

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

/// One customer tenant in the tenant registry.
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
}

fn enabled_by_default() -> bool {
    true
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
