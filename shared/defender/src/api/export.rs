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
use tracing::warn;

use super::client::{Call, DefenderClient};
use super::endpoint::{self as ep, Endpoint};
use super::incidents::{GRAPH_ALERTS, GRAPH_INCIDENTS, M365D_INCIDENTS, MDE_ALERTS};
use super::odata::{
    Filter, GraphAlertProperty, GraphIncidentProperty, M365dIncidentProperty, MdeAlertExpand,
    MdeAlertProperty, Property, Query,
};
use super::paging::{Page, PageStream, Record};
use super::reply::{Head, Outcome, cut_short};
use super::stream::{EnvelopeReader, ReadError, RecordView, Step};
use crate::{DefenderError, Result};

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

/// A window request whose answer's status and headers are in (the request was retried until then): its
/// records are read with [`DefenderClient::read_open_window`]. Opening the next window while the current one is
/// read overlaps the service's time to answer with the reading; an open window that is not read is dropped.
pub struct OpenWindow<'a> {
    window: ExportWindow,
    dataset: Dataset,
    call: Call<'a>,
    top: u32,
    head: Head,
}

impl OpenWindow<'_> {
    /// The window asked for.
    pub fn window(&self) -> &ExportWindow {
        &self.window
    }
}

/// What the answer to one window request held, its records having gone to the reader's sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowAnswer {
    /// Records in the answer (of its last attempt, when its body had to be fetched again).
    pub rows: usize,
    /// `$top` as sent (after clamping).
    pub top: u32,
    /// Whether the answer carried `@odata.nextLink` (Graph): more rows exist.
    pub next_link: bool,
    /// The service's clock when it answered (its `Date` header), when it sent one.
    pub service_time: Option<OffsetDateTime>,
    /// Times the body was fetched again after it broke off: the sink saw the records before the break again.
    pub restarts: u32,
}

impl WindowAnswer {
    /// Whether the answer holds the whole window: see [`WindowPage::is_complete`].
    pub fn is_complete(&self) -> bool {
        !self.next_link && self.rows < self.top as usize
    }
}

/// A `$count` answer: the number, when the body is one, and the service's clock when it answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// Records the window holds; `None` when the answer is not a number.
    pub records: Option<u64>,
    /// The service's clock when it answered (its `Date` header), when it sent one.
    pub service_time: Option<OffsetDateTime>,
}

/// Why reading a window stopped: the API (after its retries), or the sink.
#[derive(Debug)]
pub enum WindowReadError<E> {
    /// The request failed, or its answer could not be read.
    Api(DefenderError),
    /// The sink refused a record.
    Sink(E),
}

/// Whether the service counts `dataset`'s records without sending them ([`DefenderClient::count_window`]): MDE
/// alerts only, by the `$count` path segment of Microsoft's OData samples.
pub fn has_count(dataset: Dataset) -> bool {
    dataset == Dataset::MdeAlerts
}

impl DefenderClient {
    /// Sends one window request of `dataset` (rate limiter, token, retries) and returns once its answer's status
    /// and headers are in.
    pub async fn open_window<'a>(
        &'a self,
        dataset: Dataset,
        tenant: &'a TenantId,
        window: ExportWindow,
    ) -> Result<OpenWindow<'a>> {
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
        let head = self.open(&call).await?;
        Ok(OpenWindow {
            window,
            dataset,
            call,
            top,
            head,
        })
    }

    /// How many records `window` holds, where the service can say without sending them: MDE alerts only, by the
    /// `$count` path segment (Microsoft's OData samples show it on alerts, `…/alerts/$count?$filter=…` answering a
    /// bare number; no count is documented for the other datasets' lists). `None` for the other datasets (no
    /// request is made). The number sizes windows only: nothing may depend on it being exact or current.
    pub async fn count_window(
        &self,
        dataset: Dataset,
        tenant: &TenantId,
        window: &ExportWindow,
    ) -> Result<Option<WindowCount>> {
        if !has_count(dataset) {
            return Ok(None);
        }
        let (endpoint, path) = collection(dataset);
        let mut url = self.url(endpoint, tenant, path, &["$count"]);
        // The filter alone: a `$top` (the list's default page size) could cap the number counted.
        let query = windowed(
            MdeAlertProperty::LastUpdateTime,
            MdeAlertProperty::AlertCreationTime,
            window.from,
            window.to,
            window.created,
            None,
            0,
        );
        if let Some(filter) = query.filter_value() {
            url.query_pairs_mut().append_pair("$filter", &filter.render());
        }
        let call = self.call(endpoint, tenant, Method::GET, url);
        self.execute_with(&call, |reply| {
            Ok(Some(WindowCount {
                records: std::str::from_utf8(&reply.body)
                    .ok()
                    .and_then(|text| text.trim().parse::<u64>().ok()),
                service_time: reply.date.map(OffsetDateTime::from),
            }))
        })
        .await
    }

    /// Reads an open window's answer record by record as it arrives, handing each to `sink` (memory does not
    /// depend on the page size). A body that breaks off is fetched again within the retry bounds; the sink then
    /// sees the records before the break a second time ([`WindowAnswer::restarts`]). An answer that is not the
    /// documented envelope is [`DefenderError::UnexpectedBody`], its content never quoted.
    pub async fn read_open_window<'a, E>(
        &'a self,
        open: OpenWindow<'a>,
        sink: &mut (dyn FnMut(RecordView<'_>) -> std::result::Result<(), E> + Send),
    ) -> std::result::Result<WindowAnswer, WindowReadError<E>> {
        let OpenWindow {
            dataset,
            call,
            top,
            mut head,
            ..
        } = open;
        let mut delays = self.backoff();
        let mut restarts = 0u32;
        loop {
            let status = head.status;
            let date = head.date;
            let read = read_envelope(&mut head.response, dataset, sink).await;
            let broke = match read {
                Ok((rows, next_link)) => {
                    return Ok(WindowAnswer {
                        rows,
                        top,
                        next_link,
                        service_time: date.map(OffsetDateTime::from),
                        restarts,
                    });
                }
                Err(Broken::Sink(e)) => return Err(WindowReadError::Sink(e)),
                Err(Broken::Invalid(reason)) => {
                    return Err(WindowReadError::Api(
                        Outcome::Unexpected { status, reason }.into_error(&call, restarts + 1),
                    ));
                }
                Err(Broken::Transient(reason)) => Outcome::Transient(reason),
            };
            let Some(wait) = delays.next() else {
                return Err(WindowReadError::Api(broke.into_error(&call, restarts + 1)));
            };
            warn!(
                tenant = %call.tenant,
                endpoint = call.endpoint.name,
                attempt = restarts + 1,
                wait_ms = wait.as_millis() as u64,
                reason = %broke,
                "the answer broke off: fetching the window again"
            );
            tokio::time::sleep(wait).await;
            restarts += 1;
            head = self.open(&call).await.map_err(WindowReadError::Api)?;
        }
    }

    /// Reads one window of `dataset` with one request (no paging), holding its records: see
    /// [`WindowPage::is_complete`]. An export streams instead ([`DefenderClient::read_open_window`]).
    pub async fn read_window(
        &self,
        dataset: Dataset,
        tenant: &TenantId,
        window: &ExportWindow,
    ) -> Result<WindowPage> {
        let open = self.open_window(dataset, tenant, *window).await?;
        let mut records = Vec::new();
        let mut sink = |view: RecordView<'_>| Record::from_view(&view).map(|r| records.push(r));
        let answer = match self.read_open_window(open, &mut sink).await {
            Ok(answer) => answer,
            Err(WindowReadError::Api(e)) => return Err(e),
            Err(WindowReadError::Sink(e)) => {
                return Err(DefenderError::UnexpectedBody {
                    tenant: tenant.clone(),
                    endpoint: collection(dataset).0.name,
                    status: 200,
                    reason: format!("a record could not be kept: {e}"),
                });
            }
        };
        // Only the last attempt's records: the sink saw the ones before a break twice.
        let keep = records.len() - answer.rows.min(records.len());
        records.drain(..keep);
        Ok(WindowPage {
            records,
            top: answer.top,
            next_link: answer.next_link,
            service_time: answer.service_time,
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

/// How reading a body broke off.
enum Broken<E> {
    Sink(E),
    Transient(String),
    Invalid(String),
}

/// Reads an answer's body chunk by chunk into the envelope reader, handing each record to `sink`; returns the
/// rows and whether a nextLink came.
async fn read_envelope<E>(
    response: &mut reqwest::Response,
    dataset: Dataset,
    sink: &mut (dyn FnMut(RecordView<'_>) -> std::result::Result<(), E> + Send),
) -> std::result::Result<(usize, bool), Broken<E>> {
    let status = response.status().as_u16();
    let mut reader = EnvelopeReader::default();
    let mut rows = 0usize;
    loop {
        match reader.next() {
            Ok(Step::Record(view)) => {
                let view = if dataset == Dataset::M365dIncidents {
                    view.keyed_by_incident_id()
                } else {
                    view
                };
                rows += 1;
                sink(view).map_err(Broken::Sink)?;
                // A body that keeps arriving never makes this loop wait: give the task's other futures (the
                // window requested ahead) their turn now and then, so that request goes out while this one is read.
                tokio::task::coop::consume_budget().await;
            }
            Ok(Step::NeedMore) => match response.chunk().await {
                Ok(Some(chunk)) => reader.feed(&chunk),
                Ok(None) => reader.finish(),
                Err(e) => return Err(Broken::Transient(cut_short(status, &e).to_string())),
            },
            Ok(Step::End) => return Ok((rows, reader.next_link().is_some())),
            Err(ReadError::Truncated(reason)) => return Err(Broken::Transient(reason)),
            Err(ReadError::Invalid(reason)) => return Err(Broken::Invalid(reason)),
        }
    }
}
