//! Repository hygiene, as plain tests: the dependency rules of ARCHITECTURE.md (read from `cargo metadata`) and
//! the composition root (no `main.rs` builds AWS clients by hand).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every workspace package: name → (directory relative to the root, names of workspace packages it depends on,
/// normal, dev and build dependencies alike).
fn packages() -> BTreeMap<String, (String, Vec<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(repo_root())
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let root = meta["workspace_root"]
        .as_str()
        .expect("workspace root")
        .to_owned();
    let members: Vec<&Value> = meta["packages"].as_array().expect("packages").iter().collect();
    let names: Vec<String> = members
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect();
    members
        .iter()
        .map(|p| {
            let manifest = p["manifest_path"].as_str().expect("manifest path");
            let dir = Path::new(manifest)
                .parent()
                .and_then(|d| d.strip_prefix(&root).ok())
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter_map(|d| d["name"].as_str())
                .filter(|n| names.iter().any(|m| m == n) && *n != p["name"].as_str().unwrap_or_default())
                .map(str::to_owned)
                .collect();
            (p["name"].as_str().expect("name").to_owned(), (dir, deps))
        })
        .collect()
}

#[test]
fn no_function_depends_on_another_function_and_nothing_shared_depends_on_a_function() {
    let packages = packages();
    let functions: Vec<&String> = packages
        .iter()
        .filter(|(_, (dir, _))| dir.starts_with("functions/"))
        .map(|(name, _)| name)
        .collect();
    assert!(functions.len() >= 2, "the functions are found: {functions:?}");
    let mut broken = Vec::new();
    for (name, (dir, deps)) in &packages {
        if !(dir.starts_with("functions/") || dir.starts_with("shared/")) {
            continue;
        }
        for d in deps {
            if functions.contains(&d) {
                broken.push(format!("{name} ({dir}) -> {d}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "a function may depend only on shared/ crates, and shared/ on no function; move the shared part under \
         shared/: {broken:?}"
    );
}

#[test]
fn contracts_depend_on_nothing_of_ours_and_the_sandbox_never_on_the_client_it_tests() {
    let packages = packages();
    let (_, contracts) = &packages["mde-contracts"];
    assert!(contracts.is_empty(), "mde-contracts depends on {contracts:?}");
    let (_, sandbox) = &packages["mde-sandbox"];
    assert!(
        sandbox.iter().all(|d| d == "mde-contracts"),
        "the sandbox may share only the contracts, not {sandbox:?}"
    );
    let (_, defender) = &packages["mde-defender"];
    let normal: Vec<&String> = defender.iter().filter(|d| *d != "mde-sandbox").collect();
    assert_eq!(
        normal,
        ["mde-contracts"],
        "defender talks to Microsoft only, never to AWS"
    );
}

#[test]
fn no_main_rs_builds_aws_clients_by_hand() {
    let mut offenders = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("functions"))
        .expect("functions/")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("src/main.rs"))
        .filter(|p| p.is_file())
        .collect();
    for entry in std::fs::read_dir(repo_root().join("tools/mde-bridge/src")).expect("the CLI") {
        files.push(entry.expect("entry").path());
    }
    assert!(files.len() > 3, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for needle in ["aws_sdk_", "aws_config", "load_sdk_config", "Client::new("] {
            if text.contains(needle) {
                offenders.push(format!("{} uses {needle}", file.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "AWS clients come from mde_platform::wiring::Wiring, the one composition root: {offenders:?}"
    );
}
