//! `mde-sandbox --listen 127.0.0.1:PORT [--config FILE]`: runs the Defender emulator until Ctrl-C. The first line on
//! stdout is `listening on http://ADDR`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use mde_sandbox::{Sandbox, SandboxConfig};

/// Local emulator of Entra ID and the Microsoft Defender APIs.
#[derive(Debug, Parser)]
#[command(name = "mde-sandbox", version, about)]
struct Args {
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 = any free port). Overrides `listen` of the config
    /// file, whose default is `127.0.0.1:0`.
    #[arg(long)]
    listen: Option<String>,
    /// JSON configuration file (schema: `GET /_sandbox/config/schema`); the demo world when absent.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the configuration's JSON Schema and exit.
    #[arg(long)]
    print_schema: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    if args.print_schema {
        let schema = serde_json::to_string_pretty(&mde_sandbox::config_schema())?;
        // A closed pipe (`| head`) is not an error worth a panic.
        return match writeln!(std::io::stdout().lock(), "{schema}") {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.context("cannot write the schema"),
        };
    }
    let mut config = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<SandboxConfig>(&text)
                .with_context(|| format!("invalid sandbox config {}", path.display()))?
        }
        None => SandboxConfig::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let sandbox = Sandbox::start(config).await.context("cannot start the sandbox")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", sandbox.base_url())?;
    stdout.flush()?;
    drop(stdout);
    tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
    sandbox.shutdown().await;
    Ok(())
}
