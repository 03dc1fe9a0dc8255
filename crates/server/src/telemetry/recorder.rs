//! [`ServerRecorder`]: the server's side of the telemetry seam. Events become Prometheus
//! metrics; the trace context of the current span is injected for outbound calls.

use std::collections::HashMap;

use agenthost_agent::TraceHeaders;
use agenthost_agent::telemetry::{ListingOutcome, McpOperation, ModelCall, Recorder};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Array, StringValue, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::metrics::Metrics;
use crate::telemetry::spans::propagator;

/// Metrics and trace context for the library crates.
pub struct ServerRecorder {
    metrics: Metrics,
    capture_content: bool,
}

impl ServerRecorder {
    /// Reports to `metrics`; records message content on spans only if `capture_content`.
    pub fn new(metrics: Metrics, capture_content: bool) -> Self {
        ServerRecorder { metrics, capture_content }
    }
}

impl Recorder for ServerRecorder {
    fn model_call(&self, call: &ModelCall<'_>) {
        self.metrics.model_call(call);
    }

    fn mcp_operation(&self, op: &McpOperation<'_>) {
        self.metrics.mcp_operation(op);
    }

    fn toolbox_listing(&self, toolbox: &str, outcome: ListingOutcome) {
        self.metrics.toolbox_listing(toolbox, outcome);
    }

    fn consent_requested(&self, toolbox: &str) {
        self.metrics.consent_requested(toolbox);
    }

    fn toolbox_retry(&self, toolbox: &str, operation: &str) {
        self.metrics.toolbox_retry(toolbox, operation);
    }

    fn current_trace(&self) -> Option<TraceHeaders> {
        let mut cx = tracing::Span::current().context();
        if !cx.span().span_context().is_valid() {
            // The current span is not traced (e.g. the log-only request span): the innermost
            // entered traced span.
            cx = opentelemetry::Context::current();
        }
        if !cx.span().span_context().is_valid() {
            return None;
        }
        let mut carrier: HashMap<String, String> = HashMap::new();
        propagator().inject_context(&cx, &mut carrier);
        Some(TraceHeaders {
            traceparent: carrier.remove("traceparent"),
            tracestate: carrier.remove("tracestate"),
            baggage: carrier.remove("baggage"),
        })
    }

    fn set_span_strings(&self, span: &tracing::Span, key: &'static str, values: &[&str]) {
        let values: Vec<StringValue> = values.iter().map(|v| StringValue::from(v.to_string())).collect();
        span.set_attribute(key, Value::Array(Array::String(values)));
    }

    fn capture_content(&self) -> bool {
        self.capture_content
    }
}
