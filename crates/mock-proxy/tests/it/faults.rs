//! Faults: injected statuses with Retry-After, token expiry (401), dropped connections, malformed
//! answers, cut SSE streams, hangs and latency.

use std::time::{Duration, Instant};

use agenthost_mock_proxy::{Auth, FaultSpec, MockProxy, Mode, Scenario, SourceSpec, ToolSpec, ToolboxSpec};
use serde_json::json;

use crate::support::{LIMIT, call, connect, init_params, post_json, post_rpc, rpc, tool_names, within};

fn with_faults(mode: Mode, faults: Vec<FaultSpec>) -> Scenario {
    let mut tb = ToolboxSpec::new("tb")
        .source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo")))
        .source(SourceSpec::new("send_email", Auth::Consent).tool(ToolSpec::fixed("send_email", "sent")));
    tb.faults = faults;
    Scenario::new(mode).toolbox(tb)
}

fn only(methods: &[&str]) -> Option<Vec<String>> {
    Some(methods.iter().map(|m| (*m).to_owned()).collect())
}

#[tokio::test]
async fn http_statuses_sequence_with_retry_after() -> anyhow::Result<()> {
    let fault = FaultSpec {
        methods: only(&["tools/list"]),
        http_statuses: vec![503, 503, 429],
        retry_after: Some(2),
        ..FaultSpec::default()
    };
    let proxy = MockProxy::start(with_faults(Mode::Stateless, vec![fault])).await?;
    proxy.grant("u", "send_email");
    let url = proxy.toolbox_url("tb");
    // Not a matching method: unaffected, and consumes nothing.
    assert_eq!(post_rpc(&url, Some("u:1"), &rpc(1, "initialize", init_params())).await?.status, 200);
    for expected in [503, 503, 429] {
        let raw = post_rpc(&url, Some("u:1"), &rpc(2, "tools/list", json!({}))).await?;
        assert_eq!(raw.status, expected);
        assert_eq!(raw.header("retry-after"), Some("2"));
        assert!(raw.header("content-type").unwrap_or("").starts_with("text/plain"));
    }
    let raw = post_rpc(&url, Some("u:1"), &rpc(3, "tools/list", json!({}))).await?;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.json()["result"]["tools"].as_array().map(Vec::len), Some(2));

    // Through rmcp (session mode) the status surfaces as a transport error, then recovers.
    let fault = FaultSpec { methods: only(&["tools/list"]), http_statuses: vec![503], ..FaultSpec::default() };
    let proxy = MockProxy::start(with_faults(Mode::Session, vec![fault])).await?;
    proxy.grant("u", "send_email");
    let client = connect(&proxy.toolbox_url("tb"), Some("u:2")).await?;
    let err = within(client.list_tools(None)).await?.expect_err("503 expected");
    assert!(format!("{err:?}").contains("503"), "{err:?}");
    assert_eq!(tool_names(&client).await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn expire_after_calls_gives_401_until_renewed() -> anyhow::Result<()> {
    let fault = FaultSpec { expire_after_calls: Some(2), ..FaultSpec::default() };
    let proxy = MockProxy::start(with_faults(Mode::Stateless, vec![fault])).await?;
    let url = proxy.toolbox_url("tb");
    proxy.grant("alice", "send_email");
    proxy.grant("bob", "send_email");
    let alice = connect(&url, Some("alice:1")).await?;
    for _ in 0..2 {
        call(&alice, "echo", json!({"text": "x"})).await??;
    }
    let err = call(&alice, "echo", json!({"text": "x"})).await?.expect_err("expired");
    assert!(format!("{err:?}").contains("401"), "{err:?}");
    let raw = post_rpc(&url, Some("alice:2"), &rpc(9, "tools/call", json!({"name": "echo", "arguments": {}}))).await?;
    assert_eq!(raw.status, 401);
    assert_eq!(raw.json()["error"]["code"], -32001);
    assert_eq!(raw.json()["id"], 9);
    assert!(proxy.state().expired.contains("alice"));
    // Listing is not refused; the forgotten consent is asked for again.
    let raw = post_rpc(&url, Some("alice:2"), &rpc(10, "tools/list", json!({}))).await?;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.json()["error"]["code"], -32006);
    // Counters are per user: bob's single call is fine.
    let bob = connect(&url, Some("bob:1")).await?;
    call(&bob, "echo", json!({})).await??;

    // Renewing the token without consent: tools/list asks for consent again.
    let (status, _) =
        post_json(&format!("{}/_mock/expire", proxy.base_url()), &json!({"user": "alice", "expired": false})).await?;
    assert_eq!(status, 200);
    let raw = post_rpc(&url, Some("alice:3"), &rpc(4, "tools/list", json!({}))).await?;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.json()["error"]["code"], -32006);

    // Manual expiry, then renewal by granting consent.
    proxy.expire("bob");
    let call_req = rpc(1, "tools/call", json!({"name": "echo", "arguments": {}}));
    assert_eq!(post_rpc(&url, Some("bob:2"), &call_req).await?.status, 401);
    proxy.grant("bob", "send_email");
    let raw = post_rpc(&url, Some("bob:3"), &rpc(1, "tools/list", json!({}))).await?;
    assert_eq!(raw.json()["result"]["tools"].as_array().map(Vec::len), Some(2));
    Ok(())
}

#[tokio::test]
async fn drop_connection_closes_without_response() -> anyhow::Result<()> {
    let fault = FaultSpec { methods: only(&["tools/list"]), drop_connection: Some(1), ..FaultSpec::default() };
    let proxy = MockProxy::start(with_faults(Mode::Stateless, vec![fault])).await?;
    proxy.grant("container", "send_email");
    let url = proxy.toolbox_url("tb");
    let err = post_rpc(&url, None, &rpc(1, "tools/list", json!({}))).await.expect_err("connection should be dropped");
    assert!(!format!("{err:#}").contains("timed out"), "{err:#}");
    let raw = post_rpc(&url, None, &rpc(2, "tools/list", json!({}))).await?;
    assert_eq!(raw.status, 200);
    Ok(())
}

#[tokio::test]
async fn malformed_answers_are_200_with_truncated_json_then_normal() -> anyhow::Result<()> {
    let fault = FaultSpec { methods: only(&["tools/list"]), malformed: Some(1), ..FaultSpec::default() };
    let proxy = MockProxy::start(with_faults(Mode::Stateless, vec![fault])).await?;
    let url = proxy.toolbox_url("tb");
    let raw = post_rpc(&url, None, &rpc(1, "tools/list", json!({}))).await?;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("content-type"), Some("application/json"));
    assert!(serde_json::from_str::<serde_json::Value>(&raw.text).is_err(), "{}", raw.text);
    let raw = post_rpc(&url, None, &rpc(2, "tools/list", json!({}))).await?;
    assert_eq!(raw.json()["id"], 2);
    Ok(())
}

#[tokio::test]
async fn a_cut_stream_breaks_off_inside_its_first_event_then_normal() -> anyhow::Result<()> {
    let fault = FaultSpec { methods: only(&["tools/list"]), cut_stream: Some(1), ..FaultSpec::default() };
    let proxy = MockProxy::start(with_faults(Mode::Stateless, vec![fault])).await?;
    let url = proxy.toolbox_url("tb");
    // The headers arrive (200, an event stream); the body ends in an error, not a message.
    let err = post_rpc(&url, None, &rpc(1, "tools/list", json!({}))).await.expect_err("the body should break off");
    assert!(!format!("{err:#}").contains("timed out"), "{err:#}");
    let raw = post_rpc(&url, None, &rpc(2, "tools/list", json!({}))).await?;
    assert_eq!(raw.status, 200);
    Ok(())
}

#[tokio::test]
async fn hang_for_scoped_user_latency_for_another() -> anyhow::Result<()> {
    let faults = vec![
        FaultSpec { user: Some("bob".into()), hang: true, ..FaultSpec::default() },
        FaultSpec { user: Some("alice".into()), latency_ms: Some(200), ..FaultSpec::default() },
    ];
    let proxy = MockProxy::start(with_faults(Mode::Stateless, faults)).await?;
    let url = proxy.toolbox_url("tb");

    // Hang only affects tools/list and tools/call.
    assert_eq!(post_rpc(&url, Some("bob:1"), &rpc(1, "initialize", init_params())).await?.status, 200);
    let hung_url = url.clone();
    let mut hung =
        tokio::spawn(async move { post_rpc(&hung_url, Some("bob:1"), &rpc(2, "tools/list", json!({}))).await });
    let still_pending = tokio::time::timeout(Duration::from_millis(300), &mut hung).await;
    assert!(still_pending.is_err(), "bob's tools/list should hang");

    let started = Instant::now();
    let raw = post_rpc(&url, Some("alice:1"), &rpc(3, "tools/list", json!({}))).await?;
    assert_eq!(raw.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));

    // Shutdown closes the hanging connection: bob gets an error, not an answer.
    within(proxy.shutdown()).await?;
    let outcome = tokio::time::timeout(LIMIT, hung).await??;
    assert!(outcome.is_err(), "{outcome:?}");
    Ok(())
}
