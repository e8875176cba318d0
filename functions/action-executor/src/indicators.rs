//! `indicator.v1`: one indicator added or removed through indicator-push's core (`Pusher`), as a one-tenant
//! upsert or delete message: the same validation, keys, cap, and rejects as the SQS feed.

use mde_contracts::{IndicatorMessage, IndicatorRequestV1, OutcomeCode, TenantSelector};
use mde_indicators::{Incoming, MessageFate, Pusher};
use serde_json::{Value, json};

use crate::step::{Calls, Step, outcome};

/// Adds or removes the indicator.
pub async fn perform(
    pusher: &Pusher,
    request_id: &str,
    request: &IndicatorRequestV1,
    calls: &mut Calls,
) -> Step {
    let dry_run = calls.dry_run;
    let (message, op) = match request {
        IndicatorRequestV1::Add { tenant_id, indicator } => (
            IndicatorMessage::Upsert {
                tenants: TenantSelector::Listed(vec![tenant_id.clone()]),
                indicators: vec![indicator.clone()],
                dry_run,
            },
            "upsert",
        ),
        IndicatorRequestV1::Remove { tenant_id, indicator } => (
            IndicatorMessage::Delete {
                tenants: TenantSelector::Listed(vec![tenant_id.clone()]),
                indicators: vec![indicator.clone()],
                dry_run,
            },
            "delete",
        ),
    };
    let body = match serde_json::to_string(&message) {
        Ok(b) => b,
        Err(e) => {
            return Step::Retry {
                reason: format!("the indicator message did not encode: {e}"),
                after: None,
            };
        }
    };
    let incoming = Incoming {
        id: format!("request:{request_id}"),
        body,
    };
    let pushed = match pusher.push(std::slice::from_ref(&incoming)).await {
        Ok(p) => p,
        Err(e) => {
            return Step::Retry {
                reason: e.to_string(),
                after: None,
            };
        }
    };
    let tenant = pushed.summary.tenants.first();
    let counts = tenant.map(|t| {
        format!(
            "imported {}, deleted {}, unchanged {}, rejected {}",
            t.imported, t.deleted, t.unchanged, t.rejected
        )
    });
    let operation = format!("indicator-push.{op}");
    if let Some((_, MessageFate::Deferred(reason))) = pushed.fates.first() {
        calls.planned(&operation, "indicator", format!("deferred: {reason}"));
        return Step::Retry {
            reason: reason.clone(),
            after: None,
        };
    }
    let target = match request {
        IndicatorRequestV1::Add { indicator, .. } => indicator.indicator_value.clone(),
        IndicatorRequestV1::Remove { indicator, .. } => indicator
            .id
            .clone()
            .or_else(|| indicator.indicator_value.clone())
            .unwrap_or_default(),
    };
    if dry_run {
        calls.planned(&operation, &target, counts.clone().unwrap_or_default());
    } else {
        calls.ok(&operation, &target, 200, counts.clone());
    }
    let summary = serde_json::to_value(&pushed.summary).unwrap_or(Value::Null);
    if let Some(reject) = pushed.rejects.first() {
        return Step::Done(outcome(
            OutcomeCode::Rejected,
            format!("{:?}: {}", reject.code, reject.reason),
            json!({"summary": summary, "field": reject.field}),
        ));
    }
    let code = if dry_run {
        OutcomeCode::Planned
    } else {
        OutcomeCode::Succeeded
    };
    Step::Done(outcome(
        code,
        counts.unwrap_or_default(),
        json!({"summary": summary}),
    ))
}
