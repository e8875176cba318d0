//! The CLI's surface from the built binary: every command's `--help` (snapshots under `tests/snapshots/`; review
//! a change with `cargo insta review` or rerun with `INSTA_UPDATE=always`), the documented exit codes, shell
//! completions, the example configuration (valid, and the README's configuration reference), `consent-url`.

use std::process::{Command, Output};

fn mde_bridge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mde-bridge"))
        .env_remove("MDE_BRIDGE_CONFIG")
        .env_remove("RUST_LOG")
        .env("COLUMNS", "120")
        .args(args)
        .output()
        .expect("run mde-bridge")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every command path, as `--help` lists them.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["demo"],
    &["check-tenant"],
    &["tenants"],
    &["tenants", "list"],
    &["tenants", "show"],
    &["tenants", "add"],
    &["tenants", "update"],
    &["tenants", "disable"],
    &["tenants", "import"],
    &["tenants", "export"],
    &["export"],
    &["push"],
    &["webhook"],
    &["webhook", "serve"],
    &["webhook", "sign"],
    &["completions"],
    &["config"],
    &["config", "example"],
    &["consent-url"],
    &["check-config"],
];

#[test]
fn every_commands_help_says_what_it_does_and_is_stable() {
    for path in COMMANDS {
        let mut args = path.to_vec();
        args.push("--help");
        let out = mde_bridge(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let name = if path.is_empty() {
            "mde-bridge".to_owned()
        } else {
            path.join("-")
        };
        insta::assert_snapshot!(format!("help-{name}"), stdout(&out));
    }
}

#[test]
fn exit_codes_are_the_documented_ones() {
    assert_eq!(mde_bridge(&["--no-such-flag"]).status.code(), Some(2), "usage");
    assert_eq!(
        mde_bridge(&["consent-url", "--tenant", "not-a-guid"])
            .status
            .code(),
        Some(2),
        "usage"
    );
    let missing = mde_bridge(&["check-config", "--config", "/nonexistent/bridge.toml"]);
    assert_eq!(missing.status.code(), Some(1), "failure");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/bridge.toml"));
    let help = stdout(&mde_bridge(&["--help"]));
    assert!(help.contains("3 needs attention"), "documented in --help: {help}");
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = mde_bridge(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = stdout(&out);
        assert!(
            script.contains("mde-bridge") && script.contains("consent-url"),
            "{shell}"
        );
    }
}

#[test]
fn the_example_configuration_is_valid_and_is_the_readmes_reference() {
    let example = stdout(&mde_bridge(&["config", "example"]));
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, &example).expect("write");
    let config = mde_platform::config::load(Some(&path)).expect("the example loads and validates");
    assert_eq!(config.partner.company, "Contoso");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README");
    let block = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README's configuration block");
    assert!(
        example.ends_with(block),
        "README.md's configuration block and tools/mde-bridge/bridge.example.toml differ: keep them the same"
    );
}

#[test]
fn consent_url_names_the_tenant_and_the_application() {
    let dir = tempfile::tempdir().expect("dir");
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let client = "5e1b7c3a-2f4d-4a9e-b8c6-0d7e3f1a9b24";
    std::fs::write(
        dir.path().join("secrets.json"),
        format!(r#"{{"mde-bridge/app-credential": {{"kind": "client_secret", "client_id": "{client}", "client_secret": "CANARY-not-shown"}}}}"#),
    )
    .expect("secrets");
    std::fs::write(
        dir.path().join("bridge.toml"),
        format!(
            "[partner]\ncompany = \"Contoso\"\nproduct = \"Tests\"\nversion = \"1\"\n[cloud]\nname = \"gcc_high\"\n\
             [credential]\nbackend = \"local\"\nlocal_file = \"secrets.json\"\n\
             [[tenants]]\ntenant_id = \"{tenant}\"\ndisplay_name = \"Fabrikam\"\n"
        ),
    )
    .expect("config");
    let config = dir.path().join("bridge.toml");
    let config = config.to_str().expect("utf-8");
    let out = mde_bridge(&["consent-url", "--tenant", tenant, "--config", config, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        answer["consent_url"],
        format!("https://login.microsoftonline.us/{tenant}/adminconsent?client_id={client}"),
        "the tenant's cloud (GCC High) sign-in host"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("CANARY"));
    let unknown = mde_bridge(&[
        "consent-url",
        "--tenant",
        "11111111-2222-3333-4444-555555555555",
        "--config",
        config,
    ]);
    assert!(unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not in the registry yet"));
}

#[test]
fn quiet_means_a_silent_stderr_and_json_logs_mean_nothing_but_json() {
    let dir = tempfile::tempdir().expect("dir");
    let out_dir = dir.path().join("demo");
    let out_dir = out_dir.to_str().expect("utf-8");
    let quiet = mde_bridge(&["demo", "--out", out_dir, "-q"]);
    assert!(quiet.status.success());
    // Only errors: the demo's deliberately unconsented tenant is one; no progress lines, no warnings.
    for line in String::from_utf8_lossy(&quiet.stderr).lines() {
        assert!(line.contains("ERROR"), "-q lets only errors through: {line}");
    }

    let json = Command::new(env!("CARGO_BIN_EXE_mde-bridge"))
        .env_remove("MDE_BRIDGE_CONFIG")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("RUST_LOG", "info")
        .args(["demo", "--out", out_dir])
        .output()
        .expect("run");
    assert!(json.status.success());
    let stderr = String::from_utf8_lossy(&json.stderr);
    assert!(!stderr.trim().is_empty(), "info logs were asked for");
    for line in stderr.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON on stderr: {line}"
        );
    }
}

/// A configuration over a running sandbox: Contoso (healthy, exports mde_alerts, takes indicators) and Fabrikam
/// (lacks permissions).
fn sandbox_config(dir: &std::path::Path, base: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("secrets.json"),
        serde_json::json!({"mde-bridge/app-credential": {"kind": "client_secret",
            "client_id": mde_sandbox::DEMO_CLIENT_ID, "client_secret": mde_sandbox::DEMO_CLIENT_SECRET}})
        .to_string(),
    )
    .expect("secrets");
    let config = dir.join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[partner]\ncompany = \"Contoso\"\nproduct = \"Tests\"\nversion = \"1\"\n\
             [cloud]\nlogin_url = \"{base}\"\nmde_api_url = \"{base}\"\nm365d_api_url = \"{base}\"\ngraph_url = \"{base}\"\n\
             [credential]\nbackend = \"local\"\nlocal_file = \"secrets.json\"\n[storage]\nlocal_dir = \"out\"\n\
             [[tenants]]\ntenant_id = \"{}\"\ndisplay_name = \"Contoso\"\ndatasets = [\"mde_alerts\"]\nactions = [\"add_indicator\"]\n\
             [[tenants]]\ntenant_id = \"{}\"\ndisplay_name = \"Fabrikam\"\nactions = [\"isolate_device\"]\n",
            mde_sandbox::DEMO_TENANT_FULL,
            mde_sandbox::DEMO_TENANT_PARTIAL
        ),
    )
    .expect("config");
    config
}

/// Every command's `--json` output, its shape pinned by a snapshot; what changes from run to run (the sandbox's
/// port, the directory, times, run ids, sizes) is replaced by placeholders.
#[tokio::test]
async fn every_commands_json_output_is_stable() {
    let sandbox = mde_sandbox::Sandbox::start(mde_sandbox::SandboxConfig::default())
        .await
        .expect("sandbox");
    let base = sandbox.base_url();
    let dir = tempfile::tempdir().expect("dir");
    let config = sandbox_config(dir.path(), &base);
    let config = config.to_str().expect("utf-8").to_owned();
    std::fs::write(
        dir.path().join("iocs.jsonl"),
        "{\"indicatorValue\": \"evil.example.net\", \"indicatorType\": \"DomainName\", \"action\": \"Block\", \"title\": \"C2\", \"description\": \"d\"}\n\
         {\"indicatorValue\": \"10.0.0.1\", \"indicatorType\": \"IpAddress\", \"action\": \"Block\", \"title\": \"private\", \"description\": \"d\"}\n",
    )
    .expect("iocs");
    let iocs = dir.path().join("iocs.jsonl");
    let iocs = iocs.to_str().expect("utf-8").to_owned();
    let full = mde_sandbox::DEMO_TENANT_FULL;
    let cases: Vec<(&str, Vec<&str>, i32)> = vec![
        ("check-config", vec!["check-config", "--secret", "--json"], 0),
        ("consent-url", vec!["consent-url", "--tenant", full, "--json"], 0),
        ("check-tenant", vec!["check-tenant", "--json"], 3),
        ("export", vec!["export", "--json"], 0),
        (
            "push",
            vec!["push", "--file", &iocs, "--tenant", full, "--json"],
            3,
        ),
        ("tenants-list", vec!["tenants", "list", "--json"], 0),
    ];
    let dir_text = dir.path().display().to_string();
    for (name, args, code) in cases {
        let mut full_args = args.clone();
        full_args.extend(["--config", &config]);
        let (out, base, dir_text) = {
            let (base, dir_text) = (base.clone(), dir_text.clone());
            let args: Vec<String> = full_args.iter().map(|a| (*a).to_owned()).collect();
            let out = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                mde_bridge(&refs)
            })
            .await
            .expect("join");
            (out, base, dir_text)
        };
        assert_eq!(
            out.status.code(),
            Some(code),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(&out)
            .replace(base.trim_end_matches('/'), "http://<sandbox>")
            .replace(&dir_text, "<dir>");
        insta::with_settings!({filters => vec![
            (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "<time>"),
            (r"\d{8}T\d{6}(\.\d+)?Z?(-[0-9a-f]{8})?", "<stamp>"),
            (r#""(bytes|lag_seconds|days_left)": \d+"#, r#""$1": <n>"#),
            (r"dt=\d{4}-\d{2}-\d{2}", "dt=<date>"),
            (r#"-[^"/]*iocs_jsonl"#, "-<file>"),
        ]}, {
            insta::assert_snapshot!(format!("json-{name}"), text);
        });
    }
}
