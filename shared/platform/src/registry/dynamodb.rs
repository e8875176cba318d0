//! A DynamoDB table as the tenant registry: one item per tenant, keyed by `tenant_id` (S), with the record's
//! fields as native attributes (`serde_dynamo`). Reads page through `Scan` (1 MB per call); writes are `PutItem`
//! with a condition on `version`, so a concurrent update is refused, never lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use mde_contracts::{TenantConfig, TenantId};

use super::{Expect, RegistryProblem, RegistryScan, TenantRegistry, checked, next_version, sort_and_dedupe};
use crate::aws::sdk_error;
use crate::{PlatformError, Result};

/// The partition key attribute.
pub const KEY: &str = "tenant_id";

type Item = HashMap<String, AttributeValue>;

/// The registry in a DynamoDB table.
#[derive(Debug)]
pub struct DynamoRegistry {
    client: aws_sdk_dynamodb::Client,
    table: String,
    calls: AtomicU64,
}

impl DynamoRegistry {
    /// The registry in `table`; the client is built once per process.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            calls: AtomicU64::new(0),
        }
    }

    /// DynamoDB calls made so far by this adapter (every page of a scan counts).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

fn item_key(item: &Item) -> String {
    match item.get(KEY) {
        Some(AttributeValue::S(id)) => id.clone(),
        _ => "<an item without a tenant_id string>".into(),
    }
}

fn version_of(item: Option<&Item>) -> String {
    match item.map(|i| i.get("version")) {
        None => "no record".into(),
        Some(Some(AttributeValue::N(v))) => format!("version {v}"),
        Some(_) => "a record without a version".into(),
    }
}

#[async_trait]
impl TenantRegistry for DynamoRegistry {
    fn describe(&self) -> String {
        format!("the DynamoDB table {}", self.table)
    }

    async fn scan(&self) -> Result<RegistryScan> {
        let mut scan = RegistryScan::default();
        let mut start: Option<Item> = None;
        loop {
            self.count();
            tracing::debug!(table = %self.table, "tenant registry: DynamoDB Scan call");
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb", "Scan", e))?;
            for item in page.items() {
                let key = item_key(item);
                let record = serde_dynamo::from_item::<_, TenantConfig>(item.clone())
                    .map_err(|e| e.to_string())
                    .and_then(checked);
                match record {
                    Ok(t) => scan.tenants.push(t),
                    Err(reason) => scan.problems.push(RegistryProblem { key, reason }),
                }
            }
            match page.last_evaluated_key() {
                Some(next) if !next.is_empty() => start = Some(next.clone()),
                _ => break,
            }
        }
        Ok(sort_and_dedupe(scan))
    }

    async fn get(&self, tenant: &TenantId) -> Result<Option<TenantConfig>> {
        self.count();
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(tenant.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", "GetItem", e))?;
        match out.item {
            None => Ok(None),
            Some(item) => serde_dynamo::from_item(item)
                .map_err(|e| e.to_string())
                .and_then(checked)
                .map(Some)
                .map_err(|reason| PlatformError::InvalidTenant {
                    tenant: tenant.to_string(),
                    reason: format!("the stored item cannot be read: {reason}"),
                }),
        }
    }

    async fn put(&self, record: &TenantConfig, expect: Expect) -> Result<TenantConfig> {
        let stored = next_version(record, expect)?;
        let item: Item = serde_dynamo::to_item(&stored).map_err(|e| PlatformError::Encoding {
            what: format!("tenant {}", record.tenant_id),
            reason: e.to_string(),
        })?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match expect {
            Expect::Absent => request
                .condition_expression("attribute_not_exists(#k)")
                .expression_attribute_names("#k", KEY),
            // A record written by hand may have no version: it counts as version 0.
            Expect::Version(0) => request
                .condition_expression("attribute_exists(#k) AND (attribute_not_exists(#v) OR #v = :v)")
                .expression_attribute_names("#k", KEY)
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N("0".into())),
            Expect::Version(v) => request
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        self.count();
        match request.send().await {
            Ok(_) => Ok(stored),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    Err(PlatformError::VersionConflict {
                        tenant: record.tenant_id.to_string(),
                        expected: expect.to_string(),
                        found: version_of(failed.item()),
                    })
                }
                _ => Err(sdk_error("dynamodb", "PutItem", e)),
            },
        }
    }
}
