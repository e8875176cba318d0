//! Object keys and the timestamp format of everything the export writes.

use mde_contracts::{Dataset, TenantId};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The checkpoint of a (tenant, dataset): `checkpoints/<dataset>/tenant=<id>.json`.
pub fn checkpoint_key(dataset: Dataset, tenant: &TenantId) -> String {
    format!("checkpoints/{dataset}/tenant={tenant}.json")
}

/// The directory and name prefix of every export object that starts at `from` (a frontier):
/// `<dataset>/tenant=<id>/dt=YYYY-MM-DD/hour=HH/<from>_`. The run after a crash lists it to find an object written
/// before the checkpoint that should have followed it.
pub(crate) fn object_prefix(dataset: Dataset, tenant: &TenantId, from: OffsetDateTime) -> String {
    let at = from.to_offset(UtcOffset::UTC);
    format!(
        "{dataset}/tenant={tenant}/dt={:04}-{:02}-{:02}/hour={:02}/{}_",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        compact_time(at)
    )
}

/// An export object holding the records of the windows from `from` (the checkpointed frontier when it was started) to `to`:
/// `<dataset>/tenant=<id>/dt=YYYY-MM-DD/hour=HH/<from>_<to>_<digest>.ndjson.gz`, partitioned by `from`; `digest`
/// (8 hex digits) is of the record versions it holds. Derived from what it holds, so the run after a crash derives
/// the same key and finds the object already written, and two objects of one range (versions found late in the
/// re-check band while the frontier stood still) never share a key.
pub(crate) fn object_key(
    dataset: Dataset,
    tenant: &TenantId,
    from: OffsetDateTime,
    to: OffsetDateTime,
    digest: &str,
) -> String {
    format!(
        "{}{}_{digest}.ndjson.gz",
        object_prefix(dataset, tenant, from),
        compact_time(to)
    )
}

/// The end of the range an object key names (what follows `<from>_`), when the key is one of ours.
pub(crate) fn object_end(key: &str) -> Option<OffsetDateTime> {
    let name = key.rsplit('/').next()?.strip_suffix(".ndjson.gz")?;
    let mut parts = name.split('_');
    let (_from, to, _digest) = (parts.next()?, parts.next()?, parts.next()?);
    parse_compact_time(to)
}

/// `20261123T070500.1234567Z`: a time in a key, sortable, without `:`.
fn compact_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

fn parse_compact_time(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 24 || b[8] != b'T' || b[15] != b'.' || b[23] != b'Z' {
        return None;
    }
    let expanded = format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15],
        &s[16..23]
    );
    parse_time(&expanded)
}

/// A quarantined page: `quarantine/<dataset>/tenant=<id>/<run-id>-<seq>.json`.
pub(crate) fn quarantine_key(dataset: Dataset, tenant: &TenantId, run_id: &str, seq: u32) -> String {
    format!("quarantine/{dataset}/tenant={tenant}/{run_id}-{seq:05}.json")
}

/// A run id that sorts by start time: `20261123T130501Z-1a2b3c4d`.
pub(crate) fn run_id(now: OffsetDateTime) -> String {
    let t = now.to_offset(UtcOffset::UTC);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        &random[..8]
    )
}

/// The timestamp format of checkpoints and dedupe keys: UTC, seven fractional digits, `Z` (as the Defender APIs
/// write them), so the same instant always gives the same text.
pub fn format_time(t: OffsetDateTime) -> String {
    let mut text = String::with_capacity(28);
    write_time(&mut text, t);
    text
}

/// Appends [`format_time`]'s text to `out` (no allocation when `out` has room).
pub(crate) fn write_time(out: &mut String, t: OffsetDateTime) {
    use std::fmt::Write;
    let t = mde_defender::api::odata::utc_in_range(t);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    );
}

/// Parses an RFC 3339 timestamp whose UTC time lies in the years 0001–9999 (what [`format_time`] writes back
/// unchanged); anything else is not a time this crate wrote.
pub(crate) fn parse_time(s: &str) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    let utc = t.checked_to_offset(UtcOffset::UTC)?;
    (1..=9999).contains(&utc.year()).then_some(utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_follow_the_documented_layout_and_name_their_range() {
        let tenant: TenantId = "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17".parse().expect("guid");
        let from = parse_time("2026-11-23T07:05:00.5Z").expect("time");
        let to = parse_time("2026-11-23T09:00:00.0000001Z").expect("time");
        let key = object_key(Dataset::MdeAlerts, &tenant, from, to, "0badc0de");
        assert_eq!(
            key,
            "mde_alerts/tenant=8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17/dt=2026-11-23/hour=07/\
             20261123T070500.5000000Z_20261123T090000.0000001Z_0badc0de.ndjson.gz"
        );
        assert!(key.starts_with(&object_prefix(Dataset::MdeAlerts, &tenant, from)));
        assert_eq!(object_end(&key), Some(to));
        assert_eq!(object_end("mde_alerts/tenant=x/run-00001.ndjson.gz"), None);
        mde_platform::objects::validate_key(&key).expect("a valid key");
    }

    #[test]
    fn timestamps_round_trip_with_seven_fractional_digits() {
        let t = parse_time("2026-01-02T03:04:05.1234567+01:00").expect("time");
        assert_eq!(format_time(t), "2026-01-02T02:04:05.1234567Z");
        assert_eq!(parse_time(&format_time(t)), Some(t));
    }
}
