//! Bounded fuzzing on stable Rust with proptest: committed corpora, corpus-guided inputs, a case count from the
//! environment.
//!
//! A fuzz target is a `tests/fuzz.rs` test that calls [`run`] with the crate's corpus directory, the target's
//! name and a check of one input. [`run`] first replays every file of `<crate>/tests/fuzz-corpus/<target>/`
//! (deterministic, in name order), then checks [`cases`] inputs drawn by [`inputs`]: a seed as committed, a seed
//! mutated (bit flips, truncation, deletion, splices of two seeds, insertions of interesting bytes and of the
//! target's own tokens, long runs, invalid UTF-8), or arbitrary bytes.
//!
//! - `FUZZ_CASES` sets the number of generated inputs per target (default [`DEFAULT_CASES`]: about a second per
//!   target in a debug build, 4 s for all the workspace's targets on two cores; `scripts/soak` sets a large one).
//! - `PROPTEST_RNG_SEED=<u64>` replays one run exactly (proptest reads it); by default every run draws new inputs.
//! - A failing input is printed escaped and written under `$TMPDIR/mde-bridge-fuzz/`: once the bug is fixed, copy
//!   it into the target's corpus directory so the replay keeps it fixed.
//!
//! This module uses only `std` and `proptest`, so a crate that must not depend on `mde-platform` (`mde-defender`)
//! includes it with `#[path = "../../platform/src/testing/fuzz.rs"] mod fuzz;`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseResult, TestError, TestRunner};

/// The variable that sets how many generated inputs each target checks.
pub const CASES_VAR: &str = "FUZZ_CASES";

/// Generated inputs per target when `FUZZ_CASES` is unset: small, so every fuzz target of the workspace together
/// adds seconds, well under a minute, to the test command on two cores.
pub const DEFAULT_CASES: u32 = 1_000;

/// Byte strings that often break parsers, inserted into or written over seeds: quotes and escapes, NUL (raw and
/// as JSON and URL escapes), percent signs, separators of URLs and JSON, numbers at the edges of their types,
/// invalid and unusual UTF-8 (lone continuation bytes, overlong forms, surrogates, beyond U+10FFFF, a BOM,
/// right-to-left override).
pub const INTERESTING: &[&[u8]] = &[
    b"\"",
    b"'",
    b"''",
    b"\\",
    b"\\\"",
    b"\0",
    b"\\u0000",
    b"\\ud800",
    b"%",
    b"%00",
    b"%2F",
    b"%25",
    b"&",
    b"=",
    b"?",
    b"#",
    b"@",
    b"/",
    b"//",
    b"../",
    b":",
    b",",
    b";",
    b" ",
    b"\t",
    b"\r\n",
    b"{",
    b"}",
    b"[",
    b"]",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e999",
    b"-0.0",
    b"18446744073709551616",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"\xff",
    b"\xc3\x28",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xef\xbb\xbf",
    b"\xe2\x80\xae",
    b"\xf0\x9f\x92\xa5",
    b" or 1 eq 1",
    b"') or ('1' eq '1",
];

/// The number of generated inputs per target: `FUZZ_CASES`, else [`DEFAULT_CASES`].
pub fn cases() -> u32 {
    std::env::var(CASES_VAR)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// The proptest configuration of a fuzz run: [`cases`] cases, no regression files written next to the sources
/// (the corpus is the record of past failures), shrinking bounded to 512 steps and 20 s.
pub fn config() -> Config {
    Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 512,
        max_shrink_time: 20_000,
        ..Config::default()
    }
}

/// One committed input: its file name and its bytes.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The file name, relative to the target's corpus directory.
    pub name: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// The corpus directory of `target`: `<manifest_dir>/tests/fuzz-corpus/<target>`.
pub fn corpus_dir(manifest_dir: &str, target: &str) -> PathBuf {
    Path::new(manifest_dir)
        .join("tests")
        .join("fuzz-corpus")
        .join(target)
}

/// Every file under the corpus directory of `target` (subdirectories included), sorted by name. Panics when the
/// directory is missing or empty: a target without seeds is a mistake.
pub fn corpus(manifest_dir: &str, target: &str) -> Vec<Seed> {
    let root = corpus_dir(manifest_dir, target);
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the fuzz corpus {} cannot be read: {e}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
                .path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "the fuzz corpus {} is empty", root.display());
    files
        .into_iter()
        .map(|path| Seed {
            name: path.strip_prefix(&root).unwrap_or(&path).display().to_string(),
            bytes: std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
        })
        .collect()
}

/// One change to a seed; positions are [`Index`]es, so they fit whatever length the input has by then.
#[derive(Debug, Clone)]
enum Edit {
    FlipBit(Index, u8),
    Truncate(Index),
    Delete(Index, usize),
    Insert(Index, Index),
    Overwrite(Index, Index),
    Run(Index, u8, usize),
    Splice(Index, Index, Index),
    Duplicate(Index, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let run_length = prop_oneof![6 => 1usize..64, 3 => 64usize..4096, 1 => 4096usize..70_000];
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Edit::FlipBit(at, bit)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        2 => (any::<Index>(), 1usize..16).prop_map(|(at, n)| Edit::Delete(at, n)),
        4 => (any::<Index>(), any::<Index>()).prop_map(|(at, token)| Edit::Insert(at, token)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(at, token)| Edit::Overwrite(at, token)),
        1 => (any::<Index>(), any::<u8>(), run_length).prop_map(|(at, byte, n)| Edit::Run(at, byte, n)),
        2 => (any::<Index>(), any::<Index>(), any::<Index>()).prop_map(|(other, at, from)| Edit::Splice(other, at, from)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(at, n)| Edit::Duplicate(at, n)),
    ]
}

fn apply(mut input: Vec<u8>, edit: &Edit, seeds: &[Vec<u8>], tokens: &[Vec<u8>]) -> Vec<u8> {
    let len = input.len();
    match edit {
        Edit::FlipBit(at, bit) if len > 0 => input[at.index(len)] ^= 1 << bit,
        Edit::FlipBit(..) => {}
        Edit::Truncate(at) => input.truncate(at.index(len + 1)),
        Edit::Delete(at, n) => {
            let start = at.index(len + 1);
            input.drain(start..(start + n).min(len));
        }
        Edit::Insert(at, token) => {
            let at = at.index(len + 1);
            input.splice(at..at, tokens[token.index(tokens.len())].iter().copied());
        }
        Edit::Overwrite(at, token) => {
            let token = &tokens[token.index(tokens.len())];
            let start = at.index(len + 1);
            input.splice(start..(start + token.len()).min(len), token.iter().copied());
        }
        Edit::Run(at, byte, n) => {
            let at = at.index(len + 1);
            input.splice(at..at, std::iter::repeat_n(*byte, *n));
        }
        Edit::Splice(other, at, from) => {
            let other = &seeds[other.index(seeds.len())];
            input.truncate(at.index(len + 1));
            input.extend_from_slice(&other[from.index(other.len() + 1)..]);
        }
        Edit::Duplicate(at, n) => {
            let start = at.index(len + 1);
            let part = input[start..(start + n).min(len)].to_vec();
            input.splice(start..start, part);
        }
    }
    input
}

/// Inputs for a target: a seed as committed, a seed with one to four [edits](INTERESTING), or up to 512 arbitrary
/// bytes. `dictionary` adds the target's own tokens (keywords, field names) to [`INTERESTING`].
pub fn inputs(seeds: &[Seed], dictionary: &[&[u8]]) -> BoxedStrategy<Vec<u8>> {
    let arbitrary = proptest::collection::vec(any::<u8>(), 0..512);
    if seeds.is_empty() {
        return arbitrary.boxed();
    }
    let seeds: Arc<Vec<Vec<u8>>> = Arc::new(seeds.iter().map(|s| s.bytes.clone()).collect());
    let tokens: Arc<Vec<Vec<u8>>> =
        Arc::new(INTERESTING.iter().chain(dictionary).map(|t| t.to_vec()).collect());
    let committed = {
        let seeds = Arc::clone(&seeds);
        any::<Index>().prop_map(move |i| seeds[i.index(seeds.len())].clone())
    };
    let mutated = (any::<Index>(), proptest::collection::vec(edit(), 1..=4)).prop_map(move |(i, edits)| {
        let start = seeds[i.index(seeds.len())].clone();
        edits
            .iter()
            .fold(start, |input, e| apply(input, e, &seeds, &tokens))
    });
    prop_oneof![1 => committed, 6 => mutated, 2 => arbitrary].boxed()
}

/// Runs a fuzz target: every seed of `<manifest_dir>/tests/fuzz-corpus/<target>/` first, then [`cases`] inputs
/// from [`inputs`]. `check` gets one input and fails (or panics) when an invariant breaks; the panic names the
/// seed, or shows the smallest failing input found and where it was written.
pub fn run(manifest_dir: &str, target: &str, dictionary: &[&[u8]], check: impl Fn(&[u8]) -> TestCaseResult) {
    let seeds = corpus(manifest_dir, target);
    for seed in &seeds {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&seed.bytes))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("fuzz target {target}: seed {} fails: {e}", seed.name),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic");
                panic!("fuzz target {target}: seed {} panics: {message}", seed.name);
            }
        }
    }
    let mut runner = TestRunner::new(config());
    match runner.run(&inputs(&seeds, dictionary), |input| check(&input)) {
        Ok(()) => {}
        Err(TestError::Fail(reason, input)) => {
            let saved = save_failure(target, &input);
            let shown = &input[..input.len().min(2_000)];
            panic!(
                "fuzz target {target}: {reason}\n  input ({} bytes): \"{}\"{}\n  saved as: {saved}\n  (fix the bug, \
                 then copy that file into {})",
                input.len(),
                shown.escape_ascii(),
                if shown.len() < input.len() { "…" } else { "" },
                corpus_dir(manifest_dir, target).display()
            );
        }
        Err(e) => panic!("fuzz target {target}: {e}"),
    }
}

/// Writes a failing input under the temporary directory; returns its path (or why it could not be written).
fn save_failure(target: &str, input: &[u8]) -> String {
    // FNV-1a: a stable name for the same input.
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    let dir = std::env::temp_dir().join("mde-bridge-fuzz");
    let path = dir.join(format!("{target}-{hash:016x}"));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("not saved ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;

    #[test]
    fn inputs_start_from_the_seeds_and_stay_bounded() {
        let seeds = vec![
            Seed {
                name: "a".into(),
                bytes: b"{\"a\": 1}".to_vec(),
            },
            Seed {
                name: "b".into(),
                bytes: b"hello".to_vec(),
            },
        ];
        let strategy = inputs(&seeds, &[b"MARK"]);
        let mut runner = TestRunner::deterministic();
        let mut exact = 0;
        for _ in 0..2_000 {
            let input = strategy.new_tree(&mut runner).expect("a value").current();
            assert!(input.len() < 4 * 70_000 + 2_000, "{}", input.len());
            exact += usize::from(seeds.iter().any(|s| s.bytes == input));
        }
        assert!(exact > 50, "seeds are drawn as committed too: {exact}");
    }

    #[test]
    fn every_edit_handles_empty_and_tiny_inputs() {
        let seeds = vec![Vec::new(), b"x".to_vec()];
        let tokens = vec![b"tok".to_vec()];
        let strategy = edit();
        let mut runner = TestRunner::deterministic();
        for _ in 0..2_000 {
            let e = strategy.new_tree(&mut runner).expect("an edit").current();
            for input in &seeds {
                let _ = apply(input.clone(), &e, &seeds, &tokens);
            }
        }
    }
}
