//! The webhook's OpenAPI 3.1 document, generated from the contract types (component schemas are JSON Schema
//! 2020-12, which OpenAPI 3.1 uses as is). Committed as `schemas/webhook-openapi.json`, served at
//! `GET /v1/openapi.json`; partners generate clients from it.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::{AuditRecord, Outcome, WebhookEvent};

/// The document.
pub fn webhook_document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let event = generator.subschema_for::<WebhookEvent>();
    let audit = generator.subschema_for::<AuditRecord>();
    let outcome = generator.subschema_for::<Outcome>();
    let mut schemas = generator.take_definitions(true);
    schemas.insert("Problem".into(), problem_schema());
    schemas.insert("Accepted".into(), json!({
        "type": "object",
        "required": ["request_id", "status", "status_url"],
        "properties": {
            "request_id": {"type": "string", "description": "The request's id: the same partner key and webhook-id always give the same id."},
            "status": {"type": "string", "enum": ["accepted"]},
            "status_url": {"type": "string", "description": "Where to read the request's status (GET, signed)."},
            "dry_run": {"type": "boolean", "description": "The key is a dry-run key: the plan is recorded, nothing is written to Defender."}
        }
    }));
    schemas.insert(
        "RequestStatus".into(),
        json!({
            "type": "object",
            "required": ["request_id", "status"],
            "properties": {
                "request_id": {"type": "string"},
                "status": {"type": "string", "enum": ["in_flight", "queued", "running", "waiting", "completed"],
                    "description": "in_flight: being accepted; queued: accepted, not started; running: being performed (or retried after a transient failure); waiting: Defender is performing a machine action; completed: see outcome."},
                "received_at": {"type": "integer", "description": "Unix seconds."},
                "outcome": {"description": "How it ended (completed requests).", "anyOf": [outcome, {"type": "null"}]},
                "audit": audit
            }
        }),
    );
    let signed = json!([
        {"name": "webhook-id", "in": "header", "required": true, "schema": {"type": "string", "maxLength": 256}, "description": "Unique per delivery; a repeat with the same id is the same request."},
        {"name": "webhook-timestamp", "in": "header", "required": true, "schema": {"type": "string", "pattern": "^[0-9]+$"}, "description": "Unix seconds of signing (±300 s)."},
        {"name": "webhook-signature", "in": "header", "required": true, "schema": {"type": "string"}, "description": "Space-separated v1,<base64 HMAC-SHA256 of id.timestamp.body> (Standard Webhooks)."},
        {"name": "webhook-key-id", "in": "header", "required": false, "schema": {"type": "string"}, "description": "Optional: the partner key id, so only its secrets are tried."}
    ]);
    let problem = |d: &str| json!({"description": d, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mde-bridge alert-webhook",
            "version": "1",
            "description": "Signed (Standard Webhooks), authorised per tenant, idempotent requests from partner products to a customer's Microsoft Defender. Refusals are RFC 9457 problem JSON; types are urn:mde-bridge:problem:<slug>."
        },
        "paths": {
            "/v1/events": {"post": {
                "operationId": "sendEvent",
                "parameters": signed,
                "requestBody": {"required": true, "content": {"application/json": {"schema": event}}},
                "responses": {
                    "202": {"description": "Accepted and durably queued (or a repeat of an accepted delivery: the same answer).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
                    "400": problem("Malformed JSON."),
                    "401": problem("Missing, malformed or non-matching signature, or a timestamp out of tolerance."),
                    "403": problem("The tenant is not bound to the key, or the action is not allowed."),
                    "409": problem("The same delivery is being accepted right now; see Retry-After."),
                    "413": problem("Body too large."),
                    "415": problem("Not application/json."),
                    "422": problem("Schema violation (errors[] with JSON Pointers), or a webhook-id reused with another body."),
                    "503": problem("Temporarily unavailable; see Retry-After. Nothing was accepted.")
                }
            }},
            "/v1/requests/{request_id}": {"get": {
                "operationId": "getRequest",
                "parameters": [
                    {"name": "request_id", "in": "path", "required": true, "schema": {"type": "string"}},
                    signed[0], signed[1], signed[2], signed[3]
                ],
                "responses": {
                    "200": {"description": "The request's status.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RequestStatus"}}}},
                    "401": problem("Signature refused (signed like an event, with an empty body)."),
                    "404": problem("No such request for this key (unknown, another partner's, or malformed: the same answer).")
                }
            }},
            "/v1/openapi.json": {"get": {"operationId": "getOpenApi", "responses": {"200": {"description": "This document."}}}}
        },
        "components": {"schemas": schemas}
    })
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "urn:mde-bridge:problem:<slug>"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "required": ["pointer", "detail"], "properties": {
                "pointer": {"type": "string", "description": "JSON Pointer into the event."},
                "detail": {"type": "string"}
            }}}
        }
    })
}
