//! The configuration file of every mde-bridge binary (`mde-bridge.toml`), section by section.
//!
//! Loading (file + `MDE_BRIDGE_<SECTION>_<KEY>` environment overrides) lives in the platform crate; this module
//! only defines the shape and the checks that need no I/O.

use std::collections::HashSet;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{
    CloudSettings, ContractError, ExportSettings, IndicatorSettings, PartnerIdentity, RegistrySettings,
    TenantConfig,
};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// Who calls Microsoft (the User-Agent). Required: Microsoft asks partners to identify every call.
    pub partner: PartnerIdentity,
    /// Which Microsoft cloud, and URL overrides.
    #[serde(default)]
    pub cloud: CloudSettings,
    /// Where the application credential lives.
    #[serde(default)]
    pub credential: CredentialSettings,
    /// Where exports, checkpoints and rejects are written.
    #[serde(default)]
    pub storage: StorageSettings,
    /// AWS client settings.
    #[serde(default)]
    pub aws: AwsSettings,
    /// How functions obtain tenant tokens.
    #[serde(default)]
    pub tokens: TokenSettings,
    /// Which tenant registry to use: this file's `[[tenants]]` (the default), a local file or a DynamoDB table.
    #[serde(default)]
    pub registry: RegistrySettings,
    /// incident-export's behaviour.
    #[serde(default)]
    pub export: ExportSettings,
    /// indicator-push tuning.
    #[serde(default)]
    pub indicators: IndicatorSettings,
    /// alert-webhook: queue, idempotency table, partner keys, limits.
    #[serde(default)]
    pub webhook: crate::WebhookSettings,
    /// The action executor.
    #[serde(default)]
    pub executor: crate::ExecutorSettings,
    /// The inline tenant registry (`registry.backend = "inline"`): only tenants listed here are served.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
}

impl BridgeConfig {
    /// Checks what types alone cannot: identity characters, URL schemes, duplicate tenants, storage settings.
    /// The error names the key to fix.
    pub fn validate(&self) -> Result<(), ContractError> {
        self.partner.validate()?;
        self.cloud.endpoints()?;
        self.storage.validate()?;
        let mut seen = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if !seen.insert(&t.tenant_id) {
                return Err(ContractError::invalid(
                    format!("tenants[{i}].tenant_id"),
                    format!("tenant {} is listed twice", t.tenant_id),
                ));
            }
            t.validate().map_err(|e| e.within(&format!("tenants[{i}]")))?;
        }
        self.registry.validate(&self.tenants)?;
        self.export.validate()?;
        self.indicators.validate()?;
        self.webhook.validate()?;
        self.executor.validate()?;
        if self.credential.secret_id.trim().is_empty() {
            return Err(ContractError::invalid(
                "credential.secret_id",
                "must not be empty",
            ));
        }
        Ok(())
    }
}

/// Where secrets are read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretBackend {
    /// AWS Secrets Manager.
    #[default]
    Aws,
    /// A local JSON file mapping secret ids to values (`credential.local_file`); for demos and tests.
    Local,
}

/// The `[credential]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialSettings {
    /// Secret backend.
    #[serde(default)]
    pub backend: SecretBackend,
    /// Secret id (name or ARN) of the application credential.
    #[serde(default = "default_secret_id")]
    pub secret_id: String,
    /// The JSON file of the local backend.
    pub local_file: Option<PathBuf>,
    /// How long a secret value read is reused before it is read again, in seconds.
    #[serde(default = "default_secret_ttl")]
    pub cache_ttl_seconds: u64,
}

impl Default for CredentialSettings {
    fn default() -> Self {
        Self {
            backend: SecretBackend::default(),
            secret_id: default_secret_id(),
            local_file: None,
            cache_ttl_seconds: default_secret_ttl(),
        }
    }
}

fn default_secret_id() -> String {
    "mde-bridge/app-credential".into()
}

fn default_secret_ttl() -> u64 {
    300
}

/// The `[storage]` section: an S3 bucket, or a local directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// S3 bucket; when set, storage is S3.
    pub bucket: Option<String>,
    /// Key prefix inside the bucket or directory (no leading or trailing `/`).
    #[serde(default)]
    pub prefix: String,
    /// Local directory; used when no bucket is set.
    pub local_dir: Option<PathBuf>,
}

impl StorageSettings {
    fn validate(&self) -> Result<(), ContractError> {
        if self.bucket.is_some() && self.local_dir.is_some() {
            return Err(ContractError::invalid(
                "storage",
                "set either storage.bucket (S3) or storage.local_dir (local directory), not both",
            ));
        }
        if let Some(bucket) = &self.bucket {
            let ok = (3..=63).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !ok {
                return Err(ContractError::invalid(
                    "storage.bucket",
                    format!(
                        "{bucket:?} is not an S3 bucket name (3-63 lowercase letters, digits, '-' or '.')"
                    ),
                ));
            }
        }
        if self.prefix.starts_with('/') || self.prefix.ends_with('/') || self.prefix.contains("..") {
            return Err(ContractError::invalid(
                "storage.prefix",
                format!(
                    "{:?} must not start or end with '/' nor contain '..'",
                    self.prefix
                ),
            ));
        }
        Ok(())
    }
}

/// Where functions get tenant tokens from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenSourceKind {
    /// Ask Entra ID directly with the application credential (the token-broker itself, the CLI, tests).
    #[default]
    Direct,
    /// Invoke the token-broker function (every other function in AWS: only the broker reads the credential).
    Broker,
}

/// Which Entra ID token endpoint to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpoint {
    /// `/{tenant}/oauth2/token` with `resource=`.
    V1,
    /// `/{tenant}/oauth2/v2.0/token` with `scope=<resource>/.default`.
    #[default]
    V2,
}

/// The `[tokens]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Direct or through the token-broker.
    #[serde(default)]
    pub source: TokenSourceKind,
    /// Name or ARN of the token-broker function (for `source = "broker"`).
    #[serde(default = "default_broker_function")]
    pub broker_function: String,
    /// Token endpoint version.
    #[serde(default)]
    pub endpoint: TokenEndpoint,
    /// How long before expiry a cached token is renewed, in seconds.
    #[serde(default = "default_refresh_margin")]
    pub refresh_margin_seconds: u64,
    /// DynamoDB table where a direct source (the token-broker) shares its tokens with the other processes of
    /// the deployment, sealed under a key derived from the credential: one token request per tenant, API and
    /// token lifetime however many broker containers run. None: each process caches its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_cache_table: Option<String>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            source: TokenSourceKind::default(),
            broker_function: default_broker_function(),
            endpoint: TokenEndpoint::default(),
            refresh_margin_seconds: default_refresh_margin(),
            shared_cache_table: None,
        }
    }
}

fn default_broker_function() -> String {
    "mde-bridge-token-broker".into()
}

fn default_refresh_margin() -> u64 {
    300
}

/// The `[aws]` section. Credentials come from the usual AWS chain (environment, profile, Lambda role).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// Region; defaults to the AWS chain's (`AWS_REGION`).
    pub region: Option<String>,
    /// Endpoint override for every AWS service (a local emulator such as moto server).
    pub endpoint_url: Option<Url>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [partner]
        company = "Contoso"
        product = "Bridge"
        version = "1.0.0"

        [[tenants]]
        tenant_id = "11111111-1111-1111-1111-111111111111"
        display_name = "Fabrikam"
        datasets = ["mde_alerts"]
    "#;

    #[test]
    fn a_minimal_file_gets_documented_defaults() {
        let c: BridgeConfig = toml::from_str(MINIMAL).expect("parses");
        c.validate().expect("valid");
        assert_eq!(c.credential.secret_id, "mde-bridge/app-credential");
        assert_eq!(c.credential.cache_ttl_seconds, 300);
        assert!(c.tenants[0].enabled);
    }

    #[test]
    fn a_duplicate_tenant_is_refused_naming_its_index() {
        let twice = format!(
            "{MINIMAL}\n[[tenants]]\ntenant_id = \"11111111-1111-1111-1111-111111111111\"\ndisplay_name = \"Again\"\n"
        );
        let c: BridgeConfig = toml::from_str(&twice).expect("parses");
        let err = c.validate().expect_err("duplicate");
        assert!(err.to_string().starts_with("tenants[1].tenant_id:"), "{err}");
    }

    #[test]
    fn both_bucket_and_local_dir_is_refused() {
        let mut c: BridgeConfig = toml::from_str(MINIMAL).expect("parses");
        c.storage.bucket = Some("exports".into());
        c.storage.local_dir = Some("/tmp/x".into());
        assert!(
            c.validate()
                .expect_err("both")
                .to_string()
                .starts_with("storage:")
        );
        c.storage.local_dir = None;
        c.storage.bucket = Some("Exports_Bucket".into());
        assert!(
            c.validate()
                .expect_err("bad name")
                .to_string()
                .starts_with("storage.bucket:")
        );
    }
}
