//! The MCP client of one proxy endpoint (a toolbox, optionally at a version).
//!
//! One MCP connection per endpoint is shared by every user: per-user context travels per
//! message (see [`crate::http`]), the way the proxy expects. The connection is opened lazily
//! and re-opened when it dies; opening is single-flighted per caller identity, so a caller whose
//! `initialize` hangs never holds up another user. Every operation has a deadline and honours
//! the request's cancellation; abandoned requests are cancelled on the wire
//! (`notifications/cancelled`) so the session frees their slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use agenthost_agent::UserKey;
use agenthost_single_flight::{Flights, Join};
use parking_lot::Mutex;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotification, CancelledNotificationParam,
    ClientCapabilities, ClientConfig, ClientNotification, ClientRequest, GetExtensions, Implementation,
    InitializeRequestParams, JsonObject, ListToolsRequest, PaginatedRequestParams, ProtocolVersion, RequestId,
    ServerResult, Tool,
};
use rmcp::service::{ClientCacheConfig, NotificationContext, Peer, PeerRequestOptions, RunningService, serve_client};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::{self, ErrorClass, OpError, rpc_class};
use crate::http::{HttpShared, PerRequest, ProxyHttp, trace_headers};
use crate::trace::{McpCall, Remote, inject_meta};

/// Most pages of one `tools/list`.
const MAX_PAGES: usize = 64;
/// How long closing a connection (and its `DELETE`) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Concurrent requests on one shared connection.
const MAX_CONCURRENT: usize = 256;

/// Who an operation acts for, its headers, deadline and cancellation.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user, or `None` for the container identity (startup and background listings).
    pub who: Option<UserKey>,
    /// Header values; its `deadline` bounds retries.
    pub per: PerRequest,
    /// When the operation must be over.
    pub deadline: Instant,
    /// Fires when the request is cancelled.
    pub cancel: Option<CancellationToken>,
}

impl Caller {
    /// The container identity: no call id, no trace.
    pub fn container(deadline: Instant) -> Self {
        Self {
            who: None,
            per: PerRequest { deadline: Some(deadline), ..PerRequest::default() },
            deadline,
            cancel: None,
        }
    }
}

/// Receives `notifications/tools/list_changed`.
#[derive(Clone)]
struct Handler {
    info: ClientConfig,
    generation: Arc<AtomicU64>,
    changed: Arc<Notify>,
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
        tracing::debug!("toolbox tool list changed");
    }
}

struct Conn {
    peer: Peer<RoleClient>,
    running: tokio::sync::Mutex<Option<RunningService<RoleClient, Handler>>>,
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

/// Opens in flight, one per caller identity (`None`: the container's).
type Opening = Flights<Option<UserKey>, Result<Arc<Conn>, OpError>>;

/// One proxy endpoint and its (lazily opened, shared) MCP connection.
pub struct Endpoint {
    /// Toolbox name, the label of sources without a name.
    pub toolbox: String,
    /// The toolbox's metric label: its name, or [`MARKER_LABEL`] for marker toolboxes.
    ///
    /// [`MARKER_LABEL`]: agenthost_agent::telemetry::MARKER_LABEL
    pub label: Arc<str>,
    /// Host and port, for span attributes.
    pub peer: Remote,
    url: Arc<str>,
    http: Arc<HttpShared>,
    info: ClientConfig,
    conn: Mutex<Option<Arc<Conn>>>,
    opening: Arc<Opening>,
    generation: Arc<AtomicU64>,
    changed: Arc<Notify>,
    closed: AtomicBool,
}

impl Endpoint {
    /// An endpoint at `url`, labelled `label` in metrics; nothing is opened yet.
    pub fn new(toolbox: String, label: &str, url: String, http: Arc<HttpShared>, client: Implementation) -> Arc<Self> {
        let info = InitializeRequestParams::new(ClientCapabilities::default(), client)
            .with_protocol_version(ProtocolVersion::V_2025_06_18);
        Arc::new(Self {
            toolbox,
            label: label.into(),
            peer: Remote::of(&url),
            url: url.into(),
            http,
            info,
            conn: Mutex::new(None),
            opening: Flights::new(),
            generation: Arc::new(AtomicU64::new(0)),
            changed: Arc::new(Notify::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// Bumped by every `notifications/tools/list_changed`; lists of an older generation are
    /// stale.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Notified on `notifications/tools/list_changed` and [`Endpoint::invalidate`].
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Marks every list of this endpoint stale (a tool vanished, ...) and wakes the refresh.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
    }

    /// Lists every tool (following cursors).
    pub async fn list_tools(self: &Arc<Self>, caller: &Caller) -> Result<Vec<Tool>, OpError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let params = PaginatedRequestParams::default().with_cursor(cursor.clone());
            let request = ClientRequest::ListToolsRequest(ListToolsRequest::with_param(params));
            let page = match self.request(caller, request, true).await? {
                ServerResult::ListToolsResult(page) => page,
                _ => return Err(ErrorClass::Protocol.into()),
            };
            tools.extend(page.tools);
            match page.next_cursor {
                None => return Ok(tools),
                Some(next) if !seen.insert(next.clone()) => {
                    tracing::warn!(toolbox = %self.toolbox, "tools/list repeated a cursor");
                    return Err(ErrorClass::Protocol.into());
                }
                Some(next) => cursor = Some(next),
            }
        }
        Err(ErrorClass::Protocol.into())
    }

    /// Calls one tool by its original name.
    pub async fn call_tool(
        self: &Arc<Self>,
        caller: &Caller,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, OpError> {
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        match self.request(caller, request, false).await? {
            ServerResult::CallToolResult(result) => Ok(result),
            _ => Err(ErrorClass::Protocol.into()),
        }
    }

    /// Sends one request on the shared connection under the caller's deadline and cancellation.
    /// A request that provably never left (closed connection) is re-sent once on a new
    /// connection; `reads` may also be re-sent when the connection died mid-request.
    ///
    /// The operation's span is current: its context goes out in the headers and in
    /// `params._meta`, and it learns the JSON-RPC id and the session id.
    async fn request(
        self: &Arc<Self>,
        caller: &Caller,
        mut request: ClientRequest,
        reads: bool,
    ) -> Result<ServerResult, OpError> {
        let span = tracing::Span::current();
        let mut caller = caller.clone();
        if let Some(trace) = self.http.telemetry.current_trace() {
            caller.per.trace = trace_headers(&trace);
            inject_meta(&mut request, &trace);
        }
        caller.per.span = Some(span.clone());
        let caller = &caller;
        let mut tries = 0;
        loop {
            tries += 1;
            let conn = self.get_conn(caller).await?;
            let mut message = request.clone();
            message.extensions_mut().insert(caller.per.clone());
            let sent = tokio::select! {
                biased;
                () = cancelled(caller.cancel.as_ref()) => return Err(ErrorClass::Cancelled.into()),
                () = tokio::time::sleep_until(caller.deadline) => return Err(ErrorClass::Timeout.into()),
                sent = conn.peer.send_request_with_option(message, PeerRequestOptions::no_options()) => sent,
            };
            let handle = match sent {
                Ok(handle) => handle,
                Err(e) => {
                    let mapped = error::from_service(&e);
                    if matches!(mapped, OpError::Class(ErrorClass::Closed)) && tries < 2 {
                        self.forget(&conn);
                        continue;
                    }
                    return Err(mapped);
                }
            };
            let id = handle.id.clone();
            span.record("jsonrpc.request.id", id.to_string());
            let outcome = tokio::select! {
                biased;
                () = cancelled(caller.cancel.as_ref()) => Err(ErrorClass::Cancelled),
                () = tokio::time::sleep_until(caller.deadline) => Err(ErrorClass::Timeout),
                response = handle.await_response() => Ok(response),
            };
            match outcome {
                Ok(Ok(result)) => return Ok(result),
                Ok(Err(e)) => {
                    let mapped = error::from_service(&e);
                    if matches!(mapped, OpError::Class(ErrorClass::Closed)) {
                        self.forget(&conn);
                        if reads && tries < 2 {
                            continue;
                        }
                    }
                    return Err(mapped);
                }
                Err(class) => {
                    cancel_on_wire(&conn.peer, id, &caller.per, class);
                    return Err(class.into());
                }
            }
        }
    }

    /// The live shared connection, opening one if needed.
    async fn get_conn(self: &Arc<Self>, caller: &Caller) -> Result<Arc<Conn>, OpError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(ErrorClass::Closed.into());
        }
        let flight = match self.opening.join(caller.who.clone(), || self.live_conn().map(Ok), || self.open_task(caller))
        {
            Join::Ready(conn) => return conn,
            Join::Wait { flight, .. } => flight,
        };
        tokio::select! {
            biased;
            () = cancelled(caller.cancel.as_ref()) => Err(ErrorClass::Cancelled.into()),
            () = tokio::time::sleep_until(caller.deadline) => Err(ErrorClass::Timeout.into()),
            result = flight => result.unwrap_or(Err(ErrorClass::Closed.into())),
        }
    }

    fn live_conn(&self) -> Option<Arc<Conn>> {
        self.conn.lock().clone().filter(|conn| conn.is_alive())
    }

    /// The open of this caller's identity, single-flighted per identity. It has its own deadline,
    /// so it completes (and is reused) even if this caller gives up.
    fn open_task(
        self: &Arc<Self>,
        caller: &Caller,
    ) -> impl Future<Output = Result<Arc<Conn>, OpError>> + Send + 'static + use<> {
        let this = Arc::clone(self);
        let deadline = Instant::now() + self.http.request_timeout;
        let call = McpCall::start(&self.http.telemetry, &self.peer, "initialize", None, &self.toolbox);
        let span = call.span().clone();
        // The connection keeps the opener's values for its handshake messages: not the span,
        // which would then never close.
        let mut per = PerRequest { deadline: Some(deadline), span: None, ..caller.per.clone() };
        if let Some(trace) = span.in_scope(|| self.http.telemetry.current_trace()) {
            per.trace = trace_headers(&trace);
        }
        async move {
            let result = this.open(per, deadline).await;
            call.finish(result.as_ref().err().map(op_error_type).as_deref(), rpc_code(&result));
            result
        }
        .instrument(span)
    }

    async fn open(self: &Arc<Self>, per: PerRequest, deadline: Instant) -> Result<Arc<Conn>, OpError> {
        let transport = StreamableHttpClientTransport::with_client(
            ProxyHttp::new(self.http.clone(), per, self.label.clone()),
            StreamableHttpClientTransportConfig::with_uri(self.url.clone()).max_concurrent_requests(MAX_CONCURRENT),
        );
        let handler =
            Handler { info: self.info.clone(), generation: self.generation.clone(), changed: self.changed.clone() };
        let running = match tokio::time::timeout_at(deadline, serve_client(handler, transport)).await {
            Err(_) => return Err(ErrorClass::Timeout.into()),
            Ok(Err(e)) => return Err(error::from_initialize(&e)),
            Ok(Ok(running)) => running,
        };
        // Tool lists must never be served stale from rmcp's cache: consent errors must surface.
        running.peer().set_response_cache_config(ClientCacheConfig::disabled()).await;
        let conn = Arc::new(Conn { peer: running.peer().clone(), running: tokio::sync::Mutex::new(Some(running)) });
        let existing = {
            let mut slot = self.conn.lock();
            match slot.as_ref() {
                Some(current) if current.is_alive() => Some(current.clone()),
                _ => {
                    *slot = Some(conn.clone());
                    None
                }
            }
        };
        if let Some(existing) = existing {
            // Another identity opened one meanwhile: use it, drop ours.
            tokio::spawn(async move { conn.close().await });
            return Ok(existing);
        }
        if self.closed.load(Ordering::SeqCst) {
            self.forget(&conn);
            conn.close().await;
            return Err(ErrorClass::Closed.into());
        }
        tracing::debug!(toolbox = %self.toolbox, "toolbox connection opened");
        Ok(conn)
    }

    /// Drops `conn` as the shared connection (if it still is) and closes it in the background.
    fn forget(&self, conn: &Arc<Conn>) {
        let mut slot = self.conn.lock();
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *slot = None;
        }
        drop(slot);
        let conn = conn.clone();
        tokio::spawn(async move { conn.close().await });
    }

    /// Closes the connection (sending `DELETE` for a session); later operations fail `closed`.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let conn = self.conn.lock().take();
        if let Some(conn) = conn {
            conn.close().await;
        }
    }
}

/// Resolves when `token` fires; never without one.
async fn cancelled(token: Option<&CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Sends `notifications/cancelled` for an abandoned request, in the background, with the
/// request's headers.
fn cancel_on_wire(peer: &Peer<RoleClient>, id: RequestId, per: &PerRequest, why: ErrorClass) {
    let mut notification = CancelledNotification::new(CancelledNotificationParam::new(Some(id), Some(why.as_string())));
    notification.extensions.insert(per.clone());
    let peer = peer.clone();
    tokio::spawn(async move {
        let send = peer.send_notification(ClientNotification::CancelledNotification(notification));
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, send).await;
    });
}

/// The `error.type` of a failed operation before any consent interpretation: the JSON-RPC
/// error's class, or the failure class.
pub fn op_error_type(error: &OpError) -> String {
    match error {
        OpError::Rpc(data) => rpc_class(data).as_string(),
        OpError::Class(class) => class.as_string(),
    }
}

/// The JSON-RPC error code of a failed operation, if the peer answered with one.
fn rpc_code<T>(result: &Result<T, OpError>) -> Option<i32> {
    match result {
        Err(OpError::Rpc(data)) => Some(data.code.0),
        _ => None,
    }
}
