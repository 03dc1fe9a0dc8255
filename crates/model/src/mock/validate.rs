//! The request checks the real APIs make and a client can get wrong: unknown input item types,
//! tool outputs without calls, calls without outputs, misplaced `tool` messages. A failed check
//! is answered with HTTP 400 like the real service, without consuming a scripted turn.

use std::collections::HashSet;

use serde_json::Value;

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Checks a Responses API request body.
pub(super) fn responses(body: &Value) -> Result<(), String> {
    if !body.get("model").is_some_and(Value::is_string) {
        return Err("Missing required parameter: 'model'.".into());
    }
    let items = match body.get("input") {
        Some(Value::String(_)) => return Ok(()),
        Some(Value::Array(items)) => items,
        _ => return Err("Missing required parameter: 'input'.".into()),
    };
    let stateless = body.get("store") == Some(&Value::Bool(false));
    let mut calls = HashSet::new();
    let mut answered = HashSet::new();
    for item in items {
        let kind = text(item, "type");
        match kind {
            "message" => {
                let role = text(item, "role");
                if !matches!(role, "user" | "assistant" | "system" | "developer") {
                    return Err(format!(
                        "Invalid value: '{role}'. Supported values are: 'assistant', 'system', 'developer', and 'user'."
                    ));
                }
            }
            "function_call" => {
                calls.insert(text(item, "call_id").to_string());
            }
            "function_call_output" => {
                let call_id = text(item, "call_id");
                if !calls.contains(call_id) {
                    return Err(format!("No tool call found for function call output with call_id {call_id}."));
                }
                answered.insert(call_id.to_string());
            }
            "reasoning" => {
                if stateless && item.get("encrypted_content").is_none_or(Value::is_null) {
                    return Err(format!(
                        "Item with id '{}' not found. Items are not persisted when `store` is set to false.",
                        text(item, "id")
                    ));
                }
            }
            "item_reference" if !stateless => {}
            other => {
                return Err(format!("Invalid value: '{other}'. Unsupported input item type."));
            }
        }
    }
    if let Some(missing) = calls.iter().find(|c| !answered.contains(*c)) {
        return Err(format!("No tool output found for function call {missing}."));
    }
    Ok(())
}

/// Checks a Chat Completions request body.
pub(super) fn chat(body: &Value) -> Result<(), String> {
    if !body.get("model").is_some_and(Value::is_string) {
        return Err("Missing required parameter: 'model'.".into());
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return Err("Missing required parameter: 'messages'.".into());
    };
    // Tool call ids of the latest assistant message still waiting for their `tool` messages.
    let mut pending: Vec<String> = Vec::new();
    for message in messages {
        let role = text(message, "role");
        if role != "tool" && !pending.is_empty() {
            return Err(format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                pending.join(", ")
            ));
        }
        match role {
            "system" | "developer" | "user" => {}
            "assistant" => {
                let calls = message.get("tool_calls").and_then(Value::as_array);
                pending = calls.into_iter().flatten().map(|c| text(c, "id").to_string()).collect();
            }
            "tool" => {
                let id = text(message, "tool_call_id");
                match pending.iter().position(|p| p == id) {
                    Some(i) => {
                        pending.remove(i);
                    }
                    _ => {
                        return Err("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.".into());
                    }
                }
            }
            other => {
                return Err(format!(
                    "Invalid value: '{other}'. Supported values are: 'system', 'assistant', 'user', 'tool', and 'developer'."
                ));
            }
        }
    }
    if !pending.is_empty() {
        return Err(format!(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
            pending.join(", ")
        ));
    }
    Ok(())
}
