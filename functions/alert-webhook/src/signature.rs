//! Standard Webhooks signatures: HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{raw body}`, keys written
//! `whsec_<base64>`, the `webhook-signature` header a space-separated list of `v1,<base64 signature>` (several
//! when the sender signs with more than one key during a rotation). Verification tries every active key of the
//! partners (or only the keys of the one a `webhook-key-id` header names), compares in constant time, and only
//! then checks the timestamp against the injected clock (±`tolerance`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// The header names of the Standard Webhooks specification.
pub const ID_HEADER: &str = "webhook-id";
/// Unix seconds of the signing.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// `v1,<base64>` signatures, space-separated.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// Optional: the key id, so only that partner key's secrets are tried (mde-bridge's addition).
pub const KEY_ID_HEADER: &str = "webhook-key-id";

/// The longest `webhook-id` accepted.
pub const MAX_ID_LEN: usize = 256;
/// The most signatures one header may carry (a rotation needs two).
const MAX_SIGNATURES: usize = 8;

/// Why a request's signature is refused. Messages never contain a key or a signature.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// A required header is absent.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// A header is present but malformed.
    #[error("the {header} header is malformed: {reason}")]
    MalformedHeader {
        /// Which.
        header: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No signature matched any active key.
    #[error("no signature in webhook-signature matches an active key for this body, id and timestamp")]
    NoMatch,
    /// Signed too long ago (a replay, or a clock far behind).
    #[error(
        "webhook-timestamp is {0} s in the past, beyond the tolerance: sign each delivery when it is sent"
    )]
    Stale(i64),
    /// Signed in the future (a clock far ahead).
    #[error("webhook-timestamp is {0} s in the future, beyond the tolerance: check the sender's clock")]
    Future(i64),
}

/// Why a configured key cannot be used (never echoing it).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("webhook key {key_id}: {reason}")]
pub struct KeyError {
    /// The key's id.
    pub key_id: String,
    /// What is wrong.
    pub reason: String,
}

/// One active secret of a partner key.
pub struct SigningKey {
    key_id: String,
    secret: SecretBox<Vec<u8>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// A key from its `whsec_<base64>` form (the prefix is optional, as Standard Webhooks libraries accept).
    pub fn parse(key_id: &str, text: &str) -> Result<Self, KeyError> {
        let encoded = text.trim().strip_prefix("whsec_").unwrap_or(text.trim());
        let bytes = B64.decode(encoded).map_err(|_| KeyError {
            key_id: key_id.to_owned(),
            reason: "the secret is not whsec_ followed by base64".into(),
        })?;
        if bytes.len() < 24 {
            return Err(KeyError {
                key_id: key_id.to_owned(),
                reason: format!(
                    "the secret has {} bytes; use at least 24 (32 recommended)",
                    bytes.len()
                ),
            });
        }
        Ok(Self {
            key_id: key_id.to_owned(),
            secret: SecretBox::new(Box::new(bytes)),
        })
    }

    /// The key's id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
        // An HMAC accepts a key of any length: this cannot fail.
        let mut mac = match HmacSha256::new_from_slice(self.secret.expose_secret()) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The `v1,<base64>` signature of a delivery (what a sender puts in `webhook-signature`).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", B64.encode(self.mac(id, &timestamp.to_string(), body)))
    }
}

/// The three headers of a delivery, as received.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// `webhook-id`.
    pub id: Option<&'a str>,
    /// `webhook-timestamp`.
    pub timestamp: Option<&'a str>,
    /// `webhook-signature`.
    pub signature: Option<&'a str>,
}

/// A verified delivery: which key signed it, its id and its timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key whose secret matched.
    pub key_id: String,
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`, Unix seconds.
    pub timestamp: i64,
}

/// Checks deliveries against the active keys.
#[derive(Debug)]
pub struct Verifier {
    keys: Vec<SigningKey>,
    tolerance_seconds: i64,
}

impl Verifier {
    /// A verifier of `keys` (several per key id during a rotation) with a timestamp tolerance.
    pub fn new(keys: Vec<SigningKey>, tolerance_seconds: u64) -> Self {
        Self {
            keys,
            tolerance_seconds: i64::try_from(tolerance_seconds).unwrap_or(i64::MAX),
        }
    }

    /// Verifies a delivery at `now` (Unix seconds). `key_hint` limits the keys tried to one key id.
    pub fn verify(
        &self,
        delivery: Delivery<'_>,
        body: &[u8],
        now: i64,
        key_hint: Option<&str>,
    ) -> Result<Verified, SignatureError> {
        let id = delivery.id.ok_or(SignatureError::MissingHeader(ID_HEADER))?;
        let timestamp = delivery
            .timestamp
            .ok_or(SignatureError::MissingHeader(TIMESTAMP_HEADER))?;
        let header = delivery
            .signature
            .ok_or(SignatureError::MissingHeader(SIGNATURE_HEADER))?;
        if id.is_empty() || id.len() > MAX_ID_LEN || !id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(SignatureError::MalformedHeader {
                header: ID_HEADER,
                reason: format!("must be 1 to {MAX_ID_LEN} printable ASCII characters"),
            });
        }
        let seconds: i64 = timestamp
            .parse()
            .ok()
            .filter(|_| timestamp.len() <= 12 && timestamp.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| SignatureError::MalformedHeader {
                header: TIMESTAMP_HEADER,
                reason: "must be Unix seconds (digits only)".into(),
            })?;
        let signatures = parse_signatures(header)?;
        let mut matched = None;
        for key in self
            .keys
            .iter()
            .filter(|k| key_hint.is_none_or(|h| h == k.key_id))
        {
            let expected = key.mac(id, timestamp, body);
            // Every signature is compared with every key, whatever matched before: the time does not depend on
            // which one matched.
            for s in &signatures {
                if bool::from(s.ct_eq(&expected)) && matched.is_none() {
                    matched = Some(key.key_id.clone());
                }
            }
        }
        let key_id = matched.ok_or(SignatureError::NoMatch)?;
        let age = now - seconds;
        if age > self.tolerance_seconds {
            return Err(SignatureError::Stale(age));
        }
        if -age > self.tolerance_seconds {
            return Err(SignatureError::Future(-age));
        }
        Ok(Verified {
            key_id,
            id: id.to_owned(),
            timestamp: seconds,
        })
    }
}

/// The `v1` signatures of a header (other versions are skipped, as the specification asks).
fn parse_signatures(header: &str) -> Result<Vec<[u8; 32]>, SignatureError> {
    let malformed = |reason: &str| SignatureError::MalformedHeader {
        header: SIGNATURE_HEADER,
        reason: reason.to_owned(),
    };
    let mut out = Vec::new();
    for token in header.split(' ').filter(|t| !t.is_empty()) {
        let Some((version, value)) = token.split_once(',') else {
            return Err(malformed(
                "each signature is <version>,<base64>, separated by spaces",
            ));
        };
        if version != "v1" {
            continue;
        }
        let bytes = B64
            .decode(value)
            .map_err(|_| malformed("a v1 signature is not base64"))?;
        let sig: [u8; 32] = bytes
            .try_into()
            .map_err(|_| malformed("a v1 signature is not 32 bytes (HMAC-SHA256)"))?;
        out.push(sig);
        if out.len() > MAX_SIGNATURES {
            return Err(malformed("more than 8 signatures"));
        }
    }
    if out.is_empty() {
        return Err(malformed("no v1 signature"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ROTATED: &str = "whsec_dGhpcyBpcyB0aGUgbmV3IGtleSBvZiB0aGUgcGFydG5lcg==";

    fn verifier() -> Verifier {
        Verifier::new(
            vec![
                SigningKey::parse("soar-1", SECRET).expect("key"),
                SigningKey::parse("soar-1", ROTATED).expect("key"),
                SigningKey::parse("ndr-7", "whsec_YW5vdGhlciBwYXJ0bmVyIGFsdG9nZXRoZXIhISE=").expect("key"),
            ],
            300,
        )
    }

    fn delivery<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> Delivery<'a> {
        Delivery {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn the_specifications_example_verifies() {
        // The example of the Standard Webhooks specification.
        let body = br#"{"test": 2432232314}"#;
        let v = Verifier::new(vec![SigningKey::parse("k", SECRET).expect("key")], 300);
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let ok = v
            .verify(
                delivery("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", sig),
                body,
                1_614_265_330,
                None,
            )
            .expect("verified");
        assert_eq!(ok.key_id, "k");
    }

    #[test]
    fn rotation_stale_future_tampered_and_foreign_keys() {
        let v = verifier();
        let body = b"{\"type\":\"x\"}";
        let now = 1_800_000_000;
        let old = SigningKey::parse("soar-1", SECRET).expect("key");
        let new = SigningKey::parse("soar-1", ROTATED).expect("key");
        let both = format!("{} {}", old.sign("m1", now, body), new.sign("m1", now, body));
        let ts = now.to_string();
        assert_eq!(
            v.verify(delivery("m1", &ts, &both), body, now, None)
                .expect("both")
                .key_id,
            "soar-1"
        );
        let only_new = new.sign("m1", now, body);
        assert!(v.verify(delivery("m1", &ts, &only_new), body, now, None).is_ok());
        assert!(
            v.verify(delivery("m1", &ts, &only_new), body, now, Some("soar-1"))
                .is_ok()
        );
        assert_eq!(
            v.verify(delivery("m1", &ts, &only_new), body, now, Some("ndr-7")),
            Err(SignatureError::NoMatch),
            "a hint limits the keys tried"
        );
        assert_eq!(
            v.verify(delivery("m1", &ts, &only_new), b"{\"type\":\"y\"}", now, None),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            v.verify(delivery("m2", &ts, &only_new), body, now, None),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            v.verify(delivery("m1", &ts, &only_new), body, now + 301, None),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            v.verify(delivery("m1", &ts, &only_new), body, now - 301, None),
            Err(SignatureError::Future(301))
        );
        let other =
            SigningKey::parse("x", "whsec_bm90IGEga2V5IHRoZSBicmlkZ2Uga25vd3MgYXQgYWxs").expect("key");
        assert_eq!(
            v.verify(delivery("m1", &ts, &other.sign("m1", now, body)), body, now, None),
            Err(SignatureError::NoMatch)
        );
        // Unknown versions are skipped; a v1 among them still counts.
        let mixed = format!("v2,AAAA {only_new}");
        assert!(v.verify(delivery("m1", &ts, &mixed), body, now, None).is_ok());
    }

    #[test]
    fn malformed_headers_are_named() {
        let v = verifier();
        let cases = [
            (
                Delivery {
                    id: None,
                    timestamp: Some("1"),
                    signature: Some("v1,AA=="),
                },
                "webhook-id",
            ),
            (
                Delivery {
                    id: Some("m"),
                    timestamp: None,
                    signature: Some("v1,AA=="),
                },
                "webhook-timestamp",
            ),
            (
                Delivery {
                    id: Some("m"),
                    timestamp: Some("1"),
                    signature: None,
                },
                "webhook-signature",
            ),
            (delivery("m", "-5", "v1,AA=="), "webhook-timestamp"),
            (delivery("m", "1e9", "v1,AA=="), "webhook-timestamp"),
            (delivery("m", "1", "v1AA"), "webhook-signature"),
            (delivery("m", "1", "v1,!!"), "webhook-signature"),
            (delivery("m", "1", "v1,AA=="), "webhook-signature"),
            (delivery("m", "1", "v2,AA=="), "webhook-signature"),
            (delivery("a b", "1", "v1,AA=="), "webhook-id"),
        ];
        for (d, header) in cases {
            let e = v.verify(d, b"{}", 1, None).expect_err("refused");
            assert!(e.to_string().contains(header), "{d:?}: {e}");
        }
    }

    #[test]
    fn keys_are_checked_and_never_shown() {
        for bad in ["whsec_***", "whsec_c2hvcnQ="] {
            let e = SigningKey::parse("k", bad).expect_err("bad key");
            assert!(!e.to_string().contains(bad.trim_start_matches("whsec_")), "{e}");
        }
        let k = SigningKey::parse("k", SECRET).expect("key");
        assert!(!format!("{k:?}").contains("MfKQ9r8"));
    }

    proptest::proptest! {
        #[test]
        fn no_header_or_body_panics_and_only_the_right_signature_passes(
            id in "\\PC{0,300}", ts in "\\PC{0,20}", sig in "\\PC{0,200}", body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        ) {
            let v = verifier();
            let r = v.verify(delivery(&id, &ts, &sig), &body, 1_800_000_000, None);
            proptest::prop_assert!(r.is_err(), "a random signature verified");
        }
    }
}
