//! The Chat Completions backend: exact event sequences and exact request bodies.

use agenthost_agent::ModelEvent;
use agenthost_model::mock::{MockChunk, MockEnd, MockOpenAi, MockTurn};
use agenthost_model::{OpenAiChat, Provider, codes};
use agenthost_responses::Usage;
use agenthost_responses::response::{InputTokensDetails, OutputTokensDetails};
use serde_json::json;

use crate::helpers::{ctx, run, text, user};
use crate::responses::rich_history;

async fn model(mock: &MockOpenAi) -> OpenAiChat {
    OpenAiChat::new(&mock.config(Provider::OpenAiChat)).unwrap()
}

#[tokio::test]
async fn text_stream_yields_exact_events_and_asks_for_usage() {
    let mock = MockOpenAi::start(vec![MockTurn::reply(vec![
        MockChunk::text("Hel"),
        MockChunk::text("lo"),
        MockChunk::usage(9, 2),
    ])])
    .await;
    let mut request = user("hi");
    request.instructions = Some("Be brief.".into());
    let (events, error) = run(&model(&mock).await, &ctx(), request).await;
    assert_eq!(error, None);
    assert_eq!(events, vec![text("Hel"), text("lo"), ModelEvent::Usage(Usage::new(9, 2))]);
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(
        requests[0].body,
        json!({
            "model": "mock-model",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[tokio::test]
async fn interleaved_parallel_tool_calls_are_reassembled_by_index() {
    let mock = MockOpenAi::start(vec![MockTurn::reply(vec![
        MockChunk::tool_call("call_a", "lookup"),
        MockChunk::tool_call("call_b", "search"),
        MockChunk::tool_args("call_a", "{\"q\":"),
        MockChunk::tool_args("call_b", "{\"s\":"),
        MockChunk::tool_args("call_a", "1}"),
        MockChunk::tool_args("call_b", "\"x\"}"),
        MockChunk::usage(5, 7),
    ])])
    .await;
    let (events, error) = run(&model(&mock).await, &ctx(), user("both")).await;
    assert_eq!(error, None);
    let delta = |id: &str, d: &str| ModelEvent::FunctionCallArgumentsDelta { call_id: id.into(), delta: d.into() };
    assert_eq!(
        events,
        vec![
            ModelEvent::FunctionCallStart { call_id: "call_a".into(), name: "lookup".into() },
            ModelEvent::FunctionCallStart { call_id: "call_b".into(), name: "search".into() },
            delta("call_a", "{\"q\":"),
            delta("call_b", "{\"s\":"),
            delta("call_a", "1}"),
            delta("call_b", "\"x\"}"),
            ModelEvent::FunctionCallDone { call_id: "call_a".into(), arguments: "{\"q\":1}".into() },
            ModelEvent::FunctionCallDone { call_id: "call_b".into(), arguments: "{\"s\":\"x\"}".into() },
            ModelEvent::Usage(Usage::new(5, 7)),
        ]
    );
}

#[tokio::test]
async fn one_tool_call_in_a_single_chunk_and_calls_without_ids() {
    let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
        MockChunk::event(
            json!({"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        )
    };
    let mock = MockOpenAi::start(vec![
        MockTurn::reply(vec![
            chunk(json!({"tool_calls": [{"index": 0, "id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}), json!(null)),
            chunk(json!({"tool_calls": [{"index": 1, "function": {"arguments": "{\"a\""}}]}), json!(null)),
            chunk(json!({"tool_calls": [{"index": 1, "function": {"name": "g", "arguments": ":1}"}}]}), json!("tool_calls")),
        ])
        .fail_after(3, MockEnd::Truncate),
    ])
    .await;
    let (events, error) = run(&model(&mock).await, &ctx(), user("go")).await;
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            ModelEvent::FunctionCallStart { call_id: "call_9".into(), name: "f".into() },
            ModelEvent::FunctionCallArgumentsDelta { call_id: "call_9".into(), delta: "{}".into() },
            ModelEvent::FunctionCallStart { call_id: "call_1".into(), name: "g".into() },
            ModelEvent::FunctionCallArgumentsDelta { call_id: "call_1".into(), delta: "{\"a\":1}".into() },
            ModelEvent::FunctionCallDone { call_id: "call_9".into(), arguments: "{}".into() },
            ModelEvent::FunctionCallDone { call_id: "call_1".into(), arguments: "{\"a\":1}".into() },
        ]
    );
}

#[tokio::test]
async fn reasoning_content_refusal_and_usage_details_pass_through() {
    let mock = MockOpenAi::start(vec![MockTurn::reply(vec![
        MockChunk::reasoning("Hmm."),
        MockChunk::refusal("No."),
        MockChunk::Usage { input: 50, output: 20, cached: 32, reasoning: 8 },
    ])])
    .await;
    let (events, error) = run(&model(&mock).await, &ctx(), user("?")).await;
    assert_eq!(error, None);
    let usage = Usage {
        input_tokens: 50,
        input_tokens_details: InputTokensDetails { cached_tokens: 32 },
        output_tokens: 20,
        output_tokens_details: OutputTokensDetails { reasoning_tokens: 8 },
        total_tokens: 70,
    };
    assert_eq!(
        events,
        vec![
            ModelEvent::ReasoningDelta("Hmm.".into()),
            ModelEvent::RefusalDelta("No.".into()),
            ModelEvent::Usage(usage),
        ]
    );
}

#[tokio::test]
async fn unknown_chunks_and_fields_are_ignored() {
    let mock = MockOpenAi::start(vec![MockTurn::reply(vec![
        // Azure's first chunk: no choices, content-filter results.
        MockChunk::event(json!({"id": "", "choices": [], "prompt_filter_results": [{"prompt_index": 0}]})),
        MockChunk::raw(": ping\n\n"),
        MockChunk::event(json!({"id": "x", "choices": [{"index": 0, "delta": {"content": "ok", "future": 1}, "logprobs": null, "finish_reason": null}], "system_fingerprint": "fp"})),
    ])])
    .await;
    let (events, error) = run(&model(&mock).await, &ctx(), user("?")).await;
    assert_eq!(error, None);
    assert_eq!(events, vec![text("ok")]);
}

#[tokio::test]
async fn a_stream_that_stops_before_finishing_is_model_unavailable() {
    let mock = MockOpenAi::start(vec![MockTurn::text(&["par", "tial"]).ending(MockEnd::Truncate)]).await;
    let (events, error) = run(&model(&mock).await, &ctx(), user("?")).await;
    assert_eq!(events, vec![text("par"), text("tial")]);
    assert_eq!(error.unwrap().code, codes::MODEL_UNAVAILABLE);
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn history_maps_to_the_exact_messages() {
    let mock = MockOpenAi::start(vec![MockTurn::text(&["ok"])]).await;
    let mut config = mock.config(Provider::OpenAiChat);
    config.reasoning_effort = Some("low".into());
    let model = OpenAiChat::new(&config).unwrap();
    let (events, error) = run(&model, &ctx(), rich_history()).await;
    assert_eq!((events, error), (vec![text("ok")], None));
    let body = &mock.requests()[0].body;
    let call =
        |id: &str, args: &str| json!({"id": id, "type": "function", "function": {"name": "lookup", "arguments": args}});
    assert_eq!(
        *body,
        json!({
            "model": "mock-model",
            "messages": [
                {"role": "system", "content": "You are helpful."},
                {"role": "system", "content": "Use metric units."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Look up 1 and 2"},
                    {"type": "image_url", "image_url": {"url": "https://img.example/a.png", "detail": "low"}},
                ]},
                {"role": "assistant", "content": "Looking up.", "tool_calls": [call("call_a", "{\"q\":1}"), call("call_b", "{\"q\":2}")]},
                {"role": "tool", "tool_call_id": "call_a", "content": "one"},
                {"role": "tool", "tool_call_id": "call_b", "content": "two"},
                {"role": "assistant", "content": "1 is one, 2 is two.", "tool_calls": [call("call_c", "{}")]},
                {"role": "tool", "tool_call_id": "call_c", "content": agenthost_model::MISSING_OUTPUT},
                {"role": "user", "content": "Thanks"},
            ],
            "tools": [{"type": "function", "function": {
                "name": "lookup", "description": "Looks things up.",
                "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}},
            }}],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "temperature": 0.5,
            "top_p": 0.25,
            "max_completion_tokens": 100,
            "reasoning_effort": "low",
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}
