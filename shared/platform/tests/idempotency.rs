//! The idempotency store's adapters against the same suite: in memory, and DynamoDB through the real SDK
//! against moto server.

use std::sync::Arc;

use mde_platform::idempotency::{DynamoIdempotency, MemoryIdempotency};
use mde_platform::testing;

#[tokio::test]
async fn the_memory_store_passes_the_idempotency_suite() {
    testing::idempotency_suite(Arc::new(MemoryIdempotency::new())).await;
}

#[tokio::test]
async fn dynamodb_passes_the_idempotency_suite() {
    let sdk = testing::aws_sdk_config().await;
    let table = testing::create_idempotency_table(&sdk).await;
    let store = DynamoIdempotency::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    testing::idempotency_suite(Arc::new(store)).await;
}
