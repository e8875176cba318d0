//! `mde-bridge export`: the incident-export core run from a terminal, to a local directory or S3 — for
//! backfills, and for trying a configuration before it is deployed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use incident_export::Exporter;
use mde_contracts::{
    BridgeConfig, Dataset, DatasetStatus, ExportJob, ExportRunSummary, StorageSettings, TenantId,
};
use mde_platform::ObjectStore;
use mde_platform::wiring::Wiring;

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
    /// Print the summary as JSON.
    pub json: bool,
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
    let wiring = Wiring::load(file)?;
    let storage = match &args.out {
        Some(out) => out_storage(wiring.config(), out)?,
        None => wiring.config().storage.clone(),
    };
    let store = wiring.object_store_for(&storage).await;
    let summary = export(&wiring, store.clone(), &args, terminal).await?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        print_summary(&summary)?;
        let written: u64 = summary.datasets.iter().map(|d| d.objects).sum();
        if written > 0 {
            say!("exports are under {}", store.location(""))?;
        }
    }
    if summary.has_failures() {
        let advanced = summary
            .datasets
            .iter()
            .filter(|d| matches!(d.status, DatasetStatus::Completed | DatasetStatus::Partial))
            .count();
        match (&summary.error, advanced) {
            (Some(e), _) => bail!("{e}"),
            (None, 0) => bail!("every dataset failed (see above); no checkpoint advanced"),
            (None, n) => bail!("some datasets failed (see above); the checkpoints of the other {n} advanced"),
        }
    }
    Ok(())
}

/// Runs one export of the registry's tenants into `store` through the same core as the Lambda function,
/// showing its progress on `terminal`.
pub async fn export(
    wiring: &Wiring,
    store: Arc<dyn ObjectStore>,
    args: &ExportArgs,
    terminal: &Terminal,
) -> Result<ExportRunSummary> {
    let exporter = Exporter::from_wiring(wiring, Some(store))
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

/// The storage `--out` names: `s3://bucket/prefix` or a directory, checked before anything is read.
fn out_storage(config: &BridgeConfig, out: &str) -> Result<StorageSettings> {
    if out.trim().is_empty() {
        bail!("--out is empty: give a directory or s3://bucket/prefix (or leave it out to use [storage])");
    }
    let mut checked = config.clone();
    let storage = &mut checked.storage;
    match out.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            storage.bucket = Some(bucket.to_string());
            storage.prefix = prefix.trim_end_matches('/').to_string();
            storage.local_dir = None;
        }
        None => {
            let dir = Path::new(out);
            // The directory must be one, or creatable: a regular file on the way is named now, not after a run.
            if let Some(file) = dir.ancestors().find(|p| !p.as_os_str().is_empty() && p.is_file()) {
                bail!(
                    "--out {out}: {} is a file, so the export directory cannot be created there; choose another directory",
                    file.display()
                );
            }
            storage.bucket = None;
            storage.local_dir = Some(out.into());
        }
    }
    checked
        .validate()
        .map_err(|e| anyhow::anyhow!("--out {out}: {e}"))?;
    Ok(checked.storage)
}

/// One line per (tenant, dataset).
pub fn print_summary(summary: &ExportRunSummary) -> Result<()> {
    say!("run {}:", summary.run_id)?;
    for d in &summary.datasets {
        let lag = d
            .lag_seconds
            .map_or_else(|| "-".to_string(), |s| format!("{s} s"));
        say!(
            "  {} {:<16} {:?}: {} records ({} suppressed as already exported), {} requests, {} objects, {} bytes, lag {lag}",
            d.tenant_id,
            d.dataset.as_str(),
            d.status,
            d.records,
            d.suppressed,
            d.api_calls,
            d.objects,
            d.bytes
        )?;
        if let Some(note) = &d.note {
            say!("      note: {note}")?;
        }
        if let Some(e) = &d.error {
            say!("      {e}")?;
        }
    }
    Ok(())
}
