//! Every way an HTTP API request can fail before a response exists, and the one table that maps
//! each to its status, envelope `type`, stable `code` and `x-platform-error-source` (§6.1).
//!
//! Handlers return [`ApiError`] with `?`. Its `IntoResponse` sets the status and leaves an
//! [`ErrorBody`] in the response extensions; the platform middleware renders the envelope,
//! because only it knows the request id that goes into `additional_info`.

use agenthost_responses::{RequestError, ValidationDetail};
use agenthost_store::StoreError;
use agenthost_toolbox::MarkerError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Who caused an error, sent as `x-platform-error-source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorSource {
    /// The caller sent something wrong.
    User,
    /// The platform or this server.
    Platform,
}

impl ErrorSource {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorSource::User => "user",
            ErrorSource::Platform => "platform",
        }
    }
}

/// A request the API refuses or cannot serve. The message is the `Display` text.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No such response for this user (another user's is indistinguishable).
    #[error("Response '{0}' not found.")]
    ResponseNotFound(String),
    /// Its owner deleted it.
    #[error("Response '{0}' has been deleted.")]
    ResponseDeleted(String),
    /// `previous_response_id` names nothing this user can see.
    #[error("Previous response with id '{0}' not found.")]
    PreviousResponseNotFound(String),
    /// An `item_reference` input names nothing this user can see.
    #[error("Item '{id}' not found.")]
    ItemNotFound {
        /// The referenced item id.
        id: String,
        /// Its index in `input`.
        index: usize,
    },
    /// An `mcp_approval_response` answers no pending approval request.
    #[error("{message}")]
    UnknownApproval {
        /// What is wrong.
        message: String,
        /// Its index in `input`.
        index: usize,
    },
    /// A query parameter has a value outside its domain.
    #[error("{message}")]
    InvalidValue {
        /// The parameter.
        param: &'static str,
        /// What it must be.
        message: &'static str,
    },
    /// `GET ?stream=true` on a response created without `background`.
    #[error("This response cannot be streamed because it was not created with background=true.")]
    NotBackground,
    /// `GET ?stream=true` on a background response with no recorded events.
    #[error(
        "This response cannot be streamed because it was not created with stream=true, or its events have expired."
    )]
    NotReplayable,
    /// Cancel of a synchronous response.
    #[error("Cannot cancel a synchronous response.")]
    CancelSynchronous,
    /// Cancel of a finished response; the text is the article and status (`a completed`).
    #[error("Cannot cancel {0} response.")]
    CancelFinished(&'static str),
    /// Delete of a background response still running.
    #[error("Response '{0}' is in progress and cannot be deleted.")]
    DeleteInProgress(String),
    /// The body is over the configured limit.
    #[error("Request body exceeds the limit of {0} bytes.")]
    BodyTooLarge(usize),
    /// The body could not be read (client went away, malformed chunking).
    #[error("Could not read the request body.")]
    UnreadableBody,
    /// The body did not arrive within the body timeout (seconds).
    #[error("The request body did not arrive within {0} seconds.")]
    BodyTimeout(u64),
    /// A platform id header is too long or not text.
    #[error("Header '{name}' {reason}.")]
    InvalidPlatformHeader {
        /// The header.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A concurrency cap is reached; the client may retry after `retry_after` seconds.
    #[error("Too many {what}; retry after {retry_after} second(s).")]
    TooManyRequests {
        /// What ran out (`concurrent responses`, `open streams`).
        what: &'static str,
        /// Seconds, sent as `Retry-After`.
        retry_after: u64,
    },
    /// The server is draining.
    #[error("The server is shutting down and accepts no new responses.")]
    ShuttingDown,
    /// A hosted request without a call id (§2.3).
    #[error("Unsupported responses protocol version. This agent requires responses protocol v2.0.0")]
    UnsupportedProtocol,
    /// A request `mcp` tool is malformed.
    #[error("{}", .0.message)]
    McpTool(agenthost_remote_mcp::SpecError),
    /// A request `mcp` tool's `server_url` may not be reached (outbound safety).
    #[error("{message}")]
    McpUrlForbidden {
        /// Names the rule and the host.
        message: String,
        /// `$.tools[i].server_url`.
        param: String,
    },
    /// Request `mcp` tools by URL are switched off (`AGENTHOST_MCP_URL_TOOLS=off`).
    #[error("This server does not take 'mcp' tools by server_url; use a toolbox (foundry-toolbox://<name>).")]
    McpUrlToolsDisabled {
        /// `$.tools[i].server_url`.
        param: String,
    },
    /// A hosted request with a call id but no user id.
    #[error("The hosted platform sent no x-agent-user-id; responses cannot be partitioned by user.")]
    MissingUserId,
    /// No route matches.
    #[error("No such route.")]
    RouteNotFound,
    /// No such conversation for this user (another user's is indistinguishable).
    #[error("Conversation '{0}' not found.")]
    ConversationNotFound(String),
    /// The conversation has no such item.
    #[error("Item '{item}' not found in conversation '{conversation}'.")]
    ConversationItemNotFound {
        /// The conversation.
        conversation: String,
        /// The item id.
        item: String,
    },
    /// Another response is running on the conversation; responses on one conversation run one
    /// at a time so their items never interleave.
    #[error("Another response ('{holder}') is in progress on conversation '{conversation}'; retry when it ends.")]
    ConversationLocked {
        /// The conversation.
        conversation: String,
        /// The response that holds it.
        holder: String,
    },
    /// A response on a conversation without `input`, whose conversation does not end with a user
    /// message.
    #[error("'input' is required unless the conversation ends with a user message.")]
    MissingInput,

    /// The create request failed validation.
    #[error("{}", .0.message)]
    Request(RequestError),
    /// A `foundry-toolbox://` marker names an invalid or unknown toolbox.
    #[error("{}", .0.message)]
    Marker(MarkerError),
    /// The response store failed; details go to the log only.
    #[error("{}", store_message(.0))]
    Store(#[from] StoreError),
    /// Anything else on our side; the text says what, for the log only.
    #[error("An internal server error occurred.")]
    Internal(&'static str),
}

fn store_message(e: &StoreError) -> &'static str {
    match e {
        StoreError::Unavailable(_) => "The response store is unavailable; retry later.",
        StoreError::Corrupt(_) => "An internal server error occurred.",
    }
}

/// The table: status, envelope `type`, stable `code`, and who caused it.
struct Class(StatusCode, &'static str, &'static str, ErrorSource);

impl ApiError {
    fn class(&self) -> Class {
        use ErrorSource::{Platform, User};
        const INVALID: &str = "invalid_request_error";
        const BAD: StatusCode = StatusCode::BAD_REQUEST;
        match self {
            ApiError::ResponseNotFound(_)
            | ApiError::RouteNotFound
            | ApiError::ConversationNotFound(_)
            | ApiError::ConversationItemNotFound { .. } => Class(StatusCode::NOT_FOUND, INVALID, "not_found", User),
            ApiError::ResponseDeleted(_) => Class(BAD, INVALID, "response_deleted", User),
            ApiError::PreviousResponseNotFound(_) => {
                Class(StatusCode::NOT_FOUND, INVALID, "previous_response_not_found", User)
            }
            ApiError::ItemNotFound { .. } => Class(BAD, INVALID, "item_not_found", User),
            ApiError::ConversationLocked { .. } => Class(StatusCode::CONFLICT, INVALID, "conversation_locked", User),
            ApiError::MissingInput => Class(BAD, INVALID, "missing_input", User),
            ApiError::UnknownApproval { .. } => Class(BAD, INVALID, "unknown_approval_request", User),
            ApiError::InvalidValue { .. } => Class(BAD, INVALID, "invalid_value", User),
            ApiError::NotBackground
            | ApiError::NotReplayable
            | ApiError::CancelSynchronous
            | ApiError::CancelFinished(_)
            | ApiError::DeleteInProgress(_)
            | ApiError::UnreadableBody => Class(BAD, INVALID, INVALID, User),
            ApiError::BodyTooLarge(_) => Class(StatusCode::PAYLOAD_TOO_LARGE, INVALID, "request_too_large", User),
            ApiError::BodyTimeout(_) => Class(StatusCode::REQUEST_TIMEOUT, INVALID, "request_timeout", User),
            ApiError::InvalidPlatformHeader { .. } => Class(BAD, INVALID, "invalid_platform_header", User),
            ApiError::TooManyRequests { .. } => {
                Class(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "too_many_requests", Platform)
            }
            ApiError::ShuttingDown => {
                Class(StatusCode::SERVICE_UNAVAILABLE, "server_error", "server_shutting_down", Platform)
            }
            ApiError::UnsupportedProtocol => {
                Class(StatusCode::NOT_IMPLEMENTED, INVALID, "unsupported_container_protocol_version", Platform)
            }
            ApiError::MissingUserId => Class(BAD, INVALID, "missing_user_id", Platform),
            ApiError::Request(e) => Class(BAD, INVALID, e.code, User),
            ApiError::Marker(e) => Class(BAD, INVALID, e.code, User),
            ApiError::McpTool(_) => Class(BAD, INVALID, "invalid_mcp_tool", User),
            ApiError::McpUrlForbidden { .. } => Class(BAD, INVALID, "mcp_server_url_forbidden", User),
            ApiError::McpUrlToolsDisabled { .. } => Class(BAD, INVALID, "mcp_url_tools_disabled", User),
            ApiError::Store(StoreError::Unavailable(_)) => {
                Class(StatusCode::SERVICE_UNAVAILABLE, "server_error", "store_unavailable", Platform)
            }
            ApiError::Store(_) | ApiError::Internal(_) => {
                Class(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "server_error", Platform)
            }
        }
    }

    /// The offending parameter, as the envelope's `param`.
    fn param(&self) -> Option<String> {
        match self {
            ApiError::PreviousResponseNotFound(_) => Some("previous_response_id".into()),
            ApiError::ItemNotFound { index, .. } => Some(format!("$.input[{index}]")),
            ApiError::UnknownApproval { index, .. } => Some(format!("$.input[{index}].approval_request_id")),
            ApiError::InvalidValue { param, .. } => Some((*param).into()),
            ApiError::NotBackground | ApiError::NotReplayable => Some("stream".into()),
            ApiError::ConversationLocked { .. } => Some("conversation".into()),
            ApiError::MissingInput => Some("input".into()),
            ApiError::Request(e) => e.param.clone(),
            ApiError::Marker(e) => Some(e.param.clone()),
            ApiError::McpTool(e) => Some(e.param.clone()),
            ApiError::McpUrlForbidden { param, .. } | ApiError::McpUrlToolsDisabled { param } => Some(param.clone()),
            ApiError::InvalidPlatformHeader { name, .. } => Some((*name).into()),
            _ => None,
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        ApiError::Request(e)
    }
}

impl From<MarkerError> for ApiError {
    fn from(e: MarkerError) -> Self {
        ApiError::Marker(e)
    }
}

/// A refusal as the middleware renders it.
#[derive(Clone, Debug)]
pub struct ErrorBody {
    /// HTTP status.
    pub status: StatusCode,
    /// Envelope `type`.
    pub kind: &'static str,
    /// Stable envelope `code`.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Offending parameter.
    pub param: Option<String>,
    /// Per-field validation failures.
    pub details: Vec<ValidationDetail>,
    /// Who caused it.
    pub source: ErrorSource,
}

impl ErrorBody {
    /// The envelope body, with the request id.
    pub fn envelope(&self, request_id: &str) -> Value {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
            "additional_info": {"request_id": request_id},
        });
        if !self.details.is_empty() {
            error["details"] = self
                .details
                .iter()
                .map(|d| json!({"type": "invalid_request_error", "code": "invalid_value", "param": d.param, "message": d.message}))
                .collect();
        }
        json!({ "error": error })
    }
}

impl From<ApiError> for ErrorBody {
    fn from(e: ApiError) -> Self {
        let Class(status, kind, code, source) = e.class();
        let param = e.param();
        let message = e.to_string();
        let details = match e {
            ApiError::Request(r) => r.details,
            _ => Vec::new(),
        };
        ErrorBody { status, kind, code, message, param, details, source }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // What the client is not told goes to the log (the request's span is current here).
        match &self {
            ApiError::Store(e) => tracing::error!(code = e.code(), "store failure: {e}"),
            ApiError::Internal(what) => tracing::error!("internal error: {what}"),
            _ => {}
        }
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let body = ErrorBody::from(self);
        let mut response = body.status.into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response.extensions_mut().insert(body);
        response
    }
}
