//! The secret canary: every test run signs in with recognisable fake secrets (the sandbox's demo client secret and
//! certificate key, partner keys `whsec_…`) and receives real-looking tokens (JWTs). None of them may appear in
//! what the run produced: captured test output, logs, errors, exported objects, rejects, audit records. Files whose
//! job is to hold a secret (a secrets file, a key file, a PEM) are skipped. A finding names the file, the line and
//! the kind of secret, never the value.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use regex::Regex;

/// One kind of secret and how to recognise it.
struct Canary {
    kind: &'static str,
    pattern: Regex,
}

/// A secret found where it must not be.
#[derive(Debug)]
pub struct Finding {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (of the decompressed text for `.gz`).
    pub line: usize,
    /// Which secret.
    pub kind: &'static str,
}

fn canaries() -> Result<Vec<Canary>> {
    let mut canaries = vec![
        Canary {
            kind: "the demo client secret",
            pattern: Regex::new(&regex::escape(mde_sandbox::DEMO_CLIENT_SECRET))?,
        },
        Canary {
            kind: "a private key (PEM)",
            pattern: Regex::new(r"-----BEGIN (RSA |EC )?PRIVATE KEY-----")?,
        },
        Canary {
            kind: "a partner key (whsec_)",
            pattern: Regex::new(r"whsec_[A-Za-z0-9+/=]{24,}")?,
        },
        Canary {
            kind: "a token (JWT)",
            pattern: Regex::new(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}")?,
        },
    ];
    // Any full line of the demo certificate's private key, even without its PEM header.
    let key_lines: Vec<String> = mde_sandbox::DEMO_CLIENT_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(regex::escape)
        .collect();
    canaries.push(Canary {
        kind: "the demo certificate's private key",
        pattern: Regex::new(&key_lines.join("|"))?,
    });
    Ok(canaries)
}

/// Files that exist to hold a secret.
fn holds_secrets(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.contains("secret") || name.ends_with(".pem") || name.ends_with(".key")
}

fn text_of(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut text)
            .with_context(|| format!("decompressing {}", path.display()))?;
        return Ok(String::from_utf8_lossy(&text).into_owned());
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Scans every file under `roots` (missing roots are an error: the step must not pass by scanning nothing);
/// returns the findings and how many files were scanned.
pub fn scan(roots: &[PathBuf]) -> Result<(Vec<Finding>, usize)> {
    let canaries = canaries()?;
    let mut findings = Vec::new();
    let mut scanned = 0;
    for root in roots {
        if !root.exists() {
            bail!("{} does not exist: nothing to scan there", root.display());
        }
        for entry in walkdir::WalkDir::new(root) {
            let entry = entry.with_context(|| format!("walking {}", root.display()))?;
            let path = entry.path();
            if !entry.file_type().is_file() || holds_secrets(path) {
                continue;
            }
            scanned += 1;
            let text = text_of(path)?;
            for (i, line) in text.lines().enumerate() {
                for canary in &canaries {
                    if canary.pattern.is_match(line) {
                        findings.push(Finding {
                            file: path.to_owned(),
                            line: i + 1,
                            kind: canary.kind,
                        });
                    }
                }
            }
        }
    }
    Ok((findings, scanned))
}

/// `cargo xtask canary PATH...`: fails when a secret appears under any of the paths.
pub fn run(roots: &[PathBuf]) -> Result<()> {
    if roots.is_empty() {
        bail!("usage: cargo xtask canary PATH...   (files or directories to scan for test secrets)");
    }
    let (findings, scanned) = scan(roots)?;
    for f in &findings {
        eprintln!("{}:{}: {} (value withheld)", f.file.display(), f.line, f.kind);
    }
    if !findings.is_empty() {
        bail!("{} secret(s) found in {scanned} scanned files", findings.len());
    }
    println!("secret canary: {scanned} files scanned, no secret found");
    Ok(())
}
