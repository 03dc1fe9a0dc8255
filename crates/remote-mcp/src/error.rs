//! What can go wrong talking to a request `mcp` server, in words the user can act on.

use std::error::Error as _;
use std::time::Duration;

use rmcp::ServiceError;
use rmcp::service::ClientInitializeError;
use rmcp::transport::DynamicTransportError;
use rmcp::transport::streamable_http_client::StreamableHttpError;

/// A failed operation on a request `mcp` server. `Display` names what failed, never the URL's
/// path or query (they may hold secrets) and never a credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    /// HTTP 401/403: the server wants authorization the request did not give (or refused it).
    #[error("{}", auth_message(*.status, .resource_metadata.as_deref(), *.had_credentials))]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The OAuth protected-resource metadata the challenge points to, if it did.
        resource_metadata: Option<String>,
        /// Whether the request sent an `authorization` or headers.
        had_credentials: bool,
    },
    /// The server could not be reached (refused address, DNS, TLS, connection).
    #[error("could not connect: {0}")]
    Connect(String),
    /// The operation did not finish within its deadline (how long it was given, when known).
    #[error("{}", timeout_message(*.0))]
    Timeout(Duration),
    /// The request was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The server answered with an HTTP error.
    #[error("the server answered HTTP {0}")]
    Http(u16),
    /// The server answered with a JSON-RPC error.
    #[error("the server answered error {code}: {message}")]
    Rpc {
        /// JSON-RPC error code.
        code: i32,
        /// Its message.
        message: String,
    },
    /// The server broke the protocol or the connection.
    #[error("{0}")]
    Protocol(String),
}

fn timeout_message(after: Duration) -> String {
    if after.is_zero() { "timed out".to_string() } else { format!("timed out after {after:?}") }
}

fn auth_message(status: u16, metadata: Option<&str>, had_credentials: bool) -> String {
    let what = if had_credentials {
        "the server refused the given authorization"
    } else {
        "the server requires authorization; give an OAuth access token in the tool's 'authorization'"
    };
    match metadata {
        Some(m) => format!("{what} (HTTP {status}; OAuth resource metadata at {m})"),
        None => format!("{what} (HTTP {status})"),
    }
}

/// The `resource_metadata` parameter of a `WWW-Authenticate: Bearer …` challenge, without its
/// query.
pub fn resource_metadata(challenge: &str) -> Option<String> {
    let start = challenge.find("resource_metadata=")? + "resource_metadata=".len();
    let rest = &challenge[start..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split([',', ' ']).next()?,
    };
    let value = value.split(['?', '#']).next()?;
    (!value.is_empty()).then(|| value.to_string())
}

impl McpError {
    /// Maps an rmcp request error.
    pub fn from_service(error: &ServiceError, had_credentials: bool) -> Self {
        match error {
            ServiceError::McpError(data) => {
                McpError::Rpc { code: data.code.0, message: crate::render::truncate(data.message.to_string(), 1000) }
            }
            ServiceError::TransportSend(dte) => from_transport(dte, had_credentials),
            ServiceError::TransportClosed => McpError::Protocol("the connection closed".into()),
            ServiceError::Timeout { timeout } => McpError::Timeout(*timeout),
            ServiceError::Cancelled { .. } => McpError::Cancelled,
            other => McpError::Protocol(other.to_string()),
        }
    }

    /// Maps an rmcp connect (initialize) error.
    pub fn from_initialize(error: &ClientInitializeError, had_credentials: bool) -> Self {
        match error {
            ClientInitializeError::JsonRpcError(data) => {
                McpError::Rpc { code: data.code.0, message: crate::render::truncate(data.message.to_string(), 1000) }
            }
            ClientInitializeError::TransportError { error, .. } => from_transport(error, had_credentials),
            ClientInitializeError::ConnectionClosed(_) => {
                McpError::Protocol("the server closed the connection during initialize".into())
            }
            ClientInitializeError::Cancelled => McpError::Cancelled,
            other => McpError::Protocol(other.to_string()),
        }
    }

    /// Whether a fresh connection might succeed where this one failed.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, McpError::Protocol(_))
    }
}

/// Why the older HTTP+SSE transport failed (its `Transport::Error`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LegacySseError(pub McpError);

fn from_transport(dte: &DynamicTransportError, had_credentials: bool) -> McpError {
    if let Some(LegacySseError(e)) = dte.error.downcast_ref::<LegacySseError>() {
        return e.clone();
    }
    let Some(error) = dte.error.downcast_ref::<StreamableHttpError<reqwest::Error>>() else {
        return McpError::Protocol(dte.error.to_string());
    };
    match error {
        StreamableHttpError::Client(e) => from_reqwest(e),
        StreamableHttpError::HttpStatus(e) => status(e.status, had_credentials),
        StreamableHttpError::AuthRequired(e) => McpError::Unauthorized {
            status: 401,
            resource_metadata: resource_metadata(&e.www_authenticate_header),
            had_credentials,
        },
        StreamableHttpError::InsufficientScope(_) => {
            McpError::Unauthorized { status: 403, resource_metadata: None, had_credentials }
        }
        StreamableHttpError::UnexpectedServerResponse(text) => match status_prefix(text) {
            Some(code) => status(code, had_credentials),
            None => {
                McpError::Protocol(format!("unexpected answer: {}", crate::render::truncate(text.to_string(), 200)))
            }
        },
        StreamableHttpError::SessionExpired => McpError::Http(404),
        StreamableHttpError::SessionRecoveryTimeout | StreamableHttpError::ControlRequestTimeout => {
            McpError::Timeout(Duration::ZERO)
        }
        other => McpError::Protocol(other.to_string()),
    }
}

fn status(code: u16, had_credentials: bool) -> McpError {
    match code {
        401 | 403 => McpError::Unauthorized { status: code, resource_metadata: None, had_credentials },
        other => McpError::Http(other),
    }
}

/// `"HTTP 401 Unauthorized: …"` → 401.
fn status_prefix(text: &str) -> Option<u16> {
    text.strip_prefix("HTTP ")?.get(..3)?.parse().ok()
}

/// A reqwest error as words, without the URL (which may hold secrets): its cause chain.
pub fn from_reqwest(e: &reqwest::Error) -> McpError {
    let mut causes = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = s.source();
    }
    let detail = if causes.is_empty() { "request failed".to_string() } else { causes.join(": ") };
    if e.is_timeout() {
        McpError::Timeout(Duration::ZERO)
    } else if e.is_connect() || e.is_redirect() || e.is_builder() {
        McpError::Connect(detail)
    } else if let Some(code) = e.status() {
        McpError::Http(code.as_u16())
    } else {
        McpError::Protocol(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_metadata() {
        assert_eq!(
            resource_metadata(
                r#"Bearer realm="x", resource_metadata="https://a.example/.well-known/oauth-protected-resource?x=1""#
            ),
            Some("https://a.example/.well-known/oauth-protected-resource".into())
        );
        assert_eq!(resource_metadata("Bearer resource_metadata=https://a/m, scope=x"), Some("https://a/m".into()));
        assert_eq!(resource_metadata("Bearer realm=x"), None);
        let e = McpError::Unauthorized {
            status: 401,
            resource_metadata: Some("https://a/m".into()),
            had_credentials: false,
        };
        assert_eq!(
            e.to_string(),
            "the server requires authorization; give an OAuth access token in the tool's 'authorization' (HTTP 401; OAuth resource metadata at https://a/m)"
        );
        assert_eq!(status_prefix("HTTP 401 Unauthorized: x"), Some(401));
    }
}
