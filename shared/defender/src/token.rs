//! Access tokens and the check of their claims.

use std::fmt;
use std::time::SystemTime;

use mde_contracts::{Audience, TenantId};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{DefenderError, Result};

/// An access token for one (tenant, audience), with what its claims say.
#[derive(Clone)]
pub struct AccessToken {
    pub(crate) value: SecretString,
    /// Tenant the token is for (its `tid`, checked).
    pub tenant: TenantId,
    /// API the token is for.
    pub audience: Audience,
    /// When it expires (from `expires_in` as issued).
    pub expires_at: SystemTime,
    /// The application permissions granted (`roles`).
    pub roles: Vec<String>,
}

impl AccessToken {
    /// A token whose claims were checked (by this crate, or by the token-broker that handed it over).
    pub fn new(
        value: SecretString,
        tenant: TenantId,
        audience: Audience,
        expires_at: SystemTime,
        roles: Vec<String>,
    ) -> Self {
        Self {
            value,
            tenant,
            audience,
            expires_at,
            roles,
        }
    }

    /// The bearer value, for the `Authorization` header only.
    pub fn secret(&self) -> &SecretString {
        &self.value
    }

    /// A short, non-reversible fingerprint for logs (first 12 hex digits of SHA-256).
    pub fn fingerprint(&self) -> String {
        hex::encode(&Sha256::digest(self.value.expose_secret().as_bytes())[..6])
    }

    /// The roles of `required` that the token lacks.
    pub fn missing_roles<'a>(&self, required: &[&'a str]) -> Vec<&'a str> {
        required
            .iter()
            .copied()
            .filter(|r| !self.roles.iter().any(|have| have == r))
            .collect()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("fingerprint", &self.fingerprint())
            .field("tenant", &self.tenant)
            .field("audience", &self.audience)
            .field("expires_at", &self.expires_at)
            .field("roles", &self.roles)
            .finish()
    }
}

#[derive(Deserialize)]
struct Claims {
    tid: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// Decodes a token's claims (the signature is Entra's to vouch for; a client cannot verify tokens of another
/// audience) and checks that `tid` is the tenant asked for. Returns the granted `roles`.
pub fn check_claims(token: &SecretString, tenant: &TenantId) -> Result<Vec<String>> {
    let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token.expose_secret())
        .map_err(|e| DefenderError::MalformedTokenResponse(format!("the access token is not a JWT: {e}")))?;
    let tid = claims.tid.unwrap_or_default();
    if !tid.eq_ignore_ascii_case(tenant.as_str()) {
        return Err(DefenderError::WrongTenant {
            expected: tenant.clone(),
            actual: tid,
        });
    }
    Ok(claims.roles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};

    fn token_with(claims: serde_json::Value) -> SecretString {
        let key = EncodingKey::from_secret(b"test key of the unit test");
        SecretString::from(encode(&Header::default(), &claims, &key).expect("encode"))
    }

    #[test]
    fn a_token_for_another_tenant_is_refused() {
        let asked: TenantId = "11111111-1111-1111-1111-111111111111".parse().expect("tenant");
        let token =
            token_with(serde_json::json!({"tid": "22222222-2222-2222-2222-222222222222", "roles": []}));
        match check_claims(&token, &asked) {
            Err(DefenderError::WrongTenant { actual, .. }) => {
                assert_eq!(actual, "22222222-2222-2222-2222-222222222222")
            }
            other => panic!("expected WrongTenant, got {other:?}"),
        }
    }

    #[test]
    fn a_token_without_roles_has_none_and_garbage_is_malformed() {
        let asked: TenantId = "11111111-1111-1111-1111-111111111111".parse().expect("tenant");
        let token = token_with(serde_json::json!({"tid": asked.as_str()}));
        assert!(check_claims(&token, &asked).expect("valid").is_empty());
        let garbage = SecretString::from("<html>Service unavailable</html>".to_string());
        assert!(matches!(
            check_claims(&garbage, &asked),
            Err(DefenderError::MalformedTokenResponse(_))
        ));
    }
}
