//! `POST /responses` request parsing and validation (§5.1 of the protocol reference).
//!
//! Parsing never panics and never loses a problem: every invalid field becomes one
//! [`ValidationDetail`] with a JSON path, and the caller gets them all at once.

use serde_json::{Map, Value};

use crate::agent_reference::AgentReference;
use crate::id;
use crate::item::Item;

/// Metadata limits: pairs, key length, value length.
pub const METADATA_MAX_PAIRS: usize = 16;
/// Longest metadata key, in characters.
pub const METADATA_MAX_KEY: usize = 64;
/// Longest metadata value, in characters.
pub const METADATA_MAX_VALUE: usize = 512;

/// A validated create request.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateRequest {
    /// The client's model name, echoed and never forwarded.
    pub model: Option<String>,
    /// Input items (a string input is one user message).
    pub input: Vec<Item>,
    /// Instructions for this turn.
    pub instructions: Option<String>,
    /// The response this one continues.
    pub previous_response_id: Option<String>,
    /// The conversation this response joins.
    pub conversation: Option<String>,
    /// Stream events as server-sent events.
    pub stream: bool,
    /// Run in the background.
    pub background: bool,
    /// Store the response (default true).
    pub store: bool,
    /// Request tools (function tools, `mcp` tools, toolbox markers), echoed on the response.
    pub tools: Vec<Value>,
    /// Echoed `tool_choice`.
    pub tool_choice: Option<Value>,
    /// Echoed `parallel_tool_calls`.
    pub parallel_tool_calls: Option<bool>,
    /// Echoed metadata.
    pub metadata: Map<String, Value>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Output token limit.
    pub max_output_tokens: Option<u64>,
    /// `agent_reference` (or `agent`).
    pub agent_reference: Option<AgentReference>,
    /// Client-chosen session id.
    pub agent_session_id: Option<String>,
}

/// One invalid field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationDetail {
    /// JSON path of the field, such as `$.metadata`.
    pub param: String,
    /// What is wrong with it.
    pub message: String,
}

/// Why a request was rejected before a response was created. Always HTTP 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// Human-readable summary.
    pub message: String,
    /// The first offending field.
    pub param: Option<String>,
    /// Stable code: `invalid_request_error`, `unsupported_parameter`, ...
    pub code: &'static str,
    /// Every invalid field, for schema errors.
    pub details: Vec<ValidationDetail>,
}

impl RequestError {
    pub(crate) fn simple(code: &'static str, message: impl Into<String>, param: Option<&str>) -> Self {
        RequestError { message: message.into(), param: param.map(str::to_string), code, details: Vec::new() }
    }
}

pub(crate) struct Checker {
    pub(crate) details: Vec<ValidationDetail>,
}

impl Checker {
    /// The validation error for everything found, if anything was.
    pub(crate) fn finish(&mut self) -> Result<(), RequestError> {
        if self.details.is_empty() {
            return Ok(());
        }
        let details = std::mem::take(&mut self.details);
        let n = details.len();
        let summary: Vec<&str> = details.iter().map(|d| d.message.as_str()).collect();
        Err(RequestError {
            message: format!(
                "Validation failed with {n} error{}: {}",
                if n == 1 { "" } else { "s" },
                summary.join(" ")
            ),
            param: details.first().map(|d| d.param.clone()),
            code: "invalid_request_error",
            details,
        })
    }

    pub(crate) fn bad(&mut self, param: impl Into<String>, message: impl Into<String>) {
        self.details.push(ValidationDetail { param: param.into(), message: message.into() });
    }

    fn opt_string(&mut self, obj: &Map<String, Value>, key: &str) -> Option<String> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.bad(format!("$.{key}"), format!("'{key}' must be a string."));
                None
            }
        }
    }

    fn opt_bool(&mut self, obj: &Map<String, Value>, key: &str) -> Option<bool> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.bad(format!("$.{key}"), format!("'{key}' must be a boolean."));
                None
            }
        }
    }

    fn opt_number(&mut self, obj: &Map<String, Value>, key: &str) -> Option<f64> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(_) => {
                self.bad(format!("$.{key}"), format!("'{key}' must be a number."));
                None
            }
        }
    }
}

/// A request body that must be a JSON object.
pub(crate) fn body_object(body: &[u8]) -> Result<Map<String, Value>, RequestError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(RequestError::simple("invalid_request_error", "Request body is required.", None));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        RequestError::simple("invalid_request_error", format!("Invalid JSON in request body: {e}"), None)
    })?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(RequestError::simple("invalid_request_error", "Request body must be a JSON object.", None)),
    }
}

impl CreateRequest {
    /// Parses and validates a request body.
    pub fn parse(body: &[u8]) -> Result<CreateRequest, RequestError> {
        let obj = body_object(body)?;
        let mut c = Checker { details: Vec::new() };

        let model = c.opt_string(&obj, "model");
        let input = parse_input(&mut c, obj.get("input"));
        let instructions = parse_instructions(&mut c, obj.get("instructions"));
        let previous_response_id = c.opt_string(&obj, "previous_response_id");
        if let Some(prev) = &previous_response_id
            && !id::is_valid(prev, Some(id::RESPONSE))
        {
            c.bad("$.previous_response_id", "Malformed identifier.");
        }
        let conversation = match obj.get("conversation") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::Object(o)) => match o.get("id") {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
                _ => {
                    c.bad("$.conversation.id", "'conversation.id' must be a non-empty string.");
                    None
                }
            },
            Some(_) => {
                c.bad("$.conversation", "'conversation' must be a string or an object with an 'id'.");
                None
            }
        };
        let stream = c.opt_bool(&obj, "stream").unwrap_or(false);
        let background = c.opt_bool(&obj, "background").unwrap_or(false);
        let store = c.opt_bool(&obj, "store").unwrap_or(true);
        let tools = parse_tools(&mut c, obj.get("tools"));
        let tool_choice = match obj.get("tool_choice") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if matches!(s.as_str(), "auto" | "required" | "none") => {
                Some(Value::String(s.clone()))
            }
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => {
                c.bad("$.tool_choice", "'tool_choice' must be 'auto', 'required', 'none' or an object.");
                None
            }
        };
        let parallel_tool_calls = c.opt_bool(&obj, "parallel_tool_calls");
        let metadata = parse_metadata(&mut c, obj.get("metadata"));
        let temperature = c.opt_number(&obj, "temperature");
        let top_p = c.opt_number(&obj, "top_p");
        let max_output_tokens = match obj.get("max_output_tokens") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(_) => {
                c.bad("$.max_output_tokens", "'max_output_tokens' must be a non-negative integer.");
                None
            }
        };
        let agent_reference = match obj.get("agent_reference").or_else(|| obj.get("agent")) {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => match (o.get("name"), o.get("version")) {
                (Some(Value::String(name)), version) if !name.trim().is_empty() => Some(AgentReference::new(
                    name.clone(),
                    version.and_then(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    }),
                )),
                _ => {
                    c.bad("$.agent_reference.name", "'agent_reference.name' must be a non-empty string.");
                    None
                }
            },
            Some(_) => {
                c.bad("$.agent_reference", "'agent_reference' must be an object.");
                None
            }
        };
        let agent_session_id = c.opt_string(&obj, "agent_session_id");

        c.finish()?;
        if background && !store {
            return Err(RequestError::simple(
                "unsupported_parameter",
                "Background responses require store to be enabled.",
                Some("background"),
            ));
        }
        if previous_response_id.is_some() && conversation.is_some() {
            return Err(RequestError::simple(
                "invalid_request_error",
                "'previous_response_id' and 'conversation' cannot be used together.",
                Some("conversation"),
            ));
        }
        Ok(CreateRequest {
            model,
            input,
            instructions,
            previous_response_id,
            conversation,
            stream,
            background,
            store,
            tools,
            tool_choice,
            parallel_tool_calls,
            metadata,
            temperature,
            top_p,
            max_output_tokens,
            agent_reference,
            agent_session_id,
        })
    }
}

fn parse_input(c: &mut Checker, input: Option<&Value>) -> Vec<Item> {
    parse_items(c, input, "$.input")
}

/// Items of `input` (a string is one user message), each error at `{at}[i]`.
pub(crate) fn parse_items(c: &mut Checker, input: Option<&Value>, at: &str) -> Vec<Item> {
    match input {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![Item::user_text(s.clone())],
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, raw) in items.iter().enumerate() {
                let path = format!("{at}[{i}]");
                let Value::Object(map) = raw else {
                    c.bad(path, "Each input item must be an object.");
                    continue;
                };
                let mut map = map.clone();
                if !map.contains_key("type") && map.contains_key("role") {
                    map.insert("type".into(), Value::String("message".into()));
                }
                let declared = map.get("type").and_then(Value::as_str).map(str::to_string);
                let Some(declared) = declared else {
                    c.bad(path, "Each input item needs a 'type' (or a 'role' for messages).");
                    continue;
                };
                match serde_json::from_value::<Item>(Value::Object(map)) {
                    Ok(Item::Other(_)) if is_known_type(&declared) => {
                        c.bad(path, format!("Invalid '{declared}' item."));
                    }
                    Ok(item) => out.push(item),
                    Err(e) => c.bad(path, format!("Invalid '{declared}' item: {e}.")),
                }
            }
            out
        }
        Some(_) => {
            c.bad(at, format!("'{}' must be a string or an array of items.", at.trim_start_matches("$.")));
            Vec::new()
        }
    }
}

fn is_known_type(t: &str) -> bool {
    matches!(
        t,
        "message"
            | "function_call"
            | "function_call_output"
            | "reasoning"
            | "mcp_list_tools"
            | "mcp_approval_request"
            | "mcp_approval_response"
            | "oauth_consent_request"
            | "item_reference"
    )
}

fn parse_instructions(c: &mut Checker, v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => {
            let mut text = Vec::new();
            for (i, raw) in items.iter().enumerate() {
                match serde_json::from_value::<Item>(raw.clone()) {
                    Ok(Item::Message(m)) => text.push(m.text()),
                    _ => c.bad(format!("$.instructions[{i}]"), "Instruction items must be messages."),
                }
            }
            Some(text.join("\n"))
        }
        Some(_) => {
            c.bad("$.instructions", "'instructions' must be a string.");
            None
        }
    }
}

/// Fields of an `mcp` tool that hold credentials for its server: sent to that server only,
/// never echoed, stored or given to the model.
pub const MCP_SECRET_FIELDS: [&str; 2] = ["headers", "authorization"];

impl CreateRequest {
    /// The request's tools as the response echoes them: `mcp` tools without their credentials.
    pub fn echoed_tools(&self) -> Vec<Value> {
        self.tools
            .iter()
            .map(|tool| {
                let mut tool = tool.clone();
                if tool.get("type").and_then(Value::as_str) == Some("mcp")
                    && let Value::Object(map) = &mut tool
                {
                    for field in MCP_SECRET_FIELDS {
                        map.remove(field);
                    }
                }
                tool
            })
            .collect()
    }
}

fn parse_tools(c: &mut Checker, v: Option<&Value>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => {
            for (i, t) in tools.iter().enumerate() {
                if !t.get("type").is_some_and(Value::is_string) {
                    c.bad(format!("$.tools[{i}].type"), "Each tool must be an object with a string 'type'.");
                }
            }
            tools.clone()
        }
        Some(_) => {
            c.bad("$.tools", "'tools' must be an array.");
            Vec::new()
        }
    }
}

pub(crate) fn parse_metadata(c: &mut Checker, v: Option<&Value>) -> Map<String, Value> {
    match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => {
            if map.len() > METADATA_MAX_PAIRS {
                c.bad("$.metadata", format!("'metadata' may have at most {METADATA_MAX_PAIRS} pairs."));
            }
            for (k, val) in map {
                if k.chars().count() > METADATA_MAX_KEY {
                    c.bad("$.metadata", format!("Metadata keys may be at most {METADATA_MAX_KEY} characters."));
                }
                match val {
                    Value::String(s) if s.chars().count() <= METADATA_MAX_VALUE => {}
                    Value::String(_) => c.bad(
                        format!("$.metadata.{k}"),
                        format!("Metadata values may be at most {METADATA_MAX_VALUE} characters."),
                    ),
                    _ => c.bad(format!("$.metadata.{k}"), "Metadata values must be strings."),
                }
            }
            map.clone()
        }
        Some(_) => {
            c.bad("$.metadata", "'metadata' must be an object.");
            Map::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateRequest, RequestError> {
        CreateRequest::parse(v.to_string().as_bytes())
    }

    #[test]
    fn defaults_and_string_input() {
        let r = parse(json!({"input":"hi"})).unwrap();
        assert!(r.store && !r.stream && !r.background);
        assert_eq!(r.input, vec![Item::user_text("hi")]);
    }

    #[test]
    fn role_only_objects_are_messages_and_conversation_accepts_both_shapes() {
        let r = parse(json!({"input":[{"role":"user","content":"a"}],"conversation":{"id":"conv_1"}})).unwrap();
        assert!(matches!(r.input[0], Item::Message(_)));
        assert_eq!(r.conversation.as_deref(), Some("conv_1"));
        assert_eq!(parse(json!({"conversation":"c2"})).unwrap().conversation.as_deref(), Some("c2"));
    }

    #[test]
    fn empty_and_invalid_bodies() {
        assert_eq!(CreateRequest::parse(b"").unwrap_err().message, "Request body is required.");
        let e = CreateRequest::parse(b"{\"input\": ").unwrap_err();
        assert!(e.message.starts_with("Invalid JSON in request body: "), "{}", e.message);
        assert!(CreateRequest::parse(b"[1]").is_err());
    }

    #[test]
    fn every_invalid_field_is_reported() {
        let e = parse(json!({"stream":"yes","metadata":{"k":1},"previous_response_id":"resp_1"})).unwrap_err();
        let params: Vec<_> = e.details.iter().map(|d| d.param.as_str()).collect();
        assert_eq!(params, ["$.previous_response_id", "$.stream", "$.metadata.k"]);
        assert_eq!(e.param.as_deref(), Some("$.previous_response_id"));
        assert!(e.message.starts_with("Validation failed with 3 errors: "));
        assert!(e.details.iter().any(|d| d.message == "Malformed identifier."));
    }

    #[test]
    fn metadata_limits() {
        let mut m = Map::new();
        for i in 0..17 {
            m.insert(format!("k{i}"), json!("v"));
        }
        assert!(parse(json!({"metadata": m})).is_err());
        assert!(parse(json!({"metadata": {"k": "x".repeat(513)}})).is_err());
        assert!(parse(json!({"metadata": {"k".repeat(65): "v"}})).is_err());
        assert!(parse(json!({"metadata": {"k": "x".repeat(512)}})).is_ok());
    }

    #[test]
    fn background_requires_store() {
        let e = parse(json!({"background":true,"store":false})).unwrap_err();
        assert_eq!(e.code, "unsupported_parameter");
        assert_eq!(e.param.as_deref(), Some("background"));
    }

    #[test]
    fn unknown_fields_are_ignored_and_model_echoed() {
        let r = parse(json!({"model":"hosted-agent","input":"x","future_field":{"a":1}})).unwrap();
        assert_eq!(r.model.as_deref(), Some("hosted-agent"));
    }

    #[test]
    fn malformed_known_items_are_rejected() {
        let e = parse(json!({"input":[{"type":"function_call_output","output":"x"}]})).unwrap_err();
        assert_eq!(e.details[0].param, "$.input[0]");
    }
}
