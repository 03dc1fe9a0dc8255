//! Error classes: the stable, data-free names under which failures are reported (readiness,
//! list errors, logs), and the mapping from rmcp/transport errors to them.
//!
//! A class never contains a URL, a token or anything a user sent; the detail stays in debug
//! logs, with URLs redacted.

use std::fmt;

use rmcp::ErrorData;
use rmcp::service::{ClientInitializeError, ServiceError};
use rmcp::transport::DynamicTransportError;
use rmcp::transport::streamable_http_client::StreamableHttpError;

use crate::http::ProxyHttpError;

/// JSON-RPC code the proxy (and the mock) use for an unknown toolbox.
pub const NOT_FOUND_CODE: i32 = -32002;

/// Why an operation against a toolbox failed, as a stable class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The operation's deadline passed.
    Timeout,
    /// No connection could be made.
    Connect,
    /// The connection broke mid-request.
    Network,
    /// An HTTP status that no finer class covers.
    Http(u16),
    /// Sources need a user's consent.
    ConsentRequired,
    /// The toolbox (or version, or tool) does not exist.
    NotFound,
    /// The toolbox name is not one safe path segment.
    InvalidName,
    /// The proxy rejected the request as malformed (a configuration problem).
    Config,
    /// The peer broke the protocol (unexpected response, bad content type, ...).
    Protocol,
    /// The proxy rejected the token (HTTP 401/403).
    Auth,
    /// No token could be obtained from the provider.
    Token,
    /// A tool source behind the proxy failed for a reason consent cannot fix.
    Upstream,
    /// A source asked for consent with a link that is not a safe https URL.
    InvalidConsentLink,
    /// The request was cancelled.
    Cancelled,
    /// The MCP connection closed.
    Closed,
}

impl ErrorClass {
    /// The class as reported: `timeout`, `http_503`, `consent_required`, ...
    pub fn as_string(&self) -> String {
        match self {
            ErrorClass::Http(status) => format!("http_{status}"),
            other => other.name().to_owned(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::Network => "network",
            ErrorClass::Http(_) => "http",
            ErrorClass::ConsentRequired => "consent_required",
            ErrorClass::NotFound => "not_found",
            ErrorClass::InvalidName => "invalid_name",
            ErrorClass::Config => "config",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Auth => "auth",
            ErrorClass::Token => "token",
            ErrorClass::Upstream => "upstream",
            ErrorClass::InvalidConsentLink => "invalid_consent_link",
            ErrorClass::Cancelled => "cancelled",
            ErrorClass::Closed => "closed",
        }
    }

    /// Failures that say nothing lasting about the toolbox (it was slow, unreachable or
    /// overloaded): retried within the turn, never cached past it.
    pub fn is_transient(&self) -> bool {
        matches!(self, ErrorClass::Timeout | ErrorClass::Connect | ErrorClass::Network | ErrorClass::Closed)
            || matches!(self, ErrorClass::Http(status) if *status == 429 || *status >= 500)
    }

    /// The `error` of an `mcp_list_tools` item: what failed, in words a user can act on, then
    /// the stable class in brackets.
    pub fn list_error_text(&self, toolbox: &str) -> String {
        let advice = if self.is_transient() {
            " It was retried; its tools are missing from this answer. Send the message again in a moment."
        } else if self.is_permanent() {
            " Ask the agent's operator to check the toolbox."
        } else {
            ""
        };
        format!("Toolbox '{toolbox}' could not list its tools: {}.{advice} [{}]", self.describe(), self.as_string())
    }

    /// Failures no user identity can fix: the toolbox becomes `Unhealthy`.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ErrorClass::NotFound | ErrorClass::InvalidName | ErrorClass::Config)
    }

    /// A sentence for the model when a tool call fails with this class.
    pub fn describe(&self) -> String {
        match self {
            ErrorClass::Timeout => "the toolbox did not answer in time".into(),
            ErrorClass::Connect => "the toolbox could not be reached".into(),
            ErrorClass::Network => "the connection to the toolbox broke".into(),
            ErrorClass::Http(s) => format!("the toolbox answered HTTP {s}"),
            ErrorClass::ConsentRequired => "the user must sign in first".into(),
            ErrorClass::NotFound => "the toolbox or tool does not exist".into(),
            ErrorClass::InvalidName => "the toolbox name is invalid".into(),
            ErrorClass::Config => "the toolbox rejected the request as invalid".into(),
            ErrorClass::Protocol => "the toolbox sent an unexpected response".into(),
            ErrorClass::Auth => "the toolbox rejected the authorization".into(),
            ErrorClass::Token => "no access token for the toolbox could be obtained".into(),
            ErrorClass::Upstream => "a tool source behind the toolbox failed".into(),
            ErrorClass::InvalidConsentLink => "the tool source asked for sign-in with an unusable link".into(),
            ErrorClass::Cancelled => "the request was cancelled".into(),
            ErrorClass::Closed => "the toolbox connection closed".into(),
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

/// A failed MCP operation: a JSON-RPC error from the peer (still to be examined for consent),
/// or a failure already reduced to a class.
#[derive(Clone, Debug)]
pub enum OpError {
    /// The peer answered with a JSON-RPC error.
    Rpc(ErrorData),
    /// Anything else.
    Class(ErrorClass),
}

impl From<ErrorClass> for OpError {
    fn from(class: ErrorClass) -> Self {
        OpError::Class(class)
    }
}

/// Maps an rmcp request error.
pub fn from_service(error: &ServiceError) -> OpError {
    match error {
        ServiceError::McpError(data) => OpError::Rpc(data.clone()),
        ServiceError::TransportSend(dte) => from_transport(dte),
        ServiceError::TransportClosed => ErrorClass::Closed.into(),
        ServiceError::Timeout { .. } => ErrorClass::Timeout.into(),
        ServiceError::Cancelled { .. } => ErrorClass::Cancelled.into(),
        _ => ErrorClass::Protocol.into(),
    }
}

/// Maps an rmcp connect (initialize) error.
pub fn from_initialize(error: &ClientInitializeError) -> OpError {
    match error {
        ClientInitializeError::JsonRpcError(data) => OpError::Rpc(data.clone()),
        ClientInitializeError::TransportError { error, .. } => from_transport(error),
        ClientInitializeError::ConnectionClosed(_) => ErrorClass::Closed.into(),
        ClientInitializeError::Cancelled => ErrorClass::Cancelled.into(),
        _ => ErrorClass::Protocol.into(),
    }
}

fn from_transport(dte: &DynamicTransportError) -> OpError {
    match dte.error.downcast_ref::<StreamableHttpError<ProxyHttpError>>() {
        Some(e) => from_http(e),
        None => ErrorClass::Protocol.into(),
    }
}

fn from_http(error: &StreamableHttpError<ProxyHttpError>) -> OpError {
    match error {
        StreamableHttpError::Client(ProxyHttpError::Http(e)) => {
            if e.is_connect() {
                ErrorClass::Connect.into()
            } else if e.is_timeout() {
                ErrorClass::Timeout.into()
            } else {
                ErrorClass::Network.into()
            }
        }
        StreamableHttpError::Client(ProxyHttpError::Token(_)) => ErrorClass::Token.into(),
        StreamableHttpError::Client(ProxyHttpError::Status(status)) => status_class(*status).into(),
        StreamableHttpError::HttpStatus(e) => status_class(e.status).into(),
        StreamableHttpError::AuthRequired(_) | StreamableHttpError::InsufficientScope(_) => ErrorClass::Auth.into(),
        StreamableHttpError::ReinitializationFailed(data) => OpError::Rpc(data.clone()),
        StreamableHttpError::Io(_) | StreamableHttpError::Sse(_) => ErrorClass::Network.into(),
        StreamableHttpError::UnexpectedEndOfStream => ErrorClass::Network.into(),
        StreamableHttpError::SessionExpired => ErrorClass::Http(404).into(),
        StreamableHttpError::SessionRecoveryTimeout | StreamableHttpError::ControlRequestTimeout => {
            ErrorClass::Timeout.into()
        }
        StreamableHttpError::TransportChannelClosed => ErrorClass::Closed.into(),
        _ => ErrorClass::Protocol.into(),
    }
}

/// The class of an HTTP status without a usable JSON-RPC body.
pub fn status_class(status: u16) -> ErrorClass {
    match status {
        401 | 403 => ErrorClass::Auth,
        404 | 410 => ErrorClass::NotFound,
        400 | 422 => ErrorClass::Config,
        other => ErrorClass::Http(other),
    }
}

/// The class of a JSON-RPC error that is not about consent.
pub fn rpc_class(data: &ErrorData) -> ErrorClass {
    match data.code.0 {
        NOT_FOUND_CODE => ErrorClass::NotFound,
        -32001 => ErrorClass::Auth,
        -32600 | -32602 => ErrorClass::Config,
        -32601 | -32700 => ErrorClass::Protocol,
        _ => ErrorClass::Upstream,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_render_without_data() {
        assert_eq!(ErrorClass::Http(503).as_string(), "http_503");
        assert_eq!(ErrorClass::Timeout.to_string(), "timeout");
        assert_eq!(ErrorClass::ConsentRequired.as_string(), "consent_required");
        assert_eq!(ErrorClass::NotFound.as_string(), "not_found");
        assert_eq!(ErrorClass::InvalidConsentLink.as_string(), "invalid_consent_link");
    }

    #[test]
    fn permanence() {
        assert!(ErrorClass::NotFound.is_permanent());
        assert!(ErrorClass::Config.is_permanent());
        assert!(ErrorClass::InvalidName.is_permanent());
        assert!(!ErrorClass::Timeout.is_permanent());
        assert!(!ErrorClass::Auth.is_permanent());
        assert!(!ErrorClass::Http(503).is_permanent());
    }

    #[test]
    fn statuses_and_codes() {
        assert_eq!(status_class(401), ErrorClass::Auth);
        assert_eq!(status_class(403), ErrorClass::Auth);
        assert_eq!(status_class(404), ErrorClass::NotFound);
        assert_eq!(status_class(400), ErrorClass::Config);
        assert_eq!(status_class(503), ErrorClass::Http(503));
        let rpc = |code| rpc_class(&ErrorData::new(rmcp::model::ErrorCode(code), "x", None));
        assert_eq!(rpc(-32002), ErrorClass::NotFound);
        assert_eq!(rpc(-32602), ErrorClass::Config);
        assert_eq!(rpc(-32603), ErrorClass::Upstream);
        assert_eq!(rpc(-32601), ErrorClass::Protocol);
    }
}
