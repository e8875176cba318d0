//! `findbyip` over the devices' IP history: a device matches when it held the address within 15 minutes of the
//! timestamp, so a reused address finds different devices at different times.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, MDE, code, values};
use mde_sandbox::{DEMO_TENANT_FULL, IpLease};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

async fn find(env: &Env, token: &str, ip: &str, at: OffsetDateTime) -> Vec<String> {
    let (status, body) = env
        .get(
            token,
            &format!("/api/machines/findbyip(ip='{ip}',timestamp={})", rfc3339(at)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    values(&body)
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn history(env: &Env, machine: &str) -> Vec<IpLease> {
    let (status, body) = env
        .admin_get(&format!(
            "/_sandbox/machines/{machine}/ip_history?tenant={DEMO_TENANT_FULL}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["machine_id"], machine);
    serde_json::from_value(body["ip_history"].clone()).unwrap()
}

#[tokio::test]
async fn a_reused_address_finds_the_device_that_held_it_at_that_time() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, machines) = env.get(&token, "/api/machines").await;
    let mut leases: Vec<(String, IpLease)> = Vec::new();
    for m in values(&machines) {
        let id = m["id"].as_str().unwrap();
        let own = history(&env, id).await;
        assert_eq!(own, env.sandbox.ip_history(DEMO_TENANT_FULL, id).unwrap());
        let current = own.iter().find(|l| l.until.is_none()).expect("a lease held now");
        assert_eq!(current.ip, m["lastIpAddress"].as_str().unwrap());
        leases.extend(own.into_iter().map(|l| (id.to_owned(), l)));
    }
    let (earlier, later) = leases
        .iter()
        .find_map(|(a, la)| {
            leases
                .iter()
                .find(|(b, lb)| b != a && lb.ip == la.ip && la.until.is_some_and(|u| u < lb.from))
                .map(|other| ((a, la), other))
        })
        .expect("the seeded world reuses an address");
    let (ip, switch) = (&earlier.1.ip, earlier.1.until.unwrap());
    let now = env.sandbox.now();
    assert!(switch > now - Duration::days(30), "within findbyip's reach");
    assert_eq!(
        find(&env, &token, ip, switch - Duration::hours(2)).await,
        vec![earlier.0.clone()]
    );
    assert_eq!(
        find(&env, &token, ip, later.1.from + Duration::hours(2)).await,
        vec![later.0.clone()]
    );
    assert_eq!(find(&env, &token, ip, now).await, vec![later.0.clone()]);
    let gap = switch + (later.1.from - switch) / 2;
    if later.1.from - switch > Duration::minutes(30) {
        assert!(
            find(&env, &token, ip, gap).await.is_empty(),
            "nobody held it then"
        );
    }
}

#[tokio::test]
async fn leases_match_within_fifteen_minutes_and_are_added_over_http_or_rust() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_FULL, MDE).await;
    let (_, machines) = env.get(&token, "/api/machines?$top=2").await;
    let one = values(&machines)[0]["id"].as_str().unwrap().to_owned();
    let two = values(&machines)[1]["computerDnsName"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = env.sandbox.now();
    let (from, until) = (
        now - Duration::days(2),
        now - Duration::days(2) + Duration::hours(1),
    );
    let (status, body) = env
        .admin(
            &format!("/_sandbox/machines/{one}/ip_history?tenant={DEMO_TENANT_FULL}"),
            json!({"ip": "192.0.2.77", "from": rfc3339(from), "until": rfc3339(until)}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["ip_history"].as_array().unwrap().len(),
        history(&env, &one).await.len()
    );
    let ip = "192.0.2.77";
    for (at, found) in [
        (until + Duration::minutes(14), true),
        (until + Duration::minutes(16), false),
        (from - Duration::minutes(14), true),
        (from - Duration::minutes(16), false),
    ] {
        let expected: Vec<String> = if found { vec![one.clone()] } else { Vec::new() };
        assert_eq!(find(&env, &token, ip, at).await, expected, "{at}");
    }

    // The same address later on another device (by computer name), still held: both are found around the
    // moment it changed hands, only the second one now.
    env.sandbox
        .add_ip_lease(DEMO_TENANT_FULL, &two, ip, until + Duration::minutes(5), None)
        .unwrap();
    let two_id = values(&machines)[1]["id"].as_str().unwrap().to_owned();
    let mut both = find(&env, &token, ip, until).await;
    both.sort();
    let mut expected = vec![one.clone(), two_id.clone()];
    expected.sort();
    assert_eq!(both, expected);
    assert_eq!(find(&env, &token, ip, now).await, vec![two_id]);

    let (status, _) = env
        .get(
            &token,
            &format!(
                "/api/machines/findbyip(ip='{ip}',timestamp={})",
                rfc3339(now - Duration::days(31))
            ),
        )
        .await;
    assert_eq!(status, 400, "the timestamp must be within the past 30 days");

    let path = format!("/_sandbox/machines/{one}/ip_history?tenant={DEMO_TENANT_FULL}");
    for body in [
        json!({"ip": "10.0.0.0/24", "from": rfc3339(from)}),
        json!({"ip": "10.0.0.1", "from": rfc3339(until), "until": rfc3339(from)}),
        json!({"ip": "10.0.0.1", "from": "yesterday"}),
        json!({"ip": "10.0.0.1"}),
    ] {
        let (status, answer) = env.admin(&path, body.clone()).await;
        assert_eq!((status, code(&answer)), (400, "BadRequest"), "{body}");
    }
    let (status, _) = env
        .admin(
            &format!("/_sandbox/machines/nope/ip_history?tenant={DEMO_TENANT_FULL}"),
            json!({"ip": "10.0.0.1", "from": rfc3339(from)}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = env
        .admin(
            &format!("/_sandbox/machines/{one}/ip_history"),
            json!({"ip": "10.0.0.1", "from": rfc3339(from)}),
        )
        .await;
    assert_eq!(status, 400, "the tenant parameter is required");
    assert!(
        env.sandbox
            .add_ip_lease(DEMO_TENANT_FULL, "nope", ip, from, None)
            .is_err()
    );
}
