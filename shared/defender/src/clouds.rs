//! Which Microsoft cloud each tenant lives in: an MSSP may serve commercial and US Government customers from one
//! deployment. The deployment's `[cloud]` is the default; the tenant registry names the exceptions.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use mde_contracts::{CloudEndpoints, TenantId};

/// The endpoints of every tenant: a default and per-tenant exceptions, replaced whole when the tenant registry
/// is read again. Shared by the token source (sign-in host, consent URL) and the API client (API hosts).
#[derive(Debug)]
pub struct TenantClouds {
    default: Arc<CloudEndpoints>,
    tenants: RwLock<HashMap<TenantId, Arc<CloudEndpoints>>>,
}

impl TenantClouds {
    /// Every tenant in the cloud of `default`, until [`TenantClouds::replace`] says otherwise.
    pub fn new(default: CloudEndpoints) -> Self {
        Self {
            default: Arc::new(default),
            tenants: RwLock::new(HashMap::new()),
        }
    }

    /// The endpoints of `tenant`.
    pub fn endpoints(&self, tenant: &TenantId) -> Arc<CloudEndpoints> {
        self.tenants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .cloned()
            .unwrap_or_else(|| self.default.clone())
    }

    /// The default endpoints (the deployment's `[cloud]`).
    pub fn default_endpoints(&self) -> &CloudEndpoints {
        &self.default
    }

    /// Replaces the exceptions: the tenants in `tenants` use their endpoints, every other tenant the default.
    pub fn replace(&self, tenants: HashMap<TenantId, CloudEndpoints>) {
        let map = tenants.into_iter().map(|(t, e)| (t, Arc::new(e))).collect();
        *self.tenants.write().unwrap_or_else(|p| p.into_inner()) = map;
    }
}

#[cfg(test)]
mod tests {
    use mde_contracts::CloudName;

    use super::*;

    #[test]
    fn a_tenant_listed_as_an_exception_gets_its_own_cloud_the_others_the_default() {
        let clouds = TenantClouds::new(CloudName::Public.endpoints());
        let gov: TenantId = "11111111-1111-1111-1111-111111111111".parse().expect("guid");
        let other: TenantId = "22222222-2222-2222-2222-222222222222".parse().expect("guid");
        clouds.replace(HashMap::from([(gov.clone(), CloudName::GccHigh.endpoints())]));
        assert_eq!(
            clouds.endpoints(&gov).login.as_str(),
            "https://login.microsoftonline.us/"
        );
        assert_eq!(
            clouds.endpoints(&other).login.as_str(),
            "https://login.microsoftonline.com/"
        );
        clouds.replace(HashMap::new());
        assert_eq!(
            clouds.endpoints(&gov).login.as_str(),
            "https://login.microsoftonline.com/"
        );
    }
}
