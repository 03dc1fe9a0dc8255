use agenthost_e2e::Server;
use serde_json::json;

async fn raw(s: &Server, body: &'static str) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let r = s
        .http
        .post(format!("{}/responses", s.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

#[tokio::test]
async fn body_errors_use_the_envelope() {
    let s = Server::start(&[]).await;
    let (status, headers, body) = raw(&s, "").await;
    assert_eq!(status, 400);
    assert_eq!(headers["x-platform-error-source"], "user");
    assert_eq!(body["error"]["message"], "Request body is required.");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "invalid_request_error");
    assert_eq!(body["error"]["additional_info"]["request_id"], headers["x-request-id"].to_str().unwrap());
    assert!(headers.contains_key("x-agent-session-id"));

    let (status, _, body) = raw(&s, "{\"input\": ").await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("Invalid JSON in request body: "));

    let (status, _, body) = raw(&s, r#"{"stream":"yes","metadata":{"k":1},"previous_response_id":"resp_1"}"#).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "$.previous_response_id");
    assert_eq!(
        body["error"]["details"],
        json!([
            {"type":"invalid_request_error","code":"invalid_value","param":"$.previous_response_id","message":"Malformed identifier."},
            {"type":"invalid_request_error","code":"invalid_value","param":"$.stream","message":"'stream' must be a boolean."},
            {"type":"invalid_request_error","code":"invalid_value","param":"$.metadata.k","message":"Metadata values must be strings."}
        ])
    );

    let (status, _, body) = raw(&s, r#"{"background":true,"store":false}"#).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "unsupported_parameter");
    assert_eq!(body["error"]["param"], "background");
    assert_eq!(body["error"]["message"], "Background responses require store to be enabled.");
}

#[tokio::test]
async fn unknown_previous_response_and_item_reference() {
    let s = Server::start(&[]).await;
    let prev = "caresp_0123456789abcdef00ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let (status, _, body) = s.post(&json!({"input":"x","previous_response_id":prev}), &[]).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "previous_response_not_found");
    assert_eq!(body["error"]["param"], "previous_response_id");
    let (status, _, body) = s.post(&json!({"input":[{"type":"item_reference","id":"msg_nope"}]}), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "item_not_found");
    assert_eq!(body["error"]["param"], "$.input[0]");
}

#[tokio::test]
async fn body_over_the_limit_is_413_with_the_envelope() {
    let s = Server::start(&[("AGENTHOST_MAX_BODY_BYTES", "64")]).await;
    let (status, headers, body) = s.post(&json!({"input": "x".repeat(100)}), &[]).await;
    assert_eq!(status, 413);
    assert_eq!(headers["x-platform-error-source"], "user");
    assert_eq!(body["error"]["code"], "request_too_large");
    assert_eq!(body["error"]["message"], "Request body exceeds the limit of 64 bytes.");
    // Chunked bodies without a length are limited too.
    let chunks = futures::stream::iter(vec![Ok::<_, std::io::Error>(vec![b' '; 50]), Ok(vec![b' '; 50])]);
    let r = s.http.post(format!("{}/responses", s.base)).body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let (status, _, _) = s.post(&json!({"input": "small"}), &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unknown_routes_and_paging_parameters() {
    let s = Server::start(&[]).await;
    let (status, body) = s.call("GET", "/nope", &[]).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (_, _, r) = s.post(&json!({"input":"x"}), &[]).await;
    let id = r["id"].as_str().unwrap();
    for (query, param) in [("limit=0", "limit"), ("limit=101", "limit"), ("order=up", "order")] {
        let (status, body) = s.call("GET", &format!("/responses/{id}/input_items?{query}"), &[]).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"]["param"], param);
    }
}

#[tokio::test]
async fn unknown_approval_request_is_rejected_before_creation() {
    let s = Server::start(&[]).await;
    let (_, _, first) = s.post(&json!({"input":"hi"}), &[]).await;
    let body = json!({
        "previous_response_id": first["id"],
        "input": [{"type":"mcp_approval_response","approval_request_id":"mcpr_0123456789abcdef00ABCDEFGHIJKLMNOPQRSTUVWXYZ012345","approve":true}]
    });
    let (status, _, err) = s.post(&body, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "unknown_approval_request");
    assert_eq!(err["error"]["param"], "$.input[0].approval_request_id");
}
