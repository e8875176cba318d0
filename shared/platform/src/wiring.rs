//! Builds the adapters a configuration asks for, once per process: local files and directories, or AWS.

use std::sync::Arc;
use std::time::Duration;

use mde_contracts::{BridgeConfig, SecretBackend};

use crate::objects::{LocalObjectStore, S3ObjectStore};
use crate::secrets::{AwsSecretStore, CachedSecretStore, LocalSecretStore};
use crate::{ObjectStore, PlatformError, Result, SecretStore, aws};

/// The secret store of `[credential]`, behind a cache with the configured TTL.
pub async fn secret_store(config: &BridgeConfig) -> Result<Arc<dyn SecretStore>> {
    let c = &config.credential;
    let inner: Arc<dyn SecretStore> = match c.backend {
        SecretBackend::Local => {
            let path = c.local_file.clone().ok_or_else(|| {
                PlatformError::Config(
                    "credential.local_file: required when credential.backend = \"local\" (a JSON file of secret ids to values)"
                        .into(),
                )
            })?;
            Arc::new(LocalSecretStore::new(path))
        }
        SecretBackend::Aws => {
            let sdk = aws::load_sdk_config(&config.aws).await;
            Arc::new(AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(&sdk)))
        }
    };
    Ok(Arc::new(CachedSecretStore::new(
        inner,
        Duration::from_secs(c.cache_ttl_seconds),
    )))
}

/// The object store of `[storage]`: the S3 bucket if one is set, else the local directory (default `./out`).
pub async fn object_store(config: &BridgeConfig) -> Arc<dyn ObjectStore> {
    let s = &config.storage;
    match &s.bucket {
        Some(bucket) => {
            let sdk = aws::load_sdk_config(&config.aws).await;
            let client = aws::s3_client(&sdk, &config.aws);
            Arc::new(S3ObjectStore::new(client, bucket.clone(), s.prefix.clone()))
        }
        None => {
            let dir = s.local_dir.clone().unwrap_or_else(|| "out".into());
            Arc::new(LocalObjectStore::new(dir, s.prefix.clone()))
        }
    }
}
