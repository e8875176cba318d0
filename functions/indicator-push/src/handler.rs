//! The Lambda handler, independent of the runtime: an SQS event in, `{"batchItemFailures": [...]}` out.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::Value;
use tracing::warn;

use crate::{Incoming, IndicatorPushError, MessageFate, Pusher};

/// Handles one invocation: pushes the batch, answers the deferred messages as `batchItemFailures` (SQS delivers
/// them again, then moves them to the dead-letter queue). When every message is deferred the invocation fails,
/// so Lambda slows the queue's polling (back-pressure) instead of spinning through retries.
pub async fn handle(pusher: &Pusher, payload: Value) -> Result<SqsBatchResponse, IndicatorPushError> {
    let event: SqsEvent =
        serde_json::from_value(payload).map_err(|e| IndicatorPushError::NotAnSqsEvent(e.to_string()))?;
    let batch: Vec<Incoming> = event
        .records
        .into_iter()
        .map(|m| Incoming {
            id: m.message_id.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
        })
        .collect();
    let outcome = pusher.push(&batch).await?;
    crate::metrics::emit(&outcome.summary, time::OffsetDateTime::now_utc());
    let mut response = SqsBatchResponse::default();
    let mut first_reason = None;
    for (id, fate) in &outcome.fates {
        if let MessageFate::Deferred(reason) = fate {
            warn!(message_id = %id, reason = %reason, "message deferred; it returns to the queue");
            first_reason.get_or_insert_with(|| reason.clone());
            response.add_failure(id.clone());
        }
    }
    if !batch.is_empty() && response.batch_item_failures.len() == batch.len() {
        return Err(IndicatorPushError::AllDeferred {
            count: batch.len(),
            reason: first_reason.unwrap_or_default(),
        });
    }
    Ok(response)
}
