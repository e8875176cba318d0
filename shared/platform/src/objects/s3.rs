//! Amazon S3 as an object store, with S3's own conditional writes (`If-None-Match: *`, `If-Match`).

use async_trait::async_trait;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::{ObjectStore, PutCondition, StoredObject, join_prefix, validate_key};
use crate::{PlatformError, Result, aws::sdk_error};

/// Objects in an S3 bucket under a key prefix.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3ObjectStore {
    /// A store over `bucket`, with keys under `prefix` (may be empty). The client is built once per process.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    fn full_key(&self, key: &str) -> Result<String> {
        validate_key(key)?;
        Ok(join_prefix(&self.prefix, key))
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(&self, key: &str, body: Bytes, condition: PutCondition) -> Result<String> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key)?)
            .body(ByteStream::from(body));
        req = match &condition {
            PutCondition::Always => req,
            PutCondition::IfAbsent => req.if_none_match("*"),
            PutCondition::IfMatch(etag) => req.if_match(etag),
        };
        let out = req.send().await.map_err(|e| {
            // 412: the condition failed; 409: a concurrent conditional write to the same key won.
            let status = match &e {
                SdkError::ServiceError(s) => Some(s.raw().status().as_u16()),
                _ => None,
            };
            match status {
                Some(412 | 409) if condition != PutCondition::Always => {
                    PlatformError::PreconditionFailed { key: key.to_string() }
                }
                _ => sdk_error("s3", "PutObject", e),
            }
        })?;
        out.e_tag.ok_or_else(|| PlatformError::Aws {
            service: "s3",
            operation: "PutObject",
            message: "the response had no ETag".into(),
            retryable: false,
        })
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>> {
        let res = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key)?)
            .send()
            .await;
        let out = match res {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(sdk_error("s3", "GetObject", e)),
        };
        let etag = out.e_tag.clone().unwrap_or_default();
        let body = out.body.collect().await.map_err(|e| PlatformError::Aws {
            service: "s3",
            operation: "GetObject",
            message: format!("reading the body: {e}"),
            retryable: true,
        })?;
        Ok(Some(StoredObject {
            body: body.into_bytes(),
            etag,
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let root = join_prefix(&self.prefix, "");
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{root}{prefix}"))
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("s3", "ListObjectsV2", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter_map(|k| k.strip_prefix(&root))
                    .map(str::to_string),
            );
        }
        keys.sort();
        Ok(keys)
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, join_prefix(&self.prefix, key))
    }
}
