//! When the application credential expires: a client secret's `expires_on` (from the secret), a certificate's
//! notAfter (read from its PEM). One expired shared credential breaks every tenant at once, so it is checked
//! before each token request and reported ahead of time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mde_contracts::AppCredential;
use x509_cert::Certificate;
use x509_cert::der::Decode;

use crate::{DefenderError, Result};

/// When `credential` expires, if that is known.
pub fn credential_expiry(credential: &AppCredential) -> Result<Option<SystemTime>> {
    match credential {
        AppCredential::ClientSecret { expires_on, .. } => Ok(expires_on.map(SystemTime::from)),
        AppCredential::Certificate { certificate_pem, .. } => {
            certificate_not_after(certificate_pem).map(Some)
        }
    }
}

/// The notAfter of a PEM certificate.
pub fn certificate_not_after(certificate_pem: &str) -> Result<SystemTime> {
    let pem = pem::parse(certificate_pem)
        .map_err(|e| DefenderError::Credential(format!("certificate_pem is not a PEM certificate: {e}")))?;
    if pem.tag() != "CERTIFICATE" {
        return Err(DefenderError::Credential(format!(
            "certificate_pem holds a {:?} block, not a CERTIFICATE (are certificate and key swapped?)",
            pem.tag()
        )));
    }
    let cert = Certificate::from_der(pem.contents()).map_err(|e| {
        DefenderError::Credential(format!("certificate_pem is not an X.509 certificate: {e}"))
    })?;
    Ok(UNIX_EPOCH + cert.tbs_certificate.validity.not_after.to_unix_duration())
}

/// Refuses a credential whose expiry has passed at `now`.
pub(crate) fn refuse_expired(credential: &AppCredential, now: SystemTime) -> Result<()> {
    match credential_expiry(credential)? {
        Some(at) if at <= now => Err(DefenderError::CredentialExpired {
            what: match credential {
                AppCredential::ClientSecret { .. } => "client secret",
                AppCredential::Certificate { .. } => "certificate",
            },
            expired_at: Some(rfc3339(at)),
        }),
        _ => Ok(()),
    }
}

/// Whole days from `now` until `at` (negative when `at` has passed), rounded down.
pub fn days_left(at: SystemTime, now: SystemTime) -> i64 {
    match at.duration_since(now) {
        Ok(d) => (d.as_secs() / 86_400) as i64,
        Err(e) => -(e.duration().as_secs().div_ceil(86_400) as i64),
    }
}

/// A time as RFC 3339 (UTC, seconds).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{secs} s after the Unix epoch"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_rounds_towards_the_past() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(days_left(now + Duration::from_secs(86_400 * 30 + 5), now), 30);
        assert_eq!(days_left(now + Duration::from_secs(86_399), now), 0);
        assert_eq!(days_left(now - Duration::from_secs(1), now), -1);
        assert_eq!(days_left(now - Duration::from_secs(86_400 * 2), now), -2);
    }

    #[test]
    fn a_key_in_place_of_the_certificate_is_named() {
        let err = certificate_not_after("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .expect_err("not a certificate");
        assert!(err.to_string().contains("swapped"), "{err}");
    }
}
