//! The composition root: every adapter a process uses, built from one configuration. AWS clients share one
//! `SdkConfig`, loaded on first use and once per process; each client, the secret store and the tenant registry
//! are built once and handed out as shared references. Every `main.rs` and the CLI build their adapters here.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use mde_contracts::{BridgeConfig, RegistryBackend, SecretBackend, StorageSettings};
use tokio::sync::OnceCell;

use crate::invoke::LambdaInvoker;
use crate::objects::{LocalObjectStore, S3ObjectStore};
use crate::queue::SqsQueue;
use crate::registry::{DynamoRegistry, FileRegistry, InlineRegistry};
use crate::secrets::{AwsSecretStore, CachedSecretStore, LocalSecretStore};
use crate::{
    FunctionInvoker, ObjectStore, PlatformError, Queue, Result, SecretStore, TenantRegistry, Tenants, aws,
};

/// The adapters of one process.
pub struct Wiring {
    config: BridgeConfig,
    sdk: OnceCell<SdkConfig>,
    s3: OnceCell<aws_sdk_s3::Client>,
    sqs: OnceCell<aws_sdk_sqs::Client>,
    secrets_manager: OnceCell<aws_sdk_secretsmanager::Client>,
    lambda: OnceCell<aws_sdk_lambda::Client>,
    dynamodb: OnceCell<aws_sdk_dynamodb::Client>,
    secrets: OnceCell<Arc<dyn SecretStore>>,
    registry: OnceCell<Arc<dyn TenantRegistry>>,
    tenants: OnceCell<Arc<Tenants>>,
}

impl Wiring {
    /// The adapters of `config` (nothing is built until asked for).
    pub fn new(config: BridgeConfig) -> Self {
        Self {
            config,
            sdk: OnceCell::new(),
            s3: OnceCell::new(),
            sqs: OnceCell::new(),
            secrets_manager: OnceCell::new(),
            lambda: OnceCell::new(),
            dynamodb: OnceCell::new(),
            secrets: OnceCell::new(),
            registry: OnceCell::new(),
            tenants: OnceCell::new(),
        }
    }

    /// Loads and validates the configuration (see [`crate::config::load`]) and wires it.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        crate::config::load(file).map(Self::new)
    }

    /// The configuration.
    pub fn config(&self) -> &BridgeConfig {
        &self.config
    }

    /// The AWS configuration of the process, loaded once (credential chain, `[aws]` region and endpoint).
    pub async fn sdk(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| aws::load_sdk_config(&self.config.aws))
            .await
    }

    /// The S3 client (path-style when an endpoint override is set).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let sdk = self.sdk().await;
        self.s3
            .get_or_init(|| async { aws::s3_client(sdk, &self.config.aws) })
            .await
            .clone()
    }

    /// The SQS client.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        let sdk = self.sdk().await;
        self.sqs
            .get_or_init(|| async { aws_sdk_sqs::Client::new(sdk) })
            .await
            .clone()
    }

    /// The Secrets Manager client.
    pub async fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        let sdk = self.sdk().await;
        self.secrets_manager
            .get_or_init(|| async { aws_sdk_secretsmanager::Client::new(sdk) })
            .await
            .clone()
    }

    /// The Lambda client.
    pub async fn lambda(&self) -> aws_sdk_lambda::Client {
        let sdk = self.sdk().await;
        self.lambda
            .get_or_init(|| async { aws_sdk_lambda::Client::new(sdk) })
            .await
            .clone()
    }

    /// The DynamoDB client.
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let sdk = self.sdk().await;
        self.dynamodb
            .get_or_init(|| async { aws_sdk_dynamodb::Client::new(sdk) })
            .await
            .clone()
    }

    /// The secret store of `[credential]`, behind a cache with the configured TTL; one per process.
    pub async fn secret_store(&self) -> Result<Arc<dyn SecretStore>> {
        self.secrets
            .get_or_try_init(|| async {
                let c = &self.config.credential;
                let inner: Arc<dyn SecretStore> = match c.backend {
                    SecretBackend::Local => {
                        let path = c.local_file.clone().ok_or_else(|| {
                            PlatformError::Config(
                                "credential.local_file: required when credential.backend = \"local\" (a JSON file of \
                                 secret ids to values)"
                                    .into(),
                            )
                        })?;
                        Arc::new(LocalSecretStore::new(path))
                    }
                    SecretBackend::Aws => Arc::new(AwsSecretStore::new(self.secrets_manager().await)),
                };
                Ok(Arc::new(CachedSecretStore::new(inner, Duration::from_secs(c.cache_ttl_seconds)))
                    as Arc<dyn SecretStore>)
            })
            .await
            .cloned()
    }

    /// The object store of `[storage]`: the S3 bucket if one is set, else the local directory (default `./out`).
    pub async fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.object_store_for(&self.config.storage).await
    }

    /// The object store of other storage settings (e.g. the CLI's `--out`), with this process's S3 client.
    pub async fn object_store_for(&self, storage: &StorageSettings) -> Arc<dyn ObjectStore> {
        match &storage.bucket {
            Some(bucket) => Arc::new(S3ObjectStore::new(
                self.s3().await,
                bucket.clone(),
                storage.prefix.clone(),
            )),
            None => {
                let dir = storage.local_dir.clone().unwrap_or_else(|| "out".into());
                Arc::new(LocalObjectStore::new(dir, storage.prefix.clone()))
            }
        }
    }

    /// The tenant registry of `[registry]` itself (for writes); one per process.
    pub async fn tenant_registry(&self) -> Result<Arc<dyn TenantRegistry>> {
        self.registry
            .get_or_try_init(|| async {
                let r = &self.config.registry;
                let registry: Arc<dyn TenantRegistry> = match r.backend {
                    RegistryBackend::Inline => Arc::new(InlineRegistry::new(self.config.tenants.clone())),
                    RegistryBackend::File => {
                        let file = r.file.clone().ok_or_else(|| {
                            PlatformError::Config(
                                "registry.file: required when registry.backend = \"file\"".into(),
                            )
                        })?;
                        Arc::new(FileRegistry::new(file))
                    }
                    RegistryBackend::Dynamodb => {
                        let table = r.table.clone().ok_or_else(|| {
                            PlatformError::Config(
                                "registry.table: required when registry.backend = \"dynamodb\"".into(),
                            )
                        })?;
                        Arc::new(DynamoRegistry::new(self.dynamodb().await, table))
                    }
                };
                Ok(registry)
            })
            .await
            .cloned()
    }

    /// The tenant registry as functions read it: cached for `registry.cache_ttl_seconds`; one per process.
    pub async fn tenants(&self) -> Result<Arc<Tenants>> {
        let registry = self.tenant_registry().await?;
        let ttl = Duration::from_secs(self.config.registry.cache_ttl_seconds);
        Ok(self
            .tenants
            .get_or_init(|| async { Arc::new(Tenants::new(registry, ttl)) })
            .await
            .clone())
    }

    /// Invokes other functions (the token-broker) through Lambda.
    pub async fn function_invoker(&self) -> Arc<dyn FunctionInvoker> {
        Arc::new(LambdaInvoker::new(self.lambda().await))
    }

    /// The idempotency store of the webhook: the DynamoDB table `table`, or process memory when none is set
    /// (`mde-bridge webhook serve`).
    pub async fn idempotency(&self, table: Option<&str>) -> Arc<dyn crate::IdempotencyStore> {
        match table {
            Some(t) => Arc::new(crate::idempotency::DynamoIdempotency::new(
                self.dynamodb().await,
                t,
            )),
            None => Arc::new(crate::idempotency::MemoryIdempotency::new()),
        }
    }

    /// The SQS queue at `url`.
    pub async fn queue(&self, url: &str) -> Arc<dyn Queue> {
        Arc::new(SqsQueue::new(self.sqs().await, url))
    }
}
