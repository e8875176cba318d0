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
mod config_cmd;
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
///
/// Exit codes: 0 success; 1 failure (the error says what to do); 2 usage (a wrong argument); 3 needs attention
/// (a tenant needs consent or a permission, indicators were rejected: the output says which).
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// Configuration file (TOML); `MDE_BRIDGE_<SECTION>_<KEY>` variables override its keys.
    #[arg(long, global = true, env = "MDE_BRIDGE_CONFIG")]
    config: Option<PathBuf>,
    /// Only errors on stderr: no progress, no warnings.
    #[arg(short, long, global = true, conflicts_with_all = ["verbose", "log_level"])]
    quiet: bool,
    /// More logs on stderr: -v info, -vv debug, -vvv trace.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// The log level (error, warn, info, debug, trace); RUST_LOG, when set, wins.
    #[arg(long, global = true, value_parser = ["error", "warn", "info", "debug", "trace"])]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// Exit code 3: the command ran, and something needs the operator (a tenant's consent, rejected indicators).
#[derive(Debug)]
pub struct NeedsAttention(pub String);

impl std::fmt::Display for NeedsAttention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NeedsAttention {}

#[derive(Subcommand)]
enum Command {
    /// The whole product on the embedded default, no cloud account: starts the sandbox (Entra ID + Defender
    /// emulator) with its demo tenants, writes a configuration and an owner-only secrets file, then runs the tenant
    /// checks, the incident export, an indicator push (valid, invalid, over-cap) and a partner's signed request
    /// that isolates a device through the webhook and the action executor; ends with a summary of what happened
    /// and where every file is. A second run resumes the export.
    Demo {
        /// Where the demo's configuration and outputs go.
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        /// One JSON object at the end instead of the lines ({"configuration", "secrets", "tenant_checks",
        /// "export", "indicator_push", "webhook"}).
        #[arg(long)]
        json: bool,
    },
    /// Checks each enabled tenant of the registry: token per API, missing application permissions, the consent
    /// URL to fix it, and the credential's expiry. Exits 3 when a tenant needs attention.
    CheckTenant {
        /// Only this tenant (repeatable); every enabled tenant when absent.
        #[arg(long = "tenant")]
        tenants: Vec<mde_contracts::TenantId>,
        /// One JSON line per tenant instead ({"display_name", "health": schemas' TenantHealth}).
        #[arg(long)]
        json: bool,
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
        /// Print the run summary as JSON (schemas/export-run-summary.schema.json) instead of the table.
        #[arg(long)]
        json: bool,
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
    /// Prints a shell completion script: `mde-bridge completions bash > /etc/bash_completion.d/mde-bridge`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Configuration helpers: `config example` prints a commented configuration with every key and its default.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Prints the link a customer tenant's administrator opens to grant the application its permissions (admin
    /// consent), for the tenant's cloud; then run `mde-bridge check-tenant --tenant ID`.
    ///
    /// Example: mde-bridge consent-url --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --config bridge.toml
    ConsentUrl {
        /// The customer tenant (GUID).
        #[arg(long)]
        tenant: mde_contracts::TenantId,
        /// Print {"tenant_id", "consent_url", "client_id"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validates the configuration and prints what it resolves to (endpoints, User-Agent, registry, storage);
    /// with --secret, also reads the application credential(s), checks their shape and prints their expiry
    /// (never their value).
    CheckConfig {
        /// Also read and check the application credential secret.
        #[arg(long)]
        secret: bool,
        /// Print the report as JSON ({"valid", "user_agent", "cloud", "credential", "storage", "registry",
        /// "credentials"}).
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let terminal = progress::Terminal::detect(cli.quiet);
    let level = match (cli.quiet, cli.verbose, cli.log_level.as_deref()) {
        (true, _, _) => "error",
        (_, _, Some(level)) => level,
        (_, 0, None) => "warn",
        (_, 1, None) => "info",
        (_, 2, None) => "debug",
        _ => "trace",
    };
    mde_platform::telemetry::init_with_writer(level, terminal.log_writer());
    let outcome = match cli.command {
        Command::Demo { out, json } => demo::run(&out, json, &terminal).await,
        Command::CheckTenant { tenants, json } => {
            check_tenant::run(cli.config.as_deref(), &tenants, json).await
        }
        Command::Export {
            datasets,
            tenants,
            since,
            out,
            json,
        } => {
            let args = export::ExportArgs {
                datasets,
                tenants,
                since,
                out,
                json,
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
        Command::CheckConfig { secret, json } => check_config::run(cli.config.as_deref(), secret, json).await,
        Command::Tenants(command) => tenants::run(cli.config.as_deref(), command).await,
        Command::Webhook(command) => webhook::run(cli.config.as_deref(), command).await,
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mde-bridge", &mut out);
            std::io::Write::write_all(&mut std::io::stdout().lock(), &out).map_err(anyhow::Error::from)
        }
        Command::Config(command) => config_cmd::run(command),
        Command::ConsentUrl { tenant, json } => {
            config_cmd::consent_url(cli.config.as_deref(), &tenant, json).await
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing more to say to it, and nothing went wrong.
        Err(e) if tenants::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            if progress::json_logs() {
                tracing::error!(error = format!("{e:#}"), "mde-bridge failed");
            } else {
                eprintln!("error: {e:#}");
            }
            if e.downcast_ref::<NeedsAttention>().is_some() {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
