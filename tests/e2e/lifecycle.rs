use std::time::{Duration, Instant};

use agenthost_e2e::{EventReader, Server, assert_well_formed, read_events};
use serde_json::json;

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn liveness_and_readiness() {
    let s = Server::start(&[]).await;
    let (status, body) = s.call("GET", "/readiness", &[]).await;
    assert_eq!((status, body), (200, json!({"status":"ready","toolboxes":[]})));
    let (status, body) = s.call("GET", "/liveness", &[]).await;
    assert_eq!((status, body), (200, json!({"status":"alive"})));
}

#[tokio::test]
async fn sigterm_drains_in_flight_responses_then_exits() {
    let mut s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "50")]).await;
    let resp = s.sse("/responses", Some(&json!({"input":"a b c d e f g h i j","stream":true})), &[]).await;
    let mut reader = EventReader::new(resp);
    let first = reader.next().await.unwrap();
    assert_eq!(first.name, "response.created");
    s.sigterm();
    wait_for("readiness 503", async || s.call("GET", "/readiness", &[]).await.0 == 503).await;
    let (_, body) = s.call("GET", "/readiness", &[]).await;
    assert_eq!(body, json!({"status":"draining","toolboxes":[]}));
    let (status, h, body) = s.post(&json!({"input":"late"}), &[]).await;
    assert_eq!(status, 503);
    assert_eq!(h["x-platform-error-source"], "platform");
    assert_eq!(body["error"]["code"], "server_shutting_down");
    let mut last = first;
    while let Some(e) = reader.next().await {
        last = e;
    }
    assert_eq!(last.name, "response.completed");
    let status = s.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn drain_deadline_fails_what_is_still_running() {
    let mut s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "1000"), ("AGENTHOST_DRAIN_TIMEOUT", "3")]).await;
    let resp = s.sse("/responses", Some(&json!({"input":"a b c d e f g h i j","stream":true})), &[]).await;
    let mut reader = EventReader::new(resp);
    reader.next().await.unwrap();
    let started = Instant::now();
    s.sigterm();
    let mut events = Vec::new();
    while let Some(e) = reader.next().await {
        events.push(e);
    }
    let last = events.last().unwrap();
    assert_eq!(last.name, "response.failed");
    assert_eq!(last.data["response"]["error"]["code"], "server_shutdown");
    assert!(s.wait_exit(Duration::from_secs(10)).await.success());
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
}

#[tokio::test]
async fn client_disconnect_cancels_the_run() {
    let s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "200")]).await;
    let resp = s.sse("/responses", Some(&json!({"input":"a b c d e f g h i j","stream":true})), &[]).await;
    let mut reader = EventReader::new(resp);
    let first = reader.next().await.unwrap();
    let id = first.data["response"]["id"].as_str().unwrap().to_string();
    drop(reader);
    wait_for("the run to be cancelled", async || {
        s.metrics_text().await.contains("agenthost_responses_total{status=\"cancelled\"} 1")
    })
    .await;
    // Cancelled synchronous responses are not stored.
    let (status, _) = s.call("GET", &format!("/responses/{id}"), &[]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn keep_alive_comments_when_configured() {
    let s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "700"), ("SSE_KEEPALIVE_INTERVAL", "1")]).await;
    let resp = s.sse("/responses", Some(&json!({"input":"a b","stream":true})), &[]).await;
    let (events, keepalives) = read_events(resp).await;
    assert_well_formed(&events);
    assert!(keepalives >= 1, "no keep-alive in a 2.8 s stream");
    let s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "300")]).await;
    let (_, keepalives) =
        read_events(s.sse("/responses", Some(&json!({"input":"a b","stream":true})), &[]).await).await;
    assert_eq!(keepalives, 0);
}

#[tokio::test]
async fn metrics_listener_is_separate() {
    let s = Server::start(&[]).await;
    let (status, _, _) = s.post(&json!({"input":"x"}), &[]).await;
    assert_eq!(status, 200);
    let text = s.metrics_text().await;
    assert!(text.contains("agenthost_responses_total{status=\"completed\"} 1"), "{text}");
    assert!(text.contains("http_server_request_duration_seconds_count{http_request_method=\"POST\",http_response_status_code=\"200\",http_route=\"/responses\"} 1"), "{text}");
    let r = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn text_logs_to_a_file_carry_no_colour_codes() {
    let mut s = Server::start(&[]).await;
    let (status, _, _) = s.post(&json!({"input":"hi"}), &[]).await;
    assert_eq!(status, 200);
    s.sigterm();
    assert!(s.wait_exit(Duration::from_secs(10)).await.success());
    let log = s.log();
    // Startup and shutdown lines, each with a level and a target that a terminal would colour.
    assert!(log.contains(" INFO ") && log.contains("agenthost listening"), "{log}");
    assert!(log.contains("agenthost stopped"), "{log}");
    assert!(!log.contains('\u{1b}'), "stderr is a file, yet the log has ANSI escapes:\n{log:?}");
}

/// SIGTERM with 100 open streams: every stream gets its terminal event, the stored records
/// match what was streamed, and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_with_a_hundred_open_streams_completes_them_all() {
    let mut s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "20"), ("AGENTHOST_DRAIN_TIMEOUT", "20")]).await;
    let mut readers = Vec::new();
    for i in 0..100 {
        let body = json!({"input": format!("stream {i} a b c d e f g h"), "stream": true, "background": true});
        let mut reader = EventReader::new(s.sse("/responses", Some(&body), &[]).await);
        let created = reader.next().await.unwrap();
        assert_eq!(created.name, "response.created");
        readers.push((created.data["response"]["id"].as_str().unwrap().to_string(), reader));
    }
    s.sigterm();
    let mut finals = Vec::new();
    for (id, mut reader) in readers {
        let mut last = None;
        while let Some(e) = reader.next().await {
            last = Some(e);
        }
        let last = last.unwrap();
        assert_eq!(last.name, "response.completed", "{id}");
        finals.push((id, last.data["response"].clone()));
    }
    // Listeners stay up while runs drain: every record read before they close equals what was
    // streamed (reads after they close fail to connect, which proves nothing either way).
    for (id, streamed) in &finals {
        let Ok(resp) = s.http.get(format!("{}/responses/{id}", s.base)).send().await else { break };
        let stored: serde_json::Value = resp.json().await.unwrap_or_default();
        assert_eq!(stored["output"], streamed["output"], "{id}");
    }
    assert!(s.wait_exit(Duration::from_secs(30)).await.success());
}

/// SIGKILL mid-run (memory store): the next process starts clean and serves at once.
#[tokio::test]
async fn sigkill_mid_run_then_a_clean_start() {
    let mut s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "200")]).await;
    let mut reader =
        EventReader::new(s.sse("/responses", Some(&json!({"input": "a b c d e", "stream": true})), &[]).await);
    reader.next().await.unwrap();
    s.kill();
    // The stream ends without a terminal event: the process is gone, not lying.
    let mut names = Vec::new();
    while let Some(e) = reader.next().await {
        names.push(e.name);
    }
    assert!(!names.iter().any(|n| n == "response.completed"), "{names:?}");
    let fresh = Server::start(&[]).await;
    let (status, _, r) = fresh.post(&json!({"input": "after the crash"}), &[]).await;
    assert_eq!((status, r["output"][0]["content"][0]["text"].as_str()), (200, Some("You said: after the crash")));
}
