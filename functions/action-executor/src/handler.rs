//! The Lambda handler, independent of the runtime: an SQS event (the FIFO queue of requests, or the standard
//! queue of polls) in, `{"batchItemFailures": [...]}` out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use mde_platform::Queue;
use serde_json::Value;
use tracing::warn;

use crate::{Disposition, Executor, ExecutorError};

/// The queues messages come from, by queue name (the last part of a URL or an ARN): a retried message's
/// visibility is changed on its own queue, so its backoff grows with each receive.
#[derive(Default, Clone)]
pub struct QueueSet {
    by_name: HashMap<String, Arc<dyn Queue>>,
}

fn name_of(url_or_arn: &str) -> &str {
    url_or_arn.rsplit(['/', ':']).next().unwrap_or(url_or_arn)
}

impl QueueSet {
    /// Adds the queue at `url`.
    pub fn with(mut self, url: &str, queue: Arc<dyn Queue>) -> Self {
        self.by_name.insert(name_of(url).to_owned(), queue);
        self
    }

    fn of(&self, arn: &str) -> Option<&Arc<dyn Queue>> {
        self.by_name.get(name_of(arn))
    }
}

/// Handles one invocation. Messages run in order; a message to retry gets its visibility set to its backoff.
/// On a FIFO queue the first retry stops the batch and every later message is returned unprocessed, as AWS
/// requires for FIFO partial batch responses: a device's (or tenant's) requests never overtake one another.
pub async fn handle(
    executor: &Executor,
    queues: &QueueSet,
    payload: Value,
) -> Result<SqsBatchResponse, ExecutorError> {
    let event: SqsEvent =
        serde_json::from_value(payload).map_err(|e| ExecutorError::NotAnSqsEvent(e.to_string()))?;
    let mut response = SqsBatchResponse::default();
    let mut stopped = false;
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if stopped {
            response.add_failure(id);
            continue;
        }
        let arn = message.event_source_arn.clone().unwrap_or_default();
        let receive_count = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let body = message.body.as_deref().unwrap_or_default();
        if let Disposition::Retry { after, reason } = executor.handle_message(body, receive_count).await {
            warn!(message_id = %id, retry_in_seconds = after.as_secs(), reason = %reason, "message returns to its queue");
            if let (Some(queue), Some(receipt)) = (queues.of(&arn), message.receipt_handle.as_deref())
                && let Err(e) = queue.change_visibility(receipt, after).await
            {
                warn!(message_id = %id, error = %e, "its backoff could not be set; the queue's visibility timeout applies");
            }
            response.add_failure(id);
            stopped = arn.ends_with(".fifo");
        }
    }
    Ok(response)
}

/// What [`drain`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Messages done (deleted).
    pub done: usize,
    /// Messages returned for a retry later.
    pub retried: usize,
}

/// Runs the visible messages of `queue` through the executor until none is left visible — the event source
/// mapping's stand-in for the CLI and tests. Done messages are deleted; a retried one is hidden for its backoff
/// and the rest of its batch released unprocessed (FIFO order, as [`handle`]).
pub async fn drain(executor: &Executor, queue: &dyn Queue) -> Result<DrainReport, ExecutorError> {
    let mut report = DrainReport::default();
    loop {
        let batch = queue
            .receive(10, Duration::from_secs(300))
            .await
            .map_err(ExecutorError::Queue)?;
        if batch.is_empty() {
            return Ok(report);
        }
        let mut messages = batch.into_iter();
        for m in messages.by_ref() {
            match executor.handle_message(&m.body, m.receive_count).await {
                Disposition::Done => {
                    queue.delete(&m.receipt).await.map_err(ExecutorError::Queue)?;
                    report.done += 1;
                }
                Disposition::Retry { after, .. } => {
                    queue
                        .change_visibility(&m.receipt, after)
                        .await
                        .map_err(ExecutorError::Queue)?;
                    report.retried += 1;
                    break;
                }
            }
        }
        for rest in messages {
            queue
                .change_visibility(&rest.receipt, Duration::ZERO)
                .await
                .map_err(ExecutorError::Queue)?;
        }
    }
}
