//! [`MockOpenAi`]: an in-process, scripted OpenAI-compatible server (feature `mock`).
//!
//! It listens on `127.0.0.1:0` and serves `POST /v1/responses` and `POST /v1/chat/completions`
//! (also without the `/v1` prefix), streaming (`"stream": true`) or not. Each request takes the
//! next [`MockTurn`] of the script: a reply made of [`MockChunk`]s rendered in the format of the
//! API that was called, an HTTP error, or a hang. Every request is recorded ([`MockRequest`]:
//! path, headers, JSON body) so tests can assert what a client sent.
//!
//! Requests the real APIs would reject (unknown input item types, tool outputs without calls,
//! calls without outputs, misplaced `tool` messages) get HTTP 400 without consuming a turn; a
//! request after the script ran out gets HTTP 400 `mock_script_exhausted`.

mod render;
mod script;
mod validate;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::{ModelConfig, Provider};
use render::{ChatRender, Render, ResponsesRender};
use script::TurnKind;
pub use script::{MockChunk, MockEnd, MockTurn};

/// A request the mock received.
#[derive(Clone, Debug)]
pub struct MockRequest {
    /// The request path, e.g. `/v1/responses`.
    pub path: String,
    /// Headers, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`null` when it was not JSON).
    pub body: Value,
    /// When it arrived.
    pub received_at: Instant,
}

impl MockRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Responses,
    Chat,
}

struct Shared {
    script: Mutex<VecDeque<MockTurn>>,
    requests: Mutex<Vec<MockRequest>>,
    received: watch::Sender<usize>,
    disconnects: watch::Sender<usize>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts a reply whose client went away before it was finished.
struct Watch {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.disconnects.send_modify(|n| *n += 1);
        }
    }
}

/// The running mock server; it stops accepting connections when dropped.
pub struct MockOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for MockOpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockOpenAi").field("addr", &self.addr).finish()
    }
}

impl MockOpenAi {
    /// Starts the server with `script` (one turn per request, in order).
    ///
    /// # Panics
    /// When no loopback port can be bound; see [`MockOpenAi::try_start`].
    pub async fn start(script: Vec<MockTurn>) -> MockOpenAi {
        match Self::try_start(script).await {
            Ok(mock) => mock,
            Err(e) => panic!("mock OpenAI server cannot listen on 127.0.0.1: {e}"),
        }
    }

    /// Starts the server with `script`, or reports why it cannot listen.
    pub async fn try_start(script: Vec<MockTurn>) -> std::io::Result<MockOpenAi> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            requests: Mutex::new(Vec::new()),
            received: watch::Sender::new(0),
            disconnects: watch::Sender::new(0),
        });
        let router = Router::new()
            .route("/v1/responses", post(responses))
            .route("/responses", post(responses))
            .route("/v1/chat/completions", post(chat))
            .route("/chat/completions", post(chat))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "mock OpenAI server stopped");
            }
        });
        Ok(MockOpenAi { addr, shared, server })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API root to configure a client with: `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// A [`ModelConfig`] for this server: model `mock-model`, no credentials, short retry
    /// delays (10 ms base, 100 ms cap); other fields at their defaults.
    pub fn config(&self, provider: Provider) -> ModelConfig {
        let mut config = ModelConfig::new(provider, self.base_url(), "mock-model");
        config.retry_base_delay = Duration::from_millis(10);
        config.max_retry_delay = Duration::from_millis(100);
        config
    }

    /// Appends a turn to the script.
    pub fn push(&self, turn: MockTurn) {
        lock(&self.shared.script).push_back(turn);
    }

    /// Turns not used yet.
    pub fn remaining(&self) -> usize {
        lock(&self.shared.script).len()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<MockRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Waits until at least `n` requests have arrived.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut rx = self.shared.received.subscribe();
        let _ = rx.wait_for(|count| *count >= n).await;
    }

    /// Replies (or hangs) whose client went away before the reply was finished.
    pub fn disconnects(&self) -> usize {
        *self.shared.disconnects.borrow()
    }

    /// Waits until at least `n` clients went away before their reply was finished.
    pub async fn wait_for_disconnects(&self, n: usize) {
        let mut rx = self.shared.disconnects.subscribe();
        let _ = rx.wait_for(|count| *count >= n).await;
    }
}

impl Drop for MockOpenAi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn responses(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(shared, Api::Responses, "/v1/responses", headers, body).await
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(shared, Api::Chat, "/v1/chat/completions", headers, body).await
}

fn api_error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn handle(shared: Arc<Shared>, api: Api, path: &str, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let request = MockRequest {
        path: path.to_string(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: parsed.clone().unwrap_or(Value::Null),
        received_at: Instant::now(),
    };
    let n = {
        let mut requests = lock(&shared.requests);
        requests.push(request);
        requests.len()
    };
    shared.received.send_modify(|count| *count = n);

    let Some(body) = parsed else {
        let message = "We could not parse the JSON body of your request.";
        return api_error(StatusCode::BAD_REQUEST, "invalid_request_error", None, message);
    };
    let checked = match api {
        Api::Responses => validate::responses(&body),
        Api::Chat => validate::chat(&body),
    };
    if let Err(message) = checked {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request_error", None, &message);
    }
    let Some(turn) = lock(&shared.script).pop_front() else {
        let message = "mock: no scripted turn left for this request";
        return api_error(StatusCode::BAD_REQUEST, "invalid_request_error", Some("mock_script_exhausted"), message);
    };

    match turn.kind {
        TurnKind::Hang => {
            let _watch = Watch { shared, finished: false };
            std::future::pending::<Response>().await
        }
        TurnKind::Error { status, body, headers } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let content_type =
                if serde_json::from_str::<Value>(&body).is_ok() { "application/json" } else { "text/plain" };
            let mut response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) =
                    (header::HeaderName::from_bytes(name.as_bytes()), header::HeaderValue::from_str(&value))
                {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
        TurnKind::Reply { chunks, delay, end, whole } => {
            let model = body.get("model").and_then(Value::as_str).unwrap_or("mock-model");
            let render: Box<dyn Render> = match api {
                Api::Responses => Box::new(ResponsesRender::new(n, model)),
                Api::Chat => {
                    let usage = body.pointer("/stream_options/include_usage") == Some(&Value::Bool(true));
                    Box::new(ChatRender::new(n, model, usage))
                }
            };
            if !whole && body.get("stream") == Some(&Value::Bool(true)) {
                stream_reply(shared, render, chunks, delay, end)
            } else {
                whole_reply(shared, render, chunks, delay, end).await
            }
        }
    }
}

fn stream_reply(
    shared: Arc<Shared>,
    mut render: Box<dyn Render>,
    chunks: Vec<MockChunk>,
    delay: Duration,
    end: MockEnd,
) -> Response {
    let frames = async_stream::stream! {
        let mut watch = Watch { shared, finished: false };
        for frame in render.start() {
            yield Ok::<Bytes, std::io::Error>(Bytes::from(frame));
        }
        for chunk in &chunks {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            for frame in render.chunk(chunk) {
                yield Ok(Bytes::from(frame));
            }
        }
        match end {
            MockEnd::Complete => {
                for frame in render.finish() {
                    yield Ok(Bytes::from(frame));
                }
            }
            MockEnd::ServerError(message) => {
                for frame in render.fail(&message) {
                    yield Ok(Bytes::from(frame));
                }
            }
            MockEnd::Truncate => {}
            MockEnd::Hang => std::future::pending::<()>().await,
            MockEnd::Drop => {
                // Let the server flush what was sent so far: an error from the body aborts
                // the connection without flushing buffered frames.
                tokio::time::sleep(Duration::from_millis(20)).await;
                watch.finished = true;
                yield Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "mock: connection dropped"));
            }
        }
        watch.finished = true;
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(frames))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn whole_reply(
    shared: Arc<Shared>,
    mut render: Box<dyn Render>,
    chunks: Vec<MockChunk>,
    delay: Duration,
    end: MockEnd,
) -> Response {
    let mut watch = Watch { shared, finished: false };
    for chunk in &chunks {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        render.chunk(chunk);
    }
    match end {
        MockEnd::Complete => {
            watch.finished = true;
            let body = render.whole().to_string();
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        MockEnd::ServerError(message) => {
            watch.finished = true;
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", None, &message)
        }
        MockEnd::Hang => std::future::pending::<Response>().await,
        MockEnd::Truncate => {
            watch.finished = true;
            ([(header::CONTENT_TYPE, "application/json")], "{").into_response()
        }
        MockEnd::Drop => {
            watch.finished = true;
            let failing = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "mock: connection dropped",
                ))
            });
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(failing))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}
