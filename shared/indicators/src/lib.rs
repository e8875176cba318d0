//! The core of indicator-push (shared with the action executor): threat-intel indicators into every customer
//! tenant's Defender, none lost.
//!
//! A message asks to `upsert`, `delete` or `sync` indicators in one tenant, a list of tenants, or every enabled
//! tenant that allows it ([`mde_contracts::IndicatorMessage`], `schemas/indicator-message.schema.json`). The core
//! ([`Pusher::push`]) reads each message and checks each indicator on its own ([`validate`]: the field at fault
//! is named), merges a batch's operations per tenant (last write wins per type and value), and per tenant:
//! checks the permission first (preflight), lists the tenant's active indicators once, refuses what would pass
//! the cap of active indicators, deletes (BatchDelete, ≤ 500) and imports (≤ 500 per call) through the shared
//! client's rate limiter, and maps each item's result back to its messages.
//!
//! Every message ends **done** (applied, unchanged, or rejected with a reason into a `rejects/` object) or
//! **deferred** (throttled, unavailable, permission missing: SQS delivers it again, then its dead-letter
//! queue). A `sync` diffs the feed's complete set against what this application created for the feed (its
//! `application` tag) and deletes what is no longer wanted; `dry_run` writes a plan under `plans/` instead.
//!
//! Everything outside is injected: the [`DefenderClient`](mde_defender::DefenderClient), the tenant registry,
//! the [`ObjectStore`](mde_platform::ObjectStore) and the [`Clock`](mde_platform::Clock): the indicator-push Lambda,
//! `mde-bridge push` and the action executor's `indicator.v1` requests run this same core.

mod error;
mod message;
mod push;
mod tenant;
pub mod validate;

pub use error::IndicatorPushError;
pub use message::Incoming;
pub use push::{MessageFate, PushOutcome, Pusher, rejects_key};
