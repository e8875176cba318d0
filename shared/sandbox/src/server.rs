//! Starting and stopping the sandbox: [`Sandbox::start`] binds, serves every connection on its own task (so a
//! fault can drop exactly one connection), and returns a [`SandboxHandle`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use time::OffsetDateTime;

use crate::adversarial::{BulkUpdateReport, MutationReport};
use crate::api_indicators::ImportFailureRule;
use crate::config::{AdversarialSettings, SandboxConfig};
use crate::error::SandboxError;
use crate::faults::ConnectionKiller;
use crate::request_log::RequestRecord;
use crate::routes::router;
use crate::state::Shared;

/// Entry point of the library.
pub struct Sandbox;

impl Sandbox {
    /// Seeds the world, binds `config.listen` (`127.0.0.1:0` by default: any free loopback port) and serves until
    /// the handle is shut down or dropped. Needs a Tokio runtime.
    pub async fn start(config: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
        let address = config.listen.clone();
        let shared = Arc::new(Shared::new(config)?);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| SandboxError::Listen {
                address: address.clone(),
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| SandboxError::Listen { address, source })?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, Arc::clone(&shared), stopped));
        tracing::info!(address = %local, tenants = shared.config.tenants.len(), "sandbox listening");
        Ok(SandboxHandle {
            address: local,
            shared,
            stop,
            task: Some(task),
        })
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let app = router(Arc::clone(&shared));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => break,
        };
        let (stream, _) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let killer = Arc::new(Notify::new());
        let service = TowerToHyperService::new(
            app.clone()
                .layer(Extension(ConnectionKiller(Arc::clone(&killer)))),
        );
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                }
                _ = killer.notified() => tracing::info!("connection dropped by a fault"),
                _ = stopped.changed() => {}
            }
        });
    }
}

/// A running sandbox. Dropping it stops the server.
pub struct SandboxHandle {
    address: SocketAddr,
    pub(crate) shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT` (no trailing slash): the login, MDE, Microsoft 365 Defender and Graph base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.snapshot()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// The configuration the sandbox started with (the adversarial settings in force: [`Self::adversarial`]).
    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// The service's now: simulated time plus the clock skew, as stamped on records and sent in `Date` headers.
    pub fn now(&self) -> OffsetDateTime {
        self.shared.clock.now()
    }

    /// The adversarial settings in force.
    pub fn adversarial(&self) -> AdversarialSettings {
        self.shared.adversary.settings()
    }

    /// Replaces the adversarial settings (as `POST /_sandbox/adversarial` does): the clock skew applies at once and
    /// the list calls counted for `mutate` start again from zero.
    pub fn set_adversarial(&self, settings: AdversarialSettings) -> Result<(), SandboxError> {
        self.shared
            .set_adversarial(settings)
            .map_err(SandboxError::Config)
    }

    /// Updates `update` alerts of `tenant` that a list response already returned (directly or through their
    /// incident) and `update` that none returned yet (fewer when there are not that many), and creates `create`
    /// alerts, each in a new incident; everything stamped with the service's now (as `POST /_sandbox/mutate`).
    pub fn mutate(&self, tenant: &str, update: usize, create: usize) -> Result<MutationReport, SandboxError> {
        crate::admin::mutate_tenant(&self.shared, tenant, update, create)
            .ok_or_else(|| unknown_tenant(tenant))
    }

    /// Stamps `count` alerts of `tenant` (all when it has fewer) with one and the same last-update time, the
    /// service's now, as a bulk resolve in the portal does (as `POST /_sandbox/bulk_update`).
    pub fn bulk_update(&self, tenant: &str, count: usize) -> Result<BulkUpdateReport, SandboxError> {
        crate::admin::bulk_update_tenant(&self.shared, tenant, count).ok_or_else(|| unknown_tenant(tenant))
    }

    /// Every record of an exported dataset of `tenant` as (id, last update), rendered exactly as the API renders
    /// them: `mde_alerts` (alert `id`, `lastUpdateTime`), `m365d_incidents` (`incidentId`, `lastUpdateTime`),
    /// `graph_incidents` (`id`, `lastUpdateDateTime`), `graph_alerts_v2` (`id`, `lastUpdateDateTime`). Ignores the
    /// visibility lag (these are the versions that exist). Empty for an unknown tenant.
    ///
    /// # Panics
    /// On a dataset name other than those four (a mistake in the calling test).
    pub fn current_versions(&self, tenant: &str, dataset: &str) -> Vec<(String, String)> {
        assert!(
            crate::adversarial::DATASETS.contains(&dataset),
            "unknown dataset '{dataset}': expected one of {:?}",
            crate::adversarial::DATASETS
        );
        let world = self.shared.world();
        world
            .tenant(tenant)
            .and_then(|data| crate::adversarial::current_versions(data, dataset))
            .unwrap_or_default()
    }

    /// Adds fault rules (as `POST /_sandbox/faults`).
    pub fn add_faults(&self, rules: Vec<crate::faults::FaultRule>) {
        self.shared.faults.add(rules);
    }

    /// Each active fault rule with how often it matched and fired.
    pub fn fault_tally(&self) -> Vec<crate::faults::FaultTally> {
        self.shared.faults.tally()
    }

    /// Removes every fault rule (as `DELETE /_sandbox/faults`).
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Makes import items whose value contains `rule.value_contains` fail per item (as
    /// `POST /_sandbox/indicators/import_failures`).
    pub fn fail_import_items(&self, rule: ImportFailureRule) {
        self.shared.import_failures.add(vec![rule]);
    }

    /// Every active indicator of `tenant`, whoever created it, as the list API renders it (`id`,
    /// `indicatorValue`, `indicatorType`, `action`, `application`, `createdBy`, ...). Empty for an unknown tenant.
    pub fn indicators(&self, tenant: &str) -> Vec<serde_json::Value> {
        let now = self.now();
        let world = self.shared.world();
        world
            .tenant(tenant)
            .map(|d| {
                d.indicators
                    .iter()
                    .filter(|i| i.is_active(now))
                    .map(crate::render_mde::indicator)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Moves simulated time forward (as `POST /_sandbox/advance` does).
    pub fn advance(&self, by: std::time::Duration) {
        crate::admin::advance_world(&self.shared, by.as_secs());
    }

    /// Stops accepting connections, closes open ones and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn unknown_tenant(tenant: &str) -> SandboxError {
    SandboxError::Config(format!("unknown tenant '{tenant}'"))
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
