//! End to end: the built `alert-webhook` binary under a local Lambda Runtime API, invoked with Function URL
//! events (API Gateway v2 format); partner keys in Secrets Manager, the idempotency table in DynamoDB and the FIFO
//! queue in SQS — all moto, through the real AWS SDK.

use std::time::Duration;

use alert_webhook::signature::SigningKey;
use base64::Engine as _;
use mde_platform::Queue;
use mde_platform::queue::SqsQueue;
use mde_platform::testing::LambdaRuntime;
use serde_json::{Value, json};

const TENANT: &str = "8a2d6f4e-1b7c-4e3a-9f5d-2c6b8e0a4d17";
const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn url_event(method: &str, path: &str, headers: Value, body: &str) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": "abc", "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc", "requestId": "r-1", "routeKey": "$default", "stage": "$default",
            "time": "03/Dec/2026:07:00:00 +0000", "timeEpoch": 1_796_000_000_000u64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "partner"}
        },
        "body": body, "isBase64Encoded": false
    })
}

fn signed_headers(id: &str, body: &str) -> Value {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let sig = SigningKey::parse("k", KEY)
        .expect("key")
        .sign(id, ts, body.as_bytes());
    json!({"content-type": "application/json", "webhook-id": id, "webhook-timestamp": ts.to_string(), "webhook-signature": sig})
}

fn body_of(answer: &Value) -> Value {
    let raw = answer["body"].as_str().unwrap_or_default();
    let bytes = if answer["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .expect("base64")
    } else {
        raw.as_bytes().to_vec()
    };
    serde_json::from_slice(&bytes).expect("json body")
}

#[tokio::test]
async fn the_built_function_accepts_once_and_refuses_with_problems_under_a_lambda_runtime() {
    let sdk = mde_platform::testing::aws_sdk_config().await;
    let table = mde_platform::testing::create_idempotency_table(&sdk).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{}.fifo", mde_platform::testing::unique_name("actions")))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("FIFO queue")
        .queue_url
        .expect("url");
    let secret_id = mde_platform::testing::unique_name("partner-keys");
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&secret_id)
        .secret_string(
            json!({"keys": [{"key_id": "soar-1", "partner": "Acme SOAR", "secrets": [KEY]}]}).to_string(),
        )
        .send()
        .await
        .expect("secret");

    let runtime = LambdaRuntime::start("alert-webhook").await;
    let tenants = format!(
        r#"[{{tenant_id="{TENANT}", display_name="Contoso", actions=["isolate_device"], partners=[{{key_id="soar-1", actions=["isolate_device"]}}]}}]"#
    );
    let mut child = runtime
        .command(env!("CARGO_BIN_EXE_alert-webhook"))
        .env("MDE_BRIDGE_AWS_REGION", "us-east-1")
        .env(
            "MDE_BRIDGE_AWS_ENDPOINT_URL",
            mde_platform::testing::aws_endpoint(),
        )
        .env("MDE_BRIDGE_PARTNER_COMPANY", "Contoso")
        .env("MDE_BRIDGE_PARTNER_PRODUCT", "Webhook")
        .env("MDE_BRIDGE_PARTNER_VERSION", "1.0")
        .env("MDE_BRIDGE_CREDENTIAL_BACKEND", "aws")
        .env("MDE_BRIDGE_TENANTS", tenants)
        .env("MDE_BRIDGE_WEBHOOK_QUEUE_URL", &queue_url)
        .env("MDE_BRIDGE_WEBHOOK_TABLE", &table)
        .env("MDE_BRIDGE_WEBHOOK_PARTNER_KEYS_SECRET_ID", &secret_id)
        .env(
            "MDE_BRIDGE_WEBHOOK_PUBLIC_BASE_URL",
            "https://abc.lambda-url.us-east-1.on.aws",
        )
        .spawn()
        .expect("start the alert-webhook binary");

    let event = json!({"type": "device_action.v1", "data": {"tenant_id": TENANT, "device": {"dns_name": "pc-7.contoso.com"}, "action": "isolate", "comment": "NDR: C2"}}).to_string();
    let headers = signed_headers("evt-1", &event);
    let first = runtime
        .invoke("req-1", url_event("POST", "/v1/events", headers.clone(), &event))
        .await
        .expect("not a function error");
    assert_eq!(first["statusCode"], 202, "{first}");
    let accepted = body_of(&first);
    assert!(
        accepted["status_url"]
            .as_str()
            .expect("url")
            .starts_with("https://abc.lambda-url.us-east-1.on.aws/v1/requests/")
    );
    let repeat = runtime
        .invoke("req-2", url_event("POST", "/v1/events", headers, &event))
        .await
        .expect("not a function error");
    assert_eq!(repeat["statusCode"], 202);
    assert_eq!(body_of(&repeat), accepted, "the repeat gets the first answer");

    let mut bad = signed_headers("evt-2", &event);
    bad["webhook-signature"] = json!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let refused = runtime
        .invoke("req-3", url_event("POST", "/v1/events", bad, &event))
        .await
        .expect("not a function error");
    assert_eq!(refused["statusCode"], 401);
    assert_eq!(
        body_of(&refused)["type"],
        "urn:mde-bridge:problem:invalid-signature"
    );

    let id = accepted["request_id"].as_str().expect("id");
    let status = runtime
        .invoke(
            "req-4",
            url_event(
                "GET",
                &format!("/v1/requests/{id}"),
                signed_headers("s-1", ""),
                "",
            ),
        )
        .await
        .expect("not a function error");
    assert_eq!(status["statusCode"], 200, "{status}");
    assert_eq!(body_of(&status)["status"], "queued");

    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url);
    let mut messages = Vec::new();
    for _ in 0..3 {
        messages.extend(queue.receive(10, Duration::from_secs(30)).await.expect("receive"));
    }
    assert_eq!(messages.len(), 1, "one queued message for one request");
    let message: Value = serde_json::from_str(&messages[0].body).expect("json");
    assert_eq!(message["request_id"], accepted["request_id"]);
    child.start_kill().expect("stop");
}
