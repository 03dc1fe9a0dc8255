//! The backends inside the real agent loop: a tool call, its output fed back, the answer.

use std::sync::Arc;

use agenthost_agent::{
    ModelRequest, Preflight, RequestContext, ToolCall, ToolOutcome, ToolSet, ToolSpec, Turn, TurnEnd, run_turn,
};
use agenthost_model::mock::{MockChunk, MockOpenAi, MockTurn};
use agenthost_model::{Provider, build};
use agenthost_responses::{Item, Response, ResponseStatus, ResponseWriter, StreamEvent};
use serde_json::{Value, json};

struct Weather;

#[async_trait::async_trait]
impl ToolSet for Weather {
    fn specs(&self) -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "get_weather".into(),
            description: "Weather for a city.".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            server_label: None,
        }]
    }

    async fn invoke(&self, _ctx: &RequestContext, call: &ToolCall) -> ToolOutcome {
        ToolOutcome::Output(format!("sunny in {}", call.arguments))
    }
}

#[tokio::test]
async fn tool_call_round_trip_through_the_loop() {
    for provider in [Provider::OpenAiResponses, Provider::OpenAiChat] {
        let mut first = vec![MockChunk::text("Checking.")];
        first.extend(MockChunk::function_call("call_w", "get_weather", &["{\"city\":", "\"Paris\"}"]));
        first.push(MockChunk::usage(10, 5));
        let mock = MockOpenAi::start(vec![
            MockTurn::reply(first),
            MockTurn::reply(vec![MockChunk::text("It is sunny."), MockChunk::usage(20, 4)]),
        ])
        .await;

        let mut writer = ResponseWriter::new(Response::new("caresp_loop".into(), "agent".into(), 0));
        let mut events: Vec<StreamEvent> = Vec::new();
        writer.created(&mut events);
        let turn = Turn {
            ctx: RequestContext::local("caresp_loop"),
            model: build(mock.config(provider)).unwrap(),
            tools: Arc::new(Weather),
            preflight: Preflight::default(),
            approvals: Vec::new(),
            request: ModelRequest { input: vec![Item::user_text("Weather in Paris?")], ..Default::default() },
            max_iterations: 4,
        };
        assert_eq!(run_turn(turn, &mut writer, &mut events).await, TurnEnd::Finished);
        let response = writer.into_response();
        assert_eq!(response.status, ResponseStatus::Completed, "{provider}");
        let usage = response.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (30, 9));

        let second = &mock.requests()[1].body;
        let fed_back: Value = match provider {
            Provider::OpenAiResponses => json!([
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
                {"type": "function_call", "call_id": "call_w", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_w", "output": "sunny in {\"city\":\"Paris\"}"},
            ]),
            Provider::OpenAiChat => json!([
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_w", "content": "sunny in {\"city\":\"Paris\"}"},
            ]),
        };
        let key = if provider == Provider::OpenAiChat { "messages" } else { "input" };
        assert_eq!(second[key], fed_back, "{provider}");
    }
}
