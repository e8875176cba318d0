//! The CLI's configuration check, run as a user would: the built binary with a file and the environment.

use std::process::Command;

const CANARY: &str = "canary-cli-Hx4-secret";

fn write_fixture(dir: &std::path::Path, tenant_id: &str) -> std::path::PathBuf {
    let secrets = dir.join("secrets.json");
    let cred = serde_json::json!({ "mde-bridge/app-credential": {
        "kind": "client_secret", "client_id": "0a1b2c3d-0000-4000-8000-000000000001", "client_secret": CANARY } });
    std::fs::write(&secrets, cred.to_string()).expect("write secrets");
    let config = dir.join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[partner]
company = "Contoso"
product = "Bridge"
version = "1.0.0"

[credential]
backend = "local"
local_file = "{}"

[[tenants]]
tenant_id = "{tenant_id}"
display_name = "Fabrikam"
datasets = ["mde_alerts", "graph_incidents"]
"#,
            secrets.display()
        ),
    )
    .expect("write config");
    config
}

fn run(args: &[&str], config: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mde-bridge"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("MDE_BRIDGE_CONFIG")
        .output()
        .expect("run mde-bridge")
}

#[test]
fn check_config_prints_the_resolved_setup_and_checks_the_secret_without_showing_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_fixture(dir.path(), "11111111-1111-1111-1111-111111111111");
    let out = run(&["check-config", "--secret"], &config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("user-agent: MdePartner-Contoso-Bridge/1.0.0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("datasets=[mde_alerts, graph_incidents]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("credential \"mde-bridge/app-credential\": client_secret of application 0a1b2c3d"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(CANARY) && !stderr.contains(CANARY),
        "the secret was printed"
    );
}

#[test]
fn a_bad_tenant_id_fails_with_a_message_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_fixture(dir.path(), "fabrikam.onmicrosoft.com");
    let out = run(&["check-config"], &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("tenants") && stderr.contains("\"fabrikam.onmicrosoft.com\" is not a GUID"),
        "{stderr}"
    );
}

#[test]
fn check_config_says_when_the_credential_expires_and_fails_once_it_has() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_fixture(dir.path(), "11111111-1111-1111-1111-111111111111");
    let secrets = dir.path().join("secrets.json");
    let write = |expires_on: &str| {
        let cred = serde_json::json!({ "mde-bridge/app-credential": {
            "kind": "client_secret", "client_id": "0a1b2c3d-0000-4000-8000-000000000001",
            "client_secret": CANARY, "expires_on": expires_on } });
        std::fs::write(&secrets, cred.to_string()).expect("write secrets");
    };
    write("2099-01-01T00:00:00Z");
    let out = run(&["check-config", "--secret"], &config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("expires 2099-01-01T00:00:00Z") && stdout.contains("day(s) left"),
        "{stdout}"
    );

    write("2026-01-01T00:00:00Z");
    let out = run(&["check-config", "--secret"], &config);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("client secret expired at 2026-01-01T00:00:00Z"),
        "{all}"
    );
    assert!(all.contains("1 credential(s) have expired"), "{all}");
    assert!(!all.contains(CANARY), "the secret was printed");
}
