//! `mde-bridge tenants …` as an operator runs it: the built binary against a DynamoDB registry (moto) and a local
//! registry file — import of 2,000 tenants (and again: nothing changes), list, show, update with a stale version
//! refused, disable, bad lines named by line and field with nothing written, the inline registry read-only.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tenant_id(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

fn config(dir: &Path, registry: &str) -> PathBuf {
    let path = dir.join("bridge.toml");
    let text =
        format!("[partner]\ncompany = \"Contoso\"\nproduct = \"Ops\"\nversion = \"1.0.0\"\n\n{registry}\n");
    std::fs::write(&path, text).expect("write config");
    path
}

fn dynamodb_config(dir: &Path, table: &str) -> PathBuf {
    let endpoint = mde_platform::testing::aws_endpoint();
    config(
        dir,
        &format!(
            "[registry]\nbackend = \"dynamodb\"\ntable = \"{table}\"\n\n[aws]\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n"
        ),
    )
}

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mde-bridge"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("MDE_BRIDGE_CONFIG")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run mde-bridge")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(out: Output) -> String {
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "expected success:\n{stdout}\n{stderr}");
    stdout
}

fn fails(out: Output) -> String {
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "expected a failure:\n{stdout}\n{stderr}");
    format!("{stdout}{stderr}")
}

fn jsonl(n: usize) -> String {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "tenant_id": tenant_id(i),
                "display_name": format!("Customer {i}"),
                "datasets": ["mde_alerts", "m365d_incidents"],
                "actions": ["isolate_device"],
                "partners": [{"key_id": "soar-main", "actions": ["isolate_device"]}],
            })
            .to_string()
                + "\n"
        })
        .collect()
}

#[tokio::test]
async fn an_operator_imports_lists_updates_and_disables_two_thousand_tenants_in_dynamodb() {
    let sdk = mde_platform::testing::aws_sdk_config().await;
    let table = mde_platform::testing::create_registry_table(&sdk).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dynamodb_config(dir.path(), &table);
    let file = dir.path().join("tenants.jsonl");
    std::fs::write(&file, jsonl(2_000)).expect("write");
    let file = file.to_str().expect("utf-8");

    let first = ok(run(&config, &["tenants", "import", file]));
    assert!(
        first.contains("created 2000, updated 0, unchanged 0, failed 0"),
        "{first}"
    );
    let again = ok(run(&config, &["tenants", "import", file]));
    assert!(
        again.contains("created 0, updated 0, unchanged 2000, failed 0"),
        "importing twice changes nothing: {again}"
    );

    let listed = ok(run(&config, &["tenants", "list", "--json"]));
    let records: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(records.len(), 2_000);
    assert!(records.iter().all(|r| r["version"] == 1));

    let id = tenant_id(42);
    let updated = ok(run(
        &config,
        &["tenants", "update", &id, "--name", "Renamed", "--version", "1"],
    ));
    assert!(updated.contains("now version 2"), "{updated}");
    let stale = fails(run(
        &config,
        &[
            "tenants",
            "update",
            &id,
            "--name",
            "Lost update",
            "--version",
            "1",
        ],
    ));
    assert!(
        stale.contains("changed by someone else (expected version 1, found version 2)"),
        "{stale}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&ok(run(&config, &["tenants", "show", &id]))).expect("json");
    assert_eq!(shown["display_name"], "Renamed");

    ok(run(&config, &["tenants", "disable", &id]));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(run(&config, &["tenants", "show", &id]))).expect("json");
    assert_eq!(shown["enabled"], false);
    assert_eq!(shown["version"], 3);

    // An export, edited and imported back: only the edited record is written.
    let exported = ok(run(&config, &["tenants", "export"]));
    let edited = exported.replacen("Customer 7\"", "Customer Seven\"", 1);
    std::fs::write(dir.path().join("edited.jsonl"), edited).expect("write");
    let out = ok(run(
        &config,
        &[
            "tenants",
            "import",
            dir.path().join("edited.jsonl").to_str().expect("utf-8"),
        ],
    ));
    assert!(out.contains("created 0, updated 1, unchanged 1999"), "{out}");
}

#[test]
fn bad_lines_are_named_by_line_and_field_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(
        dir.path(),
        "[registry]\nbackend = \"file\"\nfile = \"tenants.json\"\n",
    );
    let mut lines = jsonl(3);
    lines.push_str("{\"tenant_id\": \"contoso.com\", \"display_name\": \"Not a GUID\"}\n");
    lines.push_str(&format!(
        "{{\"tenant_id\": \"{}\", \"display_name\": \"Typo\", \"datasets\": [\"mde_alerts\", \"alerts\"]}}\n",
        tenant_id(9)
    ));
    lines.push_str(&format!(
        "{{\"tenant_id\": \"{}\", \"display_name\": \"Unbound\", \"partners\": [{{\"key_id\": \"k\", \"actions\": [\"update_alert\"]}}]}}\n",
        tenant_id(10)
    ));
    lines.push_str("not json\n");
    lines.push_str(&jsonl(1));
    // Two records on one line: neither is imported unseen.
    lines.push_str(&jsonl(1).replace('\n', " ").repeat(2));
    lines.push('\n');
    let file = dir.path().join("bad.jsonl");
    std::fs::write(&file, lines).expect("write");
    let out = fails(run(
        &config,
        &["tenants", "import", file.to_str().expect("utf-8")],
    ));
    assert!(
        out.contains("has 6 invalid line(s); nothing was imported"),
        "{out}"
    );
    assert!(
        out.contains("line 4: tenant_id:") && out.contains("not a GUID"),
        "{out}"
    );
    assert!(
        out.contains("line 5: datasets[1]:") && out.contains("unknown variant `alerts`"),
        "{out}"
    );
    assert!(out.contains("line 6: partners[0].actions[0]:"), "{out}");
    assert!(out.contains("line 7:"), "{out}");
    assert!(
        out.contains("line 8: tenant_id:") && out.contains("already on line 1"),
        "{out}"
    );
    assert!(
        out.contains("line 9: more after the tenant record") && out.contains("one JSON object per line"),
        "{out}"
    );
    assert!(!dir.path().join("tenants.json").exists(), "nothing was written");

    // From another directory: the registry file is found next to the configuration.
    std::fs::write(&file, jsonl(3)).expect("write");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_mde-bridge"))
        .current_dir(elsewhere.path())
        .args([
            "--config",
            config.to_str().expect("utf-8"),
            "tenants",
            "import",
            file.to_str().expect("utf-8"),
        ])
        .env_remove("MDE_BRIDGE_CONFIG")
        .output()
        .expect("run");
    ok(out);
    assert!(
        dir.path().join("tenants.json").exists(),
        "relative to the configuration file"
    );
    let listed = ok(run(&config, &["tenants", "list"]));
    assert_eq!(listed.lines().count(), 3, "{listed}");

    let added = ok(run(
        &config,
        &[
            "tenants",
            "add",
            &tenant_id(77),
            "--name",
            "Woodgrove",
            "--dataset",
            "graph_incidents",
            "--cloud",
            "gcc_high",
        ],
    ));
    assert!(added.contains("version 1"), "{added}");
    let again = fails(run(
        &config,
        &["tenants", "add", &tenant_id(77), "--name", "Woodgrove"],
    ));
    assert!(again.contains("use `update`"), "{again}");
    let missing = fails(run(&config, &["tenants", "show", &tenant_id(78)]));
    assert!(missing.contains("is not in the registry file"), "{missing}");
}

#[test]
fn the_inline_registry_is_read_only_and_says_where_to_edit_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(
        dir.path(),
        &format!(
            "[[tenants]]\ntenant_id = \"{}\"\ndisplay_name = \"Inline\"\n",
            tenant_id(1)
        ),
    );
    let listed = ok(run(&config, &["tenants", "list"]));
    assert!(listed.contains("Inline"), "{listed}");
    let out = fails(run(&config, &["tenants", "disable", &tenant_id(1)]));
    assert!(
        out.contains("cannot be written by mde-bridge") && out.contains("backend = \"file\""),
        "{out}"
    );
}
