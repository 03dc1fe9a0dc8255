//! Tool calls: results, call-time consent, token expiry, cancellation, deadlines, approvals and
//! model-facing names.

use std::time::Duration;

use agenthost_agent::ToolOutcome;
use agenthost_mock_proxy::{Auth, FaultSpec, Mode, Scenario, SourceSpec, ToolSpec, ToolboxSpec};
use agenthost_toolbox::{ApprovalPolicy, ToolboxState};

use crate::support::{Setup, call, ctx, eventually, names, only, within};

/// `tb`: echo, a failing tool, and `read_calendar` needing consent at call time.
fn callable(mode: Mode, faults: Vec<FaultSpec>) -> Scenario {
    let mut tb = ToolboxSpec::new("tb")
        .source(
            SourceSpec::new("echo", Auth::None)
                .tool(ToolSpec::echo("echo"))
                .tool(ToolSpec::error("fail", "mailbox full")),
        )
        .source(
            SourceSpec::new("calendar", Auth::ConsentAtCall).tool(ToolSpec::fixed("read_calendar", "nothing today")),
        )
        .source(SourceSpec::new("send_email", Auth::ConsentAtCall).tool(ToolSpec::fixed("send.email", "sent")));
    tb.faults = faults;
    Scenario::new(mode).toolbox(tb)
}

#[tokio::test]
async fn results_errors_and_arguments() {
    let setup = Setup::started(callable(Mode::Session, vec![]), |s, _| s.toolboxes = vec!["tb".into()]).await;
    assert_eq!(setup.state("tb"), ToolboxState::Healthy);
    let alice = ctx("alice");
    let (tools, _) = setup.resolve(&alice).await;
    assert_eq!(names(&tools), ["echo", "fail", "read_calendar", "send_email"]);
    let echo = tools.specs().into_iter().find(|s| s.name == "echo").expect("echo");
    assert_eq!(echo.server_label.as_deref(), Some("tb"));
    assert_eq!(echo.parameters, serde_json::json!({"type": "object"}));

    assert_eq!(
        within(tools.invoke(&alice, &call("echo", r#"{"text":"hello"}"#))).await,
        ToolOutcome::Output("echo: hello".into())
    );
    assert_eq!(within(tools.invoke(&alice, &call("fail", "{}"))).await, ToolOutcome::Error("mailbox full".into()));
    // Bad arguments never reach the proxy.
    let before = setup.calls();
    assert!(matches!(within(tools.invoke(&alice, &call("echo", "[1,2]"))).await, ToolOutcome::Error(_)));
    assert!(matches!(within(tools.invoke(&alice, &call("echo", "{oops"))).await, ToolOutcome::Error(_)));
    assert!(matches!(within(tools.invoke(&alice, &call("nope", "{}"))).await, ToolOutcome::Error(_)));
    assert_eq!(setup.calls(), before);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn call_time_consent_is_surfaced_and_per_user() {
    let setup = Setup::started(callable(Mode::Stateless, vec![]), |s, _| s.toolboxes = vec!["tb".into()]).await;
    let alice = ctx("alice");
    let (tools, preflight) = setup.resolve(&alice).await;
    assert!(preflight.consents.is_empty());
    // The model-facing `send_email` is sent to the proxy by its original name.
    match within(tools.invoke(&alice, &call("send_email", "{}"))).await {
        ToolOutcome::ConsentRequired(consents) => {
            assert_eq!(consents.len(), 1);
            assert_eq!(consents[0].server_label, "send_email");
            assert!(consents[0].consent_link.contains("user=alice"), "{}", consents[0].consent_link);
        }
        other => panic!("expected consent, got {other:?}"),
    }
    assert!(setup.proxy.requests().iter().any(|r| r.tool.as_deref() == Some("send.email")));
    setup.proxy.grant("alice", "calendar");
    assert_eq!(
        within(tools.invoke(&alice, &call("read_calendar", ""))).await,
        ToolOutcome::Output("nothing today".into())
    );
    // bob has not consented.
    let bob = ctx("bob");
    let (tools, _) = setup.resolve(&bob).await;
    assert!(matches!(
        within(tools.invoke(&bob, &call("read_calendar", ""))).await,
        ToolOutcome::ConsentRequired(ref c) if c[0].consent_link.contains("user=bob")
    ));
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn call_time_consent_with_a_bad_link_is_an_error() {
    let scenario = Scenario::new(Mode::Stateless).toolbox(
        ToolboxSpec::new("tb").source(
            SourceSpec::new("calendar", Auth::ConsentAtCall)
                .with_consent_link_override("http://evil.example/consent")
                .tool(ToolSpec::fixed("read_calendar", "x")),
        ),
    );
    let setup = Setup::started(scenario, |s, _| s.toolboxes = vec!["tb".into()]).await;
    let alice = ctx("alice");
    let (tools, _) = setup.resolve(&alice).await;
    match within(tools.invoke(&alice, &call("read_calendar", ""))).await {
        ToolOutcome::Error(message) => assert!(!message.contains("evil"), "{message}"),
        other => panic!("expected an error, got {other:?}"),
    }
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn unauthorized_call_relists_and_asks_for_consent_again() {
    // echo + a list-time consent source; alice has consented and has her own tool list.
    let fault = FaultSpec {
        user: Some("alice".into()),
        methods: only(&["tools/call"]),
        http_statuses: vec![401],
        ..FaultSpec::default()
    };
    let mut tb = ToolboxSpec::new("tb")
        .source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo")))
        .source(SourceSpec::new("send_email", Auth::Consent).tool(ToolSpec::fixed("send_email", "sent")));
    tb.faults = vec![fault];
    let setup = Setup::started(Scenario::new(Mode::Session).toolbox(tb), |s, _| s.toolboxes = vec!["tb".into()]).await;
    setup.proxy.grant("alice", "send_email");
    let alice = ctx("alice");
    let (tools, _) = setup.resolve(&alice).await;
    assert_eq!(names(&tools), ["echo", "send_email"]);
    assert_eq!(setup.lists_by("alice"), 1);
    // Her consent is withdrawn; the proxy answers her next call with 401.
    setup.proxy.revoke("alice", None);
    match within(tools.invoke(&alice, &call("echo", "{}"))).await {
        ToolOutcome::ConsentRequired(consents) => {
            assert_eq!(consents[0].server_label, "send_email");
            assert!(consents[0].consent_link.contains("user=alice"));
        }
        other => panic!("expected consent, got {other:?}"),
    }
    // The call was not repeated; her cache was invalidated and re-listed.
    assert_eq!(setup.calls(), 1);
    assert_eq!(setup.lists_by("alice"), 2);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn expired_token_without_consent_to_give_is_a_clear_error() {
    // Only sources without consent: re-listing after the 401 succeeds and asks for nothing, so
    // there is no consent to surface and the call fails with a clear error.
    let fault = FaultSpec { expire_after_calls: Some(1), ..FaultSpec::default() };
    let mut tb = ToolboxSpec::new("tb").source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo")));
    tb.faults = vec![fault];
    let setup =
        Setup::started(Scenario::new(Mode::Stateless).toolbox(tb), |s, _| s.toolboxes = vec!["tb".into()]).await;
    let alice = ctx("alice");
    let (tools, _) = setup.resolve(&alice).await;
    assert_eq!(
        within(tools.invoke(&alice, &call("echo", r#"{"text":"1"}"#))).await,
        ToolOutcome::Output("echo: 1".into())
    );
    match within(tools.invoke(&alice, &call("echo", r#"{"text":"2"}"#))).await {
        ToolOutcome::Error(message) => assert!(message.contains("authorization"), "{message}"),
        other => panic!("expected an error, got {other:?}"),
    }
    // The failed call was not repeated.
    assert_eq!(setup.calls(), 2);
    // The shared list came from the container identity; the 401 made one listing for alice.
    assert_eq!(setup.lists_by("alice"), 1);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn cancelling_a_call_cancels_it_on_the_wire() {
    let fault = FaultSpec { methods: only(&["tools/call"]), hang: true, ..FaultSpec::default() };
    let setup = Setup::started(callable(Mode::Session, vec![fault]), |s, _| s.toolboxes = vec!["tb".into()]).await;
    let alice = ctx("alice");
    let (tools, _) = setup.resolve(&alice).await;
    let invoke = {
        let tools = tools.clone();
        let alice = alice.clone();
        tokio::spawn(async move { tools.invoke(&alice, &call("echo", "{}")).await })
    };
    eventually(|| setup.calls() == 1).await;
    alice.cancel.cancel();
    let outcome = within(invoke).await.expect("task");
    assert_eq!(outcome, ToolOutcome::Error("The tool call failed: the request was cancelled.".into()));
    eventually(|| {
        setup.proxy.requests().iter().any(|r| {
            r.jsonrpc_method.as_deref() == Some("notifications/cancelled")
                && r.header("x-agent-foundry-call-id") == alice.call_id.as_deref()
        })
    })
    .await;
    // The cancelled call was not repeated.
    assert_eq!(setup.calls(), 1);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn a_hanging_call_ends_at_the_request_deadline() {
    let fault = FaultSpec { methods: only(&["tools/call"]), hang: true, ..FaultSpec::default() };
    let setup = Setup::started(callable(Mode::Stateless, vec![fault]), |s, _| s.toolboxes = vec!["tb".into()]).await;
    let mut alice = ctx("alice");
    let (tools, _) = setup.resolve(&alice).await;
    alice.deadline = Some(tokio::time::Instant::now() + Duration::from_millis(200));
    let started = std::time::Instant::now();
    let outcome = within(tools.invoke(&alice, &call("echo", "{}"))).await;
    assert_eq!(outcome, ToolOutcome::Error("The tool call failed: the toolbox did not answer in time.".into()));
    assert!(started.elapsed() < Duration::from_secs(2));
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn approval_policy_names_the_toolbox() {
    let setup = Setup::started(callable(Mode::Stateless, vec![]), |s, _| {
        s.toolboxes = vec!["tb".into()];
        s.approval = "send.email, echo".parse::<ApprovalPolicy>().expect("policy");
    })
    .await;
    let (tools, _) = setup.resolve(&ctx("alice")).await;
    assert_eq!(tools.approval_label(&call("echo", "{}")), Some("tb".into()));
    // Matched by the original name, shown by its model-facing one.
    assert_eq!(tools.approval_label(&call("send_email", "{}")), Some("tb".into()));
    assert_eq!(tools.approval_label(&call("read_calendar", "{}")), None);
    assert_eq!(tools.approval_label(&call("unknown", "{}")), None);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn colliding_tool_names_are_made_unique_and_routed() {
    let scenario = Scenario::new(Mode::Stateless)
        .toolbox(
            ToolboxSpec::new("one").source(SourceSpec::new("s", Auth::None).tool(ToolSpec::fixed("echo", "from one"))),
        )
        .toolbox(
            ToolboxSpec::new("two").source(SourceSpec::new("s", Auth::None).tool(ToolSpec::fixed("echo", "from two"))),
        );
    let setup = Setup::started(scenario, |s, _| s.toolboxes = vec!["one".into(), "two".into()]).await;
    let alice = ctx("alice");
    let (tools, _) = setup.resolve(&alice).await;
    let specs = tools.specs();
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[0].name, "echo");
    assert_eq!(specs[0].server_label.as_deref(), Some("one"));
    let second = specs[1].name.clone();
    assert!(second.starts_with("echo_") && second.len() == 13, "{second}");
    assert_eq!(specs[1].server_label.as_deref(), Some("two"));
    assert_eq!(within(tools.invoke(&alice, &call(&second, "{}"))).await, ToolOutcome::Output("from two".into()));
    // The same toolboxes always give the same names.
    let (again, _) = setup.resolve(&ctx("bob")).await;
    assert_eq!(names(&again), names(&tools));
    setup.toolboxes.shutdown().await;
}
