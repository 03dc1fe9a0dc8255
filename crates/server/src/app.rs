//! The routers: the API (Responses routes, probes) and the metrics listener.

use axum::Router;
use axum::extract::State;
use axum::middleware;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::state::AppState;
use crate::{conversations, create, probes, read};

/// The API router: Responses routes (also under the configured prefix) and health probes.
pub fn router(app: AppState) -> Router {
    let responses = Router::new()
        .route("/responses", post(create::create))
        .route("/responses/{id}", get(read::get).delete(read::delete))
        .route("/responses/{id}/cancel", post(read::cancel))
        .route("/responses/{id}/input_items", get(read::input_items));
    let responses = if app.config.conversations_api { responses.merge(conversation_routes()) } else { responses };
    let mut api = Router::new()
        .route("/readiness", get(probes::readiness))
        .route("/liveness", get(probes::liveness))
        .merge(responses.clone());
    if let Some(prefix) = &app.config.route_prefix {
        api = api.nest(prefix, responses);
    }
    if app.config.playground {
        api = api.merge(crate::playground::router());
    }
    api.fallback(|| async { ApiError::RouteNotFound })
        .layer(middleware::from_fn_with_state(app.clone(), crate::platform::platform_middleware))
        .with_state(app)
}

/// The Conversations API routes.
fn conversation_routes() -> Router<AppState> {
    Router::new()
        .route("/conversations", post(conversations::create))
        .route("/conversations/{id}", get(conversations::get).post(conversations::update).delete(conversations::delete))
        .route("/conversations/{id}/items", get(conversations::list_items).post(conversations::add_items))
        .route("/conversations/{id}/items/{item_id}", get(conversations::get_item).delete(conversations::delete_item))
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
