//! Listing and calling tools in both transport modes, paths, 404s and pagination.

use agenthost_mock_proxy::{
    Auth, MockProxy, Mode, Scenario, SourceSpec, TOOLBOX_NOT_FOUND_CODE, ToolSpec, ToolboxSpec,
};
use serde_json::json;

use crate::support::{call, connect, get, init_params, mcp_error, post_rpc, rpc, text_of, tool_names, within};

fn basic(mode: Mode) -> Scenario {
    Scenario::new(mode).toolbox(
        ToolboxSpec::new("tb").source(
            SourceSpec::new("echo", Auth::None)
                .tool(ToolSpec::echo("echo"))
                .tool(ToolSpec::fixed("fixed", "ok"))
                .tool(ToolSpec::error("broken", "nope")),
        ),
    )
}

#[tokio::test]
async fn list_and_call_in_both_modes() -> anyhow::Result<()> {
    for mode in [Mode::Session, Mode::Stateless] {
        let proxy = MockProxy::start(basic(mode)).await?;
        let client = connect(&proxy.toolbox_url("tb"), Some("alice:1")).await?;
        assert_eq!(tool_names(&client).await?, ["echo", "fixed", "broken"], "{mode:?}");

        let r = call(&client, "echo", json!({"text": "hi"})).await??;
        assert_eq!(text_of(&r), "echo: hi");
        assert_eq!(r.is_error, Some(false));
        let r = call(&client, "echo", json!({"a": 1})).await??;
        assert_eq!(text_of(&r), r#"{"a":1}"#);
        let r = call(&client, "fixed", json!({})).await??;
        assert_eq!(text_of(&r), "ok");
        let r = call(&client, "broken", json!({})).await??;
        assert_eq!((text_of(&r).as_str(), r.is_error), ("nope", Some(true)));
        let err = mcp_error(call(&client, "missing", json!({})).await?);
        assert_eq!(err.code.0, -32602, "{mode:?}: {err:?}");

        let list = proxy
            .requests()
            .into_iter()
            .find(|r| r.jsonrpc_method.as_deref() == Some("tools/list"))
            .expect("tools/list recorded");
        let has_session = list.header("mcp-session-id").is_some();
        assert_eq!(has_session, mode == Mode::Session, "{mode:?}");
        within(client.cancel()).await??;
        proxy.shutdown().await;
    }
    Ok(())
}

#[tokio::test]
async fn raw_transport_shape_per_mode() -> anyhow::Result<()> {
    let proxy = MockProxy::start(basic(Mode::Stateless)).await?;
    let url = proxy.toolbox_url("tb");
    let init = post_rpc(&url, None, &rpc(1, "initialize", init_params())).await?;
    assert_eq!(init.status, 200);
    assert!(init.header("content-type").unwrap_or("").starts_with("application/json"));
    assert!(init.header("mcp-session-id").is_none());
    // Stateless: tools/list works without initialize state or a session id.
    let list = post_rpc(&url, None, &rpc(2, "tools/list", json!({}))).await?;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json()["result"]["tools"][0]["name"], "echo");
    assert_eq!(list.json()["id"], 2);

    let proxy = MockProxy::start(basic(Mode::Session)).await?;
    let url = proxy.toolbox_url("tb");
    let init = post_rpc(&url, None, &rpc(1, "initialize", init_params())).await?;
    assert_eq!(init.status, 200);
    assert!(init.header("content-type").unwrap_or("").starts_with("text/event-stream"));
    assert!(init.header("mcp-session-id").is_some());
    Ok(())
}

#[tokio::test]
async fn versioned_and_prefixed_paths() -> anyhow::Result<()> {
    let scenario = basic(Mode::Session);
    let mut tb = scenario.toolboxes[0].clone().with_versions(["1", "2"]);
    tb.name = "vtb".into();
    let proxy = MockProxy::start(scenario.toolbox(tb)).await?;
    let base = proxy.base_url();

    let url = format!("{base}/api/projects/p1/toolboxes/vtb/versions/2/mcp?api-version=v1");
    let client = connect(&url, Some("bob:1")).await?;
    assert_eq!(tool_names(&client).await?.len(), 3);
    let rec = proxy.requests().remove(0);
    assert_eq!(rec.toolbox, "vtb");
    assert_eq!(rec.version.as_deref(), Some("2"));
    assert_eq!(rec.path, "/api/projects/p1/toolboxes/vtb/versions/2/mcp");
    assert_eq!(rec.query.as_deref(), Some("api-version=v1"));
    assert_eq!(rec.user, "bob");

    // Unversioned path of the same toolbox works; an unlisted version does not.
    let ok = post_rpc(&proxy.toolbox_url("vtb"), None, &rpc(1, "initialize", init_params())).await?;
    assert_eq!(ok.status, 200);
    let bad_url = format!("{base}/toolboxes/vtb/versions/3/mcp");
    let bad = post_rpc(&bad_url, None, &rpc(7, "initialize", init_params())).await?;
    assert_eq!(bad.status, 404);
    assert_eq!(bad.json()["error"]["code"], TOOLBOX_NOT_FOUND_CODE);
    assert_eq!(bad.json()["id"], 7);
    // A toolbox without `versions` accepts any version.
    let any =
        post_rpc(&format!("{base}/toolboxes/tb/versions/42/mcp"), None, &rpc(1, "initialize", init_params())).await?;
    assert_eq!(any.status, 200);
    Ok(())
}

#[tokio::test]
async fn unknown_toolbox_is_404_with_jsonrpc_error() -> anyhow::Result<()> {
    let proxy = MockProxy::start(basic(Mode::Stateless)).await?;
    let url = proxy.toolbox_url("nope");
    let raw = post_rpc(&url, None, &rpc(5, "initialize", init_params())).await?;
    assert_eq!(raw.status, 404);
    assert!(raw.header("content-type").unwrap_or("").starts_with("application/json"));
    let body = raw.json();
    assert_eq!(body["id"], 5);
    assert_eq!(body["error"]["code"], TOOLBOX_NOT_FOUND_CODE);
    assert_eq!(body["error"]["message"], "toolbox not found: nope");
    assert_eq!(body["error"]["data"]["reason"], "TOOLBOX_NOT_FOUND");

    let err = connect(&url, None).await.expect_err("connect must fail");
    assert!(format!("{err:#}").contains("toolbox not found: nope"), "{err:#}");
    assert_eq!(proxy.requests()[0].toolbox, "nope", "unknown toolboxes are logged too");

    let (status, _) = get(&format!("{}/not/an/mcp/path", proxy.base_url())).await?;
    assert_eq!(status, 404);
    Ok(())
}

#[tokio::test]
async fn pagination_follows_cursor() -> anyhow::Result<()> {
    let mut source = SourceSpec::new("many", Auth::None);
    for i in 0..5 {
        source = source.tool(ToolSpec::echo(format!("t{i}")));
    }
    let mut tb = ToolboxSpec::new("tb").source(source);
    tb.page_size = Some(2);
    let proxy = MockProxy::start(Scenario::new(Mode::Session).toolbox(tb)).await?;
    let client = connect(&proxy.toolbox_url("tb"), None).await?;
    assert_eq!(tool_names(&client).await?, ["t0", "t1", "t2", "t3", "t4"]);
    let lists = proxy.requests().iter().filter(|r| r.jsonrpc_method.as_deref() == Some("tools/list")).count();
    assert_eq!(lists, 3);
    Ok(())
}
