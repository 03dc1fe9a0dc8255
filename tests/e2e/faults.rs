//! The fault matrix under load (issue 15): 64 concurrent users, streaming and not, stored and
//! `store: false`, tools from two toolboxes, while the toolbox proxy and the model fail in every
//! way the mocks can. For every response: exactly one terminal event, the stored record equal to
//! what was streamed, a stable code on every failure, no 5xx, no other user's data; after the
//! load no panics, and file descriptors, runtime tasks and resident memory back to their level
//! before it. The toolbox side is in [`toolbox`].
//!
//! The short form runs in the README's test command; `tests/scripts/chaos.sh` runs it longer
//! (`AGENTHOST_CHAOS_ROUNDS`).

use std::collections::HashSet;
use std::time::Duration;

use agenthost_e2e::{Server, as_user, pairs, read_events};
use agenthost_mock_proxy::{MockProxy, Scenario};
use agenthost_model::mock::{MockChunk, MockEnd, MockOpenAi, MockTurn};
use futures::future::join_all;
use serde_json::{Value, json};

/// The toolbox proxy failing in each way, one at a time and mixed; down and back; consent and
/// token expiry under load.
mod toolbox;

const USERS: usize = 64;

fn rounds() -> usize {
    std::env::var("AGENTHOST_CHAOS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

/// Codes a failed response may carry under these faults.
const FAILURE_CODES: [&str; 8] = [
    "rate_limited",
    "model_unavailable",
    "model_timeout",
    "model_error",
    "invalid_model_request",
    "timeout",
    "server_error",
    "max_iterations_exceeded",
];

/// The port of an `http://host:port/…` URL.
fn port_of(url: &str) -> u16 {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .and_then(|hp| hp.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Sockets of `pid` connected to one of `upstream_ports`: an HTTP client's idle keep-alive pool,
/// whose size after a storm depends on timing (how many connections the faults closed), not on
/// a leak.
fn pooled_sockets(pid: u32, upstream_ports: &[u16]) -> HashSet<String> {
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(format!("/proc/{pid}/net/{t}")).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let cols: Vec<&str> = line.split_whitespace().collect();
                    let port = u16::from_str_radix(cols.get(2)?.rsplit(':').next()?, 16).ok()?;
                    let inode = cols.get(9)?;
                    upstream_ports.contains(&port).then(|| format!("socket:[{inode}]"))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A number from `/proc/<pid>/status` (`VmRSS:` in KiB, `Threads:`).
fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix(field)?.split_whitespace().next()?.parse().ok()))
        .unwrap_or(0)
}

/// What a load must leave as it found it.
#[derive(Debug, Clone, Copy)]
struct Footprint {
    /// Open file descriptors, idle upstream keep-alive sockets left out.
    fds: usize,
    /// Tasks alive on the server's runtime (`agenthost_runtime_alive_tasks`), less one driver task
    /// per idle upstream keep-alive socket.
    tasks: i64,
    /// Resident memory, KiB.
    rss_kib: u64,
    /// Threads of the process (tokio's blocking pool grows under load and shrinks when idle).
    threads: u64,
}

impl std::fmt::Display for Footprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} fds, {} tasks, {} KiB RSS, {} threads", self.fds, self.tasks, self.rss_kib, self.threads)
    }
}

/// Measures the server's footprint, idle sockets to `upstream_ports` left out.
async fn footprint(s: &Server, upstream_ports: &[u16]) -> Footprint {
    let metrics = s.metrics_text().await;
    let pooled = pooled_sockets(s.pid(), upstream_ports);
    let links: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", s.pid()))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .map(|t| t.to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let idle = links.iter().filter(|l| pooled.contains(*l)).count();
    let tasks: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("agenthost_runtime_alive_tasks ")?.trim().parse().ok())
        .expect("agenthost_runtime_alive_tasks in /metrics");
    Footprint {
        fds: links.len() - idle,
        tasks: tasks - idle as i64,
        rss_kib: proc_status(s.pid(), "VmRSS:"),
        threads: proc_status(s.pid(), "Threads:"),
    }
}

/// No panics in the log; file descriptors and runtime tasks back to their level `before` the
/// load (a finished request's socket and tasks go once its peer has closed) and resident memory
/// within 10 % of it. Returns the footprint after.
async fn assert_back_to(s: &Server, before: Footprint, upstream_ports: &[u16]) -> Footprint {
    assert!(!s.log().contains("panicked"), "a panic was logged");
    let settled = |now: &Footprint| {
        now.fds <= before.fds + 2 && now.tasks <= before.tasks + 2 && now.rss_kib * 10 <= before.rss_kib * 11
    };
    let mut after = footprint(s, upstream_ports).await;
    // Sockets close and tasks end as peers hang up and the allocator returns freed pages after
    // its purge delay: poll for the state rather than sleeping a guess.
    for _ in 0..100 {
        if settled(&after) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = footprint(s, upstream_ports).await;
    }
    assert!(settled(&after), "before the load: {before}; after: {after}");
    after
}

/// Checks one finished response of `user` and returns its status.
fn check_response(response: &Value, user: usize) -> String {
    let status = response["status"].as_str().unwrap_or_default().to_string();
    assert!(["completed", "incomplete", "failed"].contains(&status.as_str()), "user {user}: {response}");
    if status == "failed" {
        let code = response["error"]["code"].as_str().unwrap_or_default();
        assert!(FAILURE_CODES.contains(&code), "user {user}: unstable code {code:?}: {response}");
    }
    // Nobody else's text appears in this user's response.
    let text = response["output"].to_string();
    for other in (0..USERS).filter(|o| *o != user) {
        assert!(!text.contains(&format!("\"u{other}r")), "user {user} saw user {other}'s data: {text}");
    }
    status
}

/// One user's turn with `body`: the right status, exactly one terminal event (last) when
/// streamed, the checks of [`check_response`], and the stored record equal to what was answered
/// (or absent with `store: false`, and never readable by another user), then deleted. Returns
/// the response.
async fn run_turn(s: &Server, user: usize, body: &Value, headers: &[(String, String)]) -> Value {
    let stream = body["stream"].as_bool().unwrap_or(false);
    let store = body["store"].as_bool().unwrap_or(true);
    let final_response = if stream {
        let resp = s.sse("/responses", Some(body), &pairs(headers)).await;
        assert_eq!(resp.status(), 200);
        let (events, _) = read_events(resp).await;
        let terminal: Vec<&str> = events
            .iter()
            .map(|e| e.name.as_str())
            .filter(|n| ["response.completed", "response.incomplete", "response.failed"].contains(n))
            .collect();
        assert_eq!(terminal.len(), 1, "user {user}: terminal events {terminal:?}");
        assert_eq!(events.last().map(|e| e.name.as_str()), Some(terminal[0]));
        events.last().map(|e| e.data["response"].clone()).unwrap_or_default()
    } else {
        let (status, _, r) = s.post(body, &pairs(headers)).await;
        assert_eq!(status, 200, "user {user}: no 5xx for upstream faults: {r}");
        r
    };
    check_response(&final_response, user);
    let id = final_response["id"].as_str().unwrap_or_default();
    let (code, stored) = s.call("GET", &format!("/responses/{id}"), &pairs(headers)).await;
    if store {
        assert_eq!(code, 200, "user {user}: stored response missing");
        assert_eq!(stored["output"], final_response["output"], "user {user}: stored != streamed");
        assert_eq!(stored["status"], final_response["status"]);
        let (code, _) = s.call("GET", &format!("/responses/{id}"), &pairs(&as_user("intruder", 1))).await;
        assert_eq!(code, 404, "another user read user {user}'s response");
        // Deleted once checked, so the store's contents do not count as memory the load kept.
        let (code, deleted) = s.call("DELETE", &format!("/responses/{id}"), &pairs(headers)).await;
        assert_eq!((code, &deleted["deleted"]), (200, &json!(true)), "user {user}: {deleted}");
    } else {
        assert_eq!(code, 404, "user {user}: store:false response was kept");
    }
    final_response
}

fn scenario() -> Scenario {
    Scenario::from_toml_str(
        r#"
[[toolboxes]]
name = "steady"
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
  [[toolboxes.faults]]
  methods = ["tools/call"]
  latency_ms = 20
[[toolboxes]]
name = "flaky"
  [[toolboxes.sources]]
  name = "shout"
    [[toolboxes.sources.tools]]
    name = "shout"
  [[toolboxes.faults]]
  methods = ["tools/call"]
  http_statuses = [503, 429, 503, 500, 502, 503, 429, 504, 503, 503, 500, 429]
  retry_after = 1
  [[toolboxes.faults]]
  methods = ["tools/call"]
  drop_connection = 6
"#,
    )
    .expect("scenario")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_users_under_model_faults() {
    // Every kind of model fault, dealt round-robin to whichever request comes next.
    let mut script = Vec::new();
    for i in 0..(USERS * (rounds() + 1) * 2) {
        script.push(match i % 8 {
            0 => {
                MockTurn::error(429, json!({"error": {"message": "slow down", "type": "rate_limit"}})).retry_after("0")
            }
            1 => MockTurn::error(500, json!({"error": {"message": "boom", "type": "server_error"}})),
            2 => MockTurn::text(&["half", " an"]).ending(MockEnd::Drop),
            3 => MockTurn::text(&["stalls"]).ending(MockEnd::Hang),
            4 => MockTurn::error_text(200, "data: {not json\n\n"),
            5 => MockTurn::reply(vec![
                MockChunk::ToolCall { call_id: "c1".into(), name: "echo".into() },
                MockChunk::ToolArgs { call_id: "c1".into(), fragment: "{not json".into() },
            ]),
            6 => MockTurn::text(&["fine"]).ending(MockEnd::ServerError("upstream broke".into())),
            _ => MockTurn::text(&["all", " good"]),
        });
    }
    let mock = MockOpenAi::start(script).await;
    let s = Server::start(&[
        ("AGENTHOST_MODEL_PROVIDER", "openai"),
        ("AGENTHOST_MODEL_BASE_URL", &mock.base_url()),
        ("AGENTHOST_MODEL", "mock-model"),
        ("AGENTHOST_MODEL_TIMEOUT", "1"),
        ("OPENAI_API_KEY", "sk-chaos"),
    ])
    .await;
    let model_load = |round: usize| {
        let s = &s;
        join_all((0..USERS).map(move |user| async move {
            let stream = user.is_multiple_of(2);
            let body = json!({"input": format!("u{user}r{round}"), "stream": stream, "store": !user.is_multiple_of(3)});
            let headers = as_user(&format!("m{user}"), 1);
            let r = run_turn(s, user, &body, &headers).await;
            r["status"].as_str().unwrap_or_default().to_string()
        }))
    };
    // A first round fills the model client's connection pool; a leak shows as growth after it.
    model_load(usize::MAX / 2).await;
    let model_port = port_of(&mock.base_url());
    let before = footprint(&s, &[model_port]).await;
    let mut statuses = Vec::new();
    for round in 0..rounds() {
        statuses.extend(model_load(round).await);
    }
    let seen: HashSet<&str> = statuses.iter().map(String::as_str).collect();
    assert!(seen.contains("failed") && seen.contains("completed"), "{seen:?}");
    let after = assert_back_to(&s, before, &[model_port]).await;
    let count = |want: &str| statuses.iter().filter(|s| *s == want).count();
    eprintln!(
        "fault matrix (model): {} responses, {} completed, {} failed with stable codes, 0 lost; before: {before}; after: {after}",
        statuses.len(),
        count("completed"),
        count("failed"),
    );
}

/// The identity endpoint failing (500) or slow: toolbox tokens cannot be had, so the toolbox's
/// tools are missing from each answer with an error saying so, and every one of 64 concurrent
/// responses still completes; token requests are shared, never one per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_users_while_the_identity_endpoint_fails() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    // Every other token request fails at once; the rest answer after a second with a 500 too.
    let app = axum::Router::new().fallback(move || {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n % 2 == 1 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "identity endpoint down")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/msi/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let proxy = MockProxy::start(scenario()).await.unwrap();
    let s = Server::start(&[
        ("FOUNDRY_PROJECT_ENDPOINT", proxy.base_url().as_str()),
        ("TOOLBOX_NAME", "steady"),
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", "h"),
        ("AGENTHOST_TOOLBOX_STARTUP_TIMEOUT", "1"),
        ("AGENTHOST_TOOLBOX_REQUEST_TIMEOUT", "3"),
    ])
    .await;
    let load = |round: usize| {
        let s = &s;
        join_all((0..USERS).map(move |user| async move {
            let body = json!({
                "input": format!(r#"call:echo {{"text":"u{user}r{round}"}}"#),
                "stream": user.is_multiple_of(2),
            });
            let r = run_turn(s, user, &body, &as_user(&format!("id{user}"), round as u32 + 1)).await;
            assert_eq!(r["status"], "completed", "{r}");
            let list = &r["output"][0];
            assert_eq!(list["type"], "mcp_list_tools", "{r}");
            let error = list["error"].as_str().unwrap_or_default();
            assert!(error.contains("no access token") || error.contains("did not answer in time"), "{error}");
        }))
    };
    // The first load is the warm-up the footprint is measured after.
    load(0).await;
    let before = footprint(&s, &[]).await;
    let warm_requests = hits.load(Ordering::SeqCst);
    load(1).await;
    let token_requests = hits.load(Ordering::SeqCst) - warm_requests;
    assert!(token_requests <= USERS, "{token_requests} token requests for {USERS} responses");
    assert!(
        proxy.requests().iter().all(|q| q.jsonrpc_method.as_deref() != Some("tools/call")),
        "no call without a token"
    );
    let after = assert_back_to(&s, before, &[]).await;
    eprintln!(
        "fault matrix (identity): {USERS} responses completed, {token_requests} token requests; before: {before}; after: {after}"
    );
}
