//! Hostile requests through HTTP: wrong types in every field, deep nesting, huge inputs and ids,
//! invalid UTF-8, lone surrogates, NUL, duplicate keys, header abuse, chunked bodies past the
//! limit. Each gets a 4xx with the error envelope and a stable code (never a 5xx, never a
//! dropped connection), and the server answers normally afterwards.

use agenthost_e2e::Server;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// POSTs raw bytes; returns status and the JSON body (Null when not JSON).
async fn post_bytes(s: &Server, body: Vec<u8>) -> (u16, Value) {
    let r = s
        .http
        .post(format!("{}/responses", s.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers (no dropped connection)");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Asserts a refusal: this status, the envelope, this code.
#[track_caller]
fn refused(what: &str, (status, body): &(u16, Value), want_status: u16, code: &str) {
    assert_eq!(*status, want_status, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
    assert!(body["error"]["additional_info"]["request_id"].is_string(), "{what}: {body}");
}

async fn still_answers(s: &Server) {
    let (status, _, body) = s.post(&json!({"input":"still there?"}), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "completed");
}

#[tokio::test]
async fn wrong_types_in_every_field_are_400_naming_the_field() {
    let s = Server::start(&[]).await;
    // (field, values of a wrong type, the param reported)
    let cases: &[(&str, &[Value], &str)] = &[
        ("model", &[json!(1), json!(true), json!([]), json!({})], "$.model"),
        ("input", &[json!(1), json!(true), json!({})], "$.input"),
        ("input", &[json!([1]), json!(["x"]), json!([null]), json!([[]])], "$.input[0]"),
        ("instructions", &[json!(1), json!(true), json!({})], "$.instructions"),
        ("previous_response_id", &[json!(1), json!([]), json!("not-an-id")], "$.previous_response_id"),
        ("conversation", &[json!(1), json!(true), json!([])], "$.conversation"),
        ("conversation", &[json!({}), json!({"id": 1}), json!({"id": ""})], "$.conversation.id"),
        ("stream", &[json!(1), json!("true"), json!([]), json!({})], "$.stream"),
        ("background", &[json!(1), json!("yes"), json!({})], "$.background"),
        ("store", &[json!(0), json!("false"), json!([])], "$.store"),
        ("tools", &[json!(1), json!("x"), json!({})], "$.tools"),
        ("tool_choice", &[json!(1), json!("sometimes"), json!([])], "$.tool_choice"),
        ("parallel_tool_calls", &[json!(1), json!("no")], "$.parallel_tool_calls"),
        ("metadata", &[json!(1), json!("x"), json!([])], "$.metadata"),
        ("temperature", &[json!("hot"), json!([]), json!({})], "$.temperature"),
        ("top_p", &[json!("x"), json!(true)], "$.top_p"),
        ("max_output_tokens", &[json!(-1), json!(1.5), json!("10"), json!({})], "$.max_output_tokens"),
        ("agent_reference", &[json!(1), json!("a"), json!([])], "$.agent_reference"),
        ("agent_reference", &[json!({}), json!({"name": 1}), json!({"name": ""})], "$.agent_reference.name"),
        ("agent_session_id", &[json!(1), json!([]), json!({})], "$.agent_session_id"),
    ];
    let mut n = 0;
    for (field, values, param) in cases {
        for value in *values {
            let mut body = json!({"input": "x"});
            body[*field] = value.clone();
            let what = format!("{field}={value}");
            let answer = post_bytes(&s, serde_json::to_vec(&body).unwrap()).await;
            refused(&what, &answer, 400, "invalid_request_error");
            let params: Vec<&Value> = match answer.1["error"]["details"].as_array() {
                Some(d) => d.iter().map(|d| &d["param"]).collect(),
                None => vec![&answer.1["error"]["param"]],
            };
            assert!(params.iter().any(|p| *p == param), "{what}: {params:?}");
            n += 1;
        }
    }
    assert_eq!(n, 62);
    still_answers(&s).await;
}

#[tokio::test]
async fn malformed_bytes_are_400() {
    let s = Server::start(&[]).await;
    let deep = |depth: usize| format!("{{\"input\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    let deep_meta = format!("{{\"input\":\"x\",\"metadata\":{}1{}}}", "{\"k\":".repeat(10_000), "}".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("deep array nesting", deep(100_000).into_bytes()),
        ("deep object nesting", deep_meta.into_bytes()),
        ("invalid UTF-8", b"{\"input\":\"\xff\xfe\xfd\"}".to_vec()),
        ("overlong UTF-8", b"{\"input\":\"\xc0\xaf\"}".to_vec()),
        ("lone high surrogate", br#"{"input":"\ud800"}"#.to_vec()),
        ("lone low surrogate", br#"{"input":"\udc00 tail"}"#.to_vec()),
        ("raw NUL in a string", b"{\"input\":\"a\x00b\"}".to_vec()),
        ("NUL after the object", b"{\"input\":\"a\"}\x00".to_vec()),
        ("trailing garbage", b"{\"input\":\"a\"} {}".to_vec()),
        ("not an object", b"[{\"input\":\"a\"}]".to_vec()),
        ("a bare string", b"\"input\"".to_vec()),
        ("truncated", b"{\"input\":[{\"role\":\"user\",\"content\":\"".to_vec()),
        ("number overflow", b"{\"input\":\"x\",\"max_output_tokens\":1e999}".to_vec()),
        ("only whitespace", b" \r\n\t ".to_vec()),
    ];
    for (what, body) in cases {
        refused(what, &post_bytes(&s, body).await, 400, "invalid_request_error");
    }
    still_answers(&s).await;
}

#[tokio::test]
async fn odd_but_valid_json_is_answered_not_crashed() {
    let s = Server::start(&[]).await;
    // An escaped NUL is a valid character: the text is kept as sent.
    let (status, body) = post_bytes(&s, br#"{"input":"a\u0000b"}"#.to_vec()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "completed");
    // Duplicate keys: the last one wins (serde_json), so the wrong type is reported.
    refused(
        "duplicate input",
        &post_bytes(&s, br#"{"input":"a","input":1}"#.to_vec()).await,
        400,
        "invalid_request_error",
    );
    let (status, body) = post_bytes(&s, br#"{"input":1,"input":"a","stream":true,"stream":false}"#.to_vec()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("completed")), "{body}");
    // A valid surrogate pair is one character.
    let (status, _) = post_bytes(&s, br#"{"input":"\ud83d\ude00"}"#.to_vec()).await;
    assert_eq!(status, 200);
    // Unknown item types are kept (forward compatibility) and not sent to the model.
    let (status, body) =
        post_bytes(&s, br#"{"input":[{"type":"from_the_future","id":"x_1"},{"role":"user","content":"hi"}]}"#.to_vec())
            .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("completed")), "{body}");
    // 20,000 input items are one request like any other.
    let items: Vec<Value> = (0..20_000).map(|i| json!({"role":"user","content":format!("m{i}")})).collect();
    let (status, body) = post_bytes(&s, serde_json::to_vec(&json!({"input": items, "store": false})).unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("completed")));
    still_answers(&s).await;
}

#[tokio::test]
async fn huge_ids_are_refused_or_not_found() {
    let s = Server::start(&[]).await;
    let huge = format!("resp_{}", "A".repeat(1 << 20));
    let body = json!({"input":"x","previous_response_id": huge});
    refused(
        "huge previous_response_id",
        &post_bytes(&s, serde_json::to_vec(&body).unwrap()).await,
        400,
        "invalid_request_error",
    );
    let body = json!({"input":[{"type":"item_reference","id":"msg_".to_string() + &"9".repeat(1 << 20)}]});
    refused("huge item_reference", &post_bytes(&s, serde_json::to_vec(&body).unwrap()).await, 400, "item_not_found");
    let long = "A".repeat(8000);
    for path in [
        format!("/responses/{long}"),
        format!("/responses/{long}/input_items"),
        format!("/responses/{long}?stream=true"),
    ] {
        let (status, body) = s.call("GET", &path, &[]).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    }
    let (status, body) = s.call("DELETE", &format!("/responses/{long}"), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, body) = s.call("POST", &format!("/responses/{long}/cancel"), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    still_answers(&s).await;
}

/// Sends raw HTTP/1.1 bytes and reads the status line and body until the server closes or the
/// announced length arrived.
async fn raw_http(s: &Server, request: &[u8]) -> (u16, String) {
    let mut tcp = TcpStream::connect(s.base.trim_start_matches("http://")).await.expect("connect");
    tcp.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = tcp.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase().strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok())
            });
            if len.is_none_or(|len| body.len() >= len) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

fn request_with_header(name: &str, value: &[u8]) -> Vec<u8> {
    let body = br#"{"input":"x"}"#;
    let mut r =
        format!("POST /responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{name}: ").into_bytes();
    r.extend_from_slice(value);
    r.extend_from_slice(format!("\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes());
    r.extend_from_slice(body);
    r
}

#[tokio::test]
async fn header_abuse_is_4xx() {
    let s = Server::start(&[]).await;
    for name in ["x-agent-user-id", "x-agent-foundry-call-id"] {
        // 60 KB: the partition key the issue saw accepted.
        let (status, body) = raw_http(&s, &request_with_header(name, "u".repeat(60_000).as_bytes())).await;
        assert_eq!(status, 400, "{body}");
        let body: Value = serde_json::from_str(&body).expect("envelope");
        assert_eq!(body["error"]["code"], "invalid_platform_header");
        assert_eq!(body["error"]["param"], name);
        // Non-UTF-8 bytes (obs-text is legal HTTP, not a legal id).
        let (status, body) = raw_http(&s, &request_with_header(name, b"\xff\xfeuser")).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(serde_json::from_str::<Value>(&body).expect("envelope")["error"]["code"], "invalid_platform_header");
        // A tab inside the value.
        let (status, _) = raw_http(&s, &request_with_header(name, b"a\tb")).await;
        assert_eq!(status, 400);
        // Control characters HTTP itself forbids are refused by the HTTP parser, still 4xx.
        for bad in [&b"a\x01b"[..], b"a\x7fb", b"a\x00b"] {
            let (status, _) = raw_http(&s, &request_with_header(name, bad)).await;
            assert_eq!(status, 400, "{name} {bad:?}");
        }
    }
    // Headers far past what the HTTP parser buffers: 431, never a hang or 5xx.
    let (status, _) = raw_http(&s, &request_with_header("x-filler", "f".repeat(1 << 20).as_bytes())).await;
    assert_eq!(status, 431);
    still_answers(&s).await;
}

#[tokio::test]
async fn chunked_bodies_past_the_limit_and_broken_chunking() {
    let s = Server::start(&[("AGENTHOST_MAX_BODY_BYTES", "1024")]).await;
    let head = "POST /responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    // 64 chunks of 100 bytes: past the limit without any length announced.
    let mut over = head.as_bytes().to_vec();
    for _ in 0..64 {
        over.extend_from_slice(b"64\r\n");
        over.extend_from_slice(&[b' '; 100]);
        over.extend_from_slice(b"\r\n");
    }
    over.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = raw_http(&s, &over).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("envelope")["error"]["code"], "request_too_large");
    // One chunk announcing more than the limit.
    let (status, _) = raw_http(&s, format!("{head}fffffff\r\n{}", " ".repeat(2000)).as_bytes()).await;
    assert_eq!(status, 413);
    // A chunk size that is not hex.
    let (status, body) = raw_http(&s, format!("{head}zz\r\n{{}}\r\n0\r\n\r\n").as_bytes()).await;
    assert_eq!(status, 400, "{body}");
    // A content length larger than what is sent, then the connection is closed by the client:
    // nothing to answer, and the server is unharmed.
    {
        let mut tcp = TcpStream::connect(s.base.trim_start_matches("http://")).await.expect("connect");
        tcp.write_all(b"POST /responses HTTP/1.1\r\nhost: x\r\ncontent-length: 500\r\n\r\n{\"input\"").await.unwrap();
    }
    still_answers(&s).await;
}
