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

use crate::config::SandboxConfig;
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
    shared: Arc<Shared>,
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

    /// The configuration in force.
    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
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

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
