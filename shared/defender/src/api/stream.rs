//! A collection answer read record by record as its body arrives, so memory does not depend on the page size:
//! [`EnvelopeReader`] takes the body in chunks and yields each element of `value` as a [`RecordView`] borrowing
//! the raw JSON (parsed once, by serde, for its keys and validity). The envelope's other members may come before
//! or after `value` in any order (`@odata.nextLink` is kept); JSON itself is parsed by `serde_json` only — this
//! module reads just the punctuation between the envelope's members and the array's elements.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::error::Category;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Bytes the reader wants unparsed before it tries to parse, so a record cut by a chunk boundary is parsed again
/// rarely (after a failed try it waits for twice as much: a huge record is parsed at most a few times).
const PARSE_AHEAD: usize = 64 * 1024;
/// The buffer's size: room for the unparsed tail and several chunks.
const HELD: usize = 4 * PARSE_AHEAD;

/// The keys read from a record: `id` (string) or `incidentId` (Microsoft 365 Defender, a number), and
/// `lastUpdateTime` (MDE, Microsoft 365 Defender) or `lastUpdateDateTime` (Graph), and the creation time
/// (`alertCreationTime`, `createdTime`, `createdDateTime`). Other fields are skipped.
#[derive(Deserialize)]
pub(crate) struct Keys<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "incidentId")]
    incident_id: Option<&'a serde_json::value::RawValue>,
    #[serde(default, borrow, rename = "lastUpdateTime")]
    last_update_time: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "lastUpdateDateTime")]
    last_update_date_time: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "alertCreationTime")]
    alert_creation_time: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "createdTime")]
    created_time: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "createdDateTime")]
    created_date_time: Option<Cow<'a, str>>,
}

/// What a record's keys say: id, incident id, last update, creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyFields<'a> {
    pub id: Option<Cow<'a, str>>,
    pub incident_id: Option<Cow<'a, str>>,
    pub last_update: Option<OffsetDateTime>,
    pub created: Option<OffsetDateTime>,
}

impl<'a> Keys<'a> {
    pub(crate) fn fields(self) -> KeyFields<'a> {
        let id = self.id.filter(|id| !id.is_empty());
        // A number, or a string in some renderings.
        let incident_id = self
            .incident_id
            .map(|n| match serde_json::from_str::<Cow<'a, str>>(n.get()) {
                Ok(s) => s,
                Err(_) => Cow::Borrowed(n.get()),
            })
            .filter(|id| !id.is_empty() && id != "null");
        let time = |t: Option<Cow<'_, str>>| t.and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok());
        KeyFields {
            id,
            incident_id,
            last_update: time(self.last_update_time.or(self.last_update_date_time)),
            created: time(
                self.alert_creation_time
                    .or(self.created_time)
                    .or(self.created_date_time),
            ),
        }
    }
}

/// One record of an answer, borrowed: its JSON as the API sent it and the keys read from it.
#[derive(Debug, Clone)]
pub struct RecordView<'a> {
    raw: &'a str,
    fields: KeyFields<'a>,
}

impl<'a> RecordView<'a> {
    /// Reads the keys of one record; fails when it is not a JSON object.
    pub fn parse(raw: &'a str) -> Result<Self, serde_json::Error> {
        // Serde also reads a struct from an array; a record is an object.
        if !raw.trim_start().starts_with('{') {
            return Err(serde::de::Error::custom("a record must be a JSON object"));
        }
        let keys: Keys<'a> = serde_json::from_str(raw)?;
        Ok(Self {
            raw,
            fields: keys.fields(),
        })
    }

    pub(crate) fn from_parts(raw: &'a str, fields: KeyFields<'a>) -> Self {
        Self { raw, fields }
    }

    /// The record of a collection whose id is `incidentId` (Microsoft 365 Defender incidents): see
    /// [`crate::api::Record::keyed_by_incident_id`].
    pub fn keyed_by_incident_id(mut self) -> Self {
        self.fields.id = self.fields.incident_id.take();
        self
    }

    /// The record's id (`id`, or `incidentId` for Microsoft 365 Defender incidents), when present and not empty.
    pub fn id(&self) -> Option<&str> {
        self.fields.id.as_deref()
    }

    /// When the record last changed (`lastUpdateTime` / `lastUpdateDateTime`), if present and valid.
    pub fn last_update(&self) -> Option<OffsetDateTime> {
        self.fields.last_update
    }

    /// When the record was created (`alertCreationTime` / `createdTime` / `createdDateTime`), if present and
    /// valid.
    pub fn created(&self) -> Option<OffsetDateTime> {
        self.fields.created
    }

    /// The JSON as the API returned it.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    pub(crate) fn into_fields(self) -> KeyFields<'a> {
        self.fields
    }
}

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The body ended before the JSON did.
    Truncated(String),
    /// Not JSON, or JSON of another shape.
    Invalid(String),
}

/// What [`EnvelopeReader::next`] found.
#[derive(Debug)]
pub(crate) enum Step<'a> {
    /// One record.
    Record(RecordView<'a>),
    /// More of the body is needed (feed it, or call `finish` at its end).
    NeedMore,
    /// The envelope is complete.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the envelope's `{`.
    Start,
    /// After `{` or `,`: a member name, or (after `{` only) `}`.
    Member { first: bool },
    /// After a member's value: `,` or `}`.
    AfterMember,
    /// After `[` or `,` inside `value`: an element, or (after `[` only) `]`.
    Element { first: bool },
    /// After an element: `,` or `]`.
    AfterElement,
    /// After the envelope's `}`.
    Done,
}

/// Reads `{"@odata.context": ..., "@odata.nextLink"?: ..., "value": [records]}` from chunks.
#[derive(Debug)]
pub(crate) struct EnvelopeReader {
    buf: Vec<u8>,
    pos: usize,
    /// Unparsed bytes wanted before the next parse.
    want: usize,
    finished: bool,
    state: State,
    saw_value: bool,
    next_link: Option<String>,
    /// Bytes of body read so far (for messages).
    total: usize,
}

impl Default for EnvelopeReader {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            want: PARSE_AHEAD,
            finished: false,
            state: State::Start,
            saw_value: false,
            next_link: None,
            total: 0,
        }
    }
}

impl EnvelopeReader {
    /// Appends a chunk of the body.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(HELD.max(chunk.len()));
        }
        // The unparsed tail moves to the front only when the chunk does not fit after it: with room for several
        // parse-aheads, most bytes are copied once (here) rather than once more per chunk.
        if self.pos > 0 && self.buf.len() + chunk.len() > self.buf.capacity() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
        self.total += chunk.len();
    }

    /// The body is complete.
    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }

    /// `@odata.nextLink`, once read.
    pub(crate) fn next_link(&self) -> Option<&str> {
        self.next_link.as_deref()
    }

    /// Whether the reader would rather have more bytes before parsing again.
    pub(crate) fn hungry(&self) -> bool {
        !self.finished && self.buf.len() - self.pos < self.want
    }

    fn skip_whitespace(&mut self) -> Option<u8> {
        while let Some(&b) = self.buf.get(self.pos) {
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                return Some(b);
            }
        }
        None
    }

    fn need_more(&mut self) -> Result<Step<'_>, ReadError> {
        if self.finished {
            return Err(ReadError::Truncated(format!(
                "truncated JSON ({} bytes): the answer ended inside the envelope",
                self.total
            )));
        }
        Ok(Step::NeedMore)
    }

    /// A parse that stopped at the end of the bytes held: more are needed (twice as many before trying again),
    /// or, at the end of the body, the answer is truncated.
    fn eof(&mut self, e: &serde_json::Error) -> Result<Step<'_>, ReadError> {
        if self.finished {
            return Err(ReadError::Truncated(format!(
                "truncated JSON ({} bytes): {e}",
                self.total
            )));
        }
        self.want = (self.buf.len() - self.pos).saturating_mul(2).max(PARSE_AHEAD);
        Ok(Step::NeedMore)
    }

    fn invalid(&self, what: &str) -> ReadError {
        let first = self.buf.iter().find(|b| !b.is_ascii_whitespace()).copied();
        if first == Some(b'<') {
            return ReadError::Invalid("an HTML or XML page instead of JSON".into());
        }
        ReadError::Invalid(format!(
            "JSON of an unexpected shape: {what} at byte {}",
            self.total - (self.buf.len() - self.pos)
        ))
    }

    /// The next record, `NeedMore`, or `End`.
    pub(crate) fn next(&mut self) -> Result<Step<'_>, ReadError> {
        loop {
            if self.hungry() && self.state != State::Done {
                return Ok(Step::NeedMore);
            }
            let Some(b) = self.skip_whitespace() else {
                if self.state == State::Done {
                    return Ok(Step::End);
                }
                return self.need_more();
            };
            match self.state {
                State::Start if b == b'{' => {
                    self.pos += 1;
                    self.state = State::Member { first: true };
                }
                State::Start => return Err(self.invalid("the answer is not a JSON object")),
                State::Member { first: true } if b == b'}' => {
                    self.pos += 1;
                    self.end_envelope()?;
                }
                State::Member { .. } => {
                    if b != b'"' {
                        return Err(self.invalid("a member name was expected"));
                    }
                    match self.member()? {
                        Some(step) => return Ok(step),
                        None => continue,
                    }
                }
                State::AfterMember => {
                    self.pos += 1;
                    match b {
                        b',' => self.state = State::Member { first: false },
                        b'}' => self.end_envelope()?,
                        _ => return Err(self.invalid("`,` or `}` was expected after a member")),
                    }
                }
                State::Element { first: true } if b == b']' => {
                    self.pos += 1;
                    self.state = State::AfterMember;
                }
                State::Element { .. } => return self.element(b),
                State::AfterElement => {
                    self.pos += 1;
                    match b {
                        b',' => self.state = State::Element { first: false },
                        b']' => self.state = State::AfterMember,
                        _ => return Err(self.invalid("`,` or `]` was expected after a record")),
                    }
                }
                State::Done => return Err(self.invalid("data after the end of the answer")),
            }
        }
    }

    fn end_envelope(&mut self) -> Result<(), ReadError> {
        if !self.saw_value {
            return Err(ReadError::Invalid(
                "JSON of an unexpected shape: missing field `value`".into(),
            ));
        }
        self.state = State::Done;
        Ok(())
    }

    /// One member of the envelope: its name, `:`, and its value (`value`'s `[` only). `None` when consumed,
    /// `Some(NeedMore)` when more bytes are needed (nothing consumed then).
    fn member(&mut self) -> Result<Option<Step<'static>>, ReadError> {
        let start = self.pos;
        let mut names = serde_json::Deserializer::from_slice(&self.buf[start..]).into_iter::<Cow<'_, str>>();
        let name = match names.next() {
            Some(Ok(name)) => name.into_owned(),
            Some(Err(e)) if e.classify() == Category::Eof => {
                return self.eof(&e).map(|_| Some(Step::NeedMore));
            }
            Some(Err(e)) => return Err(parse_error(&self.buf, &e)),
            None => return self.need_more().map(|_| Some(Step::NeedMore)),
        };
        let mut at = start + names.byte_offset();
        while self.buf.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        match self.buf.get(at) {
            None => return self.need_more().map(|_| Some(Step::NeedMore)),
            Some(b':') => at += 1,
            Some(_) => return Err(self.invalid("`:` was expected after a member name")),
        }
        while self.buf.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        let Some(&first) = self.buf.get(at) else {
            return self.need_more().map(|_| Some(Step::NeedMore));
        };
        if name == "value" {
            if first != b'[' {
                return Err(ReadError::Invalid(
                    "JSON of an unexpected shape: `value` is not an array".into(),
                ));
            }
            self.saw_value = true;
            self.pos = at + 1;
            self.state = State::Element { first: true };
            return Ok(None);
        }
        let rest = &self.buf[at..];
        let parsed = if name == "@odata.nextLink" {
            let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<Option<String>>();
            values.next().map(|r| r.map(|link| (link, values.byte_offset())))
        } else {
            let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<IgnoredAny>();
            values.next().map(|r| r.map(|_| (None, values.byte_offset())))
        };
        match parsed {
            Some(Ok((link, used))) => {
                // A number or literal that ends where the bytes held end may go on in the next chunk.
                let delimited = matches!(first, b'"' | b'{' | b'[');
                if !delimited && at + used == self.buf.len() && !self.finished {
                    return Ok(Some(Step::NeedMore));
                }
                if name == "@odata.nextLink" {
                    self.next_link = link;
                }
                self.pos = at + used;
                self.state = State::AfterMember;
                Ok(None)
            }
            Some(Err(e)) if e.classify() == Category::Eof => self.eof(&e).map(|_| Some(Step::NeedMore)),
            Some(Err(e)) => Err(parse_error(&self.buf, &e)),
            None => self.need_more().map(|_| Some(Step::NeedMore)),
        }
    }

    /// One element of `value`: a record. (Fields are used directly, not through `&mut self` methods: the record
    /// returned borrows the buffer.)
    fn element(&mut self, first: u8) -> Result<Step<'_>, ReadError> {
        if first != b'{' {
            return Err(ReadError::Invalid(
                "JSON of an unexpected shape: a record must be a JSON object".into(),
            ));
        }
        let start = self.pos;
        let buf = &self.buf;
        let mut records = serde_json::Deserializer::from_slice(&buf[start..]).into_iter::<Keys<'_>>();
        match records.next() {
            Some(Ok(keys)) => {
                let end = start + records.byte_offset();
                let Ok(raw) = simdutf8::basic::from_utf8(&buf[start..end]) else {
                    return Err(ReadError::Invalid("a record is not valid UTF-8".into()));
                };
                self.pos = end;
                self.want = PARSE_AHEAD;
                self.state = State::AfterElement;
                Ok(Step::Record(RecordView::from_parts(raw, keys.fields())))
            }
            Some(Err(e)) if e.classify() == Category::Eof && !self.finished => {
                self.want = (buf.len() - start).saturating_mul(2).max(PARSE_AHEAD);
                Ok(Step::NeedMore)
            }
            Some(Err(e)) if e.classify() == Category::Eof => Err(ReadError::Truncated(format!(
                "truncated JSON ({} bytes): {e}",
                self.total
            ))),
            Some(Err(e)) => Err(parse_error(buf, &e)),
            None if self.finished => Err(ReadError::Truncated(format!(
                "truncated JSON ({} bytes): the answer ended inside `value`",
                self.total
            ))),
            None => Ok(Step::NeedMore),
        }
    }
}

/// Describes why a body did not parse, without quoting it.
fn parse_error(buf: &[u8], e: &serde_json::Error) -> ReadError {
    let first = buf.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match (e.classify(), first) {
        (_, Some(b'<')) => ReadError::Invalid("an HTML or XML page instead of JSON".into()),
        (Category::Syntax, _) => ReadError::Invalid(format!("not JSON: {e}")),
        _ => ReadError::Invalid(format!("JSON of an unexpected shape: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (raw, id) of each record, and the nextLink.
    type Read = (Vec<(String, Option<String>)>, Option<String>);

    /// Reads `body` fed in chunks of `size`.
    fn read(body: &str, size: usize) -> Result<Read, ReadError> {
        let mut reader = EnvelopeReader::default();
        let mut chunks = body.as_bytes().chunks(size.max(1));
        let mut out = Vec::new();
        loop {
            match reader.next()? {
                Step::Record(r) => out.push((r.raw().to_owned(), r.id().map(str::to_owned))),
                Step::NeedMore => match chunks.next() {
                    Some(c) => reader.feed(c),
                    None => reader.finish(),
                },
                Step::End => return Ok((out, reader.next_link().map(str::to_owned))),
            }
        }
    }

    #[test]
    fn records_and_the_next_link_come_out_whatever_the_chunking_and_member_order() {
        let bodies = [
            r#"{"@odata.context":"x","value":[{"id":"a","n":1},{"id":"b","e":[{"x":"]}"}]}],"@odata.nextLink":"https://h/n"}"#,
            r#" { "@odata.nextLink" : "https://h/n" , "@odata.count": 12345, "value" : [ {"id":"a","n":1} ,
              {"id":"b","e":[{"x":"]}"}]} ] } "#,
        ];
        for body in bodies {
            for size in [1, 2, 3, 7, 64, 100_000] {
                let (records, link) = read(body, size).expect("reads");
                let ids: Vec<_> = records.iter().map(|(_, id)| id.clone()).collect();
                assert_eq!(ids, vec![Some("a".into()), Some("b".into())], "{size}");
                assert_eq!(records[0].0, r#"{"id":"a","n":1}"#);
                assert_eq!(records[1].0, r#"{"id":"b","e":[{"x":"]}"}]}"#);
                assert_eq!(link.as_deref(), Some("https://h/n"));
            }
        }
    }

    #[test]
    fn the_bytes_held_do_not_grow_with_the_page() {
        let record = format!(r#"{{"id":"a","evidence":"{}"}}"#, "x".repeat(3_000));
        for rows in [10usize, 1_000, 10_000] {
            let body = format!(r#"{{"value":[{}]}}"#, vec![record.as_str(); rows].join(","));
            let mut reader = EnvelopeReader::default();
            let mut chunks = body.as_bytes().chunks(16 * 1024);
            let (mut seen, mut most_held) = (0, 0);
            loop {
                most_held = most_held.max(reader.buf.capacity());
                match reader.next().expect("reads") {
                    Step::Record(_) => seen += 1,
                    Step::NeedMore => match chunks.next() {
                        Some(c) => reader.feed(c),
                        None => reader.finish(),
                    },
                    Step::End => break,
                }
            }
            assert_eq!(seen, rows);
            assert!(
                most_held <= 4 * PARSE_AHEAD,
                "{rows} rows: {most_held} bytes held"
            );
        }
    }

    #[test]
    fn an_empty_page_and_a_page_without_next_link() {
        assert_eq!(read(r#"{"value":[]}"#, 1).expect("reads"), (vec![], None));
        assert_eq!(
            read(r#"{"@odata.nextLink":null,"value":[]}"#, 5).expect("reads"),
            (vec![], None)
        );
    }

    #[test]
    fn truncated_and_malformed_answers_are_told_apart() {
        for body in [
            r#"{"value":[{"id":"a"}"#,
            r#"{"value":[{"id":"a","t":"sec"#,
            r#"{"value":["#,
            "",
            "{",
        ] {
            for size in [1, 4, 1000] {
                assert!(
                    matches!(read(body, size), Err(ReadError::Truncated(_))),
                    "{body:?} / {size}"
                );
            }
        }
        for body in [
            "<html>502</html>",
            r#"{"value":[1,2]}"#,
            r#"{"value":{"id":"a"}}"#,
            r#"{"value":[{"id":"a"} {"id":"b"}]}"#,
            r#"{"value":[{"id":7}]}"#,
            r#"{"other":[]}"#,
            r#"{"value":[]} trailing"#,
            r#"[{"id":"a"}]"#,
        ] {
            assert!(
                matches!(read(body, 3), Err(ReadError::Invalid(_))),
                "{body:?}: {:?}",
                read(body, 3)
            );
        }
    }

    #[test]
    fn a_truncated_answer_is_never_quoted() {
        let Err(ReadError::Truncated(reason)) = read(r#"{"value":[{"id":"a","secret":"s3cr3t"#, 4) else {
            panic!("truncated");
        };
        assert!(!reason.contains("s3cr3t"), "{reason}");
    }
}
