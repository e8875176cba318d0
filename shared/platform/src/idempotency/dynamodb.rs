//! Request records in a DynamoDB table keyed by `request_id` (S), TTL on `expires_at` (N). A claim is one
//! `PutItem` with a condition; a refused claim returns the stored item (`ReturnValuesOnConditionCheckFailure`),
//! so a repeat costs one call.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::{Claim, IdempotencyStore, RequestRecord};
use crate::aws::sdk_error;
use crate::{PlatformError, Result};

/// The partition key attribute.
pub const KEY: &str = "request_id";

type Item = HashMap<String, AttributeValue>;

/// Request records in a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoIdempotency {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoIdempotency {
    /// The records in `table`; the client is built once per process.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn decode(&self, item: Item) -> Result<RequestRecord> {
        serde_dynamo::from_item(item).map_err(|e| PlatformError::Encoding {
            what: format!("a request record of {}", self.table),
            reason: e.to_string(),
        })
    }
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[async_trait]
impl IdempotencyStore for DynamoIdempotency {
    async fn claim(&self, record: &RequestRecord, now: i64, stale_before: i64) -> Result<Claim> {
        let item: Item = serde_dynamo::to_item(record).map_err(|e| PlatformError::Encoding {
            what: format!("request {}", record.request_id),
            reason: e.to_string(),
        })?;
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#k) OR #e <= :now OR (#s = :in_flight AND #u < :stale)",
            )
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#e", "expires_at")
            .expression_attribute_names("#s", "state")
            .expression_attribute_names("#u", "updated_at")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":stale", n(stale_before))
            .expression_attribute_values(":in_flight", AttributeValue::S("in_flight".into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Claim::Claimed),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => match failed.item() {
                    Some(item) => Ok(Claim::Existing(self.decode(item.clone())?)),
                    None => Err(PlatformError::Encoding {
                        what: format!("request {}", record.request_id),
                        reason: "the claim was refused without the stored item".into(),
                    }),
                },
                _ => Err(sdk_error("dynamodb", "PutItem", e)),
            },
        }
    }

    async fn complete(&self, request_id: &str, answer: &str, now: i64) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(request_id.to_owned()))
            .update_expression("SET #s = :accepted, #a = :answer, #u = :now")
            .condition_expression("attribute_exists(#k)")
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#s", "state")
            .expression_attribute_names("#a", "answer")
            .expression_attribute_names("#u", "updated_at")
            .expression_attribute_values(":accepted", AttributeValue::S("accepted".into()))
            .expression_attribute_values(":answer", AttributeValue::S(answer.to_owned()))
            .expression_attribute_values(":now", n(now))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("dynamodb", "UpdateItem", e))
    }

    async fn release(&self, request_id: &str) -> Result<()> {
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(request_id.to_owned()))
            .condition_expression("#s = :in_flight")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":in_flight", AttributeValue::S("in_flight".into()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            // Already accepted (or gone): nothing to release.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error("dynamodb", "DeleteItem", e)),
        }
    }

    async fn get(&self, request_id: &str, now: i64) -> Result<Option<RequestRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(request_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", "GetItem", e))?;
        match out.item {
            Some(item) => {
                let record = self.decode(item)?;
                // DynamoDB deletes expired items late: filter on read.
                Ok((record.expires_at > now).then_some(record))
            }
            None => Ok(None),
        }
    }
}
