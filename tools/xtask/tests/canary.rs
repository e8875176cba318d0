//! `cargo xtask canary`: finds each kind of test secret in plain and gzip files, names file, line and kind but
//! never the value, skips files that exist to hold secrets, and passes a clean tree.

use std::io::Write;
use std::process::Command;

fn canary(dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("canary")
        .arg(dir)
        .output()
        .expect("run xtask canary")
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).expect("gzip");
    encoder.finish().expect("gzip")
}

#[test]
fn every_kind_of_secret_is_found_and_never_echoed() {
    let dir = tempfile::tempdir().expect("dir");
    let secret = mde_sandbox::DEMO_CLIENT_SECRET;
    let key_line = mde_sandbox::DEMO_CLIENT_KEY_PEM
        .lines()
        .nth(1)
        .expect("a key line");
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiI4YTJkNmY0ZSJ9.c2lnbmF0dXJlLW9mLWEtdG9rZW4";
    std::fs::write(
        dir.path().join("run.log"),
        format!("ok\nerror: bad secret {secret}\n"),
    )
    .expect("log");
    std::fs::write(dir.path().join("trace.log"), format!("key {key_line}\n")).expect("log");
    std::fs::write(
        dir.path().join("audit.json"),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    .expect("audit");
    std::fs::write(
        dir.path().join("x.ndjson.gz"),
        gzip(&format!("{{}}\n{{\"t\":\"{jwt}\"}}\n")),
    )
    .expect("gz");
    // Files that hold secrets by design are not findings.
    std::fs::write(dir.path().join("secrets.json"), secret).expect("secrets");
    std::fs::write(
        dir.path().join("soar.key"),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    .expect("key");

    let out = canary(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for expected in [
        "run.log:2: the demo client secret",
        "trace.log:1: the demo certificate's private key",
        "audit.json:1: a partner key (whsec_)",
        "x.ndjson.gz:2: a token (JWT)",
        "4 secret(s) found in 4 scanned files",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in {stderr}");
    }
    for value in [secret, key_line, jwt, "whsec_MfKQ"] {
        assert!(!stderr.contains(value), "the value is echoed: {stderr}");
    }
}

#[test]
fn a_clean_tree_passes_and_a_missing_one_fails() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("run.log"),
        "token for tenant 8a2d… fingerprint 1f2e3d\n",
    )
    .expect("log");
    let out = canary(dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 files scanned, no secret found"));

    let missing = canary(&dir.path().join("nope"));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}
