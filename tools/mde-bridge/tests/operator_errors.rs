//! What an operator gets wrong, tried from the built binary: every mistake gets one clear error, a non-zero exit
//! and no change; a reader that goes away (`| head`) ends the command quietly.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn mde_bridge() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mde-bridge"));
    cmd.env_remove("MDE_BRIDGE_CONFIG").env_remove("RUST_LOG");
    cmd
}

/// A configuration of the demo tenants against `base`, storing under `dir/exports`.
fn config(dir: &Path, base: &str) -> PathBuf {
    let secrets = dir.join("secrets.json");
    std::fs::write(
        &secrets,
        serde_json::json!({"mde-bridge/app-credential": {
            "kind": "client_secret", "client_id": mde_sandbox::DEMO_CLIENT_ID,
            "client_secret": mde_sandbox::DEMO_CLIENT_SECRET}})
        .to_string(),
    )
    .expect("secrets");
    let path = dir.join("bridge.toml");
    std::fs::write(
        &path,
        format!(
            "[partner]\ncompany = \"Contoso\"\nproduct = \"Tests\"\nversion = \"1\"\n\
             [cloud]\nlogin_url = \"{base}\"\nmde_api_url = \"{base}\"\nm365d_api_url = \"{base}\"\ngraph_url = \"{base}\"\n\
             [credential]\nbackend = \"local\"\nlocal_file = \"secrets.json\"\n\
             [storage]\nlocal_dir = \"exports\"\n\
             [[tenants]]\ntenant_id = \"{}\"\ndisplay_name = \"Contoso\"\ndatasets = [\"mde_alerts\"]\n",
            mde_sandbox::DEMO_TENANT_FULL
        ),
    )
    .expect("config");
    path
}

fn run(config: &Path, args: &[&str]) -> Output {
    let mut cmd = mde_bridge();
    cmd.arg("--config").arg(config).args(args);
    cmd.output().expect("run mde-bridge")
}

fn all(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn bad_out_and_since_arguments_are_refused_before_anything_runs() {
    let sandbox = mde_sandbox::Sandbox::start(mde_sandbox::SandboxConfig::default())
        .await
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &sandbox.base_url());
    let (cfg, file) = (config.clone(), dir.path().join("a-file"));
    std::fs::write(&file, "not a directory").expect("file");
    let under_file = file.join("exports");
    let outcomes = tokio::task::spawn_blocking(move || {
        (
            run(&cfg, &["export", "--out", ""]),
            run(&cfg, &["export", "--out", under_file.to_str().expect("utf-8")]),
            run(&cfg, &["export", "--since", "2999-01-01T00:00:00Z"]),
            run(&cfg, &["export", "--since", "2026-11-01"]),
        )
    })
    .await
    .expect("join");
    let (empty, under, future, zoneless) = outcomes;
    for (out, expected) in [
        (&empty, "--out is empty"),
        (
            &under,
            "is a file, so the export directory cannot be created there",
        ),
        (&future, "is in the future"),
        (&zoneless, "is not an RFC 3339 time with a zone"),
    ] {
        let text = all(out);
        assert!(!out.status.success(), "{text}");
        assert!(text.contains(expected), "{expected:?} in {text}");
        assert_eq!(text.matches("error:").count(), 1, "one error, said once: {text}");
        assert!(
            !text.contains("exports are under") && !text.contains("advanced"),
            "{text}"
        );
    }
    assert!(!dir.path().join("exports").exists(), "nothing was written");
    assert!(
        !sandbox.requests().iter().any(|r| r.path.starts_with("/api/")),
        "no export request was made"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_command_without_a_panic() {
    // More output than a pipe holds (3,000 tenants), so the writes after the reader left do fail.
    let dir = tempfile::tempdir().expect("tempdir");
    let tenants: Vec<serde_json::Value> = (0..3_000)
        .map(|i| serde_json::json!({"tenant_id": format!("{i:08x}-0000-4000-8000-{i:012x}"), "display_name": format!("Customer {i}")}))
        .collect();
    std::fs::write(
        dir.path().join("tenants.json"),
        serde_json::json!({ "tenants": tenants }).to_string(),
    )
    .expect("registry");
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        "[partner]\ncompany = \"Contoso\"\nproduct = \"Tests\"\nversion = \"1\"\n[registry]\nbackend = \"file\"\nfile = \"tenants.json\"\n",
    )
    .expect("config");
    for args in [&["tenants", "list"][..], &["tenants", "export"][..]] {
        let mut child = mde_bridge()
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).expect("one line");
        // `| head -1`: the reader read one line and closed its end (dropped above).
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(first.contains("Customer 0"), "{first}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            out.status.success(),
            "a closed pipe is not a failure: {:?} {stderr}",
            out.status
        );
    }
}
