//! The Lambda behind a Function URL: the wiring from `MDE_BRIDGE_*` (or the file named by `MDE_BRIDGE_CONFIG`),
//! the router behind `lambda_http`, one EMF answer line per request on stdout. The request context the URL adds
//! is not used: only the signed headers and body identify a partner. `main.rs` runs this; so does the webhook
//! soak, in its own process, to SIGKILL it mid-request.

use bytes::Bytes;
use lambda_http::{Body, Error, Request, Response, service_fn};
use mde_platform::wiring::Wiring;

use crate::Webhook;

/// Serves invocations from the Lambda Runtime API until the process ends.
pub async fn serve() -> Result<(), Error> {
    mde_platform::telemetry::init();
    let wiring = Wiring::load(None)?;
    let webhook = Webhook::from_wiring(&wiring, None).await?;
    let webhook = &webhook;
    lambda_http::run(service_fn(move |request: Request| async move {
        let (parts, body) = request.into_parts();
        let bytes = match body {
            Body::Empty => Bytes::new(),
            Body::Text(t) => Bytes::from(t),
            Body::Binary(b) => Bytes::from(b),
            _ => Bytes::new(),
        };
        let reply = webhook.handle(http::Request::from_parts(parts, bytes)).await;
        {
            use std::io::Write as _;
            let line = crate::metrics::answer_line(reply.status().as_u16(), time::OffsetDateTime::now_utc());
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        let (parts, body) = reply.into_parts();
        Ok::<_, Error>(Response::from_parts(parts, Body::Binary(body)))
    }))
    .await
}
