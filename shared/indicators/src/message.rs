//! Reading SQS messages: the envelope as one [`IndicatorMessage`], then each indicator on its own, so one bad
//! indicator is rejected with its field while the rest of its message goes ahead.

use mde_contracts::{
    FeedName, IndicatorMessage, IndicatorRef, IndicatorType, MAX_INDICATORS_PER_MESSAGE, RejectCode,
    TenantSelector,
};
use mde_defender::api::NewIndicator;
use serde_json::Value;
use time::OffsetDateTime;

use crate::validate::{self, IndicatorKey, Invalid};

/// A message as SQS (or the CLI) hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The SQS message id (or `<file>:<line>`).
    pub id: String,
    /// The body.
    pub body: String,
}

/// What a message asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `upsert`.
    Upsert,
    /// `delete`.
    Delete,
    /// `sync`.
    Sync,
}

impl Op {
    /// Its name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Upsert => "upsert",
            Op::Delete => "delete",
            Op::Sync => "sync",
        }
    }
}

/// A valid indicator of an upsert or a sync, ready to send.
#[derive(Debug, Clone)]
pub struct Valid {
    /// As received.
    pub raw: Value,
    /// Its type and normalised value.
    pub key: IndicatorKey,
    /// The body to send.
    pub body: NewIndicator,
}

/// What a delete names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Defender's id.
    Id(String),
    /// Type and normalised value.
    Key(IndicatorKey),
}

/// A valid reference of a delete.
#[derive(Debug, Clone)]
pub struct ValidRef {
    /// As received.
    pub raw: Value,
    /// What it names.
    pub target: Target,
}

/// An item that breaks a rule.
#[derive(Debug, Clone)]
pub struct Bad {
    /// As received.
    pub raw: Value,
    /// Why.
    pub invalid: Invalid,
    /// Its key, when its type and value are valid (a sync never deletes it then).
    pub key: Option<IndicatorKey>,
}

/// A message whose envelope was read.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Operation.
    pub op: Op,
    /// Tenants.
    pub tenants: TenantSelector,
    /// Report only.
    pub dry_run: bool,
    /// The feed of a sync.
    pub feed: Option<FeedName>,
    /// Object key of a sync's set, still to be read.
    pub source: Option<String>,
    /// Valid indicators (upsert, sync).
    pub indicators: Vec<Valid>,
    /// Valid references (delete).
    pub refs: Vec<ValidRef>,
    /// Items that break a rule.
    pub bad: Vec<Bad>,
    /// Refused as a whole (a sync whose source cannot be read): no tenant gets a share.
    pub refused: bool,
}

/// Why a whole message cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The kind of reason.
    pub code: RejectCode,
    /// What is wrong.
    pub reason: String,
}

/// Reads a message's envelope (each indicator stays raw JSON until [`Parsed::check`]).
pub fn read(incoming: &Incoming) -> Result<IndicatorMessage<Value, Value>, Unreadable> {
    let unreadable = |reason: String| Unreadable {
        code: RejectCode::InvalidMessage,
        reason,
    };
    let mut de = serde_json::Deserializer::from_str(&incoming.body);
    let message: IndicatorMessage<Value, Value> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = if path == "." { String::new() } else { format!("{path}: ") };
        unreadable(format!(
            "not an indicator message ({at}{inner}); expected {{\"op\": \"upsert\"|\"delete\"|\"sync\", \"tenants\": \"all\"|<id>|[<id>…], \"indicators\": […]}} (schemas/indicator-message.schema.json)"
        ))
    })?;
    de.end()
        .map_err(|e| unreadable(format!("trailing characters after the message: {e}")))?;
    let count = match &message {
        IndicatorMessage::Upsert { indicators, .. } | IndicatorMessage::Sync { indicators, .. } => {
            indicators.len()
        }
        IndicatorMessage::Delete { indicators, .. } => indicators.len(),
    };
    if count > MAX_INDICATORS_PER_MESSAGE {
        return Err(unreadable(format!(
            "indicators: {count} items; a message holds at most {MAX_INDICATORS_PER_MESSAGE} (use a sync with a source object for larger sets)"
        )));
    }
    match &message {
        IndicatorMessage::Upsert { indicators, .. } | IndicatorMessage::Delete { indicators, .. }
            if indicators.is_empty() =>
        {
            Err(unreadable(
                "indicators: empty; name at least one indicator".into(),
            ))
        }
        IndicatorMessage::Sync {
            indicators,
            source: Some(source),
            ..
        } => {
            if !indicators.is_empty() {
                return Err(unreadable(
                    "a sync names its set either inline (indicators) or in an object (source), not both"
                        .into(),
                ));
            }
            if !source.starts_with("feeds/") || mde_platform::objects::validate_key(source).is_err() {
                return Err(unreadable(format!(
                    "source: {source:?} must be an object key under feeds/ (e.g. feeds/urlhaus.jsonl)"
                )));
            }
            Ok(message)
        }
        _ => Ok(message),
    }
}

impl Parsed {
    /// Checks each item of a read message. `now` is when (expiry must be later).
    pub fn check(message: IndicatorMessage<Value, Value>, now: OffsetDateTime) -> Self {
        let (op, tenants, dry_run, feed, source, items) = match message {
            IndicatorMessage::Upsert {
                tenants,
                indicators,
                dry_run,
            } => (Op::Upsert, tenants, dry_run, None, None, indicators),
            IndicatorMessage::Delete {
                tenants,
                indicators,
                dry_run,
            } => (Op::Delete, tenants, dry_run, None, None, indicators),
            IndicatorMessage::Sync {
                tenants,
                feed,
                indicators,
                source,
                dry_run,
            } => (Op::Sync, tenants, dry_run, Some(feed), source, indicators),
        };
        let mut parsed = Parsed {
            op,
            tenants,
            dry_run,
            feed,
            source,
            indicators: Vec::new(),
            refs: Vec::new(),
            bad: Vec::new(),
            refused: false,
        };
        parsed.add_items(items, now);
        parsed
    }

    /// Checks items and files them as valid or bad (also used for a sync's set read from its source object).
    pub fn add_items(&mut self, items: Vec<Value>, now: OffsetDateTime) {
        let application = match &self.feed {
            Some(feed) => feed.application_tag(),
            None => "mde-bridge".to_owned(),
        };
        for raw in items {
            match self.op {
                Op::Delete => match reference(&raw) {
                    Ok(target) => self.refs.push(ValidRef { raw, target }),
                    Err(invalid) => self.bad.push(Bad {
                        raw,
                        invalid,
                        key: None,
                    }),
                },
                Op::Upsert | Op::Sync => {
                    let spec = validate::parse(&raw).and_then(|mut spec| {
                        if self.op == Op::Sync {
                            if spec.application.is_some() {
                                return Err(Invalid {
                                    field: "application".into(),
                                    reason: "is set by the sync (the feed's tag); leave it out".into(),
                                });
                            }
                            spec.application = Some(application.clone());
                        }
                        Ok(spec)
                    });
                    match spec.and_then(|spec| validate::validate(&spec, now, &application)) {
                        Ok(body) => self.indicators.push(Valid {
                            key: validate::key(body.indicator_type, &body.indicator_value),
                            raw,
                            body,
                        }),
                        Err(invalid) => {
                            let key = raw_key(&raw);
                            self.bad.push(Bad { raw, invalid, key });
                        }
                    }
                }
            }
        }
    }
}

/// The key of a raw indicator whose type and value alone are valid.
fn raw_key(raw: &Value) -> Option<IndicatorKey> {
    let t: IndicatorType = serde_json::from_value(raw.get("indicatorType")?.clone()).ok()?;
    let v = validate::normalise_value(t, raw.get("indicatorValue")?.as_str()?).ok()?;
    Some(validate::key(t, &v))
}

fn reference(raw: &Value) -> Result<Target, Invalid> {
    let r: IndicatorRef = serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        Invalid {
            field: if path == "." { String::new() } else { path },
            reason: e.into_inner().to_string(),
        }
    })?;
    match (r.id, r.indicator_type, r.indicator_value) {
        (Some(id), None, None) if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) => {
            Ok(Target::Id(id))
        }
        (Some(id), None, None) => Err(Invalid {
            field: "id".into(),
            reason: format!("{id:?} is not a Defender indicator id (a number)"),
        }),
        (None, Some(t), Some(v)) => {
            validate::normalise_value(t, &v).map(|v| Target::Key(validate::key(t, &v)))
        }
        _ => Err(Invalid {
            field: String::new(),
            reason: "name the indicator by id, or by indicatorType and indicatorValue (not both)".into(),
        }),
    }
}
