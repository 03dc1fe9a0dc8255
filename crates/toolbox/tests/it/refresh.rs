//! Tool lists expire (list_ttl) and are refreshed on `notifications/tools/list_changed`.

use std::sync::Arc;
use std::time::Duration;

use agenthost_agent::ToolOutcome;
use agenthost_identity::TokenProvider;
use agenthost_mock_proxy::{Auth, Mode, Scenario, SourceSpec, ToolSpec, ToolboxSpec};
use agenthost_toolbox::{ToolboxSettings, ToolboxState, Toolboxes};
use parking_lot::Mutex;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData, JsonObject, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};

use crate::support::{CountingToken, Setup, call, ctx, eventually, fast_retry, names, status, wait_for, within};

fn gated() -> Scenario {
    Scenario::new(Mode::Stateless).toolbox(
        ToolboxSpec::new("tb")
            .source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo")))
            .source(SourceSpec::new("send_email", Auth::Consent).tool(ToolSpec::fixed("send_email", "sent"))),
    )
}

#[tokio::test]
async fn per_user_lists_expire_after_the_ttl() {
    let setup = Setup::started(gated(), |s, _| {
        s.toolboxes = vec!["tb".into()];
        s.list_ttl = Duration::ZERO;
    })
    .await;
    setup.proxy.grant("alice", "send_email");
    setup.resolve(&ctx("alice")).await;
    setup.resolve(&ctx("alice")).await;
    assert_eq!(setup.lists_by("alice"), 2);
    setup.toolboxes.shutdown().await;

    let setup = Setup::started(gated(), |s, _| s.toolboxes = vec!["tb".into()]).await;
    setup.proxy.grant("alice", "send_email");
    setup.resolve(&ctx("alice")).await;
    setup.resolve(&ctx("alice")).await;
    assert_eq!(setup.lists_by("alice"), 1);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn shared_lists_are_refreshed_in_the_background() {
    let scenario = Scenario::new(Mode::Stateless)
        .toolbox(ToolboxSpec::new("tb").source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo"))));
    let setup = Setup::started(scenario, |s, _| {
        s.toolboxes = vec!["tb".into()];
        s.list_ttl = Duration::from_millis(30);
    })
    .await;
    assert_eq!(setup.state("tb"), ToolboxState::Healthy);
    eventually(|| setup.lists_by("") >= 3).await;
    assert_eq!(setup.state("tb"), ToolboxState::Healthy);
    setup.toolboxes.shutdown().await;
}

/// A server whose tool list grows when `grow` is called, announcing it with list_changed.
#[derive(Clone)]
struct Growing {
    tools: Arc<Mutex<Vec<String>>>,
}

fn tool(name: &str) -> Tool {
    let mut schema = JsonObject::new();
    schema.insert("type".into(), "object".into());
    Tool::new_with_raw(name.to_owned(), None, Arc::new(schema))
}

impl ServerHandler for Growing {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.tools.lock().iter().map(|n| tool(n)).collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name == "grow" {
            self.tools.lock().push("added".into());
            let _ = context.peer.notify_tool_list_changed().await;
        }
        Ok(CallToolResult::success(vec![ContentBlock::text("grown")]).into())
    }
}

#[tokio::test]
async fn list_changed_notifications_refresh_the_tools() {
    let growing = Growing { tools: Arc::new(Mutex::new(vec!["grow".into()])) };
    let service = StreamableHttpService::new(
        move || Ok(growing.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let router = axum::Router::new().nest_service("/api/projects/p/toolboxes/dyn/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let token: Arc<dyn TokenProvider> = Arc::new(CountingToken::default());
    let settings = ToolboxSettings {
        project_endpoint: Some(format!("http://{addr}/api/projects/p")),
        toolboxes: vec!["dyn".into()],
        ..ToolboxSettings::default()
    };
    let tb = Toolboxes::with_retry(settings, Some(token), fast_retry()).expect("valid");
    tb.start();
    wait_for(&tb, |r| status(r, "dyn").state == ToolboxState::Healthy).await;
    let alice = ctx("alice");
    let (tools, _) = within(tb.resolve(&alice, &[])).await;
    assert_eq!(names(&tools), ["grow"]);
    assert_eq!(within(tools.invoke(&alice, &call("grow", "{}"))).await, ToolOutcome::Output("grown".into()));
    // The notification wakes the refresh; the shared list now has the new tool.
    wait_for(&tb, |r| status(r, "dyn").tools == 2).await;
    let (tools, _) = within(tb.resolve(&alice, &[])).await;
    assert_eq!(names(&tools), ["added", "grow"]);
    tb.shutdown().await;
    server.abort();
}
