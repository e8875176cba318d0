//! Durable writes: a put retried on transient errors, where a lost answer to a conditional put that did land is
//! recognised (the stored body is ours) instead of being mistaken for another writer.

use bytes::Bytes;
use mde_platform::{ObjectStore, PlatformError, PutCondition};
use tracing::warn;

/// Attempts per write.
const ATTEMPTS: u32 = 3;

/// Why a durable write failed.
pub(crate) enum PutFailure {
    /// The condition does not hold: another writer got there first.
    Conflict,
    /// The store failed.
    Store(PlatformError),
}

/// Writes `body` at `key` under `condition`; returns the new etag once the object is durable.
pub(crate) async fn put(
    store: &dyn ObjectStore,
    key: &str,
    body: Bytes,
    condition: PutCondition,
) -> Result<String, PutFailure> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store.put(key, body.clone(), condition.clone()).await {
            Ok(etag) => return Ok(etag),
            Err(PlatformError::PreconditionFailed { .. }) if attempt > 1 => {
                return match store.get(key).await {
                    Ok(Some(object)) if object.body == body => Ok(object.etag),
                    _ => Err(PutFailure::Conflict),
                };
            }
            Err(PlatformError::PreconditionFailed { .. }) => return Err(PutFailure::Conflict),
            Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                warn!(error = %e, attempt, key, "a write failed; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(e) => return Err(PutFailure::Store(e)),
        }
    }
}
