//! Third-party MCP servers for the e2e tests, run as child processes on loopback: the Python
//! MCP SDK's FastMCP (`tests/mcp-servers/fastmcp_server.py`, from the venv `target/mcp-venv`)
//! and `@modelcontextprotocol/server-everything` (npm, `tests/mcp-servers/node_modules`). Both
//! are installed by `.ci/run`; a missing one fails the test in CI (`CI` set) and skips it, saying
//! so, locally. And [`Front`]: a path-mapping reverse proxy that serves a real server as the
//! toolbox proxy's `/toolboxes/{name}/mcp`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::free_port;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A component is missing: a failure in CI, a loud skip locally.
fn missing<T>(what: &str) -> Option<T> {
    assert!(std::env::var("CI").is_err(), "CI: {what} is missing (.ci/run installs it)");
    eprintln!("skipped: {what} is missing (.ci/run installs it)");
    None
}

/// A running third-party MCP server.
pub struct McpServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The MCP endpoint (`/mcp`, or `/sse` for the older transport).
    pub url: String,
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn wait_listening(port: u16, child: &mut Child, what: &str) {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not listen on {port} within 30 s");
}

impl McpServer {
    /// FastMCP over Streamable HTTP (`sse`: the older HTTP+SSE transport).
    pub async fn fastmcp(sse: bool) -> Option<McpServer> {
        let python = repo_root().join("target/mcp-venv/bin/python");
        let script = repo_root().join("tests/mcp-servers/fastmcp_server.py");
        if !python.exists() {
            return missing("the Python MCP SDK venv (target/mcp-venv with tests/mcp-servers/requirements.txt)");
        }
        let port = free_port();
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(if sse { "sse" } else { "streamable-http" })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start fastmcp_server.py");
        // It prints READY once uvicorn has bound the port.
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("READY") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ready, Ok(true), "fastmcp_server.py did not start");
        let base = format!("http://127.0.0.1:{port}");
        let url = format!("{base}/{}", if sse { "sse" } else { "mcp" });
        Some(McpServer { child, base, url })
    }

    /// `@modelcontextprotocol/server-everything` in its Streamable HTTP mode.
    pub async fn everything() -> Option<McpServer> {
        let entry =
            repo_root().join("tests/mcp-servers/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
        if !entry.exists() {
            return missing("@modelcontextprotocol/server-everything (npm ci --prefix tests/mcp-servers)");
        }
        let port = free_port();
        let mut child = Command::new("node")
            .arg(entry)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start server-everything");
        wait_listening(port, &mut child, "server-everything").await;
        let base = format!("http://127.0.0.1:{port}");
        Some(McpServer { child, url: format!("{base}/mcp"), base })
    }
}

/// A reverse proxy that serves each mapped MCP server as `/toolboxes/{name}/mcp`, the path the
/// server's toolbox client uses: the toolbox proxy is MCP over HTTP, so any MCP server can be
/// a toolbox behind it. Bodies stream both ways (SSE answers are not buffered).
pub struct Front {
    /// `http://127.0.0.1:PORT`, for `FOUNDRY_PROJECT_ENDPOINT`.
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Routes {
    targets: Arc<HashMap<String, String>>,
    http: reqwest::Client,
}

/// Headers that travel through the front (hop-by-hop ones and `host` do not).
const FORWARDED: [&str; 7] =
    ["content-type", "accept", "mcp-session-id", "mcp-protocol-version", "authorization", "last-event-id", "x-api-key"];

async fn forward(State(routes): State<Routes>, Path(name): Path<String>, request: Request) -> Response {
    let Some(target) = routes.targets.get(&name) else {
        return (StatusCode::NOT_FOUND, format!("front: no toolbox {name}")).into_response();
    };
    let (parts, body) = request.into_parts();
    let mut outgoing = routes.http.request(parts.method.clone(), target.as_str());
    for name in FORWARDED {
        for value in parts.headers.get_all(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let outgoing = outgoing.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("front: {e}")).into_response(),
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if ["content-type", "mcp-session-id", "www-authenticate"].contains(&name.as_str()) {
            response =
                response.header(HeaderName::from_bytes(name.as_str().as_bytes()).expect("header"), value.as_bytes());
        }
    }
    response.body(Body::from_stream(answer.bytes_stream())).unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

impl Front {
    /// Serves `toolbox name -> MCP URL`.
    pub async fn start(targets: &[(&str, &str)]) -> Front {
        let targets: HashMap<String, String> = targets.iter().map(|(n, u)| (n.to_string(), u.to_string())).collect();
        let routes = Routes { targets: Arc::new(targets), http: crate::client() };
        let app = axum::Router::new().route("/toolboxes/{name}/mcp", axum::routing::any(forward)).with_state(routes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind front");
        let base = format!("http://{}", listener.local_addr().expect("front addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Front { base, task }
    }
}
