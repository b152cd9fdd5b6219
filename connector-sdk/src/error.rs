//! The connector's typed errors, mirroring the contract's `connector-error`.

use thiserror::Error;

/// Why an operation failed. Messages never contain the client secret or a token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectorError {
    /// The credentials were refused.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The credentials are valid but lack a scope.
    #[error("permission denied: {0}")]
    Permission(String),
    /// The configuration is wrong.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The API throttled us.
    #[error("rate limited: {message}")]
    RateLimited {
        /// Seconds the API asked to wait, when it said.
        retry_after_seconds: Option<u32>,
        /// What happened.
        message: String,
    },
    /// Network failure, timeout or server error.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The API answered with something unreadable.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// A bug in the connector.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ConnectorError {
    /// The same error with `context` put in front of its message.
    pub fn context(self, context: &str) -> Self {
        let wrap = |m: String| format!("{context}: {m}");
        match self {
            Self::Auth(m) => Self::Auth(wrap(m)),
            Self::Permission(m) => Self::Permission(wrap(m)),
            Self::Config(m) => Self::Config(wrap(m)),
            Self::RateLimited {
                retry_after_seconds,
                message,
            } => Self::RateLimited {
                retry_after_seconds,
                message: wrap(message),
            },
            Self::Transient(m) => Self::Transient(wrap(m)),
            Self::Protocol(m) => Self::Protocol(wrap(m)),
            Self::Internal(m) => Self::Internal(wrap(m)),
        }
    }
}
