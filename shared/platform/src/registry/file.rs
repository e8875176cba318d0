//! A local JSON file as the tenant registry (`{"tenants": [...]}`, schema `schemas/tenant-registry-file.schema.json`).
//! Writes take an exclusive lock on `<file>.lock` and replace the file atomically (temporary file + rename), so
//! concurrent writers — across processes too — serialise and a reader never sees half a file. Entries that cannot
//! be read are reported and kept as they are on every write.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use mde_contracts::{TenantConfig, TenantId};
use serde_json::Value;

use super::{Expect, RegistryProblem, RegistryScan, TenantRegistry, checked, next_version, sort_and_dedupe};
use crate::{PlatformError, Result};

/// The registry in a JSON file.
#[derive(Debug, Clone)]
pub struct FileRegistry {
    path: PathBuf,
}

impl FileRegistry {
    /// The registry in `path`; a missing file is an empty registry (the first write creates it).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn read_entries(&self) -> Result<Vec<Value>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(PlatformError::io("reading", &self.path, e)),
        };
        let corrupt = |reason: String| PlatformError::Encoding {
            what: format!("the tenant registry file {}", self.path.display()),
            reason: format!(
                "{reason}; expected {{\"tenants\": [...]}} (schemas/tenant-registry-file.schema.json)"
            ),
        };
        let mut doc: Value = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        match doc.get_mut("tenants").map(Value::take) {
            Some(Value::Array(entries)) => Ok(entries),
            Some(_) => Err(corrupt("\"tenants\" is not a list".into())),
            None => Err(corrupt("there is no \"tenants\" list".into())),
        }
    }

    fn write_entries(&self, entries: Vec<Value>) -> Result<()> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| PlatformError::io("creating", dir, e))?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            file_name(&self.path),
            uuid::Uuid::new_v4().simple()
        ));
        let body = serde_json::to_vec_pretty(&serde_json::json!({ "tenants": entries })).map_err(|e| {
            PlatformError::Encoding {
                what: "the tenant registry file".into(),
                reason: e.to_string(),
            }
        })?;
        let written = File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(&body)?;
                f.write_all(b"\n")?;
                f.sync_all()
            })
            .map_err(|e| PlatformError::io("writing", &tmp, e))
            .and_then(|()| {
                fs::rename(&tmp, &self.path).map_err(|e| PlatformError::io("replacing", &self.path, e))
            });
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    fn lock(&self) -> Result<File> {
        let lock_path = self
            .path
            .with_file_name(format!("{}.lock", file_name(&self.path)));
        if let Some(dir) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| PlatformError::io("creating", dir, e))?;
        }
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| PlatformError::io("opening", &lock_path, e))?;
        lock.lock()
            .map_err(|e| PlatformError::io("locking", &lock_path, e))?;
        Ok(lock)
    }

    fn scan_blocking(&self) -> Result<RegistryScan> {
        let mut scan = RegistryScan::default();
        for (i, entry) in self.read_entries()?.into_iter().enumerate() {
            let key = entry_key(&entry, i);
            match serde_json::from_value::<TenantConfig>(entry)
                .map_err(|e| e.to_string())
                .and_then(checked)
            {
                Ok(t) => scan.tenants.push(t),
                Err(reason) => scan.problems.push(RegistryProblem { key, reason }),
            }
        }
        Ok(sort_and_dedupe(scan))
    }

    fn put_blocking(&self, record: &TenantConfig, expect: Expect) -> Result<TenantConfig> {
        let stored = next_version(record, expect)?;
        let _lock = self.lock()?;
        let mut entries = self.read_entries()?;
        let position = entries
            .iter()
            .position(|e| entry_tenant(e).as_ref() == Some(&record.tenant_id));
        let found = position.map(|i| entries[i].get("version").and_then(Value::as_u64).unwrap_or(0));
        let matches = match (expect, found) {
            (Expect::Absent, None) => true,
            (Expect::Version(v), Some(f)) => v == f,
            _ => false,
        };
        if !matches {
            return Err(PlatformError::VersionConflict {
                tenant: record.tenant_id.to_string(),
                expected: expect.to_string(),
                found: found.map_or_else(|| "no record".to_string(), |v| format!("version {v}")),
            });
        }
        let value = serde_json::to_value(&stored).map_err(|e| PlatformError::Encoding {
            what: format!("tenant {}", record.tenant_id),
            reason: e.to_string(),
        })?;
        match position {
            Some(i) => entries[i] = value,
            None => entries.push(value),
        }
        entries.sort_by_key(|e| entry_tenant(e).map(String::from).unwrap_or_default());
        self.write_entries(entries)?;
        Ok(stored)
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "tenants.json".into(), |n| n.to_string_lossy().into_owned())
}

/// The entry's tenant id, canonical, when it has a readable one.
fn entry_tenant(entry: &Value) -> Option<TenantId> {
    entry.get("tenant_id")?.as_str()?.parse().ok()
}

fn entry_key(entry: &Value, index: usize) -> String {
    match entry.get("tenant_id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => format!("tenants[{index}]"),
    }
}

#[async_trait]
impl TenantRegistry for FileRegistry {
    fn describe(&self) -> String {
        format!("the registry file {}", self.path.display())
    }

    async fn scan(&self) -> Result<RegistryScan> {
        let this = self.clone();
        blocking(move || this.scan_blocking()).await
    }

    async fn get(&self, tenant: &TenantId) -> Result<Option<TenantConfig>> {
        let scan = self.scan().await?;
        Ok(scan.tenants.into_iter().find(|t| &t.tenant_id == tenant))
    }

    async fn put(&self, record: &TenantConfig, expect: Expect) -> Result<TenantConfig> {
        let (this, record) = (self.clone(), record.clone());
        blocking(move || this.put_blocking(&record, expect)).await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PlatformError::Encoding {
            what: "a registry file operation".into(),
            reason: e.to_string(),
        })?
}
