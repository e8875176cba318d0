//! `mde-bridge check-config`: what the configuration resolves to, checked before anything is deployed.

use std::path::Path;

use anyhow::{Context, Result, bail};
use mde_contracts::{AppCredential, BridgeConfig, TokenSourceKind};
use mde_platform::secrets::read_json_secret;
use mde_platform::wiring::Wiring;
use mde_tokens::TenantAccess;

/// Loads and validates the configuration, prints a summary (with the tenant registry), and optionally checks the
/// credential secrets: their shape and their expiry.
pub async fn run(file: Option<&Path>, check_secret: bool) -> Result<()> {
    let wiring = Wiring::load(file)?;
    print_summary(wiring.config())?;
    let tenants = wiring.tenants().await?;
    let snapshot = tenants.snapshot().await.context("reading the tenant registry")?;
    say!(
        "registry: {} — {} tenant(s), {} enabled",
        tenants.registry().describe(),
        snapshot.len(),
        snapshot.all_enabled().count()
    )?;
    for t in snapshot.all() {
        let datasets: Vec<_> = t.datasets.iter().map(|d| d.as_str()).collect();
        say!(
            "  {} {:?}{} datasets=[{}] actions={}",
            t.tenant_id,
            t.display_name,
            if t.enabled { "" } else { " (disabled)" },
            datasets.join(", "),
            t.actions.len()
        )?;
    }
    for p in snapshot.problems() {
        say!(
            "  warning: record {} cannot be read and is skipped: {}",
            p.key,
            p.reason
        )?;
    }
    if !check_secret {
        return Ok(());
    }
    let access = TenantAccess::new(&wiring, TokenSourceKind::Direct).await?;
    let credential = access
        .credential
        .context("a direct token source reads the credential")?;
    let store = wiring.secret_store().await?;
    let mut problems = 0;
    for secret_id in credential.secret_ids() {
        let cred: AppCredential = read_json_secret(store.as_ref(), &secret_id)
            .await
            .with_context(|| format!("reading the application credential {secret_id:?}"))?;
        let status = credential.status(&secret_id, std::time::SystemTime::now()).await;
        let expiry = match (&status.expires_at, status.days_left) {
            (Some(at), Some(days)) => format!("expires {at}, {days} day(s) left"),
            _ => "expiry unknown (add expires_on to watch a client secret)".into(),
        };
        say!(
            "credential {secret_id:?}: {} of application {}, {expiry} (value not shown)",
            status.kind,
            cred.client_id()
        )?;
        if let Some(problem) = &status.problem {
            say!("  {problem}")?;
            if status.days_left.is_some_and(|d| d < 0) {
                problems += 1;
            }
        }
    }
    if problems > 0 {
        bail!("{problems} credential(s) have expired (see above)");
    }
    Ok(())
}

fn print_summary(config: &BridgeConfig) -> Result<()> {
    let endpoints = config.cloud.endpoints()?;
    say!("configuration is valid")?;
    say!("user-agent: {}", config.partner.user_agent())?;
    say!("cloud: {:?}", config.cloud.name)?;
    say!("  login:  {}", endpoints.login)?;
    say!(
        "  mde:    {} (audience {})",
        endpoints.mde.base_url,
        endpoints.mde.resource
    )?;
    say!(
        "  m365d:  {} (audience {})",
        endpoints.m365d.base_url,
        endpoints.m365d.resource
    )?;
    say!(
        "  graph:  {} (audience {})",
        endpoints.graph.base_url,
        endpoints.graph.resource
    )?;
    say!(
        "credential: {:?} secret {:?}",
        config.credential.backend,
        config.credential.secret_id
    )?;
    match &config.storage.bucket {
        Some(b) => say!("storage: s3://{b}/{}", config.storage.prefix)?,
        None => say!(
            "storage: local directory {}",
            config
                .storage
                .local_dir
                .as_deref()
                .unwrap_or(Path::new("out"))
                .display()
        )?,
    }
    Ok(())
}
