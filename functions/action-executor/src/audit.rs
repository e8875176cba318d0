//! The audit records: one JSON object per request at `<audit_prefix><request id>.json`, written with conditional
//! puts so two deliveries of one request (SQS is at-least-once) cannot overwrite each other's progress unseen.

use std::sync::Arc;

use bytes::Bytes;
use mde_contracts::AuditRecord;
use mde_platform::{ObjectStore, PlatformError, PutCondition};

use crate::ExecutorError;

/// A record as read, with the entity tag its next write must match.
pub struct Loaded {
    /// The record.
    pub record: AuditRecord,
    /// Its entity tag; `None` for a record not written yet.
    pub etag: Option<String>,
}

/// The audit records of a store.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl AuditLog {
    /// The records under `prefix` in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: impl Into<String>) -> Self {
        Self {
            store,
            prefix: prefix.into(),
        }
    }

    /// The key of a request's record.
    pub fn key(&self, request_id: &str) -> String {
        AuditRecord::key(&self.prefix, request_id)
    }

    /// Where a request's record is, for messages to people.
    pub fn location(&self, request_id: &str) -> String {
        self.store.location(&self.key(request_id))
    }

    /// A request's record, if it has one.
    pub async fn load(&self, request_id: &str) -> Result<Option<Loaded>, ExecutorError> {
        let key = self.key(request_id);
        let Some(object) = self.store.get(&key).await.map_err(ExecutorError::Store)? else {
            return Ok(None);
        };
        let record: AuditRecord =
            serde_json::from_slice(&object.body).map_err(|e| ExecutorError::CorruptAudit {
                location: self.store.location(&key),
                reason: e.to_string(),
            })?;
        Ok(Some(Loaded {
            record,
            etag: Some(object.etag),
        }))
    }

    /// Writes a record if nobody wrote it since it was loaded; returns it with its new entity tag.
    pub async fn save(&self, loaded: Loaded) -> Result<Loaded, ExecutorError> {
        let key = self.key(&loaded.record.request_id);
        let body = serde_json::to_vec_pretty(&loaded.record).map_err(|e| ExecutorError::CorruptAudit {
            location: self.store.location(&key),
            reason: e.to_string(),
        })?;
        let condition = match &loaded.etag {
            Some(etag) => PutCondition::IfMatch(etag.clone()),
            None => PutCondition::IfAbsent,
        };
        match self.store.put(&key, Bytes::from(body), condition).await {
            Ok(etag) => Ok(Loaded {
                record: loaded.record,
                etag: Some(etag),
            }),
            Err(PlatformError::PreconditionFailed { .. }) => Err(ExecutorError::Concurrent(key)),
            Err(e) => Err(ExecutorError::Store(e)),
        }
    }
}
