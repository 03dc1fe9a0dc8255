//! The Responses API backend: exact event sequences and exact request bodies.

use agenthost_agent::{ModelEvent, ModelRequest, ToolSpec};
use agenthost_model::mock::{MockChunk, MockOpenAi, MockTurn};
use agenthost_model::{OpenAiResponses, Provider};
use agenthost_responses::item::{
    FunctionCallItem, FunctionCallOutputItem, McpApprovalRequestItem, McpListToolsItem, MessageItem,
    OAuthConsentRequestItem, ReasoningItem,
};
use agenthost_responses::response::{InputTokensDetails, OutputTokensDetails};
use agenthost_responses::{ContentPart, Item, Role, Usage};
use serde_json::json;

use crate::helpers::{ctx, run, text, user};

async fn model(mock: &MockOpenAi) -> OpenAiResponses {
    OpenAiResponses::new(&mock.config(Provider::OpenAiResponses)).unwrap()
}

#[tokio::test]
async fn text_stream_yields_exact_events_and_sends_a_stateless_request() {
    let mock = MockOpenAi::start(vec![MockTurn::reply(vec![
        MockChunk::text("Hel"),
        MockChunk::text("lo"),
        MockChunk::usage(12, 3),
    ])])
    .await;
    let mut request = user("hi");
    request.instructions = Some("Be brief.".into());
    let (events, error) = run(&model(&mock).await, &ctx(), request).await;
    assert_eq!(error, None);
    assert_eq!(events, vec![text("Hel"), text("lo"), ModelEvent::Usage(Usage::new(12, 3))]);
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/responses");
    assert_eq!(requests[0].header("accept"), Some("text/event-stream"));
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(
        requests[0].body,
        json!({
            "model": "mock-model",
            "instructions": "Be brief.",
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
            "stream": true,
            "store": false,
        })
    );
}

#[tokio::test]
async fn one_tool_call_reassembles_arguments_with_the_call_id() {
    let mock = MockOpenAi::start(vec![MockTurn::reply(MockChunk::function_call(
        "call_1",
        "get_weather",
        &[r#"{"ci"#, r#"ty":"Paris"}"#],
    ))])
    .await;
    let (events, error) = run(&model(&mock).await, &ctx(), user("weather?")).await;
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            ModelEvent::FunctionCallStart { call_id: "call_1".into(), name: "get_weather".into() },
            ModelEvent::FunctionCallArgumentsDelta { call_id: "call_1".into(), delta: r#"{"ci"#.into() },
            ModelEvent::FunctionCallArgumentsDelta { call_id: "call_1".into(), delta: r#"ty":"Paris"}"#.into() },
            ModelEvent::FunctionCallDone { call_id: "call_1".into(), arguments: r#"{"city":"Paris"}"#.into() },
        ]
    );
}

#[tokio::test]
async fn parallel_tool_calls_keep_their_ids() {
    let mut chunks = MockChunk::function_call("call_a", "lookup", &["{\"q\":", "1}"]);
    chunks.extend(MockChunk::function_call("call_b", "lookup", &["{\"q\":2}"]));
    let mock = MockOpenAi::start(vec![MockTurn::reply(chunks)]).await;
    let (events, error) = run(&model(&mock).await, &ctx(), user("both")).await;
    assert_eq!(error, None);
    let start = |id: &str| ModelEvent::FunctionCallStart { call_id: id.into(), name: "lookup".into() };
    let delta = |id: &str, d: &str| ModelEvent::FunctionCallArgumentsDelta { call_id: id.into(), delta: d.into() };
    let done = |id: &str, a: &str| ModelEvent::FunctionCallDone { call_id: id.into(), arguments: a.into() };
    assert_eq!(
        events,
        vec![
            start("call_a"),
            delta("call_a", "{\"q\":"),
            delta("call_a", "1}"),
            done("call_a", "{\"q\":1}"),
            start("call_b"),
            delta("call_b", "{\"q\":2}"),
            done("call_b", "{\"q\":2}"),
        ]
    );
}

#[tokio::test]
async fn reasoning_refusal_and_usage_details_pass_through() {
    let mock = MockOpenAi::start(vec![MockTurn::reply(vec![
        MockChunk::reasoning("Thinking"),
        MockChunk::reasoning(" hard."),
        MockChunk::reasoning_encrypted("gAAAA-state"),
        MockChunk::refusal("I can't help with that."),
        MockChunk::Usage { input: 100, output: 40, cached: 64, reasoning: 30 },
    ])])
    .await;
    let (events, error) = run(&model(&mock).await, &ctx(), user("?")).await;
    assert_eq!(error, None);
    let usage = Usage {
        input_tokens: 100,
        input_tokens_details: InputTokensDetails { cached_tokens: 64 },
        output_tokens: 40,
        output_tokens_details: OutputTokensDetails { reasoning_tokens: 30 },
        total_tokens: 140,
    };
    assert_eq!(
        events,
        vec![
            ModelEvent::ReasoningDelta("Thinking".into()),
            ModelEvent::ReasoningDelta(" hard.".into()),
            ModelEvent::ReasoningEncrypted("gAAAA-state".into()),
            ModelEvent::RefusalDelta("I can't help with that.".into()),
            ModelEvent::Usage(usage),
        ]
    );
}

#[tokio::test]
async fn unknown_events_and_comments_are_ignored() {
    let mock = MockOpenAi::start(vec![MockTurn::reply(vec![
        MockChunk::event(json!({"type": "response.future_feature.delta", "delta": "x"})),
        MockChunk::raw(": keep-alive\n\n"),
        MockChunk::text("ok"),
        MockChunk::event(json!({"type": "response.output_text.annotation.added", "annotation": {}})),
        MockChunk::event(json!({"no_type": true})),
    ])])
    .await;
    let (events, error) = run(&model(&mock).await, &ctx(), user("?")).await;
    assert_eq!(error, None);
    assert_eq!(events, vec![text("ok")]);
}

fn msg(role: Role, content: Vec<ContentPart>) -> Item {
    Item::Message(MessageItem {
        id: Some("msg_ours".into()),
        role,
        content,
        status: None,
        response_id: None,
        agent_reference: None,
    })
}

fn call(call_id: &str, args: &str) -> Item {
    Item::FunctionCall(FunctionCallItem {
        id: Some(format!("fc_{call_id}")),
        call_id: call_id.into(),
        name: "lookup".into(),
        arguments: args.into(),
        status: None,
        response_id: Some("caresp_1".into()),
        agent_reference: None,
    })
}

fn output(call_id: &str, out: &str) -> Item {
    Item::FunctionCallOutput(FunctionCallOutputItem {
        id: None,
        call_id: call_id.into(),
        output: json!(out),
        status: None,
        response_id: None,
        agent_reference: None,
    })
}

/// A history with every item kind the loop can produce.
pub fn rich_history() -> ModelRequest {
    let image = json!({"type": "input_image", "image_url": "https://img.example/a.png", "detail": "low"});
    ModelRequest {
        instructions: Some("You are helpful.".into()),
        input: vec![
            msg(Role::Developer, vec![ContentPart::InputText { text: "Use metric units.".into() }]),
            msg(Role::User, vec![ContentPart::InputText { text: "Look up 1 and 2".into() }, ContentPart::Other(image)]),
            Item::Reasoning(ReasoningItem {
                id: Some("rs_1".into()),
                summary: vec![ContentPart::SummaryText { text: "Two lookups.".into() }],
                encrypted_content: Some("enc-1".into()),
                status: None,
                response_id: None,
                agent_reference: None,
            }),
            Item::Reasoning(ReasoningItem {
                id: Some("rs_2".into()),
                summary: vec![ContentPart::SummaryText { text: "no state".into() }],
                encrypted_content: None,
                status: None,
                response_id: None,
                agent_reference: None,
            }),
            msg(Role::Assistant, vec![ContentPart::output_text("Looking up.")]),
            call("call_a", r#"{"q":1}"#),
            call("call_b", r#"{"q":2}"#),
            Item::McpApprovalRequest(McpApprovalRequestItem {
                id: "mcpr_1".into(),
                server_label: "tb".into(),
                name: "lookup".into(),
                arguments: "{}".into(),
                response_id: None,
                agent_reference: None,
            }),
            output("call_b", "two"),
            output("call_a", "one"),
            output("call_zzz", "orphan"),
            Item::OAuthConsentRequest(OAuthConsentRequestItem {
                id: "oacr_1".into(),
                consent_link: "https://consent.example/x".into(),
                server_label: "mail".into(),
                response_id: None,
                agent_reference: None,
            }),
            Item::McpListTools(McpListToolsItem {
                id: "mcpl_1".into(),
                server_label: "tb".into(),
                tools: vec![],
                error: Some("boom".into()),
                response_id: None,
                agent_reference: None,
            }),
            Item::Other(json!({"type": "web_search_call", "id": "ws_1"})),
            msg(Role::Assistant, vec![ContentPart::output_text("1 is one, 2 is two.")]),
            call("call_c", "{}"),
            msg(Role::User, vec![ContentPart::InputText { text: "Thanks".into() }]),
        ],
        tools: vec![ToolSpec {
            name: "lookup".into(),
            description: "Looks things up.".into(),
            parameters: json!({"type": "object", "properties": {"q": {"type": "integer"}}}),
            server_label: Some("tb".into()),
        }],
        tool_choice: Some(json!("auto")),
        parallel_tool_calls: Some(true),
        temperature: Some(0.5),
        top_p: Some(0.25),
        max_output_tokens: Some(100),
    }
}

#[tokio::test]
async fn history_maps_to_the_exact_upstream_input() {
    let mock = MockOpenAi::start(vec![MockTurn::text(&["ok"])]).await;
    let mut config = mock.config(Provider::OpenAiResponses);
    config.include_reasoning_encrypted = true;
    config.reasoning_effort = Some("low".into());
    config.reasoning_summary = Some("auto".into());
    let model = OpenAiResponses::new(&config).unwrap();
    let (events, error) = run(&model, &ctx(), rich_history()).await;
    assert_eq!((events, error), (vec![text("ok")], None));
    let body = &mock.requests()[0].body;
    assert_eq!(
        *body,
        json!({
            "model": "mock-model",
            "instructions": "You are helpful.",
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Use metric units."}]},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "Look up 1 and 2"},
                    {"type": "input_image", "image_url": "https://img.example/a.png", "detail": "low"},
                ]},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Two lookups."}], "encrypted_content": "enc-1"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Looking up.", "annotations": []}]},
                {"type": "function_call", "call_id": "call_a", "name": "lookup", "arguments": "{\"q\":1}"},
                {"type": "function_call", "call_id": "call_b", "name": "lookup", "arguments": "{\"q\":2}"},
                {"type": "function_call_output", "call_id": "call_a", "output": "one"},
                {"type": "function_call_output", "call_id": "call_b", "output": "two"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "1 is one, 2 is two.", "annotations": []}]},
                {"type": "function_call", "call_id": "call_c", "name": "lookup", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_c", "output": agenthost_model::MISSING_OUTPUT},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Thanks"}]},
            ],
            "tools": [{
                "type": "function", "name": "lookup", "description": "Looks things up.",
                "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}},
                "strict": false,
            }],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "temperature": 0.5,
            "top_p": 0.25,
            "max_output_tokens": 100,
            "reasoning": {"effort": "low", "summary": "auto"},
            "include": ["reasoning.encrypted_content"],
            "stream": true,
            "store": false,
        })
    );
}
