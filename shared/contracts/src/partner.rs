//! The partner identity that Microsoft asks every integration to send as its User-Agent.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ContractError;

/// Who is calling Microsoft: sent on every request as `User-Agent: MdePartner-{company}-{product}/{version}`
/// (Microsoft's partner integration guidance; e.g. `MdePartner-Contoso-ContosoCognito/1.0.0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerIdentity {
    /// Company name, one token: letters, digits, `.` and `_` (no spaces, no `-`, no `/`).
    pub company: String,
    /// Product name, same rules as `company`.
    pub product: String,
    /// Product version, e.g. `1.0.0`: letters, digits, `.`, `_`, `-` and `+`.
    pub version: String,
}

impl PartnerIdentity {
    /// Checks each part; the error names the field (`partner.company`, ...) and the characters allowed.
    pub fn validate(&self) -> Result<(), ContractError> {
        check_token("partner.company", &self.company, &['.', '_'])?;
        check_token("partner.product", &self.product, &['.', '_'])?;
        check_token("partner.version", &self.version, &['.', '_', '-', '+'])
    }

    /// The User-Agent header value in Microsoft's partner format.
    pub fn user_agent(&self) -> String {
        format!("MdePartner-{}-{}/{}", self.company, self.product, self.version)
    }
}

fn check_token(field: &str, value: &str, extra: &[char]) -> Result<(), ContractError> {
    if value.is_empty() {
        return Err(ContractError::invalid(field, "must not be empty"));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(c)))
    {
        let allowed: String = extra.iter().map(|c| format!(" {c}")).collect();
        return Err(ContractError::invalid(
            field,
            format!("{value:?} contains {bad:?}; allowed are ASCII letters, digits and{allowed}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(company: &str) -> PartnerIdentity {
        PartnerIdentity {
            company: company.into(),
            product: "ContosoCognito".into(),
            version: "1.0.0".into(),
        }
    }

    #[test]
    fn user_agent_follows_microsofts_partner_format() {
        assert_eq!(
            identity("Contoso").user_agent(),
            "MdePartner-Contoso-ContosoCognito/1.0.0"
        );
    }

    #[test]
    fn a_dash_or_space_in_the_company_is_refused_naming_the_field() {
        for bad in ["Con-toso", "Con toso", "", "Con/toso"] {
            let err = identity(bad).validate().expect_err(bad);
            assert!(err.to_string().starts_with("partner.company:"), "{err}");
        }
        identity("Contoso_Ltd.")
            .validate()
            .expect("underscores and dots are fine");
    }
}
