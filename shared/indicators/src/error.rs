use thiserror::Error;

/// Errors of indicator-push that stop a whole push (an indicator's own problems are rejects, not errors).
#[derive(Debug, Error)]
pub enum IndicatorPushError {
    /// The tenant registry could not be read.
    #[error("the tenant registry could not be read: {0}")]
    Registry(#[source] mde_platform::PlatformError),
    /// A setting is out of range, or the token source cannot be set up.
    #[error("{0}")]
    InvalidSetting(String),
    /// The invocation is not an SQS event.
    #[error("not an SQS event: {0}; indicator-push is triggered by its SQS queue")]
    NotAnSqsEvent(String),
    /// Every message of the batch is to retry: the invocation fails so Lambda backs off (back-pressure).
    #[error("every message of the batch was deferred ({count}); first reason: {reason}")]
    AllDeferred {
        /// Messages.
        count: usize,
        /// The first reason.
        reason: String,
    },
}
