//! The `mde-sandbox` binary: first stdout line, demo world, `--config`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mde-sandbox"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    (Running(child), line.trim_end().to_owned())
}

#[tokio::test]
async fn first_stdout_line_names_the_address_and_the_demo_world_answers() {
    let (_child, line) = start(&["--listen", "127.0.0.1:0"]);
    let base = line
        .strip_prefix("listening on ")
        .expect("first line is `listening on http://ADDR`");
    assert!(base.starts_with("http://127.0.0.1:"));
    assert!(!base.ends_with(":0"));
    let body: serde_json::Value = reqwest::get(format!("{base}/_sandbox/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["config"]["tenants"][0]["id"], mde_sandbox::DEMO_TENANT_FULL);
}

#[tokio::test]
async fn config_file_replaces_the_demo_world() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.json");
    let config = serde_json::json!({
        "tenants": [{"id": "0b5f1f0e-1111-4222-8333-944445555666", "display_name": "Woodgrove", "granted_roles": {"mde": ["Alert.Read.All"]}}],
        "data": {"alerts_per_tenant": 3, "seed": 7}
    });
    std::fs::write(&path, config.to_string()).unwrap();
    let (_child, line) = start(&["--listen", "127.0.0.1:0", "--config", path.to_str().unwrap()]);
    let base = line.strip_prefix("listening on ").unwrap();
    let body: serde_json::Value = reqwest::get(format!("{base}/_sandbox/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["config"]["tenants"].as_array().unwrap().len(), 1);
    assert_eq!(body["config"]["data"]["alerts_per_tenant"], 3);
}
