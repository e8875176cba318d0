//! The `[registry]` and `[export]` sections of the configuration.

use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ContractError, Dataset, TenantConfig};

/// Where the tenant registry lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistryBackend {
    /// The `[[tenants]]` list of the configuration (or `MDE_BRIDGE_TENANTS`): small setups and the demo.
    #[default]
    Inline,
    /// A local JSON file (`registry.file`), written by `mde-bridge tenants`.
    File,
    /// A DynamoDB table (`registry.table`), one item per tenant: the default of a deployment in AWS.
    Dynamodb,
}

/// The `[registry]` section: which tenant registry the functions and the CLI use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Inline (the `[[tenants]]` list), a local file, or a DynamoDB table.
    #[serde(default)]
    pub backend: RegistryBackend,
    /// The DynamoDB table (`backend = "dynamodb"`).
    pub table: Option<String>,
    /// The JSON file (`backend = "file"`); a relative path is relative to the configuration file.
    pub file: Option<PathBuf>,
    /// How long a loaded registry is used before it is read again, in seconds: tenants added, changed or
    /// disabled take effect within this time, without a redeploy.
    #[serde(default = "default_registry_ttl")]
    pub cache_ttl_seconds: u64,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            backend: RegistryBackend::default(),
            table: None,
            file: None,
            cache_ttl_seconds: default_registry_ttl(),
        }
    }
}

fn default_registry_ttl() -> u64 {
    300
}

impl RegistrySettings {
    pub(crate) fn validate(&self, inline: &[TenantConfig]) -> Result<(), ContractError> {
        match self.backend {
            RegistryBackend::Inline => Ok(()),
            _ if !inline.is_empty() => Err(ContractError::invalid(
                "tenants",
                format!(
                    "the registry is {:?} (registry.backend), so a [[tenants]] list would be ignored: remove it, \
                     or import it with `mde-bridge tenants import`",
                    self.backend
                ),
            )),
            RegistryBackend::File if self.file.is_none() => Err(ContractError::invalid(
                "registry.file",
                "required when registry.backend = \"file\" (a JSON file that `mde-bridge tenants` writes)",
            )),
            RegistryBackend::Dynamodb => match &self.table {
                Some(t)
                    if (3..=255).contains(&t.len())
                        && t.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) =>
                {
                    Ok(())
                }
                Some(t) => Err(ContractError::invalid(
                    "registry.table",
                    format!("{t:?} is not a DynamoDB table name (3-255 letters, digits, '_', '-', '.')"),
                )),
                None => Err(ContractError::invalid(
                    "registry.table",
                    "required when registry.backend = \"dynamodb\"",
                )),
            },
            RegistryBackend::File => Ok(()),
        }
    }
}

/// The local registry file (`registry.backend = "file"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    /// The tenants, in tenant id order.
    pub tenants: Vec<TenantConfig>,
}

/// The `[export]` section: how incident-export behaves. Every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExportSettings {
    /// How long after the service's "now" a version may still become visible, in seconds: each run reads up to
    /// the service's time (its `Date` header) minus this.
    pub settle_seconds: u64,
    /// How far behind the frontier each run reads again, in seconds, for versions that become visible later than
    /// the settle time. Versions already exported there are suppressed (not written twice).
    pub recheck_band_seconds: u64,
    /// How far back the first pass of a (tenant, dataset) without a checkpoint starts, in seconds (7 days).
    pub initial_lookback_seconds: u64,
    /// An export object is closed at the first page boundary after its compressed size reaches this many bytes.
    pub max_object_bytes: u64,
    /// Tenants exported at the same time by one process.
    pub tenant_concurrency: u32,
    /// Move past a page that keeps failing (it is quarantined either way). Off: the cursor holds before it.
    pub skip_failed_pages: bool,
    /// `$top` of MDE alert pages (2 to 10,000; pages are streamed, so memory does not depend on it).
    pub mde_alerts_page_size: u32,
    /// `$top` of Microsoft 365 Defender incident pages (2 to 100).
    pub m365d_incidents_page_size: u32,
    /// `$top` of Graph requests (2 to 1,000: Graph's security constraints cap `$top` at 1,000).
    pub graph_page_size: u32,
    /// Most record versions a checkpoint lists for suppression (the newest are kept).
    pub max_seen: u64,
    /// Time kept before the invocation's deadline to write the last object and the checkpoint, in seconds.
    pub deadline_margin_seconds: u64,
    /// Most requests one run makes per (tenant, dataset); absent for no bound. Spreads a large backfill over
    /// several runs (each saves its progress) so it never takes a tenant's whole API quota.
    pub max_calls_per_dataset: Option<u64>,
    /// gzip level, 0 to 9.
    pub gzip_level: u32,
    /// The fan-out queue (SQS URL): a scheduled run with `fan_out` enqueues one job per tenant there.
    pub queue_url: Option<String>,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            settle_seconds: 60,
            recheck_band_seconds: 10 * 60,
            initial_lookback_seconds: 7 * 24 * 3600,
            max_object_bytes: 8 * 1024 * 1024,
            tenant_concurrency: 4,
            skip_failed_pages: false,
            mde_alerts_page_size: 10_000,
            m365d_incidents_page_size: 100,
            graph_page_size: 1_000,
            max_seen: 100_000,
            deadline_margin_seconds: 15,
            max_calls_per_dataset: None,
            gzip_level: 6,
            queue_url: None,
        }
    }
}

impl ExportSettings {
    /// [`ExportSettings::settle_seconds`].
    pub fn settle(&self) -> Duration {
        Duration::from_secs(self.settle_seconds)
    }

    /// [`ExportSettings::recheck_band_seconds`].
    pub fn recheck_band(&self) -> Duration {
        Duration::from_secs(self.recheck_band_seconds)
    }

    /// [`ExportSettings::initial_lookback_seconds`].
    pub fn initial_lookback(&self) -> Duration {
        Duration::from_secs(self.initial_lookback_seconds)
    }

    /// [`ExportSettings::deadline_margin_seconds`].
    pub fn deadline_margin(&self) -> Duration {
        Duration::from_secs(self.deadline_margin_seconds)
    }

    /// The `$top` used for a dataset.
    pub fn page_size(&self, dataset: Dataset) -> u32 {
        match dataset {
            Dataset::MdeAlerts => self.mde_alerts_page_size,
            Dataset::M365dIncidents => self.m365d_incidents_page_size,
            Dataset::GraphIncidents | Dataset::GraphAlertsV2 => self.graph_page_size,
        }
    }

    /// Checks the ranges; the error names the `export.` key.
    pub fn validate(&self) -> Result<(), ContractError> {
        let bad = |key: &str, reason: &str| Err(ContractError::invalid(format!("export.{key}"), reason));
        if self.tenant_concurrency == 0 {
            return bad("tenant_concurrency", "must be at least 1");
        }
        if self.max_object_bytes == 0 {
            return bad("max_object_bytes", "must be at least 1");
        }
        if !(2..=10_000).contains(&self.mde_alerts_page_size) {
            return bad(
                "mde_alerts_page_size",
                "must be 2 to 10000 (the documented $top maximum)",
            );
        }
        if !(2..=100).contains(&self.m365d_incidents_page_size) {
            return bad(
                "m365d_incidents_page_size",
                "must be 2 to 100 (the documented $top maximum)",
            );
        }
        if !(2..=1_000).contains(&self.graph_page_size) {
            return bad(
                "graph_page_size",
                "must be 2 to 1000 (Graph's security constraints cap $top at 1,000; above it Graph may answer \
                 fewer rows without a nextLink, which no client can tell from the end)",
            );
        }
        if self.max_calls_per_dataset == Some(0) {
            return bad("max_calls_per_dataset", "must be at least 1, or absent");
        }
        if self.gzip_level > 9 {
            return bad("gzip_level", "must be 0 to 9");
        }
        if self
            .queue_url
            .as_deref()
            .is_some_and(|u| !u.starts_with("https://") && !u.starts_with("http://"))
        {
            return bad(
                "queue_url",
                "must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)",
            );
        }
        Ok(())
    }
}

/// The `[indicators]` section: how indicator-push behaves. Every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IndicatorSettings {
    /// Active indicators a tenant may hold (Defender documents 15,000). Imports that would pass it are rejected
    /// before they are sent, with the reason.
    pub active_cap: u32,
    /// `$top` of the indicator list (2 to 10,000, the documented maximum).
    pub list_page_size: u32,
}

impl Default for IndicatorSettings {
    fn default() -> Self {
        Self {
            active_cap: 15_000,
            list_page_size: 10_000,
        }
    }
}

impl IndicatorSettings {
    /// Checks the ranges; the error names the `indicators.` key.
    pub fn validate(&self) -> Result<(), ContractError> {
        if self.active_cap == 0 {
            return Err(ContractError::invalid(
                "indicators.active_cap",
                "must be at least 1",
            ));
        }
        if !(2..=10_000).contains(&self.list_page_size) {
            return Err(ContractError::invalid(
                "indicators.list_page_size",
                "must be 2 to 10000 (the documented $top maximum)",
            ));
        }
        Ok(())
    }
}
