//! Test support: a scripted axum token endpoint on 127.0.0.1:0 that records every request,
//! fast HTTP options, temporary files and a manual clock.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use agenthost_identity::{Clock, HttpOptions};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tokio::sync::{Semaphore, watch};

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: String,
}

impl Recorded {
    /// The body decoded as `application/x-www-form-urlencoded`, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    /// A header as a string, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().expect("ascii header").to_owned())
    }
}

/// A canned response. `{n}` in the body is replaced by the 1-based hit number.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self { status, headers: Vec::new(), body: body.into() }
    }

    pub fn json(value: serde_json::Value) -> Self {
        Self::new(200, value.to_string())
    }

    /// `{"access_token":"tok-{n}","expires_in":<secs>}`.
    pub fn token_in(secs: u64) -> Self {
        Self::json(serde_json::json!({"access_token": "tok-{n}", "expires_in": secs}))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

struct Shared {
    hits: AtomicUsize,
    arrivals: watch::Sender<usize>,
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Reply>,
    gate: Option<Semaphore>,
}

/// A running mock endpoint. Scripted replies are used first, then the fallback.
pub struct Mock {
    pub url: String,
    shared: Arc<Shared>,
}

impl Mock {
    pub async fn start(fallback: Reply) -> Self {
        Self::spawn(fallback, None).await
    }

    /// Like [`Mock::start`], but every handler waits until [`Mock::open_gate`] is called.
    pub async fn start_gated(fallback: Reply) -> Self {
        Self::spawn(fallback, Some(Semaphore::new(0))).await
    }

    async fn spawn(fallback: Reply, gate: Option<Semaphore>) -> Self {
        let shared = Arc::new(Shared {
            hits: AtomicUsize::new(0),
            arrivals: watch::channel(0).0,
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            fallback: Mutex::new(fallback),
            gate,
        });
        let app = axum::Router::new().fallback(handle).with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self { url: format!("http://{addr}"), shared }
    }

    pub fn push(&self, reply: Reply) {
        self.shared.script.lock().unwrap().push_back(reply);
    }

    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The only request; panics unless exactly one arrived.
    pub fn single_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one request: {requests:?}");
        requests[0].clone()
    }

    /// Waits (without sleeping) until at least `n` requests have arrived.
    pub async fn wait_for_hits(&self, n: usize) {
        let mut rx = self.shared.arrivals.subscribe();
        rx.wait_for(|hits| *hits >= n).await.expect("mock alive");
    }

    /// Lets every pending and future request of a gated mock proceed.
    pub fn open_gate(&self) {
        if let Some(gate) = &self.shared.gate {
            gate.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let n = shared.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    shared.requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).expect("utf-8 body"),
    });
    shared.arrivals.send_modify(|hits| *hits = (*hits).max(n));
    if let Some(gate) = &shared.gate {
        gate.acquire().await.expect("gate").forget();
    }
    let reply = shared.script.lock().unwrap().pop_front().unwrap_or_else(|| shared.fallback.lock().unwrap().clone());
    let mut response = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response
        .header("content-type", "application/json")
        .body(Body::from(reply.body.replace("{n}", &n.to_string())))
        .unwrap()
}

/// Short timeouts and near-zero backoff so retry tests run fast.
pub fn fast_http() -> HttpOptions {
    HttpOptions {
        timeout: Duration::from_secs(5),
        max_retries: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(50),
    }
}

/// A uniquely named file in the temp directory, removed on drop.
pub struct TempFile(PathBuf);

impl TempFile {
    pub fn new(contents: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "agenthost-identity-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos()
        );
        let file = Self(std::env::temp_dir().join(name));
        file.write(contents);
        file
    }

    pub fn write(&self, contents: &str) {
        std::fs::write(&self.0, contents).expect("write temp file");
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    pub fn new(start: SystemTime) -> Arc<Self> {
        Arc::new(Self(Mutex::new(start)))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// Epoch seconds of `t`.
pub fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}
