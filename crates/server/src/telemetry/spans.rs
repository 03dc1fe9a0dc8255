//! The server's spans: the HTTP server span of each request (continuing the caller's W3C
//! trace), the log-only `request` span that puts `request_id` and `trace_id` on every log line,
//! and `invoke_agent {agent}` around each run.

use std::sync::LazyLock;

use agenthost_agent::Model;
use agenthost_agent::telemetry::SPAN_TARGET;
use agenthost_responses::{Response, ResponseStatus};
use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, Version};
use axum::response::Response as HttpResponse;
use futures::StreamExt;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{Extractor, TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of the log-only `request` span.
pub const LOG_TARGET: &str = "agenthost::request";

/// `gen_ai.provider.name` of a hosted agent, as Foundry's own SDK stamps it.
const HOSTED_PROVIDER: &str = "AzureAI Hosted Agents";

/// W3C TraceContext and Baggage.
pub fn propagator() -> &'static TextMapCompositePropagator {
    static PROPAGATOR: LazyLock<TextMapCompositePropagator> = LazyLock::new(|| {
        TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ])
    });
    &PROPAGATOR
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The spans of one HTTP request.
#[derive(Clone, Debug)]
pub struct RequestSpans {
    /// `{method} {route}` (SERVER), exported.
    pub server: Span,
    /// `request{request_id, trace_id}`, for the log only.
    pub log: Span,
}

impl RequestSpans {
    /// No spans (health probes).
    pub fn none() -> Self {
        RequestSpans { server: Span::none(), log: Span::none() }
    }

    /// Opens the server span as a child of the caller's `traceparent` (with its `tracestate` and
    /// `baggage`), and the log span under it.
    pub fn start(
        method: &Method,
        route: Option<&str>,
        headers: &HeaderMap,
        version: Version,
        request_id: &str,
    ) -> Self {
        let name = match route {
            Some(route) => format!("{method} {route}"),
            None => method.to_string(),
        };
        let protocol = match version {
            Version::HTTP_10 => "1.0",
            Version::HTTP_11 => "1.1",
            Version::HTTP_2 => "2",
            Version::HTTP_3 => "3",
            _ => "",
        };
        let server = tracing::info_span!(
            target: SPAN_TARGET,
            "http_server",
            otel.name = %name,
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = %method,
            http.route = route,
            url.scheme = "http",
            network.protocol.name = "http",
            network.protocol.version = protocol,
            http.response.status_code = Empty,
            error.type = Empty,
        );
        let parent = propagator().extract(&Headers(headers));
        let caller_trace = parent.span().span_context().trace_id();
        if parent.span().span_context().is_valid() || !parent.baggage().is_empty() {
            // Fails only when no OpenTelemetry layer is installed, and then nothing is traced.
            let _ = server.set_parent(parent);
        }
        // Untraced (no OpenTelemetry layer), the log still names the caller's trace.
        let trace_id = match server.context().span().span_context().trace_id() {
            opentelemetry::trace::TraceId::INVALID => caller_trace,
            traced => traced,
        };
        let log = tracing::info_span!(target: LOG_TARGET, parent: &server, "request", request_id, trace_id = Empty);
        if trace_id != opentelemetry::trace::TraceId::INVALID {
            log.record("trace_id", tracing::field::display(trace_id));
        }
        RequestSpans { server, log }
    }

    /// Records the status; a 5xx is an error (`error.type` is the status code). An event stream
    /// keeps the server span open until its last event is sent.
    pub fn finish(&self, response: &mut HttpResponse) {
        let status = response.status();
        self.server.record("http.response.status_code", i64::from(status.as_u16()));
        if status.is_server_error() {
            self.server.record("error.type", status.as_str());
            self.server.record("otel.status_code", "error");
        }
        let streaming = response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if streaming && status == StatusCode::OK && !self.server.is_disabled() {
            let span = self.server.clone();
            let body = std::mem::replace(response.body_mut(), Body::empty());
            // A span ends when it is last exited: entering it per event makes it end with the
            // last event sent.
            *response.body_mut() = Body::from_stream(body.into_data_stream().map(move |chunk| {
                let _sent = span.enter();
                chunk
            }));
        }
    }
}

/// What the `invoke_agent` span describes.
pub struct AgentRun<'a> {
    /// `gen_ai.agent.name`.
    pub agent_name: &'a str,
    /// `gen_ai.response.id`.
    pub response_id: &'a str,
    /// `gen_ai.conversation.id`, when the request names a conversation.
    pub conversation_id: Option<&'a str>,
    /// The model the agent calls.
    pub model: &'a dyn Model,
    /// `stream: true`.
    pub streaming: bool,
    /// `x-request-id`.
    pub request_id: &'a str,
    /// The response's `agent_session_id`.
    pub session_id: Option<&'a str>,
    /// Hosted by Foundry: Foundry's attributes and baggage are added.
    pub hosted: bool,
    /// `gen_ai.agent.id`, when the platform names the agent and its version.
    pub agent_id: Option<String>,
    /// `gen_ai.agent.version`.
    pub agent_version: Option<&'a str>,
    /// `microsoft.foundry.project.id`.
    pub project_id: Option<&'a str>,
}

/// Opens `invoke_agent {agent}` (INTERNAL) as a child of the current span (the request's server
/// span). When hosted it carries Foundry's attributes and baggage.
pub fn invoke_agent_span(run: &AgentRun<'_>) -> Span {
    let hosted = run.hosted;
    let provider = if hosted { HOSTED_PROVIDER } else { run.model.gen_ai_provider() };
    // `x-request-id` is at most 256 printable ASCII characters (see `PlatformRequest`).
    let request_id = run.request_id;
    let span = tracing::info_span!(
        target: SPAN_TARGET,
        "invoke_agent",
        otel.name = %format_args!("invoke_agent {}", run.agent_name),
        otel.kind = "internal",
        otel.status_code = Empty,
        gen_ai.operation.name = "invoke_agent",
        gen_ai.provider.name = provider,
        gen_ai.agent.name = run.agent_name,
        gen_ai.agent.id = run.agent_id.as_deref(),
        gen_ai.agent.version = run.agent_version,
        gen_ai.request.model = run.model.model_name(),
        gen_ai.response.id = run.response_id,
        gen_ai.conversation.id = run.conversation_id,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
        microsoft.foundry.project.id = run.project_id,
        microsoft.session.id = run.session_id.filter(|_| hosted),
        request.id = Some(request_id).filter(|_| hosted),
        azure.ai.agentserver.responses.response_id = Some(run.response_id).filter(|_| hosted),
        azure.ai.agentserver.responses.conversation_id = run.conversation_id.filter(|_| hosted),
        azure.ai.agentserver.responses.streaming = Some(run.streaming).filter(|_| hosted),
    );
    if hosted {
        let cx = opentelemetry::Context::current();
        let mut baggage = opentelemetry::baggage::Baggage::new();
        for (key, (value, metadata)) in cx.baggage() {
            baggage.insert_with_metadata(key.clone(), value.clone(), metadata.clone());
        }
        baggage.insert("azure.ai.agentserver.response_id", run.response_id.to_string());
        if let Some(conversation) = run.conversation_id {
            baggage.insert("azure.ai.agentserver.conversation_id", conversation.to_string());
        }
        baggage.insert("azure.ai.agentserver.streaming", if run.streaming { "True" } else { "False" });
        baggage.insert("azure.ai.agentserver.x-request-id", request_id.to_string());
        let _ = span.set_parent(cx.with_baggage(baggage));
    }
    span
}

/// Records the run's outcome: usage, and for a failed response `error.type` (its error code)
/// with an error status. Consent (`incomplete`) and cancellation are not errors.
pub fn finish_invoke_agent(span: &Span, response: &Response) {
    if let Some(usage) = &response.usage {
        span.record("gen_ai.usage.input_tokens", i64::try_from(usage.input_tokens).unwrap_or(i64::MAX));
        span.record("gen_ai.usage.output_tokens", i64::try_from(usage.output_tokens).unwrap_or(i64::MAX));
    }
    if response.status == ResponseStatus::Failed {
        let code = response.error.as_ref().map_or("error", |e| e.code.as_str());
        span.record("error.type", code);
        span.record("otel.status_code", "error");
    }
}
