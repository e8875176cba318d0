//! The four export datasets read by windows of last-update time: the one dataset → query mapping of the project.
//!
//! What this relies on, as Microsoft documents it (`defender-api.md` §3–§6, §8): each dataset's list filters on
//! its last-update property with `ge` and `lt` (OData v4, which the pages claim) and on its creation property;
//! `$top` bounds a page (MDE alerts ≤ 10,000, Microsoft 365 Defender incidents ≤ 100; Graph states no maximum);
//! Graph signals more rows with `@odata.nextLink`. What it does **not** rely on: any list order (none is
//! documented), `$orderby`, `$skip` over a set that changes, or Graph sending a nextLink when `$top` is given.
//! So a window is read with one request and is complete only when it came back with fewer rows than `$top` and
//! no nextLink; anything else is a full window, read again in smaller windows by the caller.

use futures::TryStreamExt;
use mde_contracts::{Dataset, TenantId};
use reqwest::Method;
use time::OffsetDateTime;

use super::client::DefenderClient;
use super::endpoint::{self as ep, Endpoint};
use super::incidents::{GRAPH_ALERTS, GRAPH_INCIDENTS, M365D_INCIDENTS, MDE_ALERTS};
use super::odata::{
    Filter, GraphAlertProperty, GraphIncidentProperty, M365dIncidentProperty, MdeAlertExpand,
    MdeAlertProperty, Property, Query,
};
use super::paging::{Envelope, Page, PageStream, Record};
use super::reply::decode;
use crate::Result;

/// One window of a dataset: records whose last update is in `[from, to)` (and, to split a window that is full at
/// a single instant, whose creation time is in `created`), at most `top` of them, `skip` in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportWindow {
    /// Last update at or after this.
    pub from: OffsetDateTime,
    /// Last update before this.
    pub to: OffsetDateTime,
    /// Creation time in `[start, end)`, when the window is split on it.
    pub created: Option<(OffsetDateTime, OffsetDateTime)>,
    /// `$top` (clamped to the collection's documented maximum).
    pub top: u32,
    /// `$skip`: only for the last-resort sweep of a cell that is full at one instant of both times.
    pub skip: u32,
}

/// The answer to one window request.
#[derive(Debug)]
pub struct WindowPage {
    /// The records, in whatever order the service chose.
    pub records: Vec<Record>,
    /// `$top` as sent (after clamping).
    pub top: u32,
    /// Whether the answer carried `@odata.nextLink` (Graph): more rows exist.
    pub next_link: bool,
    /// The service's clock when it answered (its `Date` header), when it sent one.
    pub service_time: Option<OffsetDateTime>,
}

impl WindowPage {
    /// Whether the page holds the whole window: fewer rows than `$top` and no nextLink. (A full page may hold the
    /// whole window too, but nothing documented tells, so it is read again in parts.)
    pub fn is_complete(&self) -> bool {
        !self.next_link && self.records.len() < self.top as usize
    }
}

/// The query of a dataset's window, typed per collection.
enum DatasetQuery {
    MdeAlerts(Query<MdeAlertProperty>),
    M365dIncidents(Query<M365dIncidentProperty>),
    GraphIncidents(Query<GraphIncidentProperty>),
    GraphAlerts(Query<GraphAlertProperty>),
}

/// `[from, to)` on `updated`, `created` on `created`, then `$top` / `$skip`.
fn windowed<P: Property>(
    updated: P,
    created: P,
    from: OffsetDateTime,
    to: OffsetDateTime,
    creation: Option<(OffsetDateTime, OffsetDateTime)>,
    top: Option<u32>,
    skip: u32,
) -> Query<P> {
    let mut filter = Filter::window(updated, from, to);
    if let Some((start, end)) = creation {
        filter = filter.and(Filter::window(created, start, end));
    }
    let q = Query::new().filter(filter).skip(skip);
    match top {
        Some(n) => q.top(n),
        None => q,
    }
}

fn dataset_query(
    dataset: Dataset,
    from: OffsetDateTime,
    to: OffsetDateTime,
    created: Option<(OffsetDateTime, OffsetDateTime)>,
    top: Option<u32>,
    skip: u32,
) -> DatasetQuery {
    match dataset {
        Dataset::MdeAlerts => DatasetQuery::MdeAlerts(
            windowed(
                MdeAlertProperty::LastUpdateTime,
                MdeAlertProperty::AlertCreationTime,
                from,
                to,
                created,
                top,
                skip,
            )
            .expand(MdeAlertExpand::Evidence),
        ),
        Dataset::M365dIncidents => DatasetQuery::M365dIncidents(windowed(
            M365dIncidentProperty::LastUpdateTime,
            M365dIncidentProperty::CreatedTime,
            from,
            to,
            created,
            top,
            skip,
        )),
        Dataset::GraphIncidents => DatasetQuery::GraphIncidents(windowed(
            GraphIncidentProperty::LastUpdateDateTime,
            GraphIncidentProperty::CreatedDateTime,
            from,
            to,
            created,
            top,
            skip,
        )),
        Dataset::GraphAlertsV2 => DatasetQuery::GraphAlerts(windowed(
            GraphAlertProperty::LastUpdateDateTime,
            GraphAlertProperty::CreatedDateTime,
            from,
            to,
            created,
            top,
            skip,
        )),
    }
}

/// The list operation and path of a dataset.
fn collection(dataset: Dataset) -> (&'static Endpoint, &'static str) {
    match dataset {
        Dataset::MdeAlerts => (ep::dataset_operation(dataset), MDE_ALERTS),
        Dataset::M365dIncidents => (ep::dataset_operation(dataset), M365D_INCIDENTS),
        Dataset::GraphIncidents => (ep::dataset_operation(dataset), GRAPH_INCIDENTS),
        Dataset::GraphAlertsV2 => (ep::dataset_operation(dataset), GRAPH_ALERTS),
    }
}

impl DefenderClient {
    /// Reads one window of `dataset` with one request (no paging): see [`WindowPage::is_complete`].
    pub async fn read_window(
        &self,
        dataset: Dataset,
        tenant: &TenantId,
        window: &ExportWindow,
    ) -> Result<WindowPage> {
        let query = dataset_query(
            dataset,
            window.from,
            window.to,
            window.created,
            Some(window.top),
            window.skip,
        );
        let (endpoint, path) = collection(dataset);
        let mut url = self.url(endpoint, tenant, path, &[]);
        let top = match &query {
            DatasetQuery::MdeAlerts(q) => {
                q.apply(&mut url);
                q.page_size()
            }
            DatasetQuery::M365dIncidents(q) => {
                q.apply(&mut url);
                q.page_size()
            }
            DatasetQuery::GraphIncidents(q) => {
                q.apply(&mut url);
                q.page_size()
            }
            DatasetQuery::GraphAlerts(q) => {
                q.apply(&mut url);
                q.page_size()
            }
        }
        .unwrap_or(window.top);
        let call = self.call(endpoint, tenant, Method::GET, url);
        let (envelope, date) = self
            .execute_with(&call, |reply| {
                decode::<Envelope<Record>>(reply.status, &reply.body).map(|e| (e, reply.date))
            })
            .await?;
        let mut records = envelope.value;
        if dataset == Dataset::M365dIncidents {
            records = records.into_iter().map(Record::keyed_by_incident_id).collect();
        }
        Ok(WindowPage {
            records,
            top,
            next_link: envelope.next_link.is_some(),
            service_time: date.map(OffsetDateTime::from),
        })
    }

    /// Every page of the records of `dataset` whose last update is in `[from, to)`, following the API's paging
    /// (`$skip`, or nextLink): for reading a quiet range. An export of a live tenant reads windows instead
    /// ([`DefenderClient::read_window`]): paging over a set that changes while it is read can skip records.
    pub fn export_pages<'a>(
        &'a self,
        dataset: Dataset,
        tenant: &'a TenantId,
        from: OffsetDateTime,
        to: OffsetDateTime,
        page_size: Option<u32>,
    ) -> PageStream<'a, Record> {
        let (endpoint, path) = collection(dataset);
        match dataset_query(dataset, from, to, None, page_size, 0) {
            DatasetQuery::MdeAlerts(q) => self.pages(endpoint, tenant, path, &q),
            DatasetQuery::M365dIncidents(q) => Box::pin(self.pages(endpoint, tenant, path, &q).map_ok(
                |mut page: Page<Record>| {
                    page.items = page.items.into_iter().map(Record::keyed_by_incident_id).collect();
                    page
                },
            )),
            DatasetQuery::GraphIncidents(q) => self.pages(endpoint, tenant, path, &q),
            DatasetQuery::GraphAlerts(q) => self.pages(endpoint, tenant, path, &q),
        }
    }
}
