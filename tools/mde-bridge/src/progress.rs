//! Export progress on the terminal: a live line per (tenant, dataset) when stderr is a terminal, plain lines
//! (at most one per dataset every few seconds) when it is a pipe or a file; and a log writer that keeps the two
//! from tearing each other.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use incident_export::{DatasetRunSummary, ExportObserver, ExportProgress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mde_contracts::{Dataset, TenantId};

/// How often a plain line repeats a dataset's progress.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// This process's stderr: live bars when it is a terminal, plain lines otherwise. Logs go through
/// [`Terminal::log_writer`] so a log line never tears a bar.
#[derive(Clone)]
pub struct Terminal {
    bars: Option<MultiProgress>,
}

/// Whether plain progress lines go to stderr (not with `-q`, not in Lambda's JSON log format).
static PLAIN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// A plain progress line on stderr, unless the user asked for quiet or stderr carries JSON logs only.
pub fn note(text: std::fmt::Arguments<'_>) {
    if PLAIN.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("{text}");
    }
}

/// Whether stderr carries JSON logs only (`AWS_LAMBDA_LOG_FORMAT=JSON`, as in Lambda).
pub fn json_logs() -> bool {
    std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
}

impl Terminal {
    /// Looks at stderr once: bars on a terminal, plain lines in a pipe, neither when `quiet` or with JSON logs.
    pub fn detect(quiet: bool) -> Self {
        let plain = !quiet && !json_logs();
        PLAIN.store(plain, std::sync::atomic::Ordering::Relaxed);
        let bars = (plain && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self { bars }
    }

    /// The export observer drawing on this terminal.
    pub fn observer(&self) -> Arc<dyn ExportObserver> {
        match &self.bars {
            Some(multi) => Arc::new(Bars {
                multi: multi.clone(),
                bars: Mutex::default(),
            }),
            None => Arc::new(Lines::default()),
        }
    }

    /// A progress bar counting `total` items on a terminal (`None` in a pipe: callers print plain lines).
    pub fn bar(&self, total: u64, what: &str) -> Option<ProgressBar> {
        let multi = self.bars.as_ref()?;
        let style = ProgressStyle::with_template("{bar:30} {pos}/{len} {prefix} [{elapsed}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = multi.add(ProgressBar::new(total).with_style(style));
        bar.set_prefix(what.to_owned());
        Some(bar)
    }

    /// A log writer (for `tracing`) that lifts the bars, writes the line to stderr and redraws them.
    pub fn log_writer(&self) -> impl Fn() -> LogLine + Send + Sync + 'static {
        let bars = self.bars.clone();
        move || LogLine { bars: bars.clone() }
    }
}

/// One log write to stderr, with the progress bars (if any) lifted around it.
pub struct LogLine {
    bars: Option<MultiProgress>,
}

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.bars {
            Some(multi) => multi.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

type Key = (TenantId, Dataset);

fn counts(p: ExportProgress) -> String {
    format!(
        "{} records ({} already exported), {} API calls",
        p.records, p.suppressed, p.pages
    )
}

fn outcome(s: &DatasetRunSummary) -> String {
    format!(
        "{:?}: {} records, {} API calls, {} objects",
        s.status, s.records, s.pages, s.objects
    )
}

/// One spinner per (tenant, dataset), redrawn in place.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<Key, ProgressBar>>,
}

impl Bars {
    fn bar(&self, tenant: &TenantId, dataset: Dataset) -> Option<ProgressBar> {
        let bars = self.bars.lock().unwrap_or_else(PoisonError::into_inner);
        bars.get(&(tenant.clone(), dataset)).cloned()
    }
}

impl ExportObserver for Bars {
    fn started(&self, tenant: &TenantId, dataset: Dataset) {
        let style = ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = self.multi.add(ProgressBar::new_spinner().with_style(style));
        bar.set_prefix(format!("{tenant} {:<16}", dataset.as_str()));
        bar.set_message("first page…");
        bar.enable_steady_tick(Duration::from_millis(120));
        let mut bars = self.bars.lock().unwrap_or_else(PoisonError::into_inner);
        bars.insert((tenant.clone(), dataset), bar);
    }

    fn page_read(&self, tenant: &TenantId, dataset: Dataset, progress: ExportProgress) {
        if let Some(bar) = self.bar(tenant, dataset) {
            bar.set_message(counts(progress));
        }
    }

    fn finished(&self, summary: &DatasetRunSummary) {
        if let Some(bar) = self.bar(&summary.tenant_id, summary.dataset) {
            bar.finish_with_message(outcome(summary));
        }
    }
}

/// Plain lines on stderr, throttled per dataset.
#[derive(Default)]
struct Lines {
    last: Mutex<HashMap<Key, Instant>>,
}

impl ExportObserver for Lines {
    fn started(&self, tenant: &TenantId, dataset: Dataset) {
        note(format_args!("{tenant} {dataset}: exporting"));
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.insert((tenant.clone(), dataset), Instant::now());
    }

    fn page_read(&self, tenant: &TenantId, dataset: Dataset, progress: ExportProgress) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let at = last.entry((tenant.clone(), dataset)).or_insert_with(Instant::now);
        if at.elapsed() >= PLAIN_EVERY {
            *at = Instant::now();
            note(format_args!("{tenant} {dataset}: {}", counts(progress)));
        }
    }

    fn finished(&self, summary: &DatasetRunSummary) {
        note(format_args!(
            "{} {}: {}",
            summary.tenant_id,
            summary.dataset,
            outcome(summary)
        ));
    }
}
