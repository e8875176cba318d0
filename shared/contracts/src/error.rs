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
    /// A malformed value at `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error for a value found under `prefix` (`tenants[2]` turns `display_name` into
    /// `tenants[2].display_name`).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Self::Invalid { field, reason } => Self::Invalid {
                field: format!("{prefix}.{field}"),
                reason,
            },
        }
    }

    /// The field the error is about.
    pub fn field(&self) -> &str {
        match self {
            Self::Invalid { field, .. } => field,
        }
    }
}
