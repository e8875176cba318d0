use thiserror::Error;

/// Errors of the action executor. None carries a secret or a token.
#[derive(Debug, Error)]
pub enum ExecutorError {
    /// The configuration is incomplete or invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The object store (audit records, hunting results) failed.
    #[error("the audit store failed: {0}")]
    Store(mde_platform::PlatformError),
    /// An audit record is not one this version reads.
    #[error(
        "the audit record {location} cannot be read ({reason}): move it aside and the request starts over"
    )]
    CorruptAudit {
        /// Where it is.
        location: String,
        /// Why.
        reason: String,
    },
    /// Another delivery of the request wrote its audit record meanwhile; this one retries.
    #[error("the audit record {0} changed meanwhile (another delivery of the request)")]
    Concurrent(String),
    /// A queue failed (the poll queue, or a visibility change).
    #[error("the queue failed: {0}")]
    Queue(mde_platform::PlatformError),
    /// The invocation is not an SQS event.
    #[error("the invocation is not an SQS event: {0}")]
    NotAnSqsEvent(String),
}
