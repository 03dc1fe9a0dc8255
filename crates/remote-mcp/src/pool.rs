//! Pooled MCP connections to request `mcp` servers, one per (URL, credentials).
//!
//! Requests with the same server and the same credentials share a connection; different
//! credentials never do (the key holds them, in memory only). Opening is single-flighted per key
//! and runs in its own task with its own deadline; the pool's lock is never held across I/O.
//! Connections idle longer than the idle timeout are closed, and past the bound the least
//! recently used one makes room.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agenthost_single_flight::{Flights, Join};
use parking_lot::Mutex;
use rmcp::RoleClient;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotification, CancelledNotificationParam,
    ClientCapabilities, ClientConfig, ClientNotification, ClientRequest, Implementation, InitializeRequestParams,
    JsonObject, ListToolsRequest, PaginatedRequestParams, ProtocolVersion, ServerResult, Tool,
};
use rmcp::service::{ClientCacheConfig, Peer, PeerRequestOptions, RunningService, serve_client};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::McpError;
use crate::legacy_sse::LegacySse;
use crate::spec::{Credentials, ServerSpec};

/// Most pages of one `tools/list`.
const MAX_PAGES: usize = 64;
/// How long closing a connection may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Limits of the pool and its operations.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Opening a connection (`initialize`).
    pub connect_timeout: Duration,
    /// One `tools/list` (all pages).
    pub list_timeout: Duration,
    /// One `tools/call`.
    pub call_timeout: Duration,
    /// A connection unused this long is closed.
    pub idle_timeout: Duration,
    /// Most open connections.
    pub max_connections: usize,
    /// Longest `mcp_call` output, in bytes.
    pub max_output_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            connect_timeout: Duration::from_secs(10),
            list_timeout: Duration::from_secs(15),
            call_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(300),
            max_connections: 64,
            max_output_bytes: 1024 * 1024,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    url: String,
    credentials: Credentials,
}

struct Conn {
    peer: Peer<RoleClient>,
    running: tokio::sync::Mutex<Option<RunningService<RoleClient, ClientConfig>>>,
}

impl Conn {
    fn is_alive(&self) -> bool {
        !self.peer.is_transport_closed()
    }

    async fn close(&self) {
        if let Some(mut running) = self.running.lock().await.take() {
            let _ = running.close_with_timeout(CLOSE_TIMEOUT).await;
        }
    }
}

struct Entry {
    conn: Arc<Conn>,
    last_used: Instant,
}

/// The pool.
pub struct Pool {
    client: reqwest::Client,
    settings: Settings,
    info: ClientConfig,
    conns: Mutex<HashMap<Key, Entry>>,
    opening: Arc<Flights<Key, Result<Arc<Conn>, McpError>>>,
}

impl Pool {
    /// A pool whose connections go through `client` (which carries the outbound-safety guard).
    pub fn new(client: reqwest::Client, settings: Settings) -> Arc<Self> {
        let info = InitializeRequestParams::new(
            ClientCapabilities::default(),
            Implementation::new("agenthost", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::V_2025_06_18);
        Arc::new(Pool { client, settings, info, conns: Mutex::new(HashMap::new()), opening: Flights::new() })
    }

    /// The pool's limits.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Open connections.
    pub fn open_connections(&self) -> usize {
        self.conns.lock().len()
    }

    /// Every tool of the server (following cursors), re-trying once on a fresh connection when
    /// the pooled one turned out dead.
    pub async fn list(self: &Arc<Self>, spec: &ServerSpec, cancel: &CancellationToken) -> Result<Vec<Tool>, McpError> {
        let deadline = Instant::now() + self.settings.list_timeout;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.list_once(spec, cancel, deadline).await {
                Err(e) if e.is_connection_lost() && tries < 2 => continue,
                other => return other,
            }
        }
    }

    async fn list_once(
        self: &Arc<Self>,
        spec: &ServerSpec,
        cancel: &CancellationToken,
        deadline: Instant,
    ) -> Result<Vec<Tool>, McpError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let params = PaginatedRequestParams::default().with_cursor(cursor.clone());
            let request = ClientRequest::ListToolsRequest(ListToolsRequest::with_param(params));
            let page = match self.request(spec, request, cancel, deadline).await? {
                ServerResult::ListToolsResult(page) => page,
                _ => return Err(McpError::Protocol("tools/list got an answer of another kind".into())),
            };
            tools.extend(page.tools);
            match page.next_cursor {
                None => return Ok(tools),
                Some(next) if !seen.insert(next.clone()) => {
                    return Err(McpError::Protocol("tools/list repeated a cursor".into()));
                }
                Some(next) => cursor = Some(next),
            }
        }
        Err(McpError::Protocol(format!("tools/list returned more than {MAX_PAGES} pages")))
    }

    /// Calls `tool` once (a call that may have reached the server is never re-sent).
    pub async fn call(
        self: &Arc<Self>,
        spec: &ServerSpec,
        tool: &str,
        arguments: JsonObject,
        cancel: &CancellationToken,
        deadline: Option<Instant>,
    ) -> Result<CallToolResult, McpError> {
        let own = Instant::now() + self.settings.call_timeout;
        let deadline = deadline.map_or(own, |d| d.min(own));
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        match self.request(spec, request, cancel, deadline).await? {
            ServerResult::CallToolResult(result) => Ok(result),
            _ => Err(McpError::Protocol("tools/call got an answer of another kind".into())),
        }
    }

    async fn request(
        self: &Arc<Self>,
        spec: &ServerSpec,
        request: ClientRequest,
        cancel: &CancellationToken,
        deadline: Instant,
    ) -> Result<ServerResult, McpError> {
        let had_credentials = !spec.credentials.headers.is_empty();
        let key = Key { url: spec.url.clone(), credentials: spec.credentials.clone() };
        let conn = self.conn(&key, cancel, deadline).await?;
        let timeout = deadline.saturating_duration_since(Instant::now());
        let sent = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(McpError::Cancelled),
            () = tokio::time::sleep_until(deadline) => return Err(McpError::Timeout(timeout)),
            sent = conn.peer.send_request_with_option(request, PeerRequestOptions::no_options()) => sent,
        };
        let handle = match sent {
            Ok(handle) => handle,
            Err(e) => {
                let e = McpError::from_service(&e, had_credentials);
                if e.is_connection_lost() {
                    self.forget(&key, &conn);
                }
                return Err(e);
            }
        };
        let id = handle.id.clone();
        let outcome = tokio::select! {
            biased;
            () = cancel.cancelled() => Err(McpError::Cancelled),
            () = tokio::time::sleep_until(deadline) => Err(McpError::Timeout(timeout)),
            response = handle.await_response() => Ok(response),
        };
        match outcome {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e)) => {
                let e = McpError::from_service(&e, had_credentials);
                if e.is_connection_lost() {
                    self.forget(&key, &conn);
                }
                Err(e)
            }
            Err(e) => {
                // The server frees the request's work and slot.
                let why = e.to_string();
                let peer = conn.peer.clone();
                tokio::spawn(async move {
                    let note = CancelledNotification::new(CancelledNotificationParam::new(Some(id), Some(why)));
                    let send = peer.send_notification(ClientNotification::CancelledNotification(note));
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, send).await;
                });
                Err(e)
            }
        }
    }

    /// The key's live connection, opening one (single-flighted) if there is none.
    async fn conn(
        self: &Arc<Self>,
        key: &Key,
        cancel: &CancellationToken,
        deadline: Instant,
    ) -> Result<Arc<Conn>, McpError> {
        let flight = match self.opening.join(key.clone(), || self.pooled(key).map(Ok), || self.open(key.clone())) {
            Join::Ready(conn) => return conn,
            Join::Wait { flight, .. } => flight,
        };
        let timeout = deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(McpError::Cancelled),
            () = tokio::time::sleep_until(deadline) => Err(McpError::Timeout(timeout)),
            result = flight => result.unwrap_or_else(|_| Err(McpError::Protocol("the connection attempt was lost".into()))),
        }
    }

    /// The pooled connection of `key`, if alive; closes idle and dead ones on the way.
    fn pooled(&self, key: &Key) -> Option<Arc<Conn>> {
        let now = Instant::now();
        let idle = self.settings.idle_timeout;
        let mut expired = Vec::new();
        let found = {
            let mut conns = self.conns.lock();
            conns.retain(|_, e| {
                let keep = e.conn.is_alive() && now.duration_since(e.last_used) < idle;
                if !keep {
                    expired.push(e.conn.clone());
                }
                keep
            });
            conns.get_mut(key).map(|e| {
                e.last_used = now;
                e.conn.clone()
            })
        };
        close_all(expired);
        found
    }

    fn open(self: &Arc<Self>, key: Key) -> impl Future<Output = Result<Arc<Conn>, McpError>> + Send + 'static + use<> {
        let this = Arc::clone(self);
        async move {
            // A URL ending in `/sse` is the older HTTP+SSE transport by convention; otherwise
            // Streamable HTTP, falling back to HTTP+SSE when the server refuses the POST with a
            // 4xx, as the MCP specification's backwards-compatibility rule says.
            let running = if key.url.trim_end_matches('/').ends_with("/sse") {
                this.open_legacy(&key).await?
            } else {
                match this.open_streamable(&key).await {
                    Err(McpError::Http(status)) if (400..500).contains(&status) && ![408, 429].contains(&status) => {
                        this.open_legacy(&key).await?
                    }
                    other => other?,
                }
            };
            // A list must come from the server, never from rmcp's cache.
            running.peer().set_response_cache_config(ClientCacheConfig::disabled()).await;
            let conn = Arc::new(Conn { peer: running.peer().clone(), running: tokio::sync::Mutex::new(Some(running)) });
            let evicted = this.insert(key, conn.clone());
            close_all(evicted);
            Ok(conn)
        }
    }

    async fn open_streamable(&self, key: &Key) -> Result<RunningService<RoleClient, ClientConfig>, McpError> {
        let had_credentials = !key.credentials.headers.is_empty();
        let headers = key.credentials.headers.iter().cloned().collect::<HashMap<_, _>>();
        let config = StreamableHttpClientTransportConfig::with_uri(key.url.as_str()).custom_headers(headers);
        let transport = StreamableHttpClientTransport::with_client(self.client.clone(), config);
        let connect = serve_client(self.info.clone(), transport);
        match tokio::time::timeout(self.settings.connect_timeout, connect).await {
            Err(_) => Err(McpError::Timeout(self.settings.connect_timeout)),
            Ok(Err(e)) => Err(McpError::from_initialize(&e, had_credentials)),
            Ok(Ok(running)) => Ok(running),
        }
    }

    async fn open_legacy(&self, key: &Key) -> Result<RunningService<RoleClient, ClientConfig>, McpError> {
        let had_credentials = !key.credentials.headers.is_empty();
        let timeout = self.settings.connect_timeout;
        let started = Instant::now();
        let transport = LegacySse::connect(self.client.clone(), &key.url, &key.credentials.headers, timeout).await?;
        let left = timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, serve_client(self.info.clone(), transport)).await {
            Err(_) => Err(McpError::Timeout(timeout)),
            Ok(Err(e)) => Err(McpError::from_initialize(&e, had_credentials)),
            Ok(Ok(running)) => Ok(running),
        }
    }

    /// Pools `conn`, making room by closing the least recently used connections.
    fn insert(&self, key: Key, conn: Arc<Conn>) -> Vec<Arc<Conn>> {
        let mut evicted = Vec::new();
        let mut conns = self.conns.lock();
        while conns.len() >= self.settings.max_connections.max(1) {
            let Some(oldest) = conns.iter().min_by_key(|(_, e)| e.last_used).map(|(k, _)| k.clone()) else { break };
            if let Some(e) = conns.remove(&oldest) {
                evicted.push(e.conn);
            }
        }
        if let Some(old) = conns.insert(key, Entry { conn, last_used: Instant::now() }) {
            evicted.push(old.conn);
        }
        evicted
    }

    fn forget(&self, key: &Key, conn: &Arc<Conn>) {
        let removed = {
            let mut conns = self.conns.lock();
            match conns.get(key) {
                Some(e) if Arc::ptr_eq(&e.conn, conn) => conns.remove(key).map(|e| e.conn),
                _ => None,
            }
        };
        close_all(removed.into_iter().collect());
    }

    /// Closes every connection (shutdown).
    pub async fn close(&self) {
        let all: Vec<Arc<Conn>> = self.conns.lock().drain().map(|(_, e)| e.conn).collect();
        futures::future::join_all(all.iter().map(|c| c.close())).await;
    }
}

fn close_all(conns: Vec<Arc<Conn>>) {
    if conns.is_empty() {
        return;
    }
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            for conn in conns {
                conn.close().await;
            }
        });
    }
}
