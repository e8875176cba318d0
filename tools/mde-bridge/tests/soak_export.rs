//! Export soak: runs of the built `mde-bridge export` against the sandbox in its adversarial modes — random 429s,
//! 5xx, dropped connections, truncated bodies, HTML instead of JSON and slow answers; records updated and created
//! while a run pages; a list order drawn per run from every order the service may use; versions that become visible
//! late; a skewed service clock — with most runs SIGKILLed at a random moment and the next run resuming. At the end
//! every record version the service holds is in the exported objects (0 lost), none twice, and no run stalled.
//!
//! Size: `SOAK_EXPORT_RUNS` (the test command runs a bounded number; `scripts/soak` runs 200), seed
//! `SOAK_SEED` (printed, for replaying a failure). Figures: `mde_platform::testing::soak` ("export").
//!
//! A quarter of the runs are killed the moment they log an object written (aiming between the object write and
//! the checkpoint), four in ten at a random moment (a fixed plan per 20 runs). Where a kill landed is read from what it left: the next run finding an object written without its checkpoint
//! (it logs that it recorded it and did not write it again) — killed between the object write and the checkpoint;
//! a temporary file left in the store — killed mid-write; otherwise while reading or encoding a page.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mde_platform::testing::soak::{REPORTS_VAR, SoakReport, size};
use mde_sandbox::{
    AdversarialSettings, FaultKind, FaultRule, ListOrder, MutateSettings, Sandbox, SandboxConfig,
};
use rand::rngs::SmallRng;
use rand::{RngExt as _, SeedableRng as _};

const TENANT: &str = mde_sandbox::DEMO_TENANT_FULL;
const DATASETS: [&str; 4] = [
    "mde_alerts",
    "m365d_incidents",
    "graph_incidents",
    "graph_alerts_v2",
];
const ORDERS: [ListOrder; 5] = [
    ListOrder::Documented,
    ListOrder::CreatedDesc,
    ListOrder::LastupdateAsc,
    ListOrder::LastupdateDesc,
    ListOrder::Unstable,
];
/// How each run of 20 ends: N not killed, O killed on an object written, T killed at a random moment.
const PLAN: [char; 20] = [
    'O', 'T', 'N', 'T', 'O', 'N', 'T', 'N', 'O', 'T', 'N', 'T', 'O', 'N', 'T', 'N', 'O', 'T', 'N', 'T',
];
/// A run not killed that takes longer than this has stalled.
const STALL: Duration = Duration::from_secs(180);
/// The exporter's debug line after an object is durable and before its checkpoint is written.
const OBJECT_WRITTEN: &str = "DEBUG object written ";
/// The log line of a run that finds an object its killed predecessor wrote without checkpointing it.
const RECOVERED: &str = "an object written by a run that stopped before its checkpoint";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_resumed_exports_under_faults_lose_nothing_and_store_nothing_twice() {
    let runs = size("SOAK_EXPORT_RUNS", 24);
    let seed = size("SOAK_SEED", u64::from(std::process::id()) ^ now_nanos());
    let mut rng = SmallRng::seed_from_u64(seed);
    let started = Instant::now();

    let sandbox = Sandbox::start(world(seed)).await.expect("sandbox");
    let skew = [-90, 0, 90][rng.random_range(0..3)];
    sandbox.add_faults(faults());
    // Configuration, the runs' logs, the exports: kept when the soak fails (its path is in the message), and under
    // the reports directory when one is set (the test command's secret canary scans them).
    let reports = std::env::var_os(REPORTS_VAR).map(std::path::PathBuf::from);
    let parent = reports
        .clone()
        .unwrap_or_else(|| env!("CARGO_TARGET_TMPDIR").into());
    std::fs::create_dir_all(&parent).expect("soak directory");
    let dir = tempfile::Builder::new()
        .prefix(&format!("soak-export-{seed}-"))
        .tempdir_in(parent)
        .expect("dir");
    write_configuration(dir.path(), &sandbox.base_url());

    let mut tally = Tally::default();
    let mut typical = Duration::from_secs(3);
    for run in 1..=runs {
        sandbox
            .set_adversarial(adversarial(&mut rng, seed, skew))
            .expect("adversarial settings");
        sandbox.advance(Duration::from_secs(rng.random_range(30..400)));
        sandbox
            .mutate(TENANT, rng.random_range(0..4), rng.random_range(0..3))
            .expect("changes between runs");
        // A fixed share of each kind (every 20 runs: 7 free, 5 on an object written, 8 at a random moment), so
        // every seed kills as often; the moment of a timed kill is random.
        let kill = match PLAN[usize::try_from(run % 20).expect("small")] {
            'N' => Kill::Never,
            'O' => Kill::OnObjectWritten,
            _ => Kill::After(typical.mul_f64(rng.random_range(0.0..1.2))),
        };
        let outcome = export(dir.path(), run, kill).await;
        eprintln!("run {run}: {outcome:?}");
        tally.record(dir.path(), run, &outcome);
        if let Outcome::Finished { took, .. } = outcome {
            typical = (typical * 3 + took) / 4;
        }
    }

    let faults: u64 = sandbox.fault_tally().iter().map(|t| t.fired).sum();
    // The service settles: no more faults or changes, every version visible; runs until all datasets complete.
    sandbox.clear_faults();
    sandbox
        .set_adversarial(AdversarialSettings {
            clock_skew_seconds: skew,
            ..AdversarialSettings::default()
        })
        .expect("calm settings");
    sandbox.advance(Duration::from_secs(900));
    let mut drain_runs = 0;
    loop {
        drain_runs += 1;
        let outcome = export(dir.path(), runs + drain_runs, Kill::Never).await;
        tally.record(dir.path(), runs + drain_runs, &outcome);
        if matches!(outcome, Outcome::Finished { success: true, .. }) {
            break;
        }
        assert!(
            drain_runs < 5,
            "the export did not complete once the service calmed down"
        );
    }

    let exported = exported_versions(&dir.path().join("out"));
    let mut produced = 0;
    let mut lost = Vec::new();
    let mut twice = Vec::new();
    let mut lines = 0;
    for dataset in DATASETS {
        let truth = sandbox.current_versions(TENANT, dataset);
        produced += truth.len();
        let stored = exported.get(dataset).cloned().unwrap_or_default();
        lines += stored.values().sum::<usize>();
        for (id, at) in truth {
            if !stored.contains_key(&format!("{id}:{at}")) {
                lost.push(format!("{dataset} {id}:{at}"));
            }
        }
        twice.extend(
            stored
                .iter()
                .filter(|(_, n)| **n > 1)
                .map(|(k, n)| format!("{dataset} {k} ×{n}")),
        );
    }

    let mut report = SoakReport::new("export");
    report
        .line("seed (SOAK_SEED)", seed)
        .line(
            "runs (+ runs after the faults stopped)",
            format!("{runs} (+{drain_runs})"),
        )
        .line("faults injected", faults)
        .line("service clock skew, s", skew)
        .line(
            "Graph quirk",
            if graph_caps_pages(seed) {
                "pages capped at 25 rows"
            } else {
                "no nextLink when $top is sent"
            },
        )
        .line("kills", tally.kills)
        .line(
            "  between object write and checkpoint",
            tally.between_write_and_checkpoint,
        )
        .line("  mid-write (temporary file left)", tally.mid_write)
        .line("  while reading or encoding a page", tally.while_reading)
        .line(
            "runs that failed a dataset (faults beyond retries)",
            tally.failed_runs,
        )
        .line("record versions the service holds", produced)
        .line("record versions exported (with versions since superseded)", lines)
        .line("lost", lost.len())
        .line(
            "duplicated (documented: only overlapping runs or max_seen overflow; neither here)",
            twice.len(),
        )
        .line("stalls", tally.stalls)
        .line("wall time, s", started.elapsed().as_secs());
    report.publish();

    let dir = dir.keep();
    assert!(
        lost.is_empty(),
        "{} versions lost (see {}): {lost:?}",
        lost.len(),
        dir.display()
    );
    assert!(twice.is_empty(), "versions stored twice: {twice:?}");
    assert_eq!(tally.stalls, 0, "runs stalled (see {})", dir.display());
    if runs >= 20 {
        assert!(
            tally.kills >= runs / 5,
            "too few kills to prove anything: {}",
            tally.kills
        );
        assert!(
            tally.between_write_and_checkpoint > 0,
            "no kill landed between an object write and its checkpoint: the soak proved nothing there"
        );
    }
    if reports.is_none() {
        std::fs::remove_dir_all(&dir).expect("remove the soak's directory");
    }
}

/// The demo world with more alerts and no changes of its own (the test makes them). Graph either caps its pages
/// below the `$top` asked for (25 rows, with a nextLink) or omits the nextLink whenever `$top` is sent — one of the
/// two per seed: both at once (a short page without a nextLink while rows remain) is the one case no client can
/// tell from the end, and the exporter documents that it assumes Graph does not do it (README: "What it assumes").
fn world(seed: u64) -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.data.seed = seed;
    config.data.alerts_per_tenant = 300;
    config.data.alert_updates_per_hour = 0;
    config.data.new_alerts_per_hour = 0;
    config.data.graph_page_size = if graph_caps_pages(seed) { 25 } else { 1000 };
    config
}

/// Whether Graph caps its pages (else it omits nextLinks) in this seed's world.
fn graph_caps_pages(seed: u64) -> bool {
    seed.is_multiple_of(2)
}

/// Random faults on every API the export calls (the admin paths are never faulted).
fn faults() -> Vec<FaultRule> {
    let rule = |fault, probability| FaultRule::random("*", fault, probability);
    vec![
        rule(FaultKind::Status { status: 503 }, 0.02),
        rule(FaultKind::Status { status: 500 }, 0.01),
        rule(FaultKind::Status { status: 502 }, 0.01),
        rule(
            FaultKind::TooManyRequests {
                retry_after_seconds: 1,
            },
            0.02,
        ),
        rule(FaultKind::DropConnection, 0.015),
        rule(FaultKind::TruncatedBody, 0.015),
        rule(FaultKind::NotJson, 0.005),
        rule(FaultKind::Delay { millis: 250 }, 0.05),
    ]
}

/// One run's adversary: a list order, changes while it pages, sometimes late visibility and Graph's quirks.
fn adversarial(rng: &mut SmallRng, seed: u64, skew: i64) -> AdversarialSettings {
    AdversarialSettings {
        list_order: ORDERS[rng.random_range(0..ORDERS.len())],
        mutate: Some(MutateSettings {
            after_list_calls: rng.random_range(1..6),
            update_returned: rng.random_range(0..3),
            update_unreturned: rng.random_range(0..3),
            create: rng.random_range(0..2),
            repeat_every: Some(rng.random_range(2..6)),
        }),
        visibility_lag_seconds: if rng.random_bool(0.3) { 120 } else { 0 },
        clock_skew_seconds: skew,
        graph_omit_next_link_with_top: !graph_caps_pages(seed) && rng.random_bool(0.5),
        graph_max_skip: rng.random_bool(0.3).then_some(100),
    }
}

/// The configuration a user would write for the sandbox: a first run reaching back past the oldest seeded record
/// (30 days), small pages and objects, so a run has many of both.
fn write_configuration(dir: &Path, base: &str) {
    let secrets = serde_json::json!({"mde-bridge/app-credential": {"kind": "client_secret",
        "client_id": mde_sandbox::DEMO_CLIENT_ID, "client_secret": mde_sandbox::DEMO_CLIENT_SECRET}});
    std::fs::write(dir.join("secrets.json"), secrets.to_string()).expect("secrets");
    let datasets = DATASETS.map(|d| format!("\"{d}\"")).join(", ");
    let config = format!(
        "[partner]\ncompany = \"Contoso\"\nproduct = \"Soak\"\nversion = \"1\"\n\
         [cloud]\nlogin_url = \"{base}\"\nmde_api_url = \"{base}\"\nm365d_api_url = \"{base}\"\ngraph_url = \"{base}\"\n\
         [credential]\nbackend = \"local\"\nlocal_file = \"secrets.json\"\n\
         [storage]\nlocal_dir = \"out\"\n\
         [export]\ninitial_lookback_seconds = 2592000\nmde_alerts_page_size = 100\nm365d_incidents_page_size = 50\n\
         graph_page_size = 100\nmax_object_bytes = 4096\n\
         [[tenants]]\ntenant_id = \"{TENANT}\"\ndisplay_name = \"Contoso\"\ndatasets = [{datasets}]\n"
    );
    std::fs::write(dir.join("bridge.toml"), config).expect("configuration");
}

/// How a run ended.
#[derive(Debug)]
enum Outcome {
    /// Exited by itself: successfully (every dataset advanced) or not.
    Finished { success: bool, took: Duration },
    /// SIGKILLed by the soak.
    Killed,
    /// Did not end within [`STALL`] (then killed).
    Stalled,
}

/// When the soak kills a run.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// Not at all.
    Never,
    /// After this long.
    After(Duration),
    /// The moment the run logs that it wrote an object (its checkpoint write follows).
    OnObjectWritten,
}

/// Runs `mde-bridge export` once in `dir` (its log, with the exporter's debug lines, in `logs/run-N.log`) and
/// SIGKILLs it as `kill` says.
async fn export(dir: &Path, run: u64, kill: Kill) -> Outcome {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    let mut log = tokio::fs::File::create(logs.join(format!("run-{run}.log")))
        .await
        .expect("log file");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mde-bridge"))
        .current_dir(dir)
        .env_remove("MDE_BRIDGE_CONFIG")
        .env("RUST_LOG", "info,incident_export=debug")
        .args(["export", "--config", "bridge.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start mde-bridge export");
    let stderr = child.stderr.take().expect("stderr");
    let (written, mut object_written) = tokio::sync::mpsc::channel(1);
    let copier = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(OBJECT_WRITTEN) {
                let _ = written.try_send(());
            }
            log.write_all(line.as_bytes()).await.expect("log");
            log.write_all(b"\n").await.expect("log");
        }
    });
    let started = Instant::now();
    let timer = match kill {
        Kill::After(after) => after,
        Kill::Never | Kill::OnObjectWritten => STALL,
    };
    let outcome = tokio::select! {
        status = child.wait() => Outcome::Finished {
            success: status.expect("wait for the export").success(),
            took: started.elapsed(),
        },
        Some(()) = object_written.recv(), if matches!(kill, Kill::OnObjectWritten) => {
            child.start_kill().expect("SIGKILL the export");
            Outcome::Killed
        }
        () = tokio::time::sleep(timer) => {
            child.start_kill().expect("SIGKILL the export");
            if matches!(kill, Kill::After(_)) { Outcome::Killed } else { Outcome::Stalled }
        }
    };
    let _ = child.wait().await;
    copier.await.expect("log copier");
    outcome
}

/// Counts of what the runs did, and where the kills landed.
#[derive(Default)]
struct Tally {
    kills: u64,
    between_write_and_checkpoint: u64,
    mid_write: u64,
    while_reading: u64,
    failed_runs: u64,
    stalls: u64,
    temporary_files: usize,
    /// The last run was killed: whether it left a new temporary file.
    unclassified_kill: Option<bool>,
}

impl Tally {
    /// Counts `run`; classifies the previous run's kill by what this run's log says it found.
    fn record(&mut self, dir: &Path, run: u64, outcome: &Outcome) {
        if let Some(left_temporary_file) = self.unclassified_kill.take() {
            if recovered_objects(&dir.join(format!("logs/run-{run}.log"))) > 0 {
                self.between_write_and_checkpoint += 1;
            } else if left_temporary_file {
                self.mid_write += 1;
            } else {
                self.while_reading += 1;
            }
        }
        let temporary = temporary_files(&dir.join("out"));
        match outcome {
            Outcome::Killed => {
                self.kills += 1;
                self.unclassified_kill = Some(temporary > self.temporary_files);
            }
            Outcome::Finished { success: false, .. } => self.failed_runs += 1,
            Outcome::Finished { success: true, .. } => {}
            Outcome::Stalled => self.stalls += 1,
        }
        self.temporary_files = temporary;
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into())
}

fn recovered_objects(log: &Path) -> usize {
    let file = std::fs::File::open(log).expect("run log");
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains(RECOVERED))
        .count()
}

fn temporary_files(out: &Path) -> usize {
    std::fs::read_dir(out.join(".mde-bridge-tmp")).map_or(0, |d| d.count())
}

/// Every exported record version (its dedupe key) per dataset, with how often it is stored.
fn exported_versions(out: &Path) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut versions: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for file in walk(out) {
        if !file.to_string_lossy().ends_with(".ndjson.gz") {
            continue;
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&file).expect("object"))
            .read_to_string(&mut text)
            .expect("a gzip NDJSON object");
        for line in text.lines() {
            let envelope: serde_json::Value = serde_json::from_str(line).expect("an envelope");
            let dataset = envelope["dataset"].as_str().expect("dataset").to_owned();
            let key = envelope["dedupe_key"].as_str().expect("dedupe_key").to_owned();
            *versions.entry(dataset).or_default().entry(key).or_default() += 1;
        }
    }
    versions
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
