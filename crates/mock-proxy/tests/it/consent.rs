//! Consent: list-time aggregate errors (placements, codes), links, call-time consent, mixed
//! payloads, overrides and the consent control routes.

use agenthost_mock_proxy::{
    Auth, ConsentErrorShape, MockProxy, Mode, Placement, Scenario, SourceSpec, ToolSpec, ToolboxSpec, demo_scenario,
};
use serde_json::{Value, json};

use crate::support::{
    call, connect, embedded_json, get, mcp_error, post_json, post_rpc, rpc, text_of, tool_names, within,
};

/// The consent link of the first entry of an aggregate object.
fn link_of(aggregate: &Value) -> String {
    aggregate["errors"][0]["error"]["message"].as_str().expect("link").to_owned()
}

#[tokio::test]
async fn list_consent_until_link_visited_only_for_that_user() -> anyhow::Result<()> {
    let proxy = MockProxy::start(demo_scenario()).await?;
    let url = proxy.toolbox_url("demo");
    let alice = connect(&url, Some("alice:1")).await?;
    let bob = connect(&url, Some("bob:1")).await?;
    let container = connect(&url, None).await?;

    let err = mcp_error(within(alice.list_tools(None)).await?);
    assert_eq!(err.code.0, -32006);
    assert!(err.data.is_none());
    let prefix = "tools/list failed for 1 tool source(s), succeeded for 1 tool source(s) {";
    assert!(err.message.starts_with(prefix), "{}", err.message);
    let payload = embedded_json(&err.message)?;
    let link = link_of(&payload);
    assert_eq!(
        payload,
        json!({"errors":[{"name":"send_email","type":"mcp","error":{"code":"CONSENT_REQUIRED","message": link}}]})
    );
    // Exact key order on the wire: name, type, error.
    let exact = format!(
        r#"{{"errors":[{{"name":"send_email","type":"mcp","error":{{"code":"CONSENT_REQUIRED","message":"{link}"}}}}]}}"#
    );
    assert!(err.message.ends_with(&exact), "{}", err.message);
    let link_prefix = format!("{}/consent?toolbox=demo&source=send_email&user=alice&state=", proxy.base_url());
    assert!(link.starts_with(&link_prefix), "{link}");

    // Bob and the container are gated too; the container's link names it "container".
    mcp_error(within(bob.list_tools(None)).await?);
    let c_err = mcp_error(within(container.list_tools(None)).await?);
    assert!(link_of(&embedded_json(&c_err.message)?).contains("&user=container&"));

    let (status, page) = get(&link).await?;
    assert_eq!(status, 200);
    assert!(page.contains("Consent granted"), "{page}");
    // In a popup, the page tells its opener and closes itself.
    assert!(page.contains(r#"<script src="/consent/done.js" defer></script>"#), "{page}");
    let (status, script) = get(&format!("{}/consent/done.js", proxy.base_url())).await?;
    assert_eq!(status, 200);
    assert!(script.contains(r#"postMessage({ type: "agenthost.consent", status: "granted" }, "*")"#), "{script}");
    assert!(script.contains("window.close()"), "{script}");
    // Visiting again is harmless.
    assert_eq!(get(&link).await?.0, 200);

    assert_eq!(tool_names(&alice).await?, ["echo", "send_email"]);
    let sent = call(&alice, "send_email", json!({"to":"a@b","subject":"s","body":"b"})).await??;
    assert_eq!(text_of(&sent), "sent");
    // Only alice consented.
    mcp_error(within(bob.list_tools(None)).await?);
    mcp_error(within(container.list_tools(None)).await?);
    let state = proxy.state();
    assert_eq!(state.consents.len(), 1);
    assert!(state.consents["alice"].contains("send_email"));
    Ok(())
}

#[tokio::test]
async fn placements_and_codes() -> anyhow::Result<()> {
    let cases = [(Placement::Data, -32007), (Placement::Both, -32000), (Placement::Message, -32603)];
    for (placement, code) in cases {
        let scenario =
            demo_scenario().with_consent_error(ConsentErrorShape { code, placement, ..ConsentErrorShape::default() });
        let proxy = MockProxy::start(scenario).await?;
        let client = connect(&proxy.toolbox_url("demo"), Some("carol:9")).await?;
        let err = mcp_error(within(client.list_tools(None)).await?);
        assert_eq!(err.code.0, code, "{placement:?}");
        let head = "tools/list failed for 1 tool source(s), succeeded for 1 tool source(s)";
        let in_message = embedded_json(&err.message).ok();
        match placement {
            Placement::Data => {
                assert_eq!(err.message, head);
                assert!(in_message.is_none());
            }
            Placement::Both | Placement::Message => {
                assert!(err.message.starts_with(head));
                assert!(in_message.is_some());
            }
        }
        let in_data = err.data.clone();
        assert_eq!(in_data.is_some(), placement != Placement::Message, "{placement:?}");
        let payload = in_data.or(in_message).expect("payload somewhere");
        assert_eq!(payload["errors"][0]["error"]["code"], "CONSENT_REQUIRED");
        // The link in `data` works as well.
        assert_eq!(get(&link_of(&payload)).await?.0, 200);
        assert_eq!(tool_names(&client).await?.len(), 2);
    }
    Ok(())
}

#[tokio::test]
async fn call_time_consent() -> anyhow::Result<()> {
    let scenario = Scenario::new(Mode::Stateless).toolbox(
        ToolboxSpec::new("tb").source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo"))).source(
            SourceSpec::new("calendar", Auth::ConsentAtCall).tool(ToolSpec::fixed("read_calendar", "nothing today")),
        ),
    );
    let proxy = MockProxy::start(scenario).await?;
    let client = connect(&proxy.toolbox_url("tb"), Some("dave:3")).await?;
    assert_eq!(tool_names(&client).await?, ["echo", "read_calendar"]);

    let err = mcp_error(call(&client, "read_calendar", json!({})).await?);
    assert_eq!(err.code.0, -32006);
    let link = err.message.to_string();
    assert!(link.starts_with(&format!("{}/consent?", proxy.base_url())), "{link}");
    assert_eq!(
        err.data,
        Some(json!({"errors":[{"name":"calendar","type":"mcp","error":{"code":"CONSENT_REQUIRED","message": link}}]}))
    );
    assert_eq!(get(&link).await?.0, 200);
    let ok = call(&client, "read_calendar", json!({})).await??;
    assert_eq!(text_of(&ok), "nothing today");
    Ok(())
}

#[tokio::test]
async fn hard_error_gives_mixed_payload() -> anyhow::Result<()> {
    let mut broken = SourceSpec::new("broken", Auth::HardError);
    broken.error_message = "boom".into();
    let mut gated = SourceSpec::new("work_iq", Auth::Consent).tool(ToolSpec::echo("ask"));
    gated.source_type = "a2a_preview".into();
    let scenario = Scenario::new(Mode::Session).toolbox(
        ToolboxSpec::new("tb")
            .source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo")))
            .source(gated)
            .source(broken),
    );
    let proxy = MockProxy::start(scenario).await?;
    let client = connect(&proxy.toolbox_url("tb"), Some("erin:1")).await?;
    let err = mcp_error(within(client.list_tools(None)).await?);
    assert!(
        err.message.starts_with("tools/list failed for 2 tool source(s), succeeded for 1 tool source(s) {"),
        "{}",
        err.message
    );
    let payload = embedded_json(&err.message)?;
    let link = link_of(&payload);
    assert_eq!(
        payload,
        json!({"errors":[
            {"name":"work_iq","type":"a2a_preview","error":{"code":"CONSENT_REQUIRED","message": link}},
            {"name":"broken","type":"mcp","error":{"code":"INTERNAL_ERROR","message":"boom"}}
        ]})
    );
    // Consenting leaves only the hard error.
    proxy.grant("erin", "work_iq");
    let err = mcp_error(within(client.list_tools(None)).await?);
    let payload = embedded_json(&err.message)?;
    assert_eq!(payload["errors"].as_array().map(Vec::len), Some(1));
    assert_eq!(payload["errors"][0]["error"]["code"], "INTERNAL_ERROR");
    Ok(())
}

#[tokio::test]
async fn link_override_and_bad_links() -> anyhow::Result<()> {
    let scenario = Scenario::new(Mode::Stateless).toolbox(
        ToolboxSpec::new("tb").source(
            SourceSpec::new("send_email", Auth::Consent)
                .with_consent_link_override("javascript:alert(1)")
                .tool(ToolSpec::fixed("send_email", "sent")),
        ),
    );
    let proxy = MockProxy::start(scenario).await?;
    let raw = post_rpc(&proxy.toolbox_url("tb"), Some("f:1"), &rpc(3, "tools/list", json!({}))).await?;
    assert_eq!(raw.status, 200);
    let message = raw.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert_eq!(link_of(&embedded_json(&message)?), "javascript:alert(1)");

    let base = proxy.base_url();
    let bad_state = format!("{base}/consent?toolbox=tb&source=send_email&user=f&state=nope");
    assert_eq!(get(&bad_state).await?.0, 400);
    assert_eq!(get(&format!("{base}/consent?toolbox=tb")).await?.0, 400);
    assert!(proxy.state().consents.is_empty());
    Ok(())
}

#[tokio::test]
async fn tampered_link_is_rejected() -> anyhow::Result<()> {
    let proxy = MockProxy::start(demo_scenario()).await?;
    let client = connect(&proxy.toolbox_url("demo"), Some("gina:1")).await?;
    let err = mcp_error(within(client.list_tools(None)).await?);
    let link = link_of(&embedded_json(&err.message)?);
    let stolen = link.replace("user=gina", "user=mallory");
    assert_eq!(get(&stolen).await?.0, 400);
    assert!(proxy.state().consents.is_empty());
    Ok(())
}

#[tokio::test]
async fn control_routes_grant_revoke_state() -> anyhow::Result<()> {
    let proxy = MockProxy::start(demo_scenario()).await?;
    let base = proxy.base_url();
    let client = connect(&proxy.toolbox_url("demo"), None).await?;

    let (status, _) =
        post_json(&format!("{base}/_mock/grant"), &json!({"user": "container", "source": "send_email"})).await?;
    assert_eq!(status, 200);
    assert_eq!(tool_names(&client).await?.len(), 2);
    let (_, state) = get(&format!("{base}/_mock/state")).await?;
    let state: Value = serde_json::from_str(&state)?;
    assert_eq!(state["consents"]["container"], json!(["send_email"]));

    let (status, _) = post_json(&format!("{base}/_mock/revoke"), &json!({"user": ""})).await?;
    assert_eq!(status, 200);
    mcp_error(within(client.list_tools(None)).await?);
    // A typo in a control body is rejected.
    let (status, _) = post_json(&format!("{base}/_mock/grant"), &json!({"usr": "x", "source": "s"})).await?;
    assert!((400..500).contains(&status), "{status}");
    Ok(())
}
