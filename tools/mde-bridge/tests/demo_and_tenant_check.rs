//! The README's first command and the tenant check, run as a user runs them: the built binary.

use std::process::Command;

fn mde_bridge() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mde-bridge"));
    cmd.env_remove("MDE_BRIDGE_CONFIG").env_remove("RUST_LOG");
    cmd
}

#[test]
fn the_demo_runs_offline_and_reports_each_demo_tenant_with_its_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = mde_bridge()
        .args(["demo", "--out"])
        .arg(dir.path().join("demo"))
        .output()
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("Contoso ({}): ok", mde_sandbox::DEMO_TENANT_FULL)),
        "{stdout}"
    );
    assert!(stdout.contains("missing Machine.Isolate"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{}/adminconsent?client_id={}",
            mde_sandbox::DEMO_TENANT_PARTIAL,
            mde_sandbox::DEMO_CLIENT_ID
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("has not consented to the application"),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 tenant(s) checked, 1 healthy; 6 token request(s)"),
        "{stdout}"
    );
    assert!(dir.path().join("demo/bridge.toml").is_file() && dir.path().join("demo/secrets.json").is_file());
    // stderr is a pipe here: progress comes as plain lines, one start and one outcome per (tenant, dataset).
    let stderr = String::from_utf8_lossy(&out.stderr);
    let full = mde_sandbox::DEMO_TENANT_FULL;
    assert!(
        stderr.contains(&format!("{full} mde_alerts: exporting")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{full} mde_alerts: Completed: 40 records, 2 API calls, 1 objects"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(" ERROR dataset export failed tenant=c4e8a0b2"),
        "logs reach stderr through the progress-aware writer, as plain text: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no terminal escapes when stderr is not a terminal: {stderr}"
    );
    assert!(
        !stdout.contains(mde_sandbox::DEMO_CLIENT_SECRET),
        "the secret is never printed"
    );
}

#[tokio::test]
async fn check_tenant_fails_when_a_tenant_needs_consent_and_passes_when_all_are_healthy() {
    let sandbox = mde_sandbox::Sandbox::start(mde_sandbox::SandboxConfig::default())
        .await
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("secrets.json");
    std::fs::write(
        &secrets,
        serde_json::json!({"mde-bridge/app-credential": {"kind": "client_secret",
            "client_id": mde_sandbox::DEMO_CLIENT_ID, "client_secret": mde_sandbox::DEMO_CLIENT_SECRET}})
        .to_string(),
    )
    .expect("secrets");
    let base = sandbox.base_url();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[partner]\ncompany = \"Contoso\"\nproduct = \"Tests\"\nversion = \"1\"\n\
             [cloud]\nlogin_url = \"{base}\"\nmde_api_url = \"{base}\"\nm365d_api_url = \"{base}\"\ngraph_url = \"{base}\"\n\
             [credential]\nbackend = \"local\"\nlocal_file = \"{}\"\n\
             [[tenants]]\ntenant_id = \"{}\"\ndisplay_name = \"Contoso\"\ndatasets = [\"mde_alerts\"]\n\
             [[tenants]]\ntenant_id = \"{}\"\ndisplay_name = \"Fabrikam\"\nactions = [\"add_indicator\", \"isolate_device\"]\n",
            secrets.display(),
            mde_sandbox::DEMO_TENANT_FULL,
            mde_sandbox::DEMO_TENANT_PARTIAL
        ),
    )
    .expect("config");

    let run = |args: &[&str]| {
        let mut cmd = mde_bridge();
        cmd.arg("check-tenant").arg("--config").arg(&config).args(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("run check-tenant"))
    };
    let all = run(&[]).await.expect("join");
    let stdout = String::from_utf8_lossy(&all.stdout);
    assert_eq!(
        all.status.code(),
        Some(3),
        "needs attention: Fabrikam lacks Machine.Isolate: {stdout}"
    );
    assert!(
        stdout.contains("missing Machine.Isolate"),
        "Ti.ReadWrite (granted) is enough to add indicators, isolating needs Machine.Isolate: {stdout}"
    );
    assert!(String::from_utf8_lossy(&all.stderr).contains("1 of 2 tenant(s) need attention"));

    let json = run(&["--json"]).await.expect("join");
    assert_eq!(json.status.code(), Some(3));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per tenant");
    let fabrikam = lines
        .iter()
        .find(|l| l["display_name"] == "Fabrikam")
        .expect("Fabrikam");
    assert_eq!(fabrikam["health"]["healthy"], false);
    assert!(fabrikam.to_string().contains("Machine.Isolate"), "{fabrikam}");

    let healthy = run(&["--tenant", mde_sandbox::DEMO_TENANT_FULL])
        .await
        .expect("join");
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stdout)
    );

    let exports = dir.path().join("exports");
    let export = {
        let mut cmd = mde_bridge();
        cmd.args([
            "export",
            "--json",
            "--tenant",
            mde_sandbox::DEMO_TENANT_FULL,
            "--config",
        ])
        .arg(&config)
        .arg("--out")
        .arg(&exports);
        tokio::task::spawn_blocking(move || cmd.output().expect("run export"))
            .await
            .expect("join")
    };
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let summary: mde_contracts::ExportRunSummary =
        serde_json::from_slice(&export.stdout).expect("--json prints the run summary");
    assert_eq!(summary.datasets.len(), 1);
    assert!(summary.datasets[0].records > 0);

    let unknown = run(&["--tenant", "00000000-0000-4000-8000-0000000000ab"])
        .await
        .expect("join");
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(
        unknown.status.code(),
        Some(1),
        "an unknown tenant is a failure, not a silent success"
    );
    assert!(stderr.contains("is not in the tenant registry"), "{stderr}");
}

#[test]
fn export_without_any_configuration_explains_how_to_start() {
    let out = mde_bridge()
        .arg("export")
        .env_remove("MDE_BRIDGE_PARTNER_COMPANY")
        .output()
        .expect("run export");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no configuration") && stderr.contains("mde-bridge demo"),
        "{stderr}"
    );
}

#[test]
fn a_second_demo_run_resumes_from_the_checkpoints_and_exports_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = || {
        mde_bridge()
            .args(["demo", "--out"])
            .arg(dir.path().join("demo"))
            .output()
            .expect("run demo")
    };
    let first = run();
    assert!(String::from_utf8_lossy(&first.stdout).contains("160 records in 6 gzip NDJSON objects"));
    // The sandbox is seeded the same each time: every record is already behind the checkpoints.
    let second = run();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}");
    assert!(stdout.contains("0 records in 0 gzip NDJSON objects"), "{stdout}");
}

#[test]
fn the_demo_shows_every_function_and_where_its_files_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dir.path().join("demo");
    let run = || {
        let out = mde_bridge()
            .arg("demo")
            .arg("--out")
            .arg(&demo)
            .output()
            .expect("run demo");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let first = run();
    for line in [
        "imported 15; rejected 2 invalid (each names its field) and 8 over the cap",
        "webhook + executor   isolate ",
        "Defender reports the Isolate action",
        "isolated: true",
    ] {
        assert!(first.contains(line), "{line:?} in:\n{first}");
    }
    let audit = std::fs::read_dir(demo.join("exports/audit/requests"))
        .expect("audit records")
        .next()
        .expect("one record")
        .expect("entry")
        .path();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&audit).expect("read")).expect("json");
    assert_eq!(record["outcome"]["code"], "succeeded", "{record}");
    assert_eq!(record["key_id"], "demo-soar");
    assert!(demo.join("exports/rejects").is_dir(), "rejects are kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(demo.join("secrets.json"))
            .expect("secrets")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the secrets file is the owner's only");
    }
    let text = std::fs::read_to_string(demo.join("secrets.json")).expect("secrets");
    for file in walk(&demo.join("exports")) {
        let content = std::fs::read(&file).expect("read");
        let content = String::from_utf8_lossy(&content);
        assert!(
            !content.contains(mde_sandbox::DEMO_CLIENT_SECRET) && !content.contains("whsec_"),
            "no secret in {}",
            file.display()
        );
    }
    assert!(text.contains("whsec_"), "the partner key is in the secrets file");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_demo_in_json_prints_one_object_that_says_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = mde_bridge()
        .args(["demo", "--json", "--out"])
        .arg(dir.path().join("demo"))
        .output()
        .expect("run demo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(report["tenant_checks"].as_array().map(Vec::len), Some(3));
    assert_eq!(report["indicator_push"]["invalid"], 2);
    assert_eq!(report["webhook"]["isolated"], true);
    assert_eq!(report["webhook"]["status"]["outcome"]["code"], "succeeded");
    assert!(
        report["export"]["summary"]["datasets"]
            .as_array()
            .is_some_and(|d| d.len() == 7)
    );
}
