//! Interoperability with an independent implementation of Standard Webhooks (the `standardwebhooks` crate):
//! what it signs, we verify; what we sign, it verifies — over many bodies, ids and keys.

use alert_webhook::signature::{Delivery, SigningKey, Verifier};
use proptest::prelude::*;
use standardwebhooks::Webhook;

const KEYS: [&str; 2] = [
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "whsec_dGhpcyBpcyB0aGUgbmV3IGtleSBvZiB0aGUgcGFydG5lcg==",
];

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn both_implementations_agree_in_both_directions(
        body in "\\PC{0,2000}",
        id in "[A-Za-z0-9_-]{1,64}",
        key in 0usize..2,
    ) {
        let theirs = Webhook::new(KEYS[key]).expect("their key");
        let ours = SigningKey::parse("partner", KEYS[key]).expect("our key");
        let ts = now();

        // They sign, we verify (with both keys active, as during a rotation).
        let signature = theirs.sign(&id, ts, body.as_bytes()).expect("they sign");
        let verifier = Verifier::new(
            KEYS.iter().map(|k| SigningKey::parse("partner", k).expect("key")).collect(),
            300,
        );
        let delivery = Delivery { id: Some(&id), timestamp: Some(&ts.to_string()), signature: Some(&signature) };
        let verified = verifier.verify(delivery, body.as_bytes(), ts, None);
        prop_assert!(verified.is_ok(), "{verified:?}");

        // We sign, they verify (their verifier reads the wall clock, hence `now`).
        let ours_signed = ours.sign(&id, ts, body.as_bytes());
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", id.parse().expect("header"));
        headers.insert("webhook-timestamp", ts.to_string().parse().expect("header"));
        headers.insert("webhook-signature", ours_signed.parse().expect("header"));
        prop_assert!(theirs.verify(body.as_bytes(), &headers).is_ok());

        // A changed body fails on both sides.
        let tampered = format!("{body} ");
        prop_assert!(theirs.verify(tampered.as_bytes(), &headers).is_err());
        let delivery = Delivery { id: Some(&id), timestamp: Some(&ts.to_string()), signature: Some(&ours_signed) };
        prop_assert!(verifier.verify(delivery, tampered.as_bytes(), ts, None).is_err());
    }
}
