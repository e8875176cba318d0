//! Developer tasks: `cargo xtask schemas` regenerates `schemas/*.schema.json` from the contract types; `cargo xtask
//! canary PATH...` fails when a test secret appears in what a test run produced (see `canary.rs`); `cargo xtask
//! gzip-floor --level N FILE...` measures the CPU time of gzip alone over files (see `gzip_floor.rs`, used by
//! `scripts/bench`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

mod canary;
mod gzip_floor;

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "schemas" => write_schemas(&repo_root().join("schemas")),
        "canary" => canary::run(&std::env::args_os().skip(2).map(PathBuf::from).collect::<Vec<_>>()),
        "gzip-floor" => gzip_floor::run(&std::env::args_os().skip(2).collect::<Vec<_>>()),
        _ => bail!(
            "usage: cargo xtask schemas          (regenerates schemas/*.schema.json from shared/contracts)\n       \
             cargo xtask canary PATH...  (fails if a test secret appears under the paths)\n       \
             cargo xtask gzip-floor [--level N] FILE...  (CPU time of gzip alone over the files, as JSON)"
        ),
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write_schemas(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files: Vec<(&str, String)> = mde_contracts::schemas::all()
        .iter()
        .map(|f| (f.file_name, f.render()))
        .collect();
    files.push((
        mde_sandbox::CONFIG_SCHEMA_FILE,
        mde_sandbox::render_config_schema(),
    ));
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
