//! The shared token store in DynamoDB: one item per (tenant, API), `key` (S) → `sealed` (B), `fingerprint` (S),
//! `expires_at` and `ttl` (N, Unix seconds; the table's TTL attribute removes expired items). A claim to ask Entra
//! ID for a key's token is `claim_holder` (S) and `claim_until` (N, Unix milliseconds) on the same item, set by
//! a conditional update; saving the token replaces the item, which ends the claim.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use mde_defender::{DefenderError, SharedTokenStore, StoredToken};

/// The table's hash key (string): `<tenant>/<audience>`.
pub const DYNAMO_TOKEN_KEY: &str = "key";

/// A [`SharedTokenStore`] in a DynamoDB table (hash key [`DYNAMO_TOKEN_KEY`], string).
#[derive(Debug, Clone)]
pub struct DynamoTokenStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoTokenStore {
    /// The store in `table`; the client is the process's one.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn failed(&self, operation: &str, e: impl std::error::Error) -> DefenderError {
        DefenderError::Unavailable {
            what: format!(
                "DynamoDB {operation} on the shared token cache table {}",
                self.table
            ),
            reason: DisplayErrorContext(e).to_string(),
        }
    }
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

#[async_trait]
impl SharedTokenStore for DynamoTokenStore {
    async fn load(&self, key: &str) -> mde_defender::Result<Option<StoredToken>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(DYNAMO_TOKEN_KEY, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.failed("GetItem", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        // An item of another shape (written by hand, or by a later version) is a miss, never an error.
        let sealed = item.get("sealed").and_then(|v| v.as_b().ok());
        let fingerprint = item.get("fingerprint").and_then(|v| v.as_s().ok());
        let expires_at = item
            .get("expires_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok());
        Ok(match (sealed, fingerprint, expires_at) {
            (Some(sealed), Some(fingerprint), Some(expires_at)) => Some(StoredToken {
                sealed: sealed.as_ref().to_vec(),
                fingerprint: fingerprint.clone(),
                expires_at: UNIX_EPOCH + Duration::from_secs(expires_at),
            }),
            _ => None,
        })
    }

    async fn save(&self, key: &str, token: &StoredToken) -> mde_defender::Result<()> {
        let expires = unix_seconds(token.expires_at).to_string();
        self.client
            .put_item()
            .table_name(&self.table)
            .item(DYNAMO_TOKEN_KEY, AttributeValue::S(key.to_owned()))
            .item("sealed", AttributeValue::B(Blob::new(token.sealed.clone())))
            .item("fingerprint", AttributeValue::S(token.fingerprint.clone()))
            .item("expires_at", AttributeValue::N(expires.clone()))
            .item("ttl", AttributeValue::N(expires))
            .send()
            .await
            .map_err(|e| self.failed("PutItem", e))?;
        Ok(())
    }

    async fn remove(&self, key: &str, fingerprint: &str) -> mde_defender::Result<()> {
        let removed = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(DYNAMO_TOKEN_KEY, AttributeValue::S(key.to_owned()))
            .condition_expression("fingerprint = :fingerprint")
            .expression_attribute_values(":fingerprint", AttributeValue::S(fingerprint.to_owned()))
            .send()
            .await;
        match removed {
            Ok(_) => Ok(()),
            // Already replaced by a newer token, or gone: nothing to remove.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(self.failed("DeleteItem", e)),
        }
    }

    async fn claim(&self, key: &str, holder: &str, until: SystemTime) -> mde_defender::Result<bool> {
        let millis = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                .to_string()
        };
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(DYNAMO_TOKEN_KEY, AttributeValue::S(key.to_owned()))
            .update_expression(
                "SET claim_holder = :holder, claim_until = :until, #ttl = if_not_exists(#ttl, :ttl)",
            )
            .condition_expression(
                "attribute_not_exists(claim_until) OR claim_until < :now OR claim_holder = :holder",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_owned()))
            .expression_attribute_values(":until", AttributeValue::N(millis(until)))
            .expression_attribute_values(":now", AttributeValue::N(millis(SystemTime::now())))
            .expression_attribute_values(":ttl", AttributeValue::N(unix_seconds(until).to_string()))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }
}
