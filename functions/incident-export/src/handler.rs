//! The Lambda handler, independent of the runtime: a scheduler payload (run or fan out) or an SQS batch of jobs.

use std::time::Instant;

use futures::StreamExt;
use mde_contracts::ExportJob;
use mde_platform::Queue;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{error, warn};

use crate::{ExportError, Exporter};

#[derive(Deserialize)]
struct SqsEvent {
    #[serde(rename = "Records")]
    records: Vec<SqsMessage>,
}

#[derive(Deserialize)]
struct SqsMessage {
    #[serde(rename = "messageId")]
    message_id: String,
    body: String,
    #[serde(rename = "eventSource", default)]
    event_source: Option<String>,
}

/// The jobs of an SQS event (`{"Records": [{"messageId", "body", "eventSource": "aws:sqs"}]}`), each with its
/// message id; `None` when the payload is not an SQS event.
pub fn jobs_from_sqs_event(payload: &Value) -> Option<Vec<(String, Result<ExportJob, ExportError>)>> {
    let event: SqsEvent = serde_json::from_value(payload.clone()).ok()?;
    if event
        .records
        .iter()
        .any(|m| m.event_source.as_deref() != Some("aws:sqs"))
    {
        return None;
    }
    Some(
        event
            .records
            .into_iter()
            .map(|m| {
                let job = serde_json::from_str(&m.body)
                    .map_err(|e| ExportError::InvalidJob(format!("message {}: {e}", m.message_id)));
                (m.message_id, job)
            })
            .collect(),
    )
}

/// Handles one invocation. A scheduler payload ([`ExportJob`]) runs the export and answers its summary, or with
/// `fan_out` enqueues one job per tenant on `queue`. An SQS event runs its jobs (up to `tenant_concurrency` at a
/// time) and answers
/// `{"batchItemFailures": [...]}` naming the messages whose export failed (SQS delivers them again, then to the
/// dead-letter queue); an invalid message is logged and dropped, as retrying cannot fix it.
pub async fn handle(
    exporter: &Exporter,
    queue: Option<&dyn Queue>,
    payload: Value,
    deadline: Instant,
) -> Result<Value, ExportError> {
    if let Some(jobs) = jobs_from_sqs_event(&payload) {
        // The batch's jobs run concurrently, as many at a time as a run's tenants (`tenant_concurrency`): a batch
        // of fan-out jobs (one tenant each) is then exported like one run of those tenants.
        let failures: Vec<Value> = futures::stream::iter(jobs)
            .map(|(message_id, job)| async move {
                // A job that fails, or cannot be read, goes back to the queue: after its retries it lands in the
                // dead-letter queue with the reason in the logs, never dropped.
                let outcome = match job {
                    Err(e) => Err(e),
                    Ok(job) => run_and_report(exporter, &job, deadline).await,
                };
                match outcome {
                    Ok(summary) if !summary.has_failures() => None,
                    Ok(_) => Some(json!({ "itemIdentifier": message_id })),
                    Err(e) => {
                        error!(message_id, error = %e, "export job refused; it returns to the queue");
                        Some(json!({ "itemIdentifier": message_id }))
                    }
                }
            })
            .buffer_unordered(exporter.tenant_concurrency())
            .filter_map(std::future::ready)
            .collect()
            .await;
        return Ok(json!({ "batchItemFailures": failures }));
    }
    let job: ExportJob = if payload.is_null() {
        ExportJob::default()
    } else {
        serde_json::from_value(payload).map_err(|e| {
            ExportError::InvalidJob(format!(
                "{e}; expected {{\"tenants\": [...]?, \"datasets\": [...]?, \"since\": \"<RFC 3339>\"?, \"fan_out\": bool?}}"
            ))
        })?
    };
    let summary = if job.fan_out {
        let Some(queue) = queue else {
            warn!("fan_out asked but no export queue is configured");
            return Err(ExportError::InvalidJob(
                "fan_out needs the export queue: set export.queue_url (MDE_BRIDGE_EXPORT_QUEUE_URL)".into(),
            ));
        };
        exporter.fan_out(&job, queue).await?
    } else {
        run_and_report(exporter, &job, deadline).await?
    };
    serde_json::to_value(&summary).map_err(|e| ExportError::Encode(std::io::Error::other(e)))
}

/// Runs a job and prints its CloudWatch Embedded Metric Format lines (in Lambda, stdout becomes metrics).
async fn run_and_report(
    exporter: &Exporter,
    job: &ExportJob,
    deadline: Instant,
) -> Result<mde_contracts::ExportRunSummary, ExportError> {
    let summary = exporter.run(job, deadline).await?;
    crate::metrics::emit(&summary, time::OffsetDateTime::now_utc());
    Ok(summary)
}
