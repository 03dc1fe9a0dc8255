//! The model seam: what the loop sends a model and the events it streams back.

use std::pin::Pin;

use agenthost_responses::{CreateRequest, Item, Usage};
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

impl ModelRequest {
    /// A turn's first model call for `request`: the agent's instructions, then the request's;
    /// `input` is the history followed by the request's resolved input. Tools are added once the
    /// request's toolboxes are resolved.
    pub fn from_request(request: &CreateRequest, agent_instructions: Option<&str>, input: Vec<Item>) -> Self {
        let instructions = match (agent_instructions, request.instructions.as_deref()) {
            (Some(a), Some(r)) => Some(format!("{a}\n\n{r}")),
            (a, r) => a.or(r).map(str::to_string),
        };
        ModelRequest {
            instructions,
            input: crate::mcp_view::model_view(input),
            tools: Vec::new(),
            tool_choice: request.tool_choice.clone(),
            parallel_tool_calls: request.parallel_tool_calls,
            temperature: request.temperature,
            top_p: request.top_p,
            max_output_tokens: request.max_output_tokens,
        }
    }
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

/// A model call failed. Its code becomes the failed response's `error.code`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ModelError {
    /// What kind of failure, with a stable wire code.
    pub code: ModelErrorCode,
    /// What happened, safe to show a client (never contains credentials).
    pub message: String,
}

impl ModelError {
    /// An error with `code` and `message`.
    pub fn new(code: ModelErrorCode, message: impl Into<String>) -> Self {
        ModelError { code, message: message.into() }
    }
}

/// The kinds of model failure; [`ModelErrorCode::as_str`] is the stable wire code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelErrorCode {
    /// The provider throttled us (429); retryable unless the quota is exhausted.
    RateLimited,
    /// The provider failed or could not be reached.
    ModelUnavailable,
    /// The input does not fit the model's context window.
    ContextLengthExceeded,
    /// The provider refused the request as invalid.
    InvalidModelRequest,
    /// The provider refused our credentials.
    ModelAuthFailed,
    /// The model did not answer in time.
    ModelTimeout,
    /// Anything else.
    ModelError,
}

impl ModelErrorCode {
    /// The stable wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelErrorCode::RateLimited => "rate_limited",
            ModelErrorCode::ModelUnavailable => "model_unavailable",
            ModelErrorCode::ContextLengthExceeded => "context_length_exceeded",
            ModelErrorCode::InvalidModelRequest => "invalid_model_request",
            ModelErrorCode::ModelAuthFailed => "model_auth_failed",
            ModelErrorCode::ModelTimeout => "model_timeout",
            ModelErrorCode::ModelError => "model_error",
        }
    }
}

impl std::fmt::Display for ModelErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
