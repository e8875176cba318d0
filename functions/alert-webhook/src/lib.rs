//! alert-webhook: the signed, authorised, idempotent HTTPS front door for partner products.
//!
//! [`Webhook::handle`] is the whole router over injected ports (partner keys, tenant registry, idempotency store,
//! FIFO queue, clock): it runs under Lambda, under `mde-bridge webhook serve` and in tests alike. The verifier
//! ([`signature`]) implements Standard Webhooks; refusals are RFC 9457 problem JSON ([`problem`]).

mod app;
pub mod lambda;
pub mod metrics;
pub mod problem;
pub mod signature;
mod strict_json;

pub use app::{PartnerKeySource, Reply, SecretKeys, StaticKeys, Webhook, request_id};
