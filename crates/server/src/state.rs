//! The long-lived handles every request shares. Nothing request-specific lives here.

use std::sync::Arc;

use agenthost_agent::{Model, Telemetry};
use agenthost_store::ResponseStore;
use agenthost_toolbox::Toolboxes;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::health::{Health, StoreHealth};
use crate::metrics::Metrics;
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
    /// Request `mcp` servers by URL: their connection pool.
    pub remote_mcp: agenthost_remote_mcp::RemoteMcp,
    /// Live runs.
    pub runs: Runs,
    /// Probe state.
    pub health: Health,
    /// Whether the store is usable.
    pub store_health: StoreHealth,
    /// The database store, for its startup connection and periodic sweep (`None`: memory).
    pub durable: Option<Arc<agenthost_store_postgres::PostgresStore>>,
    /// The Foundry storage store, for its startup check and periodic liveness check (`None`:
    /// another store).
    pub foundry: Option<Arc<agenthost_store_foundry::FoundryStore>>,
    /// Metrics.
    pub metrics: Metrics,
    /// What the library crates report to (metrics, trace context), passed in every request's
    /// context.
    pub telemetry: Telemetry,
    /// Every run task, so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// The caps on concurrent runs and open streams, and the body deadline.
    pub admission: crate::limits::Admission,
}

/// Cheap-to-clone handle to [`App`].
pub type AppState = Arc<App>;
