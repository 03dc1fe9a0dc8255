//! `GET /readiness` and `GET /liveness`. Readiness is answered from in-memory state only: it never
//! does I/O.

use agenthost_toolbox::ToolboxState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

/// `GET /readiness`: ready once started, not draining, no toolbox pending and no required
/// toolbox unhealthy. The body lists each toolbox's state from cached state only.
pub async fn readiness(State(app): State<AppState>) -> impl IntoResponse {
    let (mut status, mut ready) = app.health.status();
    if ready && !app.store_health.is_ready() {
        (status, ready) = ("unready", false);
    }
    let toolboxes = app.toolboxes.readiness();
    if ready && !toolboxes.ready {
        let pending = toolboxes.toolboxes.iter().any(|t| t.state == ToolboxState::Pending);
        (status, ready) = (if pending { "starting" } else { "unready" }, false);
    }
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = json!({ "status": status, "toolboxes": toolboxes.toolboxes });
    // The memory store is always usable; a database or storage service's state is reported.
    if app.durable.is_some() || app.foundry.is_some() {
        body["store"] = app.store_health.report();
    }
    (code, Json(body))
}

/// `GET /liveness`.
pub async fn liveness() -> impl IntoResponse {
    Json(json!({ "status": "alive" }))
}
