//! CloudWatch Embedded Metric Format lines of the token-broker: `CredentialDaysLeft` per credential secret, with
//! no dimension (what the expiry alarm watches: the minimum over every secret) and with `Secret`.

use mde_contracts::CredentialHealth;
use serde_json::json;

/// The metric namespace.
pub const NAMESPACE: &str = "MdeBridge/TokenBroker";
/// Days until the credential expires (negative once it has).
pub const CREDENTIAL_DAYS_LEFT: &str = "CredentialDaysLeft";

/// One EMF line per credential whose expiry is known, stamped `at_millis` (Unix milliseconds).
pub fn emf_lines(credentials: &[CredentialHealth], at_millis: i64) -> Vec<String> {
    credentials
        .iter()
        .filter_map(|c| {
            let days = c.days_left?;
            Some(
                json!({
                    "Secret": c.secret_id,
                    "Kind": c.kind,
                    CREDENTIAL_DAYS_LEFT: days,
                    "_aws": {
                        "Timestamp": at_millis,
                        "CloudWatchMetrics": [{
                            "Namespace": NAMESPACE,
                            "Dimensions": [[], ["Secret"]],
                            "Metrics": [{"Name": CREDENTIAL_DAYS_LEFT, "Unit": "None"}],
                        }],
                    },
                })
                .to_string(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_with_a_known_expiry_gives_one_line_with_and_without_the_secret_dimension() {
        let known = CredentialHealth {
            secret_id: "mde-bridge/app-credential".into(),
            kind: "certificate".into(),
            expires_at: Some("2027-01-01T00:00:00Z".into()),
            days_left: Some(12),
            problem: None,
        };
        let unknown = CredentialHealth {
            days_left: None,
            expires_at: None,
            ..known.clone()
        };
        let lines = emf_lines(&[known, unknown], 1_000);
        assert_eq!(lines.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(v[CREDENTIAL_DAYS_LEFT], 12);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[], ["Secret"]])
        );
    }
}
