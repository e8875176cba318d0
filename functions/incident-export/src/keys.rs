//! Object keys and the timestamp format of everything the export writes.

use mde_contracts::{Dataset, TenantId};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The checkpoint of a (tenant, dataset): `checkpoints/<dataset>/tenant=<id>.json`.
pub fn checkpoint_key(dataset: Dataset, tenant: &TenantId) -> String {
    format!("checkpoints/{dataset}/tenant={tenant}.json")
}

/// An export object: `<dataset>/tenant=<id>/dt=YYYY-MM-DD/hour=HH/<run-id>-<seq>.ndjson.gz` (`at` is when it
/// was started; `seq` counts the run's objects of this tenant and dataset).
pub(crate) fn object_key(
    dataset: Dataset,
    tenant: &TenantId,
    at: OffsetDateTime,
    run_id: &str,
    seq: u32,
) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{dataset}/tenant={tenant}/dt={:04}-{:02}-{:02}/hour={:02}/{run_id}-{seq:05}.ndjson.gz",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour()
    )
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
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// Parses an RFC 3339 timestamp.
pub(crate) fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_follow_the_documented_partition_layout() {
        let tenant: TenantId = "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17".parse().expect("guid");
        let at = parse_time("2026-11-23T07:05:00Z").expect("time");
        assert_eq!(
            object_key(Dataset::MdeAlerts, &tenant, at, "run", 3),
            "mde_alerts/tenant=8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17/dt=2026-11-23/hour=07/run-00003.ndjson.gz"
        );
        mde_platform::objects::validate_key(&object_key(Dataset::GraphAlertsV2, &tenant, at, &run_id(at), 0))
            .expect("a valid key");
    }

    #[test]
    fn timestamps_round_trip_with_seven_fractional_digits() {
        let t = parse_time("2026-01-02T03:04:05.1234567+01:00").expect("time");
        assert_eq!(format_time(t), "2026-01-02T02:04:05.1234567Z");
        assert_eq!(parse_time(&format_time(t)), Some(t));
    }
}
