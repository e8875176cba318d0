//! `mde-bridge demo`: the whole product on the embedded default — the sandbox's demo world, a local secrets file
//! and local storage, no cloud account: tenant checks, the incident export of every demo tenant, an indicator
//! push, and a partner's signed request that isolates a device through the webhook and the action executor; then
//! a summary of what happened and where every file is.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mde_platform::wiring::Wiring;
use mde_sandbox::{Sandbox, SandboxConfig};

/// Starts the sandbox, writes a configuration for its demo tenants under `out`, runs the tenant checks and
/// exports every dataset, through the same code the functions run.
pub async fn run(out: &Path, json: bool, terminal: &crate::progress::Terminal) -> Result<()> {
    // With --json the lines below are not printed: one JSON object at the end says everything.
    macro_rules! say {
        ($($arg:tt)*) => {{
            if json { Ok::<(), std::io::Error>(()) } else { use std::io::Write as _; writeln!(std::io::stdout().lock(), $($arg)*) }
        }};
    }
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
    let partner_secret = partner_secret();
    let credential = serde_json::json!({
        "mde-bridge/app-credential": {
            "kind": "client_secret",
            "client_id": mde_sandbox::DEMO_CLIENT_ID,
            "client_secret": mde_sandbox::DEMO_CLIENT_SECRET,
            "expires_on": mde_defender::rfc3339(expires_on),
        },
        "mde-bridge/webhook-partner-keys": {"keys": [{
            "key_id": crate::demo_actions::PARTNER_KEY_ID, "partner": "Demo SOAR", "secrets": [partner_secret],
        }]},
    });
    write_owner_only(&secrets, &serde_json::to_string_pretty(&credential)?)?;
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
    let reports = crate::check_tenant::check_all(
        &wiring,
        &[],
        if json {
            crate::check_tenant::Output::Silent
        } else {
            crate::check_tenant::Output::Text
        },
    )
    .await?;
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
        json: false,
    };
    let store = wiring.object_store().await;
    let summary = crate::export::export(&wiring, store.clone(), &args, terminal).await?;
    if !json {
        crate::export::print_summary(&summary)?;
    }
    let records: u64 = summary.datasets.iter().map(|d| d.records).sum();
    let objects: u64 = summary.datasets.iter().map(|d| d.objects).sum();
    say!(
        "\n{records} records in {objects} gzip NDJSON objects under {} (checkpoints under checkpoints/); \
         Northwind is reported and skipped until its administrator consents",
        store.location("")
    )?;

    say!(
        "\nindicator push into Contoso (indicator-push core): 3 valid, 2 invalid, then a feed of 20 against a cap of 20"
    )?;
    let full = mde_sandbox::DEMO_TENANT_FULL;
    let pushed = crate::demo_actions::push_indicators(&wiring, full).await?;
    let contoso = pushed.summary.tenants.first();
    let imported = contoso.map(|t| t.imported).unwrap_or(0);
    say!(
        "  imported {imported}; rejected {} invalid (each names its field) and {} over the cap; rejects in {}",
        pushed.invalid,
        pushed.over_cap,
        pushed.summary.rejects_location.as_deref().unwrap_or("-")
    )?;

    say!(
        "\na partner's signed request through the webhook and the action executor: isolate a Contoso device"
    )?;
    let action = crate::demo_actions::isolate_a_device(&wiring, &sandbox, full, &partner_secret).await?;
    let outcome = &action.status["outcome"];
    say!(
        "  request {}: {} — {}; device {} isolated: {}",
        action.request_id,
        action.status["status"].as_str().unwrap_or("?"),
        outcome["reason"].as_str().unwrap_or("no outcome yet"),
        action.machine_id,
        action.isolated
    )?;
    let calls = action.status["audit"]["calls"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    say!(
        "  {calls} Defender call(s) recorded in the audit record {}",
        action.audit_location
    )?;

    say!("\nsummary")?;
    let rows = [
        (
            "tenant checks",
            format!(
                "{} checked, {} healthy (Fabrikam misses permissions, Northwind never consented: expected)",
                reports.len(),
                reports.iter().filter(|h| h.healthy).count()
            ),
            config_path.display().to_string(),
        ),
        (
            "incident export",
            if records == 0 {
                "0 new records: resumed from the checkpoints of the last run".to_owned()
            } else {
                format!("{records} records, {objects} objects")
            },
            store.location(""),
        ),
        (
            "indicator push",
            format!(
                "{imported} imported, {} invalid, {} over cap",
                pushed.invalid, pushed.over_cap
            ),
            pushed.summary.rejects_location.clone().unwrap_or_default(),
        ),
        (
            "webhook + executor",
            format!(
                "isolate {}: {}",
                action.machine_id,
                outcome["code"].as_str().unwrap_or("not completed")
            ),
            action.audit_location.clone(),
        ),
    ];
    for (what, result, location) in rows {
        say!("  {what:<20} {result}\n  {:<20} {location}", "")?;
    }
    say!(
        "\nrun `mde-bridge demo` again: the export resumes from its checkpoints. To keep a sandbox running, \
         `mde-sandbox --listen 127.0.0.1:8080`; copy {} and point its [cloud] URLs there (the demo rewrites its own)",
        config_path.display()
    )?;
    if json {
        let report = serde_json::json!({
            "configuration": config_path,
            "secrets": secrets,
            "tenant_checks": reports,
            "export": {"summary": summary, "location": store.location("")},
            "indicator_push": {"summary": pushed.summary, "invalid": pushed.invalid, "over_cap": pushed.over_cap},
            "webhook": {"request_id": action.request_id, "machine_id": action.machine_id, "isolated": action.isolated,
                "audit_location": action.audit_location, "status": action.status},
        });
        use std::io::Write as _;
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&report)?
        )?;
    }
    sandbox.shutdown().await;
    if outcome["code"] != "succeeded" || !action.isolated || imported == 0 || pushed.invalid != 2 {
        anyhow::bail!("the demo did not go as expected (see above)");
    }
    Ok(())
}

/// A new partner key for this run (`whsec_` + 32 random bytes, base64).
fn partner_secret() -> String {
    use base64::Engine as _;
    let mut bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Writes a secrets file readable by its owner only.
fn write_owner_only(path: &Path, text: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
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

[indicators]
active_cap = 20           # small, so the demo shows what happens at the cap (Defender's is 15,000)

[executor]
poll_interval_seconds = 1 # the demo moves the sandbox's clock instead of waiting for Defender

[[tenants]]
tenant_id = "{full}"
display_name = "Contoso"
datasets = ["graph_incidents", "graph_alerts_v2", "mde_alerts", "m365d_incidents"]
actions = ["isolate_device", "add_indicator", "update_alert"]
partners = [{{key_id = "{partner}", actions = ["isolate_device"]}}]

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
        partner = crate::demo_actions::PARTNER_KEY_ID,
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
