use agenthost_e2e::{Server, read_events};
use serde_json::json;

#[tokio::test]
async fn hosted_without_call_id_is_501_before_creation() {
    let s = Server::start(&[("FOUNDRY_HOSTING_ENVIRONMENT", "1"), ("AGENTHOST_STORE", "memory")]).await;
    for headers in [&[][..], &[("x-agent-foundry-call-id", "   ")][..]] {
        let (status, h, body) = s.post(&json!({"input":"x"}), headers).await;
        assert_eq!(status, 501);
        assert_eq!(h["x-platform-error-source"], "platform");
        assert_eq!(body["error"]["code"], "unsupported_container_protocol_version");
        assert_eq!(
            body["error"]["message"],
            "Unsupported responses protocol version. This agent requires responses protocol v2.0.0"
        );
    }
    // Streaming requests get the HTTP status too, not a 200 stream.
    let (status, _, _) = s.post(&json!({"input":"x","stream":true}), &[]).await;
    assert_eq!(status, 501);
    let (status, _, body) = s.post(&json!({"input":"x"}), &[("x-agent-foundry-call-id", "c1")]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "missing_user_id");
    let (status, _, body) =
        s.post(&json!({"input":"x"}), &[("x-agent-foundry-call-id", "c1"), ("x-agent-user-id", "u1")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "completed");
}

#[tokio::test]
async fn local_runs_tolerate_missing_platform_headers() {
    let s = Server::start(&[]).await;
    let (status, _, _) = s.post(&json!({"input":"x"}), &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn identity_headers_and_echoes() {
    let s = Server::start(&[
        ("FOUNDRY_AGENT_NAME", "my-agent"),
        ("FOUNDRY_AGENT_VERSION", "3"),
        ("FOUNDRY_AGENT_SESSION_ID", "session-from-env"),
    ])
    .await;
    let rid = "caresp_0123456789abcdef00ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let (_, h, body) =
        s.post(&json!({"input":"x"}), &[("x-agent-response-id", rid), ("x-request-id", "req-123")]).await;
    assert_eq!(body["id"], rid);
    assert_eq!(h["x-request-id"], "req-123");
    assert_eq!(h["x-agent-session-id"], "session-from-env");
    assert_eq!(body["agent_session_id"], "session-from-env");
    assert_eq!(body["agent_reference"], json!({"type":"agent_reference","name":"my-agent","version":"3"}));
    let (_, h, body) = s
        .post(
            &json!({"input":"x","agent_session_id":"mine","agent_reference":{"type":"agent_reference","name":"other"}}),
            &[],
        )
        .await;
    assert_eq!(h["x-agent-session-id"], "mine");
    assert_eq!(body["agent_reference"], json!({"type":"agent_reference","name":"other"}));
    assert_eq!(body["output"][0]["agent_reference"], json!({"type":"agent_reference","name":"other"}));
}

#[tokio::test]
async fn derived_session_ids_follow_the_chain() {
    let s = Server::start(&[]).await;
    let (_, _, a) = s.post(&json!({"input":"x","conversation":"conv_1"}), &[]).await;
    let (_, _, b) = s.post(&json!({"input":"y","conversation":"conv_1"}), &[]).await;
    assert_eq!(a["agent_session_id"], b["agent_session_id"]);
}

#[tokio::test]
async fn route_prefix_mounts_the_same_routes() {
    let s = Server::start(&[("AGENTHOST_ROUTE_PREFIX", "/openai/v1")]).await;
    let r = s
        .http
        .post(format!("{}/openai/v1/responses", s.base))
        .json(&json!({"input":"x","stream":true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (events, _) = read_events(r).await;
    let id = events[0].data["response"]["id"].as_str().unwrap().to_string();
    let (status, _) = s.call("GET", &format!("/openai/v1/responses/{id}"), &[]).await;
    assert_eq!(status, 200);
    let (status, _) = s.call("GET", &format!("/responses/{id}"), &[]).await;
    assert_eq!(status, 200);
}
