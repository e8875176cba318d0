//! The `FunctionInvoker` port: AWS Lambda `Invoke`, or functions registered in-process.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use bytes::Bytes;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{PlatformError, Result, aws::sdk_error};

/// Calls another function synchronously with a JSON payload.
#[async_trait]
pub trait FunctionInvoker: Send + Sync {
    /// Invokes `function` with `payload` and returns its response payload. A function that fails answers
    /// [`PlatformError::FunctionFailed`] with the error type and message it reported.
    async fn invoke(&self, function: &str, payload: Bytes) -> Result<Bytes>;
}

/// Invokes with a typed request and decodes the typed response.
pub async fn invoke_json<Req: Serialize + Sync, Resp: DeserializeOwned>(
    invoker: &dyn FunctionInvoker,
    function: &str,
    request: &Req,
) -> Result<Resp> {
    let payload = serde_json::to_vec(request).map_err(|e| PlatformError::Encoding {
        what: format!("request to {function}"),
        reason: e.to_string(),
    })?;
    let answer = invoker.invoke(function, Bytes::from(payload)).await?;
    serde_json::from_slice(&answer).map_err(|e| PlatformError::Encoding {
        what: format!("response of {function}"),
        reason: e.to_string(),
    })
}

/// AWS Lambda, `RequestResponse` invocations.
#[derive(Debug, Clone)]
pub struct LambdaInvoker {
    client: aws_sdk_lambda::Client,
}

impl LambdaInvoker {
    /// Wraps a client built once per process.
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        Self { client }
    }
}

/// The error document the Lambda runtime returns for a failed invocation.
#[derive(serde::Deserialize)]
struct LambdaErrorDoc {
    #[serde(rename = "errorType", default)]
    error_type: String,
    #[serde(rename = "errorMessage", default)]
    error_message: String,
}

#[async_trait]
impl FunctionInvoker for LambdaInvoker {
    async fn invoke(&self, function: &str, payload: Bytes) -> Result<Bytes> {
        let out = self
            .client
            .invoke()
            .function_name(function)
            .payload(Blob::new(payload.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("lambda", "Invoke", e))?;
        let body = out.payload.map(Blob::into_inner).unwrap_or_default();
        if let Some(kind) = out.function_error {
            let doc: LambdaErrorDoc = serde_json::from_slice(&body).unwrap_or(LambdaErrorDoc {
                error_type: kind,
                error_message: String::from_utf8_lossy(&body).chars().take(500).collect(),
            });
            return Err(PlatformError::FunctionFailed {
                function: function.to_string(),
                error_type: doc.error_type,
                message: doc.error_message,
            });
        }
        Ok(Bytes::from(body))
    }
}

/// A function run in-process: takes the payload, answers the response or `(error_type, message)`.
pub type LocalFunction =
    Arc<dyn Fn(Bytes) -> BoxFuture<'static, Result<Bytes, (String, String)>> + Send + Sync>;

/// Functions registered by name and called in-process: the local stand-in for Lambda in the CLI and in
/// tests, so the same core code runs with or without AWS.
#[derive(Default, Clone)]
pub struct LocalInvoker {
    functions: HashMap<String, LocalFunction>,
}

impl LocalInvoker {
    /// No functions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `function` under `name`.
    pub fn register(&mut self, name: impl Into<String>, function: LocalFunction) -> &mut Self {
        self.functions.insert(name.into(), function);
        self
    }
}

#[async_trait]
impl FunctionInvoker for LocalInvoker {
    async fn invoke(&self, function: &str, payload: Bytes) -> Result<Bytes> {
        let f = self
            .functions
            .get(function)
            .ok_or_else(|| PlatformError::UnknownFunction(function.to_string()))?;
        f(payload)
            .await
            .map_err(|(error_type, message)| PlatformError::FunctionFailed {
                function: function.to_string(),
                error_type,
                message,
            })
    }
}
