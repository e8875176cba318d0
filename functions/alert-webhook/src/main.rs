//! The alert-webhook Lambda behind a Function URL: wiring only (see `alert_webhook::lambda`). Configuration from
//! `MDE_BRIDGE_*` (or the file named by `MDE_BRIDGE_CONFIG`), its `[webhook]` section from `MDE_BRIDGE_WEBHOOK_*`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    alert_webhook::lambda::serve().await
}
