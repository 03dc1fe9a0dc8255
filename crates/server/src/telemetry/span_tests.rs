//! The span tree of `POST /responses`, asserted on an in-memory exporter: a plain response, a
//! tool call through the mock toolbox proxy, list-time and call-time consent, a model error,
//! hosted (Foundry) attributes and message-content capture.

use agenthost_mock_proxy::{MockProxy, Scenario, demo_scenario};
use agenthost_model::mock::{MockOpenAi, MockTurn};
use opentelemetry::trace::{SpanKind, Status};
use serde_json::{Value, json};

use crate::test_support::{
    AppState, ServeArgs, app, attr, is_child, names, post, record_spans, settle, span, toolbox_args, vars,
};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn user(name: &'static str, n: u32) -> Vec<(&'static str, String)> {
    vec![("x-agent-user-id", name.to_string()), ("x-agent-foundry-call-id", format!("{name}:{n}"))]
}

async fn post_as(app: &AppState, body: Value, headers: &[(&'static str, String)]) -> Value {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, text) = post(app, "/responses", body, &headers).await;
    assert_eq!(status, 200, "{text}");
    settle(app).await;
    serde_json::from_str(&text).expect("JSON response")
}

const ECHO: &str = r#"
[[toolboxes]]
name = "tools"
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
  [[toolboxes.sources]]
  name = "calendar"
  auth = "consent_at_call"
    [[toolboxes.sources.tools]]
    name = "read_calendar"
"#;

#[tokio::test]
async fn a_plain_response_continues_the_callers_trace() {
    let rec = record_spans();
    let app = app(ServeArgs::default(), &vars(&[])).await;
    let (status, _) = post(&app, "/readiness", json!({}), &[]).await;
    assert_eq!(status, 405);
    let r = post_as(&app, json!({"input": "hello"}), &[("traceparent", TRACEPARENT.into())]).await;
    let spans = rec.trace("POST /responses");
    assert_eq!(sorted(names(&spans)), ["POST /responses", "chat scripted", "invoke_agent agenthost"]);

    let server = span(&spans, "POST /responses");
    assert_eq!(server.span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(server.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert_eq!(server.span_kind, SpanKind::Server);
    for (k, v) in [("http.request.method", "POST"), ("http.route", "/responses"), ("http.response.status_code", "200")]
    {
        assert_eq!(attr(server, k).as_deref(), Some(v), "{k}");
    }
    assert_eq!(attr(server, "url.scheme").as_deref(), Some("http"));

    let invoke = span(&spans, "invoke_agent agenthost");
    assert!(is_child(invoke, server));
    assert_eq!(invoke.span_kind, SpanKind::Internal);
    assert_eq!(invoke.status, Status::Unset);
    for (k, v) in [
        ("gen_ai.operation.name", "invoke_agent"),
        ("gen_ai.agent.name", "agenthost"),
        ("gen_ai.provider.name", "scripted"),
        ("gen_ai.request.model", "scripted"),
        ("gen_ai.usage.input_tokens", "1"),
        ("gen_ai.usage.output_tokens", "3"),
    ] {
        assert_eq!(attr(invoke, k).as_deref(), Some(v), "{k}");
    }
    assert_eq!(attr(invoke, "gen_ai.response.id"), r["id"].as_str().map(str::to_string));
    assert_eq!(attr(invoke, "gen_ai.agent.id"), None);
    assert_eq!(attr(invoke, "azure.ai.agentserver.responses.response_id"), None);

    let chat = span(&spans, "chat scripted");
    assert!(is_child(chat, invoke));
    assert_eq!(chat.span_kind, SpanKind::Client);
    for (k, v) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.request.model", "scripted"),
        ("gen_ai.usage.input_tokens", "1"),
        ("gen_ai.usage.output_tokens", "3"),
    ] {
        assert_eq!(attr(chat, k).as_deref(), Some(v), "{k}");
    }
    // Content is opt-in.
    assert_eq!(attr(chat, "gen_ai.input.messages"), None);
    assert_eq!(attr(chat, "gen_ai.output.messages"), None);
    // Probes are not traced.
    assert!(rec.spans().iter().all(|s| !s.name.contains("readiness")), "{:?}", names(&rec.spans()));
}

#[tokio::test]
async fn a_tool_call_traces_execute_tool_and_the_mcp_call_and_propagates_it() {
    let rec = record_spans();
    let proxy = MockProxy::start(Scenario::from_toml_str(ECHO).expect("scenario")).await.expect("proxy");
    let app = app(toolbox_args(&proxy.base_url(), "tools"), &vars(&[])).await;
    proxy.clear_requests();
    let r = post_as(&app, json!({"input": "call:echo {\"text\":\"hi\"}"}), &user("alice", 1)).await;
    assert_eq!(r["status"], "completed", "{r}");
    let spans = rec.trace("POST /responses");
    assert_eq!(
        sorted(names(&spans)),
        [
            "POST /responses",
            "chat scripted",
            "chat scripted",
            "execute_tool echo",
            "invoke_agent agenthost",
            "tools/call echo"
        ]
    );
    let invoke = span(&spans, "invoke_agent agenthost");
    let tool = span(&spans, "execute_tool echo");
    assert!(is_child(tool, invoke));
    assert_eq!(tool.span_kind, SpanKind::Internal);
    assert_eq!(attr(tool, "gen_ai.tool.call.id"), r["output"][0]["call_id"].as_str().map(str::to_string));
    for (k, v) in
        [("gen_ai.operation.name", "execute_tool"), ("gen_ai.tool.name", "echo"), ("gen_ai.tool.type", "function")]
    {
        assert_eq!(attr(tool, k).as_deref(), Some(v), "{k}");
    }
    assert_eq!(attr(tool, "gen_ai.tool.call.arguments"), None);

    let mcp = span(&spans, "tools/call echo");
    assert!(is_child(mcp, tool));
    assert_eq!((mcp.span_kind.clone(), mcp.status.clone()), (SpanKind::Client, Status::Unset));
    let port = proxy.addr().port().to_string();
    for (k, v) in [
        ("mcp.method.name", "tools/call"),
        ("gen_ai.tool.name", "echo"),
        ("gen_ai.operation.name", "execute_tool"),
        ("mcp.protocol.version", "2025-06-18"),
        ("network.transport", "tcp"),
        ("server.address", "127.0.0.1"),
        ("server.port", port.as_str()),
    ] {
        assert_eq!(attr(mcp, k).as_deref(), Some(v), "{k}");
    }
    assert!(attr(mcp, "mcp.session.id").is_some_and(|s| !s.is_empty()));
    assert!(attr(mcp, "jsonrpc.request.id").is_some());
    assert_eq!(attr(mcp, "error.type"), None);

    // The proxy saw the MCP span's context, not the inbound one.
    let call = proxy.requests().into_iter().find(|r| r.tool.as_deref() == Some("echo")).expect("tools/call");
    let expected = format!("00-{}-{}-01", mcp.span_context.trace_id(), mcp.span_context.span_id());
    assert_eq!(call.header("traceparent"), Some(expected.as_str()));
    proxy.shutdown().await;
}

#[tokio::test]
async fn list_time_consent_is_an_mcp_error_but_not_an_agent_error() {
    let rec = record_spans();
    let proxy = MockProxy::start(demo_scenario()).await.expect("proxy");
    let app = app(toolbox_args(&proxy.base_url(), "demo"), &vars(&[])).await;
    proxy.clear_requests();
    let r = post_as(&app, json!({"input": "call:send_email {}"}), &user("alice", 1)).await;
    assert_eq!(r["status"], "incomplete", "{r}");
    let spans = rec.trace("POST /responses");
    assert_eq!(sorted(names(&spans)), ["POST /responses", "invoke_agent agenthost", "tools/list"]);
    let invoke = span(&spans, "invoke_agent agenthost");
    assert_eq!((invoke.status.clone(), attr(invoke, "error.type")), (Status::Unset, None));
    let list = span(&spans, "tools/list");
    assert!(is_child(list, invoke));
    assert_eq!(attr(list, "error.type").as_deref(), Some("consent_required"));
    assert_eq!(attr(list, "mcp.method.name").as_deref(), Some("tools/list"));
    assert!(matches!(list.status, Status::Error { .. }));
    let listed = proxy.requests().into_iter().find(|r| r.user == "alice").expect("alice's listing");
    let expected = format!("00-{}-{}-01", list.span_context.trace_id(), list.span_context.span_id());
    assert_eq!(listed.header("traceparent"), Some(expected.as_str()));
    proxy.shutdown().await;
}

#[tokio::test]
async fn call_time_consent_marks_the_tool_call_only() {
    let rec = record_spans();
    let proxy = MockProxy::start(Scenario::from_toml_str(ECHO).expect("scenario")).await.expect("proxy");
    let app = app(toolbox_args(&proxy.base_url(), "tools"), &vars(&[])).await;
    let r = post_as(&app, json!({"input": "call:read_calendar"}), &user("bob", 1)).await;
    assert_eq!(r["status"], "incomplete", "{r}");
    let spans = rec.trace("POST /responses");
    let invoke = span(&spans, "invoke_agent agenthost");
    assert_eq!((invoke.status.clone(), attr(invoke, "error.type")), (Status::Unset, None));
    let tool = span(&spans, "execute_tool read_calendar");
    let mcp = span(&spans, "tools/call read_calendar");
    assert!(is_child(mcp, tool) && is_child(tool, invoke));
    for s in [tool, mcp] {
        assert_eq!(attr(s, "error.type").as_deref(), Some("consent_required"), "{}", s.name);
        assert!(matches!(s.status, Status::Error { .. }), "{}", s.name);
    }
    assert!(attr(mcp, "rpc.response.status_code").is_some());
    proxy.shutdown().await;
}

fn model_args(mock: &MockOpenAi) -> ServeArgs {
    ServeArgs {
        model_provider: Some("openai".into()),
        model_base_url: Some(mock.base_url()),
        model: Some("gpt-test".into()),
        model_max_retries: Some("0".into()),
        ..ServeArgs::default()
    }
}

#[tokio::test]
async fn a_model_error_fails_chat_and_invoke_agent() {
    let rec = record_spans();
    let mock = MockOpenAi::start(vec![
        MockTurn::text(&["Hi", " there"]),
        MockTurn::error(400, json!({"error": {"message": "bad input", "type": "invalid_request_error"}})),
    ])
    .await;
    let app = app(model_args(&mock), &vars(&[("OPENAI_API_KEY", "sk-test")])).await;

    let ok = post_as(&app, json!({"input": "hello"}), &[]).await;
    assert_eq!(ok["status"], "completed", "{ok}");
    let spans = rec.trace("POST /responses");
    let chat = span(&spans, "chat gpt-test");
    for (k, v) in
        [("gen_ai.provider.name", "openai"), ("gen_ai.request.model", "gpt-test"), ("server.address", "127.0.0.1")]
    {
        assert_eq!(attr(chat, k).as_deref(), Some(v), "{k}");
    }
    assert_eq!(attr(chat, "gen_ai.response.finish_reasons").as_deref(), Some(r#"["stop"]"#));
    assert!(attr(chat, "gen_ai.response.id").is_some_and(|id| id.starts_with("resp_mock")));
    let sent = mock.requests().pop().expect("model request");
    let expected = format!("00-{}-{}-01", chat.span_context.trace_id(), chat.span_context.span_id());
    assert_eq!(sent.header("traceparent"), Some(expected.as_str()));

    let failed = post_as(&app, json!({"input": "again"}), &[]).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let code = failed["error"]["code"].as_str().expect("error code").to_string();
    let all = rec.spans();
    let invoke = all
        .iter()
        .find(|s| attr(s, "gen_ai.response.id").as_deref() == failed["id"].as_str())
        .expect("failed run's invoke_agent");
    let chat = all.iter().find(|s| is_child(s, invoke)).expect("its chat span");
    for s in [invoke, chat] {
        assert_eq!(attr(s, "error.type"), Some(code.clone()), "{}", s.name);
        assert!(matches!(s.status, Status::Error { .. }), "{}", s.name);
    }
}

#[tokio::test]
async fn hosted_runs_carry_foundry_attributes_baggage_and_content_when_enabled() {
    let rec = record_spans();
    let proxy = MockProxy::start(Scenario::from_toml_str(ECHO).expect("scenario")).await.expect("proxy");
    let env = vars(&[
        ("FOUNDRY_HOSTING_ENVIRONMENT", "1"),
        ("FOUNDRY_AGENT_NAME", "helper"),
        ("FOUNDRY_AGENT_VERSION", "7"),
        ("FOUNDRY_PROJECT_ARM_ID", "/subscriptions/s/projects/p"),
        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true"),
    ]);
    // Hosted, the store would default to the project's storage; these spans are about the run.
    let args = ServeArgs { store: Some("memory".into()), ..toolbox_args(&proxy.base_url(), "tools") };
    let app = app(args, &env).await;
    proxy.clear_requests();
    let r = post_as(&app, json!({"input": "call:echo {\"text\":\"hi\"}", "conversation": "conv_1"}), &user("carol", 1))
        .await;
    let spans = rec.trace("POST /responses");
    let invoke = span(&spans, "invoke_agent helper");
    let id = r["id"].as_str().expect("id");
    for (k, v) in [
        ("gen_ai.provider.name", "AzureAI Hosted Agents"),
        ("gen_ai.agent.id", "helper:7"),
        ("gen_ai.agent.version", "7"),
        ("gen_ai.conversation.id", "conv_1"),
        ("microsoft.foundry.project.id", "/subscriptions/s/projects/p"),
        ("azure.ai.agentserver.responses.response_id", id),
        ("azure.ai.agentserver.responses.conversation_id", "conv_1"),
        ("azure.ai.agentserver.responses.streaming", "false"),
    ] {
        assert_eq!(attr(invoke, k).as_deref(), Some(v), "{k}");
    }
    let call = proxy.requests().into_iter().find(|r| r.tool.as_deref() == Some("echo")).expect("tools/call");
    let baggage = call.header("baggage").unwrap_or_default();
    assert!(baggage.contains(&format!("azure.ai.agentserver.response_id={id}")), "{baggage}");
    assert!(baggage.contains("azure.ai.agentserver.streaming=False"), "{baggage}");

    let chat = spans.iter().find(|s| s.name == "chat scripted").expect("chat");
    assert!(attr(chat, "gen_ai.input.messages").is_some_and(|m| m.contains("call:echo")));
    let tool = span(&spans, "execute_tool echo");
    assert_eq!(attr(tool, "gen_ai.tool.call.arguments").as_deref(), Some(r#"{"text":"hi"}"#));
    assert_eq!(attr(tool, "gen_ai.tool.call.result").as_deref(), Some("echo: hi"));
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_streamed_response_keeps_its_server_span_open_until_the_stream_ends() {
    let rec = record_spans();
    let app = app(ServeArgs::default(), &vars(&[])).await;
    let (status, body) = post(&app, "/responses", json!({"input": "hello", "stream": true}), &[]).await;
    assert!(status == 200 && body.contains("event: response.completed"), "{body}");
    settle(&app).await;
    let spans = rec.trace("POST /responses");
    let server = span(&spans, "POST /responses");
    let invoke = span(&spans, "invoke_agent agenthost");
    assert!(is_child(invoke, server));
    assert_eq!(attr(server, "http.response.status_code").as_deref(), Some("200"));
    assert!(server.end_time >= invoke.end_time, "the server span ended before the stream");
}
