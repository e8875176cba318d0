//! `mde-bridge tenants …`: the tenant registry from a terminal — list, show, add, update, disable, import a JSON
//! Lines file (idempotent: an unchanged record is not written again), export. Every write names the version it
//! replaces, so a concurrent change is refused with the fix instead of being overwritten.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use futures::StreamExt;
use mde_contracts::{ActionKind, CloudName, CloudSettings, Dataset, TenantConfig, TenantId};
use mde_platform::TenantRegistry;
use mde_platform::registry::{Expect, RegistryScan};
use mde_platform::wiring::Wiring;

/// Writes at the same time during an import.
const IMPORT_CONCURRENCY: usize = 16;

/// The `tenants` subcommands.
#[derive(Subcommand)]
pub enum TenantsCommand {
    /// One line per tenant (id, name, enabled, datasets, actions, version); unreadable records on stderr.
    List {
        /// JSON Lines instead (one record per line, as `export` writes them).
        #[arg(long)]
        json: bool,
    },
    /// One tenant's whole record, as JSON.
    Show {
        /// The tenant id.
        tenant: TenantId,
    },
    /// Adds a tenant (refused if it is already in the registry).
    ///
    /// Example: mde-bridge tenants add 72f988bf-86f1-41af-91ab-2d7cd011db47 --name Fabrikam --dataset mde_alerts
    Add {
        /// The tenant id (a GUID).
        tenant: TenantId,
        /// What to set.
        #[command(flatten)]
        fields: Fields,
    },
    /// Changes a tenant: only the fields given; each list given replaces the stored one.
    ///
    /// Example: mde-bridge tenants update 72f988bf-86f1-41af-91ab-2d7cd011db47 --action isolate_device --action add_indicator
    Update {
        /// The tenant id.
        tenant: TenantId,
        /// What to change.
        #[command(flatten)]
        fields: Fields,
        /// The version this change is based on (from `show`); refused if the stored one differs.
        #[arg(long)]
        version: Option<u64>,
    },
    /// Disables a tenant: it stays in the registry, and no function works for it.
    Disable {
        /// The tenant id.
        tenant: TenantId,
        /// The version this change is based on; refused if the stored one differs.
        #[arg(long)]
        version: Option<u64>,
    },
    /// Imports a JSON Lines file (one record per line, schema schemas/tenant-config.schema.json; `-` reads stdin).
    /// Every line is checked first: one bad line names its line and field, and nothing is written. Records
    /// equal to the stored ones are left alone, so importing the same file twice changes nothing. A line with
    /// a `version` (as `export` writes) is refused if the stored record has moved on since.
    Import {
        /// The file.
        file: PathBuf,
        /// Check and report what would change, without writing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Writes every record as JSON Lines (to stdout, or to --out), ready to edit and import.
    Export {
        /// A file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Record fields settable from the command line.
#[derive(Args)]
pub struct Fields {
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// A dataset to export (repeatable): graph_incidents, graph_alerts_v2, mde_alerts, m365d_incidents.
    #[arg(long = "dataset")]
    datasets: Vec<Dataset>,
    /// Remove every dataset.
    #[arg(long, conflicts_with = "datasets")]
    no_datasets: bool,
    /// An action partners may ask for (repeatable), e.g. isolate_device, add_indicator, update_alert.
    #[arg(long = "action", value_parser = parse_action)]
    actions: Vec<ActionKind>,
    /// Remove every action (and every partner binding's actions with them).
    #[arg(long, conflicts_with = "actions")]
    no_actions: bool,
    /// The tenant's Microsoft cloud when it is not the deployment's: public, gcc, gcc_high, dod.
    #[arg(long, value_parser = parse_cloud)]
    cloud: Option<CloudName>,
    /// The secret holding this tenant's own application credential (sovereign clouds).
    #[arg(long)]
    credential_secret_id: Option<String>,
    /// Enable the tenant (for `update`).
    #[arg(long, conflicts_with = "disabled")]
    enabled: bool,
    /// Create or set the tenant disabled.
    #[arg(long)]
    disabled: bool,
}

fn parse_action(s: &str) -> std::result::Result<ActionKind, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        "unknown action; expected one of isolate_device, release_device, antivirus_scan, restrict_app_execution, \
         unrestrict_app_execution, collect_investigation_package, stop_and_quarantine_file, add_indicator, \
         remove_indicator, update_alert, update_incident, hunting_query, correlate_alert"
            .to_string()
    })
}

fn parse_cloud(s: &str) -> std::result::Result<CloudName, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| "unknown cloud; expected public, gcc, gcc_high or dod".to_string())
}

impl Fields {
    fn apply(self, t: &mut TenantConfig) {
        if let Some(name) = self.name {
            t.display_name = name;
        }
        if self.no_datasets || !self.datasets.is_empty() {
            t.datasets = self.datasets;
        }
        if self.no_actions || !self.actions.is_empty() {
            t.actions = self.actions;
            // A binding may only keep actions the tenant still allows.
            for p in &mut t.partners {
                p.actions.retain(|a| t.actions.contains(a));
            }
        }
        if let Some(cloud) = self.cloud {
            t.cloud = (cloud != CloudName::Public).then(|| CloudSettings {
                name: cloud,
                ..CloudSettings::default()
            });
        }
        if let Some(secret) = self.credential_secret_id {
            t.credential_secret_id = (!secret.is_empty()).then_some(secret);
        }
        if self.enabled {
            t.enabled = true;
        }
        if self.disabled {
            t.enabled = false;
        }
    }
}

/// Runs a `tenants` subcommand against the configured registry.
pub async fn run(file: Option<&Path>, command: TenantsCommand) -> Result<()> {
    let wiring = Wiring::load(file)?;
    let registry = wiring.tenant_registry().await?;
    let mut out = std::io::stdout().lock();
    match command {
        TenantsCommand::List { json } => {
            let scan = scan(registry.as_ref()).await?;
            for t in &scan.tenants {
                if json {
                    writeln!(out, "{}", serde_json::to_string(t)?)?;
                } else {
                    let datasets: Vec<&str> = t.datasets.iter().map(|d| d.as_str()).collect();
                    writeln!(
                        out,
                        "{}  {:<24} {:<8} v{:<4} datasets=[{}] actions={}{}",
                        t.tenant_id,
                        t.display_name,
                        if t.enabled { "enabled" } else { "disabled" },
                        t.version,
                        datasets.join(","),
                        t.actions.len(),
                        t.cloud
                            .as_ref()
                            .map(|c| format!(" cloud={:?}", c.name))
                            .unwrap_or_default(),
                    )?;
                }
            }
            report_problems(&scan);
            crate::progress::note(format_args!(
                "{} tenant(s) in {}",
                scan.tenants.len(),
                registry.describe()
            ));
        }
        TenantsCommand::Show { tenant } => {
            let record = existing(registry.as_ref(), &tenant).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&record)?)?;
        }
        TenantsCommand::Add { tenant, fields } => {
            if fields.enabled {
                bail!("--enabled is for `update`: a new tenant is enabled unless --disabled is given");
            }
            let Some(name) = fields.name.clone() else {
                bail!("--name is required: the display name used in logs and reports");
            };
            let mut record = TenantConfig::new(tenant, name);
            fields.apply(&mut record);
            let stored = registry
                .put(&record, Expect::Absent)
                .await
                .context("adding the tenant (use `update` to change one that exists)")?;
            writeln!(
                out,
                "added tenant {} ({}), version {}",
                stored.tenant_id, stored.display_name, stored.version
            )?;
        }
        TenantsCommand::Update {
            tenant,
            fields,
            version,
        } => {
            let mut record = existing(registry.as_ref(), &tenant).await?;
            let expect = Expect::Version(version.unwrap_or(record.version));
            fields.apply(&mut record);
            let stored = registry.put(&record, expect).await?;
            writeln!(
                out,
                "updated tenant {}, now version {}",
                stored.tenant_id, stored.version
            )?;
        }
        TenantsCommand::Disable { tenant, version } => {
            let mut record = existing(registry.as_ref(), &tenant).await?;
            let expect = Expect::Version(version.unwrap_or(record.version));
            if !record.enabled {
                writeln!(
                    out,
                    "tenant {tenant} is already disabled (version {})",
                    record.version
                )?;
                return Ok(());
            }
            record.enabled = false;
            let stored = registry.put(&record, expect).await?;
            writeln!(
                out,
                "disabled tenant {}, now version {}",
                stored.tenant_id, stored.version
            )?;
        }
        TenantsCommand::Import { file, dry_run } => import(registry, &file, dry_run, &mut out).await?,
        TenantsCommand::Export { out: path } => {
            let scan = scan(registry.as_ref()).await?;
            let mut text = String::new();
            for t in &scan.tenants {
                text.push_str(&serde_json::to_string(t)?);
                text.push('\n');
            }
            match path {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
                    crate::progress::note(format_args!(
                        "{} tenant(s) written to {}",
                        scan.tenants.len(),
                        path.display()
                    ));
                }
                None => out.write_all(text.as_bytes())?,
            }
            report_problems(&scan);
        }
    }
    out.flush()?;
    Ok(())
}

async fn scan(registry: &dyn TenantRegistry) -> Result<RegistryScan> {
    registry
        .scan()
        .await
        .with_context(|| format!("reading {}", registry.describe()))
}

async fn existing(registry: &dyn TenantRegistry, tenant: &TenantId) -> Result<TenantConfig> {
    registry.get(tenant).await?.with_context(|| {
        format!(
            "tenant {tenant} is not in {} (see `mde-bridge tenants list`)",
            registry.describe()
        )
    })
}

fn report_problems(scan: &RegistryScan) {
    for p in &scan.problems {
        if crate::progress::json_logs() {
            tracing::warn!(record = %p.key, reason = %p.reason, "a registry record cannot be read and is skipped");
        } else {
            eprintln!(
                "warning: record {} cannot be read and is skipped: {}",
                p.key, p.reason
            );
        }
    }
}

/// One line of an import file, read and checked.
struct Line {
    number: usize,
    record: TenantConfig,
}

/// Reads every line, collecting every error (line, field, reason) before anything is written.
fn read_lines(file: &Path) -> Result<Vec<Line>> {
    let reader: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut first_line: HashMap<TenantId, usize> = HashMap::new();
    for (i, text) in reader.lines().enumerate() {
        let number = i + 1;
        let text = text.with_context(|| format!("reading {} line {number}", file.display()))?;
        if text.trim().is_empty() {
            continue;
        }
        let mut de = serde_json::Deserializer::from_str(&text);
        let record: TenantConfig = match serde_path_to_error::deserialize(&mut de) {
            Ok(r) => r,
            Err(e) => {
                let path = e.path().to_string();
                let field = if path == "." {
                    String::new()
                } else {
                    format!(" {path}:")
                };
                errors.push(format!("line {number}:{field} {}", e.inner()));
                continue;
            }
        };
        // One record per line: a second object on the line would otherwise be dropped unseen.
        if let Err(e) = de.end() {
            errors.push(format!(
                "line {number}: more after the tenant record ({e}); one JSON object per line"
            ));
            continue;
        }
        if let Err(e) = record.validate() {
            errors.push(format!("line {number}: {e}"));
            continue;
        }
        if let Some(first) = first_line.insert(record.tenant_id.clone(), number) {
            errors.push(format!(
                "line {number}: tenant_id: {} is already on line {first}",
                record.tenant_id
            ));
            continue;
        }
        lines.push(Line { number, record });
    }
    if !errors.is_empty() {
        bail!(
            "{} has {} invalid line(s); nothing was imported:\n  {}",
            file.display(),
            errors.len(),
            errors.join("\n  ")
        );
    }
    Ok(lines)
}

async fn import(
    registry: Arc<dyn TenantRegistry>,
    file: &Path,
    dry_run: bool,
    out: &mut impl Write,
) -> Result<()> {
    let lines = read_lines(file)?;
    let stored: BTreeMap<TenantId, TenantConfig> = scan(registry.as_ref())
        .await?
        .tenants
        .into_iter()
        .map(|t| (t.tenant_id.clone(), t))
        .collect();
    let mut unchanged = 0;
    let mut writes = Vec::new();
    for line in lines {
        let current = stored.get(&line.record.tenant_id);
        let expect = match (current, line.record.version) {
            (None, _) => Expect::Absent,
            (Some(c), _) if c.content() == line.record.content() => {
                unchanged += 1;
                continue;
            }
            (Some(c), 0) => Expect::Version(c.version),
            (Some(_), v) => Expect::Version(v),
        };
        writes.push((line, expect));
    }
    let (created, updated) = (
        writes.iter().filter(|(_, e)| *e == Expect::Absent).count(),
        writes.iter().filter(|(_, e)| *e != Expect::Absent).count(),
    );
    if dry_run {
        writeln!(
            out,
            "dry run: would create {created}, update {updated}; {unchanged} unchanged; nothing written"
        )?;
        return Ok(());
    }
    let results: Vec<(usize, Expect, Result<TenantConfig, mde_platform::PlatformError>)> =
        futures::stream::iter(writes)
            .map(|(line, expect)| {
                let registry = registry.clone();
                async move { (line.number, expect, registry.put(&line.record, expect).await) }
            })
            .buffer_unordered(IMPORT_CONCURRENCY)
            .collect()
            .await;
    let ok = |create: bool| {
        results
            .iter()
            .filter(|(_, e, r)| r.is_ok() && (*e == Expect::Absent) == create)
            .count()
    };
    let mut failures: Vec<(usize, String)> = results
        .iter()
        .filter_map(|(n, _, r)| r.as_ref().err().map(|e| (*n, e.to_string())))
        .collect();
    failures.sort();
    writeln!(
        out,
        "imported {}: created {}, updated {}, unchanged {unchanged}, failed {}",
        file.display(),
        ok(true),
        ok(false),
        failures.len()
    )?;
    if !failures.is_empty() {
        for (n, e) in &failures {
            if crate::progress::json_logs() {
                tracing::error!(line = n, error = %e, "an import line was not imported");
            } else {
                eprintln!("line {n}: {e}");
            }
        }
        bail!(
            "{} line(s) were not imported (see above); the others were: fix them and import the file again",
            failures.len()
        );
    }
    Ok(())
}

/// Whether `e` is a write to a reader that went away (`mde-bridge tenants export | head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
