//! The application credential, read from the secret store: the deployment's secret for most tenants, a tenant's
//! own secret where the registry names one (sovereign clouds need their own app registration).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use async_trait::async_trait;
use mde_contracts::{AppCredential, CredentialHealth, TenantId};
use mde_defender::{CredentialSource, DefenderError, credential_expiry, days_left, rfc3339};
use mde_platform::SecretStore;
use mde_platform::secrets::read_json_secret;

/// Days before expiry from which a credential is reported as a problem (the alarm's default threshold).
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// The credential in secrets (JSON, see `schemas/app-credential.schema.json`), through the cached store; a
/// refresh drops the cached value so a rotated secret is picked up.
pub struct SecretCredential {
    store: Arc<dyn SecretStore>,
    default_secret: String,
    per_tenant: RwLock<HashMap<TenantId, String>>,
}

impl SecretCredential {
    /// The credential stored under `secret_id`, for every tenant until [`SecretCredential::route`] says otherwise.
    pub fn new(store: Arc<dyn SecretStore>, secret_id: impl Into<String>) -> Self {
        Self {
            store,
            default_secret: secret_id.into(),
            per_tenant: RwLock::new(HashMap::new()),
        }
    }

    /// Replaces the tenants that use their own secret.
    pub fn route(&self, per_tenant: HashMap<TenantId, String>) {
        *self.per_tenant.write().unwrap_or_else(|p| p.into_inner()) = per_tenant;
    }

    /// The secret that holds `tenant`'s credential.
    pub fn secret_id(&self, tenant: &TenantId) -> String {
        self.per_tenant
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .cloned()
            .unwrap_or_else(|| self.default_secret.clone())
    }

    /// Every secret in use: the deployment's and the tenants' own, sorted.
    pub fn secret_ids(&self) -> Vec<String> {
        let per_tenant = self.per_tenant.read().unwrap_or_else(|p| p.into_inner());
        let ids: BTreeSet<String> = std::iter::once(self.default_secret.clone())
            .chain(per_tenant.values().cloned())
            .collect();
        ids.into_iter().collect()
    }

    async fn read(&self, secret_id: &str) -> mde_defender::Result<AppCredential> {
        read_json_secret(self.store.as_ref(), secret_id)
            .await
            .map_err(|e| DefenderError::Credential(e.to_string()))
    }

    /// The state of the credential in `secret_id`: its kind and expiry, never its value.
    pub async fn status(&self, secret_id: &str, now: SystemTime) -> CredentialHealth {
        let mut health = CredentialHealth {
            secret_id: secret_id.to_owned(),
            kind: "unknown".into(),
            expires_at: None,
            days_left: None,
            problem: None,
        };
        let credential = match self.read(secret_id).await {
            Ok(c) => c,
            Err(e) => {
                health.problem = Some(e.to_string());
                return health;
            }
        };
        health.kind = credential.kind().into();
        match credential_expiry(&credential) {
            Err(e) => health.problem = Some(e.to_string()),
            Ok(None) => {}
            Ok(Some(at)) => {
                let left = days_left(at, now);
                health.expires_at = Some(rfc3339(at));
                health.days_left = Some(left);
                health.problem = if at <= now {
                    Some(
                        DefenderError::CredentialExpired {
                            what: match credential {
                                AppCredential::ClientSecret { .. } => "client secret",
                                AppCredential::Certificate { .. } => "certificate",
                            },
                            expired_at: Some(rfc3339(at)),
                        }
                        .to_string(),
                    )
                } else if left < EXPIRY_WARNING_DAYS {
                    Some(format!(
                        "the credential expires in {left} day(s), at {}: create a new one on the app registration in \
                         Entra ID and put it into the secret before then",
                        rfc3339(at)
                    ))
                } else {
                    None
                };
            }
        }
        health
    }
}

#[async_trait]
impl CredentialSource for SecretCredential {
    async fn credential(&self, tenant: &TenantId) -> mde_defender::Result<AppCredential> {
        self.read(&self.secret_id(tenant)).await
    }

    async fn refresh(&self, tenant: &TenantId) {
        self.store.invalidate(&self.secret_id(tenant)).await;
    }
}
