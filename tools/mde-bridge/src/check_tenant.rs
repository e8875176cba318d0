//! `mde-bridge check-tenant`: for each enabled tenant of the registry, can a token be had for every API its
//! datasets and actions use, with every permission, and when does the credential expire? Prints the fix (the
//! admin-consent URL) for each problem.

use std::path::Path;

use anyhow::{Result, bail};
use mde_contracts::{TenantHealth, TenantId};
use mde_platform::wiring::Wiring;
use token_broker::Broker;

/// Checks the selected tenants (every enabled one when none is given); fails when any is unhealthy.
pub async fn run(file: Option<&Path>, only: &[TenantId], json: bool) -> Result<()> {
    let wiring = Wiring::load(file)?;
    let output = if json { Output::JsonLines } else { Output::Text };
    let reports = check_all(&wiring, only, output).await?;
    let unhealthy = reports.iter().filter(|h| !h.healthy).count();
    if unhealthy > 0 {
        return Err(crate::NeedsAttention(format!(
            "{unhealthy} of {} tenant(s) need attention (see above)",
            reports.len()
        ))
        .into());
    }
    Ok(())
}

/// How `check_all` reports each tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A block of text per tenant.
    Text,
    /// One JSON object per tenant and line.
    JsonLines,
    /// Nothing (the caller reports).
    Silent,
}

/// Runs the token-broker's health check for each tenant in-process and reports each as `output` says. A tenant
/// asked for by id that is not an enabled tenant of the registry is an error, not a silent skip.
pub async fn check_all(wiring: &Wiring, only: &[TenantId], output: Output) -> Result<Vec<TenantHealth>> {
    let broker = Broker::from_wiring(wiring).await?;
    let tenants = wiring.tenants().await?;
    let snapshot = tenants.snapshot().await?;
    for id in only {
        if snapshot.enabled(id).is_none() {
            let why = if snapshot.get(id).is_some() {
                "is disabled in"
            } else {
                "is not in"
            };
            bail!(
                "tenant {id} {why} the tenant registry ({}); see `mde-bridge tenants list`",
                tenants.registry().describe()
            );
        }
    }
    let mut reports = Vec::new();
    for tenant in snapshot
        .all_enabled()
        .filter(|t| only.is_empty() || only.contains(&t.tenant_id))
    {
        let health = broker.check(&tenant.tenant_id).await?;
        match output {
            Output::JsonLines => say!(
                "{}",
                serde_json::json!({"display_name": tenant.display_name, "health": health})
            )?,
            Output::Text => print_health(&tenant.display_name, &health)?,
            Output::Silent => {}
        }
        reports.push(health);
    }
    let unknown = reports
        .iter()
        .filter_map(|h| h.credential.as_ref())
        .filter(|c| c.days_left.is_none() && c.problem.is_none())
        .map(|c| c.secret_id.as_str())
        .collect::<std::collections::BTreeSet<_>>();
    for secret in unknown.into_iter().filter(|_| output == Output::Text) {
        say!(
            "credential {secret:?}: expiry unknown; add \"expires_on\" to the client secret's JSON to have it \
             reported and alarmed on (a certificate's is read from it)"
        )?;
    }
    if reports.is_empty() {
        bail!(
            "the tenant registry ({}) has no enabled tenant to check: add one with `mde-bridge tenants add`",
            tenants.registry().describe()
        );
    }
    Ok(reports)
}

fn print_health(name: &str, health: &TenantHealth) -> Result<()> {
    let verdict = if health.healthy { "ok" } else { "NEEDS ATTENTION" };
    say!("{name} ({}): {verdict}", health.tenant_id)?;
    for a in &health.audiences {
        let state = match (a.token_obtainable, a.missing_roles.is_empty()) {
            (true, true) => format!("token ok, {} role(s)", a.roles.len()),
            (true, false) => format!("token ok, missing {}", a.missing_roles.join(", ")),
            (false, _) => "no token".to_string(),
        };
        say!("  {:<6} {state}", a.audience.as_str())?;
        if let Some(problem) = &a.problem {
            say!("         {problem}")?;
        }
    }
    if let Some(c) = &health.credential {
        if let (Some(at), Some(days)) = (&c.expires_at, c.days_left) {
            say!(
                "  credential {} in {:?}: expires {at} ({days} day(s) left)",
                c.kind,
                c.secret_id
            )?;
        }
        if let Some(problem) = &c.problem {
            say!("  credential {:?}: {problem}", c.secret_id)?;
        }
    }
    Ok(())
}
