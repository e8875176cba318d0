use thiserror::Error;

/// A value that does not satisfy its contract. Messages name the offending field and say what is expected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ContractError {
    /// A value is present but malformed.
    #[error("{field}: {reason}")]
    Invalid {
        /// Dotted path of the field, e.g. `tenants[2].tenant_id`.
        field: String,
        /// What is wrong and what a valid value looks like.
        reason: String,
    },
}

impl ContractError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
