//! The incident-export Lambda: wiring only. Configuration from `MDE_BRIDGE_*` (or the file named by
//! `MDE_BRIDGE_CONFIG`), tuning from its `[export]` section (`MDE_BRIDGE_EXPORT_*`), including the fan-out queue
//! (`export.queue_url`). Adapters are built once per container; each invocation's deadline comes from the
//! Lambda context.

use std::time::{Instant, SystemTime};

use incident_export::{Exporter, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use mde_platform::wiring::Wiring;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    mde_platform::telemetry::init();
    let wiring = Wiring::load(None)?;
    let exporter = Exporter::from_wiring(&wiring, None).await?;
    let queue = match &wiring.config().export.queue_url {
        Some(url) => Some(wiring.queue(url).await),
        None => None,
    };
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
