//! Tokens shared by every process of a deployment (the token-broker's containers): a token fetched by one is used
//! by the others until it nears expiry, so a tenant costs one token request per API and token lifetime however many
//! processes serve it.
//!
//! A stored token is sealed (AES-256-GCM) under a key derived (HKDF-SHA256) from the application credential that
//! obtained it, and bound to its tenant and audience: the store alone reveals nothing, and whoever can open a
//! token could have minted one. A token that does not open (the credential was rotated), names another tenant, or
//! is near expiry is ignored. The store is an optimisation: when it fails, the source asks Entra ID itself.
//!
//! Processes that miss a token at the same moment (two deliveries of one tenant's job, containers starting
//! together) would each ask Entra ID: the first to [`SharedTokenStore::claim`] the key asks, the others wait a
//! few seconds for its token in the store, then ask themselves if it did not come.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use mde_contracts::{AppCredential, Audience, TenantId};
use secrecy::{ExposeSecret, SecretString};

use crate::{DefenderError, Result};

/// A sealed token as kept in a [`SharedTokenStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredToken {
    /// The nonce followed by the AES-256-GCM ciphertext and tag of the bearer value.
    pub sealed: Vec<u8>,
    /// The token's fingerprint (see [`crate::AccessToken::fingerprint`]), to remove exactly a rejected token.
    pub fingerprint: String,
    /// When the token expires.
    pub expires_at: SystemTime,
}

/// Where the processes of a deployment keep their tokens (DynamoDB in AWS; [`MemoryTokenStore`] in one process).
#[async_trait]
pub trait SharedTokenStore: Send + Sync {
    /// The token kept under `key`, if any.
    async fn load(&self, key: &str) -> Result<Option<StoredToken>>;
    /// Keeps `token` under `key`, replacing what was there.
    async fn save(&self, key: &str, token: &StoredToken) -> Result<()>;
    /// Removes the token under `key` if it is still the one with `fingerprint` (an API rejected it).
    async fn remove(&self, key: &str, fingerprint: &str) -> Result<()>;
    /// Claims the right to ask Entra ID for the token under `key` until `until` (a lease): `true` when nobody
    /// else holds an unexpired claim (or `holder` holds it already). Saving the token ends the claim.
    async fn claim(&self, key: &str, holder: &str, until: SystemTime) -> Result<bool>;
}

/// The key of a (tenant, audience) in a [`SharedTokenStore`]: `<tenant>/<audience>`.
pub fn shared_key(tenant: &TenantId, audience: Audience) -> String {
    format!("{tenant}/{}", audience.as_str())
}

/// Seals and opens tokens with the key derived from one application credential.
pub(crate) struct Sealer {
    key: LessSafeKey,
}

/// HKDF salt: names the purpose, so the derived key serves nothing else.
const SALT: &[u8] = b"mde-bridge shared token cache v1";

impl Sealer {
    /// The sealer of `credential` (its secret or private key, and its client id, are the key material).
    pub(crate) fn new(credential: &AppCredential) -> Result<Self> {
        let secret = match credential {
            AppCredential::ClientSecret { client_secret, .. } => client_secret.expose_secret(),
            AppCredential::Certificate { private_key_pem, .. } => private_key_pem.expose_secret(),
        };
        let client_id = credential.client_id().to_string();
        let info = [client_id.as_bytes()];
        let unsealing = || DefenderError::Credential("cannot derive the shared token cache key".into());
        let prk = Salt::new(HKDF_SHA256, SALT).extract(secret.as_bytes());
        let okm = prk.expand(&info, &AES_256_GCM).map_err(|_| unsealing())?;
        let key = UnboundKey::from(okm);
        Ok(Self {
            key: LessSafeKey::new(key),
        })
    }

    /// `value` sealed for `key` (the store key, authenticated with it).
    pub(crate) fn seal(&self, value: &SecretString, key: &str) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| DefenderError::Credential("no randomness for a nonce".into()))?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + value.expose_secret().len() + 16);
        sealed.extend_from_slice(&nonce);
        let mut body = value.expose_secret().as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.as_bytes()),
                &mut body,
            )
            .map_err(|_| DefenderError::Credential("cannot seal a token".into()))?;
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    /// The value sealed for `key`, or `None` when it does not open (another credential, another key, tampered).
    pub(crate) fn open(&self, sealed: &[u8], key: &str) -> Option<SecretString> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(key.as_bytes()), &mut body)
            .ok()?;
        let value = std::str::from_utf8(plain).ok()?.to_owned();
        Some(SecretString::from(value))
    }
}

/// A [`SharedTokenStore`] in memory: tests, and several sources of one process.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<String, StoredToken>>,
    /// Claims: key → (holder, until).
    claims: Mutex<HashMap<String, (String, SystemTime)>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys held (tests).
    pub fn keys(&self) -> Vec<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.keys().cloned().collect()
    }
}

#[async_trait]
impl SharedTokenStore for MemoryTokenStore {
    async fn load(&self, key: &str) -> Result<Option<StoredToken>> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        Ok(tokens.get(key).cloned())
    }

    async fn save(&self, key: &str, token: &StoredToken) -> Result<()> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert(key.to_owned(), token.clone());
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        claims.remove(key);
        Ok(())
    }

    async fn remove(&self, key: &str, fingerprint: &str) -> Result<()> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if tokens.get(key).is_some_and(|t| t.fingerprint == fingerprint) {
            tokens.remove(key);
        }
        Ok(())
    }

    async fn claim(&self, key: &str, holder: &str, until: SystemTime) -> Result<bool> {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        let free = claims
            .get(key)
            .is_none_or(|(by, end)| by == holder || *end <= SystemTime::now());
        if free {
            claims.insert(key.to_owned(), (holder.to_owned(), until));
        }
        Ok(free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_credential(secret: &str) -> AppCredential {
        serde_json::from_value(serde_json::json!({
            "kind": "client_secret", "client_id": "00000000-0000-0000-0000-00000000c11e", "client_secret": secret,
        }))
        .expect("credential")
    }

    #[test]
    fn a_sealed_token_opens_only_with_its_credential_and_key() {
        let sealer = Sealer::new(&secret_credential("s3cret")).expect("sealer");
        let value = SecretString::from("eyJ.token.value".to_string());
        let sealed = sealer.seal(&value, "t1/mde").expect("seal");
        assert!(
            !sealed.windows(5).any(|w| w == b"token"),
            "the value is not in the clear"
        );
        assert_eq!(
            sealer
                .open(&sealed, "t1/mde")
                .map(|v| v.expose_secret().to_owned()),
            Some("eyJ.token.value".to_owned())
        );
        assert!(sealer.open(&sealed, "t2/mde").is_none(), "bound to its key");
        let rotated = Sealer::new(&secret_credential("rotated")).expect("sealer");
        assert!(rotated.open(&sealed, "t1/mde").is_none(), "another credential");
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(sealer.open(&tampered, "t1/mde").is_none(), "tampered");
        assert!(sealer.open(&sealed[..5], "t1/mde").is_none(), "truncated");
        assert_ne!(
            sealer.seal(&value, "t1/mde").expect("seal"),
            sealed,
            "a fresh nonce each time"
        );
    }
}
