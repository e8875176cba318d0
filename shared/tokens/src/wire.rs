//! Token source errors as the token-broker's wire errors, and back: the broker answers typed errors, and the
//! brokered source turns them into the same `DefenderError` a direct source would have given.

use mde_contracts::BrokerError;
use mde_defender::DefenderError;

/// The wire form of an error of the token source (what the broker answers).
pub fn to_broker_error(e: DefenderError) -> BrokerError {
    match e {
        DefenderError::ConsentRequired {
            tenant,
            audience,
            missing,
            consent_url,
        } => BrokerError::ConsentRequired {
            tenant_id: tenant,
            audience,
            missing_roles: missing,
            consent_url,
        },
        e @ DefenderError::CredentialExpired { .. } => BrokerError::CredentialExpired {
            message: e.to_string(),
        },
        e @ (DefenderError::CredentialInvalid { .. } | DefenderError::Credential(_)) => {
            BrokerError::CredentialInvalid {
                message: e.to_string(),
            }
        }
        e @ (DefenderError::TenantNotFound { .. } | DefenderError::Config(_)) => {
            BrokerError::InvalidRequest {
                message: e.to_string(),
            }
        }
        other => BrokerError::UpstreamUnavailable {
            message: other.to_string(),
        },
    }
}

/// The token source error a broker answer stands for, on the client side.
pub fn from_broker_error(e: BrokerError) -> DefenderError {
    match e {
        BrokerError::ConsentRequired {
            tenant_id,
            audience,
            missing_roles,
            consent_url,
        } => DefenderError::ConsentRequired {
            tenant: tenant_id,
            audience,
            missing: missing_roles,
            consent_url,
        },
        BrokerError::CredentialInvalid { message } | BrokerError::CredentialExpired { message } => {
            DefenderError::Credential(message)
        }
        BrokerError::UpstreamUnavailable { message } => DefenderError::Unavailable {
            what: "token-broker".into(),
            reason: message,
        },
        e @ (BrokerError::UnknownTenant { .. } | BrokerError::InvalidRequest { .. }) => {
            DefenderError::Config(format!("token-broker: {e}"))
        }
    }
}
