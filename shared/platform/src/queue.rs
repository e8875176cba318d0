//! The `Queue` port: Amazon SQS, or an in-process queue with SQS semantics (visibility timeout, FIFO
//! message groups, deduplication ids).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::{PlatformError, Result, aws::sdk_error};

/// Options of one sent message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// FIFO message group: messages of one group are delivered in order, one in flight at a time.
    pub group_id: Option<String>,
    /// Deduplication id: a second message with the same id within five minutes is dropped.
    pub dedup_id: Option<String>,
    /// Deliver no sooner than this (standard queues only, up to 15 minutes: SQS FIFO queues have no
    /// per-message delay and refuse one).
    pub delay: Option<Duration>,
}

/// A received message. It stays invisible for the visibility timeout, then reappears unless deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// Message id.
    pub id: String,
    /// Handle to delete this receipt of the message.
    pub receipt: String,
    /// Body.
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

/// A message queue.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends a message; returns its id. A send whose deduplication id was used in the last five minutes is
    /// accepted but the message is not delivered.
    async fn send(&self, body: &str, options: &SendOptions) -> Result<String>;

    /// Sends several messages (plain queues: no group, no deduplication id), in as few calls as the queue
    /// allows (SQS: 10 per call, a few calls at once); returns their ids in order. Either every message is sent,
    /// or an error says which was not (the ones before it were; later ones may have been).
    async fn send_many(&self, bodies: &[String]) -> Result<Vec<String>> {
        let mut ids = Vec::with_capacity(bodies.len());
        for body in bodies {
            ids.push(self.send(body, &SendOptions::default()).await?);
        }
        Ok(ids)
    }

    /// Receives up to `max` (1..=10) visible messages and hides them for `visibility`.
    async fn receive(&self, max: u32, visibility: Duration) -> Result<Vec<QueueMessage>>;

    /// Deletes a received message; it will not be delivered again.
    async fn delete(&self, receipt: &str) -> Result<()>;

    /// Hides a received message for `visibility` from now (a retry's backoff: SQS redelivers it after).
    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> Result<()>;
}

/// SQS's longest delay and the longest visibility change the executor asks for.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// Amazon SQS.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    /// A queue by URL; the client is built once per process.
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Sends one `SendMessageBatch` call (≤ 10 bodies, the `chunk_index`-th of `send_many`'s `total`); returns
    /// the message ids in order, or names the first message that was not sent.
    async fn send_batch(&self, chunk_index: usize, chunk: &[String], total: usize) -> Result<Vec<String>> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| PlatformError::Encoding {
                        what: "an SQS batch entry".into(),
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_error("sqs", "SendMessageBatch", e))?;
        if let Some(failed) = out
            .failed
            .iter()
            .min_by_key(|f| f.id.parse::<usize>().unwrap_or(usize::MAX))
        {
            return Err(PlatformError::Aws {
                service: "sqs",
                operation: "SendMessageBatch",
                message: format!(
                    "message {} of {total} was not sent ({}: {}); the {} before it were, later ones may have been",
                    chunk_index * 10 + failed.id.parse::<usize>().unwrap_or(0) + 1,
                    failed.code,
                    failed.message.as_deref().unwrap_or("no message"),
                    chunk_index * 10 + failed.id.parse::<usize>().unwrap_or(0),
                ),
                retryable: !failed.sender_fault,
            });
        }
        let mut sent: Vec<_> = out.successful.into_iter().collect();
        sent.sort_by_key(|s| s.id.parse::<usize>().unwrap_or(usize::MAX));
        Ok(sent.into_iter().map(|s| s.message_id).collect())
    }
}

/// `SendMessageBatch` calls `send_many` keeps in flight at once.
const SEND_BATCHES_IN_FLIGHT: usize = 8;

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str, options: &SendOptions) -> Result<String> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .set_message_group_id(options.group_id.clone())
            .set_message_deduplication_id(options.dedup_id.clone())
            .set_delay_seconds(
                options
                    .delay
                    .map(|d| i32::try_from(d.min(MAX_DELAY).as_secs()).unwrap_or(900)),
            )
            .send()
            .await
            .map_err(|e| sdk_error("sqs", "SendMessage", e))?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn send_many(&self, bodies: &[String]) -> Result<Vec<String>> {
        use futures::{StreamExt, TryStreamExt};
        // A few calls in flight: a fan-out of 2,000 tenants is 200 calls, which one after the other take seconds.
        let calls: Vec<_> = bodies
            .chunks(10)
            .enumerate()
            .map(|(chunk_index, chunk)| self.send_batch(chunk_index, chunk, bodies.len()))
            .collect();
        let batches: Vec<Vec<String>> = futures::stream::iter(calls)
            .buffered(SEND_BATCHES_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(batches.into_iter().flatten().collect())
    }

    async fn receive(&self, max: u32, visibility: Duration) -> Result<Vec<QueueMessage>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(i32::try_from(visibility.as_secs()).unwrap_or(i32::MAX))
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .map_err(|e| sdk_error("sqs", "ReceiveMessage", e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                QueueMessage {
                    id: m.message_id.unwrap_or_default(),
                    receipt: m.receipt_handle.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                    receive_count,
                }
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| sdk_error("sqs", "DeleteMessage", e))?;
        Ok(())
    }

    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(visibility.as_secs()).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("sqs", "ChangeMessageVisibility", e))?;
        Ok(())
    }
}

const DEDUP_WINDOW: Duration = Duration::from_secs(300);

struct Entry {
    id: String,
    body: String,
    group: Option<String>,
    visible_at: Instant,
    receipt: Option<String>,
    receive_count: u32,
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    dedup: HashMap<String, (String, Instant)>,
}

/// An in-process queue with the semantics of an SQS FIFO queue (and of a standard one for messages
/// without a group). For the CLI and for tests of code that consumes a queue.
#[derive(Default)]
pub struct LocalQueue {
    state: Mutex<State>,
}

impl LocalQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that matters here.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, body: &str, options: &SendOptions) -> Result<String> {
        let now = Instant::now();
        let mut st = self.lock();
        st.dedup
            .retain(|_, (_, at)| now.duration_since(*at) < DEDUP_WINDOW);
        if let Some((id, _)) = options.dedup_id.as_ref().and_then(|d| st.dedup.get(d)) {
            return Ok(id.clone());
        }
        let id = uuid::Uuid::new_v4().to_string();
        if let Some(dedup) = &options.dedup_id {
            st.dedup.insert(dedup.clone(), (id.clone(), now));
        }
        st.entries.push(Entry {
            id: id.clone(),
            body: body.to_string(),
            group: options.group_id.clone(),
            visible_at: now + options.delay.unwrap_or_default().min(MAX_DELAY),
            receipt: None,
            receive_count: 0,
        });
        Ok(id)
    }

    async fn receive(&self, max: u32, visibility: Duration) -> Result<Vec<QueueMessage>> {
        let now = Instant::now();
        let mut st = self.lock();
        // A group with a message in flight from an earlier receive delivers nothing more until that message is
        // deleted or reappears; within one receive a group's messages come in order.
        let busy: Vec<String> = st
            .entries
            .iter()
            .filter(|e| e.visible_at > now)
            .filter_map(|e| e.group.clone())
            .collect();
        let mut out = Vec::new();
        for e in st.entries.iter_mut() {
            if out.len() >= max.clamp(1, 10) as usize {
                break;
            }
            if e.visible_at > now {
                continue;
            }
            if e.group.as_ref().is_some_and(|g| busy.contains(g)) {
                continue;
            }
            let receipt = uuid::Uuid::new_v4().to_string();
            e.visible_at = now + visibility;
            e.receipt = Some(receipt.clone());
            e.receive_count += 1;
            out.push(QueueMessage {
                id: e.id.clone(),
                receipt,
                body: e.body.clone(),
                receive_count: e.receive_count,
            });
        }
        Ok(out)
    }

    async fn delete(&self, receipt: &str) -> Result<()> {
        let mut st = self.lock();
        let before = st.entries.len();
        st.entries.retain(|e| e.receipt.as_deref() != Some(receipt));
        if st.entries.len() == before {
            return Err(PlatformError::Encoding {
                what: "queue receipt".into(),
                reason: "no message has this receipt handle (already deleted, or received again since)"
                    .into(),
            });
        }
        Ok(())
    }

    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> Result<()> {
        let now = Instant::now();
        let mut st = self.lock();
        let entry = st
            .entries
            .iter_mut()
            .find(|e| e.receipt.as_deref() == Some(receipt))
            .ok_or_else(|| PlatformError::Encoding {
                what: "queue receipt".into(),
                reason: "no message has this receipt handle (already deleted, or received again since)"
                    .into(),
            })?;
        entry.visible_at = now + visibility;
        Ok(())
    }
}
