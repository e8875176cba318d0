use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in a port or adapter. Messages say what failed and, where the user can fix
/// it, what to do. No variant ever carries a secret value.
#[derive(Debug, Error)]
pub enum PlatformError {
    /// The configuration could not be read or is invalid; the message names the key.
    #[error("configuration: {0}")]
    Config(String),

    /// The secret does not exist.
    #[error(
        "secret {id:?} was not found in {backend}: create it, or set credential.secret_id to the right name"
    )]
    SecretNotFound {
        /// Secret id as asked for.
        id: String,
        /// Where it was looked up.
        backend: &'static str,
    },

    /// The secret exists but does not have the expected shape. The reason never contains the value.
    #[error("secret {id:?} has the wrong shape: {reason}")]
    SecretMalformed {
        /// Secret id.
        id: String,
        /// What is wrong (field path and expectation, never the value).
        reason: String,
    },

    /// A conditional write lost: the object exists (`IfAbsent`) or changed since it was read (`IfMatch`).
    #[error("object {key:?} was created or changed by another writer (precondition failed)")]
    PreconditionFailed {
        /// Object key.
        key: String,
    },

    /// A tenant record was changed by someone else since it was read (or created meanwhile): nothing was written.
    #[error(
        "tenant {tenant} was changed by someone else (expected {expected}, found {found}); nothing was written: \
         read it again (`mde-bridge tenants show {tenant}`) and retry"
    )]
    VersionConflict {
        /// Tenant id.
        tenant: String,
        /// What the write expected.
        expected: String,
        /// What the registry holds.
        found: String,
    },

    /// A tenant record is not valid; the reason names the field.
    #[error("tenant {tenant}: {reason}")]
    InvalidTenant {
        /// Tenant id.
        tenant: String,
        /// What is wrong.
        reason: String,
    },

    /// The registry in use cannot be written by commands.
    #[error("{registry} cannot be written by mde-bridge: {hint}")]
    RegistryReadOnly {
        /// Which registry.
        registry: String,
        /// What to do instead.
        hint: &'static str,
    },

    /// An object key is not acceptable (empty, absolute, `..` segments, ...).
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },

    /// A call to an AWS service failed.
    #[error("{service} {operation} failed: {message}")]
    Aws {
        /// Service, e.g. `s3`.
        service: &'static str,
        /// Operation, e.g. `PutObject`.
        operation: &'static str,
        /// The SDK's description of the error.
        message: String,
        /// Whether trying again later may succeed (throttling, 5xx, network).
        retryable: bool,
    },

    /// A local file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. `reading`.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// An invoked function answered with an error.
    #[error("function {function:?} failed with {error_type}: {message}")]
    FunctionFailed {
        /// Function name.
        function: String,
        /// The error type the function reported.
        error_type: String,
        /// The error message the function reported.
        message: String,
    },

    /// No function of that name is registered with the in-process invoker.
    #[error("no local function named {0:?} is registered")]
    UnknownFunction(String),

    /// A message or payload could not be encoded or decoded.
    #[error("{what}: {reason}")]
    Encoding {
        /// What was being encoded or decoded.
        what: String,
        /// The reason.
        reason: String,
    },
}

impl PlatformError {
    /// Whether the operation may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            PlatformError::Aws { retryable, .. } => *retryable,
            PlatformError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PlatformError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
