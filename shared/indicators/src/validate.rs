//! Validation and normalisation of one indicator, before anything is sent: each failure names the field.
//!
//! Microsoft documents the fields, the types, the actions and "no CIDR"; it documents no length limits, so the
//! bounds on text fields here are ours (generous, and stated in the README). Which actions apply to which type
//! follows the "Manage indicators" pages: `Warn` is for IP addresses, domains and URLs; `BlockAndRemediate` for
//! files and certificates; certificates take no plain `Block`.

use std::net::IpAddr;

use mde_contracts::{FEED_TAG_PREFIX, IndicatorAction, IndicatorSpec, IndicatorType};
use mde_defender::api::NewIndicator;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The longest title we send.
pub const MAX_TITLE: usize = 256;
/// The longest description or recommended actions we send.
pub const MAX_TEXT: usize = 4096;
/// The longest URL (indicator value or educate URL).
pub const MAX_URL: usize = 2048;

/// An indicator that breaks a rule: the field (Microsoft's name) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field, e.g. `indicatorValue`; empty for the indicator as a whole.
    pub field: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl Invalid {
    fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

/// How an indicator is identified in a tenant: Defender keeps one per type and value.
pub type IndicatorKey = (IndicatorType, String);

/// The key of a normalised value (values compare without case, as Defender's upsert does).
pub fn key(indicator_type: IndicatorType, value: &str) -> IndicatorKey {
    (indicator_type, value.to_lowercase())
}

/// Reads one indicator of a message: the documented fields only, each with its type.
pub fn parse(raw: &Value) -> Result<IndicatorSpec, Invalid> {
    // Serde would also read a struct from an array, field by position; an indicator is an object.
    if !raw.is_object() {
        return Err(Invalid::new(
            "",
            "an indicator must be a JSON object of named fields",
        ));
    }
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        Invalid {
            field,
            reason: e.into_inner().to_string(),
        }
    })
}

/// Checks an indicator and returns the body to send, normalised (hashes lower case, canonical IP addresses,
/// lower-case ASCII domains). `now` is when it is checked: an expiry must be after it. `application` is what
/// the indicator is attributed to when the spec names none.
pub fn validate(
    spec: &IndicatorSpec,
    now: OffsetDateTime,
    application: &str,
) -> Result<NewIndicator, Invalid> {
    let value = normalise_value(spec.indicator_type, &spec.indicator_value)?;
    check_action(spec)?;
    let title = required_text("title", &spec.title, MAX_TITLE)?;
    let description = required_text("description", &spec.description, MAX_TEXT)?;
    let recommended_actions = match &spec.recommended_actions {
        Some(t) if t.chars().count() > MAX_TEXT => {
            return Err(Invalid::new(
                "recommendedActions",
                format!("is longer than {MAX_TEXT} characters"),
            ));
        }
        other => other.clone(),
    };
    let expiration_time = spec
        .expiration_time
        .as_deref()
        .map(|t| expiry(t, now))
        .transpose()?;
    let rbac_group_names = spec
        .rbac_group_names
        .as_ref()
        .map(|names| device_groups(names))
        .transpose()?;
    let educate_url = spec
        .educate_url
        .as_deref()
        .map(|u| educate_url(spec, u))
        .transpose()?;
    let application = match spec.application.as_deref() {
        Some(a) if a.trim().is_empty() || a.chars().count() > MAX_TITLE => {
            return Err(Invalid::new(
                "application",
                format!("must be 1 to {MAX_TITLE} characters"),
            ));
        }
        Some(a) if a.starts_with(FEED_TAG_PREFIX) && a != application => {
            return Err(Invalid::new(
                "application",
                format!("'{FEED_TAG_PREFIX}…' is reserved for the indicators a sync message creates"),
            ));
        }
        Some(a) => a.to_owned(),
        None => application.to_owned(),
    };
    Ok(NewIndicator {
        indicator_value: value,
        indicator_type: spec.indicator_type,
        action: spec.action,
        title,
        description,
        application: Some(application),
        expiration_time,
        severity: spec.severity,
        recommended_actions,
        rbac_group_names,
        generate_alert: spec.generate_alert,
        educate_url,
    })
}

/// The value in its canonical form for its type, or why it is not one.
pub fn normalise_value(indicator_type: IndicatorType, raw: &str) -> Result<String, Invalid> {
    let field = "indicatorValue";
    let value = raw.trim();
    if value.is_empty() {
        return Err(Invalid::new(field, "is empty"));
    }
    let hex = |digits: usize, what: &str, v: &str| {
        if v.len() == digits && v.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(v.to_ascii_lowercase())
        } else {
            Err(Invalid::new(
                field,
                format!("{value:?} is not {what}: expected {digits} hexadecimal digits"),
            ))
        }
    };
    match indicator_type {
        IndicatorType::FileMd5 => hex(32, "an MD5 hash", value),
        IndicatorType::FileSha1 => hex(40, "a SHA-1 hash", value),
        IndicatorType::FileSha256 => hex(64, "a SHA-256 hash", value),
        IndicatorType::CertificateThumbprint => {
            // Thumbprints are often copied with spaces or colons between the bytes.
            let compact: String = value.chars().filter(|c| !matches!(c, ' ' | ':')).collect();
            hex(40, "a certificate thumbprint (SHA-1)", &compact)
        }
        IndicatorType::IpAddress => ip_address(value),
        IndicatorType::DomainName => domain(value),
        IndicatorType::Url => url_value(value),
    }
}

fn ip_address(value: &str) -> Result<String, Invalid> {
    let field = "indicatorValue";
    if value.contains('/') {
        return Err(Invalid::new(
            field,
            format!("{value:?} is a range: Defender does not support CIDR notation; send single addresses"),
        ));
    }
    let ip: IpAddr = value
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| Invalid::new(field, format!("{value:?} is not an IPv4 or IPv6 address")))?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    if let Some(kind) = non_public(&ip) {
        return Err(Invalid::new(
            field,
            format!("{ip} is a {kind} address: an indicator must name a public address"),
        ));
    }
    Ok(ip.to_string())
}

/// Why an address is not public, if it is not. Documentation ranges (RFC 5737 / 3849) are allowed: Microsoft's
/// and partners' examples use them.
fn non_public(ip: &IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_unspecified() {
                Some("unspecified")
            } else if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private (RFC 1918)")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_multicast() || a >= 240 {
                Some("multicast or reserved")
            } else if a == 100 && (64..128).contains(&b) {
                Some("shared (carrier-grade NAT)")
            } else if a == 0 {
                Some("\"this network\"")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if first & 0xfe00 == 0xfc00 {
                Some("unique local")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else {
                None
            }
        }
    }
}

fn domain(value: &str) -> Result<String, Invalid> {
    let field = "indicatorValue";
    let bare = value.strip_suffix('.').unwrap_or(value);
    if bare.contains("://") || bare.contains('/') || bare.contains('*') || bare.contains(':') {
        return Err(Invalid::new(
            field,
            format!(
                "{value:?} is not a domain name (no scheme, path, port or wildcard; use a Url indicator for those)"
            ),
        ));
    }
    let ascii = match url::Host::parse(bare) {
        Ok(url::Host::Domain(d)) => d,
        Ok(_) => {
            return Err(Invalid::new(
                field,
                format!("{value:?} is an IP address: use indicatorType IpAddress"),
            ));
        }
        Err(_) => {
            return Err(Invalid::new(field, format!("{value:?} is not a domain name")));
        }
    };
    let labels_ok = ascii.len() <= 253
        && ascii.contains('.')
        && ascii.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !labels_ok {
        return Err(Invalid::new(
            field,
            format!(
                "{value:?} is not a domain name: at least two labels of 1 to 63 letters, digits or '-', 253 characters at most"
            ),
        ));
    }
    Ok(ascii.to_ascii_lowercase())
}

fn url_value(value: &str) -> Result<String, Invalid> {
    let field = "indicatorValue";
    if value.len() > MAX_URL {
        return Err(Invalid::new(
            field,
            format!("is longer than {MAX_URL} characters"),
        ));
    }
    if value.chars().any(char::is_whitespace) {
        return Err(Invalid::new(field, "a URL must not contain white space"));
    }
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let parsed = url::Url::parse(&with_scheme)
        .map_err(|e| Invalid::new(field, format!("{value:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Invalid::new(
            field,
            format!("{value:?}: only http and https URLs can be indicators"),
        ));
    }
    match parsed.host() {
        Some(url::Host::Domain(d)) if d.contains('.') => Ok(value.to_owned()),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => Ok(value.to_owned()),
        _ => Err(Invalid::new(
            field,
            format!("{value:?} has no host name with a domain"),
        )),
    }
}

fn check_action(spec: &IndicatorSpec) -> Result<(), Invalid> {
    use IndicatorAction as A;
    let t = spec.indicator_type;
    let refused = match spec.action {
        A::Warn if !t.is_network() => Some("IP address, domain and URL indicators"),
        A::BlockAndRemediate if !t.is_file_or_certificate() => Some("file and certificate indicators"),
        A::Block if t == IndicatorType::CertificateThumbprint => {
            Some("file, IP address, domain and URL indicators (certificates take BlockAndRemediate)")
        }
        _ => None,
    };
    if let Some(only) = refused {
        return Err(Invalid::new(
            "action",
            format!("{} applies to {only} only, not to {t}", spec.action),
        ));
    }
    match (spec.action, spec.generate_alert) {
        (A::Audit, Some(true)) => Ok(()),
        (A::Audit, _) => Err(Invalid::new(
            "generateAlert",
            "must be true with action Audit (Defender refuses an Audit indicator that raises no alert)",
        )),
        (A::Allowed, Some(true)) => Err(Invalid::new(
            "generateAlert",
            "must not be true with action Allowed (an allowed value raises no alert)",
        )),
        _ => Ok(()),
    }
}

fn required_text(field: &str, text: &str, max: usize) -> Result<String, Invalid> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Invalid::new(field, "is required and must not be blank"));
    }
    if trimmed.chars().count() > max {
        return Err(Invalid::new(field, format!("is longer than {max} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Invalid::new(field, "contains control characters"));
    }
    Ok(trimmed.to_owned())
}

fn expiry(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, Invalid> {
    let field = "expirationTime";
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        Invalid::new(
            field,
            format!("{text:?} is not an RFC 3339 time with a zone, e.g. 2027-01-31T00:00:00Z"),
        )
    })?;
    if t <= now {
        return Err(Invalid::new(
            field,
            format!(
                "{text} has passed: Defender would delete the indicator at once; send a future time or none"
            ),
        ));
    }
    Ok(t.to_offset(time::UtcOffset::UTC))
}

fn device_groups(names: &[String]) -> Result<Vec<String>, Invalid> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let n = name.trim();
        let field = format!("rbacGroupNames[{i}]");
        if n.is_empty() || n.chars().count() > MAX_TITLE {
            return Err(Invalid::new(
                &field,
                format!("must be 1 to {MAX_TITLE} characters"),
            ));
        }
        if n.contains(',') {
            return Err(Invalid::new(
                &field,
                "a device group name must not contain ',' (Defender documents the field as comma-separated)",
            ));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(n)) {
            out.push(n.to_owned());
        }
    }
    Ok(out)
}

fn educate_url(spec: &IndicatorSpec, raw: &str) -> Result<String, Invalid> {
    let field = "educateUrl";
    if !spec.indicator_type.is_network()
        || !matches!(spec.action, IndicatorAction::Block | IndicatorAction::Warn)
    {
        return Err(Invalid::new(
            field,
            "applies only to Block or Warn indicators of IP addresses, domains and URLs",
        ));
    }
    let url =
        url::Url::parse(raw.trim()).map_err(|e| Invalid::new(field, format!("{raw:?} is not a URL: {e}")))?;
    // Bounded as sent: normalising percent-encodes non-ASCII characters, which lengthens the URL.
    let normalised = url.to_string();
    if url.scheme() != "https" || normalised.len() > MAX_URL {
        return Err(Invalid::new(
            field,
            "must be an https URL of at most 2048 characters (percent-encoded)",
        ));
    }
    Ok(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> OffsetDateTime {
        OffsetDateTime::parse("2026-12-03T00:00:00Z", &Rfc3339).expect("time")
    }

    fn spec(kind: &str, value: &str, action: &str) -> Value {
        json!({"indicatorType": kind, "indicatorValue": value, "action": action, "title": "t", "description": "d"})
    }

    fn check(raw: Value) -> Result<NewIndicator, Invalid> {
        validate(&parse(&raw)?, now(), "mde-bridge")
    }

    #[test]
    fn values_are_normalised_per_type() {
        let cases = [
            (
                "FileSha1",
                "0991A395DA64E1C5FBE8732ED11E6BE064081D9F",
                "0991a395da64e1c5fbe8732ed11e6be064081d9f",
            ),
            (
                "FileMd5",
                " D41D8CD98F00B204E9800998ECF8427E ",
                "d41d8cd98f00b204e9800998ecf8427e",
            ),
            (
                "CertificateThumbprint",
                "09 91 a3 95 da 64 e1 c5 fb e8 73 2e d1 1e 6b e0 64 08 1d 9f",
                "0991a395da64e1c5fbe8732ed11e6be064081d9f",
            ),
            ("IpAddress", "2001:0DB8:0000::0001", "2001:db8::1"),
            ("IpAddress", "::ffff:203.0.113.7", "203.0.113.7"),
            ("DomainName", "Evil.Example.COM.", "evil.example.com"),
            ("DomainName", "bücher.example", "xn--bcher-kva.example"),
            (
                "Url",
                "https://contoso-bad.example/path?q=1",
                "https://contoso-bad.example/path?q=1",
            ),
        ];
        for (kind, value, expected) in cases {
            let action = if kind == "CertificateThumbprint" {
                "BlockAndRemediate"
            } else {
                "Alert"
            };
            let body = check(spec(kind, value, action)).unwrap_or_else(|e| panic!("{kind} {value}: {e}"));
            assert_eq!(body.indicator_value, expected, "{kind} {value}");
        }
    }

    #[test]
    fn each_rule_names_its_field() {
        let mut past = spec("DomainName", "a.example", "Block");
        past["expirationTime"] = json!("2021-12-12T00:00:00Z");
        let mut no_zone = spec("DomainName", "a.example", "Block");
        no_zone["expirationTime"] = json!("2027-01-01T00:00:00");
        let mut audit = spec("DomainName", "a.example", "Audit");
        audit["generateAlert"] = json!(false);
        let mut allowed = spec("DomainName", "a.example", "Allowed");
        allowed["generateAlert"] = json!(true);
        let mut educate_on_file = spec("FileMd5", "d41d8cd98f00b204e9800998ecf8427e", "Block");
        educate_on_file["educateUrl"] = json!("https://intranet.example/why");
        let mut groups = spec("DomainName", "a.example", "Block");
        groups["rbacGroupNames"] = json!(["Servers", "a,b"]);
        let mut typed = spec("DomainName", "a.example", "Block");
        typed["generateAlert"] = json!("yes");
        let mut unknown = spec("DomainName", "a.example", "Block");
        unknown["externalID"] = json!("x");
        let mut feed_tag = spec("DomainName", "a.example", "Block");
        feed_tag["application"] = json!("mde-bridge feed other");
        let cases = [
            (spec("FileSha256", "abc", "Block"), "indicatorValue", "SHA-256"),
            (
                spec("IpAddress", "10.1.2.3", "Block"),
                "indicatorValue",
                "private",
            ),
            (
                spec("IpAddress", "203.0.113.0/24", "Block"),
                "indicatorValue",
                "CIDR",
            ),
            (
                spec("IpAddress", "127.0.0.1", "Block"),
                "indicatorValue",
                "loopback",
            ),
            (
                spec("IpAddress", "fe80::1", "Block"),
                "indicatorValue",
                "link-local",
            ),
            (
                spec("DomainName", "https://a.example/x", "Block"),
                "indicatorValue",
                "scheme",
            ),
            (
                spec("DomainName", "localhost", "Block"),
                "indicatorValue",
                "two labels",
            ),
            (
                spec("DomainName", "203.0.113.7", "Block"),
                "indicatorValue",
                "IpAddress",
            ),
            (
                spec("Url", "ftp://a.example/x", "Block"),
                "indicatorValue",
                "http",
            ),
            (
                spec("Url", "https://a b.example", "Block"),
                "indicatorValue",
                "white space",
            ),
            (
                spec("FileSha1", "0991a395da64e1c5fbe8732ed11e6be064081d9f", "Warn"),
                "action",
                "Warn",
            ),
            (
                spec("DomainName", "a.example", "BlockAndRemediate"),
                "action",
                "BlockAndRemediate",
            ),
            (
                spec(
                    "CertificateThumbprint",
                    "0991a395da64e1c5fbe8732ed11e6be064081d9f",
                    "Block",
                ),
                "action",
                "certificates",
            ),
            (
                spec("DomainName", "a.example", "Quarantine"),
                "action",
                "unknown variant",
            ),
            (
                spec("Registry", "a.example", "Block"),
                "indicatorType",
                "unknown variant",
            ),
            (
                json!({"indicatorType": "Url", "indicatorValue": "a.example", "action": "Block", "description": "d"}),
                "",
                "title",
            ),
            (
                spec("DomainName", "a.example", "Block").tap(|v| v["title"] = json!("  ")),
                "title",
                "blank",
            ),
            (
                spec("DomainName", "a.example", "Block").tap(|v| v["description"] = json!("x".repeat(4097))),
                "description",
                "4096",
            ),
            (past, "expirationTime", "passed"),
            (no_zone, "expirationTime", "zone"),
            (audit, "generateAlert", "Audit"),
            (allowed, "generateAlert", "Allowed"),
            (educate_on_file, "educateUrl", "Block or Warn"),
            (groups, "rbacGroupNames[1]", "','"),
            (typed, "generateAlert", "invalid type"),
            (unknown, "externalID", "unknown field"),
            (feed_tag, "application", "reserved"),
        ];
        for (raw, field, words) in cases {
            let e = check(raw.clone()).expect_err(&raw.to_string());
            assert_eq!(e.field, field, "{raw}: {e}");
            assert!(e.reason.contains(words), "{raw}: {e} should say {words:?}");
        }
    }

    trait Tap {
        fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
    }
    impl Tap for Value {
        fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
            f(&mut self);
            self
        }
    }

    #[test]
    fn only_documented_fields_are_sent_with_microsofts_names() {
        let mut raw = spec("Url", "https://a.example/x", "Warn");
        raw["educateUrl"] = json!("https://intranet.example/why");
        raw["expirationTime"] = json!("2027-01-01T00:00:00+01:00");
        raw["severity"] = json!("High");
        raw["rbacGroupNames"] = json!(["Servers", "servers"]);
        let body = serde_json::to_value(check(raw).expect("valid")).expect("json");
        let mut keys: Vec<&str> = body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "action",
                "application",
                "description",
                "educateUrl",
                "expirationTime",
                "indicatorType",
                "indicatorValue",
                "rbacGroupNames",
                "severity",
                "title"
            ]
        );
        assert_eq!(body["rbacGroupNames"], json!(["Servers"]));
        assert_eq!(body["expirationTime"], "2026-12-31T23:00:00Z");
        assert_eq!(body["application"], "mde-bridge");
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics_and_every_accepted_value_is_stable(
            kind in proptest::sample::select(vec!["FileSha1", "FileSha256", "FileMd5", "CertificateThumbprint", "IpAddress", "DomainName", "Url"]),
            value in "\\PC{0,80}",
        ) {
            let t: IndicatorType = serde_json::from_value(json!(kind)).expect("type");
            if let Ok(v) = normalise_value(t, &value) {
                proptest::prop_assert_eq!(normalise_value(t, &v), Ok(v.clone()), "normalising twice changes {:?}", v);
            }
        }
    }
}
