//! The mock server itself: non-streamed answers, request validation, script exhaustion.

use agenthost_agent::ModelEvent;
use agenthost_model::mock::{MockChunk, MockOpenAi, MockTurn};
use agenthost_model::{Provider, build};
use agenthost_responses::Usage;
use serde_json::{Value, json};

use crate::helpers::{ctx, run, text, user};

fn turn() -> MockTurn {
    let mut chunks = vec![MockChunk::text("Hi"), MockChunk::reasoning_encrypted("enc")];
    chunks.extend(MockChunk::function_call("c1", "f", &["{\"a\":", "1}"]));
    chunks.push(MockChunk::usage(3, 4));
    MockTurn::reply(chunks)
}

async fn post(mock: &MockOpenAi, path: &str, body: Value) -> (u16, Value) {
    let response =
        reqwest::Client::new().post(format!("http://{}{path}", mock.addr())).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn non_streamed_requests_get_whole_documents() {
    let mock = MockOpenAi::start(vec![turn(), turn()]).await;
    let input = json!([{"type": "message", "role": "user", "content": "hi"}]);
    let (status, body) = post(&mock, "/v1/responses", json!({"model": "m", "input": input})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "id": "resp_mock1", "object": "response", "status": "completed", "model": "m",
            "output": [
                {"type": "message", "id": "msg_mock0", "role": "assistant", "status": "completed",
                 "content": [{"type": "output_text", "text": "Hi", "annotations": []}]},
                {"type": "reasoning", "id": "rs_mock1", "summary": [], "encrypted_content": "enc"},
                {"type": "function_call", "id": "fc_mock2", "call_id": "c1", "name": "f", "arguments": "{\"a\":1}", "status": "completed"},
            ],
            "usage": {"input_tokens": 3, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 4,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 7},
        })
    );
    let messages = json!([{"role": "user", "content": "hi"}]);
    let (status, body) = post(&mock, "/v1/chat/completions", json!({"model": "m", "messages": messages})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "id": "chatcmpl-mock2", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Hi",
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}],
            }}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                      "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
        })
    );
}

#[tokio::test]
async fn backends_accept_servers_that_ignore_stream_true() {
    for provider in [Provider::OpenAiResponses, Provider::OpenAiChat] {
        let mock = MockOpenAi::start(vec![turn().as_json()]).await;
        let (events, error) = run(&*build(mock.config(provider)).unwrap(), &ctx(), user("hi")).await;
        assert_eq!(error, None);
        let mut expected = vec![text("Hi")];
        if provider == Provider::OpenAiResponses {
            expected.push(ModelEvent::ReasoningEncrypted("enc".into()));
        }
        expected.extend([
            ModelEvent::FunctionCallStart { call_id: "c1".into(), name: "f".into() },
            ModelEvent::FunctionCallDone { call_id: "c1".into(), arguments: "{\"a\":1}".into() },
            ModelEvent::Usage(Usage::new(3, 4)),
        ]);
        if provider == Provider::OpenAiChat {
            // Chat Completions starts a call and delivers its arguments as one delta.
            expected
                .insert(2, ModelEvent::FunctionCallArgumentsDelta { call_id: "c1".into(), delta: "{\"a\":1}".into() });
        }
        assert_eq!(events, expected, "{provider}");
    }
}

#[tokio::test]
async fn invalid_requests_and_an_exhausted_script_get_400() {
    let mock = MockOpenAi::start(vec![MockTurn::text(&["ok"])]).await;
    let orphan = json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "x", "output": "o"}]});
    let (status, body) = post(&mock, "/v1/responses", orphan).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "No tool call found for function call output with call_id x.");
    let unknown = json!({"model": "m", "input": [{"type": "oauth_consent_request", "id": "o"}]});
    assert_eq!(post(&mock, "/v1/responses", unknown).await.0, 400);
    let unanswered = json!({"model": "m", "messages": [
        {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "user", "content": "hi"},
    ]});
    assert_eq!(post(&mock, "/v1/chat/completions", unanswered).await.0, 400);
    assert_eq!(mock.remaining(), 1, "rejected requests do not consume turns");

    let ok = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post(&mock, "/v1/chat/completions", ok.clone()).await.0, 200);
    let (status, body) = post(&mock, "/v1/chat/completions", ok).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("mock_script_exhausted")));
    assert_eq!(mock.requests().len(), 5);
}
