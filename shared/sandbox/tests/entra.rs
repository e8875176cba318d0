//! Entra ID emulation: token endpoints, credentials, errors, claims, JWKS, OpenID configuration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Env, GRAPH, M365D, MDE};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mde_sandbox::{
    DEMO_CLIENT_CERT_PEM, DEMO_CLIENT_ID, DEMO_CLIENT_KEY_PEM, DEMO_CLIENT_SECRET, DEMO_TENANT_FULL,
    DEMO_TENANT_PARTIAL, DEMO_TENANT_UNCONSENTED, SandboxConfig,
};
use serde_json::{Value, json};
use sha1::Digest as _;

async fn token_request(env: &Env, tenant: &str, version: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let path = if version == "v1" {
        format!("/{tenant}/oauth2/token")
    } else {
        format!("/{tenant}/oauth2/v2.0/token")
    };
    let response = env.http.post(env.url(&path)).form(form).send().await.unwrap();
    common::split(response).await
}

fn secret_form(scope: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
        ("scope", scope),
    ]
}

async fn verify_with_jwks(env: &Env, token: &str) -> Value {
    let (_, jwks) = common::split(
        env.http
            .get(env.url("/common/discovery/v2.0/keys"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let key = &jwks["keys"][0];
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .unwrap()
        .claims
}

fn cert_der() -> Vec<u8> {
    let body: String = DEMO_CLIENT_CERT_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    STANDARD.decode(body).unwrap()
}

fn assertion(alg: Algorithm, use_s256: bool, claims: Value) -> String {
    let mut header = Header::new(alg);
    let der = cert_der();
    if use_s256 {
        header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der)));
    } else {
        header.x5t = Some(URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der)));
    }
    let key = EncodingKey::from_rsa_pem(DEMO_CLIENT_KEY_PEM.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn assertion_claims(env: &Env, tenant: &str) -> Value {
    json!({
        "aud": env.url(&format!("/{tenant}/oauth2/v2.0/token")),
        "iss": DEMO_CLIENT_ID, "sub": DEMO_CLIENT_ID, "jti": "3b0a4e7e-1111-2222-3333-444455556666",
        "nbf": now() - 10, "iat": now() - 10, "exp": now() + 300,
    })
}

async fn assertion_request(env: &Env, tenant: &str, jwt: &str) -> (u16, Value) {
    let scope = format!("{MDE}/.default");
    token_request(
        env,
        tenant,
        "v2",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", jwt),
            ("scope", &scope),
        ],
    )
    .await
}

#[tokio::test]
async fn v1_secret_token_has_string_expiry_and_v1_claims() {
    let env = Env::demo().await;
    let (status, body) = token_request(
        &env,
        DEMO_TENANT_FULL,
        "v1",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("resource", MDE),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], "3599");
    assert!(body["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(body["resource"], MDE);
    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert!(header.x5t.is_some(), "v1 tokens carry x5t");
    let claims = verify_with_jwks(&env, token).await;
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["aud"], MDE);
    assert_eq!(
        claims["iss"],
        format!("https://sts.windows.net/{DEMO_TENANT_FULL}/")
    );
    assert_eq!(claims["appid"], DEMO_CLIENT_ID);
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(claims["tid"], DEMO_TENANT_FULL);
    assert!(
        claims["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "Alert.ReadWrite.All")
    );
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
}

#[tokio::test]
async fn v2_secret_token_has_numeric_expiry_and_v2_claims() {
    let env = Env::demo().await;
    let scope = format!("{GRAPH}/.default");
    let (status, body) = token_request(&env, DEMO_TENANT_FULL, "v2", &secret_form(&scope)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    let claims = verify_with_jwks(&env, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["aud"], "00000003-0000-0000-c000-000000000000");
    assert_eq!(
        claims["iss"],
        format!("https://login.microsoftonline.com/{DEMO_TENANT_FULL}/v2.0")
    );
    assert_eq!(claims["azp"], DEMO_CLIENT_ID);
    assert!(claims["oid"].is_string());
    assert!(
        claims["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "SecurityIncident.Read.All")
    );
}

#[tokio::test]
async fn v2_accepts_http_basic_client_credentials() {
    let env = Env::demo().await;
    let response = env
        .http
        .post(env.url(&format!("/{DEMO_TENANT_FULL}/oauth2/v2.0/token")))
        .basic_auth(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", &format!("{M365D}/.default")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn partial_tenant_token_lacks_the_roles_it_did_not_grant() {
    let env = Env::demo().await;
    let token = env.token(DEMO_TENANT_PARTIAL, MDE).await;
    let claims = verify_with_jwks(&env, &token).await;
    let roles: Vec<&str> = claims["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(roles.contains(&"Alert.Read.All"));
    assert!(!roles.contains(&"Alert.ReadWrite.All"));
    assert!(!roles.contains(&"Ti.ReadWrite.All"));
}

#[tokio::test]
async fn certificate_assertion_rs256_with_x5t_gets_a_token() {
    let env = Env::demo().await;
    let jwt = assertion(Algorithm::RS256, false, assertion_claims(&env, DEMO_TENANT_FULL));
    let (status, body) = assertion_request(&env, DEMO_TENANT_FULL, &jwt).await;
    assert_eq!(status, 200, "{body}");
    let claims = verify_with_jwks(&env, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["azpacr"], "2");
}

#[tokio::test]
async fn certificate_assertion_ps256_with_x5t_s256_gets_a_token() {
    let env = Env::demo().await;
    let jwt = assertion(Algorithm::PS256, true, assertion_claims(&env, DEMO_TENANT_FULL));
    let (status, body) = assertion_request(&env, DEMO_TENANT_FULL, &jwt).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn certificate_assertion_with_real_login_host_audience_is_accepted() {
    let env = Env::demo().await;
    let mut claims = assertion_claims(&env, DEMO_TENANT_FULL);
    claims["aud"] = json!(format!(
        "https://login.microsoftonline.com/{DEMO_TENANT_FULL}/oauth2/v2.0/token"
    ));
    let (status, _) = assertion_request(
        &env,
        DEMO_TENANT_FULL,
        &assertion(Algorithm::RS256, false, claims),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_client_assertions_get_invalid_client_with_their_codes() {
    let env = Env::demo().await;
    let base = assertion_claims(&env, DEMO_TENANT_FULL);
    let cases: Vec<(Value, u64)> = vec![
        (
            {
                let mut c = base.clone();
                c["aud"] = json!("https://example.invalid/token");
                c
            },
            700_027,
        ),
        (
            {
                let mut c = base.clone();
                c["exp"] = json!(now() - 3600);
                c["nbf"] = json!(now() - 7200);
                c
            },
            700_024,
        ),
        (
            {
                let mut c = base.clone();
                c["nbf"] = json!(now() + 3600);
                c["exp"] = json!(now() + 7200);
                c
            },
            700_024,
        ),
        (
            {
                let mut c = base.clone();
                c["iss"] = json!("someone-else");
                c
            },
            700_021,
        ),
    ];
    for (claims, expected) in cases {
        let (status, body) = assertion_request(
            &env,
            DEMO_TENANT_FULL,
            &assertion(Algorithm::RS256, false, claims),
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_codes"][0], expected, "{body}");
    }
    // A thumbprint that is not registered.
    let mut header = Header::new(Algorithm::RS256);
    header.x5t = Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned());
    let key = EncodingKey::from_rsa_pem(DEMO_CLIENT_KEY_PEM.as_bytes()).unwrap();
    let jwt = jsonwebtoken::encode(&header, &base, &key).unwrap();
    let (status, body) = assertion_request(&env, DEMO_TENANT_FULL, &jwt).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (401, Some(700_027)));
    // HS256 is not a certificate signature.
    let jwt = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &base,
        &EncodingKey::from_secret(b"x"),
    )
    .unwrap();
    let (status, body) = assertion_request(&env, DEMO_TENANT_FULL, &jwt).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (401, Some(700_027)));
}

#[tokio::test]
async fn wrong_secret_is_invalid_client_7000215() {
    let env = Env::demo().await;
    let scope = format!("{MDE}/.default");
    let mut form = secret_form(&scope);
    form[2] = ("client_secret", "wrong");
    let (status, body) = token_request(&env, DEMO_TENANT_FULL, "v2", &form).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7_000_215]));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215:")
    );
    for key in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[key].is_string(), "{key} missing");
    }
}

#[tokio::test]
async fn unconsented_tenant_and_unknown_app_are_unauthorized_client_700016() {
    let env = Env::demo().await;
    let scope = format!("{MDE}/.default");
    let (status, body) = token_request(&env, DEMO_TENANT_UNCONSENTED, "v2", &secret_form(&scope)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    assert_eq!(body["error_codes"], json!([700_016]));
    let mut form = secret_form(&scope);
    form[1] = ("client_id", "00000000-1111-2222-3333-444444444444");
    let (status, body) = token_request(&env, DEMO_TENANT_FULL, "v2", &form).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(700_016)));
}

#[tokio::test]
async fn unknown_tenant_is_aadsts90002() {
    let env = Env::demo().await;
    let scope = format!("{MDE}/.default");
    let (status, body) = token_request(
        &env,
        "11111111-2222-3333-4444-555555555555",
        "v2",
        &secret_form(&scope),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error_codes"], json!([90_002]));
}

#[tokio::test]
async fn missing_and_invalid_scope_or_resource_get_documented_errors() {
    let env = Env::demo().await;
    let (status, body) = token_request(
        &env,
        DEMO_TENANT_FULL,
        "v2",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str(), body["error_codes"][0].as_u64()),
        (400, Some("invalid_request"), Some(900_144))
    );
    let (status, body) = token_request(
        &env,
        DEMO_TENANT_FULL,
        "v2",
        &secret_form("https://graph.microsoft.com/SecurityIncident.Read.All"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str(), body["error_codes"][0].as_u64()),
        (400, Some("invalid_scope"), Some(70_011))
    );
    let (status, body) = token_request(
        &env,
        DEMO_TENANT_FULL,
        "v2",
        &secret_form(
            "https://graph.microsoft.com/.default https://api.securitycenter.microsoft.com/.default",
        ),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, body) = token_request(
        &env,
        DEMO_TENANT_FULL,
        "v2",
        &secret_form("https://unknown.example/.default"),
    )
    .await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(500_011)));
    let (status, body) = token_request(
        &env,
        DEMO_TENANT_FULL,
        "v1",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(900_144)));
    let (status, body) = token_request(&env, DEMO_TENANT_FULL, "v2", &[("client_id", DEMO_CLIENT_ID)]).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(900_144)));
}

#[tokio::test]
async fn token_lifetime_follows_the_config() {
    let mut config = SandboxConfig::default();
    config.tokens.lifetime_seconds = 120;
    let env = Env::with(config).await;
    let (_, body) = token_request(
        &env,
        DEMO_TENANT_FULL,
        "v2",
        &secret_form(&format!("{MDE}/.default")),
    )
    .await;
    assert_eq!(body["expires_in"], 120);
}

#[tokio::test]
async fn openid_configuration_points_at_the_sandbox_and_templates_the_common_issuer() {
    let env = Env::demo().await;
    let (_, v2) = common::split(
        env.http
            .get(env.url("/common/v2.0/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v2["issuer"], "https://login.microsoftonline.com/{tenantid}/v2.0");
    assert_eq!(v2["token_endpoint"], env.url("/common/oauth2/v2.0/token"));
    let (_, v1) = common::split(
        env.http
            .get(env.url(&format!("/{DEMO_TENANT_FULL}/.well-known/openid-configuration")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        v1["issuer"],
        format!("https://sts.windows.net/{DEMO_TENANT_FULL}/")
    );
    let (_, jwks) = common::split(
        env.http
            .get(env.url("/common/discovery/keys"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    for key in ["kty", "use", "kid", "x5t", "n", "e", "x5c", "issuer"] {
        assert!(!jwks["keys"][0][key].is_null(), "jwks key lacks {key}");
    }
}

#[tokio::test]
async fn token_requests_are_logged_without_their_secrets() {
    let env = Env::demo().await;
    env.token(DEMO_TENANT_FULL, MDE).await;
    let log = env.sandbox.requests();
    assert_eq!(log.len(), 1);
    assert!(log[0].path.ends_with("/oauth2/v2.0/token"));
    assert!(!log[0].body.contains(DEMO_CLIENT_SECRET));
    assert!(log[0].body.contains("client_secret=sha256%3A"));
    assert_eq!(
        log[0].user_agent.as_deref(),
        Some("MdePartner-Contoso-Tests/1.0.0")
    );
    assert_eq!(log[0].status, Some(200));
}

#[tokio::test]
async fn token_url_accepts_the_tenant_initial_domain() {
    let env = Env::demo().await;
    let scope = format!("{MDE}/.default");
    let (status, body) = token_request(&env, "contoso.onmicrosoft.com", "v2", &secret_form(&scope)).await;
    assert_eq!(status, 200, "{body}");
    let claims = verify_with_jwks(&env, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["tid"], DEMO_TENANT_FULL);
}
