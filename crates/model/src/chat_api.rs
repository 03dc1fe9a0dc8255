//! [`OpenAiChat`]: the Chat Completions backend (`POST {base_url}/chat/completions`), for
//! OpenAI, Azure OpenAI and compatible servers (vLLM, Ollama, llama.cpp, …).
//!
//! Requests carry `stream: true` and `stream_options.include_usage`. Chunks are parsed as
//! `serde_json::Value`; unknown fields are ignored. Tool calls are keyed by their `index`;
//! every open call is completed at `finish_reason`, `[DONE]` or the end of the body.

use std::collections::BTreeMap;
use std::sync::Arc;

use agenthost_agent::{Model, ModelError, ModelEvent, ModelRequest, ModelStream, RequestContext};
use agenthost_responses::Usage;
use serde_json::{Map, Value, json};

use crate::config::{ModelConfig, ModelConfigError};
use crate::error::{Failure, Scrubber, from_stream_error};
use crate::http::Endpoint;
use crate::mapping::{chat_messages, chat_tool_choice, chat_tools, insert_common_options};
use crate::stream::{Parser, ResponseMeta, Step, parse_data, read_usage, start_stream, truncated};

/// The Chat Completions backend; provider name `openai-chat`.
#[derive(Debug)]
pub struct OpenAiChat {
    endpoint: Arc<Endpoint>,
    reasoning_effort: Option<String>,
}

impl OpenAiChat {
    /// Provider name reported by [`Model::provider`].
    pub const PROVIDER: &'static str = "openai-chat";

    /// Validates `config` and builds the backend (`config.provider` is not consulted).
    pub fn new(config: &ModelConfig) -> Result<Self, ModelConfigError> {
        let endpoint = Endpoint::new(config, Self::PROVIDER, "chat/completions")?;
        Ok(OpenAiChat { endpoint: Arc::new(endpoint), reasoning_effort: config.reasoning_effort.clone() })
    }

    /// The JSON body sent for `request`.
    pub fn request_body(&self, request: &ModelRequest) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.endpoint.model));
        let messages = chat_messages(request.instructions.as_deref(), &request.input);
        body.insert("messages".into(), Value::Array(messages));
        if !request.tools.is_empty() {
            body.insert("tools".into(), Value::Array(chat_tools(&request.tools)));
            if let Some(choice) = request.tool_choice.as_ref().and_then(chat_tool_choice) {
                body.insert("tool_choice".into(), choice);
            }
        }
        insert_common_options(&mut body, request);
        if let Some(m) = request.max_output_tokens {
            body.insert("max_completion_tokens".into(), json!(m));
        }
        if let Some(effort) = &self.reasoning_effort {
            body.insert("reasoning_effort".into(), json!(effort));
        }
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
        Value::Object(body)
    }
}

#[async_trait::async_trait]
impl Model for OpenAiChat {
    fn provider(&self) -> &str {
        Self::PROVIDER
    }

    fn gen_ai_provider(&self) -> &str {
        self.endpoint.gen_ai_provider
    }

    fn model_name(&self) -> &str {
        &self.endpoint.model
    }

    async fn stream(&self, ctx: &RequestContext, request: ModelRequest) -> Result<ModelStream, ModelError> {
        start_stream(&self.endpoint, ctx, &self.request_body(&request), ChatParser::default)
    }
}

/// A tool call being assembled from index-keyed fragments.
#[derive(Debug, Default)]
struct Call {
    call_id: String,
    name: String,
    /// Every argument fragment so far.
    arguments: String,
    /// Fragments that arrived before the name (sent once the call starts).
    pending: String,
    started: bool,
    done: bool,
}

/// Parser state for one attempt.
#[derive(Debug, Default)]
pub(crate) struct ChatParser {
    calls: BTreeMap<u64, Call>,
    /// A `finish_reason` was seen.
    finished: bool,
    /// The latest usage (some servers repeat it on every chunk).
    usage: Option<Usage>,
    /// Id, model and finish reasons, for telemetry.
    meta: ResponseMeta,
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

impl ChatParser {
    /// The index a tool-call fragment belongs to.
    fn index_of(&self, tc: &Value) -> u64 {
        if let Some(index) = tc.get("index").and_then(Value::as_u64) {
            return index;
        }
        let id = text(tc, "id");
        if let Some((index, _)) = self.calls.iter().find(|(_, c)| !id.is_empty() && c.call_id == id) {
            return *index;
        }
        let last = self.calls.keys().next_back().copied();
        match last {
            // No index and no known id: a new call if it has an id, else more of the last one.
            Some(last) if id.is_empty() => last,
            Some(last) => last + 1,
            None => 0,
        }
    }

    fn tool_call(&mut self, tc: &Value, out: &mut Vec<ModelEvent>) {
        let index = self.index_of(tc);
        let call = self.calls.entry(index).or_default();
        if call.done {
            return;
        }
        let id = text(tc, "id");
        if call.call_id.is_empty() && !id.is_empty() {
            call.call_id = id.to_string();
        }
        let function = tc.get("function").unwrap_or(&Value::Null);
        if !call.started {
            call.name.push_str(text(function, "name"));
        }
        let fragment = text(function, "arguments");
        call.arguments.push_str(fragment);
        if call.started {
            if !fragment.is_empty() {
                out.push(ModelEvent::FunctionCallArgumentsDelta {
                    call_id: call.call_id.clone(),
                    delta: fragment.to_string(),
                });
            }
            return;
        }
        call.pending.push_str(fragment);
        if !call.name.is_empty() {
            start(index, call, out);
            if !call.pending.is_empty() {
                let delta = std::mem::take(&mut call.pending);
                out.push(ModelEvent::FunctionCallArgumentsDelta { call_id: call.call_id.clone(), delta });
            }
        }
    }

    /// Completes every open call, in index order.
    fn close_calls(&mut self, out: &mut Vec<ModelEvent>) {
        for (index, call) in &mut self.calls {
            if call.done {
                continue;
            }
            if !call.started {
                start(*index, call, out);
            }
            call.done = true;
            out.push(ModelEvent::FunctionCallDone { call_id: call.call_id.clone(), arguments: call.arguments.clone() });
        }
    }

    /// One choice's `delta` (or, for a whole answer, its `message`).
    fn delta(&mut self, delta: &Value, out: &mut Vec<ModelEvent>) {
        for key in ["reasoning_content", "reasoning"] {
            let t = text(delta, key);
            if !t.is_empty() {
                out.push(ModelEvent::ReasoningDelta(t.into()));
                break;
            }
        }
        let content = text(delta, "content");
        if !content.is_empty() {
            out.push(ModelEvent::TextDelta(content.into()));
        }
        let refusal = text(delta, "refusal");
        if !refusal.is_empty() {
            out.push(ModelEvent::RefusalDelta(refusal.into()));
        }
        let calls = delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten();
        for tc in calls {
            self.tool_call(tc, out);
        }
    }

    fn chunk(
        &mut self,
        chunk: &Value,
        scrubber: &Scrubber,
        out: &mut Vec<ModelEvent>,
        whole: bool,
    ) -> Result<(), Failure> {
        if chunk.get("error").is_some_and(Value::is_object) || text(chunk, "object") == "error" {
            return Err(from_stream_error(chunk, scrubber));
        }
        self.meta.note(chunk);
        if let Some(usage) = chunk.get("usage").and_then(|u| {
            read_usage(u, "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details")
        }) {
            self.usage = Some(usage);
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        let choice = choices.and_then(|cs| {
            cs.iter().find(|c| c.get("index").and_then(Value::as_u64) == Some(0)).or_else(|| cs.first())
        });
        if let Some(choice) = choice {
            let key = if whole { "message" } else { "delta" };
            if let Some(delta) = choice.get(key).or_else(|| choice.get("message")) {
                self.delta(delta, out);
            }
            if choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
                self.meta.finish(text(choice, "finish_reason"));
                self.finished = true;
                self.close_calls(out);
            }
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<ModelEvent>) {
        self.close_calls(out);
        if let Some(usage) = self.usage.take() {
            out.push(ModelEvent::Usage(usage));
        }
    }
}

fn start(index: u64, call: &mut Call, out: &mut Vec<ModelEvent>) {
    if call.call_id.is_empty() {
        call.call_id = format!("call_{index}");
    }
    call.started = true;
    out.push(ModelEvent::FunctionCallStart { call_id: call.call_id.clone(), name: call.name.clone() });
}

impl Parser for ChatParser {
    fn meta(&self) -> &ResponseMeta {
        &self.meta
    }

    fn event(
        &mut self,
        name: &str,
        data: &str,
        scrubber: &Scrubber,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Step, Failure> {
        if data.trim() == "[DONE]" {
            self.end(out);
            return Ok(Step::Done);
        }
        let Some(chunk) = parse_data(name, data, scrubber)? else {
            return Ok(Step::Continue);
        };
        self.chunk(&chunk, scrubber, out, false)?;
        Ok(Step::Continue)
    }

    fn json_body(&mut self, body: Value, scrubber: &Scrubber, out: &mut Vec<ModelEvent>) -> Result<(), Failure> {
        self.chunk(&body, scrubber, out, true)?;
        self.end(out);
        Ok(())
    }

    fn eof(&mut self, out: &mut Vec<ModelEvent>) -> Result<(), Failure> {
        if !self.finished {
            return Err(truncated());
        }
        self.end(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::codes;

    #[test]
    fn a_whole_completion_document_is_accepted() {
        let mut parser = ChatParser::default();
        let mut out = Vec::new();
        let body = json!({"object": "chat.completion", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Sure.", "reasoning": "think",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}});
        parser.json_body(body, &Scrubber::default(), &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                ModelEvent::ReasoningDelta("think".into()),
                ModelEvent::TextDelta("Sure.".into()),
                ModelEvent::FunctionCallStart { call_id: "c1".into(), name: "f".into() },
                ModelEvent::FunctionCallArgumentsDelta { call_id: "c1".into(), delta: "{\"a\":1}".into() },
                ModelEvent::FunctionCallDone { call_id: "c1".into(), arguments: "{\"a\":1}".into() },
                ModelEvent::Usage(Usage::new(2, 3)),
            ]
        );
    }

    #[test]
    fn repeated_usage_counts_once_and_eof_after_finish_is_complete() {
        let mut parser = ChatParser::default();
        let mut out = Vec::new();
        let s = Scrubber::default();
        for (content, finish, completion) in [("a", None, 1), ("b", Some("stop"), 2)] {
            let chunk = json!({"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
                "usage": {"prompt_tokens": 4, "completion_tokens": completion}});
            assert_eq!(parser.event("message", &chunk.to_string(), &s, &mut out).ok(), Some(Step::Continue));
        }
        parser.eof(&mut out).unwrap();
        assert_eq!(
            out,
            vec![
                ModelEvent::TextDelta("a".into()),
                ModelEvent::TextDelta("b".into()),
                ModelEvent::Usage(Usage::new(4, 2)),
            ]
        );
    }

    #[test]
    fn error_chunks_fail_the_stream() {
        let mut out = Vec::new();
        let s = Scrubber::default();
        let vllm = json!({"object": "error", "message": "maximum context length is 4096 tokens", "type": "BadRequestError", "code": 400});
        let err = ChatParser::default().event("message", &vllm.to_string(), &s, &mut out).unwrap_err();
        assert_eq!(err.error.code, codes::CONTEXT_LENGTH_EXCEEDED);
        let err = ChatParser::default().event("message", "{oops", &s, &mut out).unwrap_err();
        assert_eq!(err.error.code, codes::MODEL_ERROR);
        assert_eq!(ChatParser::default().eof(&mut out).unwrap_err().error.code, codes::MODEL_UNAVAILABLE);
    }
}
