//! End to end on AWS's parts: requests on an SQS FIFO queue in moto, received as the event source mapping does
//! and handed to the built `action-executor` binary under a local Lambda Runtime API; its audit records in S3
//! (moto); its follow-up poll on a standard queue, delayed; a transient failure returned as a batch item failure
//! with the rest of the FIFO batch unprocessed.

use std::sync::Arc;
use std::time::Duration;

use mde_platform::queue::SqsQueue;
use mde_platform::testing::LambdaRuntime;
use mde_platform::{Queue, QueueMessage, SendOptions};
use mde_sandbox::{FaultKind, FaultRule, Sandbox};
use serde_json::{Value, json};

const FULL: &str = mde_sandbox::DEMO_TENANT_FULL;
const KEY: &str = "soar-1";

fn sandbox_config() -> mde_sandbox::SandboxConfig {
    let mut config = mde_sandbox::SandboxConfig::default();
    config.rate_limits.enabled = false;
    config
}

fn device_action(tenant: &str, machine_id: &str, action: &str) -> Value {
    json!({"type": "device_action.v1", "data": {"tenant_id": tenant, "device": {"machine_id": machine_id}, "action": action, "comment": "SOAR playbook 12"}})
}

fn sqs_event(messages: &[QueueMessage], queue_name: &str) -> Value {
    json!({"Records": messages.iter().map(|m| json!({
        "messageId": m.id, "receiptHandle": m.receipt, "body": m.body, "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{queue_name}"), "awsRegion": "us-east-1",
        "attributes": {"ApproximateReceiveCount": m.receive_count.to_string()}, "messageAttributes": {},
    })).collect::<Vec<_>>()})
}

async fn receive_all(queue: &dyn Queue, want: usize) -> Vec<QueueMessage> {
    let mut got = Vec::new();
    for _ in 0..20 {
        got.extend(queue.receive(10, Duration::from_secs(30)).await.expect("receive"));
        if got.len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    got
}

fn request(id: &str, event: Value) -> String {
    json!({"request_id": id, "key_id": KEY, "webhook_id": format!("w-{id}"), "dry_run": false, "received_at": 1_796_000_000, "event": event}).to_string()
}

#[tokio::test]
async fn the_built_function_performs_requests_from_sqs_and_keeps_its_audit_in_s3() {
    let sandbox = Sandbox::start(sandbox_config()).await.expect("sandbox");
    let sdk = mde_platform::testing::aws_sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = mde_platform::testing::unique_name("executor");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let fifo_name = format!("{}.fifo", mde_platform::testing::unique_name("requests"));
    let fifo_url = sqs
        .create_queue()
        .queue_name(&fifo_name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("fifo queue")
        .queue_url
        .expect("url");
    let poll_name = mde_platform::testing::unique_name("polls");
    let poll_url = sqs
        .create_queue()
        .queue_name(&poll_name)
        .send()
        .await
        .expect("poll queue")
        .queue_url
        .expect("url");
    let requests = Arc::new(SqsQueue::new(sqs.clone(), fifo_url.clone()));
    let polls = Arc::new(SqsQueue::new(sqs, poll_url.clone()));

    // One device, two requests in its group: an isolate and a hunting query; and an isolate of another device in
    // another group that meets 503s for longer than the client's retries last (five attempts by default).
    let machines = mde_defender::testing::machine_ids(
        &sandbox.base_url(),
        mde_sandbox::DEMO_CLIENT_ID,
        mde_sandbox::DEMO_CLIENT_SECRET,
        &FULL.parse().expect("tenant"),
        "Windows",
    )
    .await;
    let (first, second) = (machines[0].clone(), machines[1].clone());
    sandbox.add_faults(vec![FaultRule {
        path: format!("/api/machines/{second}/isolate"),
        method: Some("POST".into()),
        fault: FaultKind::Status { status: 503 },
        probability: None,
        nth_call: None,
        max_times: Some(10),
    }]);
    let group = |g: &str, d: &str| SendOptions {
        group_id: Some(g.into()),
        dedup_id: Some(d.into()),
        ..SendOptions::default()
    };
    let sends = [
        ("r1", first.clone(), device_action(FULL, &first, "isolate")),
        (
            "r2",
            first.clone(),
            json!({"type": "hunting_query.v1", "data": {"tenant_id": FULL, "query": "DeviceInfo | take 2"}}),
        ),
        ("r3", second.clone(), device_action(FULL, &second, "isolate")),
    ];
    for (id, device, event) in &sends {
        requests
            .send(
                &request(id, event.clone()),
                &group(&format!("{FULL}/{device}"), id),
            )
            .await
            .expect("send");
    }
    let received = receive_all(&*requests, 3).await;
    assert_eq!(received.len(), 3);

    let secrets = tempfile::NamedTempFile::new().expect("secrets file");
    std::fs::write(
        secrets.path(),
        json!({"mde-bridge/app-credential": {
            "kind": "client_secret", "client_id": mde_sandbox::DEMO_CLIENT_ID,
            "client_secret": mde_sandbox::DEMO_CLIENT_SECRET,
        }})
        .to_string(),
    )
    .expect("write secrets");
    let tenants = format!(
        r#"[{{tenant_id="{FULL}", display_name="Contoso", actions=["isolate_device", "hunting_query"], partners=[{{key_id="{KEY}", actions=["isolate_device", "hunting_query"]}}]}}]"#
    );
    let runtime = LambdaRuntime::start("action-executor").await;
    let base = sandbox.base_url();
    let mut child = runtime
        .command(env!("CARGO_BIN_EXE_action-executor"))
        .env("MDE_BRIDGE_AWS_REGION", "us-east-1")
        .env(
            "MDE_BRIDGE_AWS_ENDPOINT_URL",
            mde_platform::testing::aws_endpoint(),
        )
        .env("MDE_BRIDGE_PARTNER_COMPANY", "Contoso")
        .env("MDE_BRIDGE_PARTNER_PRODUCT", "Executor")
        .env("MDE_BRIDGE_PARTNER_VERSION", "1.0")
        .env("MDE_BRIDGE_CLOUD_LOGIN_URL", &base)
        .env("MDE_BRIDGE_CLOUD_MDE_API_URL", &base)
        .env("MDE_BRIDGE_CLOUD_M365D_API_URL", &base)
        .env("MDE_BRIDGE_CLOUD_GRAPH_URL", &base)
        .env("MDE_BRIDGE_CREDENTIAL_BACKEND", "local")
        .env("MDE_BRIDGE_CREDENTIAL_LOCAL_FILE", secrets.path())
        .env("MDE_BRIDGE_STORAGE_BUCKET", &bucket)
        .env("MDE_BRIDGE_STORAGE_PREFIX", "bridge")
        .env("MDE_BRIDGE_TENANTS", tenants)
        .env("MDE_BRIDGE_WEBHOOK_QUEUE_URL", &fifo_url)
        .env("MDE_BRIDGE_EXECUTOR_POLL_QUEUE_URL", &poll_url)
        .env("MDE_BRIDGE_EXECUTOR_POLL_INTERVAL_SECONDS", "1")
        .env("MDE_BRIDGE_EXECUTOR_CONCURRENCY", "2")
        .spawn()
        .expect("start the action-executor binary");

    // The batch in receive order; the failing r3 is last in it only if SQS put it there, so order it last.
    let mut batch = received.clone();
    batch.sort_by_key(|m| m.body.contains("\"r3\""));
    let answer = runtime
        .invoke("inv-1", sqs_event(&batch, &fifo_name))
        .await
        .expect("not a function error");
    let r3 = batch.iter().find(|m| m.body.contains("\"r3\"")).expect("r3");
    assert_eq!(
        answer["batchItemFailures"],
        json!([{"itemIdentifier": r3.id}]),
        "{answer}"
    );
    for m in batch.iter().filter(|m| m.id != r3.id) {
        requests.delete(&m.receipt).await.expect("delete");
    }

    let audit = |id: &'static str| {
        let (s3, bucket) = (s3.clone(), bucket.clone());
        async move {
            let object = s3
                .get_object()
                .bucket(&bucket)
                .key(format!("bridge/audit/requests/{id}.json"))
                .send()
                .await
                .expect("audit record");
            serde_json::from_slice::<Value>(&object.body.collect().await.expect("body").into_bytes())
                .expect("json")
        }
    };
    assert_eq!(audit("r1").await["status"], "waiting");
    let hunted = audit("r2").await;
    assert_eq!(hunted["outcome"]["code"], "succeeded", "{hunted}");
    let failing = audit("r3").await;
    assert_eq!(failing["status"], "running");
    assert!(failing["last_error"].is_string(), "{failing}");
    assert!(
        requests
            .receive(10, Duration::from_secs(30))
            .await
            .expect("receive")
            .is_empty(),
        "r3 is hidden for its backoff (5 s at the first receive), not redelivered at once"
    );

    // The isolate's poll arrives on the poll queue after its delay; the action completes meanwhile.
    sandbox.advance(Duration::from_secs(600));
    let poll = receive_all(&*polls, 1).await;
    assert_eq!(poll.len(), 1, "one poll scheduled");
    let answer = runtime
        .invoke("inv-2", sqs_event(&poll, &poll_name))
        .await
        .expect("not a function error");
    assert_eq!(answer["batchItemFailures"], json!([]));
    let done = audit("r1").await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["outcome"]["code"], "succeeded", "{done}");
    assert!(sandbox.device_state(FULL, &first).expect("device").isolated);

    child.start_kill().expect("stop the function");
}
