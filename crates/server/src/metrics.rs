//! Prometheus metrics, served on their own listener.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use agenthost_store::StoreStats;

/// Every metric this server exports. Cheap to clone (handles are `Arc`s).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `http_server_request_duration_seconds{method,route,status}`.
    pub http_duration: HistogramVec,
    /// `http_server_active_requests{method}`.
    pub http_active: IntGaugeVec,
    /// `agenthost_responses_total{status}`.
    pub responses: IntCounterVec,
    /// `agenthost_sse_streams_open`.
    pub sse_open: IntGauge,
    /// `agenthost_response_duration_seconds`.
    pub response_duration: Histogram,
    store_responses: IntGauge,
    store_bytes: IntGauge,
    store_evictions: IntCounter,
}

const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

fn reg<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    // Names are static and unique, so registration cannot fail; a failure would only lose the metric.
    if let Err(e) = registry.register(Box::new(metric.clone())) {
        tracing::error!("metric registration failed: {e}");
    }
    metric
}

impl Metrics {
    /// A fresh registry with every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let build = IntGaugeVec::new(Opts::new("agenthost_build_info", "Build information; always 1."), &["version"])?;
        reg(&registry, build.clone()).with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Ok(Metrics {
            http_duration: reg(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new("http_server_request_duration_seconds", "Duration of HTTP server requests.")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                    &["http_request_method", "http_route", "http_response_status_code"],
                )?,
            ),
            http_active: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new("http_server_active_requests", "HTTP server requests in flight."),
                    &["http_request_method"],
                )?,
            ),
            responses: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new("agenthost_responses_total", "Responses finished, by terminal status."),
                    &["status"],
                )?,
            ),
            sse_open: reg(&registry, IntGauge::new("agenthost_sse_streams_open", "Server-sent event streams open.")?),
            response_duration: reg(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new("agenthost_response_duration_seconds", "Time from creation to terminal event.")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                )?,
            ),
            store_responses: reg(&registry, IntGauge::new("agenthost_store_responses", "Responses in the store.")?),
            store_bytes: reg(&registry, IntGauge::new("agenthost_store_bytes", "Approximate bytes in the store.")?),
            store_evictions: reg(
                &registry,
                IntCounter::new("agenthost_store_evictions_total", "Responses evicted from the store (cap or TTL).")?,
            ),
            registry,
        })
    }

    /// Counts an open SSE stream until the guard drops.
    pub fn sse_open_guard(&self) -> SseOpen {
        self.sse_open.inc();
        SseOpen(self.sse_open.clone())
    }

    /// The text exposition, with store gauges refreshed from `stats`.
    pub fn render(&self, stats: StoreStats) -> String {
        self.store_responses.set(stats.responses as i64);
        self.store_bytes.set(stats.bytes as i64);
        let seen = self.store_evictions.get();
        if stats.evictions > seen {
            self.store_evictions.inc_by(stats.evictions - seen);
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!("metrics encoding failed: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Decrements the open-stream gauge on drop.
pub struct SseOpen(IntGauge);

impl Drop for SseOpen {
    fn drop(&mut self) {
        self.0.dec();
    }
}
