use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agenthost_e2e::{Server, as_user, assert_well_formed, names, pairs, read_events, toolbox_env};
use agenthost_mock_proxy::{MockProxy, Scenario};
use agenthost_model::mock::{MockChunk, MockEnd, MockOpenAi, MockTurn};
use serde_json::{Value, json};

fn model_env(mock: &MockOpenAi, provider: &str) -> Vec<(String, String)> {
    vec![
        ("AGENTHOST_MODEL_PROVIDER".into(), provider.into()),
        ("AGENTHOST_MODEL_BASE_URL".into(), mock.base_url()),
        ("AGENTHOST_MODEL".into(), "mock-model".into()),
        ("AGENTHOST_MODEL_TIMEOUT".into(), "2".into()),
    ]
}

async fn start(mut env: Vec<(String, String)>, extra: &[(&str, &str)]) -> Server {
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Server::start(&pairs(&env)).await
}

#[tokio::test]
async fn text_streams_through_with_the_exact_event_sequence() {
    let mock = MockOpenAi::start(vec![MockTurn::reply(vec![
        MockChunk::text("Hel"),
        MockChunk::text("lo!"),
        MockChunk::usage(11, 2),
    ])])
    .await;
    let s =
        start(model_env(&mock, "openai"), &[("OPENAI_API_KEY", "sk-e2e-key"), ("AGENTHOST_INSTRUCTIONS", "Be brief.")])
            .await;
    let body = json!({"model":"hosted-agent","input":"hi","instructions":"Answer in English.","stream":true});
    let (events, _) = read_events(s.sse("/responses", Some(&body), &[]).await).await;
    assert_well_formed(&events);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let done = &events[9].data["response"];
    assert_eq!(done["model"], "hosted-agent");
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello!");
    assert_eq!(done["usage"]["input_tokens"], 11);
    assert_eq!(done["usage"]["output_tokens"], 2);

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/responses");
    assert_eq!(r.header("authorization"), Some("Bearer sk-e2e-key"));
    assert_eq!(r.body["model"], "mock-model");
    assert_eq!(r.body["store"], false);
    assert_eq!(r.body["stream"], true);
    assert_eq!(r.body["instructions"], "Be brief.\n\nAnswer in English.");
    assert!(!s.log().contains("sk-e2e-key"));
}

#[tokio::test]
async fn parallel_tool_calls_through_the_toolbox_then_history_replays() {
    let proxy = MockProxy::start(
        Scenario::from_toml_str(
            r#"
[[toolboxes]]
name = "tools"
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
"#,
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let mut calls = MockChunk::function_call("call_a", "echo", &["{\"text\":", "\"one\"}"]);
    calls.extend(MockChunk::function_call("call_b", "echo", &["{\"text\":\"two\"}"]));
    let mock = MockOpenAi::start(vec![
        MockTurn::reply(calls),
        MockTurn::text(&["Both ", "echoed."]),
        MockTurn::text(&["Again."]),
    ])
    .await;
    let mut env = model_env(&mock, "openai-chat");
    env.extend(toolbox_env(&proxy.base_url(), "tools"));
    let s = start(env, &[]).await;
    let (_, _, r) = s.post(&json!({"input":"echo twice"}), &pairs(&as_user("ola", 1))).await;
    assert_eq!(r["status"], "completed", "{r}");
    let types: Vec<&str> = r["output"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["function_call", "function_call", "function_call_output", "function_call_output", "message"]);
    assert_eq!(r["output"][0]["arguments"], "{\"text\":\"one\"}");
    assert_eq!(r["output"][2]["call_id"], "call_a");
    assert_eq!(r["output"][2]["output"], "echo: one");
    assert_eq!(r["output"][3]["output"], "echo: two");
    assert_eq!(r["output"][4]["content"][0]["text"], "Both echoed.");
    // Upstream saw the tools, then the tool results as `tool` messages.
    let requests = mock.requests();
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].body["tools"][0]["function"]["name"], "echo");
    let second: Vec<&str> =
        requests[1].body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(second, ["user", "assistant", "tool", "tool"]);
    assert_eq!(requests[1].body["messages"][2]["tool_call_id"], "call_a");

    // A follow-up through previous_response_id replays the whole exchange.
    let (_, _, again) =
        s.post(&json!({"input":"again","previous_response_id": r["id"]}), &pairs(&as_user("ola", 2))).await;
    assert_eq!(again["status"], "completed");
    let requests = mock.requests();
    let third: Vec<&str> =
        requests[2].body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(third, ["user", "assistant", "tool", "tool", "assistant", "user"]);
}

#[tokio::test]
async fn consent_at_call_time_after_streamed_text() {
    let proxy = MockProxy::start(
        Scenario::from_toml_str(
            r#"
[[toolboxes]]
name = "mail"
  [[toolboxes.sources]]
  name = "send_email"
  auth = "consent_at_call"
    [[toolboxes.sources.tools]]
    name = "send_email"
    behaviour = { fixed = "sent" }
"#,
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let mut chunks = vec![MockChunk::text("Sending it now.")];
    chunks.extend(MockChunk::function_call("call_1", "send_email", &["{}"]));
    let mock = MockOpenAi::start(vec![MockTurn::reply(chunks)]).await;
    let mut env = model_env(&mock, "openai");
    env.extend(toolbox_env(&proxy.base_url(), "mail"));
    let s = start(env, &[]).await;
    let (events, _) = read_events(
        s.sse("/responses", Some(&json!({"input":"mail bob","stream":true})), &pairs(&as_user("pia", 1))).await,
    )
    .await;
    assert_well_formed(&events);
    let last = &events.last().unwrap().data["response"];
    assert_eq!(last["status"], "incomplete");
    let types: Vec<&str> = last["output"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["message", "function_call", "function_call_output", "oauth_consent_request"]);
    assert_eq!(last["output"][0]["content"][0]["text"], "Sending it now.");
    assert_eq!(last["output"][0]["status"], "completed");
    assert!(last["output"][3]["consent_link"].as_str().unwrap().contains("user=pia"));
    // The text delta went out before the consent item.
    let first_delta = events.iter().position(|e| e.name == "response.output_text.delta").unwrap();
    let consent = events.iter().position(|e| e.data["item"]["type"] == "oauth_consent_request").unwrap();
    assert!(first_delta < consent);
}

#[tokio::test]
async fn upstream_faults_map_to_stable_codes() {
    let mock = MockOpenAi::start(vec![
        MockTurn::error(429, json!({"error":{"message":"slow down"}})).retry_after("0"),
        MockTurn::text(&["ok"]),
        MockTurn::text(&["a", "b", "c"]).fail_after(1, MockEnd::ServerError("boom".into())),
        MockTurn::reply(vec![MockChunk::event(json!({"type":"response.future_event","x":1})), MockChunk::text("fine")]),
        MockTurn::error(400, json!({"error":{"code":"context_length_exceeded","message":"This model's maximum context length is 8 tokens."}})),
        MockTurn::hang(),
    ])
    .await;
    let s = start(model_env(&mock, "openai"), &[("AGENTHOST_MODEL_TIMEOUT", "1")]).await;
    let ask = || json!({"input":"x"});

    let (_, _, r) = s.post(&ask(), &[]).await;
    assert_eq!((&r["status"], &r["output"][0]["content"][0]["text"]), (&json!("completed"), &json!("ok")));
    assert_eq!(mock.requests().len(), 2, "429 was retried once");

    let (_, _, r) = s.post(&ask(), &[]).await;
    assert_eq!(r["status"], "failed");
    assert_eq!(r["error"]["code"], "model_unavailable");
    assert!(r["error"]["message"].as_str().unwrap().contains("boom"));
    assert_eq!(r["output"][0]["content"][0]["text"], "a", "partial output is kept, closed");
    assert_eq!(mock.requests().len(), 3, "no retry after output was streamed");

    let (_, _, r) = s.post(&ask(), &[]).await;
    assert_eq!((&r["status"], &r["output"][0]["content"][0]["text"]), (&json!("completed"), &json!("fine")));

    let (_, _, r) = s.post(&ask(), &[]).await;
    assert_eq!(r["status"], "failed");
    assert_eq!(r["error"]["code"], "context_length_exceeded");
    assert!(r["error"]["message"].as_str().unwrap().contains("maximum context length"));

    let t = std::time::Instant::now();
    let (_, _, r) = s.post(&ask(), &[]).await;
    assert_eq!(r["error"]["code"], "model_timeout");
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn azure_keys_go_in_the_api_key_header() {
    let mock = MockOpenAi::start(vec![MockTurn::text(&["x"])]).await;
    let s = start(model_env(&mock, "openai"), &[("AZURE_OPENAI_API_KEY", "azure-key")]).await;
    let (_, _, r) = s.post(&json!({"input":"x"}), &[]).await;
    assert_eq!(r["status"], "completed");
    let req = &mock.requests()[0];
    assert_eq!(req.header("api-key"), Some("azure-key"));
    assert_eq!(req.header("authorization"), None);
}

/// A token endpoint that counts requests and hands out `tok-<n>` tokens that are already
/// inside their refresh window, so every model call fetches a fresh one.
async fn token_server() -> (String, Arc<AtomicUsize>, Arc<log::Seen>) {
    use axum::Router;
    use axum::extract::{Query, State};
    use axum::http::HeaderMap;
    use axum::routing::{get, post};
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(log::Seen::default());
    type St = (Arc<AtomicUsize>, Arc<log::Seen>);
    async fn mi(
        State((c, seen)): State<St>,
        Query(q): Query<std::collections::HashMap<String, String>>,
        h: HeaderMap,
    ) -> axum::Json<Value> {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        seen.push(format!(
            "GET resource={} header={}",
            q.get("resource").cloned().unwrap_or_default(),
            h.get("x-identity-header").and_then(|v| v.to_str().ok()).unwrap_or("")
        ));
        axum::Json(json!({"access_token": format!("mi-{n}"), "expires_on": "0"}))
    }
    async fn wi(State((c, seen)): State<St>, body: String) -> axum::Json<Value> {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        seen.push(format!("POST {body}"));
        axum::Json(json!({"access_token": format!("wi-{n}"), "expires_in": 0, "token_type": "Bearer"}))
    }
    let app = Router::new()
        .route("/msi/token", get(mi))
        .route("/tenant-1/oauth2/v2.0/token", post(wi))
        .with_state((count.clone(), seen.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, count, seen)
}

mod log {
    /// Request summaries, in order.
    #[derive(Default)]
    pub struct Seen(std::sync::Mutex<Vec<String>>);
    impl Seen {
        pub fn push(&self, s: String) {
            self.0.lock().unwrap().push(s);
        }
        pub fn all(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }
}

#[tokio::test]
async fn managed_identity_tokens_are_fetched_and_refreshed() {
    let (base, count, seen) = token_server().await;
    let mock = MockOpenAi::start(vec![MockTurn::text(&["1"]), MockTurn::text(&["2"])]).await;
    let endpoint = format!("{base}/msi/token");
    let s =
        start(model_env(&mock, "openai"), &[("IDENTITY_ENDPOINT", &endpoint), ("IDENTITY_HEADER", "id-header-secret")])
            .await;
    for _ in 0..2 {
        let (_, _, r) = s.post(&json!({"input":"x"}), &[]).await;
        assert_eq!(r["status"], "completed", "{r}");
    }
    let auth: Vec<Option<String>> =
        mock.requests().iter().map(|r| r.header("authorization").map(str::to_string)).collect();
    assert_eq!(auth, [Some("Bearer mi-1".to_string()), Some("Bearer mi-2".to_string())]);
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert_eq!(seen.all()[0], "GET resource=https://cognitiveservices.azure.com header=id-header-secret");
    assert!(!s.log().contains("mi-1") && !s.log().contains("id-header-secret"));
}

#[tokio::test]
async fn workload_identity_posts_the_federated_assertion() {
    let (base, _count, seen) = token_server().await;
    let dir = std::env::temp_dir().join(format!("agenthost-wi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "federated-jwt").unwrap();
    let mock = MockOpenAi::start(vec![MockTurn::text(&["1"])]).await;
    let authority = format!("{base}/");
    let s = start(
        model_env(&mock, "openai"),
        &[
            ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
            ("AZURE_CLIENT_ID", "client-1"),
            ("AZURE_TENANT_ID", "tenant-1"),
            ("AZURE_AUTHORITY_HOST", &authority),
        ],
    )
    .await;
    let (_, _, r) = s.post(&json!({"input":"x"}), &[]).await;
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(mock.requests()[0].header("authorization"), Some("Bearer wi-1"));
    let posted = &seen.all()[0];
    for part in [
        "grant_type=client_credentials",
        "client_id=client-1",
        "scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default",
        "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer",
        "client_assertion=federated-jwt",
    ] {
        assert!(posted.contains(part), "{part} missing from {posted}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
