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
