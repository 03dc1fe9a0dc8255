//! Shared infrastructure of the black-box tests: start the real `agenthost` binary on free
//! ports, talk to it over HTTP, and read its SSE streams.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

/// A direct MCP client (Streamable HTTP), the oracle for real servers' tools and answers.
pub mod mcp_client;
pub mod mcp_servers;

/// Path of a workspace binary: `$AGENTHOST_BIN_DIR/<name>`, else the target dir of this build.
pub fn binary(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("AGENTHOST_BIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    // tests run from target/<profile>/deps/<test>; binaries live in target/<profile>.
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target profile dir");
    profile_dir.join(name)
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A running `agenthost serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `http://127.0.0.1:METRICS_PORT`.
    pub metrics: String,
    /// HTTP client.
    pub http: reqwest::Client,
    log: PathBuf,
}

/// An HTTP client for tests (rustls with ring).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("http client")
}

impl Server {
    /// Starts the server with `env` added to a clean environment and waits until it is ready.
    pub async fn start(env: &[(&str, &str)]) -> Server {
        Self::start_with(env, &[]).await
    }

    /// As [`Server::start`], with extra command-line arguments after `serve`.
    ///
    /// The ports are free when picked but not held, so another test's process can take one
    /// before this server binds it; a server that exits saying so is started again on new ports.
    pub async fn start_with(env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut attempt = 0;
        loop {
            let mut server = Self::spawn(env, args);
            match server.ready_or_exited().await {
                Ok(()) => return server,
                Err(log) if attempt < 4 && log.contains("Address already in use") => attempt += 1,
                Err(log) => panic!("server never became ready; log:\n{log}"),
            }
        }
    }

    /// Waits (up to 20 s) until `/readiness` answers 200; the log when the process exits first
    /// or the time runs out.
    async fn ready_or_exited(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.http.get(format!("{}/readiness", self.base)).send().await
                && r.status() == 200
            {
                return Ok(());
            }
            if Instant::now() >= deadline || matches!(self.child.try_wait(), Ok(Some(_))) {
                return Err(self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Spawns without waiting for readiness.
    pub fn spawn(env: &[(&str, &str)], args: &[&str]) -> Server {
        let port = free_port();
        let metrics_port = free_port();
        let log = std::env::temp_dir().join(format!("agenthost-e2e-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(binary("agenthost"));
        cmd.arg("serve")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("AGENTHOST_HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("AGENTHOST_METRICS_PORT", metrics_port.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {:?}: {e}", binary("agenthost")));
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            metrics: format!("http://127.0.0.1:{metrics_port}"),
            http: client(),
            log,
        }
    }

    /// Waits (up to 20 s) until `/readiness` answers 200.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.http.get(format!("{}/readiness", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "server never became ready; log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (up to 20 s) until the server answers `/liveness`, whatever its readiness.
    pub async fn wait_live(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(self.http.get(format!("{}/liveness", self.base)).send().await, Ok(r) if r.status() == 200) {
            assert!(Instant::now() < deadline, "server never answered; log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `POST /responses` with `body` and extra headers; returns status, headers and JSON body.
    pub async fn post(&self, body: &Value, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.post(format!("{}/responses", self.base)).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("POST /responses");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// A request with `method` to `path` (relative to the base URL); returns status and JSON.
    pub async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// A request with `method` to `path` and an optional JSON `body`; returns status and JSON.
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(body);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// Opens an SSE stream (POST with `body`, or GET `path` when `body` is `None`).
    pub async fn sse(&self, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> reqwest::Response {
        let url = format!("{}{path}", self.base);
        let mut req = match body {
            Some(b) => self.http.post(url).json(b),
            None => self.http.get(url),
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("SSE request")
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit within {limit:?}; log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Scrapes `/metrics`.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.metrics))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Environment for a server whose toolboxes live behind `proxy_base` (a mock proxy).
pub fn toolbox_env(proxy_base: &str, toolboxes: &str) -> Vec<(String, String)> {
    vec![
        ("FOUNDRY_PROJECT_ENDPOINT".into(), proxy_base.into()),
        ("TOOLBOX_NAME".into(), toolboxes.into()),
        ("AGENTHOST_TOOLBOX_TOKEN".into(), "e2e-secret-token".into()),
        ("AGENTHOST_ALLOW_LOOPBACK_CONSENT_LINKS".into(), "true".into()),
    ]
}

/// Headers of a request by `user` with call number `n`.
pub fn as_user(user: &str, n: u32) -> Vec<(String, String)> {
    vec![("x-agent-user-id".into(), user.into()), ("x-agent-foundry-call-id".into(), format!("{user}:{n}"))]
}

/// Borrows owned pairs as `(&str, &str)`.
pub fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// A program running on a pseudo-terminal (through `script`, from util-linux), with its output
/// collected as it arrives.
pub struct Pty {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    output: std::sync::Arc<std::sync::Mutex<String>>,
    changed: tokio::sync::watch::Receiver<usize>,
    seen: usize,
}

impl Pty {
    /// Runs `args` (the first is the program) on a fresh terminal.
    pub fn spawn(args: &[String]) -> Pty {
        use tokio::io::AsyncReadExt;
        let command = args.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ");
        let mut child = tokio::process::Command::new("script")
            .args(["-qfec", &command, "/dev/null"])
            .env("TERM", "dumb")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("script(1) from util-linux");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, changed) = tokio::sync::watch::channel(0usize);
        let sink = output.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let len = {
                    let mut out = sink.lock().unwrap();
                    out.push_str(&String::from_utf8_lossy(&buf[..n]));
                    out.len()
                };
                tx.send_replace(len);
            }
        });
        Pty { child, stdin, output, changed, seen: 0 }
    }

    /// Types a line.
    pub async fn line(&mut self, text: &str) {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(format!("{text}\r").as_bytes()).await.expect("write to pty");
        self.stdin.flush().await.expect("flush pty");
    }

    /// Waits (up to 15 s) until `needle` appears after what earlier calls consumed; returns the
    /// output up to and including it.
    pub async fn expect(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            {
                let out = self.output.lock().unwrap();
                if let Some(pos) = out[self.seen..].find(needle) {
                    let end = self.seen + pos + needle.len();
                    let chunk = out[self.seen..end].to_string();
                    self.seen = end;
                    return chunk;
                }
            }
            let all = self.output.lock().unwrap().clone();
            match tokio::time::timeout_at(deadline, self.changed.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("timed out waiting for {needle:?}; terminal so far:\n{all}"),
            }
        }
    }

    /// Everything printed so far.
    pub fn screen(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits for the program to exit and returns its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await.ok()?.ok()?.code()
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// One server-sent event.
#[derive(Clone, Debug)]
pub struct Event {
    /// `event:` name.
    pub name: String,
    /// Parsed `data:`.
    pub data: Value,
}

/// Reads a whole SSE body into events, checking framing: every event has an `event:` line equal
/// to its data's `type`, and keep-alive comments are counted.
pub async fn read_events(resp: reqwest::Response) -> (Vec<Event>, usize) {
    let text = resp.text().await.expect("SSE body");
    parse_events(&text)
}

/// Parses SSE text (see [`read_events`]).
pub fn parse_events(text: &str) -> (Vec<Event>, usize) {
    let mut events = Vec::new();
    let mut keepalives = 0;
    for block in text.split("\n\n").filter(|b| !b.is_empty()) {
        if block == ": keep-alive" {
            keepalives += 1;
            continue;
        }
        let mut name = None;
        let mut data = None;
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                name = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str::<Value>(v).expect("data is JSON"));
            } else {
                panic!("unexpected SSE line {line:?}");
            }
        }
        let (name, data) = (name.expect("event line"), data.expect("data line"));
        assert_eq!(data["type"], Value::String(name.clone()), "event name matches type");
        events.push(Event { name, data });
    }
    (events, keepalives)
}

/// Reads SSE events one by one as they arrive.
pub struct EventReader {
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = Result<eventsource_stream::Event, String>> + Send>>,
}

impl EventReader {
    /// Wraps a streaming response.
    pub fn new(resp: reqwest::Response) -> Self {
        use eventsource_stream::Eventsource;
        let stream = resp.bytes_stream().eventsource().map(|r| r.map_err(|e| e.to_string()));
        EventReader { stream: Box::pin(stream) }
    }

    /// The next event, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Event> {
        let ev = self.stream.next().await?.ok()?;
        Some(Event { name: ev.event, data: serde_json::from_str(&ev.data).ok()? })
    }
}

/// Names of events, in order.
pub fn names(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

/// Asserts the protocol's stream invariants: sequence numbers 0.. with no gaps, created first,
/// in_progress second, exactly one terminal event and it is last, and balanced item events.
pub fn assert_well_formed(events: &[Event]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.data["sequence_number"], Value::from(i as u64), "sequence at {i}: {:?}", names(events));
    }
    assert_eq!(events.first().map(|e| e.name.as_str()), Some("response.created"));
    let terminal = |n: &str| matches!(n, "response.completed" | "response.failed" | "response.incomplete");
    assert_eq!(events.iter().filter(|e| terminal(&e.name)).count(), 1, "{:?}", names(events));
    assert!(terminal(&events[events.len() - 1].name));
    let added = events.iter().filter(|e| e.name == "response.output_item.added").count();
    let done = events.iter().filter(|e| e.name == "response.output_item.done").count();
    assert_eq!(added, done, "{:?}", names(events));
}
