//! alert-webhook: the signed, authorised, idempotent HTTPS front door for partner products.
//!
//! This first part is the Standard Webhooks verifier ([`signature`]); the router, idempotency, the queue and the
//! Lambda wiring build on it (issue 15).

pub mod signature;
