//! [`Pusher`]: one batch of messages → every tenant's share → the fate of each message.
//!
//! A message is **done** when every part of it, in every tenant, was applied, found unchanged, or rejected with a
//! reason (written to the rejects object); it is **deferred** (back to the queue, then its dead-letter queue)
//! when any part could not be done now. Rejects of a deferred message are not written: its retry writes them,
//! once. If the rejects object cannot be written, its messages are deferred too: nothing is lost.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use mde_contracts::ActionKind;
use mde_contracts::{
    IndicatorPushSummary, IndicatorReject, IndicatorSettings, RejectCode, TenantConfig, TenantId,
    TenantSelector,
};
use mde_defender::DefenderClient;
use mde_platform::{Clock, ObjectStore, PutCondition, Tenants};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{error, warn};

use crate::IndicatorPushError;
use crate::message::{self, Incoming, Op, Parsed};
use crate::tenant::{TenantPush, TenantResult};

/// How many tenants one push works on at once.
const TENANT_CONCURRENCY: usize = 8;
/// The most of an unreadable body a reject keeps.
const MAX_BODY_IN_REJECT: usize = 64 * 1024;

/// The fate of one message of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageFate {
    /// Nothing left to do.
    Done,
    /// Send it again later (SQS redelivers it): why.
    Deferred(String),
}

/// What a push did: the summary and each message's fate, in input order.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    /// Counts, per tenant.
    pub summary: IndicatorPushSummary,
    /// (message id, fate), in input order.
    pub fates: Vec<(String, MessageFate)>,
    /// The rejects written (of done messages), as in the rejects object.
    pub rejects: Vec<IndicatorReject>,
}

impl PushOutcome {
    /// The ids of the messages to retry.
    pub fn deferred(&self) -> impl Iterator<Item = &str> {
        self.fates
            .iter()
            .filter(|(_, f)| matches!(f, MessageFate::Deferred(_)))
            .map(|(id, _)| id.as_str())
    }
}

/// The core of indicator-push, with its ports injected.
pub struct Pusher {
    client: Arc<DefenderClient>,
    tenants: Arc<Tenants>,
    store: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    settings: IndicatorSettings,
}

impl Pusher {
    /// A pusher. `store` receives `rejects/` and `plans/` objects and holds sync sources under `feeds/`.
    pub fn new(
        client: Arc<DefenderClient>,
        tenants: Arc<Tenants>,
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        settings: IndicatorSettings,
    ) -> Self {
        Self {
            client,
            tenants,
            store,
            clock,
            settings,
        }
    }

    /// The pusher of a configuration: the wiring's token client, registry and object store.
    pub async fn from_wiring(wiring: &mde_platform::wiring::Wiring) -> Result<Self, IndicatorPushError> {
        let config = wiring.config();
        config
            .indicators
            .validate()
            .map_err(|e| IndicatorPushError::InvalidSetting(e.to_string()))?;
        let access = mde_tokens::TenantAccess::new(wiring, config.tokens.source)
            .await
            .map_err(|e| IndicatorPushError::InvalidSetting(e.to_string()))?;
        let client = Arc::new(access.defender_client(Default::default()));
        Ok(Self::new(
            client,
            access.tenants,
            wiring.object_store().await,
            Arc::new(mde_platform::SystemClock),
            config.indicators.clone(),
        ))
    }

    /// Where rejects and plans go, for messages to the user.
    pub fn location(&self, key: &str) -> String {
        self.store.location(key)
    }

    /// Pushes a batch. Errors only when the tenant registry cannot be read (every message is then to retry).
    pub async fn push(&self, batch: &[Incoming]) -> Result<PushOutcome, IndicatorPushError> {
        let now = self.clock.now();
        let stamp = now.format(&Rfc3339).unwrap_or_default();
        let snapshot = self
            .tenants
            .snapshot()
            .await
            .map_err(IndicatorPushError::Registry)?;
        let mut rejects: Vec<(usize, IndicatorReject)> = Vec::new();
        let mut deferred: BTreeMap<usize, String> = BTreeMap::new();
        let mut parsed: Vec<Option<Parsed>> = Vec::with_capacity(batch.len());
        for (i, incoming) in batch.iter().enumerate() {
            match message::read(incoming) {
                Ok(m) => {
                    let mut p = Parsed::check(m, now);
                    if let Err(MessageFate::Deferred(reason)) = self.read_source(&mut p, now).await {
                        deferred.insert(i, reason);
                    }
                    parsed.push(Some(p));
                }
                Err(u) => {
                    let mut body = incoming.body.clone();
                    if body.len() > MAX_BODY_IN_REJECT {
                        let mut cut = MAX_BODY_IN_REJECT;
                        while !body.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        body.truncate(cut);
                    }
                    rejects.push((
                        i,
                        reject(None, None, Value::String(body), None, u.code, u.reason, &stamp),
                    ));
                    parsed.push(None);
                }
            }
        }
        // Bad items are rejected once per message, whatever its tenants.
        for (i, p) in parsed.iter().enumerate() {
            let Some(p) = p else { continue };
            let code = if p.refused {
                RejectCode::InvalidMessage
            } else {
                RejectCode::InvalidIndicator
            };
            for b in &p.bad {
                let field = (!b.invalid.field.is_empty()).then(|| b.invalid.field.clone());
                rejects.push((
                    i,
                    reject(
                        Some(p.op),
                        None,
                        b.raw.clone(),
                        field,
                        code,
                        b.invalid.to_string(),
                        &stamp,
                    ),
                ));
            }
        }
        // Each tenant's share: (tenant, dry run) → messages.
        let mut shares: BTreeMap<(TenantId, bool), Vec<(usize, &Parsed)>> = BTreeMap::new();
        for (i, p) in parsed.iter().enumerate() {
            let Some(p) = p else { continue };
            if p.refused
                || deferred.contains_key(&i)
                || (p.indicators.is_empty() && p.refs.is_empty() && p.op != Op::Sync)
            {
                continue;
            }
            let action = match p.op {
                Op::Delete => ActionKind::RemoveIndicator,
                Op::Upsert | Op::Sync => ActionKind::AddIndicator,
            };
            match &p.tenants {
                TenantSelector::All => {
                    for t in snapshot.all_enabled().filter(|t| t.actions.contains(&action)) {
                        shares
                            .entry((t.tenant_id.clone(), p.dry_run))
                            .or_default()
                            .push((i, p));
                    }
                }
                TenantSelector::Listed(ids) => {
                    for id in ids {
                        match refusal(snapshot.get(id), id, action) {
                            None => shares.entry((id.clone(), p.dry_run)).or_default().push((i, p)),
                            Some((code, reason)) => rejects.push((
                                i,
                                reject(
                                    Some(p.op),
                                    Some(id.clone()),
                                    Value::Null,
                                    None,
                                    code,
                                    reason,
                                    &stamp,
                                ),
                            )),
                        }
                    }
                }
            }
        }
        // Boxed and collected first: a stream built from a closure that returns futures borrowing `self` is not
        // `Send` for every lifetime (a known limit of the compiler), and callers spawn this future.
        let jobs: Vec<futures::future::BoxFuture<'_, TenantResult>> = shares
            .into_iter()
            .map(|((tenant, dry_run), messages)| {
                let stamp = stamp.clone();
                let job = async move {
                    TenantPush {
                        client: &self.client,
                        tenant: &tenant,
                        messages,
                        cap: self.settings.active_cap as usize,
                        page_size: self.settings.list_page_size,
                        dry_run,
                        now: stamp,
                    }
                    .run()
                    .await
                };
                Box::pin(job) as futures::future::BoxFuture<'_, TenantResult>
            })
            .collect();
        let results: Vec<_> = futures::stream::iter(jobs)
            .buffer_unordered(TENANT_CONCURRENCY)
            .collect()
            .await;

        let mut summary = IndicatorPushSummary {
            messages: batch.len() as u64,
            dry_run: parsed.iter().flatten().all(|p| p.dry_run) && !batch.is_empty(),
            ..Default::default()
        };
        let mut plans = Vec::new();
        for r in results {
            for (i, why) in r.deferred {
                deferred.entry(i).or_insert(why);
            }
            rejects.extend(r.rejects);
            if let Some(plan) = r.plan {
                plans.push(plan);
            }
            summary.tenants.push(r.summary);
        }
        summary.tenants.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        // Rejects of done messages only, in one object.
        for (i, r) in &mut rejects {
            r.message_id = batch[*i].id.clone();
        }
        let mut final_rejects: Vec<IndicatorReject> = rejects
            .iter()
            .filter(|(i, _)| !deferred.contains_key(i))
            .map(|(_, r)| r.clone())
            .collect();
        if !final_rejects.is_empty() {
            let key = rejects_key(now, &batch[0].id);
            let mut body = Vec::new();
            for r in &final_rejects {
                if serde_json::to_writer(&mut body, r).is_ok() {
                    body.push(b'\n');
                }
            }
            match self
                .store
                .put(&key, Bytes::from(body), PutCondition::Always)
                .await
            {
                Ok(_) => {
                    summary.rejected = final_rejects.len() as u64;
                    summary.rejects_location = Some(self.store.location(&key));
                }
                Err(e) => {
                    error!(error = %e, key, "the rejects could not be written; their messages return to the queue");
                    for (i, _) in &rejects {
                        deferred
                            .entry(*i)
                            .or_insert_with(|| format!("the rejects object could not be written: {e}"));
                    }
                    final_rejects.clear();
                }
            }
        }
        for plan in plans {
            let tenant = plan["tenant_id"].as_str().unwrap_or("unknown").to_owned();
            let key = format!("plans/dt={}/{}-{tenant}.json", date(now), compact(now));
            let body = serde_json::to_vec_pretty(&plan).unwrap_or_default();
            match self
                .store
                .put(&key, Bytes::from(body), PutCondition::Always)
                .await
            {
                Ok(_) => summary.plan_locations.push(self.store.location(&key)),
                Err(e) => warn!(error = %e, key, "a dry-run plan could not be written"),
            }
        }
        let fates: Vec<(String, MessageFate)> = batch
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let fate = match deferred.get(&i) {
                    Some(why) => MessageFate::Deferred(why.clone()),
                    None => MessageFate::Done,
                };
                (m.id.clone(), fate)
            })
            .collect();
        summary.messages_deferred = deferred.len() as u64;
        summary.messages_done = summary.messages - summary.messages_deferred;
        Ok(PushOutcome {
            summary,
            fates,
            rejects: final_rejects,
        })
    }

    /// Reads a sync's set from its source object. Err(Done) when the source is refused (the message is then
    /// rejected), Err(Deferred) when the store failed.
    async fn read_source(&self, p: &mut Parsed, now: OffsetDateTime) -> Result<(), MessageFate> {
        let Some(key) = p.source.clone() else {
            return Ok(());
        };
        match self.store.get(&key).await {
            Ok(Some(object)) => {
                let text = String::from_utf8_lossy(&object.body);
                let mut items = Vec::new();
                for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                    match serde_json::from_str::<Value>(line) {
                        Ok(v) => items.push(v),
                        Err(e) => p.bad.push(message::Bad {
                            raw: Value::String(line.chars().take(1024).collect()),
                            invalid: crate::validate::Invalid {
                                field: String::new(),
                                reason: format!("{key} line {}: not JSON: {e}", n + 1),
                            },
                            key: None,
                        }),
                    }
                }
                if !p.bad.is_empty() {
                    // A sync whose set cannot be read whole would delete what the unreadable lines still want.
                    let reason = format!(
                        "{key}: {} line(s) are not JSON; the sync is refused as a whole so it deletes nothing it should keep",
                        p.bad.len()
                    );
                    p.indicators.clear();
                    p.bad = vec![message::Bad {
                        raw: Value::String(key.clone()),
                        invalid: crate::validate::Invalid {
                            field: "source".into(),
                            reason,
                        },
                        key: None,
                    }];
                    p.refused = true;
                    return Err(MessageFate::Done);
                }
                p.add_items(items, now);
                Ok(())
            }
            Ok(None) => {
                p.bad.push(message::Bad {
                    raw: Value::String(key.clone()),
                    invalid: crate::validate::Invalid {
                        field: "source".into(),
                        reason: format!("{} does not exist", self.store.location(&key)),
                    },
                    key: None,
                });
                p.refused = true;
                Err(MessageFate::Done)
            }
            Err(e) => Err(MessageFate::Deferred(format!(
                "reading the sync source {key}: {e}"
            ))),
        }
    }
}

/// Why a listed tenant gets no share of a message, if it does not.
fn refusal(config: Option<&TenantConfig>, id: &TenantId, action: ActionKind) -> Option<(RejectCode, String)> {
    match config {
        None => Some((
            RejectCode::UnknownTenant,
            format!(
                "tenant {id} is not in the tenant registry: add it (mde-bridge tenants add) or fix the id"
            ),
        )),
        Some(t) if !t.enabled => Some((
            RejectCode::UnknownTenant,
            format!("tenant {id} is disabled in the tenant registry"),
        )),
        Some(t) if !t.actions.contains(&action) => Some((
            RejectCode::TenantNotAllowed,
            format!(
                "tenant {id} does not allow {}: add it to the tenant's actions (mde-bridge tenants update) if the customer agreed",
                serde_json::to_value(action)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        )),
        Some(_) => None,
    }
}

fn reject(
    op: Option<Op>,
    tenant: Option<TenantId>,
    indicator: Value,
    field: Option<String>,
    code: RejectCode,
    reason: String,
    time: &str,
) -> IndicatorReject {
    IndicatorReject {
        message_id: String::new(),
        op: op.map(|o| o.as_str().to_owned()),
        tenant_id: tenant,
        indicator,
        field,
        code,
        reason,
        time: time.to_owned(),
    }
}

/// `rejects/dt=<date>/<time>-<first message id>.ndjson`: one object per push.
pub fn rejects_key(now: OffsetDateTime, first_message: &str) -> String {
    let id: String = first_message
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("rejects/dt={}/{}-{id}.ndjson", date(now), compact(now))
}

fn date(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn compact(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}
