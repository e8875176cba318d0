//! The `SecretStore` port: AWS Secrets Manager, a local JSON file, and a TTL cache in front of either.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use crate::{PlatformError, Result, aws::sdk_error};

/// Reads secret values by id.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The current value of the secret.
    async fn secret(&self, id: &str) -> Result<SecretString>;

    /// Forgets any cached value of the secret, so the next read goes to the backend (after a rotation).
    async fn invalidate(&self, _id: &str) {}
}

/// Reads a secret holding JSON and decodes it. Decoding errors name the field but never show the value.
pub async fn read_json_secret<T: DeserializeOwned>(store: &dyn SecretStore, id: &str) -> Result<T> {
    let value = store.secret(id).await?;
    let mut de = serde_json::Deserializer::from_str(value.expose_secret());
    let decoded = serde_path_to_error::deserialize(&mut de).map_err(|e| PlatformError::SecretMalformed {
        id: id.to_string(),
        reason: redacted_reason(&e),
    })?;
    // Nothing but whitespace may follow the JSON (serde's message names a position, never the text).
    de.end().map_err(|e| PlatformError::SecretMalformed {
        id: id.to_string(),
        reason: format!("not valid JSON: {e}"),
    })?;
    Ok(decoded)
}

/// serde's messages quote offending values (`invalid type: string "..."`): keep the path and the expectation only.
fn redacted_reason(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.inner();
    let text = inner.to_string();
    let text = text.split(" at line ").next().unwrap_or_default();
    let quoted_value = text.starts_with("invalid type")
        || text.starts_with("invalid value")
        || text.starts_with("invalid length");
    let reason = if inner.is_syntax() || inner.is_eof() {
        "not valid JSON".to_string()
    } else if quoted_value {
        match text.split_once(", expected ") {
            Some((_, expected)) => format!("invalid value (not shown), expected {expected}"),
            None => "invalid value (not shown)".to_string(),
        }
    } else {
        text.to_string()
    };
    if path == "." || path.is_empty() {
        reason
    } else {
        format!("field `{path}`: {reason}")
    }
}

/// AWS Secrets Manager.
#[derive(Clone)]
pub struct AwsSecretStore {
    client: aws_sdk_secretsmanager::Client,
}

impl AwsSecretStore {
    /// Wraps a client built once per process.
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretStore for AwsSecretStore {
    async fn secret(&self, id: &str) -> Result<SecretString> {
        use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(GetSecretValueError::ResourceNotFoundException(_)) => PlatformError::SecretNotFound {
                    id: id.to_string(),
                    backend: "AWS Secrets Manager",
                },
                _ => sdk_error("secretsmanager", "GetSecretValue", e),
            })?;
        match out.secret_string {
            Some(s) => Ok(SecretString::from(s)),
            None => Err(PlatformError::SecretMalformed {
                id: id.to_string(),
                reason: "it has no string value (binary secrets are not supported): store the JSON as SecretString"
                    .into(),
            }),
        }
    }
}

/// A local JSON file mapping secret ids to values, for demos and tests. A value may be a string, or any JSON
/// value, which is then returned as its JSON text. The file is read at every call (wrap it in a
/// [`CachedSecretStore`]), so editing it is a rotation.
#[derive(Debug, Clone)]
pub struct LocalSecretStore {
    path: PathBuf,
}

impl LocalSecretStore {
    /// A store over the given file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl SecretStore for LocalSecretStore {
    async fn secret(&self, id: &str) -> Result<SecretString> {
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .map_err(|e| PlatformError::io("reading the local secrets file", &self.path, e))?;
        let mut all: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).map_err(|_| PlatformError::SecretMalformed {
                id: id.to_string(),
                reason: format!(
                    "the local secrets file {} is not a JSON object of secret ids to values",
                    self.path.display()
                ),
            })?;
        match all.remove(id) {
            Some(serde_json::Value::String(s)) => Ok(SecretString::from(s)),
            Some(other) => Ok(SecretString::from(other.to_string())),
            None => Err(PlatformError::SecretNotFound {
                id: id.to_string(),
                backend: "the local secrets file",
            }),
        }
    }
}

/// Keeps each value for a time-to-live, so a warm function does not call the backend on every request.
/// Concurrent first reads of the same id make one backend call.
pub struct CachedSecretStore {
    inner: Arc<dyn SecretStore>,
    cache: moka::future::Cache<String, SecretString>,
}

impl CachedSecretStore {
    /// Caches `inner`'s values for `ttl`.
    pub fn new(inner: Arc<dyn SecretStore>, ttl: Duration) -> Self {
        Self {
            inner,
            cache: moka::future::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(1_000)
                .build(),
        }
    }
}

#[async_trait]
impl SecretStore for CachedSecretStore {
    async fn secret(&self, id: &str) -> Result<SecretString> {
        let inner = Arc::clone(&self.inner);
        let key = id.to_string();
        self.cache
            .try_get_with(key, async move { inner.secret(id).await })
            .await
            .map_err(|e: Arc<PlatformError>| Arc::try_unwrap(e).unwrap_or_else(|shared| clone_error(&shared)))
    }

    async fn invalidate(&self, id: &str) {
        self.cache.invalidate(id).await;
        self.inner.invalidate(id).await;
    }
}

/// Errors are shared between the callers of one cache fill; give each caller an equivalent error.
fn clone_error(e: &PlatformError) -> PlatformError {
    match e {
        PlatformError::SecretNotFound { id, backend } => PlatformError::SecretNotFound {
            id: id.clone(),
            backend,
        },
        PlatformError::SecretMalformed { id, reason } => PlatformError::SecretMalformed {
            id: id.clone(),
            reason: reason.clone(),
        },
        PlatformError::Aws {
            service,
            operation,
            message,
            retryable,
        } => PlatformError::Aws {
            service,
            operation,
            message: message.clone(),
            retryable: *retryable,
        },
        other => PlatformError::Encoding {
            what: "secret".into(),
            reason: other.to_string(),
        },
    }
}
