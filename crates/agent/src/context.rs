//! Per-request context, passed explicitly to everything that acts on behalf of a request.

use tokio_util::sync::CancellationToken;

pub use agenthost_platform::{TraceHeaders, UserKey};

use crate::telemetry::Telemetry;

/// What a request carries into the agent, its tools and its model.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The request's correlation id (`x-request-id`).
    pub request_id: String,
    /// The response being produced.
    pub response_id: String,
    /// Who the request acts for.
    pub user: UserKey,
    /// The platform's per-request call id, forwarded verbatim to Foundry services.
    pub call_id: Option<String>,
    /// The inbound W3C trace headers; outbound calls send the current span's context instead
    /// when [`RequestContext::telemetry`] traces (see [`Telemetry::outbound`]).
    pub trace: TraceHeaders,
    /// Where metrics and trace context go.
    pub telemetry: Telemetry,
    /// The request's log span (`request_id`, `trace_id`): tasks spawned for the request enter
    /// it so their log lines carry it.
    pub log_span: tracing::Span,
    /// Fires when the request is cancelled (client gone, cancel route, shutdown).
    pub cancel: CancellationToken,
    /// When the turn must be over.
    pub deadline: Option<tokio::time::Instant>,
}

impl RequestContext {
    /// Trace headers for an outbound call made now (see [`Telemetry::outbound`]).
    pub fn outbound_trace(&self) -> TraceHeaders {
        self.telemetry.outbound(&self.trace)
    }

    /// A context for a request with no platform headers (tests, local runs).
    pub fn local(response_id: impl Into<String>) -> Self {
        RequestContext {
            request_id: String::new(),
            response_id: response_id.into(),
            user: UserKey::anonymous(),
            call_id: None,
            trace: TraceHeaders::default(),
            telemetry: Telemetry::none(),
            log_span: tracing::Span::none(),
            cancel: CancellationToken::new(),
            deadline: None,
        }
    }
}
