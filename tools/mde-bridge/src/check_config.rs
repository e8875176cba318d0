//! `mde-bridge check-config`: what the configuration resolves to, checked before anything is deployed.

use std::path::Path;

use anyhow::{Context, Result};
use mde_contracts::{AppCredential, BridgeConfig};
use mde_platform::secrets::read_json_secret;

/// Loads and validates the configuration, prints a summary, and optionally checks the credential secret.
pub async fn run(file: Option<&Path>, check_secret: bool) -> Result<()> {
    let config = mde_platform::config::load(file)?;
    print_summary(&config)?;
    if check_secret {
        let store = mde_platform::wiring::secret_store(&config).await?;
        let cred: AppCredential = read_json_secret(store.as_ref(), &config.credential.secret_id)
            .await
            .context("reading the application credential")?;
        let kind = match cred {
            AppCredential::ClientSecret { .. } => "client secret",
            AppCredential::Certificate { .. } => "certificate",
        };
        println!(
            "credential: {kind} of application {} (value not shown)",
            cred.client_id()
        );
    }
    Ok(())
}

fn print_summary(config: &BridgeConfig) -> Result<()> {
    let endpoints = config.cloud.endpoints()?;
    println!("configuration is valid");
    println!("user-agent: {}", config.partner.user_agent());
    println!("cloud: {:?}", config.cloud.name);
    println!("  login:  {}", endpoints.login);
    println!(
        "  mde:    {} (audience {})",
        endpoints.mde.base_url, endpoints.mde.resource
    );
    println!(
        "  m365d:  {} (audience {})",
        endpoints.m365d.base_url, endpoints.m365d.resource
    );
    println!(
        "  graph:  {} (audience {})",
        endpoints.graph.base_url, endpoints.graph.resource
    );
    println!(
        "credential: {:?} secret {:?}",
        config.credential.backend, config.credential.secret_id
    );
    match &config.storage.bucket {
        Some(b) => println!("storage: s3://{b}/{}", config.storage.prefix),
        None => println!(
            "storage: local directory {}",
            config
                .storage
                .local_dir
                .as_deref()
                .unwrap_or(Path::new("out"))
                .display()
        ),
    }
    println!("tenants: {}", config.tenants.len());
    for t in &config.tenants {
        let datasets: Vec<_> = t.datasets.iter().map(|d| d.as_str()).collect();
        println!(
            "  {} {:?}{} datasets=[{}] actions={}",
            t.tenant_id,
            t.display_name,
            if t.enabled { "" } else { " (disabled)" },
            datasets.join(", "),
            t.actions.len()
        );
    }
    Ok(())
}
