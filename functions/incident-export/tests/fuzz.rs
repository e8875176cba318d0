//! Fuzz target `checkpoint` of incident-export, bounded (`FUZZ_CASES` generated inputs after every committed seed
//! of `tests/fuzz-corpus/checkpoint/`; see `shared/platform/src/testing/fuzz.rs`), through
//! [`decode_checkpoint`] (a checkpoint read as a run reads it, then encoded as a run writes it):
//!
//! - any bytes: a `CorruptCheckpoint` error at the checkpoint's location whose reason names the problem (not a
//!   checkpoint, the format version, another tenant or dataset, or the field whose time is wrong), or a format-2
//!   checkpoint of this tenant and dataset with canonical times, which decodes to itself;
//! - a valid checkpoint of the current format round-trips exactly.

use incident_export::{ExportCheckpoint, ExportError, decode_checkpoint, format_time};
use mde_contracts::{BackfillProgress, Dataset, ExportedVersion, TenantId};
use mde_platform::testing::fuzz;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseResult, TestRunner};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const TENANT: &str = "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17";
const LOCATION: &str = "fuzz/checkpoints/mde_alerts/tenant=8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17.json";

fn tenant() -> TenantId {
    TENANT.parse().expect("tenant id")
}

fn decode(body: &[u8]) -> Result<ExportCheckpoint, ExportError> {
    decode_checkpoint(body, &tenant(), Dataset::MdeAlerts, LOCATION)
}

/// What a reason may start with, or the fields whose time it may name.
const WHOLE: &[&str] = &["not a checkpoint: ", "format version ", "it belongs to tenant "];
const TIME_FIELDS: &[&str] = &[
    "frontier",
    "covered_from",
    "seen[",
    "backfill.from",
    "backfill.to",
    "backfill.frontier",
    "pass.from",
    "watermark",
];

/// A time as the format writes it: UTC, seven fractional digits, `Z`.
fn canonical(t: &str) -> bool {
    OffsetDateTime::parse(t, &Rfc3339).is_ok_and(|parsed| format_time(parsed) == t)
}

fn check(input: &[u8]) -> TestCaseResult {
    match decode(input) {
        Err(ExportError::CorruptCheckpoint { location, reason }) => {
            prop_assert_eq!(location, LOCATION);
            let named = WHOLE.iter().any(|w| reason.starts_with(w))
                || (TIME_FIELDS.iter().any(|f| reason.starts_with(f))
                    && reason.ends_with("is not an RFC 3339 time"));
            prop_assert!(named, "the reason does not name the problem: {}", reason);
        }
        Err(other) => prop_assert!(false, "not a CorruptCheckpoint: {:?}", other),
        Ok(cp) => {
            prop_assert_eq!(cp.version, 2);
            prop_assert_eq!(cp.tenant_id.as_str(), TENANT);
            prop_assert_eq!(cp.dataset, Dataset::MdeAlerts);
            prop_assert!(
                cp.watermark.is_none() && cp.pass.is_none(),
                "format-1 fields written"
            );
            let times = [&cp.frontier, &cp.covered_from].into_iter().flatten();
            let backfill = cp.backfill.iter().flat_map(|b| [&b.from, &b.to, &b.frontier]);
            for t in times.chain(backfill) {
                prop_assert!(canonical(t), "time {:?} is not written canonically", t);
            }
            prop_assert!(cp.window_ms.is_none_or(|w| w >= 1), "a zero window");
            prop_assert!(
                cp.seen.windows(2).all(|w| w[0] < w[1]),
                "seen is not sorted and unique"
            );
            prop_assert!(
                cp.seen
                    .iter()
                    .all(|v| OffsetDateTime::parse(&v.last_update, &Rfc3339).is_ok()),
                "a seen version without its time"
            );
            let written = serde_json::to_vec_pretty(&cp).expect("the checkpoint serialises");
            let again = decode(&written)
                .map_err(|e| TestCaseError::fail(format!("the checkpoint written is refused: {e}")))?;
            prop_assert_eq!(again, cp, "decoding what would be written changes it");
        }
    }
    Ok(())
}

#[test]
fn any_checkpoint_bytes_decode_to_a_named_problem_or_a_checkpoint_that_decodes_to_itself() {
    fuzz::run(
        env!("CARGO_MANIFEST_DIR"),
        "checkpoint",
        &[
            b"\"version\"",
            b"\"frontier\"",
            b"\"covered_from\"",
            b"\"seen\"",
            b"\"backfill\"",
            b"\"pass\"",
            b"\"watermark\"",
            b"\"window_ms\"",
            b"2026-11-23T10:00:00.0000000Z",
            b"+14:00",
            b"-23:59",
        ],
        check,
    );
}

/// A time between 1970 and 2100, as the format writes it.
fn time_text() -> impl Strategy<Value = String> {
    (0i64..4_102_444_800, 0u32..10_000_000).prop_map(|(seconds, ticks)| {
        let t = OffsetDateTime::from_unix_timestamp(seconds).expect("time")
            + time::Duration::nanoseconds(i64::from(ticks) * 100);
        format_time(t)
    })
}

fn checkpoint() -> impl Strategy<Value = ExportCheckpoint> {
    let seen = proptest::collection::btree_set(("[a-z0-9_-]{1,40}", time_text()), 0..20).prop_map(|set| {
        set.into_iter()
            .map(|(id, last_update)| ExportedVersion { id, last_update })
            .collect::<Vec<_>>()
    });
    let backfill = proptest::option::of(
        (time_text(), time_text(), time_text()).prop_map(|(from, to, frontier)| BackfillProgress {
            from,
            to,
            frontier,
        }),
    );
    (
        proptest::option::of(time_text()),
        proptest::option::of(time_text()),
        proptest::option::of(1u64..=i64::MAX as u64),
        proptest::option::of(any::<u32>()),
        seen,
        backfill,
        "[0-9A-Za-z-]{1,40}",
        time_text(),
    )
        .prop_map(
            |(frontier, covered_from, window_ms, page_cap, mut seen, backfill, run_id, updated_at)| {
                seen.sort();
                ExportCheckpoint {
                    version: 2,
                    tenant_id: tenant(),
                    dataset: Dataset::MdeAlerts,
                    frontier,
                    covered_from,
                    window_ms,
                    page_cap,
                    seen,
                    backfill,
                    watermark: None,
                    pass: None,
                    run_id,
                    updated_at,
                }
            },
        )
}

#[test]
fn a_valid_checkpoint_of_the_current_format_round_trips_exactly() {
    let mut runner = TestRunner::new(fuzz::config());
    let result = runner.run(&checkpoint(), |cp| {
        for body in [
            serde_json::to_vec(&cp).expect("json"),
            serde_json::to_vec_pretty(&cp).expect("json"),
        ] {
            let decoded = decode(&body).map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;
            prop_assert_eq!(&decoded, &cp);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
