//! indicator-push's boundary types: the SQS message (upsert, delete or sync indicators in one tenant, a list of
//! tenants, or every tenant that allows indicators), the indicator as a feed states it (Microsoft's documented
//! submit fields and casing), the rejects record and the summary of a push.
//!
//! Shapes are checked here; what needs the clock or the network (an expiry in the future, the tenant's cap) is
//! checked by indicator-push.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ContractError, TenantId};

/// `indicatorType` of a Defender indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub enum IndicatorType {
    /// SHA-1 of a file: 40 hex digits.
    FileSha1,
    /// SHA-256 of a file: 64 hex digits.
    FileSha256,
    /// MD5 of a file: 32 hex digits.
    FileMd5,
    /// SHA-1 thumbprint of a certificate: 40 hex digits.
    CertificateThumbprint,
    /// One public IPv4 or IPv6 address (CIDR ranges are not supported).
    IpAddress,
    /// A domain name.
    DomainName,
    /// A URL.
    Url,
}

impl IndicatorType {
    /// Whether the value is a file hash or a certificate thumbprint (the file-and-certificate actions apply).
    pub fn is_file_or_certificate(self) -> bool {
        !self.is_network()
    }

    /// Whether the value is an IP address, a domain or a URL (the network-protection actions apply).
    pub fn is_network(self) -> bool {
        matches!(self, Self::IpAddress | Self::DomainName | Self::Url)
    }
}

impl fmt::Display for IndicatorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `action` of a Defender indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum IndicatorAction {
    /// Warn the user, who may bypass (IP addresses, domains and URLs only).
    Warn,
    /// Block (files, IP addresses, domains and URLs).
    Block,
    /// Audit only; needs `generateAlert: true`.
    Audit,
    /// Legacy: alert only.
    Alert,
    /// Legacy: alert and block.
    AlertAndBlock,
    /// Block and remediate (files and certificates only).
    BlockAndRemediate,
    /// Allow; never raises an alert.
    Allowed,
}

impl fmt::Display for IndicatorAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `severity` of a Defender indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum IndicatorSeverity {
    /// Informational.
    Informational,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// An indicator as a threat-intel feed states it: the fields Microsoft documents for submitting one, with
/// Microsoft's names. Nothing else is accepted (an unknown field is an error naming it) and nothing else is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndicatorSpec {
    /// The value: a hash, a certificate thumbprint, an IP address, a domain name or a URL.
    pub indicator_value: String,
    /// Its type.
    pub indicator_type: IndicatorType,
    /// What Defender does when it sees the value.
    pub action: IndicatorAction,
    /// The title of the alerts the indicator raises (1 to 256 characters).
    pub title: String,
    /// The description (1 to 4,096 characters).
    pub description: String,
    /// When Defender deletes the indicator (RFC 3339, in the future). None: it never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    /// Severity of the alerts it raises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<IndicatorSeverity>,
    /// Recommended actions shown with its alerts (up to 4,096 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended_actions: Option<String>,
    /// Device group names it applies to; absent or empty: every device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rbac_group_names: Option<Vec<String>>,
    /// A page users are sent to on a Block or Warn (URLs, domains and IP addresses only; https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub educate_url: Option<String>,
    /// Whether a hit raises an alert. `Audit` needs true; `Allowed` never raises one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_alert: Option<bool>,
    /// The application the indicator is attributed to (applied by Defender on create only). A sync message sets
    /// it to its feed's tag; elsewhere it defaults to `mde-bridge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
}

/// The indicator a delete names: its Defender id, or its type and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndicatorRef {
    /// Defender's id (a numeric string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The type (with `indicatorValue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator_type: Option<IndicatorType>,
    /// The value (with `indicatorType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator_value: Option<String>,
}

/// A feed's name: 1 to 64 letters, digits, `.`, `_` or `-`. Indicators a sync creates carry the feed's tag in
/// their `application` field, which is how the next sync finds them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FeedName(String);

impl FeedName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `application` value of the feed's indicators: `mde-bridge feed <name>`.
    pub fn application_tag(&self) -> String {
        format!("{FEED_TAG_PREFIX}{}", self.0)
    }
}

/// What every feed's `application` tag starts with.
pub const FEED_TAG_PREFIX: &str = "mde-bridge feed ";

impl TryFrom<String> for FeedName {
    type Error = ContractError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if ok {
            Ok(Self(s))
        } else {
            Err(ContractError::invalid(
                "feed",
                format!("{s:?} is not a feed name: 1 to 64 letters, digits, '.', '_' or '-'"),
            ))
        }
    }
}

impl std::str::FromStr for FeedName {
    type Err = ContractError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl From<FeedName> for String {
    fn from(f: FeedName) -> String {
        f.0
    }
}

impl fmt::Display for FeedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for FeedName {
    fn schema_name() -> Cow<'static, str> {
        "FeedName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[A-Za-z0-9._-]{1,64}$",
            "description": "A feed's name: 1 to 64 letters, digits, '.', '_' or '-'.",
        })
    }
}

/// Which tenants a message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSelector {
    /// Every enabled tenant of the registry that allows the operation (`add_indicator` for upsert and sync,
    /// `remove_indicator` for delete).
    All,
    /// These tenants; each must be in the registry, enabled and allow the operation, or its part is rejected.
    Listed(Vec<TenantId>),
}

impl Serialize for TenantSelector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::All => s.serialize_str("all"),
            Self::Listed(ids) => ids.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for TenantSelector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if s == "all" => Ok(Self::All),
            Value::String(s) => s
                .parse::<TenantId>()
                .map(|t| Self::Listed(vec![t]))
                .map_err(de::Error::custom),
            Value::Array(items) if !items.is_empty() => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => s.parse::<TenantId>().map_err(|e| format!("[{i}]: {e}")),
                    other => Err(format!("[{i}]: expected a tenant id (GUID), found {other}")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Listed)
                .map_err(de::Error::custom),
            _ => Err(de::Error::custom(
                "expected \"all\", a tenant id (GUID), or a non-empty list of tenant ids",
            )),
        }
    }
}

impl JsonSchema for TenantSelector {
    fn schema_name() -> Cow<'static, str> {
        "TenantSelector".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let id = generator.subschema_for::<TenantId>();
        json_schema!({
            "description": "\"all\" (every enabled tenant that allows the operation), one tenant id, or a list.",
            "oneOf": [
                {"const": "all"},
                id.clone(),
                {"type": "array", "items": id, "minItems": 1},
            ],
        })
    }
}

/// One SQS message of indicator-push: one operation for one tenant, a list of tenants, or all of them.
/// `S` is how an indicator is held (its typed form, or raw JSON so each one is checked on its own), `R` a
/// delete's reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[serde(bound(
    serialize = "S: Serialize, R: Serialize",
    deserialize = "S: Deserialize<'de>, R: Deserialize<'de>"
))]
#[schemars(rename = "IndicatorMessage")]
pub enum IndicatorMessage<S = IndicatorSpec, R = IndicatorRef> {
    /// Adds or updates indicators (Defender keys them by type and value).
    Upsert {
        /// The tenants.
        tenants: TenantSelector,
        /// 1 to 10,000 indicators.
        indicators: Vec<S>,
        /// Report what would be done without writing to Defender.
        #[serde(default)]
        dry_run: bool,
    },
    /// Deletes indicators, by id or by type and value; one that does not exist is already deleted.
    Delete {
        /// The tenants.
        tenants: TenantSelector,
        /// 1 to 10,000 references.
        indicators: Vec<R>,
        /// Report what would be done without writing to Defender.
        #[serde(default)]
        dry_run: bool,
    },
    /// Makes the feed's indicators in each tenant exactly this set: imports what is missing or changed, deletes
    /// what this application created for the feed and is no longer in the set. The set comes inline or from a
    /// JSON Lines object under `feeds/` (`source`), for sets larger than an SQS message.
    Sync {
        /// The tenants.
        tenants: TenantSelector,
        /// The feed.
        feed: FeedName,
        /// The complete set (when `source` is absent; an empty set deletes every indicator of the feed).
        #[serde(default)]
        indicators: Vec<S>,
        /// Key of a JSON Lines object (one indicator per line) in the function's store, under `feeds/`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        /// Report the diff without writing to Defender.
        #[serde(default)]
        dry_run: bool,
    },
}

impl<S, R> IndicatorMessage<S, R> {
    /// The tenants it is for.
    pub fn tenants(&self) -> &TenantSelector {
        match self {
            Self::Upsert { tenants, .. } | Self::Delete { tenants, .. } | Self::Sync { tenants, .. } => {
                tenants
            }
        }
    }

    /// Whether it only reports.
    pub fn dry_run(&self) -> bool {
        match self {
            Self::Upsert { dry_run, .. } | Self::Delete { dry_run, .. } | Self::Sync { dry_run, .. } => {
                *dry_run
            }
        }
    }

    /// `upsert`, `delete` or `sync`.
    pub fn op(&self) -> &'static str {
        match self {
            Self::Upsert { .. } => "upsert",
            Self::Delete { .. } => "delete",
            Self::Sync { .. } => "sync",
        }
    }
}

/// The most indicators (or references) one message may hold.
pub const MAX_INDICATORS_PER_MESSAGE: usize = 10_000;

/// Why an indicator (or a whole message) was not applied and will not be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// The message is not JSON, or not an indicator message.
    InvalidMessage,
    /// The indicator breaks a rule (the reason names the field).
    InvalidIndicator,
    /// The message names a tenant the registry does not hold, or holds disabled.
    UnknownTenant,
    /// The tenant does not allow this operation (`add_indicator` / `remove_indicator` in its `actions`).
    TenantNotAllowed,
    /// Importing it would pass the tenant's cap of active indicators.
    OverCap,
    /// Defender refused it (its `failureReason`).
    RejectedByDefender,
}

/// One line of a rejects object (`rejects/dt=<date>/<time>-<id>.ndjson`): what was not applied and why.
/// Nothing in it is retried; a line holds what is needed to fix and resend it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndicatorReject {
    /// The SQS message id (or `<file>:<line>` for the CLI).
    pub message_id: String,
    /// `upsert`, `delete` or `sync`; absent when the message could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// The tenant; absent when the reject applies to every tenant of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    /// The indicator (or reference) as received; for an unreadable message, its body (up to 64 KiB).
    pub indicator: Value,
    /// The field at fault, e.g. `indicatorValue`, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The kind of reason.
    pub code: RejectCode,
    /// What is wrong and how to fix it.
    pub reason: String,
    /// When (RFC 3339, UTC).
    pub time: String,
}

/// What a push did in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPushSummary {
    /// The tenant.
    pub tenant_id: Option<TenantId>,
    /// Indicators imported (created or updated) — or, in a dry run, that would be.
    pub imported: u64,
    /// Indicators deleted — or that would be.
    pub deleted: u64,
    /// Indicators a sync or a delete found already as wanted.
    pub unchanged: u64,
    /// Indicators rejected (see the rejects object).
    pub rejected: u64,
    /// Indicators left for a later attempt (throttled, unavailable, missing permission): their messages return
    /// to the queue.
    pub deferred: u64,
    /// Active indicators this application sees in the tenant, after the push (when listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<u64>,
    /// Why indicators were deferred, when they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred_reason: Option<String>,
}

/// What one push (an SQS batch, or a CLI file) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndicatorPushSummary {
    /// Messages read.
    pub messages: u64,
    /// Messages done (every part imported, deleted, unchanged or rejected).
    pub messages_done: u64,
    /// Messages to retry (some part deferred).
    pub messages_deferred: u64,
    /// Whether nothing was written to Defender (dry run).
    pub dry_run: bool,
    /// Per tenant.
    pub tenants: Vec<TenantPushSummary>,
    /// Rejects written.
    pub rejected: u64,
    /// Where the rejects went, when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejects_location: Option<String>,
    /// Where the dry-run plans went, when there were any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan_locations: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_names_its_tenants_as_all_one_or_a_list() {
        let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        for (tenants, expected) in [
            (json!("all"), TenantSelector::All),
            (
                json!(t),
                TenantSelector::Listed(vec![t.parse().expect("tenant id")]),
            ),
            (
                json!([t]),
                TenantSelector::Listed(vec![t.parse().expect("tenant id")]),
            ),
        ] {
            let m: IndicatorMessage = serde_json::from_value(
                json!({"op": "delete", "tenants": tenants, "indicators": [{"id": "1"}]}),
            )
            .expect("valid");
            assert_eq!(m.tenants(), &expected);
        }
        for bad in [json!([]), json!("contoso.com"), json!(7), json!([t, "x"])] {
            let e = serde_json::from_value::<IndicatorMessage>(
                json!({"op": "delete", "tenants": bad, "indicators": []}),
            )
            .expect_err("invalid");
            assert!(
                e.to_string().contains("tenant") || e.to_string().contains("GUID"),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_ops_are_refused_by_name() {
        let e = serde_json::from_value::<IndicatorMessage>(
            json!({"op": "upsert", "tenants": "all", "indicators": [], "tenant": "x"}),
        )
        .expect_err("unknown field");
        assert!(e.to_string().contains("tenant"), "{e}");
        let e = serde_json::from_value::<IndicatorMessage>(json!({"op": "purge", "tenants": "all"}))
            .expect_err("unknown op");
        assert!(e.to_string().contains("purge"), "{e}");
        let e = serde_json::from_value::<IndicatorSpec>(json!({
            "indicatorValue": "a", "indicatorType": "Url", "action": "Block", "title": "t", "description": "d",
            "externalID": "x"
        }))
        .expect_err("externalID is not a documented submit field");
        assert!(e.to_string().contains("externalID"), "{e}");
    }

    #[test]
    fn feed_names_are_short_and_plain() {
        assert!(FeedName::try_from("abuse.ch-urlhaus_1".to_string()).is_ok());
        for bad in ["", "a b", "x".repeat(65).as_str(), "feed/1"] {
            assert!(FeedName::try_from(bad.to_string()).is_err(), "{bad:?}");
        }
        let f = FeedName::try_from("tor".to_string()).expect("feed");
        assert_eq!(f.application_tag(), "mde-bridge feed tor");
    }
}
