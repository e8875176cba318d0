//! The JSON Schemas of the contracts, as committed under `schemas/`.
//!
//! `cargo xtask schemas` writes them; a test compares them with the committed files.

use schemars::{JsonSchema, Schema, schema_for};

use crate::{AppCredential, BridgeConfig, BrokerRequest, BrokerResponse, TenantConfig};

/// One schema file: its file name under `schemas/` and its content.
pub struct SchemaFile {
    /// File name, e.g. `bridge-config.schema.json`.
    pub file_name: &'static str,
    /// The schema.
    pub schema: Schema,
}

impl SchemaFile {
    fn of<T: JsonSchema>(file_name: &'static str) -> Self {
        Self {
            file_name,
            schema: schema_for!(T),
        }
    }

    /// The file's exact content: pretty JSON with a trailing newline.
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.schema).expect("a schema always serialises");
        text.push('\n');
        text
    }
}

/// Every schema of the contracts crate.
pub fn all() -> Vec<SchemaFile> {
    vec![
        SchemaFile::of::<BridgeConfig>("bridge-config.schema.json"),
        SchemaFile::of::<TenantConfig>("tenant-config.schema.json"),
        SchemaFile::of::<crate::RegistryFile>("tenant-registry-file.schema.json"),
        SchemaFile::of::<AppCredential>("app-credential.schema.json"),
        SchemaFile::of::<BrokerRequest>("token-broker-request.schema.json"),
        SchemaFile::of::<BrokerResponse>("token-broker-response.schema.json"),
        SchemaFile::of::<crate::ExportJob>("export-job.schema.json"),
        SchemaFile::of::<crate::ExportCheckpoint>("export-checkpoint.schema.json"),
        SchemaFile::of::<crate::RecordEnvelope>("export-record.schema.json"),
        SchemaFile::of::<crate::QuarantinedPage>("export-quarantine.schema.json"),
        SchemaFile::of::<crate::ExportRunSummary>("export-run-summary.schema.json"),
        SchemaFile::of::<crate::IndicatorMessage>("indicator-message.schema.json"),
        SchemaFile::of::<crate::IndicatorReject>("indicator-reject.schema.json"),
        SchemaFile::of::<crate::IndicatorPushSummary>("indicator-push-summary.schema.json"),
        SchemaFile::of::<crate::WebhookEvent>("webhook-event.schema.json"),
        SchemaFile::of::<crate::ExternalAlertV1>("webhook-event-external-alert.v1.schema.json"),
        SchemaFile::of::<crate::DeviceActionV1>("webhook-event-device-action.v1.schema.json"),
        SchemaFile::of::<crate::IndicatorRequestV1>("webhook-event-indicator.v1.schema.json"),
        SchemaFile::of::<crate::UpdateV1>("webhook-event-update.v1.schema.json"),
        SchemaFile::of::<crate::HuntingQueryV1>("webhook-event-hunting-query.v1.schema.json"),
        SchemaFile::of::<crate::PartnerKeysSecret>("webhook-partner-keys.schema.json"),
        SchemaFile::of::<crate::ExecutorMessage>("executor-message.schema.json"),
        SchemaFile::of::<crate::AuditRecord>("audit-record.schema.json"),
        SchemaFile {
            file_name: "webhook-openapi.json",
            schema: Schema::try_from(crate::openapi::webhook_document()).expect("an object"),
        },
    ]
}
