//! Both secret stores pass the same behavioural suite; the cache in front of them reads once per TTL and
//! re-reads after an invalidation (rotation).

use std::sync::Arc;
use std::time::Duration;

use mde_platform::secrets::{AwsSecretStore, CachedSecretStore, LocalSecretStore, SecretStore};
use mde_platform::testing;
use secrecy::ExposeSecret;

const CANARY: &str = "canary-5ecret-Zq81";

fn wrong_shape() -> String {
    format!(r#"{{"kind":"client_secret","client_id":"{CANARY}","client_secret":"x"}}"#)
}

#[tokio::test]
async fn the_local_file_passes_the_secret_store_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets.json");
    let file = serde_json::json!({ "app": "s3cr3t", "wrong": serde_json::from_str::<serde_json::Value>(&wrong_shape()).expect("json") });
    std::fs::write(&path, file.to_string()).expect("write");
    testing::secret_store_suite(&LocalSecretStore::new(&path), "app", "s3cr3t", "wrong", CANARY).await;
}

#[tokio::test]
async fn secrets_manager_passes_the_secret_store_suite() {
    let sdk = testing::aws_sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let id = testing::unique_name("mde-bridge/app");
    let wrong = testing::unique_name("mde-bridge/wrong");
    client
        .create_secret()
        .name(&id)
        .secret_string("s3cr3t")
        .send()
        .await
        .expect("create secret in moto");
    client
        .create_secret()
        .name(&wrong)
        .secret_string(wrong_shape())
        .send()
        .await
        .expect("create secret");
    testing::secret_store_suite(&AwsSecretStore::new(client), &id, "s3cr3t", &wrong, CANARY).await;
}

#[tokio::test]
async fn the_cache_reads_once_per_ttl_and_again_after_invalidation() {
    let sdk = testing::aws_sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let id = testing::unique_name("mde-bridge/rotating");
    client
        .create_secret()
        .name(&id)
        .secret_string("v1")
        .send()
        .await
        .expect("create");
    let cached = CachedSecretStore::new(
        Arc::new(AwsSecretStore::new(client.clone())),
        Duration::from_secs(600),
    );

    assert_eq!(cached.secret(&id).await.expect("read").expose_secret(), "v1");
    client
        .put_secret_value()
        .secret_id(&id)
        .secret_string("v2")
        .send()
        .await
        .expect("rotate");
    assert_eq!(
        cached.secret(&id).await.expect("read").expose_secret(),
        "v1",
        "cached within the TTL"
    );
    cached.invalidate(&id).await;
    assert_eq!(
        cached.secret(&id).await.expect("read").expose_secret(),
        "v2",
        "re-read after invalidation"
    );
}
