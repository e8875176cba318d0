//! Soak figures: each soak counts what it did (runs, faults, kills, items in and out, lost, duplicated, stalls)
//! and reports them as one table, printed and kept as `<MDE_SOAK_REPORTS>/<name>.txt` so `scripts/soak` and the
//! test command can show them after the run.

use std::fmt::Display;
use std::path::PathBuf;

/// The variable naming the directory the reports are written to (the system's temporary directory when unset).
pub const REPORTS_VAR: &str = "MDE_SOAK_REPORTS";

/// A soak's size: the value of the environment variable `var` (set by `scripts/soak` for the long runs), or
/// `bounded`, the size the test command runs.
///
/// # Panics
/// When `var` is set but is not a whole number (a mistake in the calling script).
pub fn size(var: &str, bounded: u64) -> u64 {
    match std::env::var(var) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?} is not a whole number")),
        Err(_) => bounded,
    }
}

/// The figures of one soak, in the order they were added.
#[derive(Debug, Clone)]
pub struct SoakReport {
    name: String,
    lines: Vec<(String, String)>,
}

impl SoakReport {
    /// An empty report named `name` (also its file name).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            lines: Vec::new(),
        }
    }

    /// Adds one figure.
    pub fn line(&mut self, label: &str, value: impl Display) -> &mut Self {
        self.lines.push((label.to_owned(), value.to_string()));
        self
    }

    /// The report as text: a title line and one aligned line per figure.
    pub fn render(&self) -> String {
        let width = self.lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let mut text = format!("soak: {}\n", self.name);
        for (label, value) in &self.lines {
            text.push_str(&format!("  {label:<width$}  {value}\n"));
        }
        text
    }

    /// Prints the report to stderr and writes it to `<MDE_SOAK_REPORTS>/<name>.txt`; returns the file.
    ///
    /// # Panics
    /// When the directory cannot be created or the file written.
    pub fn publish(&self) -> PathBuf {
        let dir = std::env::var_os(REPORTS_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("mde-bridge-soak"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let file = dir.join(format!("{}.txt", self.name));
        let text = self.render();
        eprint!("{text}");
        std::fs::write(&file, &text).unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
        file
    }
}
