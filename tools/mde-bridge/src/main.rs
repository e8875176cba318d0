//! `mde-bridge`: the operator CLI. Each command loads the configuration, builds the local or AWS adapters
//! once and runs the same core code the Lambda functions run.

/// Writes a line to stdout, returning the error instead of panicking when stdout is closed (`| head`): the
/// command ends there, and `main` treats a broken pipe as success.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod check_config;
mod check_tenant;
mod demo;
mod demo_actions;
mod export;
mod progress;
mod push;
mod tenants;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Operator CLI of mde-bridge: Microsoft Defender for Endpoint / Microsoft 365 Defender integration for many
/// customer tenants.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML); `MDE_BRIDGE_<SECTION>_<KEY>` variables override its keys.
    #[arg(long, global = true, env = "MDE_BRIDGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job on the embedded default: starts the sandbox (Entra ID + Defender emulator) with its demo
    /// tenants, writes a configuration and a local secrets file, and checks every tenant through the
    /// token-broker code. No cloud account needed.
    Demo {
        /// Where the demo's configuration and outputs go.
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
    },
    /// Checks each enabled tenant of the registry: token per API, missing application permissions, the consent
    /// URL to fix it, and the credential's expiry. Exits non-zero when a tenant needs attention.
    CheckTenant {
        /// Only this tenant (repeatable); every enabled tenant when absent.
        #[arg(long = "tenant")]
        tenants: Vec<mde_contracts::TenantId>,
    },
    /// Lists, shows, adds, updates, disables, imports and exports the tenants of the configured registry
    /// ([registry] in the configuration: inline, a file, or DynamoDB).
    #[command(subcommand)]
    Tenants(tenants::TenantsCommand),
    /// Exports incidents and alerts of the configured tenants (the incident-export core) to a directory or S3,
    /// resuming from the checkpoints there. Needs a configuration (see `demo` to try it offline).
    Export {
        /// Dataset to export (repeatable): graph_incidents, graph_alerts_v2, mde_alerts, m365d_incidents.
        /// Each tenant's configured datasets when absent.
        #[arg(long = "dataset")]
        datasets: Vec<mde_contracts::Dataset>,
        /// Tenant to export (repeatable); every enabled tenant when absent.
        #[arg(long = "tenant")]
        tenants: Vec<mde_contracts::TenantId>,
        /// Backfill: also export records last updated at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// A directory or s3://bucket/prefix; the configuration's [storage] when absent.
        #[arg(long)]
        out: Option<String>,
    },
    /// Pushes threat-intel indicators from a JSON Lines file (one indicator, or one indicator message, per line)
    /// into the configured tenants through the indicator-push core: validated (each error names the field),
    /// batched by 500, within each tenant's cap; rejects go to rejects/ in the configured storage.
    ///
    /// Example: mde-bridge push --file iocs.jsonl --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --dry-run
    Push {
        /// JSON Lines file of indicators ({"indicatorValue", "indicatorType", "action", "title", "description", ...}).
        #[arg(long)]
        file: PathBuf,
        /// Tenant to push to (repeatable); every enabled tenant that allows indicators when absent.
        #[arg(long = "tenant")]
        tenants: Vec<mde_contracts::TenantId>,
        /// Make FEED's indicators in each tenant exactly the file's: import what is missing or changed, delete
        /// what this application created for FEED and the file no longer lists.
        #[arg(long, value_name = "FEED")]
        sync: Option<mde_contracts::FeedName>,
        /// Report what would be imported and deleted (plans under plans/) without writing to Defender.
        #[arg(long)]
        dry_run: bool,
        /// Print the summary as JSON (schemas/indicator-push-summary.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// The alert-webhook locally: `serve` runs its router (for the demo and partners' tests), `sign` prints the
    /// headers a sender sets.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Validates the configuration and prints what it resolves to (endpoints, User-Agent, registry, storage);
    /// with --secret, also reads the application credential(s), checks their shape and prints their expiry
    /// (never their value).
    CheckConfig {
        /// Also read and check the application credential secret.
        #[arg(long)]
        secret: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let terminal = progress::Terminal::detect();
    mde_platform::telemetry::init_with_writer("warn", terminal.log_writer());
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Demo { out } => demo::run(&out, &terminal).await,
        Command::CheckTenant { tenants } => check_tenant::run(cli.config.as_deref(), &tenants).await,
        Command::Export {
            datasets,
            tenants,
            since,
            out,
        } => {
            let args = export::ExportArgs {
                datasets,
                tenants,
                since,
                out,
            };
            export::run(cli.config.as_deref(), args, &terminal).await
        }
        Command::Push {
            file,
            tenants,
            sync,
            dry_run,
            json,
        } => {
            let args = push::PushArgs {
                file,
                tenants,
                sync,
                dry_run,
                json,
            };
            push::run(cli.config.as_deref(), args, &terminal).await
        }
        Command::CheckConfig { secret } => check_config::run(cli.config.as_deref(), secret).await,
        Command::Tenants(command) => tenants::run(cli.config.as_deref(), command).await,
        Command::Webhook(command) => webhook::run(cli.config.as_deref(), command).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing more to say to it, and nothing went wrong.
        Err(e) if tenants::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
