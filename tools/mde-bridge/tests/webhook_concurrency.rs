//! The webhook and the executor from the built binary (`mde-bridge webhook serve --execute`) under what partners
//! really send: 200 concurrent copies of one delivery (one request, one action), 10 concurrent deliveries of the
//! same isolation with different ids (10 more requests, still one Defender action; the executor keeps to
//! Defender's documented rate limits, so more take minutes), and the bad-request matrix over a real socket (each
//! refused with its problem type, nothing queued).

mod served;

use std::time::Duration;

use serde_json::{Value, json};
use served::{KEY, TENANT, serve};

/// Standard Webhooks headers for `body` (the signing code the sender side of the CLI uses).
fn headers(id: &str, body: &[u8]) -> Vec<(String, String)> {
    let key = alert_webhook::signature::SigningKey::parse("soar-1", KEY).expect("key");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), now.to_string()),
        ("webhook-signature".into(), key.sign(id, now, body)),
    ]
}

async fn post(client: &reqwest::Client, base: &str, id: &str, body: &[u8]) -> (u16, Value) {
    let mut request = client
        .post(format!("{base}/v1/events"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers(id, body) {
        request = request.header(k, v);
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn status(client: &reqwest::Client, base: &str, request_id: &str, n: usize) -> Value {
    let mut request = client.get(format!("{base}/v1/requests/{request_id}"));
    for (k, v) in headers(&format!("status-{request_id}-{n}"), b"") {
        request = request.header(k, v);
    }
    request.send().await.expect("get").json().await.expect("json")
}

async fn windows_machine(sandbox: &str) -> String {
    let tenant = TENANT.parse().expect("tenant");
    mde_defender::testing::machine_ids(
        sandbox,
        mde_sandbox::DEMO_CLIENT_ID,
        mde_sandbox::DEMO_CLIENT_SECRET,
        &tenant,
        "Windows",
    )
    .await
    .into_iter()
    .next()
    .expect("a Windows device")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_make_one_request_and_concurrent_requests_one_action() {
    let sandbox = mde_sandbox::Sandbox::start(mde_sandbox::SandboxConfig::default())
        .await
        .expect("sandbox");
    let served = serve(Some(&sandbox.base_url()), &["isolate_device"]);
    let machine = windows_machine(&sandbox.base_url()).await;
    let body = serde_json::to_vec(&json!({"type": "device_action.v1", "data": {"tenant_id": TENANT,
        "device": {"machine_id": machine}, "action": "isolate", "comment": "NDR: C2 beacon"}}))
    .expect("json");
    let client = reqwest::Client::new();

    // 200 copies of one delivery at once: each answered 202 (the same answer) or 409 (being accepted: retry).
    let copies =
        futures::future::join_all((0..200).map(|_| post(&client, &served.base, "delivery-1", &body))).await;
    let mut ids = std::collections::BTreeSet::new();
    for (code, answer) in &copies {
        match code {
            202 => {
                ids.insert(answer["request_id"].as_str().expect("id").to_owned());
            }
            409 => assert_eq!(answer["type"], "urn:mde-bridge:problem:in-progress"),
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    assert_eq!(ids.len(), 1, "one request for one delivery");

    // 10 deliveries of the same isolation with different ids (a partner retrying with new ids): 10 requests.
    let many = futures::future::join_all((0..10).map(|i| {
        let (client, base, body) = (&client, &served.base, &body);
        async move { post(client, base, &format!("retry-{i}"), body).await }
    }))
    .await;
    for (code, answer) in &many {
        assert_eq!(*code, 202, "{answer}");
        ids.insert(answer["request_id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 11);

    // Every request completes, and Defender holds one isolation for all of them.
    let mut pending: Vec<String> = ids.iter().cloned().collect();
    for round in 0..60 {
        let mut still = Vec::new();
        for id in &pending {
            let s = status(&client, &served.base, id, round).await;
            match s["status"].as_str() {
                Some("completed") => assert_eq!(s["outcome"]["code"], "succeeded", "{s}"),
                _ => still.push(id.clone()),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        sandbox.advance(Duration::from_secs(120));
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    if let Some(id) = pending.first() {
        let s = status(&client, &served.base, id, 999).await;
        panic!("{} request(s) did not complete, e.g. {s}", pending.len());
    }
    let state = sandbox.device_state(TENANT, &machine).expect("device");
    assert_eq!(
        state.actions.len(),
        1,
        "one Defender action for 11 requests: {:?}",
        state.actions
    );
    assert!(state.isolated);
}

#[tokio::test]
async fn the_bad_request_matrix_over_a_socket() {
    let sandbox = mde_sandbox::Sandbox::start(mde_sandbox::SandboxConfig::default())
        .await
        .expect("sandbox");
    let served = serve(Some(&sandbox.base_url()), &["isolate_device"]);
    let client = reqwest::Client::new();
    let good = json!({"type": "device_action.v1", "data": {"tenant_id": TENANT,
        "device": {"dns_name": "pc-1"}, "action": "isolate", "comment": "c"}});
    let signed = |id: &str, body: &[u8], content_type: &str| {
        let mut request = client
            .post(format!("{}/v1/events", served.base))
            .header("content-type", content_type)
            .body(body.to_vec());
        for (k, v) in headers(id, body) {
            request = request.header(k, v);
        }
        request
    };
    let other_tenant = json!({"type": "device_action.v1", "data": {"tenant_id": mde_sandbox::DEMO_TENANT_PARTIAL,
        "device": {"dns_name": "pc-1"}, "action": "isolate", "comment": "c"}});
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "unsigned",
            client
                .post(format!("{}/v1/events", served.base))
                .header("content-type", "application/json")
                .body(good.to_string()),
            401,
            "invalid-signature",
        ),
        (
            "not JSON",
            signed("m1", b"{\"type\": ", "application/json"),
            400,
            "malformed-json",
        ),
        (
            "wrong media type",
            signed("m2", good.to_string().as_bytes(), "text/plain"),
            415,
            "unsupported-media-type",
        ),
        (
            "duplicate keys",
            signed(
                "m3",
                br#"{"type": "device_action.v1", "type": "x", "data": {}}"#,
                "application/json",
            ),
            400,
            "malformed-json",
        ),
        (
            "schema",
            signed(
                "m4",
                br#"{"type": "device_action.v1", "data": {}}"#,
                "application/json",
            ),
            422,
            "invalid-event",
        ),
        (
            "another tenant",
            signed("m5", other_tenant.to_string().as_bytes(), "application/json"),
            403,
            "tenant-not-bound",
        ),
        (
            "huge",
            signed("m6", &vec![b' '; 70_000], "application/json"),
            413,
            "body-too-large",
        ),
    ];
    for (name, request, code, slug) in cases {
        let response = request.send().await.expect("send");
        assert_eq!(response.status().as_u16(), code, "{name}");
        let problem: Value = response.json().await.expect("problem json");
        assert_eq!(
            problem["type"],
            format!("urn:mde-bridge:problem:{slug}"),
            "{name}: {problem}"
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !sandbox
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.contains("/machines/")),
        "nothing refused reached Defender"
    );
}
