//! The request log: methods in order, tools, users and headers, over the API and over HTTP.

use agenthost_mock_proxy::{MockProxy, RecordedRequest, demo_scenario};
use serde_json::{Value, json};

use crate::support::{call, connect, http, init_params, post_rpc, rpc, tool_names, within};

#[tokio::test]
async fn request_log_records_methods_users_and_headers() -> anyhow::Result<()> {
    let proxy = MockProxy::start(demo_scenario()).await?;
    proxy.grant("alice", "send_email");
    let client = connect(&proxy.toolbox_url("demo"), Some("alice:7")).await?;
    tool_names(&client).await?;
    call(&client, "echo", json!({"text": "hi"})).await??;

    let posts: Vec<RecordedRequest> = proxy.requests().into_iter().filter(|r| r.http_method == "POST").collect();
    // `notifications/initialized` is sent concurrently with what follows; the rest is ordered.
    let requests: Vec<&str> =
        posts.iter().filter_map(|r| r.jsonrpc_method.as_deref()).filter(|m| !m.starts_with("notifications/")).collect();
    assert_eq!(requests, ["initialize", "tools/list", "tools/call"]);
    let notes = posts.iter().filter(|r| r.jsonrpc_method.as_deref() == Some("notifications/initialized")).count();
    assert_eq!(notes, 1);
    for r in &posts {
        assert_eq!(r.toolbox, "demo");
        assert_eq!(r.user, "alice");
        assert_eq!(r.header("authorization"), Some("Bearer tok123"));
        assert_eq!(r.header("Foundry-Features"), Some("Toolboxes=V1Preview"));
        assert_eq!(r.header("x-agent-foundry-call-id"), Some("alice:7"));
        assert!(r.header("traceparent").is_some_and(|t| t.starts_with("00-")));
        assert!(r.header("x-agent-user-id").is_none());
        assert!(r.repeated_headers.is_empty(), "{:?}", r.repeated_headers);
    }
    let tool_of = |m: &str| posts.iter().find(|r| r.jsonrpc_method.as_deref() == Some(m)).map(|r| r.tool.clone());
    assert_eq!(tool_of("tools/call"), Some(Some("echo".to_owned())));
    assert_eq!(tool_of("tools/list"), Some(None));
    within(client.cancel()).await??;
    Ok(())
}

#[tokio::test]
async fn request_log_over_http_names_the_container() -> anyhow::Result<()> {
    let proxy = MockProxy::start(demo_scenario()).await?;
    let init = rpc(1, "initialize", init_params());
    post_rpc(&proxy.toolbox_url("demo"), None, &init).await?;
    let versioned = format!("{}/toolboxes/other/versions/3/mcp", proxy.base_url());
    post_rpc(&versioned, Some("zed:1"), &rpc(2, "tools/list", json!({}))).await?;
    let url = format!("{}/_mock/requests", proxy.base_url());

    let log: Value = within(within(http().get(&url).send()).await??.json()).await??;
    assert_eq!(log.as_array().map(Vec::len), Some(2));
    let first = &log[0];
    assert_eq!(first["user"], "container");
    assert_eq!(first["jsonrpc_method"], "initialize");
    assert_eq!(first["tool"], Value::Null);
    assert_eq!(first["toolbox"], "demo");
    assert_eq!(first["version"], Value::Null);
    assert_eq!(first["path"], "/toolboxes/demo/mcp");
    assert_eq!(first["http_method"], "POST");
    assert_eq!(first["headers"]["authorization"], "Bearer tok123");
    assert_eq!(log[1]["user"], "zed");
    assert_eq!(log[1]["toolbox"], "other");
    assert_eq!(log[1]["version"], "3");
    // The JSON form round-trips into the library type, with the container as "".
    let typed: Vec<RecordedRequest> = serde_json::from_value(log.clone())?;
    assert_eq!(typed, proxy.requests());
    assert_eq!(typed[0].user, "");

    let status = within(http().delete(&url).send()).await??.status();
    assert_eq!(status.as_u16(), 204);
    assert!(proxy.requests().is_empty());
    Ok(())
}
