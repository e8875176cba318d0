//! A secret value never reaches a log line or an error text, whatever the code path: logs are captured and
//! searched for a canary value.

use std::io::Write;
use std::sync::{Arc, Mutex};

use mde_contracts::AppCredential;
use mde_platform::secrets::{CachedSecretStore, LocalSecretStore, SecretStore, read_json_secret};

const CANARY: &str = "canary-Kq9-never-log-me";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_canary_secret_never_appears_in_logs_or_errors() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets.json");
    let secrets = serde_json::json!({
        "good": { "kind": "client_secret", "client_id": "11111111-2222-3333-4444-555555555555", "client_secret": CANARY },
        "swapped": { "kind": "client_secret", "client_id": CANARY, "client_secret": "x" },
        "typed": { "kind": "client_secret", "client_id": "11111111-2222-3333-4444-555555555555", "client_secret": [CANARY] },
        "not_json": format!("client_secret={CANARY}"),
        "trailing": format!("{{\"kind\": \"client_secret\", \"client_id\": \"11111111-2222-3333-4444-555555555555\", \"client_secret\": \"x\"}} {CANARY}"),
    });
    std::fs::write(&path, secrets.to_string()).expect("write");
    let store = CachedSecretStore::new(
        Arc::new(LocalSecretStore::new(&path)),
        std::time::Duration::from_secs(60),
    );

    let mut texts = Vec::new();
    let cred: AppCredential = read_json_secret(&store, "good").await.expect("good");
    tracing::info!(?cred, "credential loaded");
    texts.push(format!("{cred:?}"));
    let raw = store.secret("good").await.expect("raw");
    tracing::debug!(secret = ?raw, "raw secret");
    for bad in ["swapped", "typed", "not_json", "trailing", "absent"] {
        let err = read_json_secret::<AppCredential>(&store, bad)
            .await
            .expect_err(bad);
        tracing::error!(error = %err, debug = ?err, "secret failed");
        texts.push(format!("{err} {err:?}"));
    }

    let logged = String::from_utf8(logs.0.lock().expect("lock").clone()).expect("utf8");
    assert!(
        logged.contains("credential loaded") && logged.contains("secret failed"),
        "logs were captured"
    );
    assert!(!logged.contains(CANARY), "a secret reached the logs:\n{logged}");
    for t in texts {
        assert!(
            !t.contains(CANARY),
            "a secret reached an error or Debug text: {t}"
        );
    }
}
