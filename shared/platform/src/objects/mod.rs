//! The `ObjectStore` port: S3, or a local directory with the same semantics, including conditional writes.

mod local;
mod s3;

use async_trait::async_trait;
use bytes::Bytes;

pub use local::LocalObjectStore;
pub use s3::S3ObjectStore;

use crate::{PlatformError, Result};

/// When a write may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutCondition {
    /// Always (last writer wins).
    Always,
    /// Only if no object has the key (`If-None-Match: *`).
    IfAbsent,
    /// Only if the object still has this entity tag (`If-Match`), i.e. nobody wrote it since it was read.
    IfMatch(String),
}

/// An object read back, with the entity tag to use for a later [`PutCondition::IfMatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Content.
    pub body: Bytes,
    /// Entity tag, opaque.
    pub etag: String,
}

/// Stores objects by key under a root (an S3 bucket + prefix, or a directory).
///
/// Keys are relative `/`-separated paths: no leading `/`, no empty, `.` or `..` segments.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Writes the object if the condition holds, returning its new entity tag; otherwise
    /// [`PlatformError::PreconditionFailed`]. A successful return means the object is durable.
    async fn put(&self, key: &str, body: Bytes, condition: PutCondition) -> Result<String>;

    /// Reads an object; `None` if there is none with that key.
    async fn get(&self, key: &str) -> Result<Option<StoredObject>>;

    /// Every key that starts with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// Where keys end up, for messages to the user: `s3://bucket/prefix/key` or a file path.
    fn location(&self, key: &str) -> String;
}

/// Checks a key against the rules of [`ObjectStore`]. Both adapters call it, so a key that works locally
/// works on S3 and cannot escape the local root directory.
pub fn validate_key(key: &str) -> Result<()> {
    let invalid = |reason| {
        Err(PlatformError::InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return invalid("it is empty");
    }
    if key.len() > 1024 {
        return invalid("it is longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return invalid("it starts with '/'");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return invalid("it contains a control character or '\\'");
    }
    if key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return invalid("it has an empty, '.' or '..' segment");
    }
    if key.split('/').any(|s| s.starts_with(local::RESERVED_PREFIX)) {
        return invalid("segments starting with '.mde-bridge' are reserved");
    }
    Ok(())
}

/// Joins a root prefix and a key (either may be empty).
pub(crate) fn join_prefix(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => format!("{prefix}/"),
        (false, false) => format!("{prefix}/{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_escape_the_root_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../../b",
            "a//b",
            "./a",
            "a\\b",
            "a/\n",
            "a/.mde-bridge.lock",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        validate_key("mde_alerts/tenant=1/dt=2026-11-23/hour=12/run-1.ndjson.gz").expect("a normal key");
    }
}
