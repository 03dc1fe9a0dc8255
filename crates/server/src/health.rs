//! Readiness and liveness. Readiness is answered from in-memory state only: it never does I/O.

use std::sync::atomic::{AtomicU8, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use agenthost_toolbox::ToolboxState;

use crate::state::AppState;

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;

/// The server's lifecycle as probes see it.
#[derive(Default)]
pub struct Health {
    phase: AtomicU8,
}

impl Health {
    /// Startup work is done.
    pub fn set_ready(&self) {
        let _ = self.phase.compare_exchange(STARTING, READY, Ordering::AcqRel, Ordering::Acquire);
    }

    /// SIGTERM arrived: unready for good, no new responses.
    pub fn start_draining(&self) {
        self.phase.store(DRAINING, Ordering::Release);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.phase.load(Ordering::Acquire) == DRAINING
    }

    fn status(&self) -> (&'static str, bool) {
        match self.phase.load(Ordering::Acquire) {
            READY => ("ready", true),
            DRAINING => ("draining", false),
            _ => ("starting", false),
        }
    }
}

/// `GET /readiness`: ready once started, not draining, no toolbox pending and no required
/// toolbox unhealthy. The body lists each toolbox's state from cached state only.
pub async fn readiness(State(app): State<AppState>) -> impl IntoResponse {
    let (mut status, mut ready) = app.health.status();
    let toolboxes = app.toolboxes.readiness();
    if ready && !toolboxes.ready {
        let pending = toolboxes.toolboxes.iter().any(|t| t.state == ToolboxState::Pending);
        (status, ready) = (if pending { "starting" } else { "unready" }, false);
    }
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(json!({ "status": status, "toolboxes": toolboxes.toolboxes })))
}

/// `GET /liveness`.
pub async fn liveness() -> impl IntoResponse {
    Json(json!({ "status": "alive" }))
}
