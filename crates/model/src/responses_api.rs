//! [`OpenAiResponses`]: the OpenAI Responses API backend (`POST {base_url}/responses`).
//!
//! Requests always carry `stream: true` and `store: false`. The stream is parsed tolerantly:
//! each event is a `serde_json::Value` switched on its `type`, and unknown types are ignored.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use agenthost_agent::{Model, ModelError, ModelEvent, ModelRequest, ModelStream, RequestContext};
use serde_json::{Map, Value, json};

use crate::config::{ModelConfig, ModelConfigError};
use crate::error::{Failure, Scrubber, codes, from_stream_error};
use crate::http::Endpoint;
use crate::mapping::{insert_common_options, responses_input, responses_tools};
use crate::stream::{Parser, ResponseMeta, Step, parse_data, read_usage, start_stream, truncated};

/// The Responses API backend; provider name `openai`.
#[derive(Debug)]
pub struct OpenAiResponses {
    endpoint: Arc<Endpoint>,
    include_reasoning_encrypted: bool,
    reasoning: Option<Value>,
}

impl OpenAiResponses {
    /// Provider name reported by [`Model::provider`].
    pub const PROVIDER: &'static str = "openai";

    /// Validates `config` and builds the backend (`config.provider` is not consulted).
    pub fn new(config: &ModelConfig) -> Result<Self, ModelConfigError> {
        let endpoint = Endpoint::new(config, Self::PROVIDER, "responses")?;
        let mut reasoning = Map::new();
        if let Some(effort) = &config.reasoning_effort {
            reasoning.insert("effort".into(), json!(effort));
        }
        if let Some(summary) = &config.reasoning_summary {
            reasoning.insert("summary".into(), json!(summary));
        }
        Ok(OpenAiResponses {
            endpoint: Arc::new(endpoint),
            include_reasoning_encrypted: config.include_reasoning_encrypted,
            reasoning: (!reasoning.is_empty()).then_some(Value::Object(reasoning)),
        })
    }

    /// The JSON body sent for `request`.
    pub fn request_body(&self, request: &ModelRequest) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.endpoint.model));
        if let Some(instructions) = request.instructions.as_deref().filter(|i| !i.trim().is_empty()) {
            body.insert("instructions".into(), json!(instructions));
        }
        body.insert("input".into(), Value::Array(responses_input(&request.input)));
        if !request.tools.is_empty() {
            body.insert("tools".into(), Value::Array(responses_tools(&request.tools)));
            if let Some(choice) = &request.tool_choice {
                body.insert("tool_choice".into(), choice.clone());
            }
        }
        insert_common_options(&mut body, request);
        if let Some(m) = request.max_output_tokens {
            body.insert("max_output_tokens".into(), json!(m));
        }
        if let Some(reasoning) = &self.reasoning {
            body.insert("reasoning".into(), reasoning.clone());
        }
        if self.include_reasoning_encrypted {
            body.insert("include".into(), json!(["reasoning.encrypted_content"]));
        }
        body.insert("stream".into(), json!(true));
        body.insert("store".into(), json!(false));
        Value::Object(body)
    }
}

#[async_trait::async_trait]
impl Model for OpenAiResponses {
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
        start_stream(&self.endpoint, ctx, &self.request_body(&request), ResponsesParser::default)
    }
}

/// Parser state for one attempt.
#[derive(Debug, Default)]
pub(crate) struct ResponsesParser {
    /// Upstream function-call item id → call id.
    call_ids: HashMap<String, String>,
    /// Output index → call id (for events without an item id).
    call_at: HashMap<u64, String>,
    /// Calls whose `FunctionCallDone` was emitted.
    done: HashSet<String>,
    /// Items whose text, refusal or summary arrived as deltas.
    streamed: HashSet<String>,
    /// The last summary part streamed: (item id, summary index).
    summary_part: Option<(String, u64)>,
    /// Whether any event was emitted.
    emitted: bool,
    /// Id, model and finish reasons, for telemetry.
    meta: ResponseMeta,
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

impl ResponsesParser {
    fn push(&mut self, out: &mut Vec<ModelEvent>, event: ModelEvent) {
        if !matches!(event, ModelEvent::ReasoningDelta(_)) {
            self.summary_part = None;
        }
        self.emitted = true;
        out.push(event);
    }

    fn call_id_for(&self, ev: &Value) -> Option<String> {
        let by_item = self.call_ids.get(text(ev, "item_id")).cloned();
        by_item.or_else(|| {
            let index = ev.get("output_index").and_then(Value::as_u64)?;
            self.call_at.get(&index).cloned()
        })
    }

    fn start_call(&mut self, item: &Value, index: Option<u64>, out: &mut Vec<ModelEvent>) -> String {
        let item_id = text(item, "id");
        if let Some(call_id) = self.call_ids.get(item_id).filter(|_| !item_id.is_empty()) {
            return call_id.clone();
        }
        let call_id = match text(item, "call_id") {
            "" if item_id.is_empty() => format!("call_{}", self.call_ids.len() + 1),
            "" => item_id.to_string(),
            id => id.to_string(),
        };
        let key = if item_id.is_empty() { call_id.clone() } else { item_id.to_string() };
        self.call_ids.insert(key, call_id.clone());
        if let Some(index) = index {
            self.call_at.insert(index, call_id.clone());
        }
        let name = text(item, "name").to_string();
        self.push(out, ModelEvent::FunctionCallStart { call_id: call_id.clone(), name });
        call_id
    }

    fn finish_call(&mut self, call_id: String, arguments: &str, out: &mut Vec<ModelEvent>) {
        if self.done.insert(call_id.clone()) {
            let arguments = arguments.to_string();
            self.push(out, ModelEvent::FunctionCallDone { call_id, arguments });
        }
    }

    /// A finished output item: completes calls, and emits what was not streamed as deltas.
    fn item_done(&mut self, item: &Value, index: Option<u64>, out: &mut Vec<ModelEvent>) {
        let id = text(item, "id");
        let streamed = !id.is_empty() && self.streamed.contains(id);
        match text(item, "type") {
            "function_call" => {
                let call_id = self.start_call(item, index, out);
                self.finish_call(call_id, text(item, "arguments"), out);
            }
            "message" if !streamed => {
                let parts = item.get("content").and_then(Value::as_array).into_iter().flatten();
                for part in parts {
                    match text(part, "type") {
                        "output_text" if !text(part, "text").is_empty() => {
                            self.push(out, ModelEvent::TextDelta(text(part, "text").into()));
                        }
                        "refusal" if !text(part, "refusal").is_empty() => {
                            self.push(out, ModelEvent::RefusalDelta(text(part, "refusal").into()));
                        }
                        _ => {}
                    }
                }
            }
            "reasoning" => {
                if !streamed {
                    let summary: Vec<&str> = item
                        .get("summary")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|p| text(p, "text"))
                        .filter(|t| !t.is_empty())
                        .collect();
                    if !summary.is_empty() {
                        self.push(out, ModelEvent::ReasoningDelta(summary.join("\n\n")));
                    }
                }
                if let Some(state) = item.get("encrypted_content").and_then(Value::as_str)
                    && !state.is_empty()
                {
                    self.push(out, ModelEvent::ReasoningEncrypted(state.into()));
                }
            }
            _ => {}
        }
    }

    /// `response.completed` / `response.incomplete`: the output not yet seen, then usage.
    fn finished(&mut self, response: &Value, out: &mut Vec<ModelEvent>) {
        self.meta.note(response);
        let reason = response.get("incomplete_details").and_then(|d| d.get("reason")).and_then(Value::as_str);
        match reason {
            Some(reason) => self.meta.finish(reason),
            None if self.call_ids.is_empty() && !has_calls(response) => self.meta.finish("stop"),
            None => self.meta.finish("tool_calls"),
        }
        if !self.emitted {
            let items = response.get("output").and_then(Value::as_array).into_iter().flatten();
            for (i, item) in items.enumerate() {
                self.item_done(item, u64::try_from(i).ok(), out);
            }
        }
        let usage = response.get("usage").and_then(|u| {
            read_usage(u, "input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details")
        });
        if let Some(usage) = usage {
            self.push(out, ModelEvent::Usage(usage));
        }
    }
}

fn failed(response: &Value, scrubber: &Scrubber) -> Failure {
    match response.get("error").filter(|e| e.is_object()) {
        Some(error) => from_stream_error(error, scrubber),
        None => Failure::fatal(codes::MODEL_ERROR, "the model reported that the response failed"),
    }
}

/// Whether a response document lists function calls in its output.
fn has_calls(response: &Value) -> bool {
    let items = response.get("output").and_then(Value::as_array).into_iter().flatten();
    items.into_iter().any(|i| text(i, "type") == "function_call")
}

impl Parser for ResponsesParser {
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
            // Only a terminal `response.*` event completes an answer.
            return Err(truncated());
        }
        let Some(ev) = parse_data(name, data, scrubber)? else {
            return Ok(Step::Continue);
        };
        let kind = ev.get("type").and_then(Value::as_str).unwrap_or(name);
        let index = ev.get("output_index").and_then(Value::as_u64);
        let delta = text(&ev, "delta");
        match kind {
            "response.output_text.delta" | "response.refusal.delta" => {
                self.streamed.insert(text(&ev, "item_id").to_string());
                if !delta.is_empty() {
                    let event = if kind == "response.output_text.delta" {
                        ModelEvent::TextDelta(delta.into())
                    } else {
                        ModelEvent::RefusalDelta(delta.into())
                    };
                    self.push(out, event);
                }
            }
            "response.reasoning_summary_text.delta" => {
                let item_id = text(&ev, "item_id").to_string();
                self.streamed.insert(item_id.clone());
                let part = (item_id, ev.get("summary_index").and_then(Value::as_u64).unwrap_or(0));
                if !delta.is_empty() {
                    let mut chunk = String::new();
                    if self.summary_part.as_ref().is_some_and(|prev| *prev != part) {
                        chunk.push_str("\n\n");
                    }
                    chunk.push_str(delta);
                    self.push(out, ModelEvent::ReasoningDelta(chunk));
                    self.summary_part = Some(part);
                }
            }
            "response.created" | "response.in_progress" => {
                if let Some(response) = ev.get("response") {
                    self.meta.note(response);
                }
            }
            "response.output_item.added" => {
                if let Some(item) = ev.get("item").filter(|i| text(i, "type") == "function_call") {
                    self.start_call(item, index, out);
                }
            }
            "response.function_call_arguments.delta" => {
                if let Some(call_id) = self.call_id_for(&ev)
                    && !delta.is_empty()
                    && !self.done.contains(&call_id)
                {
                    let delta = delta.to_string();
                    self.push(out, ModelEvent::FunctionCallArgumentsDelta { call_id, delta });
                }
            }
            "response.function_call_arguments.done" => {
                if let Some(call_id) = self.call_id_for(&ev) {
                    self.finish_call(call_id, text(&ev, "arguments"), out);
                }
            }
            "response.output_item.done" => {
                if let Some(item) = ev.get("item") {
                    self.item_done(item, index, out);
                }
            }
            "response.completed" | "response.incomplete" => {
                self.finished(ev.get("response").unwrap_or(&Value::Null), out);
                return Ok(Step::Done);
            }
            "response.failed" => {
                return Err(failed(ev.get("response").unwrap_or(&Value::Null), scrubber));
            }
            "error" => return Err(from_stream_error(&ev, scrubber)),
            _ => {}
        }
        Ok(Step::Continue)
    }

    fn json_body(&mut self, body: Value, scrubber: &Scrubber, out: &mut Vec<ModelEvent>) -> Result<(), Failure> {
        let status = text(&body, "status");
        if status == "failed" || (body.get("output").is_none() && body.get("error").is_some_and(|e| !e.is_null())) {
            return Err(failed(&body, scrubber));
        }
        self.finished(&body, out);
        Ok(())
    }

    fn eof(&mut self, _out: &mut Vec<ModelEvent>) -> Result<(), Failure> {
        Err(truncated())
    }
}

#[cfg(test)]
mod tests;
