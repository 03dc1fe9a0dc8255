use std::time::{Duration, Instant};

use agenthost_e2e::{Server, as_user, assert_well_formed, names, pairs, read_events, toolbox_env};
use agenthost_mock_proxy::{MockProxy, Scenario, demo_scenario};
use serde_json::{Value, json};

async fn server_for(proxy: &MockProxy, toolboxes: &str, extra: &[(&str, &str)]) -> Server {
    let mut env = toolbox_env(&proxy.base_url(), toolboxes);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Server::start(&pairs(&env)).await
}

fn output_types(r: &Value) -> Vec<String> {
    r["output"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap().to_string()).collect()
}

fn consent_link(r: &Value) -> String {
    r["output"].as_array().unwrap().iter().find(|i| i["type"] == "oauth_consent_request").unwrap()["consent_link"]
        .as_str()
        .unwrap()
        .to_string()
}

const SEND: &str = r#"call:send_email {"to":"bob@example.com"}"#;

#[tokio::test]
async fn consent_flow_per_user_with_readiness_untouched() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let s = server_for(&proxy, "demo", &[]).await;
    let (status, ready) = s.call("GET", "/readiness", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        ready,
        json!({"status":"ready","toolboxes":[{"name":"demo","state":"ConsentRequired","tools":0,"last_error":"consent_required","next_retry_ms":null}]})
    );

    // Streaming: created, in_progress, the consent item (added + done), incomplete.
    let alice1 = as_user("alice", 1);
    let resp = s.sse("/responses", Some(&json!({"input": SEND, "stream": true})), &pairs(&alice1)).await;
    let (events, _) = read_events(resp).await;
    assert_well_formed(&events);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.output_item.done",
            "response.incomplete"
        ]
    );
    let item = &events[3].data["item"];
    assert_eq!(item["type"], "oauth_consent_request");
    assert_eq!(item["server_label"], "send_email");
    assert!(item["id"].as_str().unwrap().starts_with("oacr_"));
    let link = item["consent_link"].as_str().unwrap().to_string();
    assert!(link.starts_with(&format!("{}/consent?", proxy.base_url())) && link.contains("user=alice"), "{link}");
    let done = &events[4].data["response"];
    assert_eq!((&done["status"], &done["incomplete_details"]), (&json!("incomplete"), &Value::Null));

    // The same prompt after visiting the link runs the tool.
    let r = s.http.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (_, _, after) = s.post(&json!({"input": SEND}), &pairs(&as_user("alice", 2))).await;
    assert_eq!(after["status"], "completed");
    assert_eq!(output_types(&after), ["function_call", "function_call_output", "message"]);
    assert_eq!(after["output"][1]["output"], "sent");
    assert_eq!(after["output"][2]["content"][0]["text"], "send_email returned: sent");

    // Bob still gets his own consent; alice's consent unblocks nobody else.
    let (_, _, bob) = s.post(&json!({"input": SEND}), &pairs(&as_user("bob", 1))).await;
    assert_eq!(bob["status"], "incomplete");
    assert!(consent_link(&bob).contains("user=bob"));
    let (status, ready_after) = s.call("GET", "/readiness", &[]).await;
    assert_eq!((status, &ready_after["toolboxes"][0]["state"]), (200, &json!("ConsentRequired")));

    // What reached the proxy: tokens and call ids, never the user id.
    let requests = proxy.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.header("authorization"), Some("Bearer e2e-secret-token"), "{r:?}");
        assert_eq!(r.header("foundry-features"), Some("Toolboxes=V1Preview"));
        assert!(r.header("x-agent-user-id").is_none(), "x-agent-user-id forwarded: {r:?}");
    }
    assert!(requests.iter().any(|r| r.header("x-agent-foundry-call-id") == Some("alice:2")));
    // The server's logs never carry the token or a full consent link.
    let log = s.log();
    assert!(!log.contains("e2e-secret-token"));
    // (Not just "state=": with colour gone from captured logs, a `state=` field is plain text.)
    let secret_state = link.split("state=").nth(1).unwrap();
    assert!(!log.contains(secret_state) && !log.contains("&state="), "consent link query logged");
}

#[tokio::test]
async fn consent_is_surfaced_even_with_store_false_and_history_keeps_it() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let s = server_for(&proxy, "demo", &[]).await;
    let (status, _, r) = s.post(&json!({"input": SEND, "store": false}), &pairs(&as_user("u", 1))).await;
    assert_eq!(status, 200);
    assert_eq!(
        (r["status"].as_str(), output_types(&r)),
        (Some("incomplete"), vec!["oauth_consent_request".to_string()])
    );
}

#[tokio::test]
async fn hanging_toolbox_does_not_hold_readiness_or_other_users() {
    let scenario = Scenario::from_toml_str(
        r#"
[[toolboxes]]
name = "fast"
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
[[toolboxes]]
name = "stuck"
  [[toolboxes.sources]]
  name = "slow"
    [[toolboxes.sources.tools]]
    name = "slow_tool"
  [[toolboxes.faults]]
  hang = true
"#,
    )
    .unwrap();
    let proxy = MockProxy::start(scenario).await.unwrap();
    let started = Instant::now();
    let mut env = toolbox_env(&proxy.base_url(), "fast,stuck");
    env.push(("AGENTHOST_TOOLBOX_STARTUP_TIMEOUT".into(), "1".into()));
    env.push(("AGENTHOST_TOOLBOX_REQUEST_TIMEOUT".into(), "2".into()));
    let s = Server::start(&pairs(&env)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "readiness waited {:?}", started.elapsed());
    let (_, ready) = s.call("GET", "/readiness", &[]).await;
    let states: Vec<(&str, &str)> = ready["toolboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("fast", "Healthy"), ("stuck", "Degraded")]);
    assert_eq!(ready["toolboxes"][1]["last_error"], "timeout");

    let t = Instant::now();
    let (_, _, r) = s.post(&json!({"input":"call:echo {\"text\":\"hi\"}"}), &pairs(&as_user("carol", 1))).await;
    assert_eq!(r["status"], "completed");
    // The stuck toolbox is reported to the client, and did not hold the request past its deadline.
    assert_eq!(output_types(&r), ["mcp_list_tools", "function_call", "function_call_output", "message"], "{r}");
    assert_eq!(r["output"][0]["server_label"], "stuck");
    assert_eq!(r["output"][2]["output"], "echo: hi");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[tokio::test]
async fn two_sources_needing_consent_give_two_items_and_mixed_errors_are_reported() {
    let scenario = Scenario::from_toml_str(
        r#"
[[toolboxes]]
name = "suite"
  [[toolboxes.sources]]
  name = "mail"
  auth = "consent"
    [[toolboxes.sources.tools]]
    name = "send_mail"
  [[toolboxes.sources]]
  name = "calendar"
  auth = "consent"
    [[toolboxes.sources.tools]]
    name = "read_calendar"
  [[toolboxes.sources]]
  name = "broken"
  auth = "hard_error"
"#,
    )
    .unwrap();
    let proxy = MockProxy::start(scenario).await.unwrap();
    let s = server_for(&proxy, "suite", &[]).await;
    let (_, _, r) = s.post(&json!({"input":"hello"}), &pairs(&as_user("dana", 1))).await;
    assert_eq!(r["status"], "incomplete");
    assert_eq!(output_types(&r), ["mcp_list_tools", "oauth_consent_request", "oauth_consent_request"]);
    let labels: Vec<&str> =
        r["output"].as_array().unwrap()[1..].iter().map(|i| i["server_label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["mail", "calendar"]);
    assert!(r["output"][0]["error"].as_str().is_some());
}

#[tokio::test]
async fn call_time_consent_closes_every_item_and_invalid_links_never_reach_clients() {
    let scenario = Scenario::from_toml_str(
        r#"
[[toolboxes]]
name = "cal"
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
  [[toolboxes.sources]]
  name = "calendar"
  auth = "consent_at_call"
    [[toolboxes.sources.tools]]
    name = "read_calendar"
    behaviour = { fixed = "nothing today" }
  [[toolboxes.sources]]
  name = "evil"
  auth = "consent_at_call"
  consent_link_override = "javascript:alert(1)"
    [[toolboxes.sources.tools]]
    name = "evil_tool"
"#,
    )
    .unwrap();
    let proxy = MockProxy::start(scenario).await.unwrap();
    let s = server_for(&proxy, "cal", &[]).await;
    let resp = s
        .sse(
            "/responses",
            Some(&json!({"input":"call:echo {\"text\":\"a\"} call:read_calendar","stream":true})),
            &pairs(&as_user("eve", 1)),
        )
        .await;
    let (events, _) = read_events(resp).await;
    assert_well_formed(&events);
    let last = &events.last().unwrap().data["response"];
    assert_eq!(last["status"], "incomplete");
    let types = output_types(last);
    assert_eq!(
        types,
        ["function_call", "function_call", "function_call_output", "function_call_output", "oauth_consent_request"]
    );
    assert_eq!(last["output"][2]["output"], "echo: a");
    assert!(last["output"][3]["output"].as_str().unwrap().starts_with("Consent required"));
    assert_eq!(last["output"][4]["server_label"], "calendar");

    let (_, _, r) = s.post(&json!({"input":"call:evil_tool"}), &pairs(&as_user("eve", 2))).await;
    let text = r.to_string();
    assert!(!text.contains("javascript:"), "{text}");
    assert!(!output_types(&r).contains(&"oauth_consent_request".to_string()));
    assert!(r["output"][1]["output"].as_str().unwrap().starts_with("Error:"), "{r}");
}

#[tokio::test]
async fn token_expiry_after_consent_asks_again_in_the_same_turn() {
    let scenario = Scenario::from_toml_str(
        r#"
[[toolboxes]]
name = "demo"
  [[toolboxes.sources]]
  name = "send_email"
  auth = "consent"
    [[toolboxes.sources.tools]]
    name = "send_email"
    behaviour = { fixed = "sent" }
  [[toolboxes.faults]]
  expire_after_calls = 1
"#,
    )
    .unwrap();
    let proxy = MockProxy::start(scenario).await.unwrap();
    let s = server_for(&proxy, "demo", &[]).await;
    proxy.grant("frank", "send_email");
    let (_, _, ok) = s.post(&json!({"input": SEND}), &pairs(&as_user("frank", 1))).await;
    assert_eq!(ok["status"], "completed", "{ok}");
    // The token expired after that call: the next call gets 401, the server re-lists for frank,
    // the proxy asks for consent again, and the turn ends with a consent item.
    let (_, _, again) = s.post(&json!({"input": SEND}), &pairs(&as_user("frank", 2))).await;
    assert_eq!(again["status"], "incomplete", "{again}");
    assert!(consent_link(&again).contains("user=frank"));
}

#[tokio::test]
async fn markers_strict_lazy_and_injection() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let strict = server_for(&proxy, "", &[]).await;
    let marker = |url: &str| json!({"input":"hi","tools":[{"type":"mcp","server_label":"x","server_url":url}]});
    let (status, _, err) = strict.post(&marker("foundry-toolbox://demo"), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "unknown_toolbox");
    assert_eq!(err["error"]["param"], "$.tools[0].server_url");
    for bad in ["foundry-toolbox://..%2f..%2fadmin", "foundry-toolbox://a%2fb", "foundry-toolbox://foo%3fx=1"] {
        let (status, _, err) = strict.post(&marker(bad), &[]).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(err["error"]["code"], "invalid_toolbox_name", "{bad}");
    }

    let lazy = server_for(&proxy, "", &[("AGENTHOST_TOOLBOX_STRICT", "false")]).await;
    let (_, _, r) = lazy.post(&marker("foundry-toolbox://demo"), &pairs(&as_user("gina", 1))).await;
    // A marker's consent is this request's alone: readiness and other requests are untouched.
    assert_eq!(r["status"], "incomplete");
    assert_eq!(output_types(&r), ["oauth_consent_request"]);
    let (_, ready) = lazy.call("GET", "/readiness", &[]).await;
    assert_eq!(ready, json!({"status":"ready","toolboxes":[]}));
    let (_, _, plain) = lazy.post(&json!({"input":"hi"}), &pairs(&as_user("gina", 2))).await;
    assert_eq!(plain["status"], "completed");
    let (_, _, echo) =
        lazy.post(&json!({"input":"call:echo {\"text\":\"x\"}","tools":[{"type":"mcp","server_label":"d","server_url":"foundry-toolbox://demo"}]}), &pairs(&as_user("gina", 3))).await;
    assert_eq!(echo["status"], "incomplete", "the demo toolbox needs gina's consent before any of its tools list");
}

#[tokio::test]
async fn many_users_one_gated_toolbox_every_response_ends_once() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let s = server_for(&proxy, "demo", &[]).await;
    let mut tasks = Vec::new();
    for n in 0..24u32 {
        let http = s.http.clone();
        let url = format!("{}/responses", s.base);
        tasks.push(tokio::spawn(async move {
            let user = format!("user{}", n % 8);
            let r = http
                .post(url)
                .header("x-agent-user-id", &user)
                .header("x-agent-foundry-call-id", format!("{user}:{n}"))
                .json(&json!({"input": SEND, "stream": true}))
                .send()
                .await
                .unwrap();
            let (events, _) = read_events(r).await;
            (user, events)
        }));
    }
    for t in tasks {
        let (user, events) = t.await.unwrap();
        assert_well_formed(&events);
        let last = &events.last().unwrap().data["response"];
        assert_eq!(last["status"], "incomplete");
        assert!(consent_link(last).contains(&format!("user={user}")));
    }
}

#[tokio::test]
async fn approvals_gate_calls_until_the_user_answers() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    proxy.grant("hank", "send_email");
    let s = server_for(&proxy, "demo", &[("AGENTHOST_REQUIRE_APPROVAL", "send_email")]).await;
    let (_, _, first) = s.post(&json!({"input": SEND}), &pairs(&as_user("hank", 1))).await;
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(output_types(&first), ["function_call", "mcp_approval_request"]);
    let req = &first["output"][1];
    assert_eq!((&req["server_label"], &req["name"]), (&json!("demo"), &json!("send_email")));
    assert!(!proxy.requests().iter().any(|r| r.tool.as_deref() == Some("send_email")), "ran before approval");

    // Another user cannot answer hank's approval.
    let answer = |approve: bool, prev: &Value| json!({"previous_response_id": prev, "input":[{"type":"mcp_approval_response","approval_request_id": req["id"],"approve": approve}]});
    let (status, _, _) = s.post(&answer(true, &first["id"]), &pairs(&as_user("ivan", 1))).await;
    assert_eq!(status, 404);
    let (status, _, approved) = s.post(&answer(true, &first["id"]), &pairs(&as_user("hank", 2))).await;
    assert_eq!(status, 200);
    assert_eq!(output_types(&approved), ["function_call_output", "message"]);
    assert_eq!(approved["output"][0]["output"], "sent");
    assert_eq!(proxy.requests().iter().filter(|r| r.tool.as_deref() == Some("send_email")).count(), 1);
    // Answering twice is refused.
    let (status, _, err) = s.post(&answer(true, &approved["id"]), &pairs(&as_user("hank", 3))).await;
    assert_eq!((status, &err["error"]["code"]), (400, &json!("unknown_approval_request")));
}

#[tokio::test]
async fn endpoint_without_credentials_fails_at_startup() {
    let mut s = Server::spawn(
        &[("FOUNDRY_PROJECT_ENDPOINT", "https://proj.example/api/projects/p"), ("TOOLBOX_NAME", "x")],
        &[],
    );
    let status = s.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(2));
    assert!(s.log().contains("toolbox credentials") || s.log().contains("token"), "{}", s.log());
}

/// W10: a required toolbox that cannot exist makes the container unready, visibly; an optional
/// one does not.
#[tokio::test]
async fn required_toolbox_failures_are_visible_and_fail_closed() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let mut env = toolbox_env(&proxy.base_url(), "demo,missing");
    env.push(("AGENTHOST_REQUIRED_TOOLBOXES".into(), "missing".into()));
    let s = Server::spawn(&pairs(&env), &[]);
    s.wait_live().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, body) = s.call("GET", "/readiness", &[]).await;
        if status == 503 && body["status"] == "unready" {
            break body;
        }
        assert!(Instant::now() < deadline, "never unready: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let missing = body["toolboxes"].as_array().unwrap().iter().find(|t| t["name"] == "missing").unwrap().clone();
    assert_eq!((&missing["state"], &missing["last_error"]), (&json!("Unhealthy"), &json!("not_found")));

    let optional = server_for(&proxy, "demo,missing", &[]).await;
    let (status, body) = optional.call("GET", "/readiness", &[]).await;
    assert_eq!((status, &body["status"]), (200, &json!("ready")));
}

/// W14: a marker's name keeps its case and its version reaches the proxy URL.
#[tokio::test]
async fn marker_case_and_version_reach_the_proxy() {
    let scenario = Scenario::from_toml_str(
        r#"
[[toolboxes]]
name = "SalesTools"
versions = ["2"]
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
"#,
    )
    .unwrap();
    let proxy = MockProxy::start(scenario).await.unwrap();
    let s = server_for(&proxy, "", &[("AGENTHOST_TOOLBOX_STRICT", "false")]).await;
    let body = json!({"input":"call:echo {\"text\":\"v2\"}",
        "tools":[{"type":"mcp","server_label":"s","server_url":"foundry-toolbox://SalesTools?version=2"}]});
    let (_, _, r) = s.post(&body, &pairs(&as_user("ivy", 1))).await;
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["output"][1]["output"], "echo: v2");
    let paths: Vec<String> = proxy.requests().iter().map(|r| r.path.clone()).collect();
    assert!(paths.iter().all(|p| p == "/toolboxes/SalesTools/versions/2/mcp"), "{paths:?}");
    // Markers are not offered to the model as tools of their own.
    assert!(!r["output"].to_string().contains("foundry-toolbox"));
}

/// W21/W22: consent items stay in the conversation history, so a client (or the next turn) can
/// see that consent was already requested.
#[tokio::test]
async fn consent_items_are_kept_in_history() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let s = server_for(&proxy, "demo", &[]).await;
    let (_, _, first) = s.post(&json!({"input": SEND}), &pairs(&as_user("jo", 1))).await;
    assert_eq!(first["status"], "incomplete");
    // W22: asking again in the same chain carries the same consent-request id (a fresh link).
    let (_, _, again) =
        s.post(&json!({"input": SEND, "previous_response_id": first["id"]}), &pairs(&as_user("jo", 9))).await;
    assert_eq!(again["output"][0]["id"], first["output"][0]["id"]);
    let (_, _, other_user) =
        s.post(&json!({"input": SEND, "previous_response_id": null}), &pairs(&as_user("kim", 1))).await;
    assert_ne!(other_user["output"][0]["id"], first["output"][0]["id"]);
    proxy.grant("jo", "send_email");
    let (_, _, second) =
        s.post(&json!({"input": SEND, "previous_response_id": first["id"]}), &pairs(&as_user("jo", 2))).await;
    assert_eq!(second["status"], "completed", "{second}");
    let (_, items) = s
        .call(
            "GET",
            &format!("/responses/{}/input_items?order=asc", second["id"].as_str().unwrap()),
            &pairs(&as_user("jo", 3)),
        )
        .await;
    let types: Vec<&str> = items["data"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["message", "oauth_consent_request", "message"]);
}

/// A per-user listing that meets one transient fault (503, with or without Retry-After, or a
/// dropped connection) is retried within the turn: the user keeps the toolbox's tools.
#[tokio::test]
async fn a_transient_fault_on_a_users_listing_is_retried_within_the_turn() {
    for fault in [
        "http_statuses = [503]",
        "http_statuses = [503]\n  retry_after = 1",
        "http_statuses = [429]",
        "drop_connection = 1",
    ] {
        let scenario = Scenario::from_toml_str(&format!(
            r#"
[[toolboxes]]
name = "demo"
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
  [[toolboxes.sources]]
  name = "send_email"
  auth = "consent"
    [[toolboxes.sources.tools]]
    name = "send_email"
    behaviour = {{ fixed = "sent" }}
  [[toolboxes.faults]]
  user = "alice"
  methods = ["tools/list"]
  {fault}
"#
        ))
        .unwrap();
        let proxy = MockProxy::start(scenario).await.unwrap();
        proxy.grant("alice", "send_email");
        let s = server_for(&proxy, "demo", &[]).await;
        let (_, _, r) = s.post(&json!({"input": SEND}), &pairs(&as_user("alice", 1))).await;
        assert_eq!(output_types(&r), ["function_call", "function_call_output", "message"], "{fault}: {r}");
        assert_eq!(r["output"][1]["output"], "sent");
        let lists = proxy
            .requests()
            .iter()
            .filter(|q| q.user == "alice" && q.jsonrpc_method.as_deref() == Some("tools/list"))
            .count();
        assert_eq!(lists, 2, "{fault}: one failed listing, one retry");
    }
}

/// When the retries run out, the turn reports the failure in words a user can act on, and the
/// failure is not cached past the fault: the next turn lists again and has the tools.
#[tokio::test]
async fn a_listing_failure_does_not_outlive_its_fault() {
    let scenario = Scenario::from_toml_str(
        r#"
[[toolboxes]]
name = "demo"
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
  [[toolboxes.sources]]
  name = "send_email"
  auth = "consent"
    [[toolboxes.sources.tools]]
    name = "send_email"
    behaviour = { fixed = "sent" }
  [[toolboxes.faults]]
  user = "alice"
  methods = ["tools/list"]
  http_statuses = [503, 503, 503]
"#,
    )
    .unwrap();
    let proxy = MockProxy::start(scenario).await.unwrap();
    proxy.grant("alice", "send_email");
    let s = server_for(&proxy, "demo", &[]).await;
    let (_, _, first) = s.post(&json!({"input": SEND}), &pairs(&as_user("alice", 1))).await;
    assert_eq!(output_types(&first)[0], "mcp_list_tools", "{first}");
    assert_eq!(
        first["output"][0]["error"],
        "Toolbox 'demo' could not list its tools: the toolbox answered HTTP 503. It was retried; its tools are missing from this answer. Send the message again in a moment. [http_503]"
    );
    let lists = || {
        proxy
            .requests()
            .iter()
            .filter(|q| q.jsonrpc_method.as_deref() == Some("tools/list") && q.user == "alice")
            .count()
    };
    assert_eq!(lists(), 3, "bounded: three attempts");
    // The three statuses are spent: the fault is over, and the next turn lists again.
    let (_, _, second) = s.post(&json!({"input": SEND}), &pairs(&as_user("alice", 2))).await;
    assert_eq!(output_types(&second), ["function_call", "function_call_output", "message"], "{second}");
}
