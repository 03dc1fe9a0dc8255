//! Logs and traces: the `tracing` subscriber (structured logs to stderr, spans to
//! OpenTelemetry) and its settings.
//!
//! * Logs: text or JSON, filtered by `RUST_LOG` (default `info`). Each line inside a request
//!   carries the `request` span's `request_id` and `trace_id`.
//! * Traces: spans with target [`SPAN_TARGET`] go to OpenTelemetry only (never to the log).
//!   With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) they are
//!   exported over OTLP/HTTP protobuf by a batch processor with a bounded queue (spans are dropped
//!   when it is full; a failing collector costs a log line). Without an endpoint (and not hosted
//!   by Foundry, whose baggage and attributes ride on the spans) no span is built at all, as with
//!   `OTEL_SDK_DISABLED=true`: outbound calls forward the caller's trace headers as they came, and
//!   log lines carry the caller's trace id. Building spans nobody exports was 15–20 % of the
//!   request path's CPU (issue 12's profile).
//!
//! The SDK itself also reads `OTEL_BSP_*` (batch queue 2048 spans, batches of 512 every 5 s),
//! `OTEL_EXPORTER_OTLP_TIMEOUT` (10 s) and `OTEL_SPAN_*_LIMIT`.

mod recorder;
mod settings;
mod spans;

#[cfg(test)]
mod otlp_tests;
#[cfg(test)]
mod span_tests;

use std::sync::Arc;
use std::time::Duration;

use agenthost_agent::telemetry::SPAN_TARGET;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanExporter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

pub use recorder::ServerRecorder;
pub use settings::Settings;
pub use spans::{AgentRun, LOG_TARGET, RequestSpans, finish_invoke_agent, invoke_agent_span};

/// How long shutdown may spend flushing spans.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Owns the tracer provider; [`Tracing::shutdown`] flushes what is queued.
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl Tracing {
    /// Flushes and stops the exporter. Blocks (up to a few seconds): call it outside the async
    /// runtime or through `spawn_blocking`.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::debug!("trace exporter shutdown: {e}");
        }
    }
}

/// Installs the global subscriber: logs (`json` or text) and OpenTelemetry spans, the latter
/// only when they are exported or the server is `hosted` (see the module docs).
pub fn init(settings: &Settings, json: bool, hosted: bool) -> Tracing {
    let (provider, problem) = match exporter(settings) {
        Ok(Some(exporter)) => (provider(settings, Some(LoggedExporter::new(exporter))), None),
        Ok(None) => (provider::<LoggedExporter<opentelemetry_otlp::SpanExporter>>(settings, None), None),
        Err(e) => (provider::<LoggedExporter<opentelemetry_otlp::SpanExporter>>(settings, None), Some(e)),
    };
    let logs: Box<dyn Layer<Registry> + Send + Sync> = if json {
        Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_writer(std::io::stderr),
        )
    } else {
        // Colour only for a person at a terminal: a file or a pipe gets plain text.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Box::new(tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr))
    };
    let subscriber = Registry::default().with(logs.with_filter(log_filter()));
    let traced = !settings.disabled && (settings.otlp_traces_url.is_some() || hosted);
    let otel = traced.then(|| otel_layer(&provider));
    if subscriber.with(otel).try_init().is_err() {
        eprintln!("agenthost: a tracing subscriber was already installed");
    }
    match (&settings.otlp_traces_url, problem) {
        (_, Some(e)) => tracing::error!("traces are not exported: {e}"),
        (Some(url), None) => tracing::info!(endpoint = %redact_query(url), "exporting traces over OTLP/HTTP"),
        (None, None) => {}
    }
    Tracing { provider }
}

/// The OpenTelemetry layer: only spans with target [`SPAN_TARGET`], without the tracing-specific
/// extras (code location, thread, timings, target).
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("agenthost"))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_target(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.target() == SPAN_TARGET))
}

/// `RUST_LOG` (default `info`), never OpenTelemetry-only spans, always the request span.
fn log_filter() -> EnvFilter {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let mut filter = filter;
    for directive in [format!("{SPAN_TARGET}=off"), format!("{LOG_TARGET}=info")] {
        match directive.parse() {
            Ok(d) => filter = filter.add_directive(d),
            Err(e) => eprintln!("agenthost: bad log directive {directive}: {e}"),
        }
    }
    filter
}

/// The tracer provider: the resource, the sampler, and the batch exporter if any.
pub fn provider<E: SpanExporter + 'static>(settings: &Settings, exporter: Option<E>) -> SdkTracerProvider {
    let mut builder = SdkTracerProvider::builder().with_resource(resource(settings)).with_sampler(settings.sampler());
    if let Some(exporter) = exporter {
        // Defaults: a queue of 2048 spans (new spans are dropped when it is full), batches of 512,
        // every 5 s; `OTEL_BSP_*` override them.
        let config = BatchConfigBuilder::default().build();
        builder = builder.with_span_processor(BatchSpanProcessor::builder(exporter).with_batch_config(config).build());
    }
    builder.build()
}

/// `service.name` (`OTEL_SERVICE_NAME`, else `OTEL_RESOURCE_ATTRIBUTES`, else `agenthost`), the
/// other `OTEL_RESOURCE_ATTRIBUTES`, `service.version`.
fn resource(settings: &Settings) -> Resource {
    let attributes = settings.resource.iter().map(|(k, v)| opentelemetry::KeyValue::new(k.clone(), v.clone()));
    Resource::builder_empty()
        .with_attributes(attributes)
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_service_name(settings.service_name.clone())
        .build()
}

/// The OTLP/HTTP exporter, when an endpoint is configured.
fn exporter(settings: &Settings) -> Result<Option<opentelemetry_otlp::SpanExporter>, String> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let Some(url) = &settings.otlp_traces_url else {
        return Ok(None);
    };
    let headers = settings.otlp_headers.iter().cloned().collect();
    // reqwest is built without a default TLS provider; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url.clone())
        .with_headers(headers)
        .build()
        .map(Some)
        .map_err(|e| e.to_string())
}

/// `url` without its query (which may carry a key).
fn redact_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

/// Logs the first failed export and the recovery, not every batch.
#[derive(Debug)]
pub struct LoggedExporter<E> {
    inner: E,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl<E> LoggedExporter<E> {
    /// Wraps `inner`.
    pub fn new(inner: E) -> Self {
        LoggedExporter { inner, failing: Arc::default() }
    }
}

impl<E: SpanExporter> SpanExporter for LoggedExporter<E> {
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        use std::sync::atomic::Ordering;
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Err(e) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(spans, "trace export failed (further failures are not logged): {e}");
            }
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => tracing::info!("trace export recovered"),
            _ => {}
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
