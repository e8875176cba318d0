//! One tenant's share of a push: preflight, one listing, the operations merged in message order (last write
//! wins per type and value), the cap, BatchDelete then import in chunks of 500, and each item's outcome mapped
//! back to the messages it came from.
//!
//! Assumptions about Defender, each documented (see `../shared/defender-api.md` §4.5 and §8):
//! - `GET /api/indicators` lists *active* indicators (expired ones are deleted by Defender); with `Ti.ReadWrite`
//!   only the application's own. No order is assumed: the listing is read whole (`$top` ≤ 10,000, `$skip`).
//! - An import answers one result per item, failed items included (`isFailed`, `failureReason`); results are
//!   matched to items by position when the counts agree, else by value.
//! - Import is an upsert keyed by type and value; `application` is applied on create only, so a sync's tag
//!   stays with the indicator it created.
//! - BatchDelete answers 404 when any id no longer exists (all or nothing): the listing is read again and the
//!   delete retried once with the ids that remain.

use std::collections::{BTreeMap, HashMap};

use futures::TryStreamExt;
use mde_contracts::{IndicatorReject, RejectCode, TenantId, TenantPushSummary};
use mde_defender::api::{Indicator, MAX_INDICATOR_BATCH, NewIndicator, Query, endpoint};
use mde_defender::{DefenderClient, DefenderError};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::message::{Op, Parsed, Target};
use crate::validate::{self, IndicatorKey};

/// The result of one tenant: its summary, the fate of each message part (by message index), its rejects (by
/// message index) and, in a dry run, the plan.
#[derive(Debug, Default)]
pub struct TenantResult {
    /// Counts.
    pub summary: TenantPushSummary,
    /// Deferred message indexes with a reason; every other message index touched is done.
    pub deferred: BTreeMap<usize, String>,
    /// Rejects, by message index.
    pub rejects: Vec<(usize, IndicatorReject)>,
    /// In a dry run: what would be imported and deleted.
    pub plan: Option<Value>,
}

/// One operation on a key, with the messages that asked for it (the last one wins; the earlier ones share its
/// outcome).
#[derive(Debug, Clone)]
struct Planned {
    op: PlanOp,
    /// The item as received (for rejects and plans).
    raw: Value,
    owners: Vec<usize>,
}

/// What is done with a key.
#[derive(Debug, Clone)]
enum PlanOp {
    Import(Box<NewIndicator>),
    Delete,
    Unchanged,
}

/// An indicator as listed.
#[derive(Debug, Clone)]
struct Existing {
    id: String,
    application: Option<String>,
    record: Indicator,
}

/// Everything needed to push into one tenant.
pub struct TenantPush<'a> {
    /// The client.
    pub client: &'a DefenderClient,
    /// The tenant.
    pub tenant: &'a TenantId,
    /// Its messages: (index in the batch, message), in batch order.
    pub messages: Vec<(usize, &'a Parsed)>,
    /// Active indicators a tenant may hold.
    pub cap: usize,
    /// `$top` of the listing.
    pub page_size: u32,
    /// Report only.
    pub dry_run: bool,
    /// Time of the rejects (RFC 3339).
    pub now: String,
}

impl TenantPush<'_> {
    /// Runs the tenant's share. Never fails: what cannot be done now is deferred with the reason.
    pub async fn run(self) -> TenantResult {
        let mut result = TenantResult {
            summary: TenantPushSummary {
                tenant_id: Some(self.tenant.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        // Preflight: a missing permission is told apart from bad data before anything is sent.
        let roles = match self
            .client
            .check_access(&endpoint::MDE_INDICATORS_IMPORT, self.tenant)
            .await
        {
            Ok(roles) => roles,
            Err(e) => return self.defer_all(result, &e),
        };
        let sees_all = roles.iter().any(|r| r == "Ti.ReadWrite.All");
        let existing = match self.list().await {
            Ok(e) => e,
            Err(e) => return self.defer_all(result, &e),
        };
        let plan = self.plan(&existing);
        let mut deletes: Vec<(String, IndicatorKey)> = Vec::new();
        let mut imports: Vec<IndicatorKey> = Vec::new();
        for (key, p) in &plan {
            match &p.op {
                PlanOp::Delete => match existing.get(key) {
                    Some(e) => deletes.push((e.id.clone(), key.clone())),
                    None => result.summary.unchanged += 1,
                },
                PlanOp::Import(_) => imports.push(key.clone()),
                PlanOp::Unchanged => result.summary.unchanged += 1,
            }
        }
        // Deletes by id that the listing does not show are already gone (or not this application's to see).
        let ids_listed: HashMap<&str, &IndicatorKey> =
            existing.iter().map(|(k, e)| (e.id.as_str(), k)).collect();
        let mut id_owners: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, m) in &self.messages {
            for r in &m.refs {
                if let Target::Id(id) = &r.target {
                    match ids_listed.get(id.as_str()) {
                        Some(key) if !plan.contains_key(*key) => {
                            id_owners.entry(id.clone()).or_default().push(*i)
                        }
                        Some(_) => {}
                        None => result.summary.unchanged += 1,
                    }
                }
            }
        }
        // The cap: deletes go first and make room; new values beyond the room are refused before Defender sees them.
        let active = existing.len();
        let room = self
            .cap
            .saturating_sub(active.saturating_sub(deletes.len() + id_owners.len()));
        let (fits, over): (Vec<_>, Vec<_>) = {
            let mut new = 0usize;
            imports.into_iter().partition(|k| {
                if existing.contains_key(k) {
                    true
                } else {
                    new += 1;
                    new <= room
                }
            })
        };
        for key in &over {
            let p = &plan[key];
            let visibility = if sees_all {
                ""
            } else {
                " (this application holds Ti.ReadWrite, so it sees only its own indicators: others' count too)"
            };
            self.reject_owned(
                &mut result,
                p,
                RejectCode::OverCap,
                format!(
                    "tenant {} holds {active} active indicators{visibility}; with the {} deleted first, {room} new ones \
                     fit under the cap of {}: delete indicators, or let some expire, then send it again",
                    self.tenant,
                    deletes.len() + id_owners.len(),
                    self.cap
                ),
            );
        }
        if self.dry_run {
            result.summary.imported = fits.len() as u64;
            result.summary.deleted = (deletes.len() + id_owners.len()) as u64;
            result.summary.active = Some(
                (active - deletes.len() - id_owners.len()
                    + fits.iter().filter(|k| !existing.contains_key(*k)).count()) as u64,
            );
            result.plan = Some(json!({
                "tenant_id": self.tenant,
                "import": fits.iter().map(|k| &plan[k].raw).collect::<Vec<_>>(),
                "delete": deletes.iter().map(|(id, (t, v))| json!({"id": id, "indicatorType": t, "indicatorValue": v}))
                    .chain(id_owners.keys().map(|id| json!({"id": id}))).collect::<Vec<_>>(),
                "unchanged": result.summary.unchanged,
                "over_cap": over.len(),
            }));
            return result;
        }
        // Deletes, by key and by id, in chunks of 500.
        let mut delete_ids: Vec<(String, Vec<usize>)> = deletes
            .iter()
            .map(|(id, key)| (id.clone(), plan[key].owners.clone()))
            .collect();
        delete_ids.extend(id_owners);
        for chunk in delete_ids.chunks(MAX_INDICATOR_BATCH) {
            match self.delete(chunk).await {
                Ok(n) => result.summary.deleted += n,
                Err(e) => {
                    let reason = e.to_string();
                    result.summary.deferred += chunk.len() as u64;
                    result
                        .summary
                        .deferred_reason
                        .get_or_insert_with(|| reason.clone());
                    for (_, owners) in chunk {
                        for o in owners {
                            result.deferred.entry(*o).or_insert_with(|| reason.clone());
                        }
                    }
                }
            }
        }
        // Imports, in chunks of 500.
        let bodies: Vec<(&IndicatorKey, &Planned)> = fits.iter().map(|k| (k, &plan[k])).collect();
        let mut created = 0;
        for chunk in bodies.chunks(MAX_INDICATOR_BATCH) {
            created += self.import(chunk, &existing, &mut result).await;
        }
        result.summary.active = Some((active as u64 + created).saturating_sub(result.summary.deleted));
        info!(
            tenant = %self.tenant,
            imported = result.summary.imported,
            deleted = result.summary.deleted,
            unchanged = result.summary.unchanged,
            rejected = result.summary.rejected,
            deferred = result.summary.deferred,
            "indicators pushed"
        );
        result
    }

    /// Every message part deferred, for an error that stops the whole tenant (missing permission, unavailable).
    fn defer_all(&self, mut result: TenantResult, e: &DefenderError) -> TenantResult {
        let reason = e.to_string();
        warn!(tenant = %self.tenant, reason = %reason, "indicators deferred; their messages return to the queue");
        for (i, m) in &self.messages {
            result.deferred.insert(*i, reason.clone());
            result.summary.deferred += (m.indicators.len() + m.refs.len()) as u64;
        }
        result.summary.deferred_reason = Some(reason);
        result
    }

    /// The tenant's active indicators this application sees, by key. No order is assumed: the whole list is read.
    async fn list(&self) -> Result<BTreeMap<IndicatorKey, Existing>, DefenderError> {
        let query = Query::new().top(self.page_size);
        let pages: Vec<Vec<Indicator>> = self
            .client
            .indicators(self.tenant, &query)
            .map_ok(|page| page.items)
            .try_collect()
            .await?;
        let mut out = BTreeMap::new();
        for record in pages.into_iter().flatten() {
            let (Some(t), Some(v)) = (
                record.indicator_type.as_deref(),
                record.indicator_value.as_deref(),
            ) else {
                continue;
            };
            let Ok(t) = serde_json::from_value(json!(t)) else {
                continue;
            };
            let application = record
                .extra
                .get("application")
                .and_then(Value::as_str)
                .map(str::to_owned);
            out.insert(
                validate::key(t, v),
                Existing {
                    id: record.id.clone(),
                    application,
                    record,
                },
            );
        }
        Ok(out)
    }

    /// Merges the messages' operations in order; rejects their bad items.
    fn plan(&self, existing: &BTreeMap<IndicatorKey, Existing>) -> BTreeMap<IndicatorKey, Planned> {
        let mut plan: BTreeMap<IndicatorKey, Planned> = BTreeMap::new();
        let mut put = |key: IndicatorKey, op: PlanOp, raw: Value, owner: usize| {
            let mut owners = plan.remove(&key).map(|p| p.owners).unwrap_or_default();
            owners.push(owner);
            plan.insert(key, Planned { op, raw, owners });
        };
        for (i, m) in &self.messages {
            match m.op {
                Op::Upsert => {
                    for v in &m.indicators {
                        // What Defender already holds as asked costs no call.
                        let op = match existing.get(&v.key) {
                            Some(e) if same(&v.body, e) => PlanOp::Unchanged,
                            _ => PlanOp::Import(Box::new(v.body.clone())),
                        };
                        put(v.key.clone(), op, v.raw.clone(), *i);
                    }
                }
                Op::Delete => {
                    for r in &m.refs {
                        if let Target::Key(key) = &r.target {
                            put(key.clone(), PlanOp::Delete, r.raw.clone(), *i);
                        }
                    }
                }
                Op::Sync => {
                    let tag = m.feed.as_ref().map(|f| f.application_tag());
                    let mut wanted: Vec<&IndicatorKey> = Vec::new();
                    for v in &m.indicators {
                        wanted.push(&v.key);
                        let op = match existing.get(&v.key) {
                            Some(e) if same(&v.body, e) => PlanOp::Unchanged,
                            _ => PlanOp::Import(Box::new(v.body.clone())),
                        };
                        put(v.key.clone(), op, v.raw.clone(), *i);
                    }
                    // A bad item still names a value the feed wants: never deleted for being malformed.
                    wanted.extend(m.bad.iter().filter_map(|b| b.key.as_ref()));
                    for (key, e) in existing {
                        if e.application.is_some() && e.application == tag && !wanted.contains(&key) {
                            put(
                                key.clone(),
                                PlanOp::Delete,
                                json!({"id": e.id, "indicatorType": key.0, "indicatorValue": key.1}),
                                *i,
                            );
                        }
                    }
                }
            }
        }
        plan
    }

    /// Rejects a planned item for every message that asked for it.
    fn reject_owned(&self, result: &mut TenantResult, p: &Planned, code: RejectCode, reason: String) {
        result.summary.rejected += 1;
        for owner in &p.owners {
            let op = self
                .messages
                .iter()
                .find(|(i, _)| i == owner)
                .map(|(_, m)| m.op.as_str());
            result.rejects.push((
                *owner,
                IndicatorReject {
                    message_id: String::new(),
                    op: op.map(str::to_owned),
                    tenant_id: Some(self.tenant.clone()),
                    indicator: p.raw.clone(),
                    field: None,
                    code,
                    reason: reason.clone(),
                    time: self.now.clone(),
                },
            ));
        }
    }

    /// BatchDelete of up to 500 ids; a 404 (some id already gone) re-reads the listing and retries once.
    async fn delete(&self, chunk: &[(String, Vec<usize>)]) -> Result<u64, DefenderError> {
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
        match self.client.delete_indicators(self.tenant, &ids).await {
            Ok(()) => Ok(ids.len() as u64),
            Err(DefenderError::NotFound { .. }) => {
                let still: Vec<String> = {
                    let listed = self.list().await?;
                    let live: std::collections::HashSet<&str> =
                        listed.values().map(|e| e.id.as_str()).collect();
                    ids.into_iter().filter(|id| live.contains(id.as_str())).collect()
                };
                if still.is_empty() {
                    return Ok(0);
                }
                self.client.delete_indicators(self.tenant, &still).await?;
                Ok(still.len() as u64)
            }
            Err(e) => Err(e),
        }
    }

    /// Imports up to 500 items and maps each result back; a whole-call 400 is bisected to find the item at fault.
    /// Returns how many were created (not in `existing`).
    async fn import(
        &self,
        chunk: &[(&IndicatorKey, &Planned)],
        existing: &BTreeMap<IndicatorKey, Existing>,
        result: &mut TenantResult,
    ) -> u64 {
        let mut created = 0;
        let mut pending: Vec<&[(&IndicatorKey, &Planned)]> = vec![chunk];
        while let Some(part) = pending.pop() {
            let bodies: Vec<NewIndicator> = part
                .iter()
                .filter_map(|(_, p)| match &p.op {
                    PlanOp::Import(b) => Some((**b).clone()),
                    _ => None,
                })
                .collect();
            match self.client.import_indicators(self.tenant, &bodies).await {
                Ok(answers) => {
                    let by_position = answers.len() == bodies.len();
                    let mut by_value: HashMap<String, &mde_defender::api::ImportResult> = HashMap::new();
                    if !by_position {
                        for a in &answers {
                            if let Some(v) = &a.indicator {
                                by_value.insert(v.to_lowercase(), a);
                            }
                        }
                    }
                    for (n, (key, p)) in part.iter().enumerate() {
                        let answer = if by_position {
                            answers.get(n)
                        } else {
                            by_value.get(&key.1).copied()
                        };
                        match answer {
                            Some(a) if !a.is_failed => {
                                result.summary.imported += 1;
                                created += u64::from(!existing.contains_key(*key));
                            }
                            Some(a) => {
                                let why = a
                                    .failure_reason
                                    .clone()
                                    .unwrap_or_else(|| "no reason given".into());
                                self.reject_owned(
                                    result,
                                    p,
                                    RejectCode::RejectedByDefender,
                                    format!("Defender refused it: {why}"),
                                );
                            }
                            None => {
                                // No answer for it: it may or may not be stored; sending it again is safe (upsert).
                                let reason = "the import answered no result for this indicator".to_owned();
                                result.summary.deferred += 1;
                                for o in &p.owners {
                                    result.deferred.entry(*o).or_insert_with(|| reason.clone());
                                }
                            }
                        }
                    }
                }
                Err(DefenderError::Api {
                    status: 400, message, ..
                }) if part.len() > 1 => {
                    warn!(tenant = %self.tenant, items = part.len(), %message, "import refused as a whole; bisecting to find the item at fault");
                    let (a, b) = part.split_at(part.len() / 2);
                    pending.push(b);
                    pending.push(a);
                }
                Err(DefenderError::Api {
                    status: 400,
                    code,
                    message,
                    ..
                }) => {
                    let p = part[0].1;
                    self.reject_owned(
                        result,
                        p,
                        RejectCode::RejectedByDefender,
                        format!("Defender refused it: {code}: {message}"),
                    );
                }
                Err(e @ DefenderError::InvalidRequest { .. }) => {
                    for (_, p) in part {
                        self.reject_owned(result, p, RejectCode::RejectedByDefender, e.to_string());
                    }
                }
                Err(e) => {
                    let reason = e.to_string();
                    result.summary.deferred += part.len() as u64;
                    result
                        .summary
                        .deferred_reason
                        .get_or_insert_with(|| reason.clone());
                    for (_, p) in part {
                        for o in &p.owners {
                            result.deferred.entry(*o).or_insert_with(|| reason.clone());
                        }
                    }
                }
            }
        }
        created
    }
}

/// Whether a listed indicator already says what the body says (fields the body leaves out are not compared;
/// `application` is Defender's to keep).
fn same(body: &NewIndicator, existing: &Existing) -> bool {
    let Ok(Value::Object(wanted)) = serde_json::to_value(body) else {
        return false;
    };
    let listed = serde_json::to_value(&existing.record).unwrap_or(Value::Null);
    wanted.iter().all(|(k, v)| match k.as_str() {
        "application" | "indicatorValue" | "indicatorType" => true,
        "expirationTime" => {
            let parse = |v: &Value| {
                v.as_str().and_then(|s| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
                })
            };
            parse(v) == parse(&listed[k])
        }
        "rbacGroupNames" => {
            let names = |v: &Value| {
                let mut n: Vec<String> = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_lowercase)
                            .collect()
                    })
                    .unwrap_or_default();
                n.sort();
                n
            };
            names(v) == names(&listed[k])
        }
        _ => listed.get(k) == Some(v),
    })
}
