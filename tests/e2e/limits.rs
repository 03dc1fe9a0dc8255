//! Edge limits through the real binary: platform id header lengths, the body read deadline
//! (a stalled body is 408 and a hundred of them slow no one), and the caps on concurrent runs
//! and open streams (429 with `Retry-After`).

use agenthost_e2e::{EventReader, Server, assert_well_formed, read_events};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn platform_id_headers_have_limits() {
    let s = Server::start(&[]).await;
    let long = "u".repeat(257);
    for name in ["x-agent-user-id", "x-agent-foundry-call-id"] {
        for value in [long.as_str(), "u\t1"] {
            let (status, h, body) = s.post(&json!({"input":"x"}), &[(name, value)]).await;
            assert_eq!(status, 400, "{name}: {value:?}");
            assert_eq!(h["x-platform-error-source"], "user");
            assert_eq!(body["error"]["code"], "invalid_platform_header");
            assert_eq!(body["error"]["param"], name);
        }
        // At the limit it is accepted.
        let (status, _, body) = s.post(&json!({"input":"x"}), &[(name, &"u".repeat(256))]).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "completed");
    }
    // The server answers normally afterwards.
    let (status, _, _) = s.post(&json!({"input":"x"}), &[]).await;
    assert_eq!(status, 200);
}

/// The port of a server's base URL.
fn addr(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_string()
}

/// Sends headers announcing `len` body bytes and only part of the body, then stalls.
async fn stalled(s: &Server, len: usize) -> TcpStream {
    let mut tcp = TcpStream::connect(addr(s)).await.expect("connect");
    let head = format!(
        "POST /responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n{{\"input\":"
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    tcp
}

/// Reads an HTTP/1.1 answer until the server closes or the JSON body is complete.
async fn answer(tcp: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tcp.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n")
            && let Some(len) = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().to_string()))
            && body.len() >= len.parse::<usize>().unwrap_or(0)
        {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

#[tokio::test]
async fn stalled_bodies_get_408_and_slow_no_one() {
    let s = Server::start(&[("AGENTHOST_BODY_TIMEOUT", "2")]).await;
    let mut stalls = Vec::new();
    for _ in 0..100 {
        stalls.push(stalled(&s, 1000).await);
    }
    // While a hundred bodies are stalled, others are served.
    for _ in 0..5 {
        let (status, _, body) = s.post(&json!({"input":"hello"}), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "completed");
    }
    for tcp in &mut stalls {
        let (status, body) = answer(tcp).await;
        assert_eq!(status, 408, "{body}");
        let body: Value = serde_json::from_str(&body).expect("envelope");
        assert_eq!(body["error"]["code"], "request_timeout");
        assert_eq!(body["error"]["message"], "The request body did not arrive within 2 seconds.");
    }
    let (status, _, _) = s.post(&json!({"input":"after"}), &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn concurrent_runs_are_capped_with_retry_after() {
    let s = Server::start_with(&[("AGENTHOST_SCRIPTED_PACE_MS", "100")], &["--max-concurrent-runs", "1"]).await;
    let body = json!({"input":"a b c d","stream":true});
    let mut first = EventReader::new(s.sse("/responses", Some(&body), &[]).await);
    assert_eq!(first.next().await.expect("created").name, "response.created");
    // The one slot is taken: any other response, streamed or not, is refused.
    for req in [json!({"input":"x"}), json!({"input":"x","stream":true}), json!({"input":"x","background":true})] {
        let (status, h, err) = s.post(&req, &[]).await;
        assert_eq!(status, 429, "{req}");
        assert_eq!(h["retry-after"], "1");
        assert_eq!(h["x-platform-error-source"], "platform");
        assert_eq!(err["error"]["code"], "too_many_requests");
        assert_eq!(err["error"]["type"], "rate_limit_error");
    }
    // Reads are not runs.
    assert_eq!(s.call("GET", "/readiness", &[]).await.0, 200);
    while first.next().await.is_some() {}
    // The slot is free again once the run ended.
    let (status, _, done) = s.post(&json!({"input":"x"}), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(done["status"], "completed");
}

#[tokio::test]
async fn open_streams_are_capped_with_retry_after() {
    let s = Server::start_with(&[("AGENTHOST_SCRIPTED_PACE_MS", "100")], &["--max-open-streams", "1"]).await;
    let body = json!({"input":"a b c d","stream":true,"background":true});
    let first = s.sse("/responses", Some(&body), &[]).await;
    let mut reader = EventReader::new(first);
    let created = reader.next().await.expect("created");
    let id = created.data["response"]["id"].as_str().expect("id").to_string();
    let (status, h, err) = s.post(&json!({"input":"x","stream":true}), &[]).await;
    assert_eq!(status, 429);
    assert_eq!(h["retry-after"], "1");
    assert_eq!(err["error"]["code"], "too_many_requests");
    // Replay opens a stream too.
    let (status, err) = s.call("GET", &format!("/responses/{id}?stream=true"), &[]).await;
    assert_eq!(status, 429);
    assert_eq!(err["error"]["code"], "too_many_requests");
    // A response that is not streamed still runs.
    let (status, _, done) = s.post(&json!({"input":"x"}), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(done["status"], "completed");
    while reader.next().await.is_some() {}
    let (events, _) = read_events(s.sse("/responses", Some(&json!({"input":"y","stream":true})), &[]).await).await;
    assert_well_formed(&events);
}
