//! Shared set-up of the actions_* tests: the whole partner request path over real sockets — a signed POST to the
//! webhook, its FIFO queue, the action executor against the sandbox, the audit record, the status endpoint. They
//! live with the CLI because they join two functions (alert-webhook and action-executor) that do not depend on
//! each other; queues are in-process with SQS semantics (the executor's own Lambda test runs on moto).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use action_executor::{DrainReport, Executor, drain};
use alert_webhook::signature::{SigningKey, Verifier};
use alert_webhook::{StaticKeys, Webhook};
use bytes::Bytes;
use http::{Method, Request};
use mde_contracts::{
    ActionKind, ExecutorSettings, IndicatorSettings, PartnerBinding, TenantConfig, WebhookSettings,
};
use mde_defender::DefenderClient;
use mde_defender::api::RateLimitConfig;
use mde_platform::idempotency::MemoryIdempotency;
use mde_platform::objects::LocalObjectStore;
use mde_platform::queue::LocalQueue;
use mde_platform::testing::OffsetClock;
use mde_platform::{ObjectStore, SystemClock, Tenants};
use mde_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::{Value, json};

pub const FULL: &str = mde_sandbox::DEMO_TENANT_FULL;
pub const PARTIAL: &str = mde_sandbox::DEMO_TENANT_PARTIAL;
pub const KEY: &str = "soar-1";
pub const DRY_KEY: &str = "soar-dry";
const SECRET: &str = "whsec_dGhpcyBpcyB0aGUgZXhlY3V0b3IgdGVzdHMnIGtleQ==";
const DRY_SECRET: &str = "whsec_ZHJ5LXJ1biBrZXkgb2YgdGhlIGV4ZWN1dG9yIHRlc3Rz";

/// Every action a partner can ask for.
pub const ALL_ACTIONS: [ActionKind; 13] = [
    ActionKind::IsolateDevice,
    ActionKind::ReleaseDevice,
    ActionKind::AntivirusScan,
    ActionKind::RestrictAppExecution,
    ActionKind::UnrestrictAppExecution,
    ActionKind::CollectInvestigationPackage,
    ActionKind::StopAndQuarantineFile,
    ActionKind::AddIndicator,
    ActionKind::RemoveIndicator,
    ActionKind::UpdateAlert,
    ActionKind::UpdateIncident,
    ActionKind::HuntingQuery,
    ActionKind::CorrelateAlert,
];

/// Contoso and Fabrikam allow every action to `soar-1`, and to `soar-dry` as a dry run.
pub fn tenants() -> Vec<TenantConfig> {
    let bind = |key: &str, dry_run| PartnerBinding {
        key_id: key.into(),
        actions: ALL_ACTIONS.to_vec(),
        dry_run,
    };
    [(FULL, "Contoso"), (PARTIAL, "Fabrikam")]
        .into_iter()
        .map(|(id, name)| TenantConfig {
            actions: ALL_ACTIONS.to_vec(),
            partners: vec![bind(KEY, false), bind(DRY_KEY, true)],
            ..TenantConfig::new(id.parse().expect("tenant id"), name)
        })
        .collect()
}

/// The demo world without rate limits (the limits test turns them on).
pub fn sandbox_config() -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.rate_limits.enabled = false;
    config
}

/// Everything of one test.
pub struct World {
    pub sandbox: SandboxHandle,
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn ObjectStore>,
    pub requests: Arc<LocalQueue>,
    pub polls: Arc<LocalQueue>,
    pub client: Arc<DefenderClient>,
    pub executor: Executor,
    pub webhook: Webhook,
    pub settings: ExecutorSettings,
    /// The executor's clock: wall time plus what the test advanced the sandbox by.
    pub clock: Arc<OffsetClock>,
    sequence: std::sync::atomic::AtomicU32,
}

/// Executor settings for tests: polls every second, retries after 5 s at most 3 times.
pub fn settings() -> ExecutorSettings {
    ExecutorSettings {
        poll_interval_seconds: 1,
        max_attempts: 3,
        ..ExecutorSettings::default()
    }
}

impl World {
    pub async fn start() -> Self {
        Self::start_with(sandbox_config(), settings(), RateLimitConfig::unlimited(), 2).await
    }

    pub async fn start_with(
        config: SandboxConfig,
        settings: ExecutorSettings,
        limits: RateLimitConfig,
        retries: usize,
    ) -> Self {
        let sandbox = Sandbox::start(config).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("dir");
        let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir.path().to_path_buf(), ""));
        let client = mde_defender::testing::client_for(
            &sandbox.base_url(),
            mde_sandbox::DEMO_CLIENT_ID,
            mde_sandbox::DEMO_CLIENT_SECRET,
            mde_defender::testing::quick_retries(retries),
            limits,
        );
        let tenants = Arc::new(Tenants::fixed(tenants()));
        let clock = Arc::new(OffsetClock::default());
        let requests = Arc::new(LocalQueue::new());
        let polls = Arc::new(LocalQueue::new());
        let pusher = Arc::new(mde_indicators::Pusher::new(
            Arc::clone(&client),
            Arc::clone(&tenants),
            Arc::clone(&store),
            Arc::new(SystemClock),
            IndicatorSettings::default(),
        ));
        let executor = Executor::new(
            Arc::clone(&client),
            Arc::clone(&tenants),
            pusher,
            Arc::clone(&store),
            polls.clone(),
            clock.clone(),
            settings.clone(),
        );
        let verifier = Verifier::new(
            vec![
                SigningKey::parse(KEY, SECRET).expect("key"),
                SigningKey::parse(DRY_KEY, DRY_SECRET).expect("key"),
            ],
            300,
        );
        let webhook = Webhook::new(
            Arc::new(StaticKeys(Arc::new(verifier))),
            tenants,
            Arc::new(MemoryIdempotency::new()),
            requests.clone(),
            Arc::new(SystemClock),
            WebhookSettings::default(),
        )
        .expect("webhook")
        .with_audit(Arc::clone(&store), settings.audit_prefix.clone());
        Self {
            sandbox,
            dir,
            store,
            requests,
            polls,
            client,
            executor,
            webhook,
            settings,
            clock,
            sequence: Default::default(),
        }
    }

    fn signed(&self, method: Method, uri: &str, body: &[u8], key: &str, id: &str) -> Request<Bytes> {
        let secret = if key == DRY_KEY { DRY_SECRET } else { SECRET };
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = SigningKey::parse(key, secret).expect("key").sign(id, ts, body);
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .header("webhook-key-id", key);
        if !body.is_empty() {
            builder = builder.header("content-type", "application/json");
        }
        builder.body(Bytes::copy_from_slice(body)).expect("request")
    }

    /// Sends an event with a fresh `webhook-id`; returns the request id.
    pub async fn send(&self, event: &Value) -> String {
        let n = self.sequence.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.send_as(event, KEY, &format!("msg_{n}")).await
    }

    /// Sends an event as `key` with `webhook_id`; returns the request id (a repeat gets the first answer).
    pub async fn send_as(&self, event: &Value, key: &str, webhook_id: &str) -> String {
        let body = serde_json::to_vec(event).expect("json");
        let reply = self
            .webhook
            .handle(self.signed(Method::POST, "/v1/events", &body, key, webhook_id))
            .await;
        let status = reply.status();
        let answer: Value = serde_json::from_slice(reply.body()).expect("json answer");
        assert_eq!(status, 202, "accepted: {answer}");
        answer["request_id"].as_str().expect("request id").to_owned()
    }

    /// Sends an event; returns the webhook's status and answer whatever they are.
    pub async fn send_raw(&self, event: &Value) -> (u16, Value) {
        let n = self.sequence.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = serde_json::to_vec(event).expect("json");
        let reply = self
            .webhook
            .handle(self.signed(Method::POST, "/v1/events", &body, KEY, &format!("raw_{n}")))
            .await;
        let answer = serde_json::from_slice(reply.body()).unwrap_or(Value::Null);
        (reply.status().as_u16(), answer)
    }

    /// `GET /v1/requests/{id}` as the partner.
    pub async fn status(&self, request_id: &str) -> Value {
        self.status_as(request_id, KEY).await
    }

    pub async fn status_as(&self, request_id: &str, key: &str) -> Value {
        let n = self.sequence.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let reply = self
            .webhook
            .handle(self.signed(
                Method::GET,
                &format!("/v1/requests/{request_id}"),
                b"",
                key,
                &format!("status_{n}"),
            ))
            .await;
        assert_eq!(reply.status(), 200, "{}", String::from_utf8_lossy(reply.body()));
        serde_json::from_slice(reply.body()).expect("json")
    }

    /// Runs the queues once: every visible request, then every visible poll.
    pub async fn run_once(&self) -> (DrainReport, DrainReport) {
        let requests = drain(&self.executor, &*self.requests)
            .await
            .expect("drain requests");
        let polls = drain(&self.executor, &*self.polls).await.expect("drain polls");
        (requests, polls)
    }

    /// Runs the queues until `request_id` is completed, moving the sandbox's clock `step` per round (machine
    /// actions progress on simulated time; polls wait a real second).
    pub async fn until_completed(&self, request_id: &str, step: Duration) -> Value {
        for _ in 0..30 {
            self.run_once().await;
            let status = self.status(request_id).await;
            if status["status"] == "completed" {
                return status;
            }
            self.advance(step);
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        panic!("{request_id} did not complete: {}", self.status(request_id).await);
    }

    /// Moves the sandbox's time and the executor's together.
    pub fn advance(&self, by: Duration) {
        self.sandbox.advance(by);
        self.clock.advance(by);
    }

    /// The first Windows machine of a tenant, and its DNS name.
    pub async fn windows_machine(&self, tenant: &str) -> (String, String) {
        let machines = self.machines(tenant).await;
        let m = machines
            .iter()
            .find(|m| m.os_platform.as_deref().is_some_and(|p| p.starts_with("Windows")))
            .expect("a Windows machine");
        (m.id.clone(), m.computer_dns_name.clone().unwrap_or_default())
    }

    /// The machines of a tenant.
    pub async fn machines(&self, tenant: &str) -> Vec<mde_defender::api::Machine> {
        use futures::TryStreamExt;
        let tenant: mde_contracts::TenantId = tenant.parse().expect("tenant");
        self.client
            .machines(&tenant, &mde_defender::api::Query::new())
            .map_ok(|p| futures::stream::iter(p.items.into_iter().map(Ok::<_, mde_defender::DefenderError>)))
            .try_flatten()
            .try_collect()
            .await
            .expect("machines")
    }

    /// The sandbox's view of a device: isolated, restricted, its actions.
    pub fn device(&self, tenant: &str, machine_id: &str) -> mde_sandbox::DeviceState {
        self.sandbox
            .device_state(tenant, machine_id)
            .expect("device state")
    }

    /// The Defender calls the sandbox received whose path contains `fragment`, with their statuses.
    pub fn calls_to(&self, method: &str, fragment: &str) -> Vec<u16> {
        self.sandbox
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.contains(fragment))
            .map(|r| r.status.unwrap_or_default())
            .collect()
    }
}

/// A device action event.
pub fn device_action(tenant: &str, machine_id: &str, action: &str, extra: Value) -> Value {
    let mut data = json!({"tenant_id": tenant, "device": {"machine_id": machine_id}, "action": action, "comment": "SOAR playbook 12"});
    if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    json!({"type": "device_action.v1", "data": data})
}
