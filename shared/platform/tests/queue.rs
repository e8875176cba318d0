//! Both queue adapters pass the same FIFO behavioural suite: SQS through the real SDK against moto, and the
//! in-process queue.

use std::sync::Arc;

use mde_platform::queue::{LocalQueue, SqsQueue};
use mde_platform::testing;

#[tokio::test]
async fn the_local_queue_passes_the_fifo_queue_suite() {
    testing::fifo_queue_suite(Arc::new(LocalQueue::new())).await;
}

#[tokio::test]
async fn sqs_passes_the_fifo_queue_suite() {
    let sdk = testing::aws_sdk_config().await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let name = format!("{}.fifo", testing::unique_name("jobs"));
    let created = client
        .create_queue()
        .queue_name(&name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create FIFO queue in moto");
    let url = created.queue_url.expect("queue url");
    testing::fifo_queue_suite(Arc::new(SqsQueue::new(client, url))).await;
}

/// Sends 205 messages at once (21 SQS batches, more than are sent at a time) and receives every one; the ids
/// answered are in the order of the bodies.
async fn send_many_delivers_every_message(queue: Arc<dyn mde_platform::Queue>) {
    let bodies: Vec<String> = (0..205).map(|i| format!("job-{i}")).collect();
    let ids = queue.send_many(&bodies).await.expect("send many");
    assert_eq!(ids.len(), bodies.len());
    let mut got = std::collections::HashMap::new();
    for _ in 0..100 {
        let batch = queue
            .receive(10, std::time::Duration::from_secs(60))
            .await
            .expect("receive");
        if batch.is_empty() {
            break;
        }
        got.extend(batch.into_iter().map(|m| (m.id, m.body)));
    }
    assert_eq!(got.len(), bodies.len(), "every message received once");
    for (id, body) in ids.iter().zip(&bodies) {
        assert_eq!(got.get(id), Some(body), "message id {id} belongs to {body}");
    }
}

#[tokio::test]
async fn both_queues_send_many_messages_at_once() {
    send_many_delivers_every_message(Arc::new(LocalQueue::new())).await;
    let sdk = testing::aws_sdk_config().await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let created = client
        .create_queue()
        .queue_name(testing::unique_name("fan-out"))
        .send()
        .await
        .expect("create a standard queue in moto");
    let url = created.queue_url.expect("queue url");
    send_many_delivers_every_message(Arc::new(SqsQueue::new(client, url))).await;
}

#[tokio::test]
async fn both_queues_delay_messages_and_change_their_visibility() {
    testing::delay_and_visibility_suite(Arc::new(LocalQueue::new())).await;
    let sdk = testing::aws_sdk_config().await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let created = client
        .create_queue()
        .queue_name(testing::unique_name("polls"))
        .send()
        .await
        .expect("create a standard queue in moto");
    let url = created.queue_url.expect("queue url");
    testing::delay_and_visibility_suite(Arc::new(SqsQueue::new(client, url))).await;
}
