//! The token-broker Lambda: wiring only. Configuration comes from `MDE_BRIDGE_*` variables (or the file named
//! by `MDE_BRIDGE_CONFIG`); the broker is built once per container and serves every invocation.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    mde_platform::telemetry::init();
    let config = mde_platform::config::load(None)?;
    let broker = token_broker::Broker::from_config(&config).await?;
    let broker = &broker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(broker.handle(event.payload).await)
    }))
    .await
}
