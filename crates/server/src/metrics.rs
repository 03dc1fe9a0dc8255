//! Prometheus metrics, served on their own listener.
//!
//! Names follow Prometheus conventions (base units, `_total` counters, `_seconds` histograms) and,
//! where OpenTelemetry defines the metric, its name with dots as underscores
//! (`http_server_*`, `gen_ai_client_*`, `mcp_client_*`); our own carry the `agenthost_` prefix.
//! No label carries a user id, conversation id, URL or tool arguments; toolboxes opened from
//! request markers share the label `(marker)`. Toolbox state and tool counts are read from the
//! toolboxes' readiness at scrape time.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use agenthost_agent::telemetry::{ListingOutcome, McpOperation, ModelCall};
use agenthost_store::StoreStats;
use agenthost_toolbox::{ToolboxReadiness, ToolboxState};

/// Every metric this server exports. Cheap to clone (handles are `Arc`s).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `http_server_request_duration_seconds{http_request_method,http_route,http_response_status_code}`.
    pub http_duration: HistogramVec,
    /// `http_server_active_requests{http_request_method}`.
    pub http_active: IntGaugeVec,
    /// `agenthost_responses_total{status}`.
    pub responses: IntCounterVec,
    /// `agenthost_sse_streams_open`.
    pub sse_open: IntGauge,
    /// `agenthost_response_duration_seconds`.
    pub response_duration: Histogram,
    consent_requests: IntCounterVec,
    toolbox_state: IntGaugeVec,
    toolbox_tools: IntGaugeVec,
    toolbox_listings: IntCounterVec,
    toolbox_retries: IntCounterVec,
    mcp_duration: HistogramVec,
    model_duration: HistogramVec,
    model_tokens: HistogramVec,
    store_responses: IntGauge,
    store_bytes: IntGauge,
    store_evictions: IntCounter,
    runtime_tasks: IntGauge,
}

const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// OpenTelemetry's advice for `mcp.client.operation.duration`.
const MCP_BUCKETS: &[f64] = &[0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
/// OpenTelemetry's advice for `gen_ai.client.operation.duration`.
const GEN_AI_DURATION_BUCKETS: &[f64] =
    &[0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
/// OpenTelemetry's advice for `gen_ai.client.token.usage`: powers of 4 from 1 to 4^13.
const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];

/// Every toolbox state, with its `state` label value.
const STATES: [(ToolboxState, &str); 6] = [
    (ToolboxState::NoEndpoint, "no_endpoint"),
    (ToolboxState::Pending, "pending"),
    (ToolboxState::Healthy, "healthy"),
    (ToolboxState::ConsentRequired, "consent_required"),
    (ToolboxState::Degraded, "degraded"),
    (ToolboxState::Unhealthy, "unhealthy"),
];

const OUTCOMES: [ListingOutcome; 4] =
    [ListingOutcome::Ok, ListingOutcome::ConsentRequired, ListingOutcome::Deferred, ListingOutcome::Error];

/// `metric`, registered only when `register` (unregistered, it is updated but never exported).
fn reg_if<T: prometheus::core::Collector + Clone + 'static>(register: bool, registry: &Registry, metric: T) -> T {
    if register { reg(registry, metric) } else { metric }
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    // Names are static and unique, so registration cannot fail; a failure would only lose the metric.
    if let Err(e) = registry.register(Box::new(metric.clone())) {
        tracing::error!("metric registration failed: {e}");
    }
    metric
}

fn histogram(name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> Result<HistogramVec, prometheus::Error> {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)
}

fn counter(name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec, prometheus::Error> {
    IntCounterVec::new(Opts::new(name, help), labels)
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec, prometheus::Error> {
    IntGaugeVec::new(Opts::new(name, help), labels)
}

impl Metrics {
    /// A fresh registry with every metric; the store's size and eviction metrics only when
    /// `store_counts` (a store that cannot count, the Foundry storage API, exports none rather
    /// than a constant 0).
    pub fn with_store_counts(store_counts: bool) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let r = &registry;
        let build = gauge("agenthost_build_info", "Build information; always 1.", &["version"])?;
        reg(r, build).with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Ok(Metrics {
            http_duration: reg(
                r,
                histogram(
                    "http_server_request_duration_seconds",
                    "Duration of HTTP server requests.",
                    LATENCY_BUCKETS,
                    &["http_request_method", "http_route", "http_response_status_code"],
                )?,
            ),
            http_active: reg(
                r,
                gauge("http_server_active_requests", "HTTP server requests in flight.", &["http_request_method"])?,
            ),
            responses: reg(
                r,
                counter("agenthost_responses_total", "Responses finished, by terminal status.", &["status"])?,
            ),
            sse_open: reg(r, IntGauge::new("agenthost_sse_streams_open", "Server-sent event streams open.")?),
            response_duration: reg(
                r,
                Histogram::with_opts(
                    HistogramOpts::new("agenthost_response_duration_seconds", "Time from creation to terminal event.")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                )?,
            ),
            consent_requests: reg(
                r,
                counter("agenthost_consent_requests_total", "Consent requests emitted to users.", &["toolbox"])?,
            ),
            toolbox_state: reg(
                r,
                gauge(
                    "agenthost_toolbox_state",
                    "Toolbox state: 1 for the current state, 0 for the others.",
                    &["toolbox", "state"],
                )?,
            ),
            toolbox_tools: reg(
                r,
                gauge("agenthost_toolbox_tools", "Tools a toolbox shares with every user.", &["toolbox"])?,
            ),
            toolbox_listings: reg(
                r,
                counter("agenthost_toolbox_listings_total", "Toolbox listings, by outcome.", &["toolbox", "outcome"])?,
            ),
            toolbox_retries: reg(
                r,
                counter(
                    "agenthost_toolbox_retries_total",
                    "Toolbox proxy requests sent again.",
                    &["toolbox", "operation"],
                )?,
            ),
            mcp_duration: reg(
                r,
                histogram(
                    "mcp_client_operation_duration_seconds",
                    "Duration of MCP client operations.",
                    MCP_BUCKETS,
                    &["mcp_method_name", "gen_ai_tool_name", "error_type"],
                )?,
            ),
            model_duration: reg(
                r,
                histogram(
                    "gen_ai_client_operation_duration_seconds",
                    "Duration of model calls.",
                    GEN_AI_DURATION_BUCKETS,
                    &["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"],
                )?,
            ),
            model_tokens: reg(
                r,
                histogram(
                    "gen_ai_client_token_usage",
                    "Tokens per model call, by type.",
                    TOKEN_BUCKETS,
                    &["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"],
                )?,
            ),
            store_responses: reg_if(
                store_counts,
                r,
                IntGauge::new("agenthost_store_responses", "Responses in the store.")?,
            ),
            store_bytes: reg_if(
                store_counts,
                r,
                IntGauge::new("agenthost_store_bytes", "Approximate bytes in the store.")?,
            ),
            store_evictions: reg_if(
                store_counts,
                r,
                IntCounter::new("agenthost_store_evictions_total", "Responses evicted from the store (cap or TTL).")?,
            ),
            runtime_tasks: reg(
                r,
                IntGauge::new("agenthost_runtime_alive_tasks", "Tasks alive on the server's tokio runtime.")?,
            ),
            registry,
        })
    }

    /// Starts the per-toolbox counters at zero for the configured toolboxes, so rates exist from
    /// the first scrape.
    pub fn register_toolboxes<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        for name in names {
            self.consent_requests.with_label_values(&[name]);
            for outcome in OUTCOMES {
                self.toolbox_listings.with_label_values(&[name, outcome.as_str()]);
            }
            for operation in ["initialize", "tools/list", "tools/call"] {
                self.toolbox_retries.with_label_values(&[name, operation]);
            }
        }
    }

    /// Counts an open SSE stream until the guard drops.
    pub fn sse_open_guard(&self) -> SseOpen {
        self.sse_open.inc();
        SseOpen(self.sse_open.clone())
    }

    /// Records a finished model call.
    pub fn model_call(&self, call: &ModelCall<'_>) {
        let error = call.error_type.unwrap_or("");
        self.model_duration
            .with_label_values(&["chat", call.provider, call.model, error])
            .observe(call.duration.as_secs_f64());
        if let Some((input, output)) = call.tokens {
            for (kind, n) in [("input", input), ("output", output)] {
                self.model_tokens.with_label_values(&["chat", call.provider, call.model, kind]).observe(n as f64);
            }
        }
    }

    /// Records a finished MCP operation.
    pub fn mcp_operation(&self, op: &McpOperation<'_>) {
        self.mcp_duration
            .with_label_values(&[op.method, op.tool.unwrap_or(""), op.error_type.unwrap_or("")])
            .observe(op.duration.as_secs_f64());
    }

    /// Counts a toolbox listing by outcome.
    pub fn toolbox_listing(&self, toolbox: &str, outcome: ListingOutcome) {
        self.toolbox_listings.with_label_values(&[toolbox, outcome.as_str()]).inc();
    }

    /// Counts a consent request emitted to a user.
    pub fn consent_requested(&self, toolbox: &str) {
        self.consent_requests.with_label_values(&[toolbox]).inc();
    }

    /// Counts a retried toolbox request.
    pub fn toolbox_retry(&self, toolbox: &str, operation: &str) {
        self.toolbox_retries.with_label_values(&[toolbox, operation]).inc();
    }

    /// The text exposition, with store and toolbox gauges refreshed from `stats` and `toolboxes`.
    pub fn render(&self, stats: StoreStats, toolboxes: &ToolboxReadiness) -> String {
        self.store_responses.set(i64::try_from(stats.responses).unwrap_or(i64::MAX));
        self.store_bytes.set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
        let seen = self.store_evictions.get();
        if stats.evictions > seen {
            self.store_evictions.inc_by(stats.evictions - seen);
        }
        for t in &toolboxes.toolboxes {
            for (state, label) in STATES {
                self.toolbox_state.with_label_values(&[&t.name, label]).set(i64::from(t.state == state));
            }
            self.toolbox_tools.with_label_values(&[&t.name]).set(i64::try_from(t.tools).unwrap_or(i64::MAX));
        }
        // A task left behind by a finished request shows here as growth between idle scrapes.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.runtime_tasks.set(i64::try_from(runtime.metrics().num_alive_tasks()).unwrap_or(i64::MAX));
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

#[cfg(test)]
mod tests;
