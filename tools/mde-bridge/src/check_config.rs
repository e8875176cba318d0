//! `mde-bridge check-config`: what the configuration resolves to, checked before anything is deployed.

use std::path::Path;

use anyhow::{Context, Result, bail};
use mde_contracts::{AppCredential, BridgeConfig, TokenSourceKind};
use mde_platform::secrets::read_json_secret;
use mde_platform::wiring::Wiring;
use mde_tokens::TenantAccess;
use serde_json::{Value, json};

/// Loads and validates the configuration, prints a summary (with the tenant registry) as text or JSON, and
/// optionally checks the credential secrets: their shape and their expiry (never their value).
pub async fn run(file: Option<&Path>, check_secret: bool, as_json: bool) -> Result<()> {
    let wiring = Wiring::load(file)?;
    let mut report = summary(wiring.config())?;
    let tenants = wiring.tenants().await?;
    let snapshot = tenants.snapshot().await.context("reading the tenant registry")?;
    report["registry"] = json!({
        "source": tenants.registry().describe(),
        "tenants": snapshot.all().map(|t| json!({
            "tenant_id": t.tenant_id, "display_name": t.display_name, "enabled": t.enabled,
            "datasets": t.datasets, "actions": t.actions,
        })).collect::<Vec<_>>(),
        "problems": snapshot.problems().iter().map(|p| json!({"key": p.key, "reason": p.reason})).collect::<Vec<_>>(),
    });
    let mut expired = 0;
    if check_secret {
        let access = TenantAccess::new(&wiring, TokenSourceKind::Direct).await?;
        let credential = access
            .credential
            .context("a direct token source reads the credential")?;
        let store = wiring.secret_store().await?;
        let mut credentials = Vec::new();
        for secret_id in credential.secret_ids() {
            let cred: AppCredential = read_json_secret(store.as_ref(), &secret_id)
                .await
                .with_context(|| format!("reading the application credential {secret_id:?}"))?;
            let status = credential.status(&secret_id, std::time::SystemTime::now()).await;
            if status.problem.is_some() && status.days_left.is_some_and(|d| d < 0) {
                expired += 1;
            }
            credentials.push(json!({
                "secret_id": secret_id, "kind": status.kind, "client_id": cred.client_id(),
                "expires_at": status.expires_at, "days_left": status.days_left, "problem": status.problem,
            }));
        }
        report["credentials"] = Value::Array(credentials);
    }
    if as_json {
        say!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_text(&report, snapshot.all_enabled().count())?;
    }
    if expired > 0 {
        bail!("{expired} credential(s) have expired (see above)");
    }
    Ok(())
}

/// What the configuration resolves to (without the registry).
fn summary(config: &BridgeConfig) -> Result<Value> {
    let endpoints = config.cloud.endpoints()?;
    let api =
        |a: &mde_contracts::ApiEndpoint| json!({"base_url": a.base_url.as_str(), "audience": a.resource});
    let storage = match &config.storage.bucket {
        Some(b) => format!("s3://{b}/{}", config.storage.prefix),
        None => config
            .storage
            .local_dir
            .as_deref()
            .unwrap_or(Path::new("out"))
            .display()
            .to_string(),
    };
    Ok(json!({
        "valid": true,
        "user_agent": config.partner.user_agent(),
        "cloud": {
            "name": config.cloud.name,
            "login": endpoints.login.as_str(),
            "mde": api(&endpoints.mde),
            "m365d": api(&endpoints.m365d),
            "graph": api(&endpoints.graph),
        },
        "credential": {"backend": config.credential.backend, "secret_id": config.credential.secret_id},
        "storage": storage,
    }))
}

fn print_text(report: &Value, enabled: usize) -> Result<()> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let cloud = &report["cloud"];
    say!("configuration is valid")?;
    say!("user-agent: {}", text(&report["user_agent"]))?;
    say!("cloud: {}", text(&cloud["name"]))?;
    say!("  login:  {}", text(&cloud["login"]))?;
    for api in ["mde", "m365d", "graph"] {
        say!(
            "  {:<7} {} (audience {})",
            format!("{api}:"),
            text(&cloud[api]["base_url"]),
            text(&cloud[api]["audience"])
        )?;
    }
    say!(
        "credential: {} secret {:?}",
        text(&report["credential"]["backend"]),
        text(&report["credential"]["secret_id"])
    )?;
    say!("storage: {}", text(&report["storage"]))?;
    let registry = &report["registry"];
    let tenants = registry["tenants"].as_array().cloned().unwrap_or_default();
    say!(
        "registry: {} — {} tenant(s), {enabled} enabled",
        text(&registry["source"]),
        tenants.len()
    )?;
    for t in &tenants {
        let datasets: Vec<String> = t["datasets"].as_array().into_iter().flatten().map(text).collect();
        say!(
            "  {} {:?}{} datasets=[{}] actions={}",
            text(&t["tenant_id"]),
            text(&t["display_name"]),
            if t["enabled"] == true { "" } else { " (disabled)" },
            datasets.join(", "),
            t["actions"].as_array().map(Vec::len).unwrap_or(0)
        )?;
    }
    for p in registry["problems"].as_array().into_iter().flatten() {
        say!(
            "  warning: record {} cannot be read and is skipped: {}",
            text(&p["key"]),
            text(&p["reason"])
        )?;
    }
    for c in report["credentials"].as_array().into_iter().flatten() {
        let expiry = match (c["expires_at"].as_str(), c["days_left"].as_i64()) {
            (Some(at), Some(days)) => format!("expires {at}, {days} day(s) left"),
            _ => "expiry unknown (add expires_on to watch a client secret)".into(),
        };
        say!(
            "credential {:?}: {} of application {}, {expiry} (value not shown)",
            text(&c["secret_id"]),
            text(&c["kind"]),
            text(&c["client_id"])
        )?;
        if let Some(problem) = c["problem"].as_str() {
            say!("  {problem}")?;
        }
    }
    Ok(())
}
