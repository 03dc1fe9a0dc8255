//! What goes on the wire: headers on every request, URLs, and the retry policy (attempts
//! counted from the mock's request log).

use std::time::{Duration, Instant};

use agenthost_agent::ToolOutcome;
use agenthost_mock_proxy::{Auth, FaultSpec, Mode, Scenario, SourceSpec, ToolSpec, ToolboxSpec, demo_scenario};
use agenthost_toolbox::ToolboxState;
use serde_json::json;

use crate::support::{Setup, TRACEPARENT, call, ctx, names, only, wait_for, within};

fn echo_box(mode: Mode, faults: Vec<FaultSpec>) -> Scenario {
    let mut tb = ToolboxSpec::new("tb").source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo")));
    tb.faults = faults;
    Scenario::new(mode).toolbox(tb)
}

#[tokio::test]
async fn every_request_carries_exactly_the_right_headers() {
    let setup = Setup::new(demo_scenario(), |s, _| {
        s.toolboxes = vec!["demo".into()];
        s.extra_features = Some("feature1, Toolboxes=V1Preview,toolboxes=v1preview,feature2".into());
        s.strict = false;
    })
    .await;
    setup.toolboxes.start();
    wait_for(&setup.toolboxes, |r| r.toolboxes[0].state == ToolboxState::ConsentRequired).await;
    setup.proxy.grant("alice", "send_email");

    let alice = ctx("alice");
    let markers = setup
        .toolboxes
        .markers(&[json!({"type": "mcp", "server_label": "d", "server_url": "foundry-toolbox://demo?version=2"})])
        .expect("valid marker");
    let (tools, preflight) = within(setup.toolboxes.resolve(&alice, &markers)).await;
    assert!(preflight.consents.is_empty(), "{preflight:?}");
    assert_eq!(names(&tools).len(), 4, "{:?}", names(&tools));
    let outcome = within(tools.invoke(&alice, &call("echo", r#"{"text":"hi"}"#))).await;
    assert_eq!(outcome, ToolOutcome::Output("echo: hi".into()));
    setup.toolboxes.shutdown().await;

    let requests = setup.proxy.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        let what = format!("{} {:?} {}", r.http_method, r.jsonrpc_method, r.path);
        assert_eq!(r.header("authorization"), Some("Bearer test-token"), "{what}");
        assert!(r.repeated_headers.is_empty(), "{what}: repeated {:?}", r.repeated_headers);
        assert_eq!(r.header("foundry-features"), Some("Toolboxes=V1Preview,feature1,feature2"), "{what}");
        assert!(r.header("x-agent-user-id").is_none(), "{what}");
        assert_eq!(r.query.as_deref(), Some("api-version=v1"), "{what}");
        if r.user == "alice" {
            assert_eq!(r.header("x-agent-foundry-call-id"), alice.call_id.as_deref(), "{what}");
            assert_eq!(r.header("traceparent"), Some(TRACEPARENT), "{what}");
        } else {
            assert!(r.header("x-agent-foundry-call-id").is_none(), "{what}");
            assert!(r.header("traceparent").is_none(), "{what}");
        }
    }
    let methods = |user: &str, version: Option<&str>| -> Vec<String> {
        requests
            .iter()
            .filter(|r| r.user == user && r.version.as_deref() == version && r.http_method == "POST")
            .filter_map(|r| r.jsonrpc_method.clone())
            .collect()
    };
    // The configured toolbox was opened by the container; alice listed and called on it.
    assert_eq!(methods("", None), ["initialize", "notifications/initialized", "tools/list"]);
    assert_eq!(methods("alice", None), ["tools/list", "tools/call"]);
    // The marker's connection was opened on alice's behalf: initialize carries her call id.
    assert_eq!(methods("alice", Some("2")), ["initialize", "notifications/initialized", "tools/list"]);
    assert!(requests.iter().any(|r| {
        r.version.as_deref() == Some("2") && r.path.ends_with("/api/projects/p/toolboxes/demo/versions/2/mcp")
    }));
    assert!(requests.iter().any(|r| r.jsonrpc_method.as_deref() == Some("tools/call")
        && r.path.ends_with("/api/projects/p/toolboxes/demo/mcp")
        && r.tool.as_deref() == Some("echo")));
    // The session stream and its DELETE carry the headers too (checked above).
    assert!(requests.iter().any(|r| r.http_method == "GET"));
    assert_eq!(requests.iter().filter(|r| r.http_method == "DELETE").count(), 2);
    // One token fetch per HTTP request, always for the toolbox scope.
    assert_eq!(setup.token.calls.load(std::sync::atomic::Ordering::SeqCst), requests.len());
    assert!(setup.token.scopes.lock().iter().all(|s| s == "https://ai.azure.com/.default"));
}

#[tokio::test]
async fn requests_without_platform_headers_send_none() {
    let setup = Setup::started(echo_box(Mode::Stateless, vec![]), |s, _| s.toolboxes = vec!["tb".into()]).await;
    let mut bare = agenthost_agent::RequestContext::local("resp");
    bare.user = agenthost_agent::UserKey::new("carol");
    let (tools, _) = setup.resolve(&bare).await;
    let outcome = within(tools.invoke(&bare, &call("echo", ""))).await;
    assert_eq!(outcome, ToolOutcome::Output("{}".into()));
    for r in setup.proxy.requests() {
        assert!(r.header("x-agent-foundry-call-id").is_none());
        assert!(r.header("traceparent").is_none());
        assert!(r.header("x-agent-user-id").is_none());
        assert_eq!(r.header("foundry-features"), Some("Toolboxes=V1Preview"));
    }
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn tools_list_is_retried_on_503_then_succeeds() {
    let fault = FaultSpec { methods: only(&["tools/list"]), http_statuses: vec![503], ..FaultSpec::default() };
    let setup = Setup::started(echo_box(Mode::Session, vec![fault]), |s, _| s.toolboxes = vec!["tb".into()]).await;
    assert_eq!(setup.state("tb"), ToolboxState::Healthy);
    assert_eq!(setup.lists_by(""), 2);
    assert_eq!(setup.count(|r| r.jsonrpc_method.as_deref() == Some("initialize")), 1);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn initialize_is_retried_on_503() {
    let fault = FaultSpec { methods: only(&["initialize"]), http_statuses: vec![503, 502], ..FaultSpec::default() };
    let setup = Setup::started(echo_box(Mode::Session, vec![fault]), |s, _| s.toolboxes = vec!["tb".into()]).await;
    assert_eq!(setup.state("tb"), ToolboxState::Healthy);
    assert_eq!(setup.count(|r| r.jsonrpc_method.as_deref() == Some("initialize")), 3);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn tools_call_is_not_retried_on_500() {
    let fault = FaultSpec { methods: only(&["tools/call"]), http_statuses: vec![500], ..FaultSpec::default() };
    let setup = Setup::started(echo_box(Mode::Stateless, vec![fault]), |s, _| s.toolboxes = vec!["tb".into()]).await;
    let alice = ctx("alice");
    let (tools, _) = setup.resolve(&alice).await;
    let outcome = within(tools.invoke(&alice, &call("echo", r#"{"text":"x"}"#))).await;
    assert_eq!(outcome, ToolOutcome::Error("The tool call failed: the toolbox answered HTTP 500.".into()));
    assert_eq!(setup.calls(), 1);
    // The fault is used up: the next call runs (once).
    let outcome = within(tools.invoke(&alice, &call("echo", r#"{"text":"x"}"#))).await;
    assert_eq!(outcome, ToolOutcome::Output("echo: x".into()));
    assert_eq!(setup.calls(), 2);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn dropped_connection_on_tools_call_is_not_retried() {
    let fault = FaultSpec { methods: only(&["tools/call"]), drop_connection: Some(1), ..FaultSpec::default() };
    let setup = Setup::started(echo_box(Mode::Stateless, vec![fault]), |s, _| s.toolboxes = vec!["tb".into()]).await;
    let alice = ctx("alice");
    let (tools, _) = setup.resolve(&alice).await;
    let outcome = within(tools.invoke(&alice, &call("echo", "{}"))).await;
    assert!(matches!(outcome, ToolOutcome::Error(ref m) if m.contains("connection")), "{outcome:?}");
    assert_eq!(setup.calls(), 1);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn dropped_connection_on_tools_list_is_retried() {
    let fault = FaultSpec { methods: only(&["tools/list"]), drop_connection: Some(2), ..FaultSpec::default() };
    let setup = Setup::started(echo_box(Mode::Stateless, vec![fault]), |s, _| s.toolboxes = vec!["tb".into()]).await;
    assert_eq!(setup.state("tb"), ToolboxState::Healthy);
    assert_eq!(setup.lists_by(""), 3);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn tools_call_429_is_retried_after_retry_after() {
    let fault = FaultSpec {
        methods: only(&["tools/call"]),
        http_statuses: vec![429],
        retry_after: Some(1),
        ..FaultSpec::default()
    };
    let setup = Setup::started(echo_box(Mode::Session, vec![fault]), |s, _| s.toolboxes = vec!["tb".into()]).await;
    let alice = ctx("alice");
    let (tools, _) = setup.resolve(&alice).await;
    let started = Instant::now();
    let outcome = within(tools.invoke(&alice, &call("echo", r#"{"text":"again"}"#))).await;
    let waited = started.elapsed();
    assert_eq!(outcome, ToolOutcome::Output("echo: again".into()));
    assert_eq!(setup.calls(), 2);
    // The backoff policy alone would have retried within milliseconds.
    assert!(waited >= Duration::from_millis(950), "Retry-After ignored: {waited:?}");
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn retry_after_beyond_the_cap_fails_fast_and_attempts_are_bounded() {
    let fault = FaultSpec {
        methods: only(&["tools/list"]),
        http_statuses: vec![429, 503, 503, 503, 503, 503, 503],
        retry_after: Some(60),
        ..FaultSpec::default()
    };
    let retry =
        agenthost_toolbox::RetryPolicy { background_initial: Duration::from_secs(60), ..crate::support::fast_retry() };
    let setup = Setup::build(echo_box(Mode::Stateless, vec![fault]), retry, |s, _| {
        s.toolboxes = vec!["tb".into()];
    })
    .await;
    let started = Instant::now();
    setup.toolboxes.start();
    let r = wait_for(&setup.toolboxes, |r| r.toolboxes[0].state != ToolboxState::Pending).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(r.toolboxes[0].state, ToolboxState::Degraded);
    assert_eq!(r.toolboxes[0].last_error.as_deref(), Some("http_429"));
    // 429 with a 60 s Retry-After (cap 5 s): one attempt, no wait.
    assert_eq!(setup.lists_by(""), 1);
    setup.toolboxes.shutdown().await;
}
