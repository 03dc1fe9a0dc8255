//! Request `mcp` tools by `server_url` through the real binary, against the mock proxy's MCP
//! endpoint (MCP over HTTP on loopback): items, events, approvals and list reuse, secrets, and
//! the outbound-safety refusals. (Real third-party servers: `real_mcp`.)

use agenthost_e2e::{Server, as_user, assert_well_formed, names, pairs, read_events};
use agenthost_mock_proxy::{Auth, Behaviour, MockProxy, Mode, Scenario, SourceSpec, ToolSpec, ToolboxSpec};
use serde_json::{Value, json};

/// An MCP server (the mock proxy's toolbox endpoint) with `echo` and a failing `fail`.
async fn mcp_server() -> MockProxy {
    let echo = ToolSpec::echo("echo").with_description("Echoes its `text` argument back.").with_schema(json!({
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"]
    }));
    let fail = ToolSpec::new("fail", Behaviour::Error("it broke".into()));
    let scenario = Scenario::new(Mode::Session).toolbox(
        ToolboxSpec::new("demo")
            .source(SourceSpec::new("echo", Auth::None).tool(echo))
            .source(SourceSpec::new("fail", Auth::None).tool(fail)),
    );
    MockProxy::start(scenario).await.unwrap()
}

const PRIVATE_OK: (&str, &str) = ("AGENTHOST_MCP_ALLOW_PRIVATE_NETWORKS", "true");

fn types(r: &Value) -> Vec<&str> {
    r["output"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect()
}

fn demo_tool(proxy: &MockProxy, approval: Value) -> Value {
    json!({
        "type": "mcp",
        "server_label": "demo",
        "server_url": format!("{}/toolboxes/demo/mcp", proxy.base_url()),
        "server_description": "The demo tools.",
        "headers": {"x-api-key": "header-secret-1"},
        "authorization": "token-secret-2",
        "require_approval": approval,
    })
}

#[tokio::test]
async fn a_call_is_an_mcp_call_item_and_secrets_stay_with_the_server() {
    let proxy = mcp_server().await;
    let s = Server::start(&[PRIVATE_OK]).await;
    let body = json!({"input": r#"call:echo {"text":"hi"}"#, "tools": [demo_tool(&proxy, json!("never"))]});
    let (status, _, r) = s.post(&body, &pairs(&as_user("alice", 1))).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "completed");
    assert_eq!(types(&r), ["mcp_list_tools", "mcp_call", "message"], "{r}");
    let list = &r["output"][0];
    assert_eq!(list["server_label"], "demo");
    let listed: Vec<&str> = list["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(listed, ["echo", "fail"]);
    assert_eq!(list["tools"][0]["description"], "Echoes its `text` argument back.");
    assert_eq!(list["tools"][0]["input_schema"]["required"], json!(["text"]));
    assert!(list["id"].as_str().unwrap().starts_with("mcpl_"));
    let call = &r["output"][1];
    assert_eq!(
        (&call["server_label"], &call["name"], &call["arguments"], &call["output"], &call["status"]),
        (&json!("demo"), &json!("echo"), &json!(r#"{"text":"hi"}"#), &json!("echo: hi"), &json!("completed"))
    );
    assert!(call["id"].as_str().unwrap().starts_with("mcp_"));
    assert!(call.get("error").is_none());
    assert_eq!(r["output"][2]["content"][0]["text"], "echo returned: echo: hi");

    // The echoed tool has no credentials, here and in the stored response.
    let echoed = &r["tools"][0];
    assert_eq!(echoed["server_label"], "demo");
    assert!(echoed.get("headers").is_none() && echoed.get("authorization").is_none(), "{echoed}");
    let id = r["id"].as_str().unwrap();
    let (_, stored) = s.call("GET", &format!("/responses/{id}"), &pairs(&as_user("alice", 2))).await;
    assert_eq!(stored["output"], r["output"]);
    let text = stored.to_string();
    assert!(!text.contains("header-secret-1") && !text.contains("token-secret-2"), "{text}");

    // The server got them, on every request; the platform's user id never.
    let requests = proxy.requests();
    assert!(requests.iter().any(|q| q.jsonrpc_method.as_deref() == Some("tools/call")));
    for q in &requests {
        assert_eq!(q.header("authorization"), Some("Bearer token-secret-2"), "{q:?}");
        assert_eq!(q.header("x-api-key"), Some("header-secret-1"));
        assert!(q.header("x-agent-user-id").is_none(), "{q:?}");
    }
    let log = s.log();
    assert!(!log.contains("header-secret-1") && !log.contains("token-secret-2"), "a secret was logged");
}

#[tokio::test]
async fn streaming_follows_openai_event_order() {
    let proxy = mcp_server().await;
    let s = Server::start(&[PRIVATE_OK]).await;
    let body =
        json!({"input": r#"call:echo {"text":"yo"}"#, "stream": true, "tools": [demo_tool(&proxy, json!("never"))]});
    let (events, _) = read_events(s.sse("/responses", Some(&body), &[]).await).await;
    assert_well_formed(&events);
    let all = names(&events);
    assert_eq!(
        &all[..14],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.mcp_list_tools.in_progress",
            "response.mcp_list_tools.completed",
            "response.output_item.done",
            "response.output_item.added",
            "response.mcp_call.in_progress",
            "response.mcp_call_arguments.delta",
            "response.mcp_call_arguments.done",
            "response.mcp_call.completed",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
        ]
    );
    assert_eq!(all.last(), Some(&"response.completed"));
    let added = &events[6].data["item"];
    assert_eq!(
        (&added["type"], &added["status"], &added["arguments"]),
        (&json!("mcp_call"), &json!("in_progress"), &json!(""))
    );
    assert_eq!(events[8].data["delta"], r#"{"text":"yo"}"#);
    assert_eq!(events[9].data["arguments"], r#"{"text":"yo"}"#);
    assert_eq!(events[11].data["item"]["output"], "echo: yo");
    assert_eq!(events[10].data["item_id"], events[11].data["item"]["id"]);
}

#[tokio::test]
async fn approval_is_the_default_and_the_next_turn_reuses_the_list() {
    let proxy = mcp_server().await;
    let s = Server::start(&[PRIVATE_OK]).await;
    let tools = json!([demo_tool(&proxy, Value::Null)]);
    let (_, _, first) = s.post(&json!({"input": r#"call:echo {"text":"ok?"}"#, "tools": tools}), &[]).await;
    assert_eq!(first["status"], "completed");
    assert_eq!(types(&first), ["mcp_list_tools", "mcp_approval_request"]);
    let req = &first["output"][1];
    assert_eq!(
        (&req["server_label"], &req["name"], &req["arguments"]),
        (&json!("demo"), &json!("echo"), &json!(r#"{"text":"ok?"}"#))
    );
    let calls =
        |p: &MockProxy| p.requests().iter().filter(|q| q.jsonrpc_method.as_deref() == Some("tools/call")).count();
    let lists =
        |p: &MockProxy| p.requests().iter().filter(|q| q.jsonrpc_method.as_deref() == Some("tools/list")).count();
    assert_eq!((calls(&proxy), lists(&proxy)), (0, 1), "nothing ran before approval");

    let answer = json!({"type": "mcp_approval_response", "approval_request_id": req["id"], "approve": true});
    let next = json!({"previous_response_id": first["id"], "input": [answer], "tools": tools});
    let (status, _, second) = s.post(&next, &[]).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(types(&second), ["mcp_call", "message"]);
    let call = &second["output"][0];
    assert_eq!((&call["output"], &call["approval_request_id"]), (&json!("echo: ok?"), &req["id"]));
    assert_eq!(second["output"][1]["content"][0]["text"], "echo returned: echo: ok?");
    assert_eq!((calls(&proxy), lists(&proxy)), (1, 1), "the list was reused, the call ran once");

    // The same approval cannot run the call twice.
    let again = json!({"previous_response_id": second["id"], "input": [answer], "tools": tools});
    let (status, _, err) = s.post(&again, &[]).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("unknown_approval_request")));

    // A denial runs nothing and the model is told.
    let (_, _, third) = s.post(&json!({"input": r#"call:echo {"text":"no"}"#, "tools": tools}), &[]).await;
    let deny =
        json!({"type": "mcp_approval_response", "approval_request_id": third["output"][1]["id"], "approve": false});
    let (_, _, denied) =
        s.post(&json!({"previous_response_id": third["id"], "input": [deny], "tools": tools}), &[]).await;
    assert_eq!(types(&denied), ["message"]);
    assert_eq!(denied["output"][0]["content"][0]["text"], "echo returned: Error: the user denied this tool call");
    assert_eq!(calls(&proxy), 1);
}

#[tokio::test]
async fn an_unreachable_server_is_a_list_error_and_the_model_still_answers() {
    let port = agenthost_e2e::free_port();
    let s = Server::start(&[PRIVATE_OK]).await;
    let tool = json!({"type":"mcp","server_label":"gone","server_url":format!("http://127.0.0.1:{port}/mcp"),"require_approval":"never"});
    let (status, _, r) = s.post(&json!({"input": "hello", "tools": [tool]}), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(r["status"], "completed");
    assert_eq!(types(&r), ["mcp_list_tools", "message"]);
    let error = r["output"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("Could not list the tools of MCP server 'gone': could not connect"), "{error}");
    assert_eq!(r["output"][1]["content"][0]["text"], "You said: hello");
}

#[tokio::test]
async fn outbound_safety_refuses_before_creation() {
    let s = Server::start(&[]).await;
    let cases = [
        ("http://127.0.0.1:9/mcp", "scheme"),
        ("https://127.0.0.1/mcp", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link"),
        ("https://[fd00:ec2::254]/", "private"),
        ("https://10.1.2.3/mcp", "private"),
        ("https://localhost/mcp", "loopback"),
    ];
    for (url, rule) in cases {
        let tool = json!({"type":"mcp","server_label":"x","server_url":url});
        let (status, _, err) =
            s.post(&json!({"input": "hi", "tools": [json!({"type":"function","name":"f"}), tool]}), &[]).await;
        assert_eq!(status, 400, "{url}: {err}");
        assert_eq!(err["error"]["code"], "mcp_server_url_forbidden", "{url}");
        assert_eq!(err["error"]["param"], "$.tools[1].server_url");
        let message = err["error"]["message"].as_str().unwrap().to_ascii_lowercase();
        assert!(message.contains(rule) && message.contains("'x'"), "{url}: {message}");
    }
    // Nothing was created.
    let (status, _, _) = s.post(&json!({"input": "hi"}), &[]).await;
    assert_eq!(status, 200);

    let off = Server::start(&[("AGENTHOST_MCP_URL_TOOLS", "off")]).await;
    let tool = json!({"type":"mcp","server_label":"x","server_url":"https://mcp.example.com/mcp"});
    let (status, _, err) = off.post(&json!({"input": "hi", "tools": [tool]}), &[]).await;
    assert_eq!(
        (status, err["error"]["code"].as_str(), err["error"]["param"].as_str()),
        (400, Some("mcp_url_tools_disabled"), Some("$.tools[0].server_url"))
    );
    // Toolbox markers are not URL tools.
    let marker = json!({"type":"mcp","server_label":"m","server_url":"foundry-toolbox://demo"});
    let (status, _, err) = off.post(&json!({"input": "hi", "tools": [marker]}), &[]).await;
    assert_ne!(err["error"]["code"], "mcp_url_tools_disabled", "{status} {err}");

    let allow = Server::start(&[PRIVATE_OK, ("AGENTHOST_MCP_ALLOWED_HOSTS", "*.example.com")]).await;
    let tool = json!({"type":"mcp","server_label":"x","server_url":"http://127.0.0.1:9/mcp"});
    let (status, _, err) = allow.post(&json!({"input": "hi", "tools": [tool]}), &[]).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("mcp_server_url_forbidden")));
}

#[tokio::test]
async fn malformed_mcp_tools_are_400_with_the_field() {
    let s = Server::start(&[]).await;
    let bad = [
        (json!({"type":"mcp","server_url":"https://a.example/mcp"}), "$.tools[0].server_label"),
        (
            json!({"type":"mcp","server_label":"a","server_url":"https://a.example/mcp","headers":{"accept":"x"}}),
            "$.tools[0].headers.accept",
        ),
        (
            json!({"type":"mcp","server_label":"a","server_url":"https://a.example/mcp","require_approval":"maybe"}),
            "$.tools[0].require_approval",
        ),
    ];
    for (tool, param) in bad {
        let (status, _, err) = s.post(&json!({"input": "hi", "tools": [tool]}), &[]).await;
        assert_eq!(
            (status, err["error"]["code"].as_str(), err["error"]["param"].as_str()),
            (400, Some("invalid_mcp_tool"), Some(param))
        );
    }
}

#[tokio::test]
async fn a_tool_error_result_is_a_failed_call_with_its_text() {
    let proxy = mcp_server().await;
    let s = Server::start(&[PRIVATE_OK]).await;
    let body = json!({"input": "call:fail", "tools": [demo_tool(&proxy, json!("never"))]});
    let (_, _, r) = s.post(&body, &[]).await;
    assert_eq!(types(&r), ["mcp_list_tools", "mcp_call", "message"], "{r}");
    let call = &r["output"][1];
    assert_eq!((&call["status"], &call["error"]), (&json!("failed"), &json!("it broke")));
    assert!(call.get("output").is_none());
    assert_eq!(r["output"][2]["content"][0]["text"], "fail returned: Error: it broke");
}

#[tokio::test]
async fn a_stateless_server_answering_plain_json_works_too() {
    let scenario = Scenario::new(Mode::Stateless)
        .toolbox(ToolboxSpec::new("demo").source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo"))));
    let proxy = MockProxy::start(scenario).await.unwrap();
    let s = Server::start(&[PRIVATE_OK]).await;
    let body = json!({"input": r#"call:echo {"text":"json"}"#, "tools": [demo_tool(&proxy, json!("never"))]});
    let (_, _, r) = s.post(&body, &[]).await;
    assert_eq!(types(&r), ["mcp_list_tools", "mcp_call", "message"], "{r}");
    assert_eq!(r["output"][1]["output"], "echo: json");
    // No session: every request stood alone, and none carried a session id.
    assert!(proxy.requests().iter().all(|q| q.header("mcp-session-id").is_none()));
}

#[tokio::test]
async fn an_oauth_challenge_names_the_server_and_the_missing_authorization() {
    // A server that wants an OAuth token (MCP authorization spec): 401 with resource metadata.
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [(
                "www-authenticate",
                r#"Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource""#,
            )],
            "",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let s = Server::start(&[PRIVATE_OK]).await;
    let tool = json!({"type":"mcp","server_label":"crm","server_url":url,"require_approval":"never"});
    let (status, _, r) = s.post(&json!({"input": "hi", "tools": [tool]}), &[]).await;
    assert_eq!((status, &r["status"]), (200, &json!("completed")));
    assert_eq!(types(&r), ["mcp_list_tools", "message"]);
    assert_eq!(
        r["output"][0]["error"],
        "Could not list the tools of MCP server 'crm': the server requires authorization; give an OAuth access token in the tool's 'authorization' (HTTP 401; OAuth resource metadata at http://127.0.0.1/.well-known/oauth-protected-resource)"
    );
}
