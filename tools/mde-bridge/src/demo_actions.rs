//! The demo's second half, through the functions' own cores: indicators pushed into Contoso (valid, invalid and
//! over-cap examples), and a partner's signed request that isolates a sandbox device through the webhook and the
//! action executor, read back from the status endpoint.

use std::sync::Arc;
use std::time::Duration;

use alert_webhook::Webhook;
use alert_webhook::signature::SigningKey;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use indicator_push::{Incoming, Pusher};
use mde_contracts::{IndicatorPushSummary, RejectCode};
use mde_platform::queue::LocalQueue;
use mde_platform::wiring::Wiring;
use mde_sandbox::SandboxHandle;
use serde_json::{Value, json};

/// The demo partner's key id (bound to Contoso in the demo configuration).
pub const PARTNER_KEY_ID: &str = "demo-soar";

/// What the indicator push did.
pub struct PushFigures {
    /// Counts.
    pub summary: IndicatorPushSummary,
    /// Rejected as invalid (the field is named in the rejects object).
    pub invalid: usize,
    /// Rejected because the tenant's cap of active indicators was reached.
    pub over_cap: usize,
}

fn indicator(kind: &str, value: &str, title: &str) -> Value {
    json!({"indicatorValue": value, "indicatorType": kind, "action": "Block", "title": title,
        "description": "mde-bridge demo", "severity": "High"})
}

/// Pushes two messages into Contoso: three valid indicators and two invalid ones, then a feed of 20 that runs into
/// the demo's cap of 20 active indicators (the sandbox already holds 5 of the portal's).
pub async fn push_indicators(wiring: &Wiring, tenant: &str) -> Result<PushFigures> {
    let pusher = Pusher::from_wiring(wiring).await?;
    let mixed = json!({"op": "upsert", "tenants": [tenant], "indicators": [
        indicator("DomainName", "c2.demo-threat.example", "Demo C2 domain"),
        indicator("IpAddress", "203.0.113.66", "Demo C2 address"),
        indicator("FileSha256", &"ab".repeat(32), "Demo dropper"),
        indicator("IpAddress", "10.1.2.3", "A private address: refused"),
        indicator("FileSha1", "not-a-hash", "A malformed hash: refused"),
    ]});
    let feed: Vec<Value> = (0..20)
        .map(|i| {
            indicator(
                "DomainName",
                &format!("feed-{i:02}.demo-threat.example"),
                "Demo feed",
            )
        })
        .collect();
    let feed = json!({"op": "upsert", "tenants": [tenant], "indicators": feed});
    let batch = [("demo:mixed", mixed), ("demo:feed", feed)].map(|(id, body)| Incoming {
        id: id.into(),
        body: body.to_string(),
    });
    let outcome = pusher.push(&batch).await.context("pushing the demo indicators")?;
    let count = |code| outcome.rejects.iter().filter(|r| r.code == code).count();
    Ok(PushFigures {
        invalid: count(RejectCode::InvalidIndicator),
        over_cap: count(RejectCode::OverCap),
        summary: outcome.summary,
    })
}

/// What the webhook request did.
pub struct ActionFigures {
    /// The request id.
    pub request_id: String,
    /// The device isolated.
    pub machine_id: String,
    /// What `GET /v1/requests/{id}` answered at the end.
    pub status: Value,
    /// Whether the sandbox reports the device isolated.
    pub isolated: bool,
    /// Where the audit record is.
    pub audit_location: String,
}

fn signed(
    key: &SigningKey,
    method: http::Method,
    uri: &str,
    body: &[u8],
    id: &str,
) -> Result<http::Request<Bytes>> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut builder = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("webhook-id", id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", key.sign(id, now, body))
        .header("webhook-key-id", key.key_id());
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    Ok(builder.body(Bytes::copy_from_slice(body))?)
}

/// Isolates a Windows device of `tenant` as a partner would: a signed POST to the webhook, the executor performing
/// it (the sandbox's clock moved on so the machine action completes), and the signed status read back.
pub async fn isolate_a_device(
    wiring: &Wiring,
    sandbox: &SandboxHandle,
    tenant: &str,
    partner_secret: &str,
) -> Result<ActionFigures> {
    let requests = Arc::new(LocalQueue::new());
    let polls = Arc::new(LocalQueue::new());
    let webhook = Webhook::from_wiring(wiring, Some(requests.clone()))
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let executor = action_executor::Executor::from_wiring(wiring, Some(polls.clone())).await?;
    let machine = windows_machine(wiring, tenant).await?;
    let key = SigningKey::parse(PARTNER_KEY_ID, partner_secret).map_err(|e| anyhow::anyhow!("{e}"))?;
    let event = json!({"type": "device_action.v1", "data": {"tenant_id": tenant, "device": {"machine_id": machine},
        "action": "isolate", "comment": "mde-bridge demo: the partner's NDR saw a C2 beacon"}});
    let body = serde_json::to_vec(&event)?;
    let webhook_id = format!("demo_{}", uuid::Uuid::new_v4().simple());
    let reply = webhook
        .handle(signed(
            &key,
            http::Method::POST,
            "/v1/events",
            &body,
            &webhook_id,
        )?)
        .await;
    let answer: Value = serde_json::from_slice(reply.body()).unwrap_or(Value::Null);
    if reply.status() != http::StatusCode::ACCEPTED {
        bail!(
            "the webhook refused the demo request ({}): {answer}",
            reply.status()
        );
    }
    let request_id = answer["request_id"].as_str().unwrap_or_default().to_owned();
    let mut status = Value::Null;
    for round in 0..30 {
        action_executor::drain(&executor, &*requests).await?;
        action_executor::drain(&executor, &*polls).await?;
        let reply = webhook
            .handle(signed(
                &key,
                http::Method::GET,
                &format!("/v1/requests/{request_id}"),
                b"",
                &format!("{webhook_id}_status_{round}"),
            )?)
            .await;
        status = serde_json::from_slice(reply.body()).unwrap_or(Value::Null);
        if status["status"] == "completed" {
            break;
        }
        // Defender takes minutes to isolate a device: the sandbox's clock moves on instead of the demo waiting.
        sandbox.advance(Duration::from_secs(120));
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let isolated = sandbox.device_state(tenant, &machine).is_some_and(|d| d.isolated);
    let audit_location = wiring
        .object_store()
        .await
        .location(&mde_contracts::AuditRecord::key(
            &wiring.config().executor.audit_prefix,
            &request_id,
        ));
    Ok(ActionFigures {
        request_id,
        machine_id: machine,
        status,
        isolated,
        audit_location,
    })
}

/// The first Windows device of the tenant, as Defender lists it.
async fn windows_machine(wiring: &Wiring, tenant: &str) -> Result<String> {
    use futures::TryStreamExt;
    let access = mde_tokens::TenantAccess::new(wiring, wiring.config().tokens.source).await?;
    let client = access.defender_client(Default::default());
    let tenant: mde_contracts::TenantId = tenant.parse()?;
    let machines: Vec<_> = client
        .machines(&tenant, &mde_defender::api::Query::new())
        .try_collect()
        .await
        .context("listing the demo tenant's devices")?;
    machines
        .into_iter()
        .flat_map(|page| page.items)
        .find(|m| m.os_platform.as_deref().is_some_and(|p| p.starts_with("Windows")))
        .map(|m| m.id)
        .context("the demo tenant has no Windows device")
}
