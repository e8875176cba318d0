//! [`Tenants`]: the registry as a process sees it — loaded once, kept for a TTL, read again in the background of
//! a call after that, so tenants added or disabled take effect without a redeploy.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mde_contracts::{PartnerBinding, TenantConfig, TenantId};
use tokio::time::Instant;
use tracing::{info, warn};

use super::{RegistryProblem, TenantRegistry};
use crate::Result;

/// How soon a failed reload is tried again while the last good snapshot is served.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The registry at one moment: records by tenant id, and the items that could not be read.
#[derive(Debug, Default)]
pub struct TenantSnapshot {
    tenants: BTreeMap<TenantId, TenantConfig>,
    problems: Vec<RegistryProblem>,
}

impl TenantSnapshot {
    /// A snapshot of `tenants` (later records of a tenant listed twice are ignored) and `problems`.
    pub fn new(tenants: Vec<TenantConfig>, problems: Vec<RegistryProblem>) -> Self {
        let mut map = BTreeMap::new();
        for t in tenants {
            map.entry(t.tenant_id.clone()).or_insert(t);
        }
        Self {
            tenants: map,
            problems,
        }
    }

    /// The record of `tenant`, enabled or not.
    pub fn get(&self, tenant: &TenantId) -> Option<&TenantConfig> {
        self.tenants.get(tenant)
    }

    /// The record of `tenant` if it is enabled: the only tenants any function works for.
    pub fn enabled(&self, tenant: &TenantId) -> Option<&TenantConfig> {
        self.get(tenant).filter(|t| t.enabled)
    }

    /// Every record, in tenant id order.
    pub fn all(&self) -> impl Iterator<Item = &TenantConfig> {
        self.tenants.values()
    }

    /// Every enabled record, in tenant id order.
    pub fn all_enabled(&self) -> impl Iterator<Item = &TenantConfig> {
        self.all().filter(|t| t.enabled)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    /// Whether there is no record.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }

    /// Items that could not be read (skipped).
    pub fn problems(&self) -> &[RegistryProblem] {
        &self.problems
    }

    /// The enabled tenants partner key `key_id` may act on, each with its binding.
    pub fn bound_to<'a>(
        &'a self,
        key_id: &'a str,
    ) -> impl Iterator<Item = (&'a TenantConfig, &'a PartnerBinding)> {
        self.all_enabled()
            .filter_map(move |t| t.binding(key_id).map(|b| (t, b)))
    }
}

type Listener = Box<dyn Fn(&TenantSnapshot) + Send + Sync>;

struct Loaded {
    until: Instant,
    snapshot: Arc<TenantSnapshot>,
}

/// The tenant registry of a process: one read per TTL however many callers (concurrent first callers wait for
/// the one read), the last good snapshot kept when a reload fails.
pub struct Tenants {
    registry: Arc<dyn TenantRegistry>,
    ttl: Duration,
    state: tokio::sync::Mutex<Option<Loaded>>,
    listeners: Mutex<Vec<Listener>>,
}

impl Tenants {
    /// Reads `registry` at most once per `ttl`.
    pub fn new(registry: Arc<dyn TenantRegistry>, ttl: Duration) -> Self {
        Self {
            registry,
            ttl,
            state: tokio::sync::Mutex::new(None),
            listeners: Mutex::new(Vec::new()),
        }
    }

    /// A fixed list of tenants (tests, and the CLI's `--tenant` runs): the inline registry, never reloaded.
    pub fn fixed(tenants: Vec<TenantConfig>) -> Self {
        Self::new(Arc::new(super::InlineRegistry::new(tenants)), Duration::MAX)
    }

    /// The registry behind the cache (for writes, and for `describe`).
    pub fn registry(&self) -> &Arc<dyn TenantRegistry> {
        &self.registry
    }

    /// Calls `listener` with every snapshot loaded from now on, and at once with the current one if there is
    /// one (e.g. to route tenants to their cloud).
    pub fn on_load(&self, listener: impl Fn(&TenantSnapshot) + Send + Sync + 'static) {
        if let Ok(state) = self.state.try_lock()
            && let Some(loaded) = state.as_ref()
        {
            listener(&loaded.snapshot);
        }
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(listener));
    }

    /// The current snapshot: the cached one while it is fresh, else the registry read again. When that read
    /// fails, the last good snapshot is served (and the read retried shortly); with none, the error.
    pub async fn snapshot(&self) -> Result<Arc<TenantSnapshot>> {
        let mut state = self.state.lock().await;
        if let Some(loaded) = state.as_ref()
            && Instant::now() < loaded.until
        {
            return Ok(loaded.snapshot.clone());
        }
        match self.load().await {
            Ok(snapshot) => {
                let now = Instant::now();
                *state = Some(Loaded {
                    until: now
                        .checked_add(self.ttl)
                        .unwrap_or(now + Duration::from_secs(86_400 * 365)),
                    snapshot: snapshot.clone(),
                });
                Ok(snapshot)
            }
            Err(e) => match state.as_mut() {
                Some(stale) => {
                    warn!(registry = %self.registry.describe(), error = %e, "the tenant registry could not be read again; using the last good copy");
                    stale.until = Instant::now() + RETRY_AFTER_FAILURE.min(self.ttl);
                    Ok(stale.snapshot.clone())
                }
                None => Err(e),
            },
        }
    }

    /// Forgets the cached snapshot: the next [`Tenants::snapshot`] reads the registry (after a write).
    pub async fn invalidate(&self) {
        *self.state.lock().await = None;
    }

    async fn load(&self) -> Result<Arc<TenantSnapshot>> {
        let scan = self.registry.scan().await?;
        for p in &scan.problems {
            warn!(registry = %self.registry.describe(), key = %p.key, reason = %p.reason, "a tenant record cannot be read and is skipped");
        }
        let snapshot = Arc::new(TenantSnapshot::new(scan.tenants, scan.problems));
        info!(registry = %self.registry.describe(), tenants = snapshot.len(), problems = snapshot.problems().len(), "tenant registry loaded");
        for listener in self.listeners.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            listener(&snapshot);
        }
        Ok(snapshot)
    }
}
