//! A fault-injecting mock of the Microsoft Foundry toolbox MCP proxy.
//!
//! It serves MCP over Streamable HTTP at `{prefix}/toolboxes/{name}/mcp` and
//! `{prefix}/toolboxes/{name}/versions/{v}/mcp`, tells users apart by the prefix of
//! `x-agent-foundry-call-id`, reproduces the proxy's per-user OAuth consent errors (at list time
//! and at call time), and injects faults (latency, hangs, HTTP statuses, expired tokens, dropped
//! connections, malformed answers, SSE streams cut mid-event). A [`Scenario`] says what to serve; [`MockProxy`] runs one in-process:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let proxy = agenthost_mock_proxy::MockProxy::start(agenthost_mock_proxy::demo_scenario()).await?;
//! let url = format!("{}/toolboxes/demo/mcp?api-version=v1", proxy.base_url());
//! // ... point an MCP client at `url`, then inspect `proxy.requests()` ...
//! proxy.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! It also serves the Foundry storage API (`{prefix}/storage/…?api-version=v1`: responses, items,
//! history and conversations, in memory, partitioned by the call id's user, requiring a bearer
//! token), so the `foundry` response store is tested offline.
//!
//! The crate README documents the scenario file format and the HTTP control routes.

#![warn(missing_docs)]

mod faults;
mod mcp;
mod routes;
mod scenario;
mod server;
mod state;
mod storage;
mod users;

use std::{net::SocketAddr, sync::Arc};

use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use mcp::CONSENT_REQUIRED;
pub use routes::TOOLBOX_NOT_FOUND_CODE;
pub use scenario::{
    Auth, Behaviour, ConsentErrorShape, FaultSpec, Mode, Placement, Scenario, ScenarioError, SourceSpec, ToolSpec,
    ToolboxSpec, demo_scenario,
};
pub use state::{CONTAINER_USER, RecordedRequest, StateSnapshot};
pub use storage::StorageRequest;

use state::{Shared, user_from_label};

/// A running mock proxy. Dropping it stops the server too; [`MockProxy::shutdown`] also waits.
#[derive(Debug)]
pub struct MockProxy {
    addr: SocketAddr,
    base_url: String,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    accept_loop: Option<JoinHandle<()>>,
}

impl MockProxy {
    /// Serves `scenario` on `127.0.0.1` on a free port.
    pub async fn start(scenario: Scenario) -> std::io::Result<MockProxy> {
        Self::start_on(scenario, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves `scenario` on `addr`. Fails if the scenario is invalid or the address can't be bound.
    pub async fn start_on(scenario: Scenario, addr: SocketAddr) -> std::io::Result<MockProxy> {
        scenario.validate()?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            std::net::IpAddr::V4(ip) => ip.to_string(),
        };
        let base_url = format!("http://{host}:{}", addr.port());
        let public_base = scenario.public_url.clone().unwrap_or_else(|| base_url.clone());
        let shared = Arc::new(Shared::new(scenario, public_base));
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let router = routes::router(shared.clone(), &shutdown);
        let accept_loop = tokio::spawn(server::serve(listener, router, shutdown.clone(), tracker.clone()));
        Ok(MockProxy { addr, base_url, shared, shutdown, tracker, accept_loop: Some(accept_loop) })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: a project endpoint; clients append
    /// `/toolboxes/{name}/mcp?api-version=v1`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// `{base_url}/toolboxes/{toolbox}/mcp?api-version=v1`.
    pub fn toolbox_url(&self, toolbox: &str) -> String {
        format!("{}/toolboxes/{toolbox}/mcp?api-version=v1", self.base_url)
    }

    /// Every MCP request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Grants `user` consent for `source` (also renews an expired token). `user` is the
    /// call-id prefix; `""` or `"container"` is the container identity.
    pub fn grant(&self, user: &str, source: &str) {
        self.shared.grant(&user_from_label(user), source);
    }

    /// Removes `user`'s consent for `source`, or for every source when `None`.
    pub fn revoke(&self, user: &str, source: Option<&str>) {
        self.shared.revoke(&user_from_label(user), source);
    }

    /// Expires `user`'s token now: every request gets HTTP 401 and the user's consents are
    /// forgotten, until [`MockProxy::grant`] or [`MockProxy::unexpire`].
    pub fn expire(&self, user: &str) {
        self.shared.expire(&user_from_label(user));
    }

    /// Renews `user`'s token without granting anything.
    pub fn unexpire(&self, user: &str) {
        self.shared.unexpire(&user_from_label(user));
    }

    /// Consents and expired tokens, per user.
    pub fn state(&self) -> StateSnapshot {
        self.shared.snapshot()
    }

    /// Forgets the log, consents, expiry and consent links, and rearms every fault.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Every call received on the storage routes so far, in order.
    pub fn storage_requests(&self) -> Vec<StorageRequest> {
        self.shared.storage.requests()
    }

    /// Empties the storage call log.
    pub fn clear_storage_requests(&self) {
        self.shared.storage.clear_requests();
    }

    /// Answers the next `count` storage calls with HTTP `status` (429 and 503 with
    /// `Retry-After: 0`); `count` 0 ends the fault.
    pub fn fail_storage(&self, status: u16, count: u32) {
        self.shared.storage.fail(status, count);
    }

    /// Forgets every stored response, item and conversation, the storage log and its fault.
    pub fn reset_storage(&self) {
        self.shared.storage.reset();
    }

    /// Stops accepting, closes every connection (including hanging ones) and waits for them.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(accept_loop) = self.accept_loop.take() {
            let _ = accept_loop.await;
        }
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for MockProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
