//! `mde-bridge config example` (a commented configuration with every key) and `mde-bridge consent-url`.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Subcommand;
use mde_contracts::{AppCredential, TenantId};
use mde_platform::wiring::Wiring;

/// Every key of the configuration with its default, commented: the README's configuration reference.
pub const EXAMPLE: &str = include_str!("../bridge.example.toml");

/// The `config` subcommands.
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Prints a commented configuration with every section and key (defaults shown), to start from:
    /// `mde-bridge config example > bridge.toml`.
    Example,
}

/// Runs a `config` subcommand.
pub fn run(command: ConfigCommand) -> Result<()> {
    match command {
        ConfigCommand::Example => {
            use std::io::Write as _;
            std::io::stdout().lock().write_all(EXAMPLE.as_bytes())?;
            Ok(())
        }
    }
}

/// Prints the admin-consent link of `tenant`: its cloud's sign-in host and the application of its credential.
pub async fn consent_url(config: Option<&Path>, tenant: &TenantId, json: bool) -> Result<()> {
    let wiring = Wiring::load(config)?;
    let snapshot = wiring.tenants().await?.snapshot().await?;
    let record = snapshot.get(tenant);
    let cloud = record
        .and_then(|t| t.cloud.clone())
        .unwrap_or_else(|| wiring.config().cloud.clone());
    let endpoints = cloud.endpoints()?;
    let secret_id = record
        .and_then(|t| t.credential_secret_id.clone())
        .unwrap_or_else(|| wiring.config().credential.secret_id.clone());
    let store = wiring.secret_store().await?;
    let credential: AppCredential = mde_platform::secrets::read_json_secret(&*store, &secret_id)
        .await
        .with_context(|| format!("reading the application credential {secret_id:?} (for its client id)"))?;
    let url = mde_defender::admin_consent_url(&endpoints.login, tenant, credential.client_id());
    if json {
        say!(
            "{}",
            serde_json::json!({"tenant_id": tenant, "client_id": credential.client_id(), "consent_url": url})
        )?;
    } else {
        say!("{url}")?;
        if record.is_none() {
            eprintln!(
                "note: tenant {tenant} is not in the registry yet: add it with `mde-bridge tenants add {tenant} --name …`"
            );
        }
        eprintln!("after the administrator consents: mde-bridge check-tenant --tenant {tenant}");
    }
    Ok(())
}
