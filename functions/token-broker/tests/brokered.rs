//! Other functions' side: tokens through the broker (invoked in-process here, as the CLI does), cached locally.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use mde_contracts::Audience;
use mde_defender::{DefenderError, TokenSource};
use mde_platform::invoke::{LocalFunction, LocalInvoker};
use mde_sandbox::{Sandbox, SandboxConfig};
use mde_tokens::BrokeredTokenSource;

#[tokio::test]
async fn brokered_tokens_are_cached_by_the_caller_and_errors_stay_typed() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    write_secret(
        &dir.path().join("s.json"),
        credential_json(mde_sandbox::DEMO_CLIENT_SECRET),
    );
    let broker = Arc::new(broker(&sandbox, &dir.path().join("s.json")).await);
    let invocations = Arc::new(AtomicUsize::new(0));

    let function: LocalFunction = {
        let broker = Arc::clone(&broker);
        let invocations = Arc::clone(&invocations);
        Arc::new(move |payload: bytes::Bytes| {
            let broker = Arc::clone(&broker);
            invocations.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                let request = serde_json::from_slice(&payload)
                    .map_err(|e| ("InvalidPayload".to_string(), e.to_string()))?;
                let answer = broker.handle(request).await;
                serde_json::to_vec(&answer)
                    .map(Into::into)
                    .map_err(|e| ("Encoding".to_string(), e.to_string()))
            })
        })
    };
    let mut invoker = LocalInvoker::new();
    invoker.register("mde-bridge-token-broker", function);
    let source = BrokeredTokenSource::new(
        Arc::new(invoker),
        "mde-bridge-token-broker",
        Duration::from_secs(300),
    );

    let full: mde_contracts::TenantId = mde_sandbox::DEMO_TENANT_FULL.parse().expect("tenant");
    let first = source
        .token(&full, Audience::Graph, &["SecurityIncident.Read.All"])
        .await
        .expect("token");
    let second = source.token(&full, Audience::Graph, &[]).await.expect("token");
    assert_eq!(first.fingerprint(), second.fingerprint());
    assert_eq!(
        invocations.load(Ordering::SeqCst),
        1,
        "the second call is served from the caller's cache"
    );
    assert_eq!(token_calls(&sandbox), 1);

    // An API refused the token (401): the broker is asked to renew it, and hands out a new one.
    source.invalidate(&second).await;
    let renewed = source.token(&full, Audience::Graph, &[]).await.expect("token");
    assert_ne!(renewed.fingerprint(), second.fingerprint());
    assert_eq!(invocations.load(Ordering::SeqCst), 2);
    assert_eq!(token_calls(&sandbox), 2, "the broker renewed at Entra");

    let partial: mde_contracts::TenantId = mde_sandbox::DEMO_TENANT_PARTIAL.parse().expect("tenant");
    match source.token(&partial, Audience::Mde, &["Ti.ReadWrite.All"]).await {
        Err(DefenderError::ConsentRequired {
            missing, consent_url, ..
        }) => {
            assert_eq!(missing, ["Ti.ReadWrite.All"]);
            assert!(consent_url.contains(mde_sandbox::DEMO_TENANT_PARTIAL));
        }
        other => panic!("expected ConsentRequired, got {other:?}"),
    }
}
