//! Logging set-up: JSON lines in Lambda (`AWS_LAMBDA_LOG_FORMAT=JSON`), human-readable otherwise.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber once (later calls do nothing). The level comes from `RUST_LOG`, else
/// `AWS_LAMBDA_LOG_LEVEL`, else `info`. Logs go to stderr, so a CLI's stdout stays for its output.
pub fn init() {
    init_with_default_level("info");
}

/// [`init`] with another level when neither `RUST_LOG` nor `AWS_LAMBDA_LOG_LEVEL` is set (the CLI uses `warn`:
/// its output is what it prints).
pub fn init_with_default_level(default_level: &str) {
    init_with_writer(default_level, std::io::stderr);
}

/// [`init_with_default_level`] writing through `writer` (e.g. one that clears a terminal's progress bars first).
/// Colours are used only when stderr is a terminal.
pub fn init_with_writer<W>(default_level: &str, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .map(|l| l.to_ascii_lowercase())
        .unwrap_or_else(|_| default_level.into());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colours only for a person: a pipe, a file or CloudWatch gets plain text.
        .with_ansi(std::io::stderr().is_terminal());
    // An error here means a subscriber is already installed (tests, embedding): keep that one.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_target(false)
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
}
