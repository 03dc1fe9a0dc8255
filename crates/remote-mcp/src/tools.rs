//! The request's `mcp` servers as tools of one turn: listed into `mcp_list_tools` items (or
//! reused from the previous response), named for the model, and called as `mcp_call`s.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use agenthost_agent::{McpTarget, RequestContext, ToolCall, ToolOutcome, ToolSet, ToolSpec};
use agenthost_responses::{EventSink, ResponseWriter};
use futures::future::join_all;
use rmcp::model::{JsonObject, Tool};
use serde_json::{Value, json};

use crate::pool::Pool;
use crate::render::render;
use crate::spec::ServerSpec;

/// Longest model-facing tool name (OpenAI's limit).
const MAX_NAME: usize = 64;

/// A tool as an `mcp_list_tools` item lists it.
#[derive(Clone, Debug, PartialEq)]
struct Listed {
    name: String,
    description: String,
    input_schema: Value,
    annotations: Option<Value>,
}

impl Listed {
    fn from_tool(tool: &Tool) -> Self {
        Listed {
            name: tool.name.to_string(),
            description: tool.description.as_deref().unwrap_or_default().to_string(),
            input_schema: Value::Object((*tool.input_schema).clone()),
            annotations: tool.annotations.as_ref().and_then(|a| serde_json::to_value(a).ok()),
        }
    }

    fn from_item(value: &Value) -> Option<Self> {
        Some(Listed {
            name: value.get("name")?.as_str()?.to_string(),
            description: value.get("description").and_then(Value::as_str).unwrap_or_default().to_string(),
            input_schema: value.get("input_schema").cloned().unwrap_or_else(|| json!({"type": "object"})),
            annotations: value.get("annotations").filter(|a| !a.is_null()).cloned(),
        })
    }

    fn to_item(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
            "annotations": self.annotations,
        })
    }
}

/// The request `mcp` servers' side of the server: their connection pool.
#[derive(Clone)]
pub struct RemoteMcp {
    pool: Arc<Pool>,
}

impl RemoteMcp {
    /// Request `mcp` servers reached through `pool`.
    pub fn new(pool: Arc<Pool>) -> Self {
        RemoteMcp { pool }
    }

    /// The connection pool.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Lists every server without a `reused` list (label -> the previous response's
    /// `mcp_list_tools` tools), all at once, each as an `mcp_list_tools` item streamed with its
    /// `in_progress` and `completed`/`failed` events, and returns the turn's tools. A server that
    /// cannot be listed has an item with `error` and offers no tools; the response goes on.
    /// Model-facing names avoid `taken` (the toolboxes' names).
    pub async fn resolve(
        &self,
        ctx: &RequestContext,
        servers: Vec<ServerSpec>,
        reused: &HashMap<String, Vec<Value>>,
        taken: &HashSet<String>,
        writer: &mut ResponseWriter,
        sink: &mut dyn EventSink,
    ) -> RemoteTools {
        let mut lists: Vec<Option<Vec<Listed>>> = servers
            .iter()
            .map(|s| reused.get(&s.label).map(|tools| tools.iter().filter_map(Listed::from_item).collect()))
            .collect();
        let to_list: Vec<usize> = (0..servers.len()).filter(|i| lists[*i].is_none()).collect();
        let handles: Vec<_> = to_list.iter().map(|i| writer.start_mcp_list_tools(sink, &servers[*i].label)).collect();
        let listings = to_list.iter().map(|i| {
            let spec = &servers[*i];
            async move { self.pool.list(spec, &ctx.cancel).await }
        });
        let results = join_all(listings).await;
        for ((i, h), result) in to_list.iter().zip(handles).zip(results) {
            let spec = &servers[*i];
            match result {
                Ok(tools) => {
                    let listed: Vec<Listed> = tools
                        .iter()
                        .filter(|t| spec.allowed_tools.as_ref().is_none_or(|allowed| allowed.contains(t.name.as_ref())))
                        .map(Listed::from_tool)
                        .collect();
                    writer.finish_mcp_list_tools(sink, h, Ok(listed.iter().map(Listed::to_item).collect()));
                    lists[*i] = Some(listed);
                }
                Err(e) => {
                    tracing::warn!(server = %spec.label, error = %e, "could not list a request mcp server's tools");
                    let message = format!("Could not list the tools of MCP server '{}': {e}", spec.label);
                    writer.finish_mcp_list_tools(sink, h, Err(message));
                    lists[*i] = Some(Vec::new());
                }
            }
        }
        RemoteTools::build(
            self.pool.clone(),
            servers,
            lists.into_iter().map(Option::unwrap_or_default).collect(),
            taken,
        )
    }
}

struct Target {
    server: usize,
    tool: String,
}

/// The request `mcp` servers' tools of one turn.
pub struct RemoteTools {
    pool: Arc<Pool>,
    servers: Vec<ServerSpec>,
    specs: Vec<ToolSpec>,
    targets: HashMap<String, Target>,
}

impl RemoteTools {
    fn build(pool: Arc<Pool>, servers: Vec<ServerSpec>, lists: Vec<Vec<Listed>>, taken: &HashSet<String>) -> Self {
        // A tool keeps its own name when no other tool of the request has it.
        let mut count: HashMap<&str, usize> = HashMap::new();
        for list in &lists {
            for tool in list {
                *count.entry(tool.name.as_str()).or_default() += 1;
            }
        }
        let mut used: HashSet<String> = taken.clone();
        let mut specs = Vec::new();
        let mut targets = HashMap::new();
        for (server, (spec, list)) in servers.iter().zip(&lists).enumerate() {
            for tool in list {
                let plain = valid_name(&tool.name) && count.get(tool.name.as_str()) == Some(&1);
                let name = if plain && !used.contains(&tool.name) {
                    tool.name.clone()
                } else {
                    unique(&format!("{}__{}", spec.label, sanitize(&tool.name)), &used)
                };
                used.insert(name.clone());
                let description = match &spec.server_description() {
                    Some(about) => format!("{} (MCP server '{}': {about})", tool.description, spec.label),
                    None => tool.description.clone(),
                };
                specs.push(ToolSpec {
                    name: name.clone(),
                    description,
                    parameters: tool.input_schema.clone(),
                    server_label: Some(spec.label.clone()),
                });
                targets.insert(name, Target { server, tool: tool.name.clone() });
            }
        }
        RemoteTools { pool, servers, specs, targets }
    }
}

impl ServerSpec {
    fn server_description(&self) -> Option<&str> {
        self.description.as_deref().filter(|d| !d.trim().is_empty())
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// `base` cut to the name limit, with `_2`, `_3`… until no name in `used` has it.
fn unique(base: &str, used: &HashSet<String>) -> String {
    let cut = |s: &str, room: usize| s.chars().take(room).collect::<String>();
    let first = cut(base, MAX_NAME);
    if !used.contains(&first) {
        return first;
    }
    (2..)
        .map(|n| {
            let suffix = format!("_{n}");
            format!("{}{suffix}", cut(base, MAX_NAME - suffix.len()))
        })
        .find(|candidate| !used.contains(candidate))
        .unwrap_or(first)
}

/// The call's arguments as a JSON object (empty text means none).
fn parse_arguments(text: &str) -> Result<JsonObject, String> {
    if text.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the tool arguments must be a JSON object".into()),
        Err(e) => Err(format!("the tool arguments are not valid JSON: {e}")),
    }
}

#[async_trait::async_trait]
impl ToolSet for RemoteTools {
    fn specs(&self) -> Vec<ToolSpec> {
        self.specs.clone()
    }

    async fn invoke(&self, ctx: &RequestContext, call: &ToolCall) -> ToolOutcome {
        let Some(target) = self.targets.get(&call.name) else {
            return ToolOutcome::Error(format!("tool '{}' is not available", call.name));
        };
        let Some(spec) = self.servers.get(target.server) else {
            return ToolOutcome::Error(format!("tool '{}' is not available", call.name));
        };
        let arguments = match parse_arguments(&call.arguments) {
            Ok(arguments) => arguments,
            Err(message) => return ToolOutcome::Error(message),
        };
        match self.pool.call(spec, &target.tool, arguments, &ctx.cancel, ctx.deadline).await {
            Ok(result) => match render(&result, self.pool.settings().max_output_bytes) {
                Ok(text) => ToolOutcome::Output(text),
                Err(text) => ToolOutcome::Error(text),
            },
            Err(e) => {
                tracing::warn!(server = %spec.label, tool = %target.tool, error = %e, "request mcp tool call failed");
                ToolOutcome::Error(format!("MCP server '{}': {e}", spec.label))
            }
        }
    }

    fn approval_label(&self, call: &ToolCall) -> Option<String> {
        let target = self.targets.get(&call.name)?;
        let spec = self.servers.get(target.server)?;
        spec.approval.requires(&target.tool).then(|| spec.label.clone())
    }

    fn mcp_target(&self, name: &str) -> Option<McpTarget> {
        let target = self.targets.get(name)?;
        let spec = self.servers.get(target.server)?;
        Some(McpTarget { server_label: spec.label.clone(), tool: target.tool.clone() })
    }

    fn mcp_name(&self, server_label: &str, tool: &str) -> Option<String> {
        self.targets.iter().find_map(|(name, target)| {
            let spec = self.servers.get(target.server)?;
            (spec.label == server_label && target.tool == tool).then(|| name.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_plain_unless_they_collide() {
        let used = HashSet::from(["a".to_string()]);
        assert_eq!(unique("a", &used), "a_2");
        assert_eq!(unique(&"x".repeat(80), &HashSet::new()).len(), 64);
        assert_eq!(sanitize("get.sum"), "get_sum");
        assert!(valid_name("add") && !valid_name("get.sum") && !valid_name(""));
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_arguments(" "), Ok(JsonObject::new()));
        assert!(parse_arguments("[1]").is_err());
        assert!(parse_arguments("{").is_err());
    }
}
