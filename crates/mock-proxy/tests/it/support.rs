//! Test helpers: an rmcp client with the hosted-agent headers, raw JSON-RPC POSTs, timeouts.

use std::{collections::HashMap, future::Future, time::Duration};

use anyhow::{Context, anyhow};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rmcp::{
    ErrorData, RoleClient, ServiceError, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, ClientCapabilities, Implementation, InitializeRequestParams,
        ProtocolVersion,
    },
    service::RunningService,
    transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
};
use serde_json::{Value, json};

/// An initialized rmcp client.
pub type Client = RunningService<RoleClient, InitializeRequestParams>;

/// Upper bound for anything a test awaits; a broken mock fails instead of hanging.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `fut` or fails after [`LIMIT`].
pub async fn within<T>(fut: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(LIMIT, fut).await.map_err(|_| anyhow!("timed out after {LIMIT:?}"))
}

/// A reqwest client (ring provider installed, no idle pool, like rmcp's default client).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// Headers a hosted agent sends, plus the call id when given.
pub fn agent_headers(call_id: Option<&str>) -> HashMap<HeaderName, HeaderValue> {
    let mut headers = HashMap::new();
    let mut put = |name: &'static str, value: &str| {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_str(value).expect("header value"));
    };
    put("authorization", "Bearer tok123");
    put("foundry-features", "Toolboxes=V1Preview");
    put("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    if let Some(call_id) = call_id {
        put("x-agent-foundry-call-id", call_id);
    }
    headers
}

/// Connects an rmcp client to `url` as the given call id (protocol pinned to 2025-06-18).
pub async fn connect(url: &str, call_id: Option<&str>) -> anyhow::Result<Client> {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned()).custom_headers(agent_headers(call_id));
    let transport = StreamableHttpClientTransport::with_client(http(), config);
    let info = InitializeRequestParams::new(ClientCapabilities::default(), Implementation::new("mock-proxy-it", "1"))
        .with_protocol_version(ProtocolVersion::V_2025_06_18);
    within(info.serve(transport)).await?.map_err(|e| anyhow!("initialize failed: {e:?}"))
}

/// Names of all tools (following cursors).
pub async fn tool_names(client: &Client) -> anyhow::Result<Vec<String>> {
    let tools = within(client.list_all_tools()).await??;
    Ok(tools.into_iter().map(|t| t.name.into_owned()).collect())
}

/// The JSON-RPC error of a failed call, or a test failure.
pub fn mcp_error<T: std::fmt::Debug>(result: Result<T, ServiceError>) -> ErrorData {
    match result {
        Err(ServiceError::McpError(e)) => e,
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// Calls a tool with JSON arguments.
pub async fn call(client: &Client, name: &str, args: Value) -> anyhow::Result<Result<CallToolResult, ServiceError>> {
    let mut params = CallToolRequestParams::new(name.to_owned());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    within(client.call_tool(params)).await
}

/// The text of the first content block.
pub fn text_of(result: &CallToolResult) -> String {
    match result.content.first().and_then(|c| c.as_text()) {
        Some(t) => t.text.clone(),
        None => panic!("expected text content, got {:?}", result.content),
    }
}

/// The `{"errors":[...]}` object embedded in a message after its first `{`.
pub fn embedded_json(message: &str) -> anyhow::Result<Value> {
    let start = message.find('{').context("no JSON in message")?;
    Ok(serde_json::from_str(&message[start..])?)
}

/// A raw HTTP answer.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// POSTs one JSON-RPC message the way a stateless client would.
pub async fn post_rpc(url: &str, call_id: Option<&str>, body: &Value) -> anyhow::Result<Raw> {
    let mut req = http()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body.to_string());
    for (name, value) in agent_headers(call_id) {
        req = req.header(name, value);
    }
    let resp = within(req.send()).await??;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = within(resp.text()).await??;
    Ok(Raw { status, headers, text })
}

/// A JSON-RPC request body.
pub fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// `initialize` params pinned to 2025-06-18.
pub fn init_params() -> Value {
    json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}
    })
}

/// GETs a URL, returning status and body.
pub async fn get(url: &str) -> anyhow::Result<(u16, String)> {
    let resp = within(http().get(url).send()).await??;
    let status = resp.status().as_u16();
    Ok((status, within(resp.text()).await??))
}

/// POSTs a JSON body to a control route.
pub async fn post_json(url: &str, body: &Value) -> anyhow::Result<(u16, String)> {
    let resp = within(http().post(url).json(body).send()).await??;
    let status = resp.status().as_u16();
    Ok((status, within(resp.text()).await??))
}
