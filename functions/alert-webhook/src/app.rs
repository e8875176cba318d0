//! The router, independent of Lambda and of any HTTP server: an `http::Request` with its raw body in, an
//! `http::Response` out. The same code answers under Lambda (a Function URL), under `mde-bridge webhook serve`,
//! and in tests.
//!
//! `POST /v1/events`, in this order: body size (the `Content-Length` before anything is read, then the bytes),
//! content type, signature, timestamp, JSON, the event's JSON Schema, the partner key's binding to the tenant
//! and the action, idempotency (a conditional claim of the request id), the queue (durable before the 202),
//! then the answer. Every refusal is problem JSON with a 4xx and nothing is queued.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use mde_contracts::{AuditRecord, PartnerKeysSecret, QueuedRequest, WebhookEvent, WebhookSettings};
use mde_platform::idempotency::{Claim, RequestRecord, RequestState};
use mde_platform::{Clock, IdempotencyStore, ObjectStore, Queue, SecretStore, SendOptions, Tenants};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::problem::{FieldError, Problem};
use crate::signature::{
    Delivery, ID_HEADER, KEY_ID_HEADER, SIGNATURE_HEADER, SignatureError, SigningKey, TIMESTAMP_HEADER,
    Verifier,
};

/// How long an in-flight claim holds before a retry may take it over (its owner died between claim and queue).
const STALE_IN_FLIGHT_SECONDS: i64 = 30;
/// What a sender is told to wait after a 409 or a 503.
const RETRY_AFTER_SECONDS: u64 = 2;

/// What a sender of a delivery that is in flight elsewhere is told to wait: [`RETRY_AFTER_SECONDS`] while the
/// other acceptance is young (it finishes in milliseconds); once it is older, its owner has most likely died, and
/// the claim can be taken over only when [`STALE_IN_FLIGHT_SECONDS`] have passed — so the rest of that lease.
fn in_progress_wait(age_seconds: i64) -> u64 {
    if age_seconds < RETRY_AFTER_SECONDS as i64 {
        return RETRY_AFTER_SECONDS;
    }
    u64::try_from(STALE_IN_FLIGHT_SECONDS - age_seconds).map_or(1, |rest| rest.max(1))
}

/// Where the partner keys come from.
#[async_trait::async_trait]
pub trait PartnerKeySource: Send + Sync {
    /// The verifier of the keys active now.
    async fn verifier(&self) -> Result<Arc<Verifier>, String>;
}

/// Fixed keys (tests, and `webhook serve` with keys from a file).
pub struct StaticKeys(pub Arc<Verifier>);

#[async_trait::async_trait]
impl PartnerKeySource for StaticKeys {
    async fn verifier(&self) -> Result<Arc<Verifier>, String> {
        Ok(Arc::clone(&self.0))
    }
}

/// The partner keys secret, read through a (cached) secret store.
pub struct SecretKeys {
    store: Arc<dyn SecretStore>,
    secret_id: String,
    tolerance_seconds: u64,
}

impl SecretKeys {
    /// Keys from `secret_id` in `store`.
    pub fn new(store: Arc<dyn SecretStore>, secret_id: impl Into<String>, tolerance_seconds: u64) -> Self {
        Self {
            store,
            secret_id: secret_id.into(),
            tolerance_seconds,
        }
    }
}

#[async_trait::async_trait]
impl PartnerKeySource for SecretKeys {
    async fn verifier(&self) -> Result<Arc<Verifier>, String> {
        let secret: PartnerKeysSecret =
            mde_platform::secrets::read_json_secret(&*self.store, &self.secret_id)
                .await
                .map_err(|e| e.to_string())?;
        let mut keys = Vec::new();
        for k in &secret.keys {
            for s in &k.secrets {
                use secrecy::ExposeSecret as _;
                keys.push(SigningKey::parse(&k.key_id, s.expose_secret()).map_err(|e| e.to_string())?);
            }
        }
        Ok(Arc::new(Verifier::new(keys, self.tolerance_seconds)))
    }
}

/// The webhook with its ports.
pub struct Webhook {
    keys: Arc<dyn PartnerKeySource>,
    tenants: Arc<Tenants>,
    requests: Arc<dyn IdempotencyStore>,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    settings: WebhookSettings,
    schema: jsonschema::Validator,
    openapi: Vec<u8>,
    audit: Option<(Arc<dyn ObjectStore>, String)>,
}

/// A response.
pub type Reply = Response<Vec<u8>>;

impl Webhook {
    /// The webhook over its ports (an error only if the generated event schema does not compile).
    pub fn new(
        keys: Arc<dyn PartnerKeySource>,
        tenants: Arc<Tenants>,
        requests: Arc<dyn IdempotencyStore>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        settings: WebhookSettings,
    ) -> Result<Self, String> {
        let schema = serde_json::to_value(schemars::schema_for!(WebhookEvent)).map_err(|e| e.to_string())?;
        let schema = jsonschema::validator_for(&schema)
            .map_err(|e| format!("the event schema does not compile: {e}"))?;
        Ok(Self {
            keys,
            tenants,
            requests,
            queue,
            clock,
            settings,
            schema,
            openapi: serde_json::to_vec_pretty(&mde_contracts::openapi::webhook_document())
                .map_err(|e| e.to_string())?,
            audit: None,
        })
    }

    /// The same webhook, answering `GET /v1/requests/{id}` from the executor's audit records under `prefix` in
    /// `store` (without them it can only say whether a request was accepted).
    pub fn with_audit(mut self, store: Arc<dyn ObjectStore>, prefix: impl Into<String>) -> Self {
        self.audit = Some((store, prefix.into()));
        self
    }

    /// The webhook of a configuration (`[webhook]`, the registry, the secret store of `[credential]`), with the
    /// queue given, or `[webhook].queue_url`'s. No idempotency table means records in process memory.
    pub async fn from_wiring(
        wiring: &mde_platform::wiring::Wiring,
        queue: Option<Arc<dyn Queue>>,
    ) -> Result<Self, String> {
        let settings = wiring.config().webhook.clone();
        settings.validate().map_err(|e| e.to_string())?;
        let queue = match (queue, &settings.queue_url) {
            (Some(q), _) => q,
            (None, Some(url)) => wiring.queue(url).await,
            (None, None) => {
                return Err("webhook.queue_url: required (MDE_BRIDGE_WEBHOOK_QUEUE_URL, the SQS FIFO queue of accepted requests)".into());
            }
        };
        let store = wiring.secret_store().await.map_err(|e| e.to_string())?;
        let keys = Arc::new(SecretKeys::new(
            store,
            settings.partner_keys_secret_id.clone(),
            settings.tolerance_seconds,
        ));
        let tenants = wiring.tenants().await.map_err(|e| e.to_string())?;
        let requests = wiring.idempotency(settings.table.as_deref()).await;
        let audit_prefix = wiring.config().executor.audit_prefix.clone();
        Ok(Self::new(
            keys,
            tenants,
            requests,
            queue,
            Arc::new(mde_platform::SystemClock),
            settings,
        )?
        .with_audit(wiring.object_store().await, audit_prefix))
    }

    /// Answers one request.
    pub async fn handle(&self, request: Request<Bytes>) -> Reply {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let reply = match (method.clone(), path.as_str()) {
            (Method::POST, "/v1/events") => self.events(request).await,
            (Method::GET, "/v1/openapi.json") => {
                let mut response = Response::new(self.openapi.clone());
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Ok(response)
            }
            (Method::GET, p) if p.starts_with("/v1/requests/") => {
                let id = p.trim_start_matches("/v1/requests/").to_owned();
                self.status(request, &id).await
            }
            (_, "/v1/events") => Err(Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "send events with POST",
            )),
            _ => Err(Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("no such endpoint: {method} {path} (see /v1/openapi.json)"),
            )),
        };
        reply.unwrap_or_else(|p| p.response())
    }

    async fn events(&self, request: Request<Bytes>) -> Result<Reply, Problem> {
        let (parts, body) = request.into_parts();
        let max = self.settings.max_body_bytes;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) || body.len() as u64 > max {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Body too large",
                format!("events are at most {max} bytes"),
            ));
        }
        let json_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
        if !json_type {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the event as Content-Type: application/json",
            ));
        }
        let verified = self.verify(&parts.headers, &body).await?;
        crate::strict_json::check(&body).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                format!("the body is not JSON this webhook accepts: {e}"),
            )
        })?;
        let value: Value = serde_json::from_slice(&body).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                format!("the body is not JSON: {e}"),
            )
        })?;
        let errors: Vec<FieldError> = self
            .schema
            .iter_errors(&value)
            .take(20)
            .map(|e| FieldError {
                pointer: e.instance_path().as_str().to_owned(),
                // The rule broken, never the sender's value (a `oneOf` miss would otherwise quote the whole event).
                detail: e.masked_with("the value").to_string(),
            })
            .collect();
        if !errors.is_empty() {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-event",
                "Invalid event",
                "the event does not match its schema (schemas/webhook-event.schema.json)",
            )
            .with_errors(errors));
        }
        let event: WebhookEvent = serde_json::from_value(value).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-event",
                "Invalid event",
                e.to_string(),
            )
        })?;
        let problems = event.problems();
        if !problems.is_empty() {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-event",
                "Invalid event",
                "the event breaks rules of its type (see errors)",
            )
            .with_errors(
                problems
                    .into_iter()
                    .map(|(pointer, detail)| FieldError { pointer, detail })
                    .collect(),
            ));
        }
        let dry_run = self.authorise(&verified.key_id, &event).await?;
        self.accept(&verified, &body, &event, dry_run).await
    }

    async fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<crate::signature::Verified, Problem> {
        let verifier = self.keys.verifier().await.map_err(|e| {
            warn!(error = %e, "the partner keys cannot be read");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "keys-unavailable",
                "Temporarily unavailable",
                "the webhook cannot check signatures right now; send again later",
            )
            .retry_after(30)
        })?;
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let delivery = Delivery {
            id: text(ID_HEADER),
            timestamp: text(TIMESTAMP_HEADER),
            signature: text(SIGNATURE_HEADER),
        };
        verifier
            .verify(
                delivery,
                body,
                self.clock.now().unix_timestamp(),
                text(KEY_ID_HEADER),
            )
            .map_err(|e| {
                let slug = match e {
                    SignatureError::Stale(_) | SignatureError::Future(_) => "timestamp-out-of-tolerance",
                    _ => "invalid-signature",
                };
                Problem::new(StatusCode::UNAUTHORIZED, slug, "Unauthorized", e.to_string())
            })
    }

    /// The binding of the key to the event's tenant and action; its dry-run flag.
    async fn authorise(&self, key_id: &str, event: &WebhookEvent) -> Result<bool, Problem> {
        let snapshot = self.tenants.snapshot().await.map_err(|e| {
            warn!(error = %e, "the tenant registry cannot be read");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry-unavailable",
                "Temporarily unavailable",
                "the webhook cannot read its tenants right now; send again later",
            )
            .retry_after(30)
        })?;
        let tenant = event.tenant_id();
        // Unknown, disabled and not bound look the same: a key cannot learn which tenants exist.
        let binding = snapshot
            .enabled(tenant)
            .and_then(|t| t.binding(key_id).map(|b| (t, b)));
        let Some((config, binding)) = binding else {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "tenant-not-bound",
                "Tenant not bound to this key",
                format!("key {key_id} may not act on tenant {tenant}"),
            ));
        };
        let action = event.action();
        if !binding.actions.contains(&action) || !config.actions.contains(&action) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "action-not-allowed",
                "Action not allowed",
                format!(
                    "key {key_id} may not ask for {} in tenant {tenant}",
                    action.as_str()
                ),
            ));
        }
        Ok(binding.dry_run)
    }

    async fn accept(
        &self,
        verified: &crate::signature::Verified,
        body: &[u8],
        event: &WebhookEvent,
        dry_run: bool,
    ) -> Result<Reply, Problem> {
        let now = self.clock.now().unix_timestamp();
        let request_id = request_id(&verified.key_id, &verified.id);
        let body_sha256 = hex::encode(Sha256::digest(body));
        let ttl = i64::try_from(self.settings.idempotency_ttl_seconds).unwrap_or(i64::MAX / 2);
        let record = RequestRecord {
            request_id: request_id.clone(),
            key_id: verified.key_id.clone(),
            body_sha256: body_sha256.clone(),
            state: RequestState::InFlight,
            answer: None,
            created_at: now,
            updated_at: now,
            expires_at: now + ttl,
        };
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            warn!(request_id, error = %e, "{what}");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily-unavailable",
                "Temporarily unavailable",
                "the request was not accepted; send the same delivery again",
            )
            .retry_after(RETRY_AFTER_SECONDS)
        };
        match self
            .requests
            .claim(&record, now, now - STALE_IN_FLIGHT_SECONDS)
            .await
            .map_err(|e| unavailable("the idempotency store failed", &e))?
        {
            Claim::Existing(existing) if existing.body_sha256 != body_sha256 => {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "webhook-id-reused",
                    "webhook-id reused with another body",
                    format!(
                        "webhook-id {} was first sent with another body; use a new id for a new event",
                        verified.id
                    ),
                ));
            }
            Claim::Existing(existing) => {
                let wait = in_progress_wait(now - existing.updated_at);
                return match (existing.state, existing.answer) {
                    (RequestState::Accepted, Some(answer)) => Ok(accepted(answer.into_bytes())),
                    _ => Err(Problem::new(
                        StatusCode::CONFLICT,
                        "in-progress",
                        "Request in progress",
                        "the same delivery is being accepted right now; send it again shortly for the answer",
                    )
                    .retry_after(wait)),
                };
            }
            Claim::Claimed => {}
        }
        let message = QueuedRequest {
            request_id: request_id.clone(),
            key_id: verified.key_id.clone(),
            webhook_id: verified.id.clone(),
            dry_run,
            received_at: now,
            event: event.clone(),
        };
        let body_json =
            serde_json::to_string(&message).map_err(|e| unavailable("the request did not encode", &e))?;
        let options = SendOptions {
            group_id: Some(group_id(event)),
            dedup_id: Some(request_id.clone()),
            delay: None,
        };
        if let Err(e) = self.queue.send(&body_json, &options).await {
            let _ = self.requests.release(&request_id).await;
            return Err(unavailable("the request could not be queued", &e));
        }
        let status_url = match &self.settings.public_base_url {
            Some(base) => format!("{}/v1/requests/{request_id}", base.trim_end_matches('/')),
            None => format!("/v1/requests/{request_id}"),
        };
        let answer = json!({"request_id": request_id, "status": "accepted", "status_url": status_url, "dry_run": dry_run})
            .to_string();
        if let Err(e) = self.requests.complete(&request_id, &answer, now).await {
            // Queued already: a repeat after the in-flight claim goes stale queues it again under the same
            // deduplication id, which SQS FIFO drops; the executor is idempotent on the request id too.
            warn!(request_id, error = %e, "the request is queued but its record could not be completed");
        }
        info!(request_id, key_id = %verified.key_id, tenant = %event.tenant_id(), action = event.action().as_str(), dry_run, "request accepted");
        Ok(accepted(answer.into_bytes()))
    }

    async fn status(&self, request: Request<Bytes>, id: &str) -> Result<Reply, Problem> {
        let (parts, body) = request.into_parts();
        let verified = self.verify(&parts.headers, &body).await?;
        let now = self.clock.now().unix_timestamp();
        let not_found = || {
            Problem::new(
                StatusCode::NOT_FOUND,
                "request-not-found",
                "Request not found",
                format!("no request {id} for key {}", verified.key_id),
            )
        };
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let record = self
            .requests
            .get(id, now)
            .await
            .map_err(|_| {
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily-unavailable",
                    "Temporarily unavailable",
                    "try again",
                )
                .retry_after(RETRY_AFTER_SECONDS)
            })?
            .filter(|r| r.key_id == verified.key_id)
            .ok_or_else(not_found)?;
        let body = match self.audit_record(id).await? {
            // The audit record is the executor's: the request's tenant, calls and outcome.
            Some(audit) if audit.key_id == verified.key_id => json!({
                "request_id": audit.request_id,
                "status": audit.status,
                "received_at": record.created_at,
                "outcome": audit.outcome,
                "audit": audit,
            }),
            _ => {
                let state = match record.state {
                    RequestState::InFlight => "in_flight",
                    RequestState::Accepted => "queued",
                };
                json!({"request_id": record.request_id, "status": state, "received_at": record.created_at})
            }
        };
        let mut response = Response::new(body.to_string().into_bytes());
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    }

    /// The executor's audit record of a request, if it has written one yet.
    async fn audit_record(&self, id: &str) -> Result<Option<AuditRecord>, Problem> {
        let Some((store, prefix)) = &self.audit else {
            return Ok(None);
        };
        let unavailable = |e: &dyn std::fmt::Display| {
            warn!(request_id = id, error = %e, "the audit record cannot be read");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily-unavailable",
                "Temporarily unavailable",
                "try again",
            )
            .retry_after(RETRY_AFTER_SECONDS)
        };
        match store.get(&AuditRecord::key(prefix, id)).await {
            Ok(Some(object)) => serde_json::from_slice(&object.body)
                .map(Some)
                .map_err(|e| unavailable(&e)),
            Ok(None) => Ok(None),
            Err(e) => Err(unavailable(&e)),
        }
    }
}

/// The request id of a delivery: the same partner key and `webhook-id` always give the same id.
pub fn request_id(key_id: &str, webhook_id: &str) -> String {
    let digest = Sha256::digest(format!("{key_id}\n{webhook_id}").as_bytes());
    hex::encode(&digest[..16])
}

/// One FIFO message group per tenant and device (actions on one device are serialised), else per tenant.
fn group_id(event: &WebhookEvent) -> String {
    let device = match event {
        WebhookEvent::DeviceAction(a) => Some(&a.device),
        WebhookEvent::ExternalAlert(a) => Some(&a.device),
        _ => None,
    };
    let device = device
        .and_then(|d| {
            d.machine_id
                .clone()
                .or_else(|| d.dns_name.clone())
                .or_else(|| d.ip.clone())
        })
        .map(|d| d.to_ascii_lowercase());
    let group = match device {
        Some(d) => format!("{}/{d}", event.tenant_id()),
        None => event.tenant_id().to_string(),
    };
    // SQS allows 128 characters of letters, digits and punctuation.
    if group.len() <= 128 && group.chars().all(|c| c.is_ascii_graphic()) {
        group
    } else {
        format!(
            "{}/{}",
            event.tenant_id(),
            hex::encode(&Sha256::digest(group.as_bytes())[..16])
        )
    }
}

fn accepted(body: Vec<u8>) -> Reply {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::ACCEPTED;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
