//! `mde-bridge check-tenant`: for each configured tenant, can a token be had for every API its datasets and
//! actions use, with every permission? Prints the fix (the admin-consent URL) for each problem.

use std::path::Path;

use anyhow::{Result, bail};
use mde_contracts::{BridgeConfig, BrokerResponse, TenantHealth, TenantId};
use token_broker::Broker;

/// Checks the selected tenants (all when none is given); fails when any is unhealthy.
pub async fn run(file: Option<&Path>, only: &[TenantId]) -> Result<()> {
    let config = mde_platform::config::load(file)?;
    let reports = check_all(&config, only).await?;
    let unhealthy = reports.iter().filter(|h| !h.healthy).count();
    if unhealthy > 0 {
        bail!(
            "{unhealthy} of {} tenant(s) need attention (see above)",
            reports.len()
        );
    }
    Ok(())
}

/// Runs the token-broker's health check for each tenant in-process and prints one block per tenant.
pub async fn check_all(config: &BridgeConfig, only: &[TenantId]) -> Result<Vec<TenantHealth>> {
    let broker = Broker::from_config(config).await?;
    let mut reports = Vec::new();
    for tenant in config
        .tenants
        .iter()
        .filter(|t| only.is_empty() || only.contains(&t.tenant_id))
    {
        let answer = broker
            .handle(serde_json::json!({ "check": tenant.tenant_id }))
            .await;
        match answer {
            BrokerResponse::Health(health) => {
                print_health(&tenant.display_name, &health);
                reports.push(health);
            }
            BrokerResponse::Error(e) => bail!("checking tenant {}: {e}", tenant.tenant_id),
            BrokerResponse::Token(_) => bail!("checking tenant {}: unexpected answer", tenant.tenant_id),
        }
    }
    Ok(reports)
}

fn print_health(name: &str, health: &TenantHealth) {
    let verdict = if health.healthy { "ok" } else { "NEEDS ATTENTION" };
    println!("{name} ({}): {verdict}", health.tenant_id);
    for a in &health.audiences {
        let state = match (a.token_obtainable, a.missing_roles.is_empty()) {
            (true, true) => format!("token ok, {} role(s)", a.roles.len()),
            (true, false) => format!("token ok, missing {}", a.missing_roles.join(", ")),
            (false, _) => "no token".to_string(),
        };
        println!("  {:<6} {state}", a.audience.as_str());
        if let Some(problem) = &a.problem {
            println!("         {problem}");
        }
    }
}
