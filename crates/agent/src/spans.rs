//! The spans of a turn: `chat {model}` per model call and `execute_tool {tool}` per tool call,
//! with the OpenTelemetry GenAI attribute names, plus the model-call metrics.
//!
//! Message content (`gen_ai.input.messages`, `gen_ai.output.messages`, tool arguments and
//! results) is recorded only when [`Telemetry::capture_content`] says so.

use std::time::Instant;

use agenthost_responses::{Item, Usage};
use serde_json::{Value, json};
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::context::RequestContext;
use crate::model::{Model, ModelRequest};
use crate::telemetry::{ModelCall, SPAN_TARGET, Telemetry};
use crate::tools::{ToolCall, ToolOutcome, ToolSet};

/// What one model call produced, for its span and metrics.
#[derive(Debug, Default)]
pub(crate) struct CallRecord {
    /// Token usage of this call.
    pub usage: Option<Usage>,
    /// The answer text (collected only when content is captured).
    pub text: String,
    /// The tool calls asked for.
    pub calls: Vec<ToolCall>,
}

/// One model call being traced; records `cancelled` if dropped before [`ChatCall::finish`].
pub(crate) struct ChatCall<'a> {
    span: Span,
    telemetry: &'a Telemetry,
    provider: &'a str,
    model: &'a str,
    started: Instant,
    done: bool,
}

impl<'a> ChatCall<'a> {
    /// Opens the `chat {model}` span (CLIENT) for a call of `model` with `request`.
    pub fn start(ctx: &'a RequestContext, model: &'a dyn Model, request: &ModelRequest) -> Self {
        let provider = model.gen_ai_provider();
        let name = model.model_name();
        let span = tracing::info_span!(
            target: SPAN_TARGET,
            "chat",
            otel.name = %format_args!("chat {name}"),
            otel.kind = "client",
            otel.status_code = Empty,
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = provider,
            gen_ai.request.model = name,
            gen_ai.request.temperature = request.temperature,
            gen_ai.request.top_p = request.top_p,
            gen_ai.request.max_tokens = request.max_output_tokens.map(saturating_i64),
            gen_ai.response.id = Empty,
            gen_ai.response.model = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            server.address = Empty,
            server.port = Empty,
            error.type = Empty,
            gen_ai.system_instructions = Empty,
            gen_ai.input.messages = Empty,
            gen_ai.output.messages = Empty,
        );
        if ctx.telemetry.capture_content() {
            if let Some(instructions) = &request.instructions {
                span.record("gen_ai.system_instructions", json!([text_part(instructions)]).to_string());
            }
            span.record("gen_ai.input.messages", input_messages(&request.input).to_string());
        }
        ChatCall { span, telemetry: &ctx.telemetry, provider, model: name, started: Instant::now(), done: false }
    }

    /// The call's span, to instrument the model stream with.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Records the outcome: usage and output on success, `error.type` and an error status on
    /// failure; then the metrics.
    pub fn finish(mut self, record: &CallRecord, error: Option<&str>) {
        self.done = true;
        let tokens = record.usage.as_ref().map(|u| (u.input_tokens, u.output_tokens));
        if let Some((input, output)) = tokens {
            self.span.record("gen_ai.usage.input_tokens", saturating_i64(input));
            self.span.record("gen_ai.usage.output_tokens", saturating_i64(output));
        }
        match error {
            Some(code) => {
                self.span.record("error.type", code);
                self.span.record("otel.status_code", "error");
            }
            None if self.telemetry.capture_content() => {
                self.span.record("gen_ai.output.messages", output_messages(record).to_string());
            }
            None => {}
        }
        self.report(error, tokens);
    }

    fn report(&self, error_type: Option<&str>, tokens: Option<(u64, u64)>) {
        self.telemetry.model_call(&ModelCall {
            provider: self.provider,
            model: self.model,
            error_type,
            duration: self.started.elapsed(),
            tokens,
        });
    }
}

impl Drop for ChatCall<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.span.record("error.type", "cancelled");
            self.report(Some("cancelled"), None);
        }
    }
}

/// Runs one tool call inside an `execute_tool {tool}` span (INTERNAL).
pub(crate) async fn invoke(tools: &dyn ToolSet, ctx: &RequestContext, call: &ToolCall) -> ToolOutcome {
    let span = tool_span(call);
    let capture = ctx.telemetry.capture_content();
    if capture {
        span.record("gen_ai.tool.call.arguments", call.arguments.as_str());
    }
    let outcome = tools.invoke(ctx, call).instrument(span.clone()).await;
    record_outcome(&span, &outcome, capture);
    outcome
}

/// A tool call that could not run (unknown tool): its span, marked failed.
pub(crate) fn not_found(call: &ToolCall) {
    let span = tool_span(call);
    span.record("error.type", "tool_not_found");
    span.record("otel.status_code", "error");
}

fn tool_span(call: &ToolCall) -> Span {
    tracing::info_span!(
        target: SPAN_TARGET,
        "execute_tool",
        otel.name = %format_args!("execute_tool {}", call.name),
        otel.kind = "internal",
        otel.status_code = Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = %call.name,
        gen_ai.tool.call.id = %call.call_id,
        gen_ai.tool.type = "function",
        error.type = Empty,
        gen_ai.tool.call.arguments = Empty,
        gen_ai.tool.call.result = Empty,
    )
}

fn record_outcome(span: &Span, outcome: &ToolOutcome, capture: bool) {
    let error = match outcome {
        ToolOutcome::Output(text) => {
            if capture {
                span.record("gen_ai.tool.call.result", text.as_str());
            }
            return;
        }
        ToolOutcome::Error(_) => "tool_error",
        ToolOutcome::ConsentRequired(_) => "consent_required",
    };
    span.record("error.type", error);
    span.record("otel.status_code", "error");
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn text_part(text: &str) -> Value {
    json!({"type": "text", "content": text})
}

/// `gen_ai.input.messages`: the history and input as GenAI messages.
fn input_messages(input: &[Item]) -> Value {
    let messages: Vec<Value> = input
        .iter()
        .filter_map(|item| match item {
            Item::Message(m) => Some(json!({"role": m.role, "parts": [text_part(&m.text())]})),
            Item::FunctionCall(c) => Some(json!({"role": "assistant", "parts": [{
                "type": "tool_call", "id": c.call_id, "name": c.name, "arguments": c.arguments,
            }]})),
            Item::FunctionCallOutput(o) => Some(json!({"role": "tool", "parts": [{
                "type": "tool_call_response", "id": o.call_id, "response": o.output_text(),
            }]})),
            _ => None,
        })
        .collect();
    Value::Array(messages)
}

/// `gen_ai.output.messages`: the answer text and tool calls of one model call.
fn output_messages(record: &CallRecord) -> Value {
    let mut parts = Vec::new();
    if !record.text.is_empty() {
        parts.push(text_part(&record.text));
    }
    for c in &record.calls {
        parts.push(json!({"type": "tool_call", "id": c.call_id, "name": c.name, "arguments": c.arguments}));
    }
    let finish = if record.calls.is_empty() { "stop" } else { "tool_call" };
    json!([{"role": "assistant", "parts": parts, "finish_reason": finish}])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_the_genai_shape() {
        let input = vec![Item::user_text("hi")];
        assert_eq!(input_messages(&input), json!([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]));
        let record = CallRecord {
            usage: None,
            text: String::new(),
            calls: vec![ToolCall { call_id: "c1".into(), name: "echo".into(), arguments: "{}".into() }],
        };
        assert_eq!(
            output_messages(&record),
            json!([{"role": "assistant", "finish_reason": "tool_call",
                "parts": [{"type": "tool_call", "id": "c1", "name": "echo", "arguments": "{}"}]}])
        );
    }
}
