//! The inline registry: the configuration's `[[tenants]]` (or `MDE_BRIDGE_TENANTS`). Read-only: it is edited
//! where it is written, in the configuration.

use async_trait::async_trait;
use mde_contracts::{TenantConfig, TenantId};

use super::{Expect, RegistryScan, TenantRegistry, sort_and_dedupe};
use crate::{PlatformError, Result};

/// The tenants of the configuration.
#[derive(Debug, Clone)]
pub struct InlineRegistry {
    tenants: Vec<TenantConfig>,
}

impl InlineRegistry {
    /// The registry holding `tenants` (already validated with the configuration).
    pub fn new(tenants: Vec<TenantConfig>) -> Self {
        Self { tenants }
    }
}

#[async_trait]
impl TenantRegistry for InlineRegistry {
    fn describe(&self) -> String {
        "the configuration's [[tenants]] list".into()
    }

    async fn scan(&self) -> Result<RegistryScan> {
        Ok(sort_and_dedupe(RegistryScan {
            tenants: self.tenants.clone(),
            problems: Vec::new(),
        }))
    }

    async fn get(&self, tenant: &TenantId) -> Result<Option<TenantConfig>> {
        Ok(self.tenants.iter().find(|t| &t.tenant_id == tenant).cloned())
    }

    async fn put(&self, _record: &TenantConfig, _expect: Expect) -> Result<TenantConfig> {
        Err(PlatformError::RegistryReadOnly {
            registry: self.describe(),
            hint: "edit [[tenants]] in the configuration file, or keep tenants in a registry that commands can \
                   write: [registry] backend = \"file\" (with file = \"tenants.json\") or \"dynamodb\" (with table = \"…\")",
        })
    }
}
