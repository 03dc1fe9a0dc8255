//! Hosted mode with no database: two real `agenthost` processes on the Foundry storage API (the
//! mock proxy's storage routes), the default store when `FOUNDRY_HOSTING_ENVIRONMENT` is set.

use std::collections::BTreeSet;

use agenthost_e2e::{Server, read_events};
use agenthost_mock_proxy::{MockProxy, Scenario};
use serde_json::{Value, json};

const TOKEN: &str = "e2e-storage-token";

async fn replicas(proxy: &MockProxy) -> (Server, Server) {
    let endpoint = format!("{}/api/projects/e2e", proxy.base_url());
    let env = [
        ("FOUNDRY_HOSTING_ENVIRONMENT", "1"),
        ("FOUNDRY_PROJECT_ENDPOINT", endpoint.as_str()),
        ("AGENTHOST_TOOLBOX_TOKEN", TOKEN),
        ("AGENTHOST_CONVERSATIONS_API", "on"),
    ];
    tokio::join!(Server::start(&env), Server::start(&env))
}

fn alice(n: u32) -> Vec<(&'static str, String)> {
    vec![("x-agent-user-id", "alice".into()), ("x-agent-foundry-call-id", format!("alice:{n}"))]
}

fn borrowed<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn texts(items: &Value) -> Vec<String> {
    items["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["content"][0]["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_response_stored_on_one_replica_is_read_continued_and_deleted_on_another() {
    let proxy = MockProxy::start(Scenario::default()).await.expect("mock proxy");
    let (a, b) = replicas(&proxy).await;

    let (status, ready) = a.send("GET", "/readiness", None, &[]).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        ready["store"],
        json!({"kind": "foundry", "target": format!("{}/api/projects/e2e/storage", proxy.base_url()), "state": "ready", "last_error": null})
    );

    let (status, _, first) = a.post(&json!({"input": "remember me"}), &borrowed(&alice(1))).await;
    assert_eq!((status, &first["status"]), (200, &json!("completed")), "{first}");
    assert_eq!(first["output"][0]["content"][0]["text"], "You said: remember me");
    let id = first["id"].as_str().unwrap().to_string();

    // Created on A: identical on B; another user (another call id's identity) sees nothing.
    let (status, on_b) = b.send("GET", &format!("/responses/{id}"), None, &borrowed(&alice(2))).await;
    assert_eq!((status, &on_b), (200, &first));
    let bob = [("x-agent-user-id", "bob"), ("x-agent-foundry-call-id", "bob:1")];
    let (status, err) = b.send("GET", &format!("/responses/{id}"), None, &bob).await;
    assert_eq!((status, &err["error"]["code"]), (404, &json!("not_found")), "{err}");

    // Continued on B with A's history.
    let (status, _, second) =
        b.post(&json!({"input": "and this", "previous_response_id": id}), &borrowed(&alice(3))).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["output"][0]["content"][0]["text"], "You said: and this");
    // remember me(2) + You said: remember me(4) + and this(2)
    assert_eq!(second["usage"]["input_tokens"], 8);
    let second_id = second["id"].as_str().unwrap();
    let (status, items) =
        a.send("GET", &format!("/responses/{second_id}/input_items?order=asc"), None, &borrowed(&alice(4))).await;
    assert_eq!(status, 200, "{items}");
    assert_eq!(texts(&items), ["remember me", "You said: remember me", "and this"]);

    // Deleted on B: a tombstone on A.
    let (status, _) = b.send("DELETE", &format!("/responses/{id}"), None, &borrowed(&alice(5))).await;
    assert_eq!(status, 200);
    let (status, err) = a.send("GET", &format!("/responses/{id}"), None, &borrowed(&alice(6))).await;
    assert_eq!((status, &err["error"]["code"]), (400, &json!("response_deleted")), "{err}");

    // A background stream on A: once its terminal event arrived, B reads the finished response.
    let resp = a
        .sse(
            "/responses",
            Some(&json!({"input": "in the background", "background": true, "stream": true})),
            &borrowed(&alice(7)),
        )
        .await;
    let (events, _) = read_events(resp).await;
    let done = &events.last().expect("events").data["response"];
    assert_eq!(done["status"], "completed");
    let bg_id = done["id"].as_str().unwrap();
    let (status, seen) = b.send("GET", &format!("/responses/{bg_id}"), None, &borrowed(&alice(8))).await;
    assert_eq!((status, &seen["status"], &seen["output"]), (200, &json!("completed"), &done["output"]));

    // A conversation created on A, answered on B, listed on A.
    let body = json!({"items": [{"role": "user", "content": "hello replicas"}]});
    let (status, conv) = a.send("POST", "/conversations", Some(&body), &borrowed(&alice(9))).await;
    assert_eq!(status, 200, "{conv}");
    let conv = conv["id"].as_str().unwrap().to_string();
    let (status, _, answer) = b.post(&json!({"conversation": conv}), &borrowed(&alice(10))).await;
    assert_eq!((status, &answer["output"][0]["content"][0]["text"]), (200, &json!("You said: hello replicas")));
    let (_, listed) =
        a.send("GET", &format!("/conversations/{conv}/items?order=asc"), None, &borrowed(&alice(11))).await;
    assert_eq!(texts(&listed), ["hello replicas", "You said: hello replicas"]);
    let (status, _) = b.send("GET", &format!("/conversations/{conv}"), None, &bob).await;
    assert_eq!(status, 404);

    // Every storage call: the bearer token, the request's own call id verbatim (none for the
    // replicas' own checks), never the user id.
    let calls = proxy.storage_requests();
    assert!(calls.len() > 20, "{}", calls.len());
    let mut call_ids = BTreeSet::new();
    for call in &calls {
        assert_eq!(call.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()), "{call:?}");
        assert_eq!(call.header("x-agent-user-id"), None, "{call:?}");
        call_ids.insert(call.header("x-agent-foundry-call-id").unwrap_or("(none)").to_string());
    }
    let expected: BTreeSet<String> =
        ["(none)", "bob:1"].into_iter().map(String::from).chain((1..=11).map(|n| format!("alice:{n}"))).collect();
    assert_eq!(call_ids, expected);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_storage_outage_is_503_store_unavailable_and_unstored_requests_go_on() {
    let proxy = MockProxy::start(Scenario::default()).await.expect("mock proxy");
    let (a, _b) = replicas(&proxy).await;
    let (status, _, first) = a.post(&json!({"input": "before"}), &borrowed(&alice(1))).await;
    assert_eq!(status, 200, "{first}");

    proxy.fail_storage(503, 10_000);
    // Reading history before creation: 503 store_unavailable, nothing created.
    let (status, _, err) =
        a.post(&json!({"input": "next", "previous_response_id": first["id"]}), &borrowed(&alice(2))).await;
    assert_eq!((status, &err["error"]["code"]), (503, &json!("store_unavailable")), "{err}");
    assert_eq!(err["error"]["message"], "The response store is unavailable; retry later.");
    let (status, err) =
        a.send("GET", &format!("/responses/{}", first["id"].as_str().unwrap()), None, &borrowed(&alice(3))).await;
    assert_eq!((status, &err["error"]["code"]), (503, &json!("store_unavailable")), "{err}");
    // A stored response whose write fails is not acknowledged: it ends failed.
    let (status, _, unstored) = a.post(&json!({"input": "lost"}), &borrowed(&alice(4))).await;
    assert_eq!(
        (status, &unstored["status"], &unstored["error"]["code"]),
        (200, &json!("failed"), &json!("store_unavailable"))
    );
    // store:false needs no storage.
    let (status, _, free) = a.post(&json!({"input": "ephemeral", "store": false}), &borrowed(&alice(5))).await;
    assert_eq!((status, &free["status"]), (200, &json!("completed")), "{free}");
    assert_eq!(free["output"][0]["content"][0]["text"], "You said: ephemeral");

    // The service returns: so does the server, without a restart.
    proxy.fail_storage(0, 0);
    let (status, _, next) =
        a.post(&json!({"input": "next", "previous_response_id": first["id"]}), &borrowed(&alice(6))).await;
    assert_eq!((status, &next["usage"]["input_tokens"]), (200, &json!(5)), "{next}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn hosted_without_a_project_endpoint_is_a_config_error_and_check_says_usable_or_not() {
    let out = std::process::Command::new(agenthost_e2e::binary("agenthost"))
        .arg("serve")
        .env_clear()
        .env("FOUNDRY_HOSTING_ENVIRONMENT", "1")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FOUNDRY_HOSTING_ENVIRONMENT") && stderr.contains("needs FOUNDRY_PROJECT_ENDPOINT"),
        "{stderr}"
    );

    let proxy = MockProxy::start(Scenario::default()).await.expect("mock proxy");
    // Async: the mock serves on this test's runtime while the check runs.
    let check = |token: Option<&str>| {
        let mut cmd = tokio::process::Command::new(agenthost_e2e::binary("agenthost"));
        cmd.args(["serve", "--store", "foundry", "--check"])
            .env_clear()
            .env("FOUNDRY_PROJECT_ENDPOINT", proxy.base_url());
        if let Some(token) = token {
            cmd.env("AGENTHOST_TOOLBOX_TOKEN", token);
        }
        cmd.output()
    };
    let out = check(Some(TOKEN)).await.expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("store {}/storage: usable (Foundry storage answers)\n", proxy.base_url())
    );
    proxy.expire("");
    let out = check(Some(TOKEN)).await.expect("run");
    assert_eq!(out.status.code(), Some(1));
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        line.starts_with(&format!("store {}/storage: not usable: ", proxy.base_url())) && line.contains("HTTP 401"),
        "{line}"
    );
    assert!(!line.contains(TOKEN) && line.lines().count() == 1, "{line}");
    proxy.shutdown().await;
}
