//! Fuzz target `indicator` of mde-indicators, bounded (`FUZZ_CASES` generated inputs after every committed seed of
//! `tests/fuzz-corpus/indicator/`; see `shared/platform/src/testing/fuzz.rs`), through the public interface
//! ([`validate::parse`], then [`validate::validate`]):
//!
//! - an input that is JSON is read as one indicator; any other input is used as the value of an indicator of each
//!   type;
//! - an accepted indicator satisfies every documented rule (value canonical for its type, actions that apply to
//!   it, text bounds, a future expiry in UTC, device groups, educate URL, application), and validating what would
//!   be sent gives it back unchanged;
//! - a refused one names the field at fault (one the indicator has, or that it lacks) and says what is wrong.

use std::net::IpAddr;

use mde_contracts::{FEED_TAG_PREFIX, IndicatorAction, IndicatorType};
use mde_defender::api::NewIndicator;
use mde_indicators::validate::{self, Invalid, MAX_TEXT, MAX_TITLE, MAX_URL};
use mde_platform::testing::fuzz;
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The application the indicators are attributed to when they name none.
const APPLICATION: &str = "mde-bridge";

/// Every field of an indicator, with Microsoft's names.
const FIELDS: &[&str] = &[
    "indicatorValue",
    "indicatorType",
    "action",
    "title",
    "description",
    "expirationTime",
    "severity",
    "recommendedActions",
    "rbacGroupNames",
    "educateUrl",
    "generateAlert",
    "application",
];

fn now() -> OffsetDateTime {
    OffsetDateTime::parse("2026-12-03T00:00:00Z", &Rfc3339).expect("time")
}

/// The field a path names (`rbacGroupNames[2]` → `rbacGroupNames`).
fn top_field(path: &str) -> &str {
    path.split(['[', '.']).next().unwrap_or(path)
}

/// A refusal names a field (one the indicator has, or a required one it lacks) and says what is wrong.
fn check_refusal(e: &Invalid, raw: &Value, stage: &str) -> TestCaseResult {
    prop_assert!(!e.reason.trim().is_empty(), "{} gave no reason: {:?}", stage, e);
    let shown = e.to_string();
    prop_assert!(shown.contains(&e.reason), "{}", shown);
    if e.field.is_empty() {
        // The indicator as a whole (not an object, a required field missing), or a field named "".
        prop_assert!(
            !raw.is_object()
                || e.reason.contains("missing field")
                || (raw.get("").is_some() && e.reason.contains("unknown field")),
            "{} refused an object without naming a field: {}",
            stage,
            e
        );
        return Ok(());
    }
    prop_assert!(shown.starts_with(&format!("{}: ", e.field)), "{}", shown);
    // A key as it is (an unknown one may hold `[` or `.`), else the field of a path (`rbacGroupNames[2]`).
    let field = if raw.get(e.field.as_str()).is_some() {
        e.field.as_str()
    } else {
        top_field(&e.field)
    };
    let present = raw.get(field).is_some();
    let known = FIELDS.contains(&field);
    prop_assert!(
        (known && (present || field == "generateAlert")) || (!known && e.reason.contains("unknown field")),
        "{} names {:?}, which the indicator {} ({})",
        stage,
        e.field,
        if present { "has" } else { "lacks" },
        e
    );
    Ok(())
}

/// Why an address is not public, as the validator's documentation lists the ranges.
fn not_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || a >= 240
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || first & 0xfe00 == 0xfc00
                || first & 0xffc0 == 0xfe80
                || v6.to_ipv4_mapped().is_some()
        }
    }
}

fn text_ok(text: &str, max: usize) -> bool {
    text == text.trim()
        && !text.is_empty()
        && text.chars().count() <= max
        && !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Every documented rule holds for an accepted indicator.
fn check_accepted(body: &NewIndicator) -> TestCaseResult {
    use IndicatorAction as A;
    use IndicatorType as T;
    let (t, v) = (body.indicator_type, body.indicator_value.as_str());
    prop_assert!(!v.is_empty() && v == v.trim(), "value {:?}", v);
    let hex = |n: usize| {
        v.len() == n
            && v.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match t {
        T::FileMd5 => prop_assert!(hex(32), "MD5 {:?}", v),
        T::FileSha1 | T::CertificateThumbprint => prop_assert!(hex(40), "SHA-1 {:?}", v),
        T::FileSha256 => prop_assert!(hex(64), "SHA-256 {:?}", v),
        T::IpAddress => {
            let ip: IpAddr = v
                .parse()
                .map_err(|_| TestCaseError::fail(format!("IP {v:?} does not parse")))?;
            prop_assert_eq!(ip.to_string(), v, "not canonical");
            prop_assert!(!not_public(ip), "{} is not public", ip);
        }
        T::DomainName => {
            let labels: Vec<&str> = v.split('.').collect();
            let ok = v.len() <= 253
                && labels.len() >= 2
                && labels.iter().all(|l| {
                    (1..=63).contains(&l.len())
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
                });
            prop_assert!(ok, "domain {:?}", v);
        }
        T::Url => {
            prop_assert!(
                v.len() <= MAX_URL && !v.chars().any(char::is_whitespace),
                "URL {:?}",
                v
            );
            let full = if v.contains("://") {
                v.to_owned()
            } else {
                format!("http://{v}")
            };
            let url = url::Url::parse(&full).map_err(|e| TestCaseError::fail(format!("URL {v:?}: {e}")))?;
            prop_assert!(matches!(url.scheme(), "http" | "https"), "URL {:?}", v);
            let host_ok = match url.host() {
                Some(url::Host::Domain(d)) => d.contains('.'),
                Some(_) => true,
                None => false,
            };
            prop_assert!(host_ok, "URL {:?} has no host with a domain", v);
        }
    }
    match body.action {
        A::Warn => prop_assert!(t.is_network(), "Warn on {}", t),
        A::BlockAndRemediate => prop_assert!(t.is_file_or_certificate(), "BlockAndRemediate on {}", t),
        A::Block => prop_assert!(t != T::CertificateThumbprint, "Block on a certificate"),
        A::Audit => prop_assert_eq!(body.generate_alert, Some(true), "Audit without an alert"),
        A::Allowed => prop_assert_ne!(body.generate_alert, Some(true), "Allowed with an alert"),
        _ => {}
    }
    prop_assert!(text_ok(&body.title, MAX_TITLE), "title {:?}", body.title);
    prop_assert!(text_ok(&body.description, MAX_TEXT), "description");
    prop_assert!(
        body.recommended_actions
            .as_ref()
            .is_none_or(|r| r.chars().count() <= MAX_TEXT),
        "recommendedActions"
    );
    if let Some(expiry) = body.expiration_time {
        prop_assert!(expiry > now() && expiry.offset().is_utc(), "expiry {}", expiry);
    }
    if let Some(groups) = &body.rbac_group_names {
        for (i, g) in groups.iter().enumerate() {
            prop_assert!(
                g == g.trim() && !g.is_empty() && g.chars().count() <= MAX_TITLE && !g.contains(','),
                "group {:?}",
                g
            );
            prop_assert!(
                !groups[..i].iter().any(|o| o.eq_ignore_ascii_case(g)),
                "group {:?} twice",
                g
            );
        }
    }
    if let Some(u) = &body.educate_url {
        prop_assert!(
            t.is_network() && matches!(body.action, A::Block | A::Warn),
            "educateUrl on {} {}",
            t,
            body.action
        );
        prop_assert!(u.starts_with("https://"), "educateUrl {:?}", u);
        prop_assert!(u.len() <= MAX_URL, "educateUrl of {} bytes", u.len());
    }
    let application = body.application.as_deref().unwrap_or_default();
    prop_assert!(
        !application.trim().is_empty() && application.chars().count() <= MAX_TITLE,
        "application {:?}",
        application
    );
    prop_assert!(
        !application.starts_with(FEED_TAG_PREFIX) || application == APPLICATION,
        "a feed tag was accepted: {:?}",
        application
    );
    Ok(())
}

/// Parses and validates one indicator, checking what comes out either way.
fn check_indicator(raw: &Value) -> TestCaseResult {
    let spec = match validate::parse(raw) {
        Ok(spec) => spec,
        Err(e) => return check_refusal(&e, raw, "parse"),
    };
    let body = match validate::validate(&spec, now(), APPLICATION) {
        Ok(body) => body,
        Err(e) => return check_refusal(&e, raw, "validate"),
    };
    prop_assert_eq!(body.indicator_type, spec.indicator_type);
    prop_assert_eq!(body.action, spec.action);
    check_accepted(&body)?;
    // What would be sent is itself a valid indicator, and validating it changes nothing.
    let sent = serde_json::to_value(&body).expect("the body serialises");
    let again = validate::parse(&sent)
        .and_then(|s| validate::validate(&s, now(), APPLICATION))
        .map_err(|e| TestCaseError::fail(format!("what would be sent ({sent}) is refused: {e}")))?;
    prop_assert_eq!(again, body, "validating twice changes the indicator");
    Ok(())
}

fn check(input: &[u8]) -> TestCaseResult {
    if let Ok(raw) = serde_json::from_slice::<Value>(input) {
        return check_indicator(&raw);
    }
    // Not JSON: the bytes as the value of an indicator of each type, with an action that applies to it.
    let value = String::from_utf8_lossy(input);
    for (kind, action) in [
        ("FileSha1", "Alert"),
        ("FileSha256", "Block"),
        ("FileMd5", "Allowed"),
        ("CertificateThumbprint", "BlockAndRemediate"),
        ("IpAddress", "Warn"),
        ("DomainName", "Block"),
        ("Url", "Warn"),
    ] {
        check_indicator(&json!({
            "indicatorValue": value, "indicatorType": kind, "action": action,
            "title": "Fuzzed value", "description": "The value is the fuzz input."
        }))?;
    }
    Ok(())
}

#[test]
fn indicators_are_accepted_only_when_valid_and_refused_naming_the_field() {
    fuzz::run(
        env!("CARGO_MANIFEST_DIR"),
        "indicator",
        &[
            b"\"indicatorValue\"",
            b"\"indicatorType\"",
            b"\"action\"",
            b"\"educateUrl\"",
            b"\"rbacGroupNames\"",
            b"\"expirationTime\"",
            b"\"generateAlert\"",
            b"\"application\"",
            b"\"mde-bridge feed ",
            b"203.0.113.7",
            b"::ffff:",
            b"xn--",
            b"https://",
            b"2027-01-31T00:00:00Z",
        ],
        check,
    );
}
