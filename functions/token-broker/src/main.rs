//! The token-broker Lambda: wiring only. Configuration comes from `MDE_BRIDGE_*` variables (or the file named by
//! `MDE_BRIDGE_CONFIG`); the broker is built once per container and serves every invocation. At most once an
//! hour per container it prints the credentials' days left as metrics (EMF on stdout).

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent, service_fn};
use mde_platform::wiring::Wiring;
use serde_json::Value;

const METRICS_EVERY: Duration = Duration::from_secs(3600);

#[tokio::main]
async fn main() -> Result<(), Error> {
    mde_platform::telemetry::init();
    let wiring = Wiring::load(None)?;
    let broker = token_broker::Broker::from_wiring(&wiring).await?;
    let last_metrics: Mutex<Option<Instant>> = Mutex::new(None);
    let (broker, last_metrics) = (&broker, &last_metrics);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let answer = broker.handle(event.payload).await;
        let due = {
            let mut last = last_metrics.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= METRICS_EVERY);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as i64;
            let mut out = std::io::stdout().lock();
            for line in token_broker::metrics::emf_lines(&broker.credentials().await, now) {
                // A closed stdout must not fail the invocation.
                let _ = writeln!(out, "{line}");
            }
        }
        Ok::<_, Error>(answer)
    }))
    .await
}
