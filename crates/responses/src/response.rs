//! The `Response` object (§5.2 of the protocol reference).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::agent_reference::AgentReference;
use crate::item::Item;
use crate::request::CreateRequest;

/// Lifecycle status of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    /// Accepted in background mode, not started.
    Queued,
    /// Running.
    InProgress,
    /// Finished normally.
    Completed,
    /// Finished with an error.
    Failed,
    /// Stopped early (for example, waiting for the user's consent).
    Incomplete,
    /// Cancelled by the client.
    Cancelled,
}

impl ResponseStatus {
    /// Whether no more events follow this status.
    pub fn is_terminal(self) -> bool {
        !matches!(self, ResponseStatus::Queued | ResponseStatus::InProgress)
    }

    /// The status as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseStatus::Queued => "queued",
            ResponseStatus::InProgress => "in_progress",
            ResponseStatus::Completed => "completed",
            ResponseStatus::Failed => "failed",
            ResponseStatus::Incomplete => "incomplete",
            ResponseStatus::Cancelled => "cancelled",
        }
    }
}

/// The error of a failed response: only `code` and `message` (B6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseError {
    /// A stable, machine-readable code such as `server_error` or `rate_limited`.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

impl ResponseError {
    /// An error with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ResponseError { code: code.into(), message: message.into() }
    }
}

/// Why a response is incomplete. Foundry persistence accepts only these reasons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    pub reason: String,
}

/// Token usage summed over every model call of the turn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens the model read.
    pub input_tokens: u64,
    /// Cached input tokens.
    pub input_tokens_details: InputTokensDetails,
    /// Tokens the model wrote.
    pub output_tokens: u64,
    /// Reasoning tokens among the output tokens.
    pub output_tokens_details: OutputTokensDetails,
    /// Input plus output.
    pub total_tokens: u64,
}

/// Details of input token usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    /// Tokens served from a prompt cache.
    #[serde(default)]
    pub cached_tokens: u64,
}

/// Details of output token usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    /// Tokens spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Usage of `input` and `output` tokens.
    pub fn new(input: u64, output: u64) -> Self {
        Usage { input_tokens: input, output_tokens: output, total_tokens: input + output, ..Usage::default() }
    }

    /// Adds another call's usage to this one.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        self.input_tokens_details.cached_tokens += other.input_tokens_details.cached_tokens;
        self.output_tokens_details.reasoning_tokens += other.output_tokens_details.reasoning_tokens;
    }
}

/// The conversation a response belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationRef {
    /// The conversation id.
    pub id: String,
}

/// A response: the unit of work `POST /responses` creates.
///
/// Optional fields the protocol says to omit are skipped when absent; fields that OpenAI's client
/// libraries declare as always present (`error`, `incomplete_details`, `instructions`, `tools`,
/// `tool_choice`, `parallel_tool_calls`, `temperature`, `top_p`) are always written, null when
/// unknown, so typed clients can read them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// `caresp_…`.
    pub id: String,
    /// Always `response`.
    #[serde(default = "response_object")]
    pub object: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Lifecycle status.
    pub status: ResponseStatus,
    /// Unix seconds, set only when `completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<u64>,
    /// Set only when `failed`.
    #[serde(default)]
    pub error: Option<ResponseError>,
    /// Set only when `incomplete` for a reason the protocol names.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    /// The request's instructions.
    #[serde(default)]
    pub instructions: Option<String>,
    /// The request's `model`, echoed (never forwarded to the model backend).
    pub model: String,
    /// Output items in order.
    #[serde(default)]
    pub output: Vec<Item>,
    /// Echoed from the request.
    #[serde(default = "yes")]
    pub parallel_tool_calls: bool,
    /// Echoed from the request.
    #[serde(default = "auto")]
    pub tool_choice: Value,
    /// Echoed from the request.
    #[serde(default)]
    pub tools: Vec<Value>,
    /// Echoed from the request.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Echoed from the request.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Echoed from the request; `{}` when none.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Token usage, when the run reached a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The response this one continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_response_id: Option<String>,
    /// The conversation this response belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationRef>,
    /// Whether the response runs in background mode.
    #[serde(default)]
    pub background: bool,
    /// Whether the response is stored.
    #[serde(default = "yes")]
    pub store: bool,
    /// The agent that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_reference: Option<AgentReference>,
    /// The resolved session id, also sent as `x-agent-session-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_session_id: Option<String>,
}

fn response_object() -> String {
    "response".to_string()
}
fn yes() -> bool {
    true
}
fn auto() -> Value {
    Value::String("auto".into())
}

impl Response {
    /// A new `in_progress` response with no output.
    pub fn new(id: String, model: String, created_at: u64) -> Self {
        Response {
            id,
            object: response_object(),
            created_at,
            status: ResponseStatus::InProgress,
            completed_at: None,
            error: None,
            incomplete_details: None,
            instructions: None,
            model,
            output: Vec::new(),
            parallel_tool_calls: true,
            tool_choice: auto(),
            tools: Vec::new(),
            temperature: None,
            top_p: None,
            metadata: Map::new(),
            usage: None,
            previous_response_id: None,
            conversation: None,
            background: false,
            store: true,
            agent_reference: None,
            agent_session_id: None,
        }
    }

    /// Whether the turn stopped to ask the user to sign in (`incomplete` with an
    /// `oauth_consent_request`): the client signs in and re-sends the same prompt, so such a
    /// response does not join a conversation's history.
    pub fn awaits_consent(&self) -> bool {
        self.status == ResponseStatus::Incomplete
            && self.output.iter().any(|i| matches!(i, Item::OAuthConsentRequest(_)))
    }

    /// The snapshot a request starts: `queued` in background mode, else `in_progress`, with the
    /// request's echoed settings. `created` supplies what the request does not decide.
    pub fn from_request(request: &CreateRequest, created: Created) -> Self {
        let mut r =
            Response::new(created.id, request.model.clone().unwrap_or(created.default_model), created.created_at);
        r.status = if request.background { ResponseStatus::Queued } else { ResponseStatus::InProgress };
        r.instructions = request.instructions.clone();
        r.tools = request.echoed_tools();
        if let Some(choice) = &request.tool_choice {
            r.tool_choice = choice.clone();
        }
        r.parallel_tool_calls = request.parallel_tool_calls.unwrap_or(true);
        r.temperature = request.temperature;
        r.top_p = request.top_p;
        r.metadata = request.metadata.clone();
        r.previous_response_id = request.previous_response_id.clone();
        r.conversation = request.conversation.clone().map(|id| ConversationRef { id });
        r.background = request.background;
        r.store = request.store;
        r.agent_reference = Some(request.agent_reference.clone().unwrap_or(created.agent));
        r.agent_session_id = Some(created.session_id);
        r
    }
}

/// What the server decides for a new response, beside what its request says.
#[derive(Clone, Debug)]
pub struct Created {
    /// The response id.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The model named when the request names none.
    pub default_model: String,
    /// The agent echoed when the request carries no `agent_reference`.
    pub agent: AgentReference,
    /// The session the response belongs to.
    pub session_id: String,
}
