//! The incident-export Lambda: wiring only. Configuration from `MDE_BRIDGE_*` (or the file named by
//! `MDE_BRIDGE_CONFIG`), tuning from `INCIDENT_EXPORT_*`, the fan-out queue from `INCIDENT_EXPORT_QUEUE_URL`.
//! Adapters are built once per container; each invocation's deadline comes from the Lambda context.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use incident_export::{ExportSettings, Exporter, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use mde_platform::{FunctionInvoker, Queue};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    mde_platform::telemetry::init();
    let config = mde_platform::config::load(None)?;
    let settings = ExportSettings::from_env()?;
    let sdk = mde_platform::aws::load_sdk_config(&config.aws).await;
    let invoker: Arc<dyn FunctionInvoker> = Arc::new(mde_platform::invoke::LambdaInvoker::new(
        aws_sdk_lambda::Client::new(&sdk),
    ));
    let exporter = Exporter::from_config(&config, settings, Some(invoker)).await?;
    let queue: Option<Box<dyn Queue>> = std::env::var("INCIDENT_EXPORT_QUEUE_URL").ok().map(|url| {
        Box::new(mde_platform::queue::SqsQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            url,
        )) as Box<dyn Queue>
    });
    let (exporter, queue) = (&exporter, queue.as_deref());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let left = event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let deadline = Instant::now() + left;
        Ok::<_, Error>(handle(exporter, queue, event.payload, deadline).await?)
    }))
    .await
}
