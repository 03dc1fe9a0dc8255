//! The HTTP side of the proxy client: an rmcp [`StreamableHttpClient`] around `reqwest` that puts
//! the right headers on every request and retries what is safe to retry.
//!
//! Headers, on every POST, GET and DELETE (initialize and notifications included):
//! * exactly one `Authorization: Bearer <token>`, fetched from the provider for each HTTP
//!   request (the provider caches) — rmcp's own static `auth_header` is never used;
//! * `Foundry-Features` (the mandatory flag merged with configured extras);
//! * the request's `x-agent-foundry-call-id` and W3C trace headers, when the message carries a
//!   [`PerRequest`] in its extensions (the caller side puts it there), or — for `initialize`
//!   and `notifications/initialized`, which rmcp builds itself — the headers of the request
//!   that opened the connection.
//!
//! `x-agent-user-id` is never sent. Retries follow [`crate::retry`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agenthost_identity::{TOOLBOX_SCOPE, TokenProvider};
use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ClientNotification, GetExtensions};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;
use tokio::time::Instant;

use crate::retry;
use crate::settings::RetryPolicy;

/// The mandatory feature flag of the toolbox proxy.
pub const MANDATORY_FEATURE: &str = "Toolboxes=V1Preview";

/// Per-request header values and deadline, carried in an MCP message's extensions.
#[derive(Clone, Debug, Default)]
pub struct PerRequest {
    /// `x-agent-foundry-call-id`.
    pub call_id: Option<HeaderValue>,
    /// `traceparent`, `tracestate`, `baggage`.
    pub trace: Vec<(HeaderName, HeaderValue)>,
    /// When retries must stop.
    pub deadline: Option<Instant>,
    /// The MCP client span of the operation, which learns the session id here.
    pub span: Option<tracing::Span>,
}

impl PerRequest {
    /// Header values from a request's context; values that are not valid headers are dropped.
    pub fn new(call_id: Option<&str>, trace: &agenthost_agent::TraceHeaders, deadline: Option<Instant>) -> Self {
        let call_id = call_id.map(str::trim).filter(|s| !s.is_empty()).and_then(|s| HeaderValue::from_str(s).ok());
        Self { call_id, trace: trace_headers(trace), deadline, span: None }
    }
}

/// The valid, non-blank W3C trace headers of `trace`.
pub fn trace_headers(trace: &agenthost_agent::TraceHeaders) -> Vec<(HeaderName, HeaderValue)> {
    let value =
        |v: Option<&String>| v.map(|s| s.trim()).filter(|s| !s.is_empty()).and_then(|s| HeaderValue::from_str(s).ok());
    let mut headers = Vec::new();
    for (name, v) in
        [("traceparent", &trace.traceparent), ("tracestate", &trace.tracestate), ("baggage", &trace.baggage)]
    {
        if let Some(v) = value(v.as_ref()) {
            headers.push((HeaderName::from_static(name), v));
        }
    }
    headers
}

/// `Foundry-Features`: the mandatory flag, then the extras (comma list), without duplicates.
pub fn features_value(extra: Option<&str>) -> String {
    let mut parts: Vec<&str> = vec![MANDATORY_FEATURE];
    for part in extra.unwrap_or_default().split(',').map(str::trim) {
        if !part.is_empty() && !parts.iter().any(|p| p.eq_ignore_ascii_case(part)) {
            parts.push(part);
        }
    }
    parts.join(",")
}

/// Why a request could not be sent or was refused, beyond what rmcp models.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHttpError {
    /// The HTTP client failed (connect, broken connection, ...).
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The token provider failed; the string is its error, which never holds a secret.
    #[error("no token for the toolbox proxy: {0}")]
    Token(String),
    /// The proxy refused the request with this status and no JSON-RPC body rmcp could use
    /// (e.g. 401 without `WWW-Authenticate`); the body is dropped.
    #[error("HTTP {0}")]
    Status(u16),
}

/// What every connection shares.
pub struct HttpShared {
    /// The pooled-less reqwest client (rmcp's defaults: no idle pool, no redirects).
    pub client: reqwest::Client,
    /// Where tokens come from.
    pub token: Arc<dyn TokenProvider>,
    /// The `Foundry-Features` value.
    pub features: HeaderValue,
    /// Retry tuning.
    pub retry: RetryPolicy,
    /// Default deadline of a message without a [`PerRequest`].
    pub request_timeout: Duration,
    /// Where retries are counted and trace context comes from.
    pub telemetry: agenthost_agent::Telemetry,
}

/// The [`StreamableHttpClient`] of one connection.
#[derive(Clone)]
pub struct ProxyHttp {
    shared: Arc<HttpShared>,
    /// Headers of the request that opened the connection, for the handshake messages.
    opener: Arc<PerRequest>,
    /// The toolbox's metric label.
    label: Arc<str>,
}

impl ProxyHttp {
    /// A client for one connection of the toolbox labelled `label`, opened on behalf of `opener`.
    pub fn new(shared: Arc<HttpShared>, opener: PerRequest, label: Arc<str>) -> Self {
        Self { shared, opener: Arc::new(opener), label }
    }

    /// The per-request values of `message`: its own, or the opener's for handshake messages.
    fn per_request<'a>(&'a self, message: &'a ClientJsonRpcMessage) -> Option<&'a PerRequest> {
        match message {
            ClientJsonRpcMessage::Request(r) => match r.request.extensions().get::<PerRequest>() {
                Some(p) => Some(p),
                None => matches!(r.request, rmcp::model::ClientRequest::InitializeRequest(_))
                    .then_some(self.opener.as_ref()),
            },
            ClientJsonRpcMessage::Notification(n) => match n.notification.extensions().get::<PerRequest>() {
                Some(p) => Some(p),
                None => matches!(n.notification, ClientNotification::InitializedNotification(_))
                    .then_some(self.opener.as_ref()),
            },
            _ => None,
        }
    }

    /// The headers of one attempt: rmcp's, minus anything we own, plus ours.
    async fn headers(
        &self,
        mut base: HashMap<HeaderName, HeaderValue>,
        per: Option<&PerRequest>,
    ) -> Result<HashMap<HeaderName, HeaderValue>, StreamableHttpError<ProxyHttpError>> {
        let token = self
            .shared
            .token
            .token(TOOLBOX_SCOPE)
            .await
            .map_err(|e| StreamableHttpError::Client(ProxyHttpError::Token(e.to_string())))?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.secret().expose())).map_err(|_| {
            StreamableHttpError::Client(ProxyHttpError::Token("the token is not a valid header value".into()))
        })?;
        for name in [
            http::header::AUTHORIZATION.as_str(),
            "foundry-features",
            "x-agent-foundry-call-id",
            "x-agent-user-id",
            "traceparent",
            "tracestate",
            "baggage",
        ] {
            base.retain(|k, _| k.as_str() != name);
        }
        bearer.set_sensitive(true);
        base.insert(http::header::AUTHORIZATION, bearer);
        base.insert(HeaderName::from_static("foundry-features"), self.shared.features.clone());
        if let Some(per) = per {
            if let Some(call_id) = &per.call_id {
                base.insert(HeaderName::from_static("x-agent-foundry-call-id"), call_id.clone());
            }
            for (name, value) in &per.trace {
                base.insert(name.clone(), value.clone());
            }
        }
        Ok(base)
    }
}

fn method_of(message: &ClientJsonRpcMessage) -> (String, bool) {
    match message {
        ClientJsonRpcMessage::Request(r) => (r.request.method().to_owned(), false),
        ClientJsonRpcMessage::Notification(n) => {
            let name = match n.notification {
                ClientNotification::CancelledNotification(_) => "notifications/cancelled",
                ClientNotification::InitializedNotification(_) => "notifications/initialized",
                ClientNotification::ProgressNotification(_) => "notifications/progress",
                _ => "notifications/other",
            };
            (name.to_owned(), true)
        }
        _ => ("response".to_owned(), true),
    }
}

/// Moves an error of the inner reqwest client into this client's error type, reducing bodies of
/// refused requests to their status.
fn lift(error: StreamableHttpError<reqwest::Error>) -> StreamableHttpError<ProxyHttpError> {
    use StreamableHttpError as E;
    match error {
        E::Sse(e) => E::Sse(e),
        E::Io(e) => E::Io(e),
        E::Client(e) => E::Client(ProxyHttpError::Http(e)),
        E::HttpStatus(e) => E::HttpStatus(e),
        E::UnexpectedEndOfStream => E::UnexpectedEndOfStream,
        E::UnexpectedServerResponse(text) => match status_prefix(&text) {
            Some(status) => E::Client(ProxyHttpError::Status(status)),
            None => E::UnexpectedServerResponse(text),
        },
        E::ResponseBodyTooLarge { max_size } => E::ResponseBodyTooLarge { max_size },
        E::UnexpectedContentType(c) => E::UnexpectedContentType(c),
        E::ServerDoesNotSupportSse => E::ServerDoesNotSupportSse,
        E::ServerDoesNotSupportDeleteSession => E::ServerDoesNotSupportDeleteSession,
        E::TokioJoinError(e) => E::TokioJoinError(e),
        E::Deserialize(e) => E::Deserialize(e),
        E::TransportChannelClosed => E::TransportChannelClosed,
        E::MissingSessionIdInResponse => E::MissingSessionIdInResponse,
        E::AuthRequired(e) => E::AuthRequired(e),
        E::InsufficientScope(e) => E::InsufficientScope(e),
        E::ReservedHeaderConflict(h) => E::ReservedHeaderConflict(h),
        E::SessionExpired => E::SessionExpired,
        E::SessionRecoveryTimeout => E::SessionRecoveryTimeout,
        E::ReinitializationFailed(e) => E::ReinitializationFailed(e),
        E::ControlRequestTimeout => E::ControlRequestTimeout,
        other => E::UnexpectedServerResponse(other.to_string().into()),
    }
}

/// `HTTP 401 Unauthorized: ...` → 401 (how rmcp reports statuses it does not model).
fn status_prefix(text: &str) -> Option<u16> {
    let rest = text.strip_prefix("HTTP ")?;
    let code = rest.get(..3)?.parse::<u16>().ok()?;
    (400..=599).contains(&code).then_some(code)
}

impl StreamableHttpClient for ProxyHttp {
    type Error = ProxyHttpError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.post_message_with_max_sse_event_size(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            // rmcp's default limit; the worker always calls the sized variant.
            8 * 1024 * 1024,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let (method, is_notification) = method_of(&message);
        let repeat = retry::repeat_class(&method, is_notification);
        let per = self.per_request(&message);
        let started = Instant::now();
        let deadline =
            per.and_then(|p| p.deadline).filter(|d| *d > started).unwrap_or(started + self.shared.request_timeout);
        if let (Some(span), Some(session)) = (per.and_then(|p| p.span.as_ref()), session_id.as_deref()) {
            span.record("mcp.session.id", session);
        }
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let headers = self.headers(custom_headers.clone(), per).await?;
            let result = self
                .shared
                .client
                .post_message_with_max_sse_event_size(
                    uri.clone(),
                    message.clone(),
                    session_id.clone(),
                    None,
                    headers,
                    max_sse_event_size,
                )
                .await;
            let error = match result {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            if attempt < self.shared.retry.max_attempts {
                let verdict = retry::verdict(&error, repeat, reqwest::Error::is_connect);
                let remaining = deadline.saturating_duration_since(Instant::now());
                if let Some(delay) = retry::delay_for(&self.shared.retry, &verdict, attempt, remaining) {
                    tracing::debug!(
                        method = %method,
                        attempt,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error = %crate::redact::redact_urls(&error.to_string()),
                        "retrying toolbox request"
                    );
                    self.shared.telemetry.toolbox_retry(&self.label, &method);
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            return Err(lift(error));
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let headers = self.headers(custom_headers, None).await?;
        self.shared.client.delete_session(uri, session_id, None, headers).await.map_err(lift)
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            8 * 1024 * 1024,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let headers = self.headers(custom_headers, None).await?;
        self.shared
            .client
            .get_stream_with_max_sse_event_size(uri, session_id, last_event_id, None, headers, max_sse_event_size)
            .await
            .map_err(lift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_merge_without_duplicates() {
        assert_eq!(features_value(None), "Toolboxes=V1Preview");
        assert_eq!(features_value(Some("")), "Toolboxes=V1Preview");
        assert_eq!(features_value(Some("feature1, feature2")), "Toolboxes=V1Preview,feature1,feature2");
        assert_eq!(
            features_value(Some("toolboxes=v1preview,feature1,FEATURE1, ,Toolboxes=V1Preview")),
            "Toolboxes=V1Preview,feature1"
        );
    }

    #[test]
    fn per_request_drops_blank_and_invalid_values() {
        let trace = agenthost_agent::TraceHeaders {
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            tracestate: Some("  ".into()),
            baggage: Some("bad\nvalue".into()),
        };
        let per = PerRequest::new(Some(" alice:1 "), &trace, None);
        assert_eq!(per.call_id, Some(HeaderValue::from_static("alice:1")));
        assert_eq!(per.trace.len(), 1);
        assert_eq!(per.trace[0].0.as_str(), "traceparent");
        assert!(PerRequest::new(Some("  "), &trace, None).call_id.is_none());
    }

    #[test]
    fn status_prefixes() {
        assert_eq!(status_prefix("HTTP 401 Unauthorized: {\"x\":1}"), Some(401));
        assert_eq!(status_prefix("HTTP 404 Not Found: nope"), Some(404));
        assert_eq!(status_prefix("HTTP 200 OK"), None);
        assert_eq!(status_prefix("expect json"), None);
    }
}
