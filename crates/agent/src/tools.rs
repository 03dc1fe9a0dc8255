//! The tool seam: what tools a turn may offer and what invoking one can lead to.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::context::RequestContext;

/// A tool as the model sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// Model-facing name (`^[a-zA-Z0-9_-]{1,64}$`).
    pub name: String,
    /// What the tool does.
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    /// The toolbox the tool comes from, if any.
    pub server_label: Option<String>,
}

/// One tool call to execute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// Correlates the call with its output.
    pub call_id: String,
    /// Model-facing tool name.
    pub name: String,
    /// Arguments, a JSON document as text.
    pub arguments: String,
}

/// A tool source needs the user to sign in before it can be used.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsentRequest {
    /// The tool source name, shown to the user.
    pub server_label: String,
    /// The validated sign-in link.
    pub consent_link: String,
}

/// What invoking a tool led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolOutcome {
    /// The tool's output, given to the model.
    Output(String),
    /// The tool failed; the message is given to the model, which answers from it.
    Error(String),
    /// The tool cannot run until the user consents; the turn stops and asks the user.
    ConsentRequired(Vec<ConsentRequest>),
}

/// The tools one turn may use.
#[async_trait::async_trait]
pub trait ToolSet: Send + Sync {
    /// The tools offered to the model.
    fn specs(&self) -> Vec<ToolSpec>;

    /// Runs one call. Never panics; every failure is an outcome.
    async fn invoke(&self, ctx: &RequestContext, call: &ToolCall) -> ToolOutcome;

    /// When a call must wait for the user's approval, the `server_label` to show with the
    /// approval request; `None` to run it at once.
    fn approval_label(&self, _call: &ToolCall) -> Option<String> {
        None
    }

    /// When the tool belongs to a request `mcp` server: that server and the tool's name there.
    /// Such calls are `mcp_call` items rather than `function_call`s.
    fn mcp_target(&self, _name: &str) -> Option<McpTarget> {
        None
    }

    /// The model-facing name of `tool` on the request `mcp` server `server_label`, to run a call
    /// the user approved.
    fn mcp_name(&self, _server_label: &str, _tool: &str) -> Option<String> {
        None
    }
}

/// Where an `mcp_call` goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpTarget {
    /// The request tool's `server_label`.
    pub server_label: String,
    /// The tool's name on that server.
    pub tool: String,
}

/// Several tool sets as one: specs in order, and each call routed to the set that offered its
/// name. A name offered twice belongs to the first set that offers it.
pub struct Combined {
    sets: Vec<Arc<dyn ToolSet>>,
    owner: HashMap<String, usize>,
    specs: Vec<ToolSpec>,
}

impl Combined {
    /// Combines `sets`, earlier ones first.
    pub fn new(sets: Vec<Arc<dyn ToolSet>>) -> Self {
        let mut owner = HashMap::new();
        let mut specs = Vec::new();
        for (index, set) in sets.iter().enumerate() {
            for spec in set.specs() {
                if !owner.contains_key(&spec.name) {
                    owner.insert(spec.name.clone(), index);
                    specs.push(spec);
                }
            }
        }
        Self { sets, owner, specs }
    }

    fn set_of(&self, name: &str) -> Option<&Arc<dyn ToolSet>> {
        self.owner.get(name).and_then(|i| self.sets.get(*i))
    }
}

#[async_trait::async_trait]
impl ToolSet for Combined {
    fn specs(&self) -> Vec<ToolSpec> {
        self.specs.clone()
    }

    async fn invoke(&self, ctx: &RequestContext, call: &ToolCall) -> ToolOutcome {
        match self.set_of(&call.name) {
            Some(set) => set.invoke(ctx, call).await,
            None => NoTools.invoke(ctx, call).await,
        }
    }

    fn approval_label(&self, call: &ToolCall) -> Option<String> {
        self.set_of(&call.name)?.approval_label(call)
    }

    fn mcp_target(&self, name: &str) -> Option<McpTarget> {
        self.set_of(name)?.mcp_target(name)
    }

    fn mcp_name(&self, server_label: &str, tool: &str) -> Option<String> {
        self.sets.iter().find_map(|set| set.mcp_name(server_label, tool))
    }
}

/// The empty tool set.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTools;

#[async_trait::async_trait]
impl ToolSet for NoTools {
    fn specs(&self) -> Vec<ToolSpec> {
        Vec::new()
    }

    async fn invoke(&self, _ctx: &RequestContext, call: &ToolCall) -> ToolOutcome {
        ToolOutcome::Error(format!("tool '{}' is not available to this agent", call.name))
    }
}
