//! The telemetry seam shared by the agent, toolbox and model crates.
//!
//! Library crates describe what happened through a [`Telemetry`] handle (metrics events, the
//! trace context of the current span for outbound calls, whether message content may be
//! recorded); the server implements [`Recorder`] with Prometheus and OpenTelemetry. Spans are
//! plain `tracing` spans with target [`SPAN_TARGET`] whose fields carry the OpenTelemetry
//! semantic-convention attribute names (`otel.name`, `otel.kind`, `gen_ai.*`, `mcp.*`), so these
//! crates depend on neither OpenTelemetry nor Prometheus. Without a recorder every call is a
//! no-op and outbound calls forward the inbound trace headers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use agenthost_platform::TraceHeaders;

/// The `tracing` target of every span meant for OpenTelemetry (not for the log).
pub const SPAN_TARGET: &str = "agenthost::otel";

/// Metric label of toolboxes opened lazily from request markers (keeps label sets bounded).
pub const MARKER_LABEL: &str = "(marker)";

/// How one toolbox listing ended, for `agenthost_toolbox_listings_total{outcome}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListingOutcome {
    /// Tools listed.
    Ok,
    /// Sources need a user's consent.
    ConsentRequired,
    /// A request stopped waiting (its deadline or cancellation); the listing went on without it.
    Deferred,
    /// Any other failure.
    Error,
}

impl ListingOutcome {
    /// The label value: `ok`, `consent_required`, `deferred` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListingOutcome::Ok => "ok",
            ListingOutcome::ConsentRequired => "consent_required",
            ListingOutcome::Deferred => "deferred",
            ListingOutcome::Error => "error",
        }
    }
}

/// One finished MCP client operation (`mcp.client.operation.duration`).
#[derive(Clone, Copy, Debug)]
pub struct McpOperation<'a> {
    /// `tools/list`, `tools/call`, `initialize`.
    pub method: &'a str,
    /// The tool of a `tools/call` (a bounded label: [`MARKER_LABEL`] for marker toolboxes).
    pub tool: Option<&'a str>,
    /// `None` on success, else a stable class (`consent_required`, `tool_error`, `timeout`, ...).
    pub error_type: Option<&'a str>,
    /// How long it took.
    pub duration: Duration,
}

/// One finished model call (`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`).
#[derive(Clone, Copy, Debug)]
pub struct ModelCall<'a> {
    /// `gen_ai.provider.name`.
    pub provider: &'a str,
    /// `gen_ai.request.model` (the configured model, never a client-chosen string).
    pub model: &'a str,
    /// `None` on success, else the model error code (`rate_limited`, ...) or `cancelled`.
    pub error_type: Option<&'a str>,
    /// How long it took.
    pub duration: Duration,
    /// Input and output tokens, when the model reported them.
    pub tokens: Option<(u64, u64)>,
}

/// What the server does with telemetry events. Every method has a no-op default.
pub trait Recorder: Send + Sync {
    /// A model call finished.
    fn model_call(&self, _call: &ModelCall<'_>) {}
    /// An MCP operation finished.
    fn mcp_operation(&self, _op: &McpOperation<'_>) {}
    /// A toolbox listing ended (`toolbox` is a bounded label).
    fn toolbox_listing(&self, _toolbox: &str, _outcome: ListingOutcome) {}
    /// A consent request was emitted to a user.
    fn consent_requested(&self, _toolbox: &str) {}
    /// A toolbox proxy request is being retried.
    fn toolbox_retry(&self, _toolbox: &str, _operation: &str) {}
    /// W3C headers (`traceparent`, `tracestate`, `baggage`) of the current span, for an
    /// outbound call; `None` when there is no valid current span.
    fn current_trace(&self) -> Option<TraceHeaders> {
        None
    }
    /// Sets a string-array attribute on `span` (e.g. `gen_ai.response.finish_reasons`).
    fn set_span_strings(&self, _span: &tracing::Span, _key: &'static str, _values: &[&str]) {}
    /// Whether message content may be recorded on spans (opt-in).
    fn capture_content(&self) -> bool {
        false
    }
}

/// A cheap, cloneable handle to the server's [`Recorder`], or nothing.
#[derive(Clone, Default)]
pub struct Telemetry(Option<Arc<dyn Recorder>>);

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Telemetry(recorder)" } else { "Telemetry(none)" })
    }
}

impl Telemetry {
    /// A handle reporting to `recorder`.
    pub fn new(recorder: Arc<dyn Recorder>) -> Self {
        Telemetry(Some(recorder))
    }

    /// A handle that reports nothing.
    pub fn none() -> Self {
        Telemetry(None)
    }

    /// See [`Recorder::model_call`].
    pub fn model_call(&self, call: &ModelCall<'_>) {
        if let Some(r) = &self.0 {
            r.model_call(call);
        }
    }

    /// See [`Recorder::mcp_operation`].
    pub fn mcp_operation(&self, op: &McpOperation<'_>) {
        if let Some(r) = &self.0 {
            r.mcp_operation(op);
        }
    }

    /// See [`Recorder::toolbox_listing`].
    pub fn toolbox_listing(&self, toolbox: &str, outcome: ListingOutcome) {
        if let Some(r) = &self.0 {
            r.toolbox_listing(toolbox, outcome);
        }
    }

    /// See [`Recorder::consent_requested`].
    pub fn consent_requested(&self, toolbox: &str) {
        if let Some(r) = &self.0 {
            r.consent_requested(toolbox);
        }
    }

    /// See [`Recorder::toolbox_retry`].
    pub fn toolbox_retry(&self, toolbox: &str, operation: &str) {
        if let Some(r) = &self.0 {
            r.toolbox_retry(toolbox, operation);
        }
    }

    /// See [`Recorder::set_span_strings`].
    pub fn set_span_strings(&self, span: &tracing::Span, key: &'static str, values: &[&str]) {
        if let Some(r) = &self.0 {
            r.set_span_strings(span, key, values);
        }
    }

    /// See [`Recorder::capture_content`].
    pub fn capture_content(&self) -> bool {
        self.0.as_ref().is_some_and(|r| r.capture_content())
    }

    /// See [`Recorder::current_trace`].
    pub fn current_trace(&self) -> Option<TraceHeaders> {
        self.0.as_ref().and_then(|r| r.current_trace())
    }

    /// The trace headers for an outbound call: the current span's context, else `inbound`
    /// (the request's own headers) when nothing is being traced.
    pub fn outbound(&self, inbound: &TraceHeaders) -> TraceHeaders {
        self.current_trace().unwrap_or_else(|| inbound.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Recorder for Fixed {
        fn current_trace(&self) -> Option<TraceHeaders> {
            Some(TraceHeaders { traceparent: Some("00-a-b-01".into()), ..TraceHeaders::default() })
        }
    }

    #[test]
    fn outbound_prefers_the_current_span() {
        let inbound = TraceHeaders { traceparent: Some("in".into()), ..TraceHeaders::default() };
        assert_eq!(Telemetry::none().outbound(&inbound), inbound);
        let t = Telemetry::new(Arc::new(Fixed));
        assert_eq!(t.outbound(&inbound).traceparent.as_deref(), Some("00-a-b-01"));
        assert!(!t.capture_content());
        assert_eq!(format!("{t:?}"), "Telemetry(recorder)");
        assert_eq!(ListingOutcome::ConsentRequired.as_str(), "consent_required");
    }
}
