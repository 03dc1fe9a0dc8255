use agenthost_e2e::{EventReader, Server, as_user, pairs, toolbox_env};
use agenthost_mock_proxy::{MockProxy, demo_scenario};
use serde_json::{Value, json};

fn texts(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["content"].as_array().map_or_else(
                || i["type"].as_str().unwrap().to_string(),
                |c| c.iter().map(|p| p["text"].as_str().unwrap_or("")).collect::<String>(),
            )
        })
        .collect()
}

fn output_types(r: &Value) -> Vec<String> {
    r["output"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap().to_string()).collect()
}

const ALICE: &[(&str, &str)] = &[("x-agent-user-id", "alice")];
const BOB: &[(&str, &str)] = &[("x-agent-user-id", "bob")];

#[tokio::test]
async fn conversation_routes_shapes_and_partitioning() {
    let s = Server::start(&[]).await;
    let body = json!({"items":[{"type":"message","role":"user","content":"hello"}],"metadata":{"topic":"mail"}});
    let (status, conv) = s.send("POST", "/conversations", Some(&body), ALICE).await;
    assert_eq!(status, 200, "{conv}");
    let id = conv["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("conv_"), "{id}");
    assert_eq!((&conv["object"], &conv["metadata"]), (&json!("conversation"), &json!({"topic":"mail"})));
    assert!(conv["created_at"].as_u64().unwrap() > 0);

    let (status, got) = s.send("GET", &format!("/conversations/{id}"), None, ALICE).await;
    assert_eq!((status, &got), (200, &conv));
    // Another user's conversation is a 404, like a missing one, on every route.
    for (method, path, body) in [
        ("GET", format!("/conversations/{id}"), None),
        ("POST", format!("/conversations/{id}"), Some(json!({"metadata":{}}))),
        ("GET", format!("/conversations/{id}/items"), None),
        ("POST", format!("/conversations/{id}/items"), Some(json!({"items":[{"role":"user","content":"x"}]}))),
        ("DELETE", format!("/conversations/{id}"), None),
    ] {
        let (status, err) = s.send(method, &path, body.as_ref(), BOB).await;
        assert_eq!((status, &err["error"]["code"]), (404, &json!("not_found")), "{method} {path}");
        let (missing, _) = s.send(method, &path.replace(&id, "conv_missing"), body.as_ref(), ALICE).await;
        assert_eq!(missing, 404);
    }

    let add = json!({"items":[{"type":"message","role":"user","content":"two"},{"role":"assistant","content":[{"type":"output_text","text":"three"}]}]});
    let (status, added) = s.send("POST", &format!("/conversations/{id}/items"), Some(&add), ALICE).await;
    assert_eq!(status, 200, "{added}");
    assert_eq!((&added["object"], texts(&added)), (&json!("list"), vec!["two".to_string(), "three".into()]));
    let two = added["data"][0]["id"].as_str().unwrap().to_string();

    let (_, items) = s.send("GET", &format!("/conversations/{id}/items?order=asc"), None, ALICE).await;
    assert_eq!(texts(&items), ["hello", "two", "three"]);
    assert_eq!((&items["first_id"], &items["has_more"]), (&items["data"][0]["id"], &json!(false)));
    let (_, newest) = s.send("GET", &format!("/conversations/{id}/items?limit=1"), None, ALICE).await;
    assert_eq!((texts(&newest), &newest["has_more"]), (vec!["three".to_string()], &json!(true)));
    let after = items["data"][0]["id"].as_str().unwrap();
    let (_, rest) = s.send("GET", &format!("/conversations/{id}/items?order=asc&after={after}"), None, ALICE).await;
    assert_eq!(texts(&rest), ["two", "three"]);

    let (status, item) = s.send("GET", &format!("/conversations/{id}/items/{two}"), None, ALICE).await;
    assert_eq!((status, item["id"].as_str()), (200, Some(two.as_str())));
    let (status, _) = s.send("GET", &format!("/conversations/{id}/items/{two}"), None, BOB).await;
    assert_eq!(status, 404);

    let (status, updated) =
        s.send("POST", &format!("/conversations/{id}"), Some(&json!({"metadata":{"topic":"cal"}})), ALICE).await;
    assert_eq!((status, &updated["metadata"]), (200, &json!({"topic":"cal"})));

    let (status, after_delete) = s.send("DELETE", &format!("/conversations/{id}/items/{two}"), None, ALICE).await;
    assert_eq!((status, &after_delete["id"]), (200, &json!(id)));
    let (status, err) = s.send("DELETE", &format!("/conversations/{id}/items/{two}"), None, ALICE).await;
    assert_eq!((status, &err["error"]["code"]), (404, &json!("not_found")));
    let (_, items) = s.send("GET", &format!("/conversations/{id}/items?order=asc"), None, ALICE).await;
    assert_eq!(texts(&items), ["hello", "three"]);

    let (status, deleted) = s.send("DELETE", &format!("/conversations/{id}"), None, ALICE).await;
    assert_eq!((status, deleted), (200, json!({"id": id, "object": "conversation.deleted", "deleted": true})));
    let (status, _) = s.send("GET", &format!("/conversations/{id}"), None, ALICE).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn invalid_bodies_name_what_is_wrong() {
    let s = Server::start(&[]).await;
    let (status, err) = s
        .send(
            "POST",
            "/conversations",
            Some(&json!({"items":[{"role":"user","content":"a"},{"type":"message"}]})),
            ALICE,
        )
        .await;
    assert_eq!((status, &err["error"]["param"]), (400, &json!("$.items[1]")));
    let many: Vec<Value> = (0..21).map(|i| json!({"role":"user","content": format!("m{i}")})).collect();
    let (status, err) = s.send("POST", "/conversations", Some(&json!({"items": many})), ALICE).await;
    assert_eq!((status, &err["error"]["param"]), (400, &json!("items")));
    let (status, err) = s.send("POST", "/conversations", Some(&json!({"metadata":{"k":1}})), ALICE).await;
    assert_eq!((status, &err["error"]["code"]), (400, &json!("invalid_request_error")));
    let (_, conv) = s.send("POST", "/conversations", None, ALICE).await;
    let id = conv["id"].as_str().unwrap();
    let (status, err) = s.send("POST", &format!("/conversations/{id}/items"), Some(&json!({"items":[]})), ALICE).await;
    assert_eq!((status, &err["error"]["param"]), (400, &json!("$.items")));
    let (status, err) = s.send("GET", &format!("/conversations/{id}/items?limit=0"), None, ALICE).await;
    assert_eq!((status, &err["error"]["param"]), (400, &json!("limit")));
}

#[tokio::test]
async fn responses_on_a_conversation_read_and_extend_it() {
    // One model call per response: a tool call makes the response fail.
    let s = Server::start(&[("AGENTHOST_MAX_TOOL_ITERATIONS", "1")]).await;
    let body = json!({"items":[{"type":"message","role":"user","content":"hello there"}]});
    let (_, conv) = s.send("POST", "/conversations", Some(&body), ALICE).await;
    let id = conv["id"].as_str().unwrap().to_string();

    // No input: the conversation already ends with a user message.
    let (status, _, first) = s.post(&json!({"conversation": id}), ALICE).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["conversation"], json!({"id": id}));
    assert_eq!(first["output"][0]["content"][0]["text"], "You said: hello there");
    // Now it ends with the assistant's answer: input is required again.
    let (status, _, err) = s.post(&json!({"conversation": id}), ALICE).await;
    assert_eq!(
        (status, &err["error"]["code"], &err["error"]["param"]),
        (400, &json!("missing_input"), &json!("input"))
    );

    let (_, _, second) = s.post(&json!({"conversation": {"id": id}, "input": "and more"}), ALICE).await;
    // hello there(2) + You said: hello there(4) + and more(2)
    assert_eq!(second["usage"]["input_tokens"], 8);
    let (_, items) = s.send("GET", &format!("/conversations/{id}/items?order=asc"), None, ALICE).await;
    assert_eq!(texts(&items), ["hello there", "You said: hello there", "and more", "You said: and more"]);

    // A failed response's items stay out of the conversation.
    let (_, _, failed) = s.post(&json!({"conversation": id, "input": "call:nothing {}"}), ALICE).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let (_, items) = s.send("GET", &format!("/conversations/{id}/items"), None, ALICE).await;
    assert_eq!(items["data"].as_array().unwrap().len(), 4);

    // A conversation named only in a request behaves the same, and is its owner's only.
    let (_, _, named) = s.post(&json!({"conversation": "conv_named_only", "input": "hi"}), ALICE).await;
    assert_eq!(named["status"], "completed");
    let (status, got) = s.send("GET", "/conversations/conv_named_only", None, ALICE).await;
    assert_eq!((status, &got["id"]), (200, &json!("conv_named_only")));
    let (_, items) = s.send("GET", "/conversations/conv_named_only/items?order=asc", None, ALICE).await;
    assert_eq!(texts(&items), ["hi", "You said: hi"]);
    let (status, _) = s.send("GET", "/conversations/conv_named_only", None, BOB).await;
    assert_eq!(status, 404);
    // Bob's request on alice's conversation id starts bob's own, empty one.
    let (_, _, bobs) = s.post(&json!({"conversation": id, "input": "x"}), BOB).await;
    assert_eq!(bobs["usage"]["input_tokens"], 1);

    // Deleting the conversation deletes its items, not the responses.
    let (status, _) = s.send("DELETE", &format!("/conversations/{id}"), None, ALICE).await;
    assert_eq!(status, 200);
    let (status, _) = s.send("GET", &format!("/responses/{}", second["id"].as_str().unwrap()), None, ALICE).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn one_response_at_a_time_per_conversation() {
    let s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "200")]).await;
    let (_, conv) = s.send("POST", "/conversations", None, ALICE).await;
    let id = conv["id"].as_str().unwrap().to_string();
    let resp = s
        .sse("/responses", Some(&json!({"conversation": id, "input": "slow words here", "stream": true})), ALICE)
        .await;
    let mut events = EventReader::new(resp);
    let created = events.next().await.expect("created");
    assert_eq!(created.name, "response.created");
    let holder = created.data["response"]["id"].as_str().unwrap().to_string();

    let (status, _, err) = s.post(&json!({"conversation": id, "input": "meanwhile"}), ALICE).await;
    assert_eq!(
        (status, &err["error"]["code"], &err["error"]["param"]),
        (409, &json!("conversation_locked"), &json!("conversation"))
    );
    assert!(err["error"]["message"].as_str().unwrap().contains(&holder));
    // Another user's conversation of the same id, and other conversations, are not held.
    let (status, _, _) = s.post(&json!({"conversation": id, "input": "x"}), BOB).await;
    assert_eq!(status, 200);

    while let Some(event) = events.next().await {
        if event.name == "response.completed" {
            break;
        }
    }
    let (status, _, after) = s.post(&json!({"conversation": id, "input": "now"}), ALICE).await;
    assert_eq!((status, &after["status"]), (200, &json!("completed")));
    let (_, items) = s.send("GET", &format!("/conversations/{id}/items?order=asc"), None, ALICE).await;
    assert_eq!(texts(&items), ["slow words here", "You said: slow words here", "now", "You said: now"]);
}

const SEND: &str = r#"call:send_email {"to":"bob@example.com"}"#;

#[tokio::test]
async fn consent_and_approvals_on_a_conversation() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let mut env = toolbox_env(&proxy.base_url(), "demo");
    env.push(("AGENTHOST_REQUIRE_APPROVAL".into(), "send_email".into()));
    let s = Server::start(&pairs(&env)).await;
    let user = |n| as_user("carol", n);
    let (_, conv) = s
        .send("POST", "/conversations", Some(&json!({"items":[{"role":"user","content": SEND}]})), &pairs(&user(1)))
        .await;
    let id = conv["id"].as_str().unwrap().to_string();

    // Consent first: the response is incomplete with the link; the conversation stays ready for
    // the same prompt.
    let (_, _, first) = s.post(&json!({"conversation": id}), &pairs(&user(2))).await;
    assert_eq!(
        (&first["status"], output_types(&first)),
        (&json!("incomplete"), vec!["oauth_consent_request".to_string()])
    );
    let link = first["output"][0]["consent_link"].as_str().unwrap().to_string();
    assert_eq!(s.http.get(&link).send().await.unwrap().status(), 200);

    // Re-sent as it was (the consent round trip left the conversation unchanged): the call now
    // waits for approval.
    let (_, _, second) = s.post(&json!({"conversation": id}), &pairs(&user(3))).await;
    assert_eq!(output_types(&second), ["function_call", "mcp_approval_request"], "{second}");
    let request_id = second["output"][1]["id"].as_str().unwrap().to_string();
    assert!(!proxy.requests().iter().any(|r| r.tool.as_deref() == Some("send_email")));

    // The approval goes on the conversation as input; the held call runs.
    let answer = json!({"conversation": id, "input":[{"type":"mcp_approval_response","approval_request_id": request_id,"approve": true}]});
    let (status, _, approved) = s.post(&answer, &pairs(&user(4))).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(output_types(&approved), ["function_call_output", "message"]);
    assert_eq!(approved["output"][0]["output"], "sent");
    assert_eq!(proxy.requests().iter().filter(|r| r.tool.as_deref() == Some("send_email")).count(), 1);
    let (_, items) = s.send("GET", &format!("/conversations/{id}/items?order=asc"), None, &pairs(&user(5))).await;
    let types: Vec<&str> = items["data"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "message",
            "function_call",
            "mcp_approval_request",
            "mcp_approval_response",
            "function_call_output",
            "message"
        ]
    );
}

#[tokio::test]
async fn the_api_is_off_in_hosted_mode_unless_named() {
    let hosted = [("FOUNDRY_HOSTING_ENVIRONMENT", "1"), ("AGENTHOST_STORE", "memory")];
    let s = Server::start(&hosted).await;
    let (status, err) =
        s.send("POST", "/conversations", None, &[("x-agent-user-id", "u"), ("x-agent-foundry-call-id", "c")]).await;
    assert_eq!((status, &err["error"]["message"]), (404, &json!("No such route.")));
    let s = Server::start(&[
        ("FOUNDRY_HOSTING_ENVIRONMENT", "1"),
        ("AGENTHOST_STORE", "memory"),
        ("AGENTHOST_CONVERSATIONS_API", "on"),
    ])
    .await;
    let (status, _) =
        s.send("POST", "/conversations", None, &[("x-agent-user-id", "u"), ("x-agent-foundry-call-id", "c")]).await;
    assert_eq!(status, 200);
    let s = Server::start(&[("AGENTHOST_CONVERSATIONS_API", "off")]).await;
    let (status, _) = s.send("POST", "/conversations", None, &[]).await;
    assert_eq!(status, 404);
}
