//! One export object being built: NDJSON lines (the record unchanged inside its envelope) streamed into a gzip
//! encoder, so only the compressed object is held in memory. A line is assembled in one reused buffer — the
//! envelope's constant part once per object, the record's bytes copied as they came — and compressed with one
//! call.

use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use mde_contracts::RecordFlag;
use mde_defender::api::RecordView;
use serde::Serialize;
use sha2::{Digest, Sha256};

use time::OffsetDateTime;

use crate::keys::{format_time, write_time};

/// The dedupe identity of a record: `<id>:<lastUpdate>`, and what is missing from it. Read into one buffer reused
/// from record to record ([`Version::read`]), so a record already exported costs no allocation.
#[derive(Debug, Default)]
pub(crate) struct Version {
    /// `<id>:<lastUpdate>`; a part the record lacks is replaced by `sha256-<hex>` of the record's JSON, so two
    /// different malformed records never share a key (which would drop one) and the same one always does.
    key: String,
    /// Where the id part of `key` ends (the record's id, or its content hash).
    id_len: usize,
    /// The record's last update, when it has one (`key` then ends with its normalised text).
    at: Option<OffsetDateTime>,
    /// What the record lacks.
    flags: Vec<RecordFlag>,
}

impl Version {
    /// The version of `record`, in a buffer of its own.
    pub(crate) fn of(record: &RecordView<'_>) -> Self {
        let mut version = Self::default();
        version.read(record);
        version
    }

    /// Makes this the version of `record`, reusing the buffer.
    pub(crate) fn read(&mut self, record: &RecordView<'_>) {
        self.key.clear();
        self.flags.clear();
        let content = |key: &mut String| {
            key.push_str("sha256-");
            key.push_str(&hex::encode(Sha256::digest(record.raw())));
        };
        match record.id() {
            Some(id) => self.key.push_str(id),
            None => {
                self.flags.push(RecordFlag::MissingId);
                content(&mut self.key);
            }
        }
        self.id_len = self.key.len();
        self.key.push(':');
        self.at = record.last_update();
        match self.at {
            Some(at) => write_time(&mut self.key, at),
            None => {
                self.flags.push(RecordFlag::MissingLastUpdate);
                content(&mut self.key);
            }
        }
    }

    /// `<id>:<lastUpdate>`.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The id part of the key: the record's id, or its content hash.
    pub(crate) fn id(&self) -> &str {
        &self.key[..self.id_len]
    }

    /// The record's last update and its normalised text, when it has one.
    pub(crate) fn last_update(&self) -> Option<(OffsetDateTime, &str)> {
        self.at.map(|at| (at, &self.key[self.id_len + 1..]))
    }

    /// What the record lacks.
    pub(crate) fn flags(&self) -> &[RecordFlag] {
        &self.flags
    }
}

/// The envelope's constant members, in the order of [`mde_contracts::RecordEnvelope`].
#[derive(Serialize)]
struct Constant<'a> {
    tenant_id: &'a str,
    dataset: &'a str,
    exported_at: &'a str,
}

/// A gzip NDJSON object under construction.
pub(crate) struct ObjectWriter {
    gz: GzEncoder<Vec<u8>>,
    /// `{"tenant_id":…,"dataset":…,"exported_at":…,"dedupe_key":`: the same for every line of the object.
    prefix: Vec<u8>,
    line: Vec<u8>,
    records: u64,
}

impl ObjectWriter {
    pub(crate) fn new(
        level: u32,
        tenant: &str,
        dataset: &'static str,
        exported_at: time::OffsetDateTime,
    ) -> Self {
        let exported_at = format_time(exported_at);
        let constant = Constant {
            tenant_id: tenant,
            dataset,
            exported_at: &exported_at,
        };
        // Serialising three strings into a Vec cannot fail.
        let mut prefix = serde_json::to_vec(&constant).unwrap_or_default();
        prefix.pop();
        prefix.extend_from_slice(b",\"dedupe_key\":");
        Self {
            gz: GzEncoder::new(Vec::new(), Compression::new(level)),
            prefix,
            line: Vec::new(),
            records: 0,
        }
    }

    /// Appends one line: `{<constant>,"dedupe_key":…,"flags"?:[…],"record":<the record's JSON>}`.
    pub(crate) fn write(&mut self, record: &RecordView<'_>, version: &Version) -> std::io::Result<()> {
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(&self.prefix);
        serde_json::to_writer(&mut *line, version.key()).map_err(std::io::Error::other)?;
        if !version.flags().is_empty() {
            line.extend_from_slice(b",\"flags\":");
            serde_json::to_writer(&mut *line, version.flags()).map_err(std::io::Error::other)?;
        }
        line.extend_from_slice(b",\"record\":");
        let start = line.len();
        line.extend_from_slice(record.raw().as_bytes());
        // JSON may carry line breaks between its tokens (never inside a string): one record, one line.
        if memchr::memchr2(b'\n', b'\r', record.raw().as_bytes()).is_some() {
            for b in &mut line[start..] {
                if matches!(*b, b'\n' | b'\r') {
                    *b = b' ';
                }
            }
        }
        line.extend_from_slice(b"}\n");
        self.gz.write_all(line)?;
        self.records += 1;
        Ok(())
    }

    /// Compressed bytes produced so far (the encoder may hold a little more).
    pub(crate) fn compressed_len(&self) -> usize {
        self.gz.get_ref().len()
    }

    /// Lines written.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// Closes the gzip stream.
    pub(crate) fn finish(self) -> std::io::Result<Bytes> {
        self.gz.finish().map(Bytes::from)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn record(json: &str) -> RecordView<'_> {
        RecordView::parse(json).expect("record")
    }

    #[test]
    fn a_line_keeps_the_record_byte_for_byte_inside_the_envelope() {
        let raw =
            r#"{"id":"a1","lastUpdateTime":"2026-11-23T10:00:00.1234567Z","unknownField":{"x":[1,2.50]}}"#;
        let rec = record(raw);
        let version = Version::of(&rec);
        assert_eq!(version.key(), "a1:2026-11-23T10:00:00.1234567Z");
        let at = crate::keys::parse_time("2026-11-23T11:00:00Z").expect("time");
        let mut w = ObjectWriter::new(6, "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17", "mde_alerts", at);
        w.write(&rec, &version).expect("write");
        let gz = w.finish().expect("finish");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .expect("gunzip");
        assert!(text.ends_with('\n'));
        assert!(text.contains(&format!("\"record\":{raw}")), "{text}");
        let envelope: mde_contracts::RecordEnvelope =
            serde_json::from_str(text.trim_end()).expect("contract shape");
        assert_eq!(envelope.dedupe_key, version.key);
        assert!(envelope.flags.is_empty());
    }

    #[test]
    fn a_record_spread_over_lines_is_written_on_one_line_and_reads_back_equal() {
        let raw = "{\"id\":\"a3\",\r\n  \"lastUpdateTime\": \"2026-11-23T10:00:00Z\",\n  \"title\": \"two\\nlines\"\n}";
        let rec = record(raw);
        let tenant = "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17";
        let mut w = ObjectWriter::new(6, tenant, "mde_alerts", time::OffsetDateTime::UNIX_EPOCH);
        w.write(&rec, &Version::of(&rec)).expect("write");
        w.write(&rec, &Version::of(&rec)).expect("write");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&w.finish().expect("finish")[..])
            .read_to_string(&mut text)
            .expect("gunzip");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let envelope: mde_contracts::RecordEnvelope = serde_json::from_str(lines[0]).expect("contract shape");
        let original: serde_json::Value = serde_json::from_str(raw).expect("json");
        assert_eq!(envelope.record, original);
        assert_eq!(envelope.record["title"], "two\nlines");
    }

    #[test]
    fn a_record_without_last_update_is_kept_and_flagged() {
        let rec = record(r#"{"id":"a2","title":"no timestamp"}"#);
        let version = Version::of(&rec);
        assert_eq!(version.flags(), [RecordFlag::MissingLastUpdate]);
        assert!(version.key().starts_with("a2:sha256-"), "{}", version.key());
        assert_eq!(
            Version::of(&rec).key(),
            version.key(),
            "the same record, the same key"
        );
        let changed = Version::of(&record(r#"{"id":"a2","title":"changed, still no timestamp"}"#));
        assert_ne!(changed.key(), version.key(), "another version, another key");
        let mut w = ObjectWriter::new(1, "t", "mde_alerts", time::OffsetDateTime::UNIX_EPOCH);
        w.write(&rec, &version).expect("write");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&w.finish().expect("finish")[..])
            .read_to_string(&mut text)
            .expect("gunzip");
        assert!(text.contains(r#""flags":["missing_last_update"]"#), "{text}");
    }

    #[test]
    fn records_without_id_are_kept_flagged_and_never_share_a_key() {
        let a = record(r#"{"title":"first","lastUpdateTime":"2026-11-23T10:00:00Z"}"#);
        let b = record(r#"{"title":"second","lastUpdateTime":"2026-11-23T10:00:00Z"}"#);
        let (va, vb) = (Version::of(&a), Version::of(&b));
        assert_eq!(va.flags(), [RecordFlag::MissingId]);
        assert!(
            va.key().starts_with("sha256-") && va.key().ends_with(":2026-11-23T10:00:00.0000000Z"),
            "{}",
            va.key()
        );
        assert_ne!(va.key(), vb.key());
        let both = Version::of(&record(r#"{"title":"nothing"}"#));
        assert_eq!(
            both.flags(),
            [RecordFlag::MissingId, RecordFlag::MissingLastUpdate]
        );
    }
}
