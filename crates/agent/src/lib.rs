//! The agent: a [`Model`] plus a [`ToolSet`], driven by [`run_turn`] for one response.
//!
//! The loop asks the model for a step, streams its text and tool calls into a
//! [`ResponseWriter`](agenthost_responses::ResponseWriter), runs the tool calls it asked for
//! (concurrently), feeds the results back and repeats until the model answers without tools, a
//! tool needs the user's consent, or the iteration limit is reached.
//!
//! Everything a turn needs about its request travels in an explicit [`RequestContext`]; this crate
//! has no task-locals or globals.

mod approval;
mod context;
mod mcp_view;
mod model;
mod scripted;
mod spans;
pub mod telemetry;
mod tools;
mod turn;

pub use approval::{ApprovalError, approvals_from};
pub use context::{RequestContext, TraceHeaders, UserKey};
pub use mcp_view::model_view;
pub use model::{Model, ModelError, ModelErrorCode, ModelEvent, ModelRequest, ModelStream};
pub use scripted::ScriptedModel;
pub use telemetry::Telemetry;
pub use tools::{Combined, ConsentRequest, McpTarget, NoTools, ToolCall, ToolOutcome, ToolSet, ToolSpec};
pub use turn::{Approval, CONSENT_PENDING_OUTPUT, Preflight, Turn, TurnEnd, run_turn};
