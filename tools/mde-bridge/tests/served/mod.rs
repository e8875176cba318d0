//! `mde-bridge webhook serve` from the built binary, for the webhook tests: a directory with the partner key
//! `soar-1`, a configuration binding it to Contoso for some actions (and, with a sandbox, Defender and local
//! storage), and the running server with its address read from its banner.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The demo tenant the key is bound to.
pub const TENANT: &str = mde_sandbox::DEMO_TENANT_FULL;
/// The partner key's secret.
pub const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The binary, without the caller's configuration or log settings.
pub fn mde_bridge() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mde-bridge"));
    cmd.env_remove("MDE_BRIDGE_CONFIG").env_remove("RUST_LOG");
    cmd
}

/// A running `webhook serve`; stopped when dropped.
pub struct Served {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The banner line it printed.
    pub banner: String,
    /// Its working directory: `bridge.toml`, `secrets.json`, `soar.key`, `out/`.
    pub dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the directory and starts `webhook serve` in it. With `sandbox` (its base URL) the configuration also
/// points Defender at it, holds the demo credential and stores locally, and `--execute` performs the requests.
pub fn serve(sandbox: Option<&str>, actions: &[&str]) -> Served {
    let dir = tempfile::tempdir().expect("dir");
    let mut secrets = serde_json::json!({"mde-bridge/webhook-partner-keys": {"keys": [{"key_id": "soar-1", "secrets": [KEY]}]}});
    let actions = actions
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut config = "[partner]\ncompany = \"Contoso\"\nproduct = \"Tests\"\nversion = \"1\"\n\
                      [credential]\nbackend = \"local\"\nlocal_file = \"secrets.json\"\n"
        .to_owned();
    if let Some(url) = sandbox {
        secrets["mde-bridge/app-credential"] = serde_json::json!({"kind": "client_secret",
            "client_id": mde_sandbox::DEMO_CLIENT_ID, "client_secret": mde_sandbox::DEMO_CLIENT_SECRET});
        config.push_str(&format!(
            "[cloud]\nlogin_url = \"{url}\"\nmde_api_url = \"{url}\"\nm365d_api_url = \"{url}\"\ngraph_url = \"{url}\"\n\
             [storage]\nlocal_dir = \"out\"\n[executor]\npoll_interval_seconds = 1\n"
        ));
    }
    config.push_str(&format!(
        "[[tenants]]\ntenant_id = \"{TENANT}\"\ndisplay_name = \"Contoso\"\nactions = [{actions}]\n\
         partners = [{{key_id = \"soar-1\", actions = [{actions}]}}]\n"
    ));
    std::fs::write(dir.path().join("secrets.json"), secrets.to_string()).expect("secrets");
    std::fs::write(dir.path().join("bridge.toml"), config).expect("config");
    std::fs::write(dir.path().join("soar.key"), KEY).expect("key");
    let mut args = vec![
        "webhook",
        "serve",
        "--config",
        "bridge.toml",
        "--listen",
        "127.0.0.1:0",
    ];
    if sandbox.is_some() {
        args.push("--execute");
    }
    let mut child = mde_bridge()
        .current_dir(dir.path())
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut banner = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut banner)
        .expect("banner");
    let base = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(|w| w.trim_end_matches(':').to_owned())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));
    Served {
        child,
        base,
        banner,
        dir,
    }
}
