//! The library's error type.

/// Why the sandbox could not start or load its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listen address could not be parsed or bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The configured address.
        address: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Key material (signing key, a registered certificate) is unusable.
    #[error("unusable key material: {0}")]
    Key(String),
    /// The configuration is inconsistent (e.g. a tenant id that is not a GUID).
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
}
