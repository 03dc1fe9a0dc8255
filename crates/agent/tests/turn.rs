//! The agent loop against the scripted model and fake tools: exact event sequences.

use std::sync::Arc;

use agenthost_agent::{
    ConsentRequest, ModelRequest, NoTools, Preflight, RequestContext, ScriptedModel, ToolCall, ToolOutcome, ToolSet,
    ToolSpec, Turn, TurnEnd, run_turn,
};
use agenthost_responses::event::EventKind;
use agenthost_responses::{Item, Response, ResponseStatus, ResponseWriter, StreamEvent, id};
use serde_json::json;

struct FakeTools;

#[async_trait::async_trait]
impl ToolSet for FakeTools {
    fn specs(&self) -> Vec<ToolSpec> {
        ["echo", "send_email", "slow"]
            .into_iter()
            .map(|n| ToolSpec { name: n.into(), description: String::new(), parameters: json!({}), server_label: None })
            .collect()
    }

    async fn invoke(&self, _ctx: &RequestContext, call: &ToolCall) -> ToolOutcome {
        match call.name.as_str() {
            "echo" => ToolOutcome::Output(format!("echo {}", call.arguments)),
            "send_email" => ToolOutcome::ConsentRequired(vec![ConsentRequest {
                server_label: "send_email".into(),
                consent_link: "https://consent.example/x".into(),
            }]),
            _ => {
                tokio::task::yield_now().await;
                ToolOutcome::Output("slow done".into())
            }
        }
    }
}

async fn run(text: &str, tools: Arc<dyn ToolSet>, preflight: Preflight) -> (Vec<StreamEvent>, Response, TurnEnd) {
    let rid = id::new_id(id::RESPONSE, None);
    let mut writer = ResponseWriter::new(Response::new(rid.clone(), "m".into(), 0));
    let mut events: Vec<StreamEvent> = Vec::new();
    writer.created(&mut events);
    writer.in_progress(&mut events);
    let turn = Turn {
        ctx: RequestContext::local(rid),
        model: Arc::new(ScriptedModel::default()),
        tools,
        preflight,
        approvals: Vec::new(),
        request: ModelRequest { input: vec![Item::user_text(text)], ..Default::default() },
        max_iterations: 4,
    };
    let end = run_turn(turn, &mut writer, &mut events).await;
    (events, writer.into_response(), end)
}

fn types(events: &[StreamEvent]) -> Vec<&'static str> {
    events.iter().map(StreamEvent::event_type).collect()
}

#[tokio::test]
async fn tool_call_then_answer() {
    let (events, response, end) = run(r#"call:echo {"text":"hi"}"#, Arc::new(FakeTools), Preflight::default()).await;
    assert_eq!(end, TurnEnd::Finished);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(response.status, ResponseStatus::Completed);
    let Item::Message(m) = &response.output[2] else { panic!("{:?}", response.output[2]) };
    assert_eq!(m.text(), r#"echo returned: echo {"text":"hi"}"#);
    let usage = response.usage.unwrap();
    // step 1: input 2 words, output 1 + 1; step 2: input 2 + 2 + 2, output 4.
    assert_eq!((usage.input_tokens, usage.output_tokens), (8, 6));
}

#[tokio::test]
async fn unknown_tool_comes_back_as_an_error_output() {
    let (_, response, _) = run("call:nope", Arc::new(NoTools), Preflight::default()).await;
    let Item::FunctionCallOutput(o) = &response.output[1] else { panic!() };
    assert_eq!(o.output, json!("Error: tool 'nope' is not available to this agent"));
    let Item::Message(m) = &response.output[2] else { panic!() };
    assert_eq!(m.text(), "nope returned: Error: tool 'nope' is not available to this agent");
}

#[tokio::test]
async fn consent_mid_turn_settles_siblings_and_ends_incomplete() {
    let (events, response, _) =
        run("call:slow call:send_email call:send_email", Arc::new(FakeTools), Preflight::default()).await;
    assert_eq!(response.status, ResponseStatus::Incomplete);
    assert_eq!(response.incomplete_details, None);
    let kinds: Vec<&str> = response.output.iter().map(Item::type_name).collect();
    assert_eq!(
        kinds,
        [
            "function_call",
            "function_call",
            "function_call",
            "function_call_output",
            "function_call_output",
            "function_call_output",
            "oauth_consent_request"
        ]
    );
    let Item::FunctionCallOutput(o) = &response.output[3] else { panic!() };
    assert_eq!(o.output, json!("slow done"));
    let added = events.iter().filter(|e| matches!(e.kind, EventKind::OutputItemAdded { .. })).count();
    let done = events.iter().filter(|e| matches!(e.kind, EventKind::OutputItemDone { .. })).count();
    assert_eq!((added, done), (7, 7));
    assert_eq!(events.last().map(StreamEvent::event_type), Some("response.incomplete"));
}

#[tokio::test]
async fn preflight_consent_stops_before_the_model() {
    let preflight = Preflight {
        consents: vec![
            ConsentRequest { server_label: "a".into(), consent_link: "https://c/1".into() },
            ConsentRequest { server_label: "a".into(), consent_link: "https://c/1".into() },
            ConsentRequest { server_label: "b".into(), consent_link: "https://c/2".into() },
        ],
        list_errors: vec![("broken".into(), "INTERNAL_ERROR: boom".into())],
    };
    let (events, response, _) = run("hello", Arc::new(FakeTools), preflight).await;
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.output_item.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.incomplete"
        ]
    );
    let kinds: Vec<&str> = response.output.iter().map(Item::type_name).collect();
    assert_eq!(kinds, ["mcp_list_tools", "oauth_consent_request", "oauth_consent_request"]);
    assert!(response.usage.is_none());
}

#[tokio::test]
async fn cancelled_turn_is_interrupted_without_terminal_event() {
    let rid = id::new_id(id::RESPONSE, None);
    let mut writer = ResponseWriter::new(Response::new(rid.clone(), "m".into(), 0));
    let mut events: Vec<StreamEvent> = Vec::new();
    let ctx = RequestContext::local(rid);
    ctx.cancel.cancel();
    let turn = Turn {
        ctx,
        model: Arc::new(ScriptedModel::default()),
        tools: Arc::new(NoTools),
        preflight: Preflight::default(),
        approvals: Vec::new(),
        request: ModelRequest { input: vec![Item::user_text("hi")], ..Default::default() },
        max_iterations: 4,
    };
    assert_eq!(run_turn(turn, &mut writer, &mut events).await, TurnEnd::Interrupted);
    assert!(events.iter().all(|e| !e.is_terminal()));
}

#[tokio::test]
async fn iteration_limit_fails_with_a_stable_code() {
    struct Loopy;
    #[async_trait::async_trait]
    impl agenthost_agent::Model for Loopy {
        fn provider(&self) -> &str {
            "loopy"
        }
        async fn stream(
            &self,
            _ctx: &RequestContext,
            _r: ModelRequest,
        ) -> Result<agenthost_agent::ModelStream, agenthost_agent::ModelError> {
            use agenthost_agent::ModelEvent::*;
            Ok(Box::pin(futures::stream::iter(vec![
                Ok(FunctionCallStart { call_id: "c".into(), name: "echo".into() }),
                Ok(FunctionCallDone { call_id: "c".into(), arguments: "{}".into() }),
            ])))
        }
    }
    let rid = id::new_id(id::RESPONSE, None);
    let mut writer = ResponseWriter::new(Response::new(rid.clone(), "m".into(), 0));
    let mut events: Vec<StreamEvent> = Vec::new();
    let turn = Turn {
        ctx: RequestContext::local(rid),
        model: Arc::new(Loopy),
        tools: Arc::new(FakeTools),
        preflight: Preflight::default(),
        approvals: Vec::new(),
        request: ModelRequest::default(),
        max_iterations: 2,
    };
    run_turn(turn, &mut writer, &mut events).await;
    let r = writer.into_response();
    assert_eq!(r.status, ResponseStatus::Failed);
    assert_eq!(r.error.unwrap().code, "max_iterations_exceeded");
    assert_eq!(r.output.len(), 4);
}

struct GatedTools;

#[async_trait::async_trait]
impl ToolSet for GatedTools {
    fn specs(&self) -> Vec<ToolSpec> {
        ["danger", "echo"]
            .into_iter()
            .map(|n| ToolSpec {
                name: n.into(),
                description: String::new(),
                parameters: json!({}),
                server_label: Some("box".into()),
            })
            .collect()
    }

    async fn invoke(&self, _ctx: &RequestContext, call: &ToolCall) -> ToolOutcome {
        ToolOutcome::Output(format!("{} ran", call.name))
    }

    fn approval_label(&self, call: &ToolCall) -> Option<String> {
        (call.name == "danger").then(|| "box".to_string())
    }
}

async fn run_with_approvals(input: Vec<Item>, approvals: Vec<agenthost_agent::Approval>) -> Response {
    let rid = id::new_id(id::RESPONSE, None);
    let mut writer = ResponseWriter::new(Response::new(rid.clone(), "m".into(), 0));
    let mut events: Vec<StreamEvent> = Vec::new();
    let turn = Turn {
        ctx: RequestContext::local(rid),
        model: Arc::new(ScriptedModel::default()),
        tools: Arc::new(GatedTools),
        preflight: Preflight::default(),
        approvals,
        request: ModelRequest { input, ..Default::default() },
        max_iterations: 4,
    };
    run_turn(turn, &mut writer, &mut events).await;
    writer.into_response()
}

#[tokio::test]
async fn gated_calls_wait_for_approval_and_run_once_approved() {
    let first = run_with_approvals(vec![Item::user_text("call:echo call:danger {\"x\":1}")], vec![]).await;
    assert_eq!(first.status, ResponseStatus::Completed);
    let kinds: Vec<&str> = first.output.iter().map(Item::type_name).collect();
    assert_eq!(kinds, ["function_call", "function_call", "function_call_output", "mcp_approval_request"]);
    let Item::McpApprovalRequest(req) = &first.output[3] else { panic!() };
    assert_eq!((req.server_label.as_str(), req.name.as_str(), req.arguments.as_str()), ("box", "danger", "{\"x\":1}"));
    assert!(req.id.starts_with("mcpr_"));
    let Item::FunctionCall(call) = &first.output[1] else { panic!() };

    let mut history = vec![Item::user_text("call:echo call:danger {\"x\":1}")];
    history.extend(first.output.iter().cloned());
    let approval = |approve: bool| agenthost_agent::Approval {
        call: ToolCall { call_id: call.call_id.clone(), name: call.name.clone(), arguments: call.arguments.clone() },
        mcp_server: None,
        approve,
        reason: (!approve).then(|| "not today".to_string()),
    };
    let approved = run_with_approvals(history.clone(), vec![approval(true)]).await;
    let kinds: Vec<&str> = approved.output.iter().map(Item::type_name).collect();
    assert_eq!(kinds, ["function_call_output", "message"]);
    let Item::Message(m) = &approved.output[1] else { panic!() };
    assert_eq!(m.text(), "echo returned: echo ran\ndanger returned: danger ran");

    let denied = run_with_approvals(history, vec![approval(false)]).await;
    let Item::FunctionCallOutput(o) = &denied.output[0] else { panic!() };
    assert_eq!(o.output, json!("Error: the user denied this tool call: not today"));
}

/// A request `mcp` server `calc` with `add` (free) and `rm` (approval-gated), combined with the
/// function tools.
struct McpTools;

#[async_trait::async_trait]
impl ToolSet for McpTools {
    fn specs(&self) -> Vec<ToolSpec> {
        ["add", "rm", "boom"]
            .into_iter()
            .map(|n| ToolSpec {
                name: n.into(),
                description: String::new(),
                parameters: json!({}),
                server_label: Some("calc".into()),
            })
            .collect()
    }

    async fn invoke(&self, _ctx: &RequestContext, call: &ToolCall) -> ToolOutcome {
        match call.name.as_str() {
            "add" => ToolOutcome::Output("5".into()),
            "rm" => ToolOutcome::Output("removed".into()),
            _ => ToolOutcome::Error("division by zero".into()),
        }
    }

    fn approval_label(&self, call: &ToolCall) -> Option<String> {
        (call.name == "rm").then(|| "calc".to_string())
    }

    fn mcp_target(&self, name: &str) -> Option<agenthost_agent::McpTarget> {
        ["add", "rm", "boom"]
            .contains(&name)
            .then(|| agenthost_agent::McpTarget { server_label: "calc".into(), tool: format!("{name}_tool") })
    }

    fn mcp_name(&self, server_label: &str, tool: &str) -> Option<String> {
        (server_label == "calc").then(|| tool.trim_end_matches("_tool").to_string())
    }
}

#[tokio::test]
async fn mcp_calls_are_mcp_call_items_with_their_event_order() {
    let tools: Arc<dyn ToolSet> =
        Arc::new(agenthost_agent::Combined::new(vec![Arc::new(FakeTools), Arc::new(McpTools)]));
    let (events, response, _) = run(r#"call:add {"a":2,"b":3} call:boom call:echo"#, tools, Preflight::default()).await;
    let names = types(&events);
    assert_eq!(
        &names[..16],
        [
            "response.created",
            "response.in_progress",
            // The function call streams as the model writes it; the mcp calls open when they run.
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.mcp_call.in_progress",
            "response.mcp_call_arguments.delta",
            "response.mcp_call_arguments.done",
            "response.output_item.added",
            "response.mcp_call.in_progress",
            "response.mcp_call_arguments.delta",
            "response.mcp_call_arguments.done",
            "response.mcp_call.completed",
            "response.output_item.done",
        ]
    );
    assert_eq!(
        &names[16..20],
        [
            "response.mcp_call.failed",
            "response.output_item.done",
            "response.output_item.added",
            "response.output_item.done"
        ]
    );
    let kinds: Vec<&str> = response.output.iter().map(Item::type_name).collect();
    assert_eq!(kinds, ["function_call", "mcp_call", "mcp_call", "function_call_output", "message"]);
    let Item::McpCall(add) = &response.output[1] else { panic!() };
    assert_eq!(
        (add.server_label.as_str(), add.name.as_str(), add.arguments.as_str()),
        ("calc", "add_tool", r#"{"a":2,"b":3}"#)
    );
    assert_eq!((add.output.as_deref(), add.error.as_deref()), (Some("5"), None));
    assert_eq!(add.status, Some(agenthost_responses::item::ItemStatus::Completed));
    assert!(add.id.starts_with("mcp_"));
    let Item::McpCall(boom) = &response.output[2] else { panic!() };
    assert_eq!((boom.output.as_deref(), boom.error.as_deref()), (None, Some("division by zero")));
    assert_eq!(boom.status, Some(agenthost_responses::item::ItemStatus::Failed));
    // The model saw every result, by the names it called.
    let Item::Message(m) = &response.output[4] else { panic!() };
    assert_eq!(m.text(), "echo returned: echo {}\nadd returned: 5\nboom returned: Error: division by zero");
    // The item's events carry its id and index.
    let EventKind::McpCallCompleted { item_id, output_index } = &events[14].kind else { panic!() };
    assert_eq!((item_id.as_str(), *output_index), (add.id.as_str(), 1));
}

#[tokio::test]
async fn gated_mcp_calls_become_approval_requests_and_run_once_approved() {
    let (_, first, _) = run(r#"call:rm {"path":"a"}"#, Arc::new(McpTools), Preflight::default()).await;
    let kinds: Vec<&str> = first.output.iter().map(Item::type_name).collect();
    assert_eq!(kinds, ["mcp_approval_request"]);
    let Item::McpApprovalRequest(req) = &first.output[0] else { panic!() };
    assert_eq!(
        (req.server_label.as_str(), req.name.as_str(), req.arguments.as_str()),
        ("calc", "rm_tool", r#"{"path":"a"}"#)
    );

    let mut history = vec![Item::user_text(r#"call:rm {"path":"a"}"#)];
    history.extend(first.output.iter().cloned());
    let answer = |approve: bool| {
        Item::McpApprovalResponse(agenthost_responses::item::McpApprovalResponseItem {
            id: None,
            approval_request_id: req.id.clone(),
            approve,
            reason: (!approve).then(|| "no".to_string()),
        })
    };
    let approvals = agenthost_agent::approvals_from(&history, &[answer(true)]).unwrap();
    assert_eq!(approvals[0].mcp_server.as_deref(), Some("calc"));
    let mut input = history.clone();
    input.push(answer(true));
    let approved = run_mcp_approvals(input, approvals).await;
    let kinds: Vec<&str> = approved.output.iter().map(Item::type_name).collect();
    assert_eq!(kinds, ["mcp_call", "message"]);
    let Item::McpCall(call) = &approved.output[0] else { panic!() };
    assert_eq!((call.name.as_str(), call.output.as_deref()), ("rm_tool", Some("removed")));
    assert_eq!(call.approval_request_id.as_deref(), Some(req.id.as_str()));
    let Item::Message(m) = &approved.output[1] else { panic!() };
    assert_eq!(m.text(), "rm returned: removed");

    // Answered once, the request cannot be answered again.
    let mut later = history.clone();
    later.extend(approved.output.iter().cloned());
    assert!(agenthost_agent::approvals_from(&later, &[answer(true)]).is_err());

    let denials = agenthost_agent::approvals_from(&history, &[answer(false)]).unwrap();
    let denied = run_mcp_approvals(history, denials).await;
    let kinds: Vec<&str> = denied.output.iter().map(Item::type_name).collect();
    assert_eq!(kinds, ["message"]);
    let Item::Message(m) = &denied.output[0] else { panic!() };
    assert_eq!(m.text(), "rm returned: Error: the user denied this tool call: no");
}

async fn run_mcp_approvals(input: Vec<Item>, approvals: Vec<agenthost_agent::Approval>) -> Response {
    let rid = id::new_id(id::RESPONSE, None);
    let mut writer = ResponseWriter::new(Response::new(rid.clone(), "m".into(), 0));
    let mut events: Vec<StreamEvent> = Vec::new();
    let turn = Turn {
        ctx: RequestContext::local(rid),
        model: Arc::new(ScriptedModel::default()),
        tools: Arc::new(McpTools),
        preflight: Preflight::default(),
        approvals,
        request: ModelRequest { input, ..Default::default() },
        max_iterations: 4,
    };
    run_turn(turn, &mut writer, &mut events).await;
    writer.into_response()
}
