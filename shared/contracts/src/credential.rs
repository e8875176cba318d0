//! The application credential secret: what the token-broker reads from the secret store.

use schemars::JsonSchema;
use secrecy::SecretString;
use serde::Deserialize;

use crate::ClientId;

/// The credential of the multi-tenant Entra ID application, stored as JSON in one secret.
///
/// Secret parts are [`SecretString`]s: their `Debug` output is redacted and they cannot be serialised, so a
/// credential can be logged by mistake without leaking anything.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AppCredential {
    /// A client secret.
    ClientSecret {
        /// The application (client) id.
        client_id: ClientId,
        /// The client secret value.
        #[schemars(with = "String")]
        client_secret: SecretString,
        /// When the client secret expires in Entra ID (RFC 3339), as shown on the app registration. Optional;
        /// with it, the token-broker reports the days left (a metric and an alarm) and calls an expired secret
        /// expired instead of merely refused.
        #[serde(default, with = "time::serde::rfc3339::option")]
        #[schemars(with = "Option<String>")]
        expires_on: Option<time::OffsetDateTime>,
    },
    /// A certificate: mde-bridge signs a client assertion JWT with its private key.
    Certificate {
        /// The application (client) id.
        client_id: ClientId,
        /// The certificate in PEM (`-----BEGIN CERTIFICATE-----`), registered on the application.
        certificate_pem: String,
        /// Its private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
        #[schemars(with = "String")]
        private_key_pem: SecretString,
    },
}

impl AppCredential {
    /// The kind, as written in the secret (`client_secret` or `certificate`).
    pub fn kind(&self) -> &'static str {
        match self {
            AppCredential::ClientSecret { .. } => "client_secret",
            AppCredential::Certificate { .. } => "certificate",
        }
    }

    /// The application (client) id, whichever the kind of credential.
    pub fn client_id(&self) -> &ClientId {
        match self {
            AppCredential::ClientSecret { client_id, .. } | AppCredential::Certificate { client_id, .. } => {
                client_id
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "canary-Qx7-secret-value";

    #[test]
    fn debug_output_of_a_credential_never_shows_the_secret() {
        let json = format!(
            r#"{{"kind":"client_secret","client_id":"11111111-2222-3333-4444-555555555555","client_secret":"{CANARY}"}}"#
        );
        let cred: AppCredential = serde_json::from_str(&json).expect("valid");
        let debug = format!("{cred:?}");
        assert!(!debug.contains(CANARY), "{debug}");
        assert_eq!(cred.client_id().as_str(), "11111111-2222-3333-4444-555555555555");
    }

    #[test]
    fn a_secret_of_the_wrong_shape_is_refused_without_echoing_it() {
        let json = format!(r#"{{"kind":"client_secret","client_id":"{CANARY}","client_secret":"x"}}"#);
        let err = serde_json::from_str::<AppCredential>(&json).expect_err("client id is not a guid");
        assert!(err.to_string().contains("client id"), "{err}");
        assert!(!err.to_string().contains(CANARY), "{err}");
        let err = serde_json::from_str::<AppCredential>(r#"{"kind":"password","client_id":"x"}"#)
            .expect_err("unknown kind");
        assert!(err.to_string().contains("unknown variant `password`"), "{err}");
    }
}
