//! Loads [`BridgeConfig`] from a TOML file and `MDE_BRIDGE_<SECTION>_<KEY>` environment variables, and
//! validates it once at start, with errors that name the key to fix.
//!
//! Environment variables override the file: `MDE_BRIDGE_STORAGE_BUCKET=exports` sets `storage.bucket`,
//! `MDE_BRIDGE_CLOUD_NAME=gcc_high` sets `cloud.name`, and `MDE_BRIDGE_TENANTS` may hold the whole tenant list
//! inline (`[{tenant_id="...", display_name="..."}]`). `MDE_BRIDGE_CONFIG` names the file when no path is given.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use mde_contracts::BridgeConfig;

use crate::{PlatformError, Result};

/// The environment variable prefix.
pub const ENV_PREFIX: &str = "MDE_BRIDGE_";

/// Sections of the file whose keys the environment can override.
const SECTIONS: [&str; 11] = [
    "partner",
    "cloud",
    "credential",
    "storage",
    "aws",
    "tokens",
    "registry",
    "export",
    "indicators",
    "webhook",
    "executor",
];

/// Keys holding paths: relative ones in a file are relative to the file's directory.
const PATH_KEYS: [(&str, &str); 3] = [
    ("credential", "local_file"),
    ("storage", "local_dir"),
    ("registry", "file"),
];

/// Variables with the prefix that are not configuration keys.
const NOT_KEYS: [&str; 2] = ["config", "log"];

/// Loads and validates the configuration: `file` (or the file named by `MDE_BRIDGE_CONFIG`, if any), then the
/// environment on top.
pub fn load(file: Option<&Path>) -> Result<BridgeConfig> {
    let from_env = std::env::var_os(format!("{ENV_PREFIX}CONFIG")).map(PathBuf::from);
    let file = file.map(Path::to_path_buf).or(from_env);
    let mut figment = Figment::new();
    if let Some(path) = &file {
        if !path.is_file() {
            return Err(PlatformError::Config(format!(
                "the configuration file {} does not exist (see README: Configuration)",
                path.display()
            )));
        }
        figment = figment.merge(FileWithRelativePaths { path: path.clone() });
    }
    figment = figment.merge(EnvOverrides);
    let config: BridgeConfig = figment.extract().map_err(|e| describe(e, file.as_deref()))?;
    config
        .validate()
        .map_err(|e| PlatformError::Config(e.to_string()))?;
    Ok(config)
}

/// The TOML file, with its relative paths made relative to its directory (so a configuration works from any
/// current directory). Paths from environment variables stay relative to the current directory.
struct FileWithRelativePaths {
    path: PathBuf,
}

impl Provider for FileWithRelativePaths {
    fn metadata(&self) -> Metadata {
        Toml::file_exact(&self.path).metadata()
    }

    fn data(&self) -> std::result::Result<Map<Profile, Dict>, figment::Error> {
        let mut data = Toml::file_exact(&self.path).data()?;
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        for dict in data.values_mut() {
            for (section, key) in PATH_KEYS {
                if let Some(Value::Dict(_, fields)) = dict.get_mut(section)
                    && let Some(Value::String(_, value)) = fields.get_mut(key)
                    && !value.is_empty()
                    && Path::new(value.as_str()).is_relative()
                {
                    *value = dir.join(value.as_str()).display().to_string();
                }
            }
        }
        Ok(data)
    }
}

/// The `MDE_BRIDGE_*` variables as a figment provider. Values stay strings (figment converts them to the
/// field's type), so `MDE_BRIDGE_PARTNER_VERSION=1.0` stays `"1.0"`; `MDE_BRIDGE_TENANTS` is parsed as an
/// inline list.
struct EnvOverrides;

impl EnvOverrides {
    /// (dotted key, variable name, value) of every configuration variable.
    fn variables() -> Vec<(String, String, String)> {
        std::env::vars()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
                if NOT_KEYS.contains(&key.as_str()) {
                    return None;
                }
                let key = SECTIONS
                    .iter()
                    .find_map(|s| {
                        key.strip_prefix(s)?
                            .strip_prefix('_')
                            .map(|rest| format!("{s}.{rest}"))
                    })
                    .unwrap_or(key);
                Some((key, name, value))
            })
            .collect()
    }
}

impl Provider for EnvOverrides {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable")
            .interpolater(|_, path| format!("{ENV_PREFIX}{}", path.join("_").to_ascii_uppercase()))
    }

    fn data(&self) -> std::result::Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        let string_keys = string_keys();
        for (key, name, raw) in Self::variables() {
            let value = if string_keys.contains(&key) {
                Value::from(raw)
            } else {
                raw.parse::<Value>()
                    .map_err(|e| figment::Error::from(format!("{name} could not be parsed: {e}")))?
            };
            match key.split_once('.') {
                Some((section, field)) => {
                    let entry = dict
                        .entry(section.to_string())
                        .or_insert_with(|| Value::from(Dict::new()));
                    if let Value::Dict(_, fields) = entry {
                        fields.insert(field.to_string(), value);
                    }
                }
                None => {
                    dict.insert(key, value);
                }
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// The `section.key` names whose values are strings, read off the configuration's JSON Schema: their variables
/// are taken verbatim (`1.0` stays a string), the others are parsed (`60` is a number, `[...]` a list).
fn string_keys() -> HashSet<String> {
    let schema = schemars::schema_for!(BridgeConfig);
    let root = schema.as_value();
    let mut keys = HashSet::new();
    let Some(sections) = root.get("properties").and_then(|p| p.as_object()) else {
        return keys;
    };
    for (section, def) in sections {
        let def = match def.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => r
                .strip_prefix("#/$defs/")
                .and_then(|name| root.get("$defs")?.get(name))
                .unwrap_or(def),
            None => def,
        };
        let Some(fields) = def.get("properties").and_then(|p| p.as_object()) else {
            continue;
        };
        for (field, fdef) in fields {
            let is_string = match fdef.get("type") {
                Some(serde_json::Value::String(t)) => t == "string",
                Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "string"),
                _ => false,
            };
            if is_string {
                keys.insert(format!("{section}.{field}"));
            }
        }
    }
    keys
}

fn describe(err: figment::Error, file: Option<&Path>) -> PlatformError {
    let mut lines: Vec<String> = err
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = match (&e.metadata, e.path.is_empty()) {
                (Some(m), false) if m.name == "environment variable" => {
                    format!(" (from {ENV_PREFIX}{})", e.path.join("_").to_ascii_uppercase())
                }
                (Some(m), _) => m
                    .source
                    .as_ref()
                    .map(|s| format!(" (from {s})"))
                    .unwrap_or_default(),
                (None, _) => String::new(),
            };
            if key.is_empty() {
                format!("{}{source}", e.kind)
            } else {
                format!("{key}: {}{source}", e.kind)
            }
        })
        .collect();
    if lines.iter().any(|l| l.contains("missing field `partner`")) {
        lines.push(format!(
            "mde-bridge needs the partner identity Microsoft asks for in every User-Agent: set [partner] company, \
             product and version in {}, or {ENV_PREFIX}PARTNER_COMPANY, {ENV_PREFIX}PARTNER_PRODUCT and \
             {ENV_PREFIX}PARTNER_VERSION",
            file.map_or_else(|| "a configuration file (--config)".to_string(), |p| p.display().to_string())
        ));
    }
    PlatformError::Config(lines.join("; "))
}

#[cfg(test)]
// figment's own error type is large; it only flows through these test closures.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    const FILE: &str = r#"
        [partner]
        company = "Contoso"
        product = "Bridge"
        version = "1.2.3"

        [storage]
        prefix = "exports"

        [[tenants]]
        tenant_id = "11111111-1111-1111-1111-111111111111"
        display_name = "Fabrikam"
    "#;

    fn error_of(jail_result: figment::error::Result<()>) -> String {
        jail_result.expect_err("an error").to_string()
    }

    #[test]
    fn environment_variables_override_keys_of_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file("bridge.toml", FILE)?;
            jail.set_env("MDE_BRIDGE_STORAGE_BUCKET", "mssp-exports");
            jail.set_env("MDE_BRIDGE_CREDENTIAL_CACHE_TTL_SECONDS", "60");
            jail.set_env("MDE_BRIDGE_CLOUD_NAME", "gcc_high");
            let c = load(Some(Path::new("bridge.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.storage.bucket.as_deref(), Some("mssp-exports"));
            assert_eq!(c.storage.prefix, "exports");
            assert_eq!(c.credential.cache_ttl_seconds, 60);
            assert_eq!(c.cloud.name, mde_contracts::CloudName::GccHigh);
            Ok(())
        });
    }

    #[test]
    fn the_tenant_list_can_come_from_one_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("MDE_BRIDGE_PARTNER_COMPANY", "Contoso");
            jail.set_env("MDE_BRIDGE_PARTNER_PRODUCT", "Bridge");
            jail.set_env("MDE_BRIDGE_PARTNER_VERSION", "1.0");
            jail.set_env(
                "MDE_BRIDGE_TENANTS",
                r#"[{tenant_id="22222222-2222-2222-2222-222222222222", display_name="Tailspin", datasets=["mde_alerts"]}]"#,
            );
            let c = load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.partner.version, "1.0", "a number-like string stays a string");
            assert_eq!(c.tenants.len(), 1);
            assert_eq!(c.tenants[0].datasets, vec![mde_contracts::Dataset::MdeAlerts]);
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_the_key_and_where_it_came_from() {
        let text = error_of(Jail::try_with(|jail| {
            jail.create_file("bridge.toml", FILE)?;
            jail.set_env("MDE_BRIDGE_CREDENTIAL_CACHE_TTL_SECONDS", "soon");
            load(Some(Path::new("bridge.toml"))).map_err(|e| e.to_string())?;
            Ok(())
        }));
        assert!(text.contains("credential.cache_ttl_seconds"), "{text}");
        assert!(text.contains("MDE_BRIDGE_CREDENTIAL_CACHE_TTL_SECONDS"), "{text}");
    }

    #[test]
    fn a_misspelt_key_is_refused_not_ignored() {
        let text = error_of(Jail::try_with(|jail| {
            jail.create_file("bridge.toml", FILE)?;
            jail.set_env("MDE_BRIDGE_STORAGE_BUKET", "x");
            load(Some(Path::new("bridge.toml"))).map_err(|e| e.to_string())?;
            Ok(())
        }));
        assert!(text.contains("buket"), "{text}");
    }

    #[test]
    fn an_invalid_tenant_id_in_the_file_names_the_tenant() {
        let text = error_of(Jail::try_with(|jail| {
            jail.create_file(
                "bridge.toml",
                &FILE.replace("11111111-1111-1111-1111-111111111111", "fabrikam.com"),
            )?;
            load(Some(Path::new("bridge.toml"))).map_err(|e| e.to_string())?;
            Ok(())
        }));
        assert!(text.contains("tenants"), "{text}");
        assert!(text.contains("not a GUID"), "{text}");
    }

    #[test]
    fn no_partner_identity_explains_what_to_set() {
        let text = error_of(Jail::try_with(|_| {
            load(None).map_err(|e| e.to_string())?;
            Ok(())
        }));
        assert!(text.contains("MDE_BRIDGE_PARTNER_COMPANY"), "{text}");
    }

    #[test]
    fn relative_paths_in_a_file_are_relative_to_its_directory_and_export_keys_can_be_overridden() {
        Jail::expect_with(|jail| {
            std::fs::create_dir_all(jail.directory().join("conf")).map_err(|e| e.to_string())?;
            jail.create_file(
                "conf/bridge.toml",
                &format!(
                    "{FILE}\n[credential]\nbackend = \"local\"\nlocal_file = \"secrets.json\"\n\n[export]\nsettle_seconds = 30\n"
                ),
            )?;
            jail.set_env("MDE_BRIDGE_EXPORT_GZIP_LEVEL", "1");
            jail.set_env("MDE_BRIDGE_STORAGE_LOCAL_DIR", "from-env");
            let c = load(Some(Path::new("conf/bridge.toml"))).map_err(|e| e.to_string())?;
            let expected =
                std::path::absolute(jail.directory().join("conf/secrets.json")).map_err(|e| e.to_string())?;
            assert_eq!(c.credential.local_file.as_deref(), Some(expected.as_path()));
            assert_eq!(c.storage.local_dir.as_deref(), Some(Path::new("from-env")));
            assert_eq!(c.export.settle_seconds, 30);
            assert_eq!(c.export.gzip_level, 1);
            Ok(())
        });
    }

    #[test]
    fn a_bad_export_value_names_the_key() {
        let text = error_of(Jail::try_with(|jail| {
            jail.create_file("bridge.toml", FILE)?;
            jail.set_env("MDE_BRIDGE_EXPORT_MDE_ALERTS_PAGE_SIZE", "20000");
            load(Some(Path::new("bridge.toml"))).map_err(|e| e.to_string())?;
            Ok(())
        }));
        assert!(text.contains("export.mde_alerts_page_size"), "{text}");
    }

    #[test]
    fn a_missing_file_is_an_error_not_an_empty_configuration() {
        let text = error_of(Jail::try_with(|_| {
            load(Some(Path::new("nowhere.toml"))).map_err(|e| e.to_string())?;
            Ok(())
        }));
        assert!(text.contains("nowhere.toml does not exist"), "{text}");
    }
}
