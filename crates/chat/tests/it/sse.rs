//! SSE builders: canned Responses streams (text, tool calls, consent, approvals, failures) and
//! the captured Python-stack fixtures.

use serde_json::{Value, json};

/// A response object.
pub fn response(id: &str, status: &str, output: Vec<Value>) -> Value {
    json!({"id": id, "object": "response", "status": status, "output": output, "model": "m",
           "created_at": 1767225600})
}

/// Frames for `events`, with sequence numbers.
pub fn sse(events: Vec<Value>) -> String {
    let mut text = String::new();
    for (n, mut ev) in events.into_iter().enumerate() {
        ev["sequence_number"] = json!(n);
        let kind = ev["type"].as_str().expect("type").to_owned();
        text.push_str(&format!("event: {kind}\ndata: {ev}\n\n"));
    }
    text
}

fn head(id: &str) -> Vec<Value> {
    vec![
        json!({"type": "response.created", "response": response(id, "in_progress", vec![])}),
        json!({"type": "response.in_progress", "response": response(id, "in_progress", vec![])}),
    ]
}

fn whole_item(index: usize, item: &Value) -> Vec<Value> {
    vec![
        json!({"type": "response.output_item.added", "output_index": index, "item": item}),
        json!({"type": "response.output_item.done", "output_index": index, "item": item}),
    ]
}

pub fn message(id: &str, text: &str) -> Value {
    json!({"type": "message", "id": id, "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn message_events(index: usize, msg_id: &str, deltas: &[&str]) -> Vec<Value> {
    let text: String = deltas.concat();
    let mut events = vec![json!({"type": "response.output_item.added", "output_index": index,
        "item": {"type": "message", "id": msg_id, "status": "in_progress", "role": "assistant",
                 "content": []}})];
    for d in deltas {
        events.push(json!({"type": "response.output_text.delta", "item_id": msg_id,
            "output_index": index, "content_index": 0, "delta": d}));
    }
    events.push(json!({"type": "response.output_text.done", "item_id": msg_id,
        "output_index": index, "content_index": 0, "text": text}));
    events.push(json!({"type": "response.output_item.done", "output_index": index,
        "item": message(msg_id, &text)}));
    events
}

/// A completed answer streamed as `deltas`.
pub fn text_answer(id: &str, deltas: &[&str]) -> String {
    let msg_id = format!("msg_{id}");
    let mut events = head(id);
    events.extend(message_events(0, &msg_id, deltas));
    let output = vec![message(&msg_id, &deltas.concat())];
    events.push(json!({"type": "response.completed", "response": response(id, "completed", output)}));
    sse(events)
}

pub fn consent_item(n: usize, label: &str, link: &str) -> Value {
    json!({"type": "oauth_consent_request", "id": format!("oacr_{n}"), "consent_link": link,
           "server_label": label})
}

/// Consent items (added + done each), then `response.incomplete`.
pub fn consent_answer(id: &str, consents: &[(&str, &str)]) -> String {
    let mut events = head(id);
    let mut output = Vec::new();
    for (i, (label, link)) in consents.iter().enumerate() {
        let item = consent_item(i, label, link);
        events.extend(whole_item(i, &item));
        output.push(item);
    }
    events.push(json!({"type": "response.incomplete", "response": response(id, "incomplete", output)}));
    sse(events)
}

pub fn approval_item(approval_id: &str, label: &str, name: &str, arguments: &str) -> Value {
    json!({"type": "mcp_approval_request", "id": approval_id, "server_label": label,
           "name": name, "arguments": arguments})
}

/// One approval request, then `response.completed`.
pub fn approval_answer(id: &str, item: Value) -> String {
    let mut events = head(id);
    events.extend(whole_item(0, &item));
    events.push(json!({"type": "response.completed", "response": response(id, "completed", vec![item])}));
    sse(events)
}

/// A tool call, its result, then streamed text.
pub fn tool_answer(id: &str, name: &str, arguments: &str, output: &str, deltas: &[&str]) -> String {
    let call = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": name,
                      "arguments": arguments, "status": "completed"});
    let result = json!({"type": "function_call_output", "id": "fco_1", "call_id": "call_1",
                        "output": output, "status": "completed"});
    let mut events = head(id);
    events.extend(whole_item(0, &call));
    events.extend(whole_item(1, &result));
    let msg_id = format!("msg_{id}");
    events.extend(message_events(2, &msg_id, deltas));
    let out = vec![call, result, message(&msg_id, &deltas.concat())];
    events.push(json!({"type": "response.completed", "response": response(id, "completed", out)}));
    sse(events)
}

/// A `response.failed` with this error.
pub fn failed_answer(id: &str, code: &str, message: &str) -> String {
    let mut events = head(id);
    let mut resp = response(id, "failed", vec![]);
    resp["error"] = json!({"code": code, "message": message});
    events.push(json!({"type": "response.failed", "response": resp}));
    sse(events)
}

/// Created and a few deltas, but no terminal event.
pub fn truncated_answer(id: &str) -> String {
    let mut events = head(id);
    let mut msg = message_events(0, "msg_t", &["Hal", "f"]);
    msg.truncate(3);
    events.extend(msg);
    sse(events)
}

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/it/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("fixture")
}
