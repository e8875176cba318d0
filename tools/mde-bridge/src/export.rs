//! `mde-bridge export`: the incident-export core run from a terminal, to a local directory or S3 — for
//! backfills, and for trying a configuration before it is deployed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use incident_export::{ExportSettings, Exporter};
use mde_contracts::{BridgeConfig, Dataset, ExportJob, ExportRunSummary, TenantId, TokenSourceKind};

use crate::progress::Terminal;

/// What to export and where.
pub struct ExportArgs {
    /// Datasets (all configured ones when empty).
    pub datasets: Vec<Dataset>,
    /// Tenants (all enabled ones when empty).
    pub tenants: Vec<TenantId>,
    /// Backfill start (RFC 3339).
    pub since: Option<String>,
    /// A directory or `s3://bucket/prefix`; the configuration's `[storage]` when absent.
    pub out: Option<String>,
}

/// Loads the configuration (explaining how to start when there is none), applies `--out`, and runs one export.
pub async fn run(file: Option<&Path>, args: ExportArgs, terminal: &Terminal) -> Result<()> {
    if file.is_none()
        && std::env::var_os("MDE_BRIDGE_CONFIG").is_none()
        && std::env::var_os("MDE_BRIDGE_PARTNER_COMPANY").is_none()
    {
        bail!(
            "no configuration: pass --config FILE (format in README: Configuration). To try it offline, run \
             `mde-bridge demo`: it starts the sandbox (the Defender emulator), writes out/demo/bridge.toml for its \
             demo tenants and exports them; `cargo run -p mde-sandbox -- --listen 127.0.0.1:8080` runs the emulator \
             on its own, and a configuration whose [cloud] URLs point at it works with this command"
        );
    }
    let mut config = mde_platform::config::load(file)?;
    if let Some(out) = &args.out {
        apply_out(&mut config, out)?;
    }
    let summary = export(&config, &args, terminal).await?;
    print_summary(&summary);
    let store = mde_platform::wiring::object_store(&config).await;
    println!("exports are under {}", store.location(""));
    if summary.has_failures() {
        bail!("some datasets failed (see above); the checkpoints of the others advanced");
    }
    Ok(())
}

/// Runs one export of `config`'s tenants through the same core as the Lambda function, showing its progress on
/// `terminal`.
pub async fn export(
    config: &BridgeConfig,
    args: &ExportArgs,
    terminal: &Terminal,
) -> Result<ExportRunSummary> {
    let invoker: Option<Arc<dyn mde_platform::FunctionInvoker>> = match config.tokens.source {
        TokenSourceKind::Direct => None,
        TokenSourceKind::Broker => {
            let sdk = mde_platform::aws::load_sdk_config(&config.aws).await;
            Some(Arc::new(mde_platform::invoke::LambdaInvoker::new(
                aws_sdk_lambda::Client::new(&sdk),
            )))
        }
    };
    let settings = ExportSettings::from_env()?;
    let exporter = Exporter::from_config(config, settings, invoker)
        .await?
        .with_observer(terminal.observer());
    let job = ExportJob {
        tenants: args.tenants.clone(),
        datasets: args.datasets.clone(),
        since: args.since.clone(),
        fan_out: false,
    };
    // A terminal run has no Lambda deadline; a day bounds a runaway backfill.
    let deadline = Instant::now() + Duration::from_secs(24 * 3600);
    exporter.run(&job, deadline).await.context("running the export")
}

fn apply_out(config: &mut BridgeConfig, out: &str) -> Result<()> {
    match out.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            config.storage.bucket = Some(bucket.to_string());
            config.storage.prefix = prefix.trim_end_matches('/').to_string();
            config.storage.local_dir = None;
        }
        None => {
            config.storage.bucket = None;
            config.storage.local_dir = Some(out.into());
        }
    }
    config.validate().map_err(|e| anyhow::anyhow!("--out {out}: {e}"))
}

/// One line per (tenant, dataset).
pub fn print_summary(summary: &ExportRunSummary) {
    println!("run {}:", summary.run_id);
    for d in &summary.datasets {
        let lag = d
            .lag_seconds
            .map_or_else(|| "-".to_string(), |s| format!("{s} s"));
        println!(
            "  {} {:<16} {:?}: {} records ({} suppressed as already exported), {} pages, {} objects, {} bytes, lag {lag}",
            d.tenant_id,
            d.dataset.as_str(),
            d.status,
            d.records,
            d.suppressed,
            d.pages,
            d.objects,
            d.bytes
        );
        if let Some(e) = &d.error {
            println!("      {e}");
        }
    }
}
