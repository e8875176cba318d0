//! [`Executor`]: one queued request (or one follow-up poll) in, its audit record updated, and what the queue
//! should do with the message out.
//!
//! A request is idempotent on its id: a delivery finds the audit record of an earlier one and goes on from
//! there — a completed request is not performed again, a waiting one only gets its poll scheduled again, and a
//! device action always looks at the device's pending actions before acting.

use std::sync::Arc;
use std::time::Duration;

use mde_contracts::{
    AuditRecord, ExecutorMessage, ExecutorSettings, OutcomeCode, PollMessage, QueuedRequest, RequestStatus,
    TrackedAction, WebhookEvent,
};
use mde_defender::DefenderClient;
use mde_defender::api::endpoint as ep;
use mde_platform::{Clock, ObjectStore, Queue, SendOptions, Tenants};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::audit::{AuditLog, Loaded};
use crate::step::{Calls, Step, on_error, outcome, rfc3339};
use crate::{ExecutorError, correlate, device, hunting, indicators, records};

/// What the queue should do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Delete it: nothing left to do for it.
    Done,
    /// Deliver it again after `after` (a transient failure).
    Retry {
        /// How long to wait.
        after: Duration,
        /// Why.
        reason: String,
    },
}

/// The executor with its ports.
pub struct Executor {
    client: Arc<DefenderClient>,
    tenants: Arc<Tenants>,
    pusher: Arc<mde_indicators::Pusher>,
    store: Arc<dyn ObjectStore>,
    audit: AuditLog,
    polls: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    settings: ExecutorSettings,
    metrics: bool,
}

/// The shortest wait before a retry, doubled per receive up to SQS's 15 minutes.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);

fn backoff(receive_count: u32, at_least: Option<u64>) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1u32 << receive_count.saturating_sub(1).min(8));
    doubled
        .max(Duration::from_secs(at_least.unwrap_or(0)))
        .min(mde_platform::queue::MAX_DELAY)
}

fn is_terminal(status: &str) -> bool {
    device::terminal_outcome(status).is_some()
}

impl Executor {
    /// An executor over its ports. `store` holds audit records and hunting results; `polls` is the standard
    /// queue of follow-ups.
    pub fn new(
        client: Arc<DefenderClient>,
        tenants: Arc<Tenants>,
        pusher: Arc<mde_indicators::Pusher>,
        store: Arc<dyn ObjectStore>,
        polls: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        settings: ExecutorSettings,
    ) -> Self {
        Self {
            client,
            tenants,
            pusher,
            audit: AuditLog::new(Arc::clone(&store), settings.audit_prefix.clone()),
            store,
            polls,
            clock,
            settings,
            metrics: false,
        }
    }

    /// The same executor, printing CloudWatch EMF lines on stdout as requests end or retry (under Lambda).
    pub fn emitting_metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// The executor of a configuration: one token client and Defender client for the process (shared with
    /// indicator-push's core), the registry, `[storage]`, and the poll queue given or `[executor].poll_queue_url`.
    pub async fn from_wiring(
        wiring: &mde_platform::wiring::Wiring,
        polls: Option<Arc<dyn Queue>>,
    ) -> Result<Self, ExecutorError> {
        let config = wiring.config();
        config
            .executor
            .validate()
            .map_err(|e| ExecutorError::Config(e.to_string()))?;
        let polls = match (polls, &config.executor.poll_queue_url) {
            (Some(q), _) => q,
            (None, Some(url)) => wiring.queue(url).await,
            (None, None) => {
                return Err(ExecutorError::Config(
                    "executor.poll_queue_url: required (MDE_BRIDGE_EXECUTOR_POLL_QUEUE_URL, the SQS standard queue \
                     of follow-up polls)"
                        .into(),
                ));
            }
        };
        let access = mde_tokens::TenantAccess::new(wiring, config.tokens.source)
            .await
            .map_err(|e| ExecutorError::Config(e.to_string()))?;
        let client = Arc::new(access.defender_client(mde_defender::api::ClientConfig {
            rate_limits: mde_defender::api::RateLimitConfig::shared_by(config.executor.concurrency),
            ..Default::default()
        }));
        let store = wiring.object_store().await;
        let clock: Arc<dyn Clock> = Arc::new(mde_platform::SystemClock);
        let pusher = Arc::new(mde_indicators::Pusher::new(
            Arc::clone(&client),
            Arc::clone(&access.tenants),
            Arc::clone(&store),
            Arc::clone(&clock),
            config.indicators.clone(),
        ));
        Ok(Self::new(
            client,
            access.tenants,
            pusher,
            store,
            polls,
            clock,
            config.executor.clone(),
        ))
    }

    /// The audit record of a request.
    pub async fn audit_record(&self, request_id: &str) -> Result<Option<AuditRecord>, ExecutorError> {
        Ok(self.audit.load(request_id).await?.map(|l| l.record))
    }

    /// Handles one message of either queue. A body that is not an executor message is dropped with an error
    /// log (its dead-letter queue would hold it forever for nothing: it can never be performed).
    pub async fn handle_message(&self, body: &str, receive_count: u32) -> Disposition {
        match serde_json::from_str::<ExecutorMessage>(body) {
            Ok(ExecutorMessage::Request(request)) => self.execute(&request, receive_count).await,
            Ok(ExecutorMessage::Poll { poll }) => self.poll(&poll, receive_count).await,
            Err(e) => {
                warn!(error = %e, bytes = body.len(), "not an executor message; dropped");
                Disposition::Done
            }
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn calls(&self, dry_run: bool) -> Calls {
        let clock = Arc::clone(&self.clock);
        Calls::new(move || clock.now(), dry_run)
    }

    /// Performs a request (or goes on with it).
    pub async fn execute(&self, request: &QueuedRequest, receive_count: u32) -> Disposition {
        match self.execute_inner(request, receive_count).await {
            Ok(d) => d,
            Err(e) => Disposition::Retry {
                after: backoff(receive_count, None),
                reason: e.to_string(),
            },
        }
    }

    async fn execute_inner(
        &self,
        request: &QueuedRequest,
        receive_count: u32,
    ) -> Result<Disposition, ExecutorError> {
        let now = self.now();
        let loaded = match self.audit.load(&request.request_id).await? {
            Some(l) => l,
            None => Loaded {
                record: self.new_record(request, now),
                etag: None,
            },
        };
        match loaded.record.status {
            RequestStatus::Completed => return Ok(Disposition::Done),
            RequestStatus::Waiting => {
                // Its poll may have been lost with the delivery that wrote this: schedule one again (a second
                // poll of one action is harmless).
                if let Some(action) = &loaded.record.machine_action {
                    self.schedule_poll(&loaded.record, action).await?;
                }
                return Ok(Disposition::Done);
            }
            RequestStatus::Queued | RequestStatus::Running => {}
        }
        let mut loaded = loaded;
        loaded.record.status = RequestStatus::Running;
        loaded.record.attempts += 1;
        loaded.record.updated_at = rfc3339(now);
        let loaded = self.audit.save(loaded).await?;

        let mut calls = self.calls(request.dry_run);
        let step = match self.allowed(request).await {
            Ok(None) => self.perform(request, &mut calls).await,
            Ok(Some(refusal)) => refusal,
            Err(reason) => Step::Retry { reason, after: None },
        };
        self.settle(loaded, calls, step, receive_count).await
    }

    fn new_record(&self, request: &QueuedRequest, now: OffsetDateTime) -> AuditRecord {
        let received = OffsetDateTime::from_unix_timestamp(request.received_at).unwrap_or(now);
        AuditRecord {
            version: 1,
            request_id: request.request_id.clone(),
            key_id: request.key_id.clone(),
            webhook_id: request.webhook_id.clone(),
            tenant_id: request.event.tenant_id().clone(),
            action: request.event.action(),
            dry_run: request.dry_run,
            status: RequestStatus::Queued,
            received_at: rfc3339(received),
            started_at: rfc3339(now),
            updated_at: rfc3339(now),
            finished_at: None,
            attempts: 0,
            last_error: None,
            event: request.event.clone(),
            calls: Vec::new(),
            machine_action: None,
            outcome: None,
        }
    }

    /// Whether the tenant still allows the key this action (it may have changed since the webhook accepted the
    /// request): `Ok(Some(step))` ends the request, `Err` retries it (the registry cannot be read).
    async fn allowed(&self, request: &QueuedRequest) -> Result<Option<Step>, String> {
        let snapshot = self.tenants.snapshot().await.map_err(|e| e.to_string())?;
        let tenant = request.event.tenant_id();
        let action = request.event.action();
        let allowed = snapshot.enabled(tenant).is_some_and(|t| {
            t.actions.contains(&action)
                && t.binding(&request.key_id)
                    .is_some_and(|b| b.actions.contains(&action))
        });
        Ok((!allowed).then(|| {
            Step::Done(outcome(
                OutcomeCode::NotAllowed,
                format!(
                    "tenant {tenant} is no longer enabled, or no longer lets key {} ask for {action}",
                    request.key_id
                ),
                Value::Null,
            ))
        }))
    }

    async fn perform(&self, request: &QueuedRequest, calls: &mut Calls) -> Step {
        let client = &*self.client;
        match &request.event {
            WebhookEvent::DeviceAction(a) => {
                let minutes = self
                    .settings
                    .poll_limits
                    .minutes(a.action, a.scan_type.as_deref() == Some("full"));
                let until = self.now() + time::Duration::minutes(i64::try_from(minutes).unwrap_or(60));
                device::perform(client, &a.tenant_id, a, until, calls).await
            }
            WebhookEvent::ExternalAlert(e) => correlate::perform(client, &request.key_id, e, calls).await,
            WebhookEvent::Indicator(i) => {
                indicators::perform(&self.pusher, &request.request_id, i, calls).await
            }
            WebhookEvent::AlertUpdate(u) => records::perform(client, u, records::Target::Alert, calls).await,
            WebhookEvent::IncidentUpdate(u) => {
                records::perform(client, u, records::Target::Incident, calls).await
            }
            WebhookEvent::HuntingQuery(q) => {
                let key = format!(
                    "{}{}/{}.json",
                    self.settings.hunting_prefix, q.tenant_id, request.request_id
                );
                hunting::perform(client, &*self.store, &key, &request.request_id, q, calls).await
            }
        }
    }

    /// Records a step's calls and result, and says what the queue does with the message.
    async fn settle(
        &self,
        mut loaded: Loaded,
        calls: Calls,
        step: Step,
        receive_count: u32,
    ) -> Result<Disposition, ExecutorError> {
        let now = self.now();
        let record = &mut loaded.record;
        record.calls.extend(calls.list);
        record.updated_at = rfc3339(now);
        let mut disposition = Disposition::Done;
        let mut poll = None;
        match step {
            Step::Done(outcome) => {
                record.last_error = None;
                finish(record, outcome, now);
            }
            Step::Wait(action) if is_terminal(&action.status) => {
                let (code, reason) = action_outcome(&action);
                record.machine_action = Some(action.clone());
                finish(record, outcome(code, reason, action_result(&action)), now);
            }
            Step::Wait(action) => {
                record.status = RequestStatus::Waiting;
                record.last_error = None;
                record.machine_action = Some(action.clone());
                poll = Some(action);
            }
            Step::Retry { reason, .. } if receive_count >= self.settings.max_attempts => {
                finish(
                    record,
                    outcome(
                        OutcomeCode::RetriesExhausted,
                        format!("gave up after {receive_count} attempts: {reason}"),
                        Value::Null,
                    ),
                    now,
                );
            }
            Step::Retry { reason, after } => {
                record.status = RequestStatus::Running;
                record.last_error = Some(reason.clone());
                disposition = Disposition::Retry {
                    after: backoff(receive_count, after),
                    reason,
                };
            }
        }
        let saved = self.audit.save(loaded).await?;
        if let Some(action) = poll {
            self.schedule_poll(&saved.record, &action).await?;
        }
        log_state(&saved.record, &disposition);
        if self.metrics {
            let record = &saved.record;
            let line = match (&disposition, &record.outcome) {
                (Disposition::Retry { .. }, _) => Some(crate::metrics::retry_line(record.action, now)),
                (Disposition::Done, Some(o)) if record.status == RequestStatus::Completed => {
                    Some(crate::metrics::completed_line(record.action, o.code, now))
                }
                _ => None,
            };
            if let Some(line) = line {
                use std::io::Write as _;
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        }
        Ok(disposition)
    }

    async fn schedule_poll(&self, record: &AuditRecord, action: &TrackedAction) -> Result<(), ExecutorError> {
        let deadline =
            time::OffsetDateTime::parse(&action.poll_until, &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp())
                .unwrap_or_else(|_| self.now().unix_timestamp());
        let message = ExecutorMessage::Poll {
            poll: PollMessage {
                request_id: record.request_id.clone(),
                tenant_id: record.tenant_id.clone(),
                action_id: action.id.clone(),
                deadline,
            },
        };
        let body = serde_json::to_string(&message).map_err(|e| ExecutorError::Config(e.to_string()))?;
        let left = u64::try_from(deadline - self.now().unix_timestamp()).unwrap_or(0);
        let delay = Duration::from_secs(self.settings.poll_interval_seconds.min(left.max(1)));
        self.polls
            .send(
                &body,
                &SendOptions {
                    delay: Some(delay),
                    ..SendOptions::default()
                },
            )
            .await
            .map_err(ExecutorError::Queue)?;
        Ok(())
    }

    /// Looks at a machine action again.
    pub async fn poll(&self, poll: &PollMessage, receive_count: u32) -> Disposition {
        match self.poll_inner(poll, receive_count).await {
            Ok(d) => d,
            Err(e) => Disposition::Retry {
                after: backoff(receive_count, None),
                reason: e.to_string(),
            },
        }
    }

    async fn poll_inner(&self, poll: &PollMessage, receive_count: u32) -> Result<Disposition, ExecutorError> {
        let Some(mut loaded) = self.audit.load(&poll.request_id).await? else {
            warn!(request_id = %poll.request_id, "a poll for a request without an audit record; dropped");
            return Ok(Disposition::Done);
        };
        let waiting_for_this = loaded.record.status == RequestStatus::Waiting
            && loaded
                .record
                .machine_action
                .as_ref()
                .is_some_and(|a| a.id == poll.action_id);
        if !waiting_for_this {
            return Ok(Disposition::Done);
        }
        let mut calls = self.calls(false);
        let op = ep::MDE_MACHINE_ACTIONS_GET.name;
        let now = self.now();
        let step = match self
            .client
            .get_machine_action(&poll.tenant_id, &poll.action_id)
            .await
        {
            Err(e) => {
                calls.failed(op, &poll.action_id, &e);
                on_error(&e, OutcomeCode::NotFound)
            }
            Ok(action) => {
                let status = action.status.clone().unwrap_or_default();
                let tracked = loaded.record.machine_action.clone();
                let changed = tracked.as_ref().is_some_and(|t| t.status != status);
                if changed || is_terminal(&status) {
                    calls.ok(op, &poll.action_id, 200, Some(status.clone()));
                }
                let mut tracked = tracked.unwrap_or_else(|| TrackedAction {
                    id: action.id.clone(),
                    action_type: action.action_type.clone().unwrap_or_default(),
                    machine_id: action.machine_id.clone().unwrap_or_default(),
                    status: status.clone(),
                    reused: false,
                    poll_until: rfc3339(now),
                });
                tracked.status = status.clone();
                if is_terminal(&status) {
                    let (code, reason) = action_outcome(&tracked);
                    Step::Done(outcome(code, reason, action_result(&tracked)))
                } else if now.unix_timestamp() >= poll.deadline {
                    Step::Done(outcome(
                        OutcomeCode::Unconfirmed,
                        format!(
                            "Defender still reports the {} action {} {status} at the end of its polling window; it \
                             may still run (see the device's action center)",
                            tracked.action_type, tracked.id
                        ),
                        action_result(&tracked),
                    ))
                } else if changed {
                    Step::Wait(tracked)
                } else {
                    // Nothing new: no write, only the next look.
                    self.schedule_poll(&loaded.record, &tracked).await?;
                    return Ok(Disposition::Done);
                }
            }
        };
        if let Step::Wait(t) = &step {
            loaded.record.machine_action = Some(t.clone());
        }
        self.settle(loaded, calls, step, receive_count).await
    }
}

fn finish(record: &mut AuditRecord, outcome: mde_contracts::Outcome, now: OffsetDateTime) {
    record.status = RequestStatus::Completed;
    record.finished_at = Some(rfc3339(now));
    record.outcome = Some(outcome);
}

fn action_outcome(action: &TrackedAction) -> (OutcomeCode, String) {
    (
        device::terminal_outcome(&action.status).unwrap_or(OutcomeCode::ActionCancelled),
        format!(
            "Defender reports the {} action {} {}",
            action.action_type, action.id, action.status
        ),
    )
}

fn action_result(action: &TrackedAction) -> Value {
    json!({
        "machine_action_id": action.id,
        "machine_id": action.machine_id,
        "type": action.action_type,
        "status": action.status,
        "reused": action.reused,
    })
}

fn log_state(record: &AuditRecord, disposition: &Disposition) {
    let outcome = record.outcome.as_ref().map(|o| o.code);
    match disposition {
        Disposition::Done => info!(
            request_id = %record.request_id,
            tenant = %record.tenant_id,
            action = %record.action,
            status = ?record.status,
            outcome = ?outcome,
            dry_run = record.dry_run,
            "request settled"
        ),
        Disposition::Retry { after, reason } => warn!(
            request_id = %record.request_id,
            tenant = %record.tenant_id,
            action = %record.action,
            retry_in_seconds = after.as_secs(),
            reason = %reason,
            "request to retry"
        ),
    }
}
