//! `mde-bridge webhook serve` and `webhook sign`, from the built binary: a partner signs an event with `sign`,
//! posts it to `serve`, gets a 202, the repeat gets the same answer, a tampered body a 401 problem; the key is
//! never printed.

mod served;

use served::{TENANT, mde_bridge, serve};

#[tokio::test]
async fn a_signed_event_is_accepted_once_by_webhook_serve() {
    let served = serve(None, &["isolate_device"]);
    let (dir, base) = (&served.dir, served.base.clone());
    let event = format!(
        r#"{{"type":"device_action.v1","data":{{"tenant_id":"{TENANT}","device":{{"dns_name":"pc-7"}},"action":"isolate","comment":"C2"}}}}"#
    );
    std::fs::write(dir.path().join("event.json"), &event).expect("event");

    let signed = mde_bridge()
        .current_dir(dir.path())
        .args([
            "webhook",
            "sign",
            "--key-file",
            "soar.key",
            "--body",
            "event.json",
            "--id",
            "evt-1",
        ])
        .output()
        .expect("sign");
    assert!(signed.status.success());
    let text = String::from_utf8(signed.stdout).expect("utf-8");
    assert!(!text.contains("MfKQ9r8"), "the key is never printed");
    let headers: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    assert_eq!(headers.len(), 3, "{text}");

    let client = reqwest::Client::new();
    let send = |body: String| {
        let mut request = client
            .post(format!("{base}/v1/events"))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in &headers {
            request = request.header(k, v);
        }
        request.send()
    };
    let first = send(event.clone()).await.expect("post");
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.expect("json");
    let again: serde_json::Value = send(event.clone())
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(first, again);
    let tampered = send(event.replace("pc-7", "pc-8")).await.expect("post");
    assert_eq!(tampered.status(), 401);
    assert_eq!(tampered.headers()["content-type"], "application/problem+json");
    drop(served);
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("event.json"), "{}").expect("event");
    let refused = mde_bridge()
        .current_dir(dir.path())
        .args(["webhook", "sign", "--body", "event.json"])
        .output()
        .expect("sign");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--key-file"));
}

/// Signs `body` with `sign` (as a partner would), returning the headers.
fn sign(dir: &std::path::Path, body: &str, id: &str) -> Vec<(String, String)> {
    std::fs::write(dir.join("body.json"), body).expect("body");
    let out = mde_bridge()
        .current_dir(dir)
        .args([
            "webhook",
            "sign",
            "--key-file",
            "soar.key",
            "--body",
            "body.json",
            "--id",
            id,
        ])
        .output()
        .expect("sign");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

#[tokio::test]
async fn webhook_serve_execute_performs_requests_and_shows_their_audit() {
    let sandbox = mde_sandbox::Sandbox::start(mde_sandbox::SandboxConfig::default())
        .await
        .expect("sandbox");
    let served = serve(Some(&sandbox.base_url()), &["hunting_query"]);
    assert!(served.banner.contains("performed here"), "{}", served.banner);
    let (dir, base) = (&served.dir, served.base.clone());

    let event = format!(
        r#"{{"type":"hunting_query.v1","data":{{"tenant_id":"{TENANT}","query":"DeviceInfo | take 2"}}}}"#
    );
    let client = reqwest::Client::new();
    let mut post = client
        .post(format!("{base}/v1/events"))
        .header("content-type", "application/json")
        .body(event.clone());
    for (k, v) in sign(dir.path(), &event, "hunt-1") {
        post = post.header(k, v);
    }
    let accepted: serde_json::Value = post.send().await.expect("post").json().await.expect("json");
    let id = accepted["request_id"].as_str().expect("id").to_owned();
    let mut status = serde_json::Value::Null;
    for attempt in 0..20 {
        let mut get = client.get(format!("{base}/v1/requests/{id}"));
        for (k, v) in sign(dir.path(), "", &format!("status-{attempt}")) {
            get = get.header(k, v);
        }
        status = get.send().await.expect("get").json().await.expect("json");
        if status["status"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(status["outcome"]["code"], "succeeded", "{status}");
    assert!(
        dir.path()
            .join(format!("out/hunting/{TENANT}/{id}.json"))
            .is_file(),
        "the result is stored"
    );
    assert!(dir.path().join(format!("out/audit/requests/{id}.json")).is_file());
}
