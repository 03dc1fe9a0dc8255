//! The MCP side of one toolbox: a hand-written rmcp `ServerHandler` that lists and calls the
//! scenario's tools and produces the Foundry consent and aggregate error shapes.

use std::sync::Arc;

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode, Implementation, JsonObject,
        ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::RequestContext,
};
use serde::Serialize;
use serde_json::Value;

use crate::{
    scenario::{Auth, Behaviour, ConsentErrorShape, Placement, SourceSpec, ToolSpec, ToolboxSpec},
    state::{Shared, user_from_call_id},
};

/// Header whose prefix (before the first `:`) names the calling user.
pub(crate) const CALL_ID_HEADER: &str = "x-agent-foundry-call-id";

/// `error.code` of a consent entry in an aggregate payload.
pub const CONSENT_REQUIRED: &str = "CONSENT_REQUIRED";

/// Put in the HTTP request's extensions by the routing layer; read back by the handler through
/// `ctx.extensions.get::<http::request::Parts>()`.
#[derive(Debug, Clone)]
pub(crate) struct RouteInfo {
    pub(crate) user: String,
}

/// One entry of the aggregate `{"errors":[...]}` object, serialized in the proxy's key order.
#[derive(Serialize)]
struct Entry<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    source_type: &'a str,
    error: EntryError<'a>,
}

#[derive(Serialize)]
struct EntryError<'a> {
    code: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct Aggregate<'a> {
    errors: &'a [Entry<'a>],
}

/// The aggregate object as compact JSON text (key order `name`, `type`, `error`) and as a value.
fn aggregate(entries: &[Entry<'_>]) -> (String, Value) {
    let agg = Aggregate { errors: entries };
    let text = serde_json::to_string(&agg).unwrap_or_else(|_| "{\"errors\":[]}".to_owned());
    let value = serde_json::to_value(&agg).unwrap_or(Value::Null);
    (text, value)
}

/// The error of a failed `tools/list`: `failed` entries, `succeeded` healthy sources.
fn list_error(shape: &ConsentErrorShape, failed: &[Entry<'_>], succeeded: usize) -> ErrorData {
    let (text, value) = aggregate(failed);
    let head =
        format!("tools/list failed for {} tool source(s), succeeded for {succeeded} tool source(s)", failed.len());
    let (message, data) = match shape.placement {
        Placement::Message => (format!("{head} {text}"), None),
        Placement::Data => (head, Some(value)),
        Placement::Both => (format!("{head} {text}"), Some(value)),
    };
    ErrorData::new(ErrorCode(shape.code), message, data)
}

/// The MCP server of one toolbox. Cheap to clone; one instance per session (or per request in
/// stateless mode).
#[derive(Debug, Clone)]
pub(crate) struct ToolboxHandler {
    shared: Arc<Shared>,
    toolbox: Arc<str>,
}

impl ToolboxHandler {
    pub(crate) fn new(shared: Arc<Shared>, toolbox: &str) -> Self {
        Self { shared, toolbox: toolbox.into() }
    }

    fn spec(&self) -> Result<&ToolboxSpec, ErrorData> {
        self.shared
            .scenario
            .find_toolbox(&self.toolbox)
            .ok_or_else(|| ErrorData::internal_error("toolbox vanished from the scenario", None))
    }

    /// The calling user of this request (`""` is the container).
    fn user(ctx: &RequestContext<RoleServer>) -> String {
        let parts = ctx.extensions.get::<http::request::Parts>();
        if let Some(info) = parts.and_then(|p| p.extensions.get::<RouteInfo>()) {
            return info.user.clone();
        }
        let header = parts.and_then(|p| p.headers.get(CALL_ID_HEADER)).and_then(|v| v.to_str().ok());
        user_from_call_id(header)
    }

    /// A consent link for (source, user): the override if the scenario sets one.
    fn consent_link(&self, source: &SourceSpec, user: &str) -> String {
        match &source.consent_link_override {
            Some(link) => link.clone(),
            None => self.shared.consent_link(&self.toolbox, &source.name, user),
        }
    }

    fn list(&self, user: &str, cursor: Option<&str>) -> Result<ListToolsResult, ErrorData> {
        let spec = self.spec()?;
        // Links are computed first so the entries can borrow them.
        let links: Vec<Option<String>> = spec
            .sources
            .iter()
            .map(|src| {
                (src.auth == Auth::Consent && !self.shared.has_consent(user, &src.name))
                    .then(|| self.consent_link(src, user))
            })
            .collect();
        let mut failed = Vec::new();
        let mut tools: Vec<&ToolSpec> = Vec::new();
        for (src, link) in spec.sources.iter().zip(&links) {
            let error = match (src.auth, link) {
                (Auth::HardError, _) => EntryError { code: &src.error_code, message: &src.error_message },
                (Auth::Consent, Some(link)) => EntryError { code: CONSENT_REQUIRED, message: link },
                _ => {
                    tools.extend(&src.tools);
                    continue;
                }
            };
            failed.push(Entry { name: &src.name, source_type: &src.source_type, error });
        }
        if !failed.is_empty() {
            let succeeded = spec.sources.len() - failed.len();
            return Err(list_error(&self.shared.scenario.consent_error, &failed, succeeded));
        }
        let start = match cursor {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= tools.len())
                .ok_or_else(|| ErrorData::invalid_params(format!("bad cursor {c:?}"), None))?,
        };
        let end = spec.page_size.map_or(tools.len(), |n| start.saturating_add(n).min(tools.len()));
        let page = tools[start..end].iter().map(|t| to_mcp_tool(t)).collect();
        let mut result = ListToolsResult::with_all_items(page);
        if end < tools.len() {
            result.next_cursor = Some(end.to_string());
        }
        Ok(result)
    }

    fn call(&self, user: &str, request: CallToolRequestParams) -> Result<CallToolResult, ErrorData> {
        let spec = self.spec()?;
        let found =
            spec.sources.iter().find_map(|src| src.tools.iter().find(|t| t.name == request.name).map(|t| (src, t)));
        let Some((source, tool)) = found else {
            return Err(ErrorData::invalid_params(format!("tool not found: {}", request.name), None));
        };
        match source.auth {
            Auth::HardError => {
                return Err(ErrorData::internal_error(source.error_message.clone(), None));
            }
            Auth::Consent | Auth::ConsentAtCall if !self.shared.has_consent(user, &source.name) => {
                let link = self.consent_link(source, user);
                let entry = Entry {
                    name: &source.name,
                    source_type: &source.source_type,
                    error: EntryError { code: CONSENT_REQUIRED, message: &link },
                };
                let (_, data) = aggregate(std::slice::from_ref(&entry));
                let code = ErrorCode(self.shared.scenario.consent_error.call_code);
                return Err(ErrorData::new(code, link.clone(), Some(data)));
            }
            _ => {}
        }
        let result = match &tool.behaviour {
            Behaviour::Echo => {
                let args = request.arguments.unwrap_or_default();
                let text = match args.get("text").and_then(Value::as_str) {
                    Some(text) => format!("echo: {text}"),
                    None => Value::Object(args).to_string(),
                };
                CallToolResult::success(vec![ContentBlock::text(text)])
            }
            Behaviour::Fixed(text) => CallToolResult::success(vec![ContentBlock::text(text.clone())]),
            Behaviour::Error(text) => CallToolResult::error(vec![ContentBlock::text(text.clone())]),
        };
        if result.is_error != Some(true) {
            self.shared.record_successful_call(&self.toolbox, user);
        }
        Ok(result)
    }
}

fn to_mcp_tool(tool: &ToolSpec) -> Tool {
    let schema: JsonObject = match &tool.input_schema {
        Value::Object(map) => map.clone(),
        _ => JsonObject::new(),
    };
    let description = (!tool.description.is_empty()).then(|| tool.description.clone().into());
    Tool::new_with_raw(tool.name.clone(), description, Arc::new(schema))
}

impl ServerHandler for ToolboxHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("agenthost-mock-proxy", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!("Mock Foundry toolbox {}", self.toolbox))
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let user = Self::user(&context);
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        self.list(&user, cursor)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let user = Self::user(&context);
        self.call(&user, request).map(Into::into)
    }
}
