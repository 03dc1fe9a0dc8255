//! The embedded default model: scripted and deterministic, so demos and tests need no network.
//!
//! Rules, in order:
//! 1. If tool results came back after the latest user message, answer one line per tool call:
//!    `<tool_name> returned: <output>`.
//! 2. Else, if the latest user text has `call:<tool_name>` markers (each at the start of a word,
//!    optionally followed by a JSON object), call those tools in order, in one step, with those
//!    arguments (`{}` when none).
//! 3. Else answer `You said: <latest user text>`.
//!
//! Text streams one word per delta (each delta is a word with the whitespace before it, so the
//! deltas concatenate to the exact text). Usage counts whitespace-separated words: input words
//! are those of the instructions and every item the model receives; output words are those of
//! the answer, or for tool calls the tool name plus the words of its arguments.

use agenthost_responses::{Item, Usage};
use futures::{StreamExt, stream};
use serde_json::Value;

use crate::context::RequestContext;
use crate::model::{Model, ModelError, ModelEvent, ModelRequest, ModelStream};

/// The scripted model.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScriptedModel {
    /// Pause before each streamed event (demo pacing; zero in normal use).
    pub pace: std::time::Duration,
}

#[async_trait::async_trait]
impl Model for ScriptedModel {
    fn provider(&self) -> &str {
        "scripted"
    }

    async fn stream(&self, ctx: &RequestContext, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let events = script(&request, &ctx.response_id);
        let pace = self.pace;
        if pace.is_zero() {
            return Ok(Box::pin(stream::iter(events.into_iter().map(Ok))));
        }
        Ok(Box::pin(stream::iter(events).then(move |e| async move {
            tokio::time::sleep(pace).await;
            Ok(e)
        })))
    }
}

fn script(request: &ModelRequest, response_id: &str) -> Vec<ModelEvent> {
    let input_words = count_input_words(request);
    let last_user =
        request.input.iter().rposition(|i| matches!(i, Item::Message(m) if m.role == agenthost_responses::Role::User));
    let after_user = &request.input[last_user.map_or(0, |i| i + 1)..];
    let user_text = match last_user.map(|i| &request.input[i]) {
        Some(Item::Message(m)) => m.text(),
        _ => String::new(),
    };

    let mut events = Vec::new();
    let output_words;
    if after_user.iter().any(|i| matches!(i, Item::FunctionCallOutput(_))) {
        let mut lines = Vec::new();
        for item in after_user {
            if let Item::FunctionCall(call) = item {
                let output = after_user.iter().find_map(|i| match i {
                    Item::FunctionCallOutput(o) if o.call_id == call.call_id => Some(o.output_text()),
                    _ => None,
                });
                lines.push(format!("{} returned: {}", call.name, output.unwrap_or_default()));
            }
        }
        let text = lines.join("\n");
        output_words = word_count(&text);
        push_words(&mut events, &text);
    } else {
        let calls = parse_calls(&user_text);
        if calls.is_empty() {
            let text = format!("You said: {user_text}");
            output_words = word_count(&text);
            push_words(&mut events, &text);
        } else {
            let mut words = 0;
            for (n, (name, args)) in calls.into_iter().enumerate() {
                words += 1 + word_count(&args);
                let call_id = format!("call_{}_{}", short(response_id), n + 1);
                events.push(ModelEvent::FunctionCallStart { call_id: call_id.clone(), name });
                events.push(ModelEvent::FunctionCallArgumentsDelta { call_id: call_id.clone(), delta: args.clone() });
                events.push(ModelEvent::FunctionCallDone { call_id, arguments: args });
            }
            output_words = words;
        }
    }
    events.push(ModelEvent::Usage(Usage::new(input_words, output_words)));
    events
}

/// The entropy tail of a response id, so call ids are unique across a conversation.
fn short(response_id: &str) -> &str {
    let start = response_id.len().saturating_sub(12);
    response_id.get(start..).unwrap_or("0")
}

fn push_words(events: &mut Vec<ModelEvent>, text: &str) {
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // A delta is the whitespace before a word plus the word.
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        events.push(ModelEvent::TextDelta(text[start..i].to_string()));
        start = i;
    }
    if text.is_empty() {
        events.push(ModelEvent::TextDelta(String::new()));
    }
}

fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn count_input_words(request: &ModelRequest) -> u64 {
    let mut n = request.instructions.as_deref().map_or(0, word_count);
    for item in &request.input {
        n += match item {
            Item::Message(m) => word_count(&m.text()),
            Item::FunctionCall(c) => 1 + word_count(&c.arguments),
            Item::FunctionCallOutput(o) => word_count(&o.output_text()),
            _ => 0,
        };
    }
    n
}

/// `call:<name> [{json}]` markers at word starts, in order.
fn parse_calls(text: &str) -> Vec<(String, String)> {
    let mut calls = Vec::new();
    let mut rest = text;
    let mut at_word_start = true;
    while !rest.is_empty() {
        if at_word_start && let Some(after) = rest.strip_prefix("call:") {
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
                .unwrap_or(after.len());
            if name_len > 0 {
                let name = after[..name_len].to_string();
                let mut tail = &after[name_len..];
                let mut args = "{}".to_string();
                let trimmed = tail.trim_start();
                if trimmed.starts_with('{') {
                    let mut de = serde_json::Deserializer::from_str(trimmed).into_iter::<Value>();
                    if let Some(Ok(v @ Value::Object(_))) = de.next() {
                        args = v.to_string();
                        tail = &trimmed[de.byte_offset()..];
                    }
                }
                calls.push((name, args));
                rest = tail;
                at_word_start = false;
                continue;
            }
        }
        let Some(c) = rest.chars().next() else { break };
        at_word_start = c.is_whitespace();
        rest = &rest[c.len_utf8()..];
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;
    use agenthost_responses::item::{FunctionCallItem, FunctionCallOutputItem};

    fn texts(events: &[ModelEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                ModelEvent::TextDelta(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn echoes_one_word_per_delta() {
        let req = ModelRequest { input: vec![Item::user_text("hello  big\nworld")], ..Default::default() };
        let ev = script(&req, "caresp_x");
        assert_eq!(texts(&ev), ["You", " said:", " hello", "  big", "\nworld"]);
        assert_eq!(ev.last(), Some(&ModelEvent::Usage(Usage::new(3, 5))));
    }

    #[test]
    fn parses_call_markers_with_and_without_arguments() {
        let calls = parse_calls(r#"please call:send_email {"to":"a@b.c"} then call:echo and recall:nope call:"#);
        assert_eq!(
            calls,
            [("send_email".to_string(), r#"{"to":"a@b.c"}"#.to_string()), ("echo".to_string(), "{}".to_string())]
        );
        assert!(parse_calls("no markers here").is_empty());
        assert_eq!(parse_calls("call:x {not json").first().map(|c| c.1.as_str()), Some("{}"));
    }

    #[test]
    fn answers_tool_results_one_line_per_tool() {
        let call = |id: &str, name: &str| {
            Item::FunctionCall(FunctionCallItem {
                id: None,
                call_id: id.into(),
                name: name.into(),
                arguments: "{}".into(),
                status: None,
                response_id: None,
                agent_reference: None,
            })
        };
        let out = |id: &str, o: &str| {
            Item::FunctionCallOutput(FunctionCallOutputItem {
                id: None,
                call_id: id.into(),
                output: Value::String(o.into()),
                status: None,
                response_id: None,
                agent_reference: None,
            })
        };
        let req = ModelRequest {
            input: vec![
                Item::user_text("call:a call:b"),
                call("1", "a"),
                call("2", "b"),
                out("1", "x"),
                out("2", "y z"),
            ],
            ..Default::default()
        };
        let text: String = texts(&script(&req, "r")).concat();
        assert_eq!(text, "a returned: x\nb returned: y z");
    }
}
