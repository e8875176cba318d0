//! Fuzz targets of mde-defender, bounded (`FUZZ_CASES` generated inputs each, after every committed seed of
//! `tests/fuzz-corpus/<target>/`; see `shared/platform/src/testing/fuzz.rs`):
//!
//! - `odata-filter`: values (one per line) in string, datetime, number and keyword literals of a `$filter`; the
//!   rendered filter parses back to exactly the filter built (no value adds or ends a clause), and survives the
//!   query string unchanged.
//! - `next-link`: hostile `@odata.nextLink`s over a real socket; a link is followed only when its scheme, host and
//!   port are the API base URL's (the documented rule), otherwise refused with `ForeignNextLink` before any
//!   request, and no other origin ever receives a request.
//! - `token-response`: Entra's token answer over a real socket; a token comes out only of a well-formed answer
//!   whose token names the tenant, anything else is a typed error that never contains the token.
//! - `jwt-claims`: `check_claims` on arbitrary text; `Ok` only for a token whose `tid` is the tenant, errors
//!   never contain the token.

// mde-defender may not depend on mde-platform, not even for tests (tools/xtask/tests/tidy.rs): the fuzz helper
// (std and proptest only) is compiled in from its source.
#[allow(dead_code)]
#[path = "../../platform/src/testing/fuzz.rs"]
mod fuzz;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;
use mde_contracts::{Audience, CloudEndpoints, CloudSettings, Dataset, PartnerIdentity, TenantId};
use mde_defender::api::odata::{CmpOp, Literal, MdeAlertProperty, Property, datetime};
use mde_defender::api::{ClientConfig, Filter, Query, RateLimitConfig, RetryPolicy};
use mde_defender::{
    AccessToken, DefenderClient, DefenderError, DirectTokenSource, StaticCredential, TokenEndpointVersion,
    TokenSource, build_http_client, check_claims,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;

const DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The tenant of every seed token.
const TENANT: &str = "6b3f2c1a-9d4e-4f5a-8b7c-2e1d0a9f8c71";
/// The bearer the fake token source hands out (checked on every request that reaches the fake API).
const BEARER: &str = "FUZZ-FAKE-bearer-token-of-the-next-link-target";

fn tenant() -> TenantId {
    TENANT.parse().expect("tenant id")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn partner() -> PartnerIdentity {
    PartnerIdentity {
        company: "Contoso".into(),
        product: "BridgeFuzz".into(),
        version: "1.0.0".into(),
    }
}

/// Every URL of a cloud pointed at `base`.
fn endpoints(base: &Url) -> CloudEndpoints {
    CloudSettings {
        login_url: Some(base.clone()),
        mde_api_url: Some(base.clone()),
        m365d_api_url: Some(base.clone()),
        graph_url: Some(base.clone()),
        ..CloudSettings::default()
    }
    .endpoints()
    .expect("endpoints")
}

// ------------------------------------------------------------------------------------------------ odata-filter

/// A filter as read back from its text.
#[derive(Debug, PartialEq)]
enum Parsed {
    Compare(String, String, Lit),
    And(Box<Parsed>, Box<Parsed>),
    Or(Box<Parsed>, Box<Parsed>),
}

/// A literal as read back; datetimes in UTC.
#[derive(Debug, PartialEq)]
enum Lit {
    Str(String),
    Time(OffsetDateTime),
    Int(i64),
    Bool(bool),
    Null,
}

fn keyword(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq",
        CmpOp::Ne => "ne",
        CmpOp::Gt => "gt",
        CmpOp::Ge => "ge",
        CmpOp::Lt => "lt",
        CmpOp::Le => "le",
    }
}

/// What parsing the rendered filter must give back: the same tree, datetimes in UTC to the APIs' 100 ns (clamped
/// to the years 0001–9999 a literal can hold).
fn expected<P: Property>(f: &Filter<P>) -> Parsed {
    match f {
        Filter::Compare(p, op, lit) => Parsed::Compare(
            p.name().to_owned(),
            keyword(*op).to_owned(),
            match lit {
                Literal::Str(s) => Lit::Str(s.clone()),
                Literal::DateTime(t) => {
                    let utc = mde_defender::api::odata::utc_in_range(*t);
                    Lit::Time(
                        utc.replace_nanosecond(utc.nanosecond() / 100 * 100)
                            .expect("a valid nanosecond"),
                    )
                }
                Literal::Int(n) => Lit::Int(*n),
                Literal::Bool(b) => Lit::Bool(*b),
                Literal::Null => Lit::Null,
            },
        ),
        Filter::And(a, b) => Parsed::And(Box::new(expected(a)), Box::new(expected(b))),
        Filter::Or(a, b) => Parsed::Or(Box::new(expected(a)), Box::new(expected(b))),
    }
}

/// `side [(" and " | " or ") side]`, where a side is a comparison or a parenthesised filter (the renderer's
/// grammar: each `and`/`or` has two sides, compound ones in parentheses).
fn parse_filter(s: &mut &str) -> Result<Parsed, String> {
    let a = parse_side(s)?;
    for (word, and) in [(" and ", true), (" or ", false)] {
        if let Some(rest) = s.strip_prefix(word) {
            *s = rest;
            let b = parse_side(s)?;
            return Ok(if and {
                Parsed::And(Box::new(a), Box::new(b))
            } else {
                Parsed::Or(Box::new(a), Box::new(b))
            });
        }
    }
    Ok(a)
}

fn parse_side(s: &mut &str) -> Result<Parsed, String> {
    if let Some(rest) = s.strip_prefix('(') {
        *s = rest;
        let inner = parse_filter(s)?;
        *s = s
            .strip_prefix(')')
            .ok_or_else(|| format!("')' expected at {s:?}"))?;
        return Ok(inner);
    }
    let word = |s: &mut &str, what: &str| -> Result<String, String> {
        let end = s.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(s.len());
        if end == 0 {
            return Err(format!("{what} expected at {s:?}"));
        }
        let (w, rest) = s.split_at(end);
        *s = rest
            .strip_prefix(' ')
            .ok_or_else(|| format!("' ' after {what} expected at {rest:?}"))?;
        Ok(w.to_owned())
    };
    let property = word(s, "a property")?;
    let op = word(s, "an operator")?;
    let lit = if s.starts_with('\'') {
        let (text, rest) = unquote(s).ok_or_else(|| format!("an unterminated string at {s:?}"))?;
        *s = rest;
        Lit::Str(text)
    } else {
        let end = s.find([' ', ')']).unwrap_or(s.len());
        let (token, rest) = s.split_at(end);
        *s = rest;
        match token {
            "null" => Lit::Null,
            "true" => Lit::Bool(true),
            "false" => Lit::Bool(false),
            t if t.ends_with('Z') && t.contains('T') => Lit::Time(
                OffsetDateTime::parse(t, &Rfc3339)
                    .map_err(|e| format!("datetime {t:?} does not parse: {e}"))?,
            ),
            t => Lit::Int(t.parse().map_err(|_| format!("an unknown literal {t:?}"))?),
        }
    };
    Ok(Parsed::Compare(property, op, lit))
}

/// One OData string literal at the start of `s` (`''` is a quote); the text and the rest.
fn unquote(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('\'')?;
    let mut text = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            text.push(c);
        } else if chars.peek().is_some_and(|(_, n)| *n == '\'') {
            chars.next();
            text.push('\'');
        } else {
            return Some((text, &body[i + 1..]));
        }
    }
    None
}

fn check_odata(input: &[u8]) -> TestCaseResult {
    use MdeAlertProperty as P;
    let text = String::from_utf8_lossy(input);
    let values: Vec<&str> = text.split('\n').take(6).collect();
    let value = |i: usize| values.get(i).copied().unwrap_or_default();
    let mut filter = Filter::eq(P::AssignedTo, value(0))
        .and(Filter::ne(P::Category, value(1)).or(Filter::eq(P::DetectionSource, value(2))));
    let mut times = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let extra = if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
            let end = t.checked_add(time::Duration::hours(1)).unwrap_or(t);
            times.extend([t, end]);
            Filter::window(P::LastUpdateTime, t, end)
        } else if let Ok(n) = v.trim().parse::<i64>() {
            Filter::compare(P::IncidentId, CmpOp::Gt, n)
        } else {
            match *v {
                "true" | "false" => Filter::eq(P::Status, *v == "true"),
                "null" => Filter::eq(P::AssignedTo, Literal::Null),
                _ => Filter::le(P::Id, *v),
            }
        };
        filter = if i % 2 == 0 {
            filter.and(extra)
        } else {
            extra.or(filter)
        };
    }

    let rendered = filter.render();
    let mut rest = rendered.as_str();
    let parsed = parse_filter(&mut rest).map_err(|e| TestCaseError::fail(format!("{e} in {rendered:?}")))?;
    prop_assert_eq!(rest, "", "text left after the filter: {:?}", rendered);
    prop_assert_eq!(
        parsed,
        expected(&filter),
        "the filter reads back differently: {:?}",
        rendered
    );

    for t in times {
        let text = datetime(t);
        let shape = text.len() >= 20
            && text.ends_with('Z')
            && text.bytes().all(|b| b.is_ascii_digit() || b"-T:.Z".contains(&b));
        prop_assert!(shape, "datetime {} renders as {:?}", t, text);
    }

    let mut url = Url::parse("https://api.securitycenter.microsoft.com/api/alerts").expect("url");
    Query::new().filter(filter).top(100).apply(&mut url);
    let again = Url::parse(url.as_str()).expect("the URL with the query parses");
    prop_assert_eq!(again.path(), "/api/alerts");
    prop_assert_eq!(again.fragment(), None);
    let pairs: Vec<(String, String)> = again.query_pairs().into_owned().collect();
    prop_assert_eq!(
        pairs,
        vec![
            ("$filter".to_owned(), rendered),
            ("$top".to_owned(), "100".to_owned())
        ],
        "the query string holds exactly $filter and $top"
    );
    Ok(())
}

#[test]
fn odata_filters_render_every_value_as_one_literal() {
    fuzz::run(
        DIR,
        "odata-filter",
        &[
            b"\n",
            b"2026-11-23T10:00:00Z",
            b"-01:00",
            b"9999-12-31T23:59:59Z",
            b" and ",
            b" eq ",
        ],
        check_odata,
    );
}

// ------------------------------------------------------------------------------------------------ next-link

/// What the fake Graph saw and answers.
#[derive(Default)]
struct Graph {
    next_link: String,
    /// Path and query of each request, with its `Authorization` headers.
    requests: Vec<(String, Option<String>, Vec<String>)>,
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// A fake Graph: the first request of a case gets one record and the case's nextLink, later ones a last page.
async fn fake_graph(state: Arc<Mutex<Graph>>) -> SocketAddr {
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let state = Arc::clone(&state);
        async move {
            let mut graph = state.lock().expect("lock");
            let authorization = request
                .headers()
                .get_all("authorization")
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            graph.requests.push((
                request.uri().path().to_owned(),
                request.uri().query().map(str::to_owned),
                authorization,
            ));
            let mut page = serde_json::json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2",
                "value": [{"id": format!("a{}", graph.requests.len()), "lastUpdateDateTime": "2026-11-23T10:00:00Z"}],
            });
            if graph.requests.len() == 1 {
                page["@odata.nextLink"] = serde_json::Value::String(graph.next_link.clone());
            }
            axum::Json(page)
        }
    });
    serve(app).await
}

/// Another origin on the same host: it must never be called.
async fn trap(calls: Arc<Mutex<u32>>) -> SocketAddr {
    let app = axum::Router::new().fallback(move || {
        let calls = Arc::clone(&calls);
        async move {
            *calls.lock().expect("lock") += 1;
            axum::Json(serde_json::json!({"value": []}))
        }
    });
    serve(app).await
}

/// Tokens without Entra: every role asked for, the fixed bearer.
struct FixedTokens;

#[async_trait]
impl TokenSource for FixedTokens {
    async fn token(
        &self,
        tenant: &TenantId,
        audience: Audience,
        required_roles: &[&str],
    ) -> mde_defender::Result<AccessToken> {
        let mut roles: Vec<String> = required_roles.iter().map(|r| (*r).to_owned()).collect();
        roles.extend(["SecurityAlert.Read.All", "SecurityIncident.Read.All"].map(str::to_owned));
        Ok(AccessToken::new(
            SecretString::from(BEARER),
            tenant.clone(),
            audience,
            SystemTime::now() + Duration::from_secs(3600),
            roles,
        ))
    }
}

#[test]
fn next_links_are_followed_only_on_the_api_origin() {
    let rt = runtime();
    let state = Arc::new(Mutex::new(Graph::default()));
    let trapped = Arc::new(Mutex::new(0));
    let (graph, trap) = rt.block_on(async {
        (
            fake_graph(Arc::clone(&state)).await,
            trap(Arc::clone(&trapped)).await,
        )
    });
    let base: Url = format!("http://{graph}").parse().expect("base");
    let client = DefenderClient::with_config(
        build_http_client(&partner()).expect("http client"),
        endpoints(&base),
        Arc::new(FixedTokens),
        ClientConfig {
            retry: RetryPolicy {
                max_retries: 1,
                min_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(2),
                max_retry_after: Duration::from_secs(1),
            },
            rate_limits: RateLimitConfig::unlimited(),
        },
    );
    let tenant = tenant();
    let to = OffsetDateTime::now_utc();
    let from = to - time::Duration::days(1);

    fuzz::run(
        DIR,
        "next-link",
        &[
            b"{BASE}",
            b"{TRAP}",
            b"{PORT}",
            b"https://",
            b"http://",
            b"user:pw@",
            b"127.0.0.1",
            b"localhost",
        ],
        |input| {
            let link = String::from_utf8_lossy(input)
                .replace("{BASE}", &format!("http://{graph}"))
                .replace("{TRAP}", &format!("http://{trap}"))
                .replace("{PORT}", &graph.port().to_string());
            *state.lock().expect("lock") = Graph {
                next_link: link.clone(),
                requests: Vec::new(),
            };
            let pages: Vec<_> = rt.block_on(
                client
                    .export_pages(Dataset::GraphAlertsV2, &tenant, from, to, None)
                    .collect(),
            );
            let graph_state = state.lock().expect("lock");
            let requests = &graph_state.requests;
            prop_assert_eq!(
                *trapped.lock().expect("lock"),
                0,
                "another origin was called for {:?}",
                link
            );
            prop_assert!(
                pages
                    .first()
                    .is_some_and(|p| p.as_ref().is_ok_and(|p| p.items.len() == 1)),
                "the first page comes through: {:?}",
                pages.first()
            );
            for (path, _, authorization) in requests {
                prop_assert!(
                    authorization.iter().any(|a| a == &format!("Bearer {BEARER}")),
                    "{} came without the bearer: {:?}",
                    path,
                    authorization
                );
            }
            // The documented rule: scheme, host (any case) and port of the API base URL.
            let same_origin = Url::parse(&link).ok().filter(|u| {
                u.scheme() == base.scheme()
                    && u.host_str().map(str::to_ascii_lowercase)
                        == base.host_str().map(str::to_ascii_lowercase)
                    && u.port_or_known_default() == base.port_or_known_default()
                    && u.username().is_empty()
                    && u.password().is_none()
            });
            match same_origin {
                None => {
                    prop_assert_eq!(requests.len(), 1, "a foreign nextLink was requested: {:?}", link);
                    prop_assert_eq!(pages.len(), 2);
                    match &pages[1] {
                        Err(e @ DefenderError::ForeignNextLink { .. }) => {
                            let text = format!("{e} {e:?}");
                            prop_assert!(!text.contains(BEARER), "{}", text);
                            prop_assert!(!text.contains("FUZZ-FAKE-password"), "userinfo shown: {}", text);
                        }
                        other => {
                            prop_assert!(false, "expected ForeignNextLink for {:?}, got {:?}", link, other)
                        }
                    }
                }
                Some(url) => {
                    let followed = requests.get(1);
                    match (followed, pages.get(1)) {
                        (Some((path, query, _)), Some(Ok(page))) => {
                            prop_assert_eq!(path, url.path());
                            prop_assert_eq!(query.as_deref(), url.query());
                            prop_assert_eq!(page.items.len(), 1);
                        }
                        // A link the transport cannot send (too long for a URI, ...): an error, not a refusal.
                        (_, Some(Err(e))) => prop_assert!(
                            !matches!(e, DefenderError::ForeignNextLink { .. }),
                            "a same-origin nextLink was refused: {:?} {:?}",
                            link,
                            e
                        ),
                        other => prop_assert!(false, "a same-origin nextLink was not followed: {:?}", other),
                    }
                }
            }
            Ok(())
        },
    );
}

// ------------------------------------------------------------------------------------------------ token-response

/// A fake Entra ID answering every request with 200 and the case's body.
async fn fake_entra(body: Arc<Mutex<Vec<u8>>>) -> SocketAddr {
    let app = axum::Router::new().fallback(move || {
        let body = Arc::clone(&body);
        async move {
            let bytes = body.lock().expect("lock").clone();
            ([("content-type", "application/json; charset=utf-8")], bytes)
        }
    });
    serve(app).await
}

/// The claims a token must carry, read as Entra documents them.
#[derive(Deserialize)]
struct Claims {
    tid: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// The claims of a compact JWT (`header.payload.signature`; the payload is the part before the last dot),
/// if they decode.
fn claims_of(token: &str) -> Option<Claims> {
    let (message, _) = token.rsplit_once('.')?;
    let payload = message.rsplit('.').next()?;
    if !message.contains('.') {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&json).ok()
}

/// An error's text (Display and Debug) holds neither `token` nor any long part of it.
fn assert_no_token(error: &DefenderError, token: &str) -> TestCaseResult {
    let text = format!("{error} {error:?}");
    let parts = std::iter::once(token).chain(token.split('.'));
    for part in parts.filter(|p| p.len() >= 16) {
        prop_assert!(
            !text.contains(part),
            "the error shows the token ({:?}): {}",
            part,
            text
        );
    }
    Ok(())
}

/// A token answer as Entra documents it (each field once).
#[derive(Deserialize)]
struct Answer {
    access_token: String,
    expires_in: serde_json::Value,
}

/// `expires_in` as the token endpoint may send it: a number, or a string of one.
fn expires_in(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[test]
fn token_responses_give_a_checked_token_or_an_error_without_it() {
    let rt = runtime();
    let body = Arc::new(Mutex::new(Vec::new()));
    let entra = rt.block_on(fake_entra(Arc::clone(&body)));
    let base: Url = format!("http://{entra}").parse().expect("base");
    let endpoints = endpoints(&base);
    let http = build_http_client(&partner()).expect("http client");
    let credential = serde_json::from_value::<mde_contracts::AppCredential>(serde_json::json!({
        "kind": "client_secret", "client_id": "2b7d4e6a-1c3f-4a5b-9d8e-7f6a5b4c3d2e",
        "client_secret": "FUZZ-FAKE-client-secret"}))
    .expect("credential");
    let tenant = tenant();

    fuzz::run(
        DIR,
        "token-response",
        &[
            b"\"access_token\"",
            b"\"expires_in\"",
            b"\"3599\"",
            b"eyJ",
            b".",
            b"\"tid\"",
            b"\"roles\"",
        ],
        |input| {
            // The answer read as Entra documents it (unknown fields ignored, each known one once).
            let answer: Option<Answer> = serde_json::from_slice(input).ok();
            // A lifetime beyond what Entra ID issues is refused (and never overflows the expiry arithmetic).
            let seconds = answer
                .as_ref()
                .and_then(|a| expires_in(&a.expires_in))
                .filter(|s| *s <= mde_defender::MAX_EXPIRES_IN.as_secs());
            *body.lock().expect("lock") = input.to_vec();
            let version = if input.len() % 2 == 0 {
                TokenEndpointVersion::V2
            } else {
                TokenEndpointVersion::V1
            };
            let source = DirectTokenSource::new(
                http.clone(),
                endpoints.clone(),
                version,
                Arc::new(StaticCredential(credential.clone())),
                Duration::from_secs(300),
            );
            let asked = SystemTime::now();
            let result = rt.block_on(source.token(&tenant, Audience::Mde, &[]));
            // The token text, wherever the body holds one.
            let access_token = answer.as_ref().map(|a| a.access_token.clone()).or_else(|| {
                serde_json::from_slice::<serde_json::Value>(input)
                    .ok()
                    .and_then(|j| j.get("access_token")?.as_str().map(str::to_owned))
            });
            // Everything a caller needs: the token, its lifetime, its tenant.
            let complete = answer.is_some()
                && seconds.is_some()
                && access_token
                    .as_deref()
                    .and_then(claims_of)
                    .is_some_and(|c| c.tid.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(TENANT)));
            match result {
                Ok(token) => {
                    let value = token.secret().expose_secret();
                    prop_assert!(
                        answer.is_some(),
                        "a token from an answer without the documented fields"
                    );
                    prop_assert_eq!(
                        Some(value),
                        access_token.as_deref(),
                        "the token is the answer's access_token"
                    );
                    let lifetime = token
                        .expires_at
                        .duration_since(asked)
                        .unwrap_or_default()
                        .as_secs();
                    prop_assert!(
                        seconds.is_some_and(|s| lifetime.abs_diff(s) <= 5),
                        "expires in {} s, the answer said {:?}",
                        lifetime,
                        seconds
                    );
                    let claims = claims_of(value);
                    prop_assert!(
                        claims.is_some(),
                        "a token whose claims do not decode was accepted"
                    );
                    let claims = claims.expect("checked");
                    prop_assert!(
                        claims
                            .tid
                            .as_deref()
                            .is_some_and(|t| t.eq_ignore_ascii_case(TENANT)),
                        "a token for another tenant was accepted"
                    );
                    prop_assert_eq!(&token.roles, &claims.roles);
                    prop_assert_eq!(&token.tenant, &tenant);
                }
                Err(e) => {
                    prop_assert!(!complete, "a well-formed answer was refused: {}", e);
                    prop_assert!(
                        matches!(
                            e,
                            DefenderError::MalformedTokenResponse(_) | DefenderError::WrongTenant { .. }
                        ),
                        "unexpected error {:?}",
                        e
                    );
                    prop_assert!(!e.to_string().trim().is_empty());
                    if let Some(token) = &access_token {
                        assert_no_token(&e, token)?;
                    }
                    // A missing field is named, unless the reader stopped earlier at a repeated field or a
                    // mistyped one (`{"access_token":1,"access_token":"eyJ…"}`: the last value wins in a `Value`),
                    // which is named instead.
                    let object = serde_json::from_slice::<serde_json::Value>(input)
                        .ok()
                        .and_then(|v| v.as_object().cloned());
                    if let Some(object) = object {
                        let missing = if !object.contains_key("access_token") {
                            Some("access_token")
                        } else if object["access_token"].is_string() && !object.contains_key("expires_in") {
                            Some("expires_in")
                        } else {
                            None
                        };
                        if let Some(field) = missing {
                            let text = e.to_string();
                            let stopped_earlier = text.contains("duplicate field")
                                || ["access_token", "expires_in"]
                                    .iter()
                                    .any(|f| text.contains(&format!("{f}: a value of an unexpected type")));
                            prop_assert!(
                                text.contains(field) || stopped_earlier,
                                "{} is not named: {}",
                                field,
                                text
                            );
                        }
                    }
                    let text = e.to_string();
                    prop_assert!(
                        !text.contains("FUZZ-FAKE-SIGNATURE"),
                        "the error shows the token: {}",
                        text
                    );
                    prop_assert!(
                        !text.contains("FUZZ-FAKE-client-secret"),
                        "the error shows the secret: {}",
                        text
                    );
                }
            }
            Ok(())
        },
    );
}

// ------------------------------------------------------------------------------------------------ jwt-claims

#[test]
fn jwt_claims_are_checked_and_never_echoed() {
    let tenant = tenant();
    fuzz::run(
        DIR,
        "jwt-claims",
        &[
            b".",
            b"eyJ",
            b"\"tid\"",
            b"\"roles\"",
            b"=",
            b"-",
            b"_",
            b"+",
            b"/",
        ],
        |input| {
            let token = String::from_utf8_lossy(input).into_owned();
            let claims = claims_of(&token);
            match check_claims(&SecretString::from(token.clone()), &tenant) {
                Ok(roles) => {
                    let claims = claims
                        .ok_or_else(|| TestCaseError::fail("claims that do not decode were accepted"))?;
                    prop_assert!(
                        claims
                            .tid
                            .as_deref()
                            .is_some_and(|t| t.eq_ignore_ascii_case(TENANT))
                    );
                    prop_assert_eq!(roles, claims.roles);
                }
                Err(e) => {
                    assert_no_token(&e, &token)?;
                    match (&e, claims) {
                        (DefenderError::WrongTenant { actual, .. }, Some(claims)) => {
                            prop_assert_eq!(actual.as_str(), claims.tid.as_deref().unwrap_or_default());
                            prop_assert!(!actual.eq_ignore_ascii_case(TENANT));
                        }
                        (DefenderError::MalformedTokenResponse(_), None) => {}
                        (e, claims) => prop_assert!(
                            false,
                            "unexpected error {:?} (claims decode: {})",
                            e,
                            claims.is_some()
                        ),
                    }
                }
            }
            Ok(())
        },
    );
}
