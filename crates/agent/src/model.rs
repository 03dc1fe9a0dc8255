//! The model seam: what the loop sends a model and the events it streams back.

use std::pin::Pin;

use agenthost_responses::{Item, Usage};
use futures::Stream;
use serde_json::Value;

use crate::context::RequestContext;
use crate::tools::ToolSpec;

/// One model call: everything the model sees.
#[derive(Clone, Debug, Default)]
pub struct ModelRequest {
    /// System instructions (the agent's, then the request's).
    pub instructions: Option<String>,
    /// History, this request's input, and the items of this turn so far, oldest first.
    pub input: Vec<Item>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// `tool_choice` from the request.
    pub tool_choice: Option<Value>,
    /// Whether several tool calls may come in one step.
    pub parallel_tool_calls: Option<bool>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Output token limit.
    pub max_output_tokens: Option<u64>,
}

/// What a model streams back, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelEvent {
    /// Answer text.
    TextDelta(String),
    /// Refusal text.
    RefusalDelta(String),
    /// Reasoning summary text.
    ReasoningDelta(String),
    /// Opaque reasoning state to keep with the reasoning item.
    ReasoningEncrypted(String),
    /// A tool call begins.
    FunctionCallStart {
        /// Correlates the call with its output.
        call_id: String,
        /// The tool.
        name: String,
    },
    /// More of a tool call's arguments.
    FunctionCallArgumentsDelta {
        /// The call.
        call_id: String,
        /// Argument text.
        delta: String,
    },
    /// A tool call is complete; `arguments` is the whole argument document.
    FunctionCallDone {
        /// The call.
        call_id: String,
        /// The complete arguments.
        arguments: String,
    },
    /// Token usage of this call.
    Usage(Usage),
}

/// A stream of model events.
pub type ModelStream = Pin<Box<dyn Stream<Item = Result<ModelEvent, ModelError>> + Send>>;

/// A model call failed. The code is stable and becomes the failed response's `error.code`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ModelError {
    /// `rate_limited`, `model_unavailable`, `context_length_exceeded`, `invalid_model_request`,
    /// `model_timeout`, `model_error`.
    pub code: String,
    /// What happened, safe to show a client (never contains credentials).
    pub message: String,
}

impl ModelError {
    /// An error with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError { code: code.into(), message: message.into() }
    }
}

/// A language model the agent loop can call.
#[async_trait::async_trait]
pub trait Model: Send + Sync {
    /// The provider name, for telemetry (`scripted`, `openai`, ...).
    fn provider(&self) -> &str;

    /// `gen_ai.provider.name` (`openai`, `azure.ai.openai`, ...); defaults to [`Model::provider`].
    fn gen_ai_provider(&self) -> &str {
        self.provider()
    }

    /// `gen_ai.request.model`: the configured model or deployment, never a client-chosen string
    /// (it labels metrics); defaults to [`Model::provider`].
    fn model_name(&self) -> &str {
        self.provider()
    }

    /// Starts one model call and streams its output.
    async fn stream(&self, ctx: &RequestContext, request: ModelRequest) -> Result<ModelStream, ModelError>;
}
