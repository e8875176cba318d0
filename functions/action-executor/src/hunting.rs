//! Hunting queries: Graph `runHuntingQuery` (default), Microsoft 365 Defender or MDE advanced hunting; the result
//! is stored for the partner at `<hunting_prefix><tenant>/<request id>.json`.
//!
//! Microsoft's limits (`shared/defender-api.md` 4.6, 5.2, 6.3): 30 days of data, 100,000 rows, a result of at most
//! 124 MB (400 "…exceeded the allowed result size…"), a per-tenant CPU quota (429 until the next cycle), requests
//! cut off after minutes. A 429 is retried after its `Retry-After` through the queue; a limit the query itself
//! exceeds ends the request `limit_exceeded` with Microsoft's message: rerunning it would fail the same way.

use bytes::Bytes;
use mde_contracts::{DefenderApi, HuntingQueryV1, OutcomeCode};
use mde_defender::api::endpoint as ep;
use mde_defender::{DefenderClient, DefenderError};
use mde_platform::{ObjectStore, PutCondition};
use serde_json::{Value, json};

use crate::step::{Calls, Step, on_error, outcome};

/// Whether a 4xx is one of Microsoft's hunting limits rather than a bad query.
fn is_limit(error: &DefenderError) -> bool {
    match error {
        DefenderError::Api {
            status,
            message,
            code,
            ..
        } => {
            let text = format!("{code} {message}").to_ascii_lowercase();
            matches!(status, 400 | 408 | 413)
                && ["exceeded", "limit", "timeout", "timed out", "too large", "quota"]
                    .iter()
                    .any(|w| text.contains(w))
        }
        _ => false,
    }
}

/// Runs the query and stores its result.
pub async fn perform(
    client: &DefenderClient,
    store: &dyn ObjectStore,
    key: &str,
    request_id: &str,
    q: &HuntingQueryV1,
    calls: &mut Calls,
) -> Step {
    let tenant = &q.tenant_id;
    let api = q.api.unwrap_or(DefenderApi::Graph);
    let endpoint = match api {
        DefenderApi::Graph => &ep::GRAPH_HUNTING,
        DefenderApi::M365d => &ep::M365D_ADVANCED_HUNTING,
        DefenderApi::Mde => &ep::MDE_ADVANCED_QUERY,
    };
    if calls.dry_run {
        // A query only reads, but it spends the tenant's CPU quota: a dry run does not run it.
        calls.planned(endpoint.name, tenant.as_str(), q.query.clone());
        return Step::Done(outcome(
            OutcomeCode::Planned,
            "dry run: the query would run and its result be stored",
            json!({"location": store.location(key)}),
        ));
    }
    let result = match api {
        DefenderApi::Graph => {
            client
                .run_graph_hunting_query(tenant, &q.query, q.timespan.as_deref())
                .await
        }
        DefenderApi::M365d => client.run_m365d_query(tenant, &q.query).await,
        DefenderApi::Mde => client.run_mde_query(tenant, &q.query).await,
    };
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            calls.failed(endpoint.name, tenant.as_str(), &e);
            if is_limit(&e) {
                return Step::Done(outcome(
                    OutcomeCode::LimitExceeded,
                    format!("{e}: narrow the query (fewer rows, a shorter time span, fewer columns)"),
                    Value::Null,
                ));
            }
            return on_error(&e, OutcomeCode::InvalidValue);
        }
    };
    let rows = result.results.len();
    calls.ok(
        endpoint.name,
        tenant.as_str(),
        200,
        Some(format!("{rows} row(s)")),
    );
    let document = json!({
        "request_id": request_id,
        "tenant_id": tenant,
        "api": api,
        "query": q.query,
        "schema": result.schema,
        "results": result.results,
        "row_count": rows,
    });
    let body = match serde_json::to_vec(&document) {
        Ok(b) => b,
        Err(e) => {
            return Step::Retry {
                reason: format!("the hunting result did not encode: {e}"),
                after: None,
            };
        }
    };
    // A retry after a lost answer writes the same key again: last writer wins, the content is the query's.
    if let Err(e) = store.put(key, Bytes::from(body), PutCondition::Always).await {
        return Step::Retry {
            reason: format!("the hunting result could not be stored: {e}"),
            after: None,
        };
    }
    Step::Done(outcome(
        OutcomeCode::Succeeded,
        format!("{rows} row(s) stored"),
        json!({"location": store.location(key), "key": key, "rows": rows}),
    ))
}
