//! The one error type of the HTTP API and its mapping to the protocol's error envelope (§6.1).
//!
//! Handlers return [`ApiError`]; its `IntoResponse` sets the status and stores the error in the
//! response extensions, and the platform middleware renders the envelope, because only it knows
//! the request id that goes into `additional_info`.

use agenthost_responses::{RequestError, ValidationDetail};
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

/// An error answered before a response was created.
#[derive(Clone, Debug)]
pub struct ApiError {
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

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        let source = if status.is_client_error() { ErrorSource::User } else { ErrorSource::Platform };
        ApiError { status, kind, code, message: message.into(), param: None, details: Vec::new(), source }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>, param: Option<&str>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", code, message);
        e.param = param.map(str::to_string);
        e
    }

    /// 404 for a response that does not exist for this user.
    pub fn response_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", format!("Response '{id}' not found."))
    }

    /// 400 for a response its owner deleted.
    pub fn response_deleted(id: &str) -> Self {
        Self::bad_request("response_deleted", format!("Response '{id}' has been deleted."), None)
    }

    /// 413 for a body over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("Request body exceeds the limit of {limit} bytes."),
        )
    }

    /// 503 while draining.
    pub fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "server_shutting_down",
            "The server is shutting down and accepts no new responses.",
        )
    }

    /// 500 with the generic message; details go to the log only.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "server_error",
            "An internal server error occurred.",
        )
    }

    /// 501 for a hosted request without a call id (§2.3).
    pub fn unsupported_protocol() -> Self {
        let mut e = Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "invalid_request_error",
            "unsupported_container_protocol_version",
            "Unsupported responses protocol version. This agent requires responses protocol v2.0.0",
        );
        e.source = ErrorSource::Platform;
        e
    }

    /// 400 for a hosted request with a call id but no user id.
    pub fn missing_user_id() -> Self {
        let mut e = Self::bad_request(
            "missing_user_id",
            "The hosted platform sent no x-agent-user-id; responses cannot be partitioned by user.",
            None,
        );
        e.source = ErrorSource::Platform;
        e
    }

    /// 404 for an unknown route.
    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", "No such route.")
    }

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

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        let mut api = ApiError::bad_request(e.code, e.message, e.param.as_deref());
        api.details = e.details;
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}
