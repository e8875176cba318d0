//! Paging as an async stream of pages, so callers hold one page at a time: `$top`/`$skip` where the API documents
//! only that (a short page ends it), `@odata.nextLink` where given — followed only while it stays on the configured
//! API host, so the token never leaves the configured cloud.

use std::borrow::Cow;
use std::pin::Pin;

use futures::Stream;
use mde_contracts::TenantId;
use reqwest::Method;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use url::Url;

use super::client::DefenderClient;
use super::endpoint::Endpoint;
use super::odata::{Paging, Property, Query};
use super::reply::decode;
use super::stream::{KeyFields, RecordView};
use crate::{DefenderError, Result};

/// A stream of pages.
pub type PageStream<'a, T> = Pin<Box<dyn Stream<Item = Result<Page<T>>> + Send + 'a>>;

/// One page of a collection.
#[derive(Debug)]
pub struct Page<T> {
    /// The records of the page, in the API's order.
    pub items: Vec<T>,
    /// 0 for the first page.
    pub index: usize,
}

/// A record that passes through to an export: the API's JSON kept byte for byte (every field, known or not), with
/// its id and last-update time read once. Either may be absent: a malformed record is still a record, and what to
/// do with it is the caller's decision, not a reason to fail its page.
#[derive(Debug, Clone)]
pub struct Record {
    raw: Box<RawValue>,
    id: Option<String>,
    /// `incidentId`: the id of a Microsoft 365 Defender incident, a reference anywhere else (MDE and Graph
    /// alerts carry their incident's).
    incident_id: Option<String>,
    last_update: Option<OffsetDateTime>,
    created: Option<OffsetDateTime>,
}

impl Record {
    /// Reads the keys of one record; fails only when it is not a JSON object.
    pub fn from_raw(raw: Box<RawValue>) -> std::result::Result<Self, serde_json::Error> {
        let fields = RecordView::parse(raw.get())?.into_fields();
        Ok(Self {
            id: fields.id.map(Cow::into_owned),
            incident_id: fields.incident_id.map(Cow::into_owned),
            last_update: fields.last_update,
            created: fields.created,
            raw,
        })
    }

    /// An owned copy of a borrowed record.
    pub fn from_view(view: &RecordView<'_>) -> std::result::Result<Self, serde_json::Error> {
        Ok(Self {
            raw: RawValue::from_string(view.raw().to_owned())?,
            id: view.id().map(str::to_owned),
            incident_id: None,
            last_update: view.last_update(),
            created: view.created(),
        })
    }

    /// The record, borrowed.
    pub fn view(&self) -> RecordView<'_> {
        RecordView::from_parts(
            self.raw.get(),
            KeyFields {
                id: self.id.as_deref().map(Cow::Borrowed),
                incident_id: self.incident_id.as_deref().map(Cow::Borrowed),
                last_update: self.last_update,
                created: self.created,
            },
        )
    }

    /// The record of a collection whose id is `incidentId` (Microsoft 365 Defender incidents): only there is it
    /// the record's own id; an alert without `id` must not borrow its incident's. The listing of that collection
    /// applies it; a reader of stored records of it (an export read back) must too.
    pub fn keyed_by_incident_id(mut self) -> Self {
        self.id = self.incident_id.take();
        self
    }

    /// The record's id (`id`, or `incidentId` for Microsoft 365 Defender incidents), when present and not empty.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// When the record last changed (`lastUpdateTime` / `lastUpdateDateTime`), if present and valid.
    pub fn last_update(&self) -> Option<OffsetDateTime> {
        self.last_update
    }

    /// When the record was created (`alertCreationTime` / `createdTime` / `createdDateTime`), if present and
    /// valid.
    pub fn created(&self) -> Option<OffsetDateTime> {
        self.created
    }

    /// The JSON as the API returned it.
    pub fn raw(&self) -> &RawValue {
        &self.raw
    }

    /// The JSON as the API returned it, owned.
    pub fn into_raw(self) -> Box<RawValue> {
        self.raw
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Record::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

/// A collection envelope: `{"@odata.context", "@odata.nextLink"?, "value": [...]}`.
#[derive(Deserialize)]
pub struct Envelope<T> {
    /// The next page (Graph).
    #[serde(default, rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    /// The records.
    pub value: Vec<T>,
}

/// Decodes one collection page (used by the client and the decoding benchmark).
pub fn decode_page<T: DeserializeOwned>(body: &[u8]) -> std::result::Result<Envelope<T>, serde_json::Error> {
    serde_json::from_slice(body)
}

enum Next {
    Url(Url, u32),
    Refused(DefenderError),
    Done,
}

impl DefenderClient {
    /// Pages of a collection: `path` under the operation's API with `query`, paged as the collection documents.
    pub(crate) fn pages<'a, P: Property, T: DeserializeOwned + Send + 'a>(
        &'a self,
        endpoint: &'static Endpoint,
        tenant: &'a TenantId,
        path: &'static str,
        query: &Query<P>,
    ) -> PageStream<'a, T> {
        let mut first = self.url(endpoint, tenant, path, &[]);
        query.apply(&mut first);
        let page_size = query.page_size();
        let state = (Next::Url(first, query.skip_value()), 0usize);
        Box::pin(futures::stream::unfold(state, move |(next, index)| async move {
            let (url, skip) = match next {
                Next::Url(url, skip) => (url, skip),
                Next::Refused(e) => return Some((Err(e), (Next::Done, index))),
                Next::Done => return None,
            };
            let call = self.call(endpoint, tenant, Method::GET, url);
            let envelope = match self
                .execute_with(&call, |reply| decode::<Envelope<T>>(reply.status, &reply.body))
                .await
            {
                Ok(e) => e,
                Err(e) => return Some((Err(e), (Next::Done, index))),
            };
            let count = envelope.value.len();
            let next = match P::PAGING {
                // A full page may have a successor; a short (or empty) one is the last.
                Paging::Skip => match page_size {
                    Some(size) if count > 0 && count >= size as usize => {
                        let skip = skip.saturating_add(u32::try_from(count).unwrap_or(u32::MAX));
                        let mut url = self.url(endpoint, tenant, path, &[]);
                        query_with_skip(&mut url, &call.url, skip);
                        Next::Url(url, skip)
                    }
                    _ => Next::Done,
                },
                Paging::NextLink => match envelope.next_link.as_deref() {
                    None => Next::Done,
                    Some(link) => match self.check_next_link(endpoint, tenant, link) {
                        Ok(url) => Next::Url(url, 0),
                        Err(e) => Next::Refused(e),
                    },
                },
            };
            let page = Page {
                items: envelope.value,
                index,
            };
            Some((Ok(page), (next, index + 1)))
        }))
    }

    /// A nextLink is followed only when its scheme, host and port are those of the configured API base URL.
    fn check_next_link(&self, endpoint: &Endpoint, tenant: &TenantId, link: &str) -> Result<Url> {
        let endpoints = self.clouds.endpoints(tenant);
        let base = &endpoints.api(endpoint.audience).base_url;
        let foreign = |origin: String| DefenderError::ForeignNextLink {
            tenant: tenant.clone(),
            endpoint: endpoint.name,
            link_origin: origin,
            expected_origin: base.origin().ascii_serialization(),
        };
        let url = Url::parse(link).map_err(|_| foreign("an unparsable URL".to_owned()))?;
        let same = url.scheme() == base.scheme()
            && url.host_str().map(str::to_ascii_lowercase) == base.host_str().map(str::to_ascii_lowercase)
            && url.port_or_known_default() == base.port_or_known_default()
            // Credentials in a link would go out beside the bearer token (as Basic): never followed.
            && url.username().is_empty()
            && url.password().is_none();
        if same {
            Ok(url)
        } else if !url.username().is_empty() || url.password().is_some() {
            Err(foreign(format!(
                "{} with credentials in the link",
                url.origin().ascii_serialization()
            )))
        } else {
            Err(foreign(url.origin().ascii_serialization()))
        }
    }
}

/// Copies the query of `previous` with `$skip` replaced.
fn query_with_skip(url: &mut Url, previous: &Url, skip: u32) {
    let pairs: Vec<(String, String)> = previous
        .query_pairs()
        .filter(|(k, _)| k != "$skip")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut q = url.query_pairs_mut();
    for (k, v) in &pairs {
        q.append_pair(k, v);
    }
    q.append_pair("$skip", &skip.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> std::result::Result<Record, serde_json::Error> {
        Record::from_raw(RawValue::from_string(json.to_owned())?)
    }

    #[test]
    fn ids_come_from_id_or_incident_id_and_may_be_absent() -> std::result::Result<(), serde_json::Error> {
        assert_eq!(
            record(r#"{"id":"da1","lastUpdateTime":"2026-01-01T00:00:00Z"}"#)?.id(),
            Some("da1")
        );
        let incident = |json| record(json).map(Record::keyed_by_incident_id);
        assert_eq!(incident(r#"{"incidentId":42}"#)?.id(), Some("42"));
        assert_eq!(incident(r#"{"incidentId":"42"}"#)?.id(), Some("42"));
        let alert_without_id = record(r#"{"incidentId":42,"title":"an alert"}"#)?;
        assert_eq!(
            alert_without_id.id(),
            None,
            "an alert never takes its incident's id"
        );
        let missing = record(r#"{"title":"no id","lastUpdateDateTime":"2026-01-01T00:00:00Z"}"#)?;
        assert_eq!(missing.id(), None);
        assert!(missing.last_update().is_some());
        assert_eq!(record(r#"{"id":""}"#)?.id(), None);
        let no_time = record(r#"{"id":"x","lastUpdateTime":"yesterday"}"#)?;
        assert_eq!(no_time.last_update(), None);
        assert_eq!(no_time.raw().get(), r#"{"id":"x","lastUpdateTime":"yesterday"}"#);
        Ok(())
    }

    #[test]
    fn only_a_non_object_is_refused() {
        assert!(record("42").is_err());
        assert!(record(r#"["id"]"#).is_err());
    }
}
