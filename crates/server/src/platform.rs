//! Platform headers: the per-request context the platform sends (§2), the headers every answer
//! carries (§1.5), the error envelope rendering, HTTP metrics, and the request's spans (the
//! traced server span and the `request` log span). One middleware does all of it so each
//! request is inspected once.

use std::time::Instant;

use agenthost_agent::{TraceHeaders, UserKey};
use agenthost_store::Caller;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::error::{ErrorBody, ErrorSource};
use crate::state::AppState;
use crate::telemetry::RequestSpans;

/// `x-platform-server`.
pub const SERVER_IDENTITY: &str = concat!("agenthost/", env!("CARGO_PKG_VERSION"), " (rust)");

/// What the platform told us about one request. Built once at the edge and passed explicitly.
#[derive(Clone, Debug)]
pub struct PlatformRequest {
    /// `x-request-id`, or a new one.
    pub request_id: String,
    /// `x-agent-user-id`.
    pub user: UserKey,
    /// `x-agent-foundry-call-id`.
    pub call_id: Option<String>,
    /// `x-agent-response-id`.
    pub response_id: Option<String>,
    /// W3C trace context.
    pub trace: TraceHeaders,
}

// Parsed once: a lookup by `&str` parses and hashes the name on every request.
static X_AGENT_USER_ID: HeaderName = HeaderName::from_static("x-agent-user-id");
static X_AGENT_FOUNDRY_CALL_ID: HeaderName = HeaderName::from_static("x-agent-foundry-call-id");
static X_AGENT_RESPONSE_ID: HeaderName = HeaderName::from_static("x-agent-response-id");
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
static BAGGAGE: HeaderName = HeaderName::from_static("baggage");

fn header_str(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    // UTF-8, not only visible ASCII: a non-ASCII user id is a distinct user, never anonymous.
    let v = std::str::from_utf8(headers.get(name)?.as_bytes()).ok()?.trim();
    (!v.is_empty()).then(|| v.to_string())
}

impl PlatformRequest {
    /// The user and call id, as store operations need them.
    pub fn caller(&self) -> Caller {
        Caller::new(self.user.clone(), self.call_id.as_deref())
    }

    /// Reads the platform headers of a request.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let request_id = header_str(headers, &X_REQUEST_ID)
            .filter(|v| v.len() <= 256 && v.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or_else(new_request_id);
        PlatformRequest {
            request_id,
            user: header_str(headers, &X_AGENT_USER_ID).map(|u| UserKey::new(&u)).unwrap_or_default(),
            call_id: header_str(headers, &X_AGENT_FOUNDRY_CALL_ID),
            response_id: header_str(headers, &X_AGENT_RESPONSE_ID),
            trace: TraceHeaders {
                traceparent: header_str(headers, &TRACEPARENT),
                tracestate: header_str(headers, &TRACESTATE),
                baggage: header_str(headers, &BAGGAGE),
            },
        }
    }
}

fn new_request_id() -> String {
    let n: u128 = rand::random();
    format!("{n:032x}")
}

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_PLATFORM_SERVER: HeaderName = HeaderName::from_static("x-platform-server");
static X_ERROR_SOURCE: HeaderName = HeaderName::from_static("x-platform-error-source");

/// The middleware: context in, headers and error envelope out, metrics recorded.
pub async fn platform_middleware(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let refused = crate::limits::check_platform_headers(req.headers()).err();
    let platform = PlatformRequest::from_headers(req.headers());
    let request_id = platform.request_id.clone();
    req.extensions_mut().insert(platform);
    // Probes are neither traced nor logged.
    let spans = match route.as_deref() {
        Some("/readiness" | "/liveness") => RequestSpans::none(),
        _ => RequestSpans::start(&method, route.as_deref(), req.headers(), req.version(), &request_id),
    };
    req.extensions_mut().insert(spans.clone());

    let active = app.metrics.http_active.with_label_values(&[method.as_str()]);
    active.inc();
    let mut response = match refused {
        Some(error) => axum::response::IntoResponse::into_response(error),
        None => next.run(req).instrument(spans.log.clone()).instrument(spans.server.clone()).await,
    };
    active.dec();

    if let Some(error) = response.extensions_mut().remove::<ErrorBody>() {
        if error.status.is_server_error() {
            let _log = spans.log.enter();
            tracing::warn!(code = error.code, "request failed: {}", error.message);
        }
        let body = serde_json::to_vec(&error.envelope(&request_id)).unwrap_or_default();
        *response.body_mut() = Body::from(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(X_ERROR_SOURCE.clone(), HeaderValue::from_static(error.source.as_str()));
    } else if response.status().is_client_error() || response.status().is_server_error() {
        let source = if response.status().is_client_error() { ErrorSource::User } else { ErrorSource::Platform };
        response.headers_mut().entry(X_ERROR_SOURCE.clone()).or_insert(HeaderValue::from_static(source.as_str()));
    }
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(X_REQUEST_ID.clone(), v);
    }
    headers.insert(X_PLATFORM_SERVER.clone(), HeaderValue::from_static(SERVER_IDENTITY));

    spans.finish(&mut response);
    let status = response.status().as_u16().to_string();
    app.metrics
        .http_duration
        .with_label_values(&[method.as_str(), route.as_deref().unwrap_or("unmatched"), &status])
        .observe(started.elapsed().as_secs_f64());
    response
}
