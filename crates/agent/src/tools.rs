//! The tool seam: what tools a turn may offer and what invoking one can lead to.

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
