//! `mde-bridge webhook …`: the alert-webhook router served locally (`serve`, for the demo and partners'
//! integration tests) and the headers a sender sets (`sign`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alert_webhook::Webhook;
use alert_webhook::signature::SigningKey;
use anyhow::{Context, Result, bail};
use axum::body::Body;
use clap::Subcommand;
use mde_platform::Queue;
use mde_platform::queue::LocalQueue;
use mde_platform::wiring::Wiring;

/// The `webhook` subcommands.
#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Serves POST /v1/events, GET /v1/requests/{id} and GET /v1/openapi.json with the function's router, on
    /// local adapters: partner keys from the configured secret store ([webhook] partner_keys_secret_id), the
    /// registry, request records in memory (or [webhook] table), accepted requests on [webhook] queue_url, or
    /// in memory when it is not set.
    ///
    /// With --execute the accepted requests are also performed here by the action executor (against the
    /// configured Defender, e.g. the sandbox), audit records go to [storage], and GET /v1/requests/{id} shows them.
    ///
    /// Example: mde-bridge webhook serve --config bridge.toml --listen 127.0.0.1:8443 --execute
    Serve {
        /// Address to listen on (loopback unless you put TLS in front).
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Perform accepted requests in this process (only with the in-memory queue: with [webhook] queue_url
        /// the deployed executor performs them).
        #[arg(long)]
        execute: bool,
    },
    /// Prints the Standard Webhooks headers a sender sets for a body: webhook-id, webhook-timestamp (now) and
    /// webhook-signature. The key is read from a file or an environment variable, never from the command line.
    ///
    /// Example: mde-bridge webhook sign --key-file soar-1.key --body event.json
    Sign {
        /// File holding the key (whsec_…).
        #[arg(long, conflicts_with = "key_env")]
        key_file: Option<PathBuf>,
        /// Environment variable holding the key (whsec_…).
        #[arg(long)]
        key_env: Option<String>,
        /// The body to sign (exactly the bytes that will be sent).
        #[arg(long)]
        body: PathBuf,
        /// The webhook-id (a new random one when absent).
        #[arg(long)]
        id: Option<String>,
    },
}

/// Runs a `webhook` subcommand.
pub async fn run(config: Option<&Path>, command: WebhookCommand) -> Result<()> {
    match command {
        WebhookCommand::Serve { listen, execute } => serve(config, listen, execute).await,
        WebhookCommand::Sign {
            key_file,
            key_env,
            body,
            id,
        } => sign(key_file, key_env, &body, id),
    }
}

fn sign(key_file: Option<PathBuf>, key_env: Option<String>, body: &Path, id: Option<String>) -> Result<()> {
    let key = match (key_file, key_env) {
        (Some(f), _) => {
            std::fs::read_to_string(&f).with_context(|| format!("reading the key file {}", f.display()))?
        }
        (None, Some(v)) => {
            std::env::var(&v).with_context(|| format!("the environment variable {v} is not set"))?
        }
        (None, None) => {
            bail!("give the key with --key-file FILE or --key-env VARIABLE (never on the command line)")
        }
    };
    let key = SigningKey::parse("cli", key.trim()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bytes = std::fs::read(body).with_context(|| format!("reading {}", body.display()))?;
    let id = id.unwrap_or_else(|| format!("msg_{}", uuid::Uuid::new_v4().simple()));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    say!("webhook-id: {id}")?;
    say!("webhook-timestamp: {now}")?;
    say!("webhook-signature: {}", key.sign(&id, now, &bytes))?;
    Ok(())
}

async fn serve(config: Option<&Path>, listen: SocketAddr, execute: bool) -> Result<()> {
    let wiring = Wiring::load(config)?;
    let local = Arc::new(LocalQueue::new());
    let queue: Option<Arc<dyn Queue>> = match &wiring.config().webhook.queue_url {
        Some(url) if execute => bail!(
            "--execute runs the executor on the in-memory queue, but [webhook] queue_url is set ({url}): the \
             deployed action-executor performs those requests; leave queue_url unset to try both here"
        ),
        Some(_) => None,
        None => Some(local.clone()),
    };
    let in_memory = queue.is_some();
    if execute {
        let polls = Arc::new(LocalQueue::new());
        let executor = action_executor::Executor::from_wiring(&wiring, Some(polls.clone()))
            .await
            .context("starting the action executor")?;
        tokio::spawn(execute_locally(Arc::new(executor), local, polls));
    }
    let webhook = Arc::new(
        Webhook::from_wiring(&wiring, queue)
            .await
            .map_err(|e| anyhow::anyhow!(e))?,
    );
    let max = wiring.config().webhook.max_body_bytes;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let address = listener.local_addr()?;
    let mode = match (in_memory, execute) {
        (true, true) => {
            " (accepted requests performed here by the action executor; audit records in [storage])"
        }
        (true, false) => {
            " (accepted requests kept in memory: --execute performs them, [webhook] queue_url sends them to SQS)"
        }
        _ => "",
    };
    if crate::progress::json_logs() {
        // Nothing but JSON on stderr in that format.
        eprintln!(
            "{}",
            serde_json::json!({"level": "INFO", "message": "alert-webhook listening", "url": format!("http://{address}"), "mode": mode.trim()})
        );
    } else {
        eprintln!(
            "alert-webhook on http://{address}: POST /v1/events, GET /v1/requests/{{id}}, GET /v1/openapi.json{mode}"
        );
    }
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let webhook = Arc::clone(&webhook);
        async move {
            let (parts, body) = request.into_parts();
            // Read at most one byte more than allowed: the router answers 413 without the rest being buffered.
            let limit = usize::try_from(max).unwrap_or(usize::MAX).saturating_add(1);
            let bytes = axum::body::to_bytes(body, limit)
                .await
                .unwrap_or_else(|_| bytes_over(limit));
            let reply = webhook.handle(http::Request::from_parts(parts, bytes)).await;
            let (parts, body) = reply.into_parts();
            axum::response::Response::from_parts(parts, Body::from(body))
        }
    });
    axum::serve(listener, app).await.context("serving the webhook")
}

/// Performs what the webhook accepted, and the follow-up polls, every second (the event source mappings' stand-in).
async fn execute_locally(
    executor: Arc<action_executor::Executor>,
    requests: Arc<LocalQueue>,
    polls: Arc<LocalQueue>,
) {
    loop {
        for queue in [&requests, &polls] {
            let queue: Arc<dyn Queue> = queue.clone();
            if let Err(e) = action_executor::drain(&executor, &*queue).await {
                tracing::warn!(error = %e, "the local executor could not read its queue");
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// A body known to be larger than allowed (the rest was not read).
fn bytes_over(limit: usize) -> bytes::Bytes {
    bytes::Bytes::from(vec![b' '; limit])
}
