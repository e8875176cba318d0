//! The JSON report a harness writes next to its table, for `scripts/bench` to render into the README:
//! `{"section", "machine", "profile", "date", "rows": [{"what", "figure", "target", "met"}]}` under
//! `target/bench/`. Included by the harnesses that write one with `#[path = "common/report.rs"] mod report;`.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// One line of a report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What was measured.
    pub what: String,
    /// The figure, with its unit.
    pub figure: String,
    /// The target, when there is one.
    pub target: Option<String>,
    /// Whether the figure meets the target (`None` without a target).
    pub met: Option<bool>,
}

impl Row {
    /// A figure without a target.
    pub fn info(what: impl Into<String>, figure: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            figure: figure.into(),
            target: None,
            met: None,
        }
    }

    /// A figure and whether it meets `target`.
    pub fn against(what: impl Into<String>, figure: impl Into<String>, target: &str, met: bool) -> Self {
        Self {
            what: what.into(),
            figure: figure.into(),
            target: Some(target.to_owned()),
            met: Some(met),
        }
    }
}

/// A whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `mssp` or `lambda`.
    pub section: String,
    /// CPU model and core count.
    pub machine: String,
    /// The cargo profile of what was measured.
    pub profile: String,
    /// The day of the run, `YYYY-MM-DD` (UTC).
    pub date: String,
    /// The figures.
    pub rows: Vec<Row>,
}

impl Report {
    /// A report of `section` measured today on this machine with `profile`.
    pub fn new(section: &str, profile: String, rows: Vec<Row>) -> Self {
        Self {
            section: section.to_owned(),
            machine: machine(),
            profile,
            date: time::OffsetDateTime::now_utc().date().to_string(),
            rows,
        }
    }

    /// Writes the report as pretty JSON to `target/bench/<file>`; returns the path.
    pub fn write(&self, file: &str) -> std::io::Result<PathBuf> {
        let dir = target_dir().join("bench");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(file);
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

/// `<cpu model>, <n> cores` from /proc/cpuinfo and the parallelism the OS grants.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores")
}

/// The workspace's target directory: this executable is `<target>/<profile>/deps/<bench>-<hash>`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of this executable");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .expect("this executable lives under <target>/<profile>/deps")
}

/// The cargo profile `name` with the settings that differ between runs: the workspace sets `lto = true`,
/// `codegen-units = 1` and `opt-level = 3` for release (and bench, which inherits it); `CARGO_PROFILE_*`
/// variables present now (cargo passes its environment on) are named as overrides.
pub fn profile(name: &str) -> String {
    let mut overrides = Vec::new();
    let mut names = vec![name.to_ascii_uppercase()];
    if name == "bench" {
        names.push("RELEASE".into());
    }
    for profile in &names {
        for key in ["LTO", "CODEGEN_UNITS", "OPT_LEVEL", "DEBUG"] {
            let var = format!("CARGO_PROFILE_{profile}_{key}");
            if let Ok(value) = std::env::var(&var) {
                overrides.push(format!("{var}={value}"));
            }
        }
    }
    let base = match name {
        "bench" => "bench (= release: opt-level 3, lto = true, codegen-units = 1)".to_owned(),
        "release" => "release (opt-level 3, lto = true, codegen-units = 1, strip = true)".to_owned(),
        "dev" | "test" => format!("{name} (unoptimised)"),
        other => other.to_owned(),
    };
    if overrides.is_empty() {
        base
    } else {
        format!("{base}, overridden: {}", overrides.join(", "))
    }
}

/// The profile this executable was built with, read off its directory: `target/release` holds bench builds
/// (`cargo bench`, or `cargo bench --profile release`: the same settings), `target/debug` test builds
/// (`cargo test --bench`).
pub fn own_profile() -> String {
    let dir = target_dir();
    let exe = std::env::current_exe().expect("the path of this executable");
    let built = exe
        .strip_prefix(&dir)
        .ok()
        .and_then(|p| p.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    match built.as_str() {
        "release" => profile("bench"),
        "debug" => profile("test"),
        other => profile(other),
    }
}
