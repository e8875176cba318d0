//! The action-executor Lambda: wiring only. Configuration from `MDE_BRIDGE_*` (or the file named by
//! `MDE_BRIDGE_CONFIG`); its queues are `[webhook].queue_url` (requests, FIFO) and `[executor].poll_queue_url`
//! (polls, standard), both event sources of this function.

use action_executor::{Executor, QueueSet, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use mde_platform::wiring::Wiring;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    mde_platform::telemetry::init();
    let wiring = Wiring::load(None)?;
    let executor = Executor::from_wiring(&wiring, None).await?.emitting_metrics();
    let config = wiring.config();
    let mut queues = QueueSet::default();
    for url in [&config.webhook.queue_url, &config.executor.poll_queue_url]
        .into_iter()
        .flatten()
    {
        queues = queues.with(url, wiring.queue(url).await);
    }
    let (executor, queues) = (&executor, &queues);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(handle(executor, queues, event.payload).await?)
    }))
    .await
}
