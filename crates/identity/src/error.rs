//! The error type shared by every provider. Messages never contain a token, client
//! assertion or secret header value: response bodies are reduced to an error code and a
//! scrubbed, truncated description (see `crate::http`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why a token could not be obtained. Cloneable so one failed refresh can be reported to
/// every caller that was waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The environment does not configure this provider (a required variable is missing).
    #[error("token provider not configured: {reason}")]
    NotConfigured {
        /// What is missing.
        reason: String,
    },
    /// A configuration value is present but unusable (bad URL, bad header value, ...).
    #[error("invalid token provider configuration: {reason}")]
    InvalidConfig {
        /// What is wrong; never includes secret values.
        reason: String,
    },
    /// The requested scope cannot be used (empty, or more than one scope).
    #[error("invalid token scope {scope:?}: {reason}")]
    InvalidScope {
        /// The scope as requested.
        scope: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The workload-identity federated token file could not be read or was empty.
    #[error("cannot read federated token file {}", path.display())]
    FederatedTokenFile {
        /// Path of the file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The refresh task ended without a result (it panicked or the runtime shut down).
    #[error("the token refresh ended without a result")]
    RefreshLost,
    /// The token endpoint did not answer within the configured timeout.
    #[error("token request timed out after {timeout:?}")]
    Timeout {
        /// The per-attempt timeout that elapsed.
        timeout: Duration,
    },
    /// The request could not be sent or the response could not be read.
    #[error("token request failed (connect={connect})")]
    Transport {
        /// Whether the failure happened while connecting.
        connect: bool,
        /// The underlying HTTP client error (its message names the URL, which holds no secret).
        #[source]
        source: Arc<reqwest::Error>,
    },
    /// The token endpoint answered with a non-success status.
    #[error("token endpoint returned HTTP {status}{}", detail_suffix(.code.as_deref(), .description.as_deref()))]
    Http {
        /// HTTP status code.
        status: u16,
        /// The `error` / `error.code` field of the body, if any (scrubbed).
        code: Option<String>,
        /// The `error_description` / `message` field, if any (scrubbed and truncated).
        description: Option<String>,
    },
    /// A success response that is not a usable token response.
    #[error("invalid token response: {reason}")]
    InvalidResponse {
        /// What is wrong; never includes body contents.
        reason: String,
    },
}

impl TokenError {
    /// Whether retrying later may succeed (timeouts, transport errors, 408/429/5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Transport { .. } => true,
            Self::Http { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn federated_file(path: PathBuf, source: std::io::Error) -> Self {
        Self::FederatedTokenFile { path, source: Arc::new(source) }
    }

    pub(crate) fn invalid_config(reason: impl Into<String>) -> Self {
        Self::InvalidConfig { reason: reason.into() }
    }

    pub(crate) fn invalid_response(reason: impl Into<String>) -> Self {
        Self::InvalidResponse { reason: reason.into() }
    }
}

fn detail_suffix(code: Option<&str>, description: Option<&str>) -> String {
    match (code, description) {
        (Some(c), Some(d)) => format!(" ({c}: {d})"),
        (Some(c), None) => format!(" ({c})"),
        (None, Some(d)) => format!(" ({d})"),
        (None, None) => String::new(),
    }
}
