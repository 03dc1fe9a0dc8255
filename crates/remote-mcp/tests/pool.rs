//! The pool and the tool set against an in-process rmcp server on loopback: connection sharing
//! per (URL, credentials), idle expiry and the bound, deadlines and cancellation, OAuth
//! challenges, and listing into `mcp_list_tools` items.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agenthost_agent::{RequestContext, ToolCall, ToolOutcome, ToolSet};
use agenthost_remote_mcp::{McpError, Pool, RemoteMcp, ServerSpec, Settings, parse};
use agenthost_responses::event::EventKind;
use agenthost_responses::{Item, Response, ResponseWriter, StreamEvent, id};
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext as McpContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Calc;

fn tool(name: &str, description: &str) -> Tool {
    let schema: JsonObject =
        serde_json::from_value(json!({"type":"object","properties":{"a":{"type":"integer"}}})).unwrap_or_default();
    Tool::new(name.to_string(), description.to_string(), Arc::new(schema))
}

impl ServerHandler for Calc {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("calc", "1"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: McpContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![
            tool("add", "Adds a and b."),
            tool("whoami", "The x-api-key this call carried."),
            tool("hang", "Never answers."),
            tool("fail", "Reports an error."),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: McpContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.clone().unwrap_or_default();
        let n = |k: &str| args.get(k).and_then(Value::as_i64).unwrap_or(0);
        let result = match request.name.as_ref() {
            "add" => CallToolResult::success(vec![ContentBlock::text((n("a") + n("b")).to_string())]),
            "whoami" => {
                let key = context
                    .extensions
                    .get::<http::request::Parts>()
                    .and_then(|p| p.headers.get("x-api-key"))
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_string();
                CallToolResult::success(vec![ContentBlock::text(key)])
            }
            "hang" => std::future::pending().await,
            _ => CallToolResult::error(vec![ContentBlock::text("it broke")]),
        };
        Ok(result.into())
    }
}

struct Upstream {
    base: String,
    initializes: Arc<AtomicUsize>,
}

async fn count_initializes(
    axum::extract::State(count): axum::extract::State<Arc<AtomicUsize>>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    if bytes.windows(12).any(|w| w == b"\"initialize\"") {
        count.fetch_add(1, Ordering::SeqCst);
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

async fn locked() -> impl IntoResponse {
    (
        axum::http::StatusCode::UNAUTHORIZED,
        [(
            "www-authenticate",
            r#"Bearer realm="calc", resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource?x=1""#,
        )],
        "unauthorized",
    )
}

async fn upstream() -> Upstream {
    let service = StreamableHttpService::new(
        || Ok(Calc),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let initializes = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(initializes.clone(), count_initializes))
        .route("/locked", axum::routing::any(locked));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Upstream { base: format!("http://{addr}"), initializes }
}

fn spec(url: &str, key: Option<&str>) -> ServerSpec {
    let mut tool = json!({"type":"mcp","server_label":"calc","server_url":url,"require_approval":"never"});
    if let Some(key) = key {
        tool["headers"] = json!({"x-api-key": key});
    }
    parse(&[tool]).unwrap().remove(0)
}

fn pool(settings: Settings) -> Arc<Pool> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Pool::new(reqwest::Client::new(), settings)
}

async fn call(pool: &Arc<Pool>, spec: &ServerSpec, tool: &str) -> Result<String, McpError> {
    let result = pool.call(spec, tool, JsonObject::new(), &CancellationToken::new(), None).await?;
    Ok(agenthost_remote_mcp::render::render(&result, 10_000).unwrap_or_else(|e| e))
}

#[tokio::test]
async fn connections_are_shared_per_credentials_and_never_across_them() {
    let up = upstream().await;
    let url = format!("{}/mcp", up.base);
    let pool = pool(Settings::default());
    let alice = spec(&url, Some("key-a"));
    let bob = spec(&url, Some("key-b"));
    assert_eq!(pool.list(&alice, &CancellationToken::new()).await.unwrap().len(), 4);
    assert_eq!(call(&pool, &alice, "whoami").await.unwrap(), "key-a");
    assert_eq!(up.initializes.load(Ordering::SeqCst), 1, "one connection for alice's list and call");
    assert_eq!(call(&pool, &bob, "whoami").await.unwrap(), "key-b");
    assert_eq!(call(&pool, &alice, "whoami").await.unwrap(), "key-a");
    assert_eq!(up.initializes.load(Ordering::SeqCst), 2);
    assert_eq!(pool.open_connections(), 2);
}

#[tokio::test]
async fn idle_connections_expire_and_the_bound_evicts_the_oldest() {
    let up = upstream().await;
    let url = format!("{}/mcp", up.base);
    let idle = pool(Settings { idle_timeout: Duration::ZERO, ..Settings::default() });
    let s = spec(&url, None);
    call(&idle, &s, "add").await.unwrap();
    call(&idle, &s, "add").await.unwrap();
    assert_eq!(up.initializes.load(Ordering::SeqCst), 2, "an idle connection is not reused");

    let bounded = pool(Settings { max_connections: 1, ..Settings::default() });
    let (a, b) = (spec(&url, Some("a")), spec(&url, Some("b")));
    call(&bounded, &a, "add").await.unwrap();
    call(&bounded, &b, "add").await.unwrap();
    assert_eq!(bounded.open_connections(), 1);
    call(&bounded, &a, "add").await.unwrap();
    assert_eq!(up.initializes.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn calls_have_a_deadline_and_honour_cancellation() {
    let up = upstream().await;
    let url = format!("{}/mcp", up.base);
    let pool = pool(Settings { call_timeout: Duration::from_millis(200), ..Settings::default() });
    let s = spec(&url, None);
    let Err(McpError::Timeout(after)) = call(&pool, &s, "hang").await else { panic!("no timeout") };
    assert!(after <= Duration::from_millis(200), "{after:?}");
    let cancel = CancellationToken::new();
    cancel.cancel();
    let cancelled = pool.call(&s, "hang", JsonObject::new(), &cancel, None).await;
    assert_eq!(cancelled.err(), Some(McpError::Cancelled));
    // The connection still serves other calls.
    assert_eq!(call(&pool, &s, "add").await.unwrap(), "0");
}

#[tokio::test]
async fn an_oauth_challenge_is_a_clear_unauthorized_error() {
    let up = upstream().await;
    let pool = pool(Settings::default());
    let s = spec(&format!("{}/locked", up.base), None);
    let err = pool.list(&s, &CancellationToken::new()).await.unwrap_err();
    assert_eq!(
        err,
        McpError::Unauthorized {
            status: 401,
            resource_metadata: Some("http://127.0.0.1/.well-known/oauth-protected-resource".into()),
            had_credentials: false
        }
    );
}

#[tokio::test]
async fn resolve_lists_into_items_and_the_tools_call_by_model_name() {
    let up = upstream().await;
    let remote = RemoteMcp::new(pool(Settings::default()));
    let tools = vec![
        json!({"type":"mcp","server_label":"calc","server_url":format!("{}/mcp", up.base),
               "allowed_tools":["add","fail"],"require_approval":{"never":{"tool_names":["add"]}}}),
        json!({"type":"mcp","server_label":"locked","server_url":format!("{}/locked", up.base)}),
    ];
    let servers = parse(&tools).unwrap();
    let rid = id::new_id(id::RESPONSE, None);
    let mut writer = ResponseWriter::new(Response::new(rid.clone(), "m".into(), 0));
    let mut events: Vec<StreamEvent> = Vec::new();
    let ctx = RequestContext::local(rid);
    let taken = HashSet::from(["fail".to_string()]);
    let set = remote.resolve(&ctx, servers, &HashMap::new(), &taken, &mut writer, &mut events).await;
    let names: Vec<&str> = events.iter().map(StreamEvent::event_type).collect();
    assert_eq!(
        names,
        [
            "response.output_item.added",
            "response.mcp_list_tools.in_progress",
            "response.output_item.added",
            "response.mcp_list_tools.in_progress",
            "response.mcp_list_tools.completed",
            "response.output_item.done",
            "response.mcp_list_tools.failed",
            "response.output_item.done",
        ]
    );
    let response = writer.into_response();
    let Item::McpListTools(calc) = &response.output[0] else { panic!() };
    let listed: Vec<&str> = calc.tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(listed, ["add", "fail"]);
    assert_eq!(calc.tools[0]["input_schema"]["properties"]["a"]["type"], "integer");
    assert_eq!(calc.tools[0]["description"], "Adds a and b.");
    let Item::McpListTools(locked) = &response.output[1] else { panic!() };
    assert!(locked.tools.is_empty());
    assert_eq!(
        locked.error.as_deref(),
        Some(
            "Could not list the tools of MCP server 'locked': the server requires authorization; give an OAuth access token in the tool's 'authorization' (HTTP 401; OAuth resource metadata at http://127.0.0.1/.well-known/oauth-protected-resource)"
        )
    );
    let EventKind::McpListToolsFailed { item_id, output_index } = &events[6].kind else { panic!() };
    assert_eq!((item_id.as_str(), *output_index), (locked.id.as_str(), 1));

    // `fail` is a toolbox's name too: the server's tool is renamed, the call keeps its name.
    let model_names: Vec<String> = set.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(model_names, ["add", "calc__fail"]);
    let target = set.mcp_target("calc__fail").unwrap();
    assert_eq!((target.server_label.as_str(), target.tool.as_str()), ("calc", "fail"));
    assert_eq!(set.mcp_name("calc", "fail").as_deref(), Some("calc__fail"));
    let call =
        |name: &str, arguments: &str| ToolCall { call_id: "c".into(), name: name.into(), arguments: arguments.into() };
    assert_eq!(set.invoke(&ctx, &call("add", r#"{"a":2,"b":3}"#)).await, ToolOutcome::Output("5".into()));
    assert_eq!(set.invoke(&ctx, &call("calc__fail", "")).await, ToolOutcome::Error("it broke".into()));
    assert_eq!(set.approval_label(&call("add", "")), None);
    assert_eq!(set.approval_label(&call("calc__fail", "")).as_deref(), Some("calc"));
}
