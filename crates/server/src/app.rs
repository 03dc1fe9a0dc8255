//! Shared state and the router.

use std::sync::Arc;

use agenthost_agent::{Model, Telemetry};
use agenthost_store::ResponseStore;
use agenthost_toolbox::Toolboxes;
use axum::Router;
use axum::extract::State;
use axum::middleware;
use axum::routing::{get, post};
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::error::ApiError;
use crate::health::{self, Health};
use crate::input_items;
use crate::metrics::Metrics;
use crate::routes;
use crate::run::Runs;

/// Long-lived handles shared by every request. Nothing request-specific lives here.
pub struct App {
    /// Validated configuration.
    pub config: Config,
    /// Where responses are kept.
    pub store: Arc<dyn ResponseStore>,
    /// The agent's model.
    pub model: Arc<dyn Model>,
    /// Toolboxes: the agent's tools, per request and per user.
    pub toolboxes: Arc<Toolboxes>,
    /// Live runs.
    pub runs: Runs,
    /// Probe state.
    pub health: Health,
    /// Metrics.
    pub metrics: Metrics,
    /// What the library crates report to (metrics, trace context), passed in every request's
    /// context.
    pub telemetry: Telemetry,
    /// Every run task, so shutdown can wait for them.
    pub tracker: TaskTracker,
}

/// Cheap-to-clone handle to [`App`].
pub type AppState = Arc<App>;

/// The API router: Responses routes (also under the configured prefix) and health probes.
pub fn router(app: AppState) -> Router {
    let responses = Router::new()
        .route("/responses", post(routes::create))
        .route("/responses/{id}", get(routes::get).delete(routes::delete))
        .route("/responses/{id}/cancel", post(routes::cancel))
        .route("/responses/{id}/input_items", get(input_items::input_items));
    let mut api = Router::new()
        .route("/readiness", get(health::readiness))
        .route("/liveness", get(health::liveness))
        .merge(responses.clone());
    if let Some(prefix) = &app.config.route_prefix {
        api = api.nest(prefix, responses);
    }
    api.fallback(|| async { ApiError::route_not_found() })
        .layer(middleware::from_fn_with_state(app.clone(), crate::platform::platform_middleware))
        .with_state(app)
}

/// The metrics router, served on its own listener.
pub fn metrics_router(app: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(app): State<AppState>| async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    app.metrics.render(app.store.stats(), &app.toolboxes.readiness()),
                )
            }),
        )
        .with_state(app)
}
