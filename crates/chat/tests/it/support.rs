//! Test support: a scripted fake Responses server (axum on 127.0.0.1:0, without the Conversations
//! API) that answers each POST with the next canned reply and records every request, a raw server that dies mid-answer, a
//! fake browser, and helpers that drive `run_with_io` with in-memory or gated input.
#![allow(dead_code)]

pub use crate::sse::*;

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenthost_chat::{Browser, ChatArgs, run_with_io};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use tokio::sync::Notify;

/// One canned answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 `text/event-stream` with this body.
    Sse(String),
    /// This status with an `application/json` body.
    Json(u16, String),
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().expect("ascii").to_owned())
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
}

/// The fake server.
pub struct FakeServer {
    pub url: String,
    script: Arc<Script>,
}

impl FakeServer {
    pub async fn start(replies: Vec<Reply>) -> Self {
        let script = Arc::new(Script { replies: Mutex::new(replies.into()), requests: Mutex::default() });
        let app = axum::Router::new().fallback(handle).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url: format!("http://{addr}"), script }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.script.requests.lock().expect("lock").clone()
    }

    /// Chat args pointing at this server, non-interactive browser defaults.
    pub fn args(&self) -> ChatArgs {
        ChatArgs { url: self.url.clone(), ..ChatArgs::default() }
    }
}

async fn handle(State(script): State<Arc<Script>>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> Response {
    // A server without the Conversations API: chat falls back to previous_response_id chains.
    if uri.path().ends_with("/conversations") {
        return Response::builder()
            .status(404)
            .body(Body::from(r#"{"error":{"message":"No such route."}}"#))
            .expect("response");
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    script.requests.lock().expect("lock").push(Recorded { path: uri.path().to_owned(), headers, body });
    let reply = script.replies.lock().expect("lock").pop_front();
    let sse = |body: Body| {
        Response::builder().header("content-type", "text/event-stream; charset=utf-8").body(body).expect("response")
    };
    match reply {
        Some(Reply::Sse(text)) => sse(Body::from(text)),
        Some(Reply::Json(status, text)) => Response::builder()
            .status(StatusCode::from_u16(status).expect("status"))
            .header("content-type", "application/json")
            .body(Body::from(text))
            .expect("response"),
        None => Response::builder().status(500).body(Body::from("script exhausted")).expect("response"),
    }
}

/// A raw TCP server for one `POST /responses`: it reads the request, writes `reply` (raw HTTP
/// bytes) and closes the connection, as a server that dies would. A conversation create before
/// it gets a 404 (no Conversations API).
pub async fn dying_server(reply: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            // Read the head and the Content-Length body so the client is done sending.
            let mut seen = Vec::new();
            let mut chunk = [0u8; 4096];
            let head = loop {
                let Ok(n) = socket.read(&mut chunk).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                seen.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&seen).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0usize);
                    if seen.len() >= end + 4 + length {
                        break text[..end].to_string();
                    }
                }
            };
            if head.lines().next().is_some_and(|l| l.contains("/conversations")) {
                let not_found = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                let _ = socket.write_all(not_found.as_bytes()).await;
                let _ = socket.shutdown().await;
                continue;
            }
            let _ = socket.write_all(reply.as_bytes()).await;
            let _ = socket.shutdown().await;
            return;
        }
    });
    format!("http://{addr}")
}

/// The head and first chunk of a chunked SSE response whose body never finishes.
pub fn chunked_prefix(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n",
        body.len()
    )
}

// === Browser and I/O ===

/// Records the links it was asked to open.
#[derive(Default)]
pub struct FakeBrowser {
    pub present: bool,
    pub opened: Mutex<Vec<String>>,
}

impl FakeBrowser {
    pub fn present() -> Self {
        Self { present: true, ..Self::default() }
    }
    pub fn absent() -> Self {
        Self::default()
    }
    pub fn opened(&self) -> Vec<String> {
        self.opened.lock().expect("lock").clone()
    }
}

impl Browser for FakeBrowser {
    fn open(&self, url: &str) -> bool {
        self.opened.lock().expect("lock").push(url.to_owned());
        true
    }
    fn available(&self) -> bool {
        self.present
    }
}

/// What one run printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
}

/// Runs the chat with all of `input` available up front.
pub async fn chat(args: ChatArgs, input: &str, browser: &FakeBrowser) -> Run {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run_with_io(args, input.as_bytes(), &mut out, &mut err, browser).await;
    Run { code, out: String::from_utf8(out).expect("utf8"), err: String::from_utf8(err).expect("utf8") }
}

/// The REPL banner for `url`.
pub fn banner(url: &str) -> String {
    format!("agenthost chat: {url}/responses (/quit or end of input to leave)\n")
}

/// A writer shared with the test, which can wait until some text was written.
#[derive(Clone, Default)]
pub struct SharedOut {
    buf: Arc<Mutex<Vec<u8>>>,
    written: Arc<Notify>,
}

impl SharedOut {
    pub fn text(&self) -> String {
        String::from_utf8(self.buf.lock().expect("lock").clone()).expect("utf8")
    }

    /// Waits (event-driven; the timeout only guards against a hang) until `needle` was written.
    pub async fn wait_for(&self, needle: &str) {
        let wait = async {
            loop {
                let notified = self.written.notified();
                if self.text().contains(needle) {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(20), wait).await.is_err() {
            panic!("never printed {needle:?}; output so far:\n{}", self.text());
        }
    }
}

impl Write for SharedOut {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.lock().expect("lock").extend_from_slice(data);
        self.written.notify_waiters();
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
