//! Maps the loop's [`Item`] history onto upstream input: Responses API `input` items and Chat
//! Completions `messages`.
//!
//! Both go through [`normalize`] first, which keeps only what the upstream understands and
//! makes the tool-call history valid for it:
//! * user / system / developer / assistant messages, with their text and (for non-assistant
//!   messages) `input_image` / `input_file` / `input_audio` parts;
//! * `function_call` items, each followed (after its run of calls) by its
//!   `function_call_output`; a call with no output gets a placeholder output, an output with
//!   no call is dropped;
//! * `reasoning` items only when they carry `encrypted_content` (without it, a stateless
//!   upstream cannot use them);
//! * everything else (`mcp_list_tools`, `mcp_approval_request`/`_response`,
//!   `oauth_consent_request`, `item_reference`, unknown items) is dropped: the tool-call
//!   history already carries its effect. (`mcp_call` items never get here: the agent turns each
//!   into a call and output pair, `agenthost_agent::model_view`.)

use std::collections::{HashMap, HashSet};

use agenthost_agent::ToolSpec;
use agenthost_responses::item::{FunctionCallItem, ReasoningItem};
use agenthost_responses::{ContentPart, Item, Role};
use serde_json::{Map, Value, json};

/// The output given to the model for a call whose output is not in the history.
pub const MISSING_OUTPUT: &str = "No result: this tool call was not run.";

/// One piece of normalized history.
#[derive(Debug)]
pub(crate) enum Entry<'a> {
    /// A message with at least one part.
    Message { role: Role, parts: Vec<Part<'a>> },
    /// A reasoning item with encrypted content.
    Reasoning(&'a ReasoningItem),
    /// A tool call.
    Call(&'a FunctionCallItem),
    /// A tool call's output.
    Output { call_id: &'a str, output: String },
}

/// A message part the upstream can take.
#[derive(Debug)]
pub(crate) enum Part<'a> {
    /// Text.
    Text(&'a str),
    /// Refusal text (assistant messages).
    Refusal(&'a str),
    /// An `input_image` / `input_file` / `input_audio` part, verbatim.
    Media(&'a Value),
}

/// Normalizes `input` as described in the module docs.
pub(crate) fn normalize(input: &[Item]) -> Vec<Entry<'_>> {
    let mut outputs: HashMap<&str, String> = HashMap::new();
    let calls: HashSet<&str> = input
        .iter()
        .filter_map(|item| match item {
            Item::FunctionCall(c) => Some(c.call_id.as_str()),
            _ => None,
        })
        .collect();
    for item in input {
        if let Item::FunctionCallOutput(o) = item
            && calls.contains(o.call_id.as_str())
        {
            outputs.entry(o.call_id.as_str()).or_insert_with(|| o.output_text());
        }
    }

    let mut entries = Vec::new();
    let mut run: Vec<&FunctionCallItem> = Vec::new();
    let mut emitted: HashSet<&str> = HashSet::new();
    for item in input {
        if !matches!(item, Item::FunctionCall(_)) && !run.is_empty() {
            flush_outputs(&mut entries, &mut run, &mut outputs);
        }
        match item {
            Item::Message(m) => {
                let parts = message_parts(m.role, &m.content);
                if !parts.is_empty() {
                    entries.push(Entry::Message { role: m.role, parts });
                }
            }
            Item::FunctionCall(c) => {
                // A repeated call id would make the history ambiguous; keep the first.
                if emitted.insert(c.call_id.as_str()) {
                    entries.push(Entry::Call(c));
                    run.push(c);
                }
            }
            Item::Reasoning(r) if r.encrypted_content.as_deref().is_some_and(|e| !e.is_empty()) => {
                entries.push(Entry::Reasoning(r));
            }
            // Outputs are placed right after their calls by `flush_outputs`.
            Item::FunctionCallOutput(_)
            | Item::Reasoning(_)
            | Item::McpListTools(_)
            | Item::McpCall(_)
            | Item::McpApprovalRequest(_)
            | Item::McpApprovalResponse(_)
            | Item::OAuthConsentRequest(_)
            | Item::ItemReference(_)
            | Item::Other(_) => {}
        }
    }
    flush_outputs(&mut entries, &mut run, &mut outputs);
    entries
}

fn flush_outputs<'a>(
    entries: &mut Vec<Entry<'a>>,
    run: &mut Vec<&'a FunctionCallItem>,
    outputs: &mut HashMap<&'a str, String>,
) {
    for call in run.drain(..) {
        let output = outputs.remove(call.call_id.as_str()).unwrap_or_else(|| MISSING_OUTPUT.to_string());
        entries.push(Entry::Output { call_id: call.call_id.as_str(), output });
    }
}

fn message_parts(role: Role, content: &[ContentPart]) -> Vec<Part<'_>> {
    content
        .iter()
        .filter_map(|part| match part {
            ContentPart::InputText { text }
            | ContentPart::OutputText { text, .. }
            | ContentPart::SummaryText { text } => Some(Part::Text(text)),
            ContentPart::Refusal { refusal } if role == Role::Assistant => Some(Part::Refusal(refusal)),
            ContentPart::Refusal { refusal } => Some(Part::Text(refusal)),
            ContentPart::Other(v) if role != Role::Assistant => {
                let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
                matches!(kind, "input_image" | "input_file" | "input_audio").then_some(Part::Media(v))
            }
            ContentPart::Other(_) => None,
        })
        .collect()
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::System => "system",
        Role::Developer => "developer",
    }
}

/// The Responses API `input` array.
pub(crate) fn responses_input(input: &[Item]) -> Vec<Value> {
    normalize(input)
        .into_iter()
        .map(|entry| match entry {
            Entry::Message { role, parts } => {
                let content: Vec<Value> = parts
                    .into_iter()
                    .map(|part| match (role, part) {
                        (Role::Assistant, Part::Text(text)) => {
                            json!({"type": "output_text", "text": text, "annotations": []})
                        }
                        (_, Part::Text(text)) => json!({"type": "input_text", "text": text}),
                        (_, Part::Refusal(refusal)) => {
                            json!({"type": "refusal", "refusal": refusal})
                        }
                        (_, Part::Media(v)) => v.clone(),
                    })
                    .collect();
                json!({"type": "message", "role": role_name(role), "content": content})
            }
            Entry::Reasoning(r) => {
                let summary: Vec<Value> = r
                    .summary
                    .iter()
                    .filter_map(ContentPart::text)
                    .map(|text| json!({"type": "summary_text", "text": text}))
                    .collect();
                let mut item = Map::new();
                item.insert("type".into(), json!("reasoning"));
                if let Some(id) = &r.id {
                    item.insert("id".into(), json!(id));
                }
                item.insert("summary".into(), Value::Array(summary));
                item.insert("encrypted_content".into(), json!(r.encrypted_content));
                Value::Object(item)
            }
            Entry::Call(c) => json!({
                "type": "function_call",
                "call_id": c.call_id,
                "name": c.name,
                "arguments": c.arguments,
            }),
            Entry::Output { call_id, output } => json!({
                "type": "function_call_output",
                "call_id": call_id,
                "output": output,
            }),
        })
        .collect()
}

/// The Chat Completions `messages` array: `instructions` as the first system message, then the
/// history. An assistant message directly followed by tool calls becomes one message with
/// `tool_calls`; developer messages become system messages; reasoning is dropped.
pub(crate) fn chat_messages(instructions: Option<&str>, input: &[Item]) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::new();
    if let Some(text) = instructions.filter(|t| !t.trim().is_empty()) {
        messages.push(json!({"role": "system", "content": text}));
    }
    // Whether the last message is an assistant message that tool calls may join.
    let mut joinable = false;
    for entry in normalize(input) {
        match entry {
            Entry::Message { role, parts } => {
                joinable = role == Role::Assistant;
                messages.push(chat_message(role, parts));
            }
            Entry::Reasoning(_) => {}
            Entry::Call(c) => {
                let call = json!({
                    "id": c.call_id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                });
                let last = messages.last_mut().filter(|_| joinable);
                match last.and_then(Value::as_object_mut) {
                    Some(msg) => {
                        let calls = msg.entry("tool_calls").or_insert_with(|| json!([]));
                        if let Some(list) = calls.as_array_mut() {
                            list.push(call);
                        }
                    }
                    None => {
                        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
                        joinable = true;
                    }
                }
            }
            Entry::Output { call_id, output } => {
                joinable = false;
                messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
            }
        }
    }
    messages
}

fn chat_message(role: Role, parts: Vec<Part<'_>>) -> Value {
    let role_name = match role {
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::System | Role::Developer => "system",
    };
    let has_media = parts.iter().any(|p| matches!(p, Part::Media(_)));
    if !has_media {
        let text: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) | Part::Refusal(t) => Some(*t),
                Part::Media(_) => None,
            })
            .collect();
        return json!({"role": role_name, "content": text.join("\n")});
    }
    let content: Vec<Value> = parts
        .into_iter()
        .filter_map(|part| match part {
            Part::Text(t) | Part::Refusal(t) => Some(json!({"type": "text", "text": t})),
            Part::Media(v) => chat_media(v),
        })
        .collect();
    json!({"role": role_name, "content": content})
}

/// An `input_image` with a URL (or data URL) as a Chat Completions `image_url` part; other media
/// cannot be expressed and are dropped.
fn chat_media(part: &Value) -> Option<Value> {
    if part.get("type").and_then(Value::as_str) != Some("input_image") {
        return None;
    }
    let url = match part.get("image_url") {
        Some(Value::String(url)) => url.clone(),
        Some(Value::Object(o)) => o.get("url").and_then(Value::as_str)?.to_string(),
        _ => return None,
    };
    let mut image = Map::new();
    image.insert("url".into(), json!(url));
    if let Some(detail) = part.get("detail").and_then(Value::as_str) {
        image.insert("detail".into(), json!(detail));
    }
    Some(json!({"type": "image_url", "image_url": image}))
}

/// Responses API function tools.
pub(crate) fn responses_tools(tools: &[ToolSpec]) -> Vec<Value> {
    tools
        .iter()
        .map(|t| {
            json!({
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": parameters(&t.parameters),
                "strict": false,
            })
        })
        .collect()
}

/// Chat Completions function tools.
pub(crate) fn chat_tools(tools: &[ToolSpec]) -> Vec<Value> {
    tools
        .iter()
        .map(|t| {
            json!({
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": parameters(&t.parameters),
                },
            })
        })
        .collect()
}

/// A tool's parameter schema; an empty object schema when it has none.
fn parameters(schema: &Value) -> Value {
    if schema.is_object() { schema.clone() } else { json!({"type": "object", "properties": {}}) }
}

/// `tool_choice` for Chat Completions: strings pass through; `{"type":"function","name":…}`
/// becomes `{"type":"function","function":{"name":…}}`; other forms are dropped.
pub(crate) fn chat_tool_choice(choice: &Value) -> Option<Value> {
    match choice {
        Value::String(_) => Some(choice.clone()),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            if o.get("function").is_some() {
                return Some(choice.clone());
            }
            let name = o.get("name").and_then(Value::as_str)?;
            Some(json!({"type": "function", "function": {"name": name}}))
        }
        _ => None,
    }
}

/// The request options both APIs spell the same way: `parallel_tool_calls` (only with tools),
/// `temperature` and `top_p`.
pub(crate) fn insert_common_options(
    body: &mut serde_json::Map<String, Value>,
    request: &agenthost_agent::ModelRequest,
) {
    if !request.tools.is_empty()
        && let Some(parallel) = request.parallel_tool_calls
    {
        body.insert("parallel_tool_calls".into(), Value::Bool(parallel));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), serde_json::json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), serde_json::json!(p));
    }
}
