//! A tenant in another cloud is served there, token and API calls alike, while the other tenants stay in the
//! default cloud; an expired credential is reported as expired, before any token request is sent.

mod api_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use api_support::*;
use futures::StreamExt;
use mde_contracts::{AppCredential, Audience, Dataset};
use mde_defender::api::RateLimitConfig;
use mde_defender::{
    DefenderError, DirectTokenSource, StaticCredential, TenantClouds, TokenEndpointVersion, TokenSource,
    build_http_client, certificate_not_after, credential_expiry,
};
use mde_sandbox::{Sandbox, SandboxConfig};

#[tokio::test]
async fn a_tenant_routed_to_another_cloud_gets_its_tokens_and_data_there_and_only_there() {
    let default_cloud = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let other_cloud = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let clouds = Arc::new(TenantClouds::new(endpoints(&default_cloud)));
    clouds.replace(HashMap::from([(full(), endpoints(&other_cloud))]));

    let tokens = Arc::new(token_source(&default_cloud).with_clouds(clouds.clone()));
    let client = client_with(
        &default_cloud,
        tokens,
        fast_retries(1),
        RateLimitConfig::unlimited(),
    )
    .with_clouds(clouds.clone());
    let now = time::OffsetDateTime::now_utc();
    for tenant in [full(), partial()] {
        let mut pages = client.export_pages(
            Dataset::MdeAlerts,
            &tenant,
            now - time::Duration::days(30),
            now,
            Some(5),
        );
        pages.next().await.expect("a page").expect("no error");
    }
    let path_has = |s: &mde_sandbox::SandboxHandle, what: &str| {
        s.requests().iter().filter(|r| r.path.contains(what)).count()
    };
    assert_eq!(
        path_has(&other_cloud, mde_sandbox::DEMO_TENANT_FULL),
        1,
        "the routed tenant's token came from its cloud"
    );
    assert_eq!(path_has(&other_cloud, "/api/alerts"), 1, "and its alerts");
    assert_eq!(
        path_has(&default_cloud, mde_sandbox::DEMO_TENANT_FULL),
        0,
        "nothing of it went to the default cloud"
    );
    assert_eq!(
        path_has(&default_cloud, mde_sandbox::DEMO_TENANT_PARTIAL),
        1,
        "the other tenant stayed in the default"
    );
    assert_eq!(path_has(&default_cloud, "/api/alerts"), 1);
    assert_eq!(
        client.tenant_endpoints(&full()).login,
        endpoints(&other_cloud).login
    );
}

#[tokio::test]
async fn an_expired_client_secret_is_called_expired_and_no_token_request_is_sent() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let expired: AppCredential = serde_json::from_value(serde_json::json!({
        "kind": "client_secret", "client_id": mde_sandbox::DEMO_CLIENT_ID,
        "client_secret": mde_sandbox::DEMO_CLIENT_SECRET, "expires_on": "2026-01-31T00:00:00Z" }))
    .expect("credential");
    assert!(credential_expiry(&expired).expect("readable").is_some());
    let source = DirectTokenSource::new(
        build_http_client(&partner()).expect("http"),
        endpoints(&sandbox),
        TokenEndpointVersion::V2,
        Arc::new(StaticCredential(expired)),
        Duration::from_secs(300),
    );
    match source.token(&full(), Audience::Mde, &[]).await {
        Err(e @ DefenderError::CredentialExpired { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("client secret expired at 2026-01-31T00:00:00Z"),
                "{text}"
            );
            assert!(text.contains("put it into the"), "the fix is named: {text}");
        }
        other => panic!("expected CredentialExpired, got {other:?}"),
    }
    assert!(sandbox.requests().is_empty(), "Entra ID was not asked");
}

#[tokio::test]
async fn entra_saying_the_secret_expired_is_reported_as_expired() {
    let mut config = SandboxConfig::default();
    config.apps[0].expired_client_secrets = vec!["an-old-secret".into()];
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let old: AppCredential = serde_json::from_value(serde_json::json!({
        "kind": "client_secret", "client_id": mde_sandbox::DEMO_CLIENT_ID, "client_secret": "an-old-secret" }))
    .expect("credential");
    let source = DirectTokenSource::new(
        build_http_client(&partner()).expect("http"),
        endpoints(&sandbox),
        TokenEndpointVersion::V2,
        Arc::new(StaticCredential(old)),
        Duration::from_secs(300),
    );
    let err = source
        .token(&full(), Audience::Graph, &[])
        .await
        .expect_err("expired");
    assert!(
        matches!(err, DefenderError::CredentialExpired { expired_at: None, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("an-old-secret"), "{err}");
}

#[test]
fn the_demo_certificate_has_a_readable_not_after() {
    let not_after = certificate_not_after(mde_sandbox::DEMO_CLIENT_CERT_PEM).expect("a certificate");
    assert!(
        not_after > SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000),
        "{not_after:?}"
    );
}
