//! The application credential, read from the secret store.

use std::sync::Arc;

use async_trait::async_trait;
use mde_contracts::AppCredential;
use mde_defender::{CredentialSource, DefenderError};
use mde_platform::SecretStore;
use mde_platform::secrets::read_json_secret;

/// The credential in a secret (JSON, see `schemas/app-credential.schema.json`), through the cached store;
/// a refresh drops the cached value so a rotated secret is picked up.
pub struct SecretCredential {
    store: Arc<dyn SecretStore>,
    secret_id: String,
}

impl SecretCredential {
    /// The credential stored under `secret_id`.
    pub fn new(store: Arc<dyn SecretStore>, secret_id: String) -> Self {
        Self { store, secret_id }
    }
}

#[async_trait]
impl CredentialSource for SecretCredential {
    async fn credential(&self) -> mde_defender::Result<AppCredential> {
        read_json_secret(self.store.as_ref(), &self.secret_id)
            .await
            .map_err(|e| DefenderError::Credential(e.to_string()))
    }

    async fn refresh(&self) {
        self.store.invalidate(&self.secret_id).await;
    }
}
