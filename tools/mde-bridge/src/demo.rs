//! `mde-bridge demo`: the main job on the embedded default — the sandbox's demo world, a local secrets file
//! and local storage, no cloud account: tenant checks, then the incident export of every demo tenant.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mde_platform::wiring::Wiring;
use mde_sandbox::{Sandbox, SandboxConfig};

/// Starts the sandbox, writes a configuration for its demo tenants under `out`, runs the tenant checks and
/// exports every dataset, through the same code the functions run.
pub async fn run(out: &Path, terminal: &crate::progress::Terminal) -> Result<()> {
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .context("starting the sandbox")?;
    let base = sandbox.base_url();
    say!("sandbox (Entra ID + Defender APIs emulator) listening on {base}")?;

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| format!("resolving {}", out.display()))?;
    let secrets = out.join("secrets.json");
    // The secret's expiry as an app registration would show it: the checks report the days left.
    let expires_on = std::time::SystemTime::now() + std::time::Duration::from_secs(180 * 86_400 + 12 * 3_600);
    let credential = serde_json::json!({ "mde-bridge/app-credential": {
        "kind": "client_secret",
        "client_id": mde_sandbox::DEMO_CLIENT_ID,
        "client_secret": mde_sandbox::DEMO_CLIENT_SECRET,
        "expires_on": mde_defender::rfc3339(expires_on),
    }});
    std::fs::write(&secrets, serde_json::to_string_pretty(&credential)?)
        .with_context(|| format!("writing {}", secrets.display()))?;
    let config_path = out.join("bridge.toml");
    std::fs::write(&config_path, demo_config(&base, &secrets, &out.join("exports")))
        .with_context(|| format!("writing {}", config_path.display()))?;
    say!(
        "configuration: {} (credential in {})",
        config_path.display(),
        secrets.display()
    )?;

    // The file goes through the same loader, validation and composition root as every function's.
    let wiring = Wiring::load(Some(&config_path))?;
    say!("\ntenant checks (token-broker health, in-process):")?;
    let reports = crate::check_tenant::check_all(&wiring, &[]).await?;
    let tokens = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.contains("/oauth2/"))
        .count();
    say!(
        "\n{} tenant(s) checked, {} healthy; {tokens} token request(s) to Entra ID (one per tenant and API)",
        reports.len(),
        reports.iter().filter(|h| h.healthy).count()
    )?;

    say!("\nexport of every dataset of the demo tenants (incident-export core, local storage):")?;
    let args = crate::export::ExportArgs {
        datasets: Vec::new(),
        tenants: Vec::new(),
        since: None,
        out: None,
    };
    let store = wiring.object_store().await;
    let summary = crate::export::export(&wiring, store.clone(), &args, terminal).await?;
    crate::export::print_summary(&summary)?;
    let records: u64 = summary.datasets.iter().map(|d| d.records).sum();
    let objects: u64 = summary.datasets.iter().map(|d| d.objects).sum();
    say!(
        "\n{records} records in {objects} gzip NDJSON objects under {} (checkpoints under checkpoints/); \
         Northwind is reported and skipped until its administrator consents",
        store.location("")
    )?;
    say!(
        "next: `cargo run -p mde-sandbox -- --listen 127.0.0.1:8080` runs the emulator on its own; point the \
         [cloud] URLs of {} at it and use `mde-bridge check-tenant` and `mde-bridge export` with --config",
        config_path.display()
    )?;
    sandbox.shutdown().await;
    Ok(())
}

fn demo_config(base: &str, secrets: &Path, exports: &Path) -> String {
    format!(
        r#"# Written by `mde-bridge demo`: the sandbox's demo world. The sandbox stops when the demo ends.
[partner]
company = "Contoso"
product = "MdeBridgeDemo"
version = "{version}"

[cloud]
login_url = "{base}"
mde_api_url = "{base}"
m365d_api_url = "{base}"
graph_url = "{base}"

[credential]
backend = "local"
local_file = "{secrets}"

[storage]
local_dir = "{exports}"

[[tenants]]
tenant_id = "{full}"
display_name = "Contoso"
datasets = ["graph_incidents", "graph_alerts_v2", "mde_alerts", "m365d_incidents"]
actions = ["isolate_device", "add_indicator", "update_alert"]

[[tenants]]
tenant_id = "{partial}"
display_name = "Fabrikam"
datasets = ["mde_alerts", "m365d_incidents"]
actions = ["isolate_device"]

[[tenants]]
tenant_id = "{unconsented}"
display_name = "Northwind"
datasets = ["graph_incidents"]
"#,
        version = env!("CARGO_PKG_VERSION"),
        secrets = toml_path(secrets),
        exports = toml_path(exports),
        full = mde_sandbox::DEMO_TENANT_FULL,
        partial = mde_sandbox::DEMO_TENANT_PARTIAL,
        unconsented = mde_sandbox::DEMO_TENANT_UNCONSENTED,
    )
}

/// A path as a TOML basic string body (backslashes and quotes escaped).
fn toml_path(p: &Path) -> String {
    PathBuf::from(p)
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}
