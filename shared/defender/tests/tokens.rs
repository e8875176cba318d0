//! Tokens from the sandbox's Entra ID over real sockets: both endpoint versions, secret and certificate,
//! the cache (single-flight, refresh-ahead, shared between processes), the claims check and every error an operator must act on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mde_contracts::{AppCredential, Audience, CloudEndpoints, CloudSettings, PartnerIdentity, TenantId};
use mde_defender::{
    CredentialSource, DefenderError, DirectTokenSource, MemoryTokenStore, SharedTokenStore, StaticCredential,
    StoredToken, TokenEndpointVersion, TokenSource, build_http_client,
};
use mde_sandbox::{FaultKind, FaultRule, Sandbox, SandboxConfig, SandboxHandle};

const UA: &str = "MdePartner-Contoso-BridgeTests/1.0.0";

fn partner() -> PartnerIdentity {
    PartnerIdentity {
        company: "Contoso".into(),
        product: "BridgeTests".into(),
        version: "1.0.0".into(),
    }
}

fn endpoints(sandbox: &SandboxHandle) -> CloudEndpoints {
    let base: url::Url = sandbox.base_url().parse().expect("base url");
    CloudSettings {
        login_url: Some(base.clone()),
        mde_api_url: Some(base.clone()),
        m365d_api_url: Some(base.clone()),
        graph_url: Some(base),
        ..CloudSettings::default()
    }
    .endpoints()
    .expect("endpoints")
}

fn secret_credential(secret: &str) -> AppCredential {
    serde_json::from_value(serde_json::json!({
        "kind": "client_secret", "client_id": mde_sandbox::DEMO_CLIENT_ID, "client_secret": secret }))
    .expect("credential")
}

fn certificate_credential() -> AppCredential {
    serde_json::from_value(serde_json::json!({
        "kind": "certificate", "client_id": mde_sandbox::DEMO_CLIENT_ID,
        "certificate_pem": mde_sandbox::DEMO_CLIENT_CERT_PEM, "private_key_pem": mde_sandbox::DEMO_CLIENT_KEY_PEM }))
    .expect("credential")
}

fn source(
    sandbox: &SandboxHandle,
    version: TokenEndpointVersion,
    cred: Arc<dyn CredentialSource>,
) -> DirectTokenSource {
    let http = build_http_client(&partner()).expect("client");
    DirectTokenSource::new(http, endpoints(sandbox), version, cred, Duration::from_secs(300))
}

/// A direct source with the demo application's client secret.
fn demo_source(sandbox: &SandboxHandle, version: TokenEndpointVersion) -> DirectTokenSource {
    source(
        sandbox,
        version,
        Arc::new(StaticCredential(secret_credential(
            mde_sandbox::DEMO_CLIENT_SECRET,
        ))),
    )
}

fn tenant(id: &str) -> TenantId {
    id.parse().expect("tenant id")
}

fn token_requests(sandbox: &SandboxHandle) -> Vec<mde_sandbox::RequestRecord> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/oauth2/"))
        .collect()
}

#[tokio::test]
async fn v2_secret_tokens_for_every_audience_carry_the_tenant_and_its_roles() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let src = demo_source(&sandbox, TokenEndpointVersion::V2);
    let full = tenant(mde_sandbox::DEMO_TENANT_FULL);
    for audience in Audience::ALL {
        let token = src.token(&full, audience, &[]).await.expect("token");
        assert_eq!(token.tenant, full);
        assert!(!token.roles.is_empty(), "{audience:?} token has roles");
    }
    let requests = token_requests(&sandbox);
    assert_eq!(requests.len(), 3, "one request per audience");
    for r in &requests {
        assert!(r.path.ends_with("/oauth2/v2.0/token"), "{}", r.path);
        assert_eq!(r.user_agent.as_deref(), Some(UA));
        assert!(
            !r.body.contains(mde_sandbox::DEMO_CLIENT_SECRET),
            "the log redacts secrets"
        );
    }
}

#[tokio::test]
async fn v1_certificate_tokens_are_obtained_with_a_signed_client_assertion() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let src = source(
        &sandbox,
        TokenEndpointVersion::V1,
        Arc::new(StaticCredential(certificate_credential())),
    );
    let token = src
        .token(
            &tenant(mde_sandbox::DEMO_TENANT_FULL),
            Audience::Mde,
            &["Alert.Read.All"],
        )
        .await
        .expect("token");
    assert!(token.roles.iter().any(|r| r == "Alert.Read.All"));
    let requests = token_requests(&sandbox);
    assert_eq!(requests.len(), 1);
    assert!(requests[0].path.ends_with("/oauth2/token"));
    let body = requests[0].body.clone();
    assert!(
        body.contains("client_assertion_type") && body.contains("resource="),
        "{body}"
    );
}

#[tokio::test]
async fn a_thousand_concurrent_callers_cause_one_token_request() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let src = Arc::new(demo_source(&sandbox, TokenEndpointVersion::V2));
    let full = tenant(mde_sandbox::DEMO_TENANT_FULL);
    let callers = (0..1000).map(|_| {
        let src = Arc::clone(&src);
        let full = full.clone();
        tokio::spawn(async move {
            src.token(&full, Audience::Graph, &[])
                .await
                .map(|t| t.fingerprint())
        })
    });
    let fingerprints: Vec<String> = futures::future::join_all(callers)
        .await
        .into_iter()
        .map(|r| r.expect("join").expect("token"))
        .collect();
    assert!(
        fingerprints.iter().all(|f| *f == fingerprints[0]),
        "everyone got the same token"
    );
    assert_eq!(
        token_requests(&sandbox).len(),
        1,
        "single-flight: one request for 1,000 callers"
    );
}

#[tokio::test]
async fn a_token_is_renewed_ahead_of_its_expiry() {
    let mut config = SandboxConfig::default();
    config.tokens.lifetime_seconds = 4;
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let src = demo_source(&sandbox, TokenEndpointVersion::V2);
    let full = tenant(mde_sandbox::DEMO_TENANT_FULL);
    let first = src.token(&full, Audience::Mde, &[]).await.expect("token");
    let again = src.token(&full, Audience::Mde, &[]).await.expect("token");
    assert_eq!(first.fingerprint(), again.fingerprint(), "reused while fresh");
    assert_eq!(token_requests(&sandbox).len(), 1);
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let renewed = src.token(&full, Audience::Mde, &[]).await.expect("token");
    assert!(
        first.expires_at > std::time::SystemTime::now(),
        "the old token was still valid when renewed"
    );
    assert_ne!(first.fingerprint(), renewed.fingerprint());
    assert_eq!(token_requests(&sandbox).len(), 2);
}

#[tokio::test]
async fn missing_roles_are_named_with_the_tenants_consent_url() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let src = demo_source(&sandbox, TokenEndpointVersion::V2);
    let partial = tenant(mde_sandbox::DEMO_TENANT_PARTIAL);
    let err = src
        .token(&partial, Audience::Mde, &["Alert.Read.All", "Ti.ReadWrite.All"])
        .await
        .expect_err("missing role");
    match &err {
        DefenderError::ConsentRequired {
            missing, consent_url, ..
        } => {
            assert_eq!(missing, &["Ti.ReadWrite.All".to_string()]);
            assert!(
                consent_url.contains(&format!(
                    "/{}/adminconsent?client_id={}",
                    partial,
                    mde_sandbox::DEMO_CLIENT_ID
                )),
                "{consent_url}"
            );
        }
        other => panic!("expected ConsentRequired, got {other:?}"),
    }
    assert!(err.to_string().contains("admin consent"), "{err}");
    // The roles it has are served from the same cached token.
    src.token(&partial, Audience::Mde, &["Alert.Read.All"])
        .await
        .expect("granted role");
    assert_eq!(token_requests(&sandbox).len(), 1);
}

#[tokio::test]
async fn a_tenant_that_never_consented_gets_consent_required() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let src = demo_source(&sandbox, TokenEndpointVersion::V2);
    let err = src
        .token(
            &tenant(mde_sandbox::DEMO_TENANT_UNCONSENTED),
            Audience::Graph,
            &[],
        )
        .await
        .expect_err("no consent");
    assert!(
        matches!(err, DefenderError::ConsentRequired { ref missing, .. } if missing.is_empty()),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unknown_tenant_is_reported_as_such() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let src = demo_source(&sandbox, TokenEndpointVersion::V2);
    let err = src
        .token(
            &tenant("00000000-0000-4000-8000-0000000000ff"),
            Audience::Mde,
            &[],
        )
        .await
        .expect_err("unknown");
    assert!(matches!(err, DefenderError::TenantNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_wrong_secret_is_refused_without_showing_it() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let wrong = "wrong-secret-canary-77";
    let src = source(
        &sandbox,
        TokenEndpointVersion::V2,
        Arc::new(StaticCredential(secret_credential(wrong))),
    );
    let err = src
        .token(&tenant(mde_sandbox::DEMO_TENANT_FULL), Audience::Mde, &[])
        .await
        .expect_err("bad secret");
    assert!(matches!(err, DefenderError::CredentialInvalid { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(wrong));
}

/// A credential source whose first value is stale, as right after a rotation.
struct Rotating {
    rotated: AtomicBool,
}

#[async_trait]
impl CredentialSource for Rotating {
    async fn credential(&self, _tenant: &TenantId) -> mde_defender::Result<AppCredential> {
        Ok(if self.rotated.load(Ordering::SeqCst) {
            secret_credential(mde_sandbox::DEMO_CLIENT_SECRET)
        } else {
            secret_credential("the-old-secret")
        })
    }
    async fn refresh(&self, _tenant: &TenantId) {
        self.rotated.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_refused_credential_is_read_again_once_to_pick_up_a_rotation() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let src = source(
        &sandbox,
        TokenEndpointVersion::V2,
        Arc::new(Rotating {
            rotated: AtomicBool::new(false),
        }),
    );
    src.token(&tenant(mde_sandbox::DEMO_TENANT_FULL), Audience::Mde, &[])
        .await
        .expect("recovered after rotation");
    assert_eq!(token_requests(&sandbox).len(), 2, "one refused, one accepted");
}

/// A sandbox whose v2 token endpoint answers `status` (at most `max_times` times, or always).
async fn failing_token_endpoint(status: u16, max_times: Option<u64>) -> SandboxHandle {
    let config = SandboxConfig {
        faults: vec![FaultRule {
            path: "*/oauth2/v2.0/token".into(),
            method: None,
            fault: FaultKind::Status { status },
            probability: None,
            nth_call: None,
            max_times,
        }],
        ..SandboxConfig::default()
    };
    Sandbox::start(config).await.expect("sandbox")
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried_within_bounds() {
    let sandbox = failing_token_endpoint(503, Some(2)).await;
    demo_source(&sandbox, TokenEndpointVersion::V2)
        .token(&tenant(mde_sandbox::DEMO_TENANT_FULL), Audience::Mde, &[])
        .await
        .expect("third attempt succeeds");
    assert_eq!(token_requests(&sandbox).len(), 3);

    let down = failing_token_endpoint(500, None).await;
    let err = demo_source(&down, TokenEndpointVersion::V2)
        .token(&tenant(mde_sandbox::DEMO_TENANT_FULL), Audience::Mde, &[])
        .await
        .expect_err("down");
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(
        token_requests(&down).len(),
        4,
        "one attempt and three retries, then give up"
    );
}

/// Sources of several processes (here: three sources) sharing one store: one token request per (tenant, API).
#[tokio::test]
async fn sources_sharing_a_store_request_one_token_per_tenant_and_api() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let store = Arc::new(MemoryTokenStore::new());
    let processes: Vec<DirectTokenSource> = (0..3)
        .map(|_| demo_source(&sandbox, TokenEndpointVersion::V2).with_shared_store(store.clone()))
        .collect();
    let full = tenant(mde_sandbox::DEMO_TENANT_FULL);
    let mut fingerprints = Vec::new();
    for process in &processes {
        for audience in [Audience::Mde, Audience::Graph] {
            let token = process.token(&full, audience, &[]).await.expect("token");
            assert_eq!(token.tenant, full);
            fingerprints.push((audience, token.fingerprint(), token.roles.clone()));
        }
    }
    assert_eq!(token_requests(&sandbox).len(), 2, "one per API, not per process");
    for (audience, fingerprint, roles) in &fingerprints {
        let first = fingerprints.iter().find(|f| f.0 == *audience).expect("first");
        assert_eq!(
            (fingerprint, roles),
            (&first.1, &first.2),
            "the same token, roles read from it"
        );
    }
    let mut keys = store.keys();
    keys.sort();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with(mde_sandbox::DEMO_TENANT_FULL)));
}

/// Processes that miss the same token at the same moment (two deliveries of one tenant's job): one asks Entra ID,
/// the others take its token from the store.
#[tokio::test]
async fn processes_missing_a_token_at_once_cause_one_token_request() {
    // A token endpoint slow enough that every process misses the store before the first token is in it.
    let config = SandboxConfig {
        faults: vec![FaultRule::random(
            "*/oauth2/*",
            FaultKind::Delay { millis: 400 },
            1.0,
        )],
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let store = Arc::new(MemoryTokenStore::new());
    let processes: Vec<DirectTokenSource> = (0..4)
        .map(|_| demo_source(&sandbox, TokenEndpointVersion::V2).with_shared_store(store.clone()))
        .collect();
    let full = tenant(mde_sandbox::DEMO_TENANT_FULL);
    let tokens =
        futures::future::join_all(processes.iter().map(|p| p.token(&full, Audience::Mde, &[]))).await;
    let fingerprints: std::collections::BTreeSet<String> = tokens
        .into_iter()
        .map(|t| t.expect("token").fingerprint())
        .collect();
    assert_eq!(fingerprints.len(), 1, "one token for all: {fingerprints:?}");
    assert_eq!(
        token_requests(&sandbox).len(),
        1,
        "one token request, not one per process"
    );
}

/// A process that claimed a token and died before it came back holds the others up for the claim's time only.
#[tokio::test]
async fn a_claim_whose_holder_never_delivers_only_delays_the_token() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let store = Arc::new(MemoryTokenStore::new());
    let full = tenant(mde_sandbox::DEMO_TENANT_FULL);
    let key = mde_defender::shared_key(&full, Audience::Mde);
    let until = std::time::SystemTime::now() + Duration::from_secs(3600);
    assert!(
        store
            .claim(&key, "a process that died", until)
            .await
            .expect("claim")
    );
    assert!(!store.claim(&key, "another", until).await.expect("claim"), "held");
    let src = demo_source(&sandbox, TokenEndpointVersion::V2).with_shared_store(store.clone());
    let token = src
        .token(&full, Audience::Mde, &[])
        .await
        .expect("a token all the same");
    assert_eq!(token.tenant, full);
    assert_eq!(token_requests(&sandbox).len(), 1);
    assert!(
        store.claim(&key, "another", until).await.expect("claim"),
        "saving the token ended the claim"
    );
}

/// A token rejected by an API leaves the shared store too; one sealed under a rotated credential is not used.
#[tokio::test]
async fn a_rejected_or_foreign_shared_token_is_not_used() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let store = Arc::new(MemoryTokenStore::new());
    let full = tenant(mde_sandbox::DEMO_TENANT_FULL);
    let one = demo_source(&sandbox, TokenEndpointVersion::V2).with_shared_store(store.clone());
    let first = one.token(&full, Audience::Mde, &[]).await.expect("token");
    one.invalidate(&first).await;
    assert!(
        store.keys().is_empty(),
        "the rejected token left the shared store"
    );

    let two = demo_source(&sandbox, TokenEndpointVersion::V2).with_shared_store(store.clone());
    let second = two.token(&full, Audience::Mde, &[]).await.expect("token");
    assert_ne!(first.fingerprint(), second.fingerprint(), "a new token");
    assert_eq!(token_requests(&sandbox).len(), 2);

    // A process whose credential differs (rotated) cannot open the stored token: it asks Entra ID.
    let other = source(
        &sandbox,
        TokenEndpointVersion::V1,
        Arc::new(StaticCredential(certificate_credential())),
    )
    .with_shared_store(store.clone());
    let third = other.token(&full, Audience::Mde, &[]).await.expect("token");
    assert_ne!(third.fingerprint(), second.fingerprint());
    assert_eq!(token_requests(&sandbox).len(), 3);
}

/// A store that always fails: the source asks Entra ID and works.
struct BrokenStore;

#[async_trait]
impl SharedTokenStore for BrokenStore {
    async fn load(&self, _: &str) -> mde_defender::Result<Option<StoredToken>> {
        Err(DefenderError::Config("store down".into()))
    }
    async fn save(&self, _: &str, _: &StoredToken) -> mde_defender::Result<()> {
        Err(DefenderError::Config("store down".into()))
    }
    async fn remove(&self, _: &str, _: &str) -> mde_defender::Result<()> {
        Err(DefenderError::Config("store down".into()))
    }
    async fn claim(&self, _: &str, _: &str, _: std::time::SystemTime) -> mde_defender::Result<bool> {
        Err(DefenderError::Config("store down".into()))
    }
}

#[tokio::test]
async fn a_failing_shared_store_never_fails_a_token() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let src = demo_source(&sandbox, TokenEndpointVersion::V2).with_shared_store(Arc::new(BrokenStore));
    let full = tenant(mde_sandbox::DEMO_TENANT_FULL);
    let token = src.token(&full, Audience::Mde, &[]).await.expect("token");
    src.invalidate(&token).await;
    assert_eq!(token_requests(&sandbox).len(), 1);
}
