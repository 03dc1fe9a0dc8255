//! Test support: the app in-process (router driven with `oneshot`, no listener) under a
//! subscriber that records finished spans in memory.

use std::collections::HashMap;
use std::sync::Arc;

use agenthost_identity::{StaticToken, TokenProvider};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

use crate::app::router;
pub use crate::cli::ServeArgs;
use crate::config::{Config, Env};
use crate::serve;
pub use crate::state::AppState;

/// Environment variables for a test.
pub struct Vars(pub HashMap<String, String>);

impl Env for Vars {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}

/// `vars` as an environment.
pub fn vars(vars: &[(&str, &str)]) -> Vars {
    Vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// The app for `args` and `env`, toolboxes started (static toolbox token), ready to serve.
pub async fn app(args: ServeArgs, env: &Vars) -> AppState {
    let config = Config::from_args(&args, None, env).expect("test configuration");
    let token: Arc<dyn TokenProvider> = Arc::new(StaticToken::new("test-token"));
    let app = serve::build(config, Some(token)).expect("app builds");
    app.toolboxes.start();
    let mut changed = app.toolboxes.subscribe();
    while !app.toolboxes.readiness().ready {
        changed.changed().await.expect("toolboxes alive");
    }
    app
}

/// Settings with toolboxes served by the mock proxy at `proxy`.
pub fn toolbox_args(proxy: &str, toolbox: &str) -> ServeArgs {
    ServeArgs {
        toolboxes: vec![toolbox.into()],
        project_endpoint: Some(proxy.into()),
        allow_loopback_consent_links: Some("true".into()),
        ..ServeArgs::default()
    }
}

/// POSTs `body` to `path` with `headers`; the status and the body (JSON, or text for SSE).
pub async fn post(
    app: &AppState,
    path: &str,
    body: serde_json::Value,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut request = Request::post(path).header("content-type", "application/json");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request.body(Body::from(body.to_string())).expect("request");
    let response = router(app.clone()).oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Waits until every run task has ended (and its spans closed).
pub async fn settle(app: &AppState) {
    app.tracker.close();
    app.tracker.wait().await;
    app.tracker.reopen();
}

/// Spans recorded by a subscriber installed for the current thread.
pub struct Recorded {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

/// Installs, for this thread, the same OpenTelemetry layer as the server, exporting to memory.
pub fn record_spans() -> Recorded {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let subscriber = tracing_subscriber::registry().with(crate::telemetry::otel_layer(&provider));
    let guard = tracing::subscriber::set_default(subscriber);
    Recorded { exporter, _provider: provider, _guard: guard }
}

impl Recorded {
    /// Every finished span.
    pub fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().expect("in-memory exporter")
    }

    /// The finished spans of the trace whose root (server) span is named `root`, in end order.
    pub fn trace(&self, root: &str) -> Vec<SpanData> {
        let spans = self.spans();
        let trace = spans.iter().find(|s| s.name == root).map(|s| s.span_context.trace_id());
        let trace = trace.unwrap_or(TraceId::INVALID);
        spans.into_iter().filter(|s| s.span_context.trace_id() == trace).collect()
    }
}

/// The span named `name` among `spans`.
pub fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name:?} in {:?}", names(spans)))
}

/// Span names.
pub fn names(spans: &[SpanData]) -> Vec<String> {
    spans.iter().map(|s| s.name.to_string()).collect()
}

/// The attribute `key` of `span`, as text.
pub fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv: &&KeyValue| kv.key.as_str() == key).map(|kv| match &kv.value {
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    })
}

/// Whether `child`'s parent is `parent`.
pub fn is_child(child: &SpanData, parent: &SpanData) -> bool {
    child.parent_span_id == parent.span_context.span_id() && parent.span_context.span_id() != SpanId::INVALID
}
