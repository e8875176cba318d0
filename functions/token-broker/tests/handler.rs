//! The broker's handler against the sandbox as Entra ID: every answer a caller can get.

mod common;

use common::*;
use mde_contracts::{Audience, BrokerError, BrokerResponse};
use mde_sandbox::{Sandbox, SandboxConfig};
use proptest::prelude::*;
use serde_json::json;

fn expect_token(r: BrokerResponse) -> mde_contracts::TokenGrant {
    match r {
        BrokerResponse::Token(g) => g,
        other => panic!("expected a token, got {other:?}"),
    }
}

fn expect_error(r: BrokerResponse) -> BrokerError {
    match r {
        BrokerResponse::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn each_audience_gets_a_token_and_repeats_are_served_from_the_cache() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    write_secret(
        &dir.path().join("s.json"),
        credential_json(mde_sandbox::DEMO_CLIENT_SECRET),
    );
    let broker = broker(&sandbox, &dir.path().join("s.json")).await;
    for audience in ["mde", "m365d", "graph"] {
        for _ in 0..3 {
            let grant = expect_token(
                broker
                    .handle(json!({"tenant_id": mde_sandbox::DEMO_TENANT_FULL, "audience": audience}))
                    .await,
            );
            assert_eq!(grant.tenant_id.as_str(), mde_sandbox::DEMO_TENANT_FULL);
            assert!(!grant.roles.is_empty());
            assert!(grant.expires_at > 1_700_000_000);
        }
    }
    assert_eq!(
        token_calls(&sandbox),
        3,
        "one token request per (tenant, audience)"
    );
}

#[tokio::test]
async fn a_missing_permission_is_consent_required_with_the_url() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    write_secret(
        &dir.path().join("s.json"),
        credential_json(mde_sandbox::DEMO_CLIENT_SECRET),
    );
    let broker = broker(&sandbox, &dir.path().join("s.json")).await;
    let err = expect_error(
        broker
            .handle(json!({"tenant_id": mde_sandbox::DEMO_TENANT_PARTIAL, "audience": "mde", "required_roles": ["Machine.Isolate"]}))
            .await,
    );
    match err {
        BrokerError::ConsentRequired {
            missing_roles,
            consent_url,
            audience,
            ..
        } => {
            assert_eq!(missing_roles, ["Machine.Isolate"]);
            assert_eq!(audience, Audience::Mde);
            assert!(consent_url.contains("adminconsent?client_id="), "{consent_url}");
        }
        other => panic!("expected consent_required, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tenant_outside_the_registry_is_refused_without_asking_entra() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    write_secret(
        &dir.path().join("s.json"),
        credential_json(mde_sandbox::DEMO_CLIENT_SECRET),
    );
    let broker = broker(&sandbox, &dir.path().join("s.json")).await;
    let err = expect_error(
        broker
            .handle(json!({"tenant_id": "00000000-0000-4000-8000-000000000abc", "audience": "graph"}))
            .await,
    );
    assert!(matches!(err, BrokerError::UnknownTenant { .. }), "{err:?}");
    assert_eq!(token_calls(&sandbox), 0);
}

#[tokio::test]
async fn a_rotated_secret_is_picked_up_without_waiting_for_the_cache() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s.json");
    write_secret(&file, credential_json("the-revoked-secret"));
    let broker = broker(&sandbox, &file).await;
    let request = json!({"tenant_id": mde_sandbox::DEMO_TENANT_FULL, "audience": "mde"});
    let err = expect_error(broker.handle(request.clone()).await);
    assert!(matches!(err, BrokerError::CredentialInvalid { .. }), "{err:?}");
    assert!(!err.to_string().contains("the-revoked-secret"));

    write_secret(&file, credential_json(mde_sandbox::DEMO_CLIENT_SECRET));
    expect_token(broker.handle(request).await);
}

#[tokio::test]
async fn a_secret_of_the_wrong_shape_is_credential_invalid_without_its_value() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s.json");
    write_secret(
        &file,
        json!({"kind": "client_secret", "client_id": "canary-swapped-value", "client_secret": "x"}),
    );
    let err = expect_error(
        broker(&sandbox, &file)
            .await
            .handle(json!({"tenant_id": mde_sandbox::DEMO_TENANT_FULL, "audience": "mde"}))
            .await,
    );
    assert!(matches!(err, BrokerError::CredentialInvalid { .. }), "{err:?}");
    assert!(!err.to_string().contains("canary-swapped-value"), "{err}");
}

#[tokio::test]
async fn malformed_payloads_get_invalid_request_naming_the_problem() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    write_secret(
        &dir.path().join("s.json"),
        credential_json(mde_sandbox::DEMO_CLIENT_SECRET),
    );
    let broker = broker(&sandbox, &dir.path().join("s.json")).await;
    for (payload, mentions) in [
        (json!("mde"), "JSON object"),
        (json!({"tenant_id": mde_sandbox::DEMO_TENANT_FULL}), "audience"),
        (
            json!({"tenant_id": mde_sandbox::DEMO_TENANT_FULL, "audience": "defender"}),
            "defender",
        ),
        (json!({"tenant_id": "", "audience": "mde"}), "tenant id"),
        (json!({"check": 42}), "check"),
    ] {
        let err = expect_error(broker.handle(payload.clone()).await);
        assert!(
            matches!(err, BrokerError::InvalidRequest { .. }),
            "{payload}: {err:?}"
        );
        assert!(err.to_string().contains(mentions), "{payload}: {err}");
    }
}

#[tokio::test]
async fn health_reports_missing_roles_and_unconsented_tenants_per_api() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    write_secret(
        &dir.path().join("s.json"),
        credential_json(mde_sandbox::DEMO_CLIENT_SECRET),
    );
    let broker = broker(&sandbox, &dir.path().join("s.json")).await;
    let health = |r: BrokerResponse| match r {
        BrokerResponse::Health(h) => h,
        other => panic!("expected health, got {other:?}"),
    };

    let full = health(
        broker
            .handle(json!({"check": mde_sandbox::DEMO_TENANT_FULL}))
            .await,
    );
    assert!(full.healthy, "{full:?}");
    assert_eq!(
        full.audiences.len(),
        2,
        "mde and graph are what Contoso's datasets and actions use"
    );

    let partial = health(
        broker
            .handle(json!({"check": mde_sandbox::DEMO_TENANT_PARTIAL}))
            .await,
    );
    assert!(!partial.healthy);
    let mde = partial
        .audiences
        .iter()
        .find(|a| a.audience == Audience::Mde)
        .expect("mde");
    assert!(mde.token_obtainable);
    assert_eq!(mde.missing_roles, ["Machine.Isolate"]);
    assert!(
        mde.problem
            .as_deref()
            .unwrap_or_default()
            .contains("adminconsent"),
        "{mde:?}"
    );

    let none = health(
        broker
            .handle(json!({"check": mde_sandbox::DEMO_TENANT_UNCONSENTED}))
            .await,
    );
    assert!(!none.healthy && !none.audiences[0].token_obtainable, "{none:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_payloads_never_panic_and_never_reach_entra(
        keys in proptest::collection::vec("[a-z_]{1,12}", 0..4),
        values in proptest::collection::vec(any::<String>(), 0..4),
        audience in "[a-z0-9]{0,8}",
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let sandbox = Sandbox::start(SandboxConfig::default()).await.expect("sandbox");
            let dir = tempfile::tempdir().expect("tempdir");
            write_secret(&dir.path().join("s.json"), credential_json(mde_sandbox::DEMO_CLIENT_SECRET));
            let broker = broker(&sandbox, &dir.path().join("s.json")).await;
            let mut payload: serde_json::Map<String, serde_json::Value> =
                keys.into_iter().zip(values).map(|(k, v)| (k, json!(v))).collect();
            payload.insert("audience".into(), json!(audience));
            let answer = broker.handle(serde_json::Value::Object(payload)).await;
            prop_assert!(matches!(answer, BrokerResponse::Error(BrokerError::InvalidRequest { .. })), "{answer:?}");
            prop_assert_eq!(token_calls(&sandbox), 0);
            Ok(())
        })?;
    }
}
