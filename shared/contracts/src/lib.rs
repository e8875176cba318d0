//! The contracts of mde-bridge: serde + JSON Schema types of everything that crosses a boundary
//! (configuration files, secrets, tenant registry, cloud endpoints, partner identity).
//!
//! This crate performs no I/O and depends on no other crate of the project. Validation that only needs the
//! value itself (a tenant id is a GUID, a User-Agent token has no spaces) lives here, in the types, so that
//! every reader of these formats rejects bad input the same way.

mod broker;
mod cloud;
mod config;
mod credential;
mod error;
mod executor;
mod export;
mod indicator;
pub mod openapi;
mod partner;
pub mod permissions;
pub mod schemas;
mod settings;
mod tenant;
pub mod triage;
mod webhook;

pub use broker::{
    AudienceHealth, BearerToken, BrokerError, BrokerRequest, BrokerResponse, CredentialHealth,
    HealthCheckRequest, TenantHealth, TokenGrant, TokenRequest,
};
pub use cloud::{ApiEndpoint, Audience, CloudEndpoints, CloudName, CloudSettings};
pub use config::{
    AwsSettings, BridgeConfig, CredentialSettings, SecretBackend, StorageSettings, TokenEndpoint,
    TokenSettings, TokenSourceKind,
};
pub use credential::AppCredential;
pub use error::ContractError;
pub use executor::{
    AuditCall, AuditRecord, ExecutorMessage, ExecutorSettings, Outcome, OutcomeCode, PollLimits, PollMessage,
    QueuedRequest, RequestStatus, TrackedAction,
};
pub use export::{
    BackfillProgress, DatasetRunSummary, DatasetStatus, ExportCheckpoint, ExportJob, ExportRunSummary,
    ExportedVersion, PassProgress, QuarantinedPage, QuarantinedQuery, RecordEnvelope, RecordFlag,
};
pub use indicator::{
    FEED_TAG_PREFIX, FeedName, IndicatorAction, IndicatorMessage, IndicatorPushSummary, IndicatorRef,
    IndicatorReject, IndicatorSeverity, IndicatorSpec, IndicatorType, MAX_INDICATORS_PER_MESSAGE, RejectCode,
    TenantPushSummary, TenantSelector,
};
pub use partner::PartnerIdentity;
pub use permissions::Permission;
pub use settings::{ExportSettings, IndicatorSettings, RegistryBackend, RegistryFile, RegistrySettings};
pub use tenant::{ActionKind, ClientId, Dataset, PartnerBinding, TenantConfig, TenantId};
pub use webhook::{
    ALERT_CATEGORIES, DefenderApi, DeviceAction, DeviceActionV1, DeviceRef, EventProblem, EventReference,
    ExternalAlertV1, HuntingQueryV1, IndicatorRequestV1, PartnerAlert, PartnerKey, PartnerKeysSecret,
    PartnerSeverity, UpdateV1, WebhookEvent, WebhookSettings,
};
