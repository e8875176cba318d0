//! The shared token cache in DynamoDB (moto server) between sources of different processes: one token request
//! per (tenant, API), also when they miss it at once (a claim in the table), nothing readable in the table, a
//! rejected token removed only while it is still the one kept.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use mde_contracts::{AppCredential, Audience, PartnerIdentity, TenantId};
use mde_defender::{
    DirectTokenSource, SharedTokenStore, StaticCredential, StoredToken, TokenEndpointVersion, TokenSource,
    build_http_client, shared_key,
};
use mde_platform::testing;
use mde_sandbox::{FaultKind, FaultRule, Sandbox, SandboxConfig, SandboxHandle};
use mde_tokens::{DYNAMO_TOKEN_KEY, DynamoTokenStore};

fn source(sandbox: &SandboxHandle, store: Arc<dyn SharedTokenStore>) -> DirectTokenSource {
    let partner = PartnerIdentity {
        company: "Contoso".into(),
        product: "TokenCacheTests".into(),
        version: "1.0.0".into(),
    };
    let endpoints = mde_defender::testing::endpoints_for(&sandbox.base_url());
    let credential: AppCredential = serde_json::from_value(serde_json::json!({
        "kind": "client_secret", "client_id": mde_sandbox::DEMO_CLIENT_ID,
        "client_secret": mde_sandbox::DEMO_CLIENT_SECRET }))
    .expect("credential");
    DirectTokenSource::new(
        build_http_client(&partner).expect("http"),
        endpoints,
        TokenEndpointVersion::V2,
        Arc::new(StaticCredential(credential)),
        Duration::from_secs(300),
    )
    .with_shared_store(store)
}

#[tokio::test]
async fn broker_containers_sharing_the_table_request_one_token_per_tenant_and_api() {
    let sdk = testing::aws_sdk_config().await;
    let table = testing::create_table(&sdk, "mde-bridge-tokens", DYNAMO_TOKEN_KEY).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let tenant: TenantId = mde_sandbox::DEMO_TENANT_FULL.parse().expect("tenant");

    // Three containers, each with its own in-process cache, one after another and then all at once.
    let containers: Vec<DirectTokenSource> = (0..3)
        .map(|_| source(&sandbox, Arc::new(DynamoTokenStore::new(client.clone(), &table))))
        .collect();
    let first = containers[0]
        .token(&tenant, Audience::Mde, &[])
        .await
        .expect("token");
    for c in &containers[1..] {
        let again = c.token(&tenant, Audience::Mde, &[]).await.expect("token");
        assert_eq!(again.fingerprint(), first.fingerprint(), "the shared token");
        assert_eq!(again.roles, first.roles);
    }
    let tokens = |s: &SandboxHandle| {
        s.requests()
            .iter()
            .filter(|r| r.path.contains("/oauth2/"))
            .count()
    };
    assert_eq!(tokens(&sandbox), 1, "one token request for three containers");

    // The item: sealed, its expiry and TTL set, no bearer value in the clear.
    let key = shared_key(&tenant, Audience::Mde);
    let item = client
        .get_item()
        .table_name(&table)
        .key(DYNAMO_TOKEN_KEY, AttributeValue::S(key.clone()))
        .send()
        .await
        .expect("get item")
        .item
        .expect("the token is kept");
    let sealed = item["sealed"].as_b().expect("sealed").as_ref().to_vec();
    assert!(!sealed.windows(3).any(|w| w == b"eyJ"), "no JWT in the clear");
    assert_eq!(item["ttl"], item["expires_at"]);

    // A rejected token is removed; a later one survives a late removal of the old fingerprint.
    containers[1].invalidate(&first).await;
    let store = DynamoTokenStore::new(client.clone(), &table);
    assert!(store.load(&key).await.expect("load").is_none(), "removed");
    let renewed = containers[2]
        .token(&tenant, Audience::Mde, &[])
        .await
        .expect("token");
    assert_eq!(
        renewed.fingerprint(),
        first.fingerprint(),
        "container 2 still holds it in memory"
    );
    let fresh = containers[1]
        .token(&tenant, Audience::Mde, &[])
        .await
        .expect("token");
    assert_ne!(
        fresh.fingerprint(),
        first.fingerprint(),
        "container 1 asked Entra ID again"
    );
    assert_eq!(tokens(&sandbox), 2);
    store
        .remove(&key, &first.fingerprint())
        .await
        .expect("a stale removal is no error");
    let kept = store
        .load(&key)
        .await
        .expect("load")
        .expect("the fresh token stays");
    assert_eq!(kept.fingerprint, fresh.fingerprint());
}

#[tokio::test]
async fn a_missing_table_is_named_and_tokens_still_come() {
    let sdk = testing::aws_sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoTokenStore::new(client, "mde-bridge-no-such-table");
    let err = store.load("t/mde").await.expect_err("no table");
    assert!(err.to_string().contains("mde-bridge-no-such-table"), "{err}");
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let tenant: TenantId = mde_sandbox::DEMO_TENANT_FULL.parse().expect("tenant");
    let token = source(&sandbox, Arc::new(store))
        .token(&tenant, Audience::Graph, &[])
        .await
        .expect("a token despite the store");
    assert_eq!(token.tenant, tenant);
}

#[tokio::test]
async fn containers_missing_a_token_at_once_cause_one_request_through_a_claim_in_the_table() {
    let sdk = testing::aws_sdk_config().await;
    let table = testing::create_table(&sdk, "mde-bridge-token-claims", DYNAMO_TOKEN_KEY).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoTokenStore::new(client.clone(), &table);

    // The claim: one holder at a time, again for the same holder, free once expired or once the token is saved.
    let now = SystemTime::now();
    let later = now + Duration::from_secs(60);
    assert!(store.claim("t/mde", "a", later).await.expect("claim"));
    assert!(
        !store.claim("t/mde", "b", later).await.expect("claim"),
        "held by a"
    );
    assert!(
        store.claim("t/mde", "a", later).await.expect("claim"),
        "a holds it"
    );
    assert!(
        store.load("t/mde").await.expect("load").is_none(),
        "a claim is no token"
    );
    assert!(
        store
            .claim("t/expired", "a", now - Duration::from_secs(1))
            .await
            .expect("claim")
    );
    assert!(
        store.claim("t/expired", "b", later).await.expect("claim"),
        "an expired claim is free"
    );
    let token = StoredToken {
        sealed: vec![1, 2, 3],
        fingerprint: "f".into(),
        expires_at: now + Duration::from_secs(3600),
    };
    store.save("t/mde", &token).await.expect("save");
    assert!(
        store.claim("t/mde", "b", later).await.expect("claim"),
        "saving ended the claim"
    );

    // Three containers missing the same token while Entra ID takes its time: one request.
    let config = SandboxConfig {
        faults: vec![FaultRule::random(
            "*/oauth2/*",
            FaultKind::Delay { millis: 400 },
            1.0,
        )],
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let tenant: TenantId = mde_sandbox::DEMO_TENANT_FULL.parse().expect("tenant");
    let containers: Vec<DirectTokenSource> = (0..3)
        .map(|_| source(&sandbox, Arc::new(DynamoTokenStore::new(client.clone(), &table))))
        .collect();
    let tokens =
        futures::future::join_all(containers.iter().map(|c| c.token(&tenant, Audience::Mde, &[]))).await;
    let fingerprints: BTreeSet<String> = tokens
        .into_iter()
        .map(|t| t.expect("token").fingerprint())
        .collect();
    assert_eq!(fingerprints.len(), 1, "{fingerprints:?}");
    let requests = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.contains("/oauth2/"))
        .count();
    assert_eq!(requests, 1, "one token request for three containers at once");
}
