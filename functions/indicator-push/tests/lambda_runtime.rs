//! End to end: messages on an SQS queue in moto, received as the event source mapping does and handed to the
//! built `indicator-push` binary under a local Lambda Runtime API; done messages deleted, the deferred one left
//! for SQS to deliver again; rejects in S3 (moto); indicators in the sandbox.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mde_platform::Queue;
use mde_platform::queue::SqsQueue;
use mde_platform::testing::LambdaRuntime;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn the_built_function_consumes_sqs_and_reports_partial_batch_failures() {
    let sandbox = start(sandbox_config()).await;
    let sdk = mde_platform::testing::aws_sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = mde_platform::testing::unique_name("indicators");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name(mde_platform::testing::unique_name("indicators"))
        .send()
        .await
        .expect("create queue in moto")
        .queue_url
        .expect("queue url");
    let queue = Arc::new(SqsQueue::new(sqs, url));

    let mut invalid = indicator("IpAddress", "10.0.0.1", "Block");
    invalid["title"] = json!("private address");
    for body in [
        json!({"op": "upsert", "tenants": FULL, "indicators": domains("lambda", 3)}),
        json!({"op": "upsert", "tenants": FULL, "indicators": [invalid]}),
        json!({"op": "upsert", "tenants": UNCONSENTED, "indicators": domains("waits", 1)}),
    ] {
        queue
            .send(&body.to_string(), &Default::default())
            .await
            .expect("send");
    }
    let mut received = Vec::new();
    for _ in 0..10 {
        received.extend(queue.receive(10, Duration::from_secs(2)).await.expect("receive"));
        if received.len() == 3 {
            break;
        }
    }
    assert_eq!(received.len(), 3);
    let event = json!({"Records": received.iter().map(|m| json!({
        "messageId": m.id, "receiptHandle": m.receipt, "body": m.body, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:indicators", "awsRegion": "us-east-1",
        "attributes": {"ApproximateReceiveCount": m.receive_count.to_string()}, "messageAttributes": {},
    })).collect::<Vec<_>>()});

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
    let runtime = LambdaRuntime::start("indicator-push").await;
    let tenants = format!(
        r#"[{{tenant_id="{FULL}", display_name="Contoso", actions=["add_indicator", "remove_indicator"]}}, {{tenant_id="{UNCONSENTED}", display_name="Northwind", actions=["add_indicator"]}}]"#
    );
    let base = sandbox.base_url();
    let mut child = runtime
        .command(env!("CARGO_BIN_EXE_indicator-push"))
        .env("MDE_BRIDGE_AWS_REGION", "us-east-1")
        .env(
            "MDE_BRIDGE_AWS_ENDPOINT_URL",
            mde_platform::testing::aws_endpoint(),
        )
        .env("MDE_BRIDGE_PARTNER_COMPANY", "Contoso")
        .env("MDE_BRIDGE_PARTNER_PRODUCT", "Indicators")
        .env("MDE_BRIDGE_PARTNER_VERSION", "1.0")
        .env("MDE_BRIDGE_CLOUD_LOGIN_URL", &base)
        .env("MDE_BRIDGE_CLOUD_MDE_API_URL", &base)
        .env("MDE_BRIDGE_CLOUD_M365D_API_URL", &base)
        .env("MDE_BRIDGE_CLOUD_GRAPH_URL", &base)
        .env("MDE_BRIDGE_CREDENTIAL_BACKEND", "local")
        .env("MDE_BRIDGE_CREDENTIAL_LOCAL_FILE", secrets.path())
        .env("MDE_BRIDGE_STORAGE_BUCKET", &bucket)
        .env("MDE_BRIDGE_STORAGE_PREFIX", "indicators")
        .env("MDE_BRIDGE_TENANTS", tenants)
        .env("MDE_BRIDGE_INDICATORS_ACTIVE_CAP", "15000")
        .spawn()
        .expect("start the indicator-push binary");

    let answer = runtime
        .invoke("req-1", event)
        .await
        .expect("not a function error");
    let waiting = received
        .iter()
        .find(|m| m.body.contains(UNCONSENTED))
        .expect("the unconsented message");
    assert_eq!(
        answer["batchItemFailures"],
        json!([{"itemIdentifier": waiting.id}]),
        "{answer}"
    );
    // What the event source mapping does with the answer: delete the others.
    for m in received.iter().filter(|m| m.id != waiting.id) {
        queue.delete(&m.receipt).await.expect("delete");
    }
    let values = values_in(&sandbox, FULL);
    assert!(
        (0..3).all(|i| values.contains(&format!("lambda-{i}.example.com"))),
        "{values:?}"
    );

    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("indicators/rejects/")
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(keys[0])
        .send()
        .await
        .expect("get");
    let text = String::from_utf8(object.body.collect().await.expect("body").to_vec()).expect("utf-8");
    let line: Value = serde_json::from_str(text.lines().next().expect("a line")).expect("json");
    assert_eq!(line["field"], "indicatorValue");
    assert_eq!(line["code"], "invalid_indicator");
    assert!(line["reason"].as_str().expect("reason").contains("private"));

    // The deferred message comes back after its visibility timeout, as SQS redelivers it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut again = Vec::new();
    for _ in 0..5 {
        again.extend(queue.receive(10, Duration::from_secs(30)).await.expect("receive"));
        if !again.is_empty() {
            break;
        }
    }
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, waiting.id);
    assert_eq!(again[0].receive_count, 2);

    child.start_kill().expect("stop the function");
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).await.expect("read stdout");
    }
    let emf: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        emf.iter().any(|l| l["IndicatorsImported"] == 3
            && l["_aws"]["CloudWatchMetrics"][0]["Namespace"] == indicator_push::NAMESPACE),
        "EMF lines on stdout:\n{stdout}"
    );
}
