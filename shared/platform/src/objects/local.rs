//! A local directory as an object store: writes go to a temporary file that is renamed into place, so a
//! reader never sees half an object; conditional writes are serialised by an exclusive file lock, so they
//! hold across processes too.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::{ObjectStore, PutCondition, StoredObject, join_prefix, validate_key};
use crate::{PlatformError, Result};

/// Names under the root that belong to the store itself (lock file, temporary files).
pub(super) const RESERVED_PREFIX: &str = ".mde-bridge";

/// Objects as files under a root directory (and an optional key prefix).
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    root: PathBuf,
    prefix: String,
}

impl LocalObjectStore {
    /// A store rooted at `root` (created if missing), with keys under `prefix` (may be empty).
    pub fn new(root: impl Into<PathBuf>, prefix: impl Into<String>) -> Self {
        Self {
            root: root.into(),
            prefix: prefix.into(),
        }
    }

    fn path_of(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.root.join(join_prefix(&self.prefix, key)))
    }

    fn put_blocking(&self, key: &str, body: &[u8], condition: &PutCondition) -> Result<String> {
        let path = self.path_of(key)?;
        let io = |action, p: &Path, e| PlatformError::io(action, p, e);
        let tmp_dir = self.root.join(format!("{RESERVED_PREFIX}-tmp"));
        fs::create_dir_all(&tmp_dir).map_err(|e| io("creating", &tmp_dir, e))?;
        let tmp = tmp_dir.join(uuid::Uuid::new_v4().to_string());
        write_synced(&tmp, body).map_err(|e| io("writing", &tmp, e))?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
        }

        let result = if *condition == PutCondition::Always {
            fs::rename(&tmp, &path).map_err(|e| io("renaming into", &path, e))
        } else {
            let lock_path = self.root.join(format!("{RESERVED_PREFIX}.lock"));
            let lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| io("opening", &lock_path, e))?;
            lock.lock().map_err(|e| io("locking", &lock_path, e))?;
            let current = read_optional(&path)?;
            let allowed = match (condition, &current) {
                (PutCondition::IfAbsent, None) => true,
                (PutCondition::IfMatch(etag), Some(body)) => etag_of(body) == *etag,
                _ => false,
            };
            let outcome = if allowed {
                fs::rename(&tmp, &path).map_err(|e| io("renaming into", &path, e))
            } else {
                Err(PlatformError::PreconditionFailed { key: key.to_string() })
            };
            drop(lock);
            outcome
        };
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map(|()| etag_of(body))
    }

    fn list_blocking(&self, prefix: &str) -> Result<Vec<String>> {
        let base = self.root.join(&self.prefix);
        let mut keys = Vec::new();
        walk(&base, "", &mut keys)?;
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        Ok(keys)
    }
}

fn write_synced(path: &Path, body: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(body)?;
    f.sync_all()
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PlatformError::io("reading", path, e)),
    }
}

fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(PlatformError::io("listing", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| PlatformError::io("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(RESERVED_PREFIX) {
            continue;
        }
        let key = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry
            .file_type()
            .map_err(|e| PlatformError::io("listing", entry.path(), e))?;
        if kind.is_dir() {
            walk(&entry.path(), &key, out)?;
        } else if kind.is_file() {
            out.push(key);
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    async fn put(&self, key: &str, body: Bytes, condition: PutCondition) -> Result<String> {
        let this = self.clone();
        let key = key.to_string();
        tokio::task::spawn_blocking(move || this.put_blocking(&key, &body, &condition))
            .await
            .map_err(|e| PlatformError::io("writing", &self.root, io::Error::other(e)))?
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>> {
        let path = self.path_of(key)?;
        match tokio::fs::read(&path).await {
            Ok(body) => Ok(Some(StoredObject {
                etag: etag_of(&body),
                body: Bytes::from(body),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PlatformError::io("reading", path, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let this = self.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || this.list_blocking(&prefix))
            .await
            .map_err(|e| PlatformError::io("listing", &self.root, io::Error::other(e)))?
    }

    fn location(&self, key: &str) -> String {
        self.root
            .join(join_prefix(&self.prefix, key))
            .display()
            .to_string()
    }
}
