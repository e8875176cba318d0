//! The Defender API client: MDE, Microsoft 365 Defender and Graph security, for every tenant of a process.
//!
//! One [`DefenderClient`] per process. Every call carries `Authorization: Bearer` (a token from the
//! [`crate::TokenSource`] for the operation's API, checked to hold one of the operation's documented permissions)
//! and the partner User-Agent; waits for the per-(tenant, API family) rate limiter; and is retried within bounds
//! (5xx, network errors and truncated bodies with backoff and jitter, 429 after `Retry-After`, a 401 once with a
//! fresh token; other 4xx never). Collections are async streams of pages; records that pass through to exports
//! keep the API's JSON byte for byte ([`Record`]). An export window is read as its body arrives
//! ([`DefenderClient::open_window`], [`DefenderClient::read_open_window`]): each record goes to the caller's sink
//! as a [`RecordView`] borrowing the raw JSON, parsed once, so memory does not depend on `$top`.

mod client;
pub mod endpoint;
mod export;
mod hunting;
mod incidents;
mod indicators;
mod limiter;
mod machines;
mod models;
pub mod odata;
mod paging;
mod reply;
mod stream;

pub use client::{ClientConfig, DefenderClient, RetryPolicy};
pub use endpoint::{Endpoint, action_operations, dataset_operation};
pub use export::{
    ExportWindow, OpenWindow, WindowAnswer, WindowCount, WindowPage, WindowReadError, has_count,
};
pub use indicators::MAX_INDICATOR_BATCH;
pub use limiter::{ApiFamily, RateLimit, RateLimitConfig};
pub use models::{
    AlertByReference, GraphAlertUpdate, GraphComment, GraphIncidentUpdate, HuntingColumn, HuntingResult,
    ImportResult, Indicator, IndicatorAction, IndicatorSeverity, IndicatorType, IsolationType,
    M365dIncidentUpdate, Machine, MachineAction, MdeAlertUpdate, NewIndicator, ResponseAction, ScanType,
};
pub use odata::{Filter, Query};
pub use paging::{Envelope, Page, PageStream, Record, decode_page};
pub use stream::RecordView;
