//! Key material: the token-signing key (public demo key committed in `demo/`), its JWKS entry, and the thumbprints
//! of registered client certificates.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use sha1::Digest as _;

use crate::error::SandboxError;

const SIGNING_KEY_PEM: &str = include_str!("../demo/token-signing-key.pem");
const SIGNING_CERT_PEM: &str = include_str!("../demo/token-signing-cert.pem");
/// Base64url modulus of the signing key, precomputed with `openssl rsa -modulus` (see README).
const SIGNING_KEY_N: &str = include_str!("../demo/token-signing-key.n.txt");
/// The signing key's public exponent (65537).
const SIGNING_KEY_E: &str = "AQAB";

/// The key that signs access tokens, and what verifiers need to check them.
pub struct SigningKeys {
    /// Private key for RS256 signing.
    pub encoding: EncodingKey,
    /// Public key for verifying our own tokens.
    pub decoding: DecodingKey,
    /// Key id (`kid`), equal to the certificate's SHA-1 thumbprint like Entra's keys.
    pub kid: String,
    /// base64url SHA-1 thumbprint of the signing certificate.
    pub x5t: String,
    /// base64 DER of the signing certificate.
    pub x5c: String,
}

impl SigningKeys {
    /// Loads the committed demo signing key.
    pub fn demo() -> Result<Self, SandboxError> {
        let encoding = EncodingKey::from_rsa_pem(SIGNING_KEY_PEM.as_bytes())
            .map_err(|e| SandboxError::Key(format!("token signing key: {e}")))?;
        let decoding = DecodingKey::from_rsa_components(SIGNING_KEY_N.trim(), SIGNING_KEY_E)
            .map_err(|e| SandboxError::Key(format!("token signing public key: {e}")))?;
        let der = pem_der(SIGNING_CERT_PEM)?;
        let x5t = sha1_thumbprint(&der);
        Ok(Self {
            encoding,
            decoding,
            kid: x5t.clone(),
            x5t,
            x5c: STANDARD.encode(&der),
        })
    }

    /// The JWKS document (`/common/discovery/keys`), with the given `issuer` template.
    pub fn jwks(&self, issuer: &str) -> Value {
        json!({
            "keys": [{
                "kty": "RSA",
                "use": "sig",
                "kid": self.kid,
                "x5t": self.x5t,
                "n": SIGNING_KEY_N.trim(),
                "e": SIGNING_KEY_E,
                "x5c": [self.x5c],
                "issuer": issuer,
            }]
        })
    }
}

/// A registered client certificate: its verification key and thumbprints.
pub struct ClientCertificate {
    /// Public key of the certificate.
    pub key: DecodingKey,
    /// base64url SHA-1 thumbprint (`x5t`).
    pub x5t: String,
    /// base64url SHA-256 thumbprint (`x5t#S256`).
    pub x5t_s256: String,
}

impl ClientCertificate {
    /// Parses a PEM certificate.
    pub fn from_pem(pem: &str) -> Result<Self, SandboxError> {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| SandboxError::Key(format!("client certificate: {e}")))?;
        let der = pem_der(pem)?;
        Ok(Self {
            key,
            x5t: sha1_thumbprint(&der),
            x5t_s256: URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der)),
        })
    }
}

fn sha1_thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(der))
}

/// Decodes the first PEM block of `pem` to DER.
fn pem_der(pem: &str) -> Result<Vec<u8>, SandboxError> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD
        .decode(body.trim())
        .map_err(|e| SandboxError::Key(format!("PEM body: {e}")))
}
