//! Stable [`ModelError`] codes, and the mapping of upstream failures onto them.
//!
//! Every message built here from upstream content goes through [`Scrubber`], which removes the
//! credentials of the call and anything that looks like a bearer token or key header, and
//! bounds the length.

use std::time::Duration;

use agenthost_agent::{ModelError, ModelErrorCode};
use serde_json::Value;

/// The stable error codes a backend reports in [`ModelError::code`].
pub mod codes {
    use agenthost_agent::ModelErrorCode;

    /// HTTP 429 after the retries (or a stream-level rate-limit error).
    pub const RATE_LIMITED: ModelErrorCode = ModelErrorCode::RateLimited;
    /// HTTP 5xx, connection failures, or a stream that broke off.
    pub const MODEL_UNAVAILABLE: ModelErrorCode = ModelErrorCode::ModelUnavailable;
    /// The input does not fit the model's context window.
    pub const CONTEXT_LENGTH_EXCEEDED: ModelErrorCode = ModelErrorCode::ContextLengthExceeded;
    /// Any other 4xx: the upstream rejected the request.
    pub const INVALID_MODEL_REQUEST: ModelErrorCode = ModelErrorCode::InvalidModelRequest;
    /// HTTP 401/403, or no access token could be obtained.
    pub const MODEL_AUTH_FAILED: ModelErrorCode = ModelErrorCode::ModelAuthFailed;
    /// No response headers within the first-byte timeout, silence longer than the idle
    /// timeout, or the request deadline passed.
    pub const MODEL_TIMEOUT: ModelErrorCode = ModelErrorCode::ModelTimeout;
    /// A stream-level error event or a malformed stream.
    pub const MODEL_ERROR: ModelErrorCode = ModelErrorCode::ModelError;
}

/// Longest upstream message kept in an error.
const MAX_MESSAGE_CHARS: usize = 1000;

/// One failed attempt and whether another attempt may succeed.
#[derive(Debug)]
pub(crate) struct Failure {
    /// What the caller sees if this is the last attempt.
    pub error: ModelError,
    /// Whether a retry may help (only honoured while nothing has been yielded).
    pub retryable: bool,
    /// The server's requested delay, if it sent one.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure that retrying cannot fix.
    pub fn fatal(code: ModelErrorCode, message: impl Into<String>) -> Self {
        Failure { error: ModelError::new(code, message), retryable: false, retry_after: None }
    }

    /// A failure that a retry may fix.
    pub fn transient(code: ModelErrorCode, message: impl Into<String>) -> Self {
        Failure { error: ModelError::new(code, message), retryable: true, retry_after: None }
    }
}

/// Removes credentials from upstream text.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    /// A scrubber that also removes these exact values (API key, token).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        Scrubber { secrets: secrets.into_iter().filter(|s| s.len() >= 4).collect() }
    }

    /// `text` without known secrets or bearer/key header values, at most 1000 characters.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        for marker in ["bearer ", "api-key:", "api-key=", "api_key="] {
            out = redact_after(&out, marker);
        }
        if out.chars().count() > MAX_MESSAGE_CHARS {
            out = out.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
        }
        out
    }
}

/// Replaces the token following each case-insensitive occurrence of `marker`.
fn redact_after(text: &str, marker: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(marker) {
        let start = pos + found + marker.len();
        out.push_str(&text[pos..start]);
        let rest = &text[start..];
        let skipped = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..skipped]);
        let token_len = rest[skipped..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '}' | ')'))
            .unwrap_or(rest.len() - skipped);
        if token_len > 0 {
            out.push_str("[redacted]");
        }
        pos = start + skipped + token_len;
    }
    out.push_str(&text[pos..]);
    out
}

/// Whether an upstream code or message says the input is too long for the model.
pub(crate) fn is_context_length(code: &str, message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    code.contains("context_length")
        || message.contains("context length")
        || message.contains("context_length")
        || message.contains("maximum context")
        || message.contains("context window")
}

/// The `(code, type, message)` of an OpenAI-style error document: `{"error":{…}}`, or the
/// error fields at the top level. Codes may be strings or numbers.
pub(crate) fn error_fields(doc: &Value) -> (String, String, Option<String>) {
    let err = match doc.get("error") {
        Some(e) if e.is_object() => e,
        _ => doc,
    };
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let message = match err.get("message") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => match doc.get("error") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        },
    };
    (text(err.get("code")), text(err.get("type")), message)
}

/// Maps a non-success HTTP status and its body onto a failure.
pub(crate) fn from_status(status: u16, body: &str, retry_after: Option<Duration>, scrubber: &Scrubber) -> Failure {
    let doc: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let (code, kind, message) = error_fields(&doc);
    let message = match message {
        Some(m) if !m.trim().is_empty() => scrubber.scrub(&m),
        _ if !body.trim().is_empty() && doc.is_null() => scrubber.scrub(body.trim()),
        _ => format!("the model endpoint answered HTTP {status}"),
    };
    let tag = format!("{code} {kind}").to_ascii_lowercase();
    let (mapped, retryable) = match status {
        401 | 403 => (codes::MODEL_AUTH_FAILED, false),
        408 => (codes::MODEL_TIMEOUT, true),
        // An exhausted quota does not come back by waiting a few seconds.
        429 => (codes::RATE_LIMITED, !tag.contains("insufficient_quota")),
        400..=499 if is_context_length(&tag, &message) => (codes::CONTEXT_LENGTH_EXCEEDED, false),
        400..=499 => (codes::INVALID_MODEL_REQUEST, false),
        _ if status >= 500 => (codes::MODEL_UNAVAILABLE, true),
        _ => (codes::MODEL_ERROR, false),
    };
    Failure { error: ModelError::new(mapped, message), retryable, retry_after }
}

/// Maps a stream-level error document (`error` event, `response.failed`'s `error`, a Chat
/// Completions `{"error":…}` chunk) onto a failure.
pub(crate) fn from_stream_error(doc: &Value, scrubber: &Scrubber) -> Failure {
    let (code, kind, message) = error_fields(doc);
    let message = match message {
        Some(m) if !m.trim().is_empty() => scrubber.scrub(&m),
        _ => "the model stream reported an error".to_string(),
    };
    let tag = format!("{code} {kind}").to_ascii_lowercase();
    let status: Option<u16> = code.parse().ok();
    let (mapped, retryable) = if is_context_length(&tag, &message) {
        (codes::CONTEXT_LENGTH_EXCEEDED, false)
    } else if tag.contains("rate_limit") || status == Some(429) {
        (codes::RATE_LIMITED, true)
    } else if tag.contains("server_error")
        || tag.contains("overloaded")
        || tag.contains("unavailable")
        || status.is_some_and(|s| s >= 500)
    {
        (codes::MODEL_UNAVAILABLE, true)
    } else if tag.contains("invalid_request") || status.is_some_and(|s| (400..500).contains(&s)) {
        (codes::INVALID_MODEL_REQUEST, false)
    } else {
        (codes::MODEL_ERROR, false)
    };
    Failure { error: ModelError::new(mapped, message), retryable, retry_after: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scrubs_secrets_and_header_values() {
        let s = Scrubber::new(["sk-abc123".to_string()]);
        assert_eq!(s.scrub("bad key sk-abc123 given"), "bad key [redacted] given");
        assert_eq!(
            s.scrub("header Authorization: Bearer eyJ.x.y was rejected"),
            "header Authorization: Bearer [redacted] was rejected"
        );
        assert_eq!(s.scrub("api-key: 0123abcd, nope"), "api-key: [redacted], nope");
        assert_eq!(s.scrub("nothing here"), "nothing here");
        assert!(s.scrub(&"x".repeat(5000)).chars().count() <= 1001);
    }

    #[test]
    fn http_statuses_map_to_codes() {
        let s = Scrubber::default();
        let ctx = json!({"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}).to_string();
        let f = from_status(400, &ctx, None, &s);
        assert_eq!(f.error.code, codes::CONTEXT_LENGTH_EXCEEDED);
        assert_eq!(f.error.message, "This model's maximum context length is 8192 tokens");
        assert!(!f.retryable);
        let f = from_status(400, r#"{"error":{"message":"Input too long: maximum context is 4k"}}"#, None, &s);
        assert_eq!(f.error.code, codes::CONTEXT_LENGTH_EXCEEDED);
        assert_eq!(from_status(404, "", None, &s).error.code, codes::INVALID_MODEL_REQUEST);
        assert_eq!(from_status(401, "", None, &s).error.code, codes::MODEL_AUTH_FAILED);
        assert_eq!(from_status(403, "", None, &s).error.code, codes::MODEL_AUTH_FAILED);
        let f = from_status(429, r#"{"error":{"code":"429","message":"slow down"}}"#, None, &s);
        assert_eq!((f.error.code, f.retryable), (codes::RATE_LIMITED, true));
        let f = from_status(429, r#"{"error":{"code":"insufficient_quota","message":"quota"}}"#, None, &s);
        assert!(!f.retryable);
        let f = from_status(503, "upstream connect error", None, &s);
        assert_eq!(f.error.code, codes::MODEL_UNAVAILABLE);
        assert_eq!(f.error.message, "upstream connect error");
        assert!(f.retryable);
        assert_eq!(from_status(502, "", None, &s).error.message, "the model endpoint answered HTTP 502");
    }

    #[test]
    fn stream_errors_map_to_codes() {
        let s = Scrubber::default();
        let code = |v: Value| from_stream_error(&v, &s).error.code;
        assert_eq!(code(json!({"type":"error","code":"server_error","message":"x"})), codes::MODEL_UNAVAILABLE);
        assert_eq!(code(json!({"error":{"type":"server_error","message":"x"}})), codes::MODEL_UNAVAILABLE);
        assert_eq!(code(json!({"code":"rate_limit_exceeded","message":"x"})), codes::RATE_LIMITED);
        assert_eq!(code(json!({"code":"context_length_exceeded","message":"x"})), codes::CONTEXT_LENGTH_EXCEEDED);
        assert_eq!(code(json!({"object":"error","code":400,"message":"bad"})), codes::INVALID_MODEL_REQUEST);
        assert_eq!(code(json!({"code":"weird","message":"x"})), codes::MODEL_ERROR);
    }
}
