//! Unit tests of the Responses API stream parser.

use super::*;
use agenthost_responses::Usage;

/// Feeds events; returns the model events and how the last one ended.
fn feed(events: &[Value]) -> (Vec<ModelEvent>, Result<Step, Failure>) {
    let mut parser = ResponsesParser::default();
    let mut out = Vec::new();
    let mut last = Ok(Step::Continue);
    for ev in events {
        let name = ev["type"].as_str().unwrap_or("message");
        last = parser.event(name, &ev.to_string(), &Scrubber::default(), &mut out);
        if last.is_err() {
            break;
        }
    }
    (out, last)
}

#[test]
fn done_items_fill_in_what_was_not_streamed() {
    let (out, last) = feed(&[
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "reasoning", "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "A"}, {"type": "summary_text", "text": "B"}], "encrypted_content": "e"}}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": {"type": "message", "id": "m1",
            "content": [{"type": "output_text", "text": "Hi"}]}}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": {"type": "function_call", "id": "fc_1",
            "call_id": "c1", "name": "f", "arguments": "{}"}}),
        json!({"type": "response.incomplete", "response": {"usage": {"input_tokens": 3, "output_tokens": 4}}}),
    ]);
    assert_eq!(last.ok(), Some(Step::Done));
    assert_eq!(
        out,
        vec![
            ModelEvent::ReasoningDelta("A\n\nB".into()),
            ModelEvent::ReasoningEncrypted("e".into()),
            ModelEvent::TextDelta("Hi".into()),
            ModelEvent::FunctionCallStart { call_id: "c1".into(), name: "f".into() },
            ModelEvent::FunctionCallDone { call_id: "c1".into(), arguments: "{}".into() },
            ModelEvent::Usage(Usage::new(3, 4)),
        ]
    );
}

#[test]
fn summary_parts_are_separated_and_calls_are_found_by_output_index() {
    let (out, _) = feed(&[
        json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs", "summary_index": 0, "delta": "one"}),
        json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs", "summary_index": 1, "delta": "two"}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": {"type": "function_call", "id": "fc", "call_id": "c", "name": "f"}}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "{}"}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "unknown", "delta": "x"}),
        json!({"type": "response.function_call_arguments.done", "item_id": "fc", "arguments": "{}"}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": {"type": "function_call", "id": "fc", "call_id": "c", "name": "f", "arguments": "{}"}}),
    ]);
    assert_eq!(
        out,
        vec![
            ModelEvent::ReasoningDelta("one".into()),
            ModelEvent::ReasoningDelta("\n\ntwo".into()),
            ModelEvent::FunctionCallStart { call_id: "c".into(), name: "f".into() },
            ModelEvent::FunctionCallArgumentsDelta { call_id: "c".into(), delta: "{}".into() },
            ModelEvent::FunctionCallDone { call_id: "c".into(), arguments: "{}".into() },
        ]
    );
}

#[test]
fn errors_and_non_json_events() {
    let mut parser = ResponsesParser::default();
    let mut out = Vec::new();
    let s = Scrubber::default();
    assert_eq!(parser.event("ping", "not json", &s, &mut out).ok(), Some(Step::Continue));
    let err = parser.event("error", "upstream exploded", &s, &mut out).unwrap_err();
    assert_eq!((err.error.code, err.error.message.as_str()), (codes::MODEL_ERROR, "upstream exploded"));
    let ev = json!({"type": "error", "code": "context_length_exceeded", "message": "too long"});
    let err = parser.event("error", &ev.to_string(), &s, &mut out).unwrap_err();
    assert_eq!(err.error.code, codes::CONTEXT_LENGTH_EXCEEDED);
    assert_eq!(parser.eof(&mut out).unwrap_err().error.code, codes::MODEL_UNAVAILABLE);
    assert!(out.is_empty());
}

#[test]
fn a_whole_response_document_is_accepted() {
    let mut parser = ResponsesParser::default();
    let mut out = Vec::new();
    let body = json!({"object": "response", "status": "completed", "output": [
        {"type": "message", "id": "m", "content": [{"type": "refusal", "refusal": "no"}]}],
        "usage": {"input_tokens": 1, "output_tokens": 1}});
    parser.json_body(body, &Scrubber::default(), &mut out).unwrap();
    assert_eq!(out, vec![ModelEvent::RefusalDelta("no".into()), ModelEvent::Usage(Usage::new(1, 1))]);
    let failed = json!({"status": "failed", "error": {"code": "server_error", "message": "x"}});
    let err = ResponsesParser::default().json_body(failed, &Scrubber::default(), &mut out).unwrap_err();
    assert_eq!(err.error.code, codes::MODEL_UNAVAILABLE);
}
