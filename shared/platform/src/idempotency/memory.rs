//! Request records in process memory, for `mde-bridge webhook serve` and tests.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use super::{Claim, IdempotencyStore, RequestRecord, RequestState};
use crate::Result;

/// Request records in a map, with the same claim rules as the DynamoDB table.
#[derive(Debug, Default)]
pub struct MemoryIdempotency {
    records: Mutex<HashMap<String, RequestRecord>>,
}

impl MemoryIdempotency {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotency {
    async fn claim(&self, record: &RequestRecord, now: i64, stale_before: i64) -> Result<Claim> {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = records.get(&record.request_id) {
            let live = existing.expires_at > now;
            let stale = existing.state == RequestState::InFlight && existing.updated_at < stale_before;
            if live && !stale {
                return Ok(Claim::Existing(existing.clone()));
            }
        }
        records.insert(record.request_id.clone(), record.clone());
        Ok(Claim::Claimed)
    }

    async fn complete(&self, request_id: &str, answer: &str, now: i64) -> Result<()> {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = records.get_mut(request_id) {
            r.state = RequestState::Accepted;
            r.answer = Some(answer.to_owned());
            r.updated_at = now;
        }
        Ok(())
    }

    async fn release(&self, request_id: &str) -> Result<()> {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if records
            .get(request_id)
            .is_some_and(|r| r.state == RequestState::InFlight)
        {
            records.remove(request_id);
        }
        Ok(())
    }

    async fn get(&self, request_id: &str, now: i64) -> Result<Option<RequestRecord>> {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(records.get(request_id).filter(|r| r.expires_at > now).cloned())
    }
}
