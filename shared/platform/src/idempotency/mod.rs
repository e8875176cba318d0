//! The idempotency port: one record per request id, claimed with a conditional write, so a request delivered
//! twice (or fifty times at once) is accepted once. A DynamoDB table in AWS (TTL on `expires_at`, which DynamoDB
//! applies late, so expired records are filtered on read) and an in-process map with the same semantics.

mod dynamodb;
mod memory;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use dynamodb::DynamoIdempotency;
pub use memory::MemoryIdempotency;

use crate::Result;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Claimed; not yet durably queued (or the process died before it said so).
    InFlight,
    /// Durably queued and answered; `answer` is what the sender got.
    Accepted,
}

/// One request's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The request id (derived from the partner key and the sender's `webhook-id`).
    pub request_id: String,
    /// The partner key that sent it (only that key may read it).
    pub key_id: String,
    /// SHA-256 of the body, hex: the same id with another body is refused.
    pub body_sha256: String,
    /// Where it stands.
    pub state: RequestState,
    /// The answer given (JSON), once accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Unix seconds of the first claim.
    pub created_at: i64,
    /// Unix seconds of the last change (a stale in-flight claim may be taken over).
    pub updated_at: i64,
    /// Unix seconds after which the record is forgotten.
    pub expires_at: i64,
}

/// The outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller owns the request now.
    Claimed,
    /// Someone does (or did): the stored record.
    Existing(RequestRecord),
}

/// Where request records are kept.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `record.request_id` when no live record has it — none, expired (`expires_at <= now`), or in flight
    /// and last changed before `stale_before` (its owner died) — with one conditional write.
    async fn claim(&self, record: &RequestRecord, now: i64, stale_before: i64) -> Result<Claim>;

    /// Marks a claimed request accepted, with the answer the sender gets (and gets again on a repeat).
    async fn complete(&self, request_id: &str, answer: &str, now: i64) -> Result<()>;

    /// Drops an in-flight claim (the request could not be queued: the sender's retry may claim it again).
    async fn release(&self, request_id: &str) -> Result<()>;

    /// The live record of a request (`None` when absent or expired).
    async fn get(&self, request_id: &str, now: i64) -> Result<Option<RequestRecord>>;
}
