//! Both function invokers pass the same suite. moto stores Lambda functions but cannot run them without
//! Docker, so the Lambda adapter is driven through the real SDK against a loopback server that speaks the
//! Lambda Invoke API and runs the functions in-process.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use mde_platform::FunctionInvoker;
use mde_platform::invoke::{LambdaInvoker, LocalInvoker};
use mde_platform::testing;

fn local_invoker() -> LocalInvoker {
    let mut invoker = LocalInvoker::new();
    for (name, f) in testing::sample_functions() {
        invoker.register(name, f);
    }
    invoker
}

#[tokio::test]
async fn the_in_process_invoker_passes_the_invoker_suite() {
    testing::invoker_suite(&local_invoker()).await;
}

#[tokio::test]
async fn an_unknown_local_function_is_named_in_the_error() {
    let err = local_invoker()
        .invoke("token-broker", Bytes::new())
        .await
        .expect_err("unknown");
    assert!(err.to_string().contains("token-broker"), "{err}");
}

/// `POST /2015-03-31/functions/{name}/invocations`, answering like Lambda: 200 with the payload, and the
/// `X-Amz-Function-Error` header with an `errorType`/`errorMessage` document when the function fails.
async fn invoke_api(
    State(functions): State<Arc<LocalInvoker>>,
    Path(name): Path<String>,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    match functions.invoke(&name, body).await {
        Ok(payload) => (StatusCode::OK, HeaderMap::new(), payload),
        Err(mde_platform::PlatformError::FunctionFailed {
            error_type, message, ..
        }) => {
            let mut headers = HeaderMap::new();
            headers.insert("x-amz-function-error", "Unhandled".parse().expect("header"));
            let doc = serde_json::json!({ "errorType": error_type, "errorMessage": message });
            (StatusCode::OK, headers, Bytes::from(doc.to_string()))
        }
        Err(other) => (
            StatusCode::NOT_FOUND,
            HeaderMap::new(),
            Bytes::from(other.to_string()),
        ),
    }
}

#[tokio::test]
async fn the_lambda_invoker_passes_the_invoker_suite_through_the_real_sdk() {
    let app = Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke_api))
        .with_state(Arc::new(local_invoker()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let creds = aws_credential_types::Credentials::new("testing", "testing", None, None, "tests");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(format!("http://{addr}"))
        .load()
        .await;
    testing::invoker_suite(&LambdaInvoker::new(aws_sdk_lambda::Client::new(&sdk))).await;
}
