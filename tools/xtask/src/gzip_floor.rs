//! `cargo xtask gzip-floor [--level N] FILE...`: the compression floor of an export. Reads the files into memory
//! first, then compresses each into its own gzip stream with flate2 (the exporter's gzip backend, the same build
//! features) into a `Vec`, and prints one JSON object: `bytes_in`, `bytes_out`, `cpu_seconds` (user + system CPU
//! of one pass over every file), `wall_seconds`, `level` and `passes`.
//!
//! CPU time comes from `/proc/self/stat` (clock ticks of 1/100 s). So that this resolution does not dominate a
//! small input, the whole pass is repeated until at least [`MIN_CPU_SECONDS`] of CPU have been measured, and the
//! figures are per pass.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::write::GzEncoder;

/// Passes are repeated until this much CPU time has been measured (or [`MAX_PASSES`] ran).
const MIN_CPU_SECONDS: f64 = 1.0;
/// The most passes over the input.
const MAX_PASSES: u32 = 50;
/// Linux reports the CPU times of `/proc/self/stat` in ticks of 1/100 s (`USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

const USAGE: &str = "usage: cargo xtask gzip-floor [--level N] FILE...  (CPU time of gzip-compressing the files \
                     with flate2; JSON on stdout)";

/// Runs the subcommand with its arguments (after `gzip-floor`).
pub fn run(args: &[OsString]) -> Result<()> {
    let (level, files) = parse(args)?;
    let inputs = files
        .iter()
        .map(|f| std::fs::read(f).with_context(|| format!("reading {}", f.display())))
        .collect::<Result<Vec<Vec<u8>>>>()?;
    let bytes_in: usize = inputs.iter().map(Vec::len).sum();

    let mut passes = 0u32;
    let cpu_start = cpu_seconds()?;
    let wall_start = Instant::now();
    let bytes_out = loop {
        let mut bytes_out = 0;
        for input in &inputs {
            bytes_out += compress(input, level)?.len();
        }
        passes += 1;
        if cpu_seconds()? - cpu_start >= MIN_CPU_SECONDS || passes >= MAX_PASSES {
            break bytes_out;
        }
    };
    let cpu = (cpu_seconds()? - cpu_start) / f64::from(passes);
    let wall = wall_start.elapsed().as_secs_f64() / f64::from(passes);
    let report = serde_json::json!({
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "level": level,
        "passes": passes,
    });
    println!("{report}");
    Ok(())
}

fn parse(args: &[OsString]) -> Result<(u32, Vec<PathBuf>)> {
    let mut level = 6;
    let mut files = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--level") => {
                let value = args.next().context("--level needs a value (0 to 9)")?;
                level = value
                    .to_str()
                    .and_then(|v| v.parse().ok())
                    .filter(|l| *l <= 9)
                    .with_context(|| format!("--level {value:?}: expected 0 to 9"))?;
            }
            Some("-h" | "--help") => bail!("{USAGE}"),
            Some(flag) if flag.starts_with("--") => bail!("unknown option {flag}\n{USAGE}"),
            _ => files.push(PathBuf::from(arg)),
        }
    }
    if files.is_empty() {
        bail!("no input files\n{USAGE}");
    }
    Ok((level, files))
}

/// One gzip stream of `input`, in memory.
fn compress(input: &[u8], level: u32) -> Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::with_capacity(input.len() / 4), Compression::new(level));
    gz.write_all(input).context("compressing")?;
    gz.finish().context("finishing the gzip stream")
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat (Linux only)")?;
    // The fields after the command name (in parentheses, which may hold spaces): utime and stime are the 12th and
    // 13th of them.
    let after = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .context("unexpected /proc/self/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields
        .get(11..13)
        .context("unexpected /proc/self/stat")?
        .iter()
        .map(|v| v.parse::<u64>().context("unexpected /proc/self/stat"))
        .sum::<Result<u64>>()?;
    Ok(ticks as f64 / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn a_compressed_stream_decompresses_to_its_input() {
        let input = b"{\"a\":1}\n".repeat(10_000);
        let gz = compress(&input, 6).expect("compress");
        assert!(gz.len() < input.len() / 10);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .expect("gunzip");
        assert_eq!(back, input);
    }

    #[test]
    fn arguments_need_files_and_a_level_from_0_to_9() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let (level, files) = parse(&args(&["--level", "1", "a", "b"])).expect("valid");
        assert_eq!((level, files.len()), (1, 2));
        assert_eq!(parse(&args(&["a"])).expect("default level").0, 6);
        assert!(parse(&args(&["--level", "10", "a"])).is_err());
        assert!(parse(&args(&["--level", "6"])).is_err());
        assert!(parse(&args(&["--fast", "a"])).is_err());
    }

    #[test]
    fn this_process_cpu_time_is_readable() {
        assert!(cpu_seconds().expect("cpu time") >= 0.0);
    }
}
