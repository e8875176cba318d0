//! The tenant registry: which customer tenants a deployment serves, with what. A port with three adapters —
//! inline (the configuration's `[[tenants]]`, for small setups and the demo), a local JSON file, and a DynamoDB
//! table (the default in AWS) — and [`Tenants`], the per-process cache that functions read it through.
//!
//! Records are versioned: every write names the version it replaces ([`Expect`]), so two operators (or an
//! operator and an import) cannot overwrite each other. An item that cannot be read is reported with its key
//! and skipped; it never makes the whole registry unreadable.

mod cache;
mod dynamodb;
mod file;
mod inline;

use async_trait::async_trait;
use mde_contracts::{TenantConfig, TenantId};

pub use cache::{TenantSnapshot, Tenants};
pub use dynamodb::{DynamoRegistry, KEY as DYNAMODB_KEY};
pub use file::FileRegistry;
pub use inline::InlineRegistry;

use crate::Result;

/// What a write expects to find in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No record of this tenant: a create.
    Absent,
    /// The record at this version: an update of what was read.
    Version(u64),
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Absent => f.write_str("no record"),
            Expect::Version(v) => write!(f, "version {v}"),
        }
    }
}

/// An item of the registry that could not be read: reported, and skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryProblem {
    /// The item's key (its `tenant_id`, or its position when it has none).
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Everything a registry holds: the readable records, in tenant id order, and the problems.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryScan {
    /// Readable, valid records.
    pub tenants: Vec<TenantConfig>,
    /// Items that are not.
    pub problems: Vec<RegistryProblem>,
}

/// Where tenant records are kept.
#[async_trait]
pub trait TenantRegistry: Send + Sync {
    /// Where the registry lives, for messages (e.g. `DynamoDB table mde-bridge-tenants`).
    fn describe(&self) -> String;

    /// Every record, and the items that could not be read.
    async fn scan(&self) -> Result<RegistryScan>;

    /// One record, read consistently (for an update).
    async fn get(&self, tenant: &TenantId) -> Result<Option<TenantConfig>>;

    /// Writes `record` if the stored record is as `expect` says. Returns what was stored: `version` one more
    /// than the expected one (1 for a create) and `updated_at` now. Refuses an invalid record, naming the field.
    async fn put(&self, record: &TenantConfig, expect: Expect) -> Result<TenantConfig>;
}

/// The record as it will be stored: validated, with its next version and the time.
pub(crate) fn next_version(record: &TenantConfig, expect: Expect) -> Result<TenantConfig> {
    record
        .validate()
        .map_err(|e| crate::PlatformError::InvalidTenant {
            tenant: record.tenant_id.to_string(),
            reason: e.to_string(),
        })?;
    let version = match expect {
        Expect::Absent => 1,
        Expect::Version(v) => v + 1,
    };
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    Ok(TenantConfig {
        version,
        updated_at: now.format(&time::format_description::well_known::Rfc3339).ok(),
        ..record.clone()
    })
}

/// Sorts the records by tenant id and reports a tenant listed twice (its first record is kept).
pub(crate) fn sort_and_dedupe(mut scan: RegistryScan) -> RegistryScan {
    scan.tenants.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
    let mut kept: Vec<TenantConfig> = Vec::with_capacity(scan.tenants.len());
    for t in scan.tenants {
        if kept.last().is_some_and(|k| k.tenant_id == t.tenant_id) {
            scan.problems.push(RegistryProblem {
                key: t.tenant_id.to_string(),
                reason: "the tenant is listed twice; the first record is used".into(),
            });
        } else {
            kept.push(t);
        }
    }
    scan.tenants = kept;
    scan
}

/// A record read from storage, checked as a write would check it.
pub(crate) fn checked(record: TenantConfig) -> std::result::Result<TenantConfig, String> {
    record.validate().map_err(|e| e.to_string())?;
    Ok(record)
}
