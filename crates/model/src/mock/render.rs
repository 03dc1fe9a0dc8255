//! Renders scripted [`MockChunk`]s as Responses API events or Chat Completions chunks, and as
//! the equivalent non-streamed answers.

use serde_json::{Value, json};

use super::script::MockChunk;

/// One API's wire format, built up chunk by chunk.
pub(super) trait Render: Send {
    /// Frames sent before the first chunk.
    fn start(&mut self) -> Vec<String>;
    /// Frames for one chunk.
    fn chunk(&mut self, chunk: &MockChunk) -> Vec<String>;
    /// Frames that complete the answer.
    fn finish(&mut self) -> Vec<String>;
    /// Frames of a 500-style error in the stream.
    fn fail(&mut self, message: &str) -> Vec<String>;
    /// The whole answer as one JSON document (non-streamed requests).
    fn whole(&mut self) -> Value;
}

fn usage_counts(chunk: &MockChunk) -> Option<(u64, u64, u64, u64)> {
    match chunk {
        MockChunk::Usage { input, output, cached, reasoning } => Some((*input, *output, *cached, *reasoning)),
        _ => None,
    }
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// An open Responses output item.
enum Open {
    Message { id: String, index: usize, text: String, refusal: bool },
    Reasoning { id: String, index: usize, summary: String, encrypted: Option<String> },
}

/// The Responses API format.
pub(super) struct ResponsesRender {
    id: String,
    model: String,
    seq: u64,
    output: Vec<Value>,
    open: Option<Open>,
    /// Open calls: (item id, call id, name, arguments, output index).
    calls: Vec<(String, String, String, String, usize)>,
    usage: Option<Value>,
}

impl ResponsesRender {
    pub(super) fn new(n: usize, model: &str) -> Self {
        ResponsesRender {
            id: format!("resp_mock{n}"),
            model: model.to_string(),
            seq: 0,
            output: Vec::new(),
            open: None,
            calls: Vec::new(),
            usage: None,
        }
    }

    fn event(&mut self, kind: &str, mut data: Value) -> String {
        if let Some(obj) = data.as_object_mut() {
            obj.insert("type".into(), json!(kind));
            obj.insert("sequence_number".into(), json!(self.seq));
        }
        self.seq += 1;
        sse(Some(kind), &data)
    }

    fn response(&self, status: &str) -> Value {
        json!({
            "id": self.id, "object": "response", "status": status, "model": self.model,
            "output": self.output, "usage": self.usage,
        })
    }

    fn next_index(&self) -> usize {
        self.output.len() + usize::from(self.open.is_some()) + self.calls.len()
    }

    fn close_open(&mut self) -> Vec<String> {
        let mut frames = Vec::new();
        match self.open.take() {
            Some(Open::Message { id, index, text, refusal }) => {
                let part = if refusal {
                    json!({"type": "refusal", "refusal": text})
                } else {
                    json!({"type": "output_text", "text": text, "annotations": []})
                };
                if !refusal {
                    let ev = json!({"item_id": id, "output_index": index, "content_index": 0, "text": text});
                    frames.push(self.event("response.output_text.done", ev));
                }
                let ev = json!({"item_id": id, "output_index": index, "content_index": 0, "part": part});
                frames.push(self.event("response.content_part.done", ev));
                let item =
                    json!({"type": "message", "id": id, "role": "assistant", "status": "completed", "content": [part]});
                frames.push(self.event("response.output_item.done", json!({"output_index": index, "item": item})));
                self.output.push(item);
            }
            Some(Open::Reasoning { id, index, summary, encrypted }) => {
                let parts =
                    if summary.is_empty() { json!([]) } else { json!([{"type": "summary_text", "text": summary}]) };
                let mut item = json!({"type": "reasoning", "id": id, "summary": parts});
                if let (Some(state), Some(obj)) = (encrypted, item.as_object_mut()) {
                    obj.insert("encrypted_content".into(), json!(state));
                }
                frames.push(self.event("response.output_item.done", json!({"output_index": index, "item": item})));
                self.output.push(item);
            }
            None => {}
        }
        frames
    }

    fn close_call(&mut self, position: usize) -> Vec<String> {
        let (item_id, call_id, name, arguments, index) = self.calls.remove(position);
        let ev = json!({"item_id": item_id, "output_index": index, "arguments": arguments});
        let mut frames = vec![self.event("response.function_call_arguments.done", ev)];
        let item = json!({"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": arguments, "status": "completed"});
        frames.push(self.event("response.output_item.done", json!({"output_index": index, "item": item})));
        self.output.push(item);
        frames
    }

    fn open_message(&mut self, refusal: bool) -> Vec<String> {
        let same = matches!(&self.open, Some(Open::Message { refusal: r, .. }) if *r == refusal);
        if same {
            return Vec::new();
        }
        let mut frames = self.close_open();
        let index = self.next_index();
        let id = format!("msg_mock{index}");
        let item = json!({"type": "message", "id": id, "role": "assistant", "status": "in_progress", "content": []});
        frames.push(self.event("response.output_item.added", json!({"output_index": index, "item": item})));
        let part = if refusal {
            json!({"type": "refusal", "refusal": ""})
        } else {
            json!({"type": "output_text", "text": "", "annotations": []})
        };
        let ev = json!({"item_id": id, "output_index": index, "content_index": 0, "part": part});
        frames.push(self.event("response.content_part.added", ev));
        self.open = Some(Open::Message { id, index, text: String::new(), refusal });
        frames
    }

    fn open_reasoning(&mut self) -> Vec<String> {
        if matches!(self.open, Some(Open::Reasoning { .. })) {
            return Vec::new();
        }
        let mut frames = self.close_open();
        let index = self.next_index();
        let id = format!("rs_mock{index}");
        let item = json!({"type": "reasoning", "id": id, "summary": []});
        frames.push(self.event("response.output_item.added", json!({"output_index": index, "item": item})));
        self.open = Some(Open::Reasoning { id, index, summary: String::new(), encrypted: None });
        frames
    }
}

impl Render for ResponsesRender {
    fn start(&mut self) -> Vec<String> {
        let created = self.response("in_progress");
        vec![
            self.event("response.created", json!({"response": created})),
            self.event("response.in_progress", json!({"response": created})),
        ]
    }

    fn chunk(&mut self, chunk: &MockChunk) -> Vec<String> {
        if let Some((i, o, c, r)) = usage_counts(chunk) {
            self.usage = Some(json!({
                "input_tokens": i, "input_tokens_details": {"cached_tokens": c},
                "output_tokens": o, "output_tokens_details": {"reasoning_tokens": r},
                "total_tokens": i + o,
            }));
            return Vec::new();
        }
        match chunk {
            MockChunk::Text(delta) | MockChunk::Refusal(delta) => {
                let refusal = matches!(chunk, MockChunk::Refusal(_));
                let mut frames = self.open_message(refusal);
                let ev = match &mut self.open {
                    Some(Open::Message { id, index, text, .. }) => {
                        text.push_str(delta);
                        Some(json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta}))
                    }
                    _ => None,
                };
                let kind = if refusal { "response.refusal.delta" } else { "response.output_text.delta" };
                frames.extend(ev.map(|ev| self.event(kind, ev)));
                frames
            }
            MockChunk::Reasoning(delta) => {
                let mut frames = self.open_reasoning();
                let ev = match &mut self.open {
                    Some(Open::Reasoning { id, index, summary, .. }) => {
                        summary.push_str(delta);
                        Some(json!({"item_id": id, "output_index": index, "summary_index": 0, "delta": delta}))
                    }
                    _ => None,
                };
                frames.extend(ev.map(|ev| self.event("response.reasoning_summary_text.delta", ev)));
                frames
            }
            MockChunk::ReasoningEncrypted(state) => {
                let frames = self.open_reasoning();
                if let Some(Open::Reasoning { encrypted, .. }) = &mut self.open {
                    *encrypted = Some(state.clone());
                }
                frames
            }
            MockChunk::ToolCall { call_id, name } => {
                let mut frames = self.close_open();
                let index = self.next_index();
                let item_id = format!("fc_mock{index}");
                let item = json!({"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": "", "status": "in_progress"});
                frames.push(self.event("response.output_item.added", json!({"output_index": index, "item": item})));
                self.calls.push((item_id, call_id.clone(), name.clone(), String::new(), index));
                frames
            }
            MockChunk::ToolArgs { call_id, fragment } => {
                let Some(call) = self.calls.iter_mut().find(|c| c.1 == *call_id) else {
                    return Vec::new();
                };
                call.3.push_str(fragment);
                let ev = json!({"item_id": call.0, "output_index": call.4, "delta": fragment});
                vec![self.event("response.function_call_arguments.delta", ev)]
            }
            MockChunk::ToolDone { call_id } => match self.calls.iter().position(|c| c.1 == *call_id) {
                Some(position) => self.close_call(position),
                None => Vec::new(),
            },
            MockChunk::Event(value) => {
                let kind = value.get("type").and_then(Value::as_str);
                vec![sse(kind, value)]
            }
            MockChunk::Raw(raw) => vec![raw.clone()],
            MockChunk::Usage { .. } => Vec::new(),
        }
    }

    fn finish(&mut self) -> Vec<String> {
        let mut frames = self.close_open();
        while !self.calls.is_empty() {
            frames.extend(self.close_call(0));
        }
        let done = self.response("completed");
        frames.push(self.event("response.completed", json!({"response": done})));
        frames
    }

    fn fail(&mut self, message: &str) -> Vec<String> {
        let mut failed = self.response("failed");
        if let Some(obj) = failed.as_object_mut() {
            obj.insert("error".into(), json!({"code": "server_error", "message": message}));
        }
        vec![self.event("response.failed", json!({"response": failed}))]
    }

    fn whole(&mut self) -> Value {
        self.finish();
        self.response("completed")
    }
}

/// The Chat Completions format.
pub(super) struct ChatRender {
    id: String,
    model: String,
    include_usage: bool,
    content: String,
    refusal: String,
    reasoning: String,
    /// (call id, name, arguments), in index order.
    calls: Vec<(String, String, String)>,
    usage: Option<Value>,
}

impl ChatRender {
    pub(super) fn new(n: usize, model: &str, include_usage: bool) -> Self {
        ChatRender {
            id: format!("chatcmpl-mock{n}"),
            model: model.to_string(),
            include_usage,
            content: String::new(),
            refusal: String::new(),
            reasoning: String::new(),
            calls: Vec::new(),
            usage: None,
        }
    }

    fn frame(&self, choices: Value) -> String {
        let chunk = json!({"id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model, "choices": choices});
        sse(None, &chunk)
    }

    fn delta(&self, delta: Value) -> Vec<String> {
        vec![self.frame(json!([{"index": 0, "delta": delta, "finish_reason": null}]))]
    }

    fn finish_reason(&self) -> &'static str {
        if self.calls.is_empty() { "stop" } else { "tool_calls" }
    }
}

impl Render for ChatRender {
    fn start(&mut self) -> Vec<String> {
        self.delta(json!({"role": "assistant", "content": ""}))
    }

    fn chunk(&mut self, chunk: &MockChunk) -> Vec<String> {
        if let Some((i, o, c, r)) = usage_counts(chunk) {
            self.usage = Some(json!({
                "prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o,
                "prompt_tokens_details": {"cached_tokens": c},
                "completion_tokens_details": {"reasoning_tokens": r},
            }));
            return Vec::new();
        }
        match chunk {
            MockChunk::Text(t) => {
                self.content.push_str(t);
                self.delta(json!({"content": t}))
            }
            MockChunk::Refusal(t) => {
                self.refusal.push_str(t);
                self.delta(json!({"refusal": t}))
            }
            MockChunk::Reasoning(t) => {
                self.reasoning.push_str(t);
                self.delta(json!({"reasoning_content": t}))
            }
            MockChunk::ToolCall { call_id, name } => {
                let index = self.calls.len();
                self.calls.push((call_id.clone(), name.clone(), String::new()));
                let call = json!({"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}});
                self.delta(json!({"tool_calls": [call]}))
            }
            MockChunk::ToolArgs { call_id, fragment } => {
                let Some(index) = self.calls.iter().position(|c| c.0 == *call_id) else {
                    return Vec::new();
                };
                if let Some(call) = self.calls.get_mut(index) {
                    call.2.push_str(fragment);
                }
                let call = json!({"index": index, "function": {"arguments": fragment}});
                self.delta(json!({"tool_calls": [call]}))
            }
            MockChunk::Event(value) => vec![sse(None, value)],
            MockChunk::Raw(raw) => vec![raw.clone()],
            MockChunk::ReasoningEncrypted(_) | MockChunk::ToolDone { .. } | MockChunk::Usage { .. } => Vec::new(),
        }
    }

    fn finish(&mut self) -> Vec<String> {
        let mut frames = vec![self.frame(json!([{"index": 0, "delta": {}, "finish_reason": self.finish_reason()}]))];
        if let Some(usage) = self.usage.as_ref().filter(|_| self.include_usage) {
            let chunk = json!({"id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model, "choices": [], "usage": usage});
            frames.push(sse(None, &chunk));
        }
        frames.push("data: [DONE]\n\n".to_string());
        frames
    }

    fn fail(&mut self, message: &str) -> Vec<String> {
        let error = json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}});
        vec![sse(None, &error)]
    }

    fn whole(&mut self) -> Value {
        let calls: Vec<Value> = self
            .calls
            .iter()
            .map(
                |(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}),
            )
            .collect();
        let mut message = json!({"role": "assistant", "content": if self.content.is_empty() { Value::Null } else { json!(self.content) }});
        if let Some(obj) = message.as_object_mut() {
            if !self.refusal.is_empty() {
                obj.insert("refusal".into(), json!(self.refusal));
            }
            if !self.reasoning.is_empty() {
                obj.insert("reasoning_content".into(), json!(self.reasoning));
            }
            if !calls.is_empty() {
                obj.insert("tool_calls".into(), Value::Array(calls));
            }
        }
        json!({
            "id": self.id, "object": "chat.completion", "created": 0, "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason()}],
            "usage": self.usage,
        })
    }
}
