//! The indicator-push Lambda: wiring only. Configuration from `MDE_BRIDGE_*` (or the file named by
//! `MDE_BRIDGE_CONFIG`), tuning from its `[indicators]` section (`MDE_BRIDGE_INDICATORS_*`). Adapters are built
//! once per container.

use indicator_push::{Pusher, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use mde_platform::wiring::Wiring;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    mde_platform::telemetry::init();
    let wiring = Wiring::load(None)?;
    let pusher = Pusher::from_wiring(&wiring).await?;
    let pusher = &pusher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(handle(pusher, event.payload).await?)
    }))
    .await
}
