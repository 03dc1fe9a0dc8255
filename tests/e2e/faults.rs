//! The fault matrix under load (issue 15): 64 concurrent users, streaming and not, stored and
//! `store: false`, tools from two toolboxes, while the toolbox proxy and the model fail in every
//! way the mocks can. For every response: exactly one terminal event, the stored record equal to
//! what was streamed, a stable code on every failure, no 5xx, no other user's data; after the
//! load no panics, file descriptors back to their level before it.
//!
//! The short form runs in the README's test command; `tests/scripts/chaos.sh` runs it longer
//! (`AGENTHOST_CHAOS_ROUNDS`).

use std::collections::HashSet;
use std::time::Duration;

use agenthost_e2e::{Server, as_user, pairs, read_events, toolbox_env};
use agenthost_mock_proxy::{MockProxy, Scenario};
use agenthost_model::mock::{MockChunk, MockEnd, MockOpenAi, MockTurn};
use futures::future::join_all;
use serde_json::{Value, json};

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

/// Open file descriptors of `pid`, leaving out TCP sockets connected to one of `upstream_ports`:
/// those are an HTTP client's idle keep-alive pool, whose size after a storm depends on timing
/// (how many connections the faults closed), not on a leak.
fn fd_count_except_pooled(pid: u32, upstream_ports: &[u16]) -> usize {
    let pooled: HashSet<String> = ["tcp", "tcp6"]
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
        .collect();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path()).map(|t| !pooled.contains(&*t.to_string_lossy())).unwrap_or(true)
                })
                .count()
        })
        .unwrap_or(0)
}

/// Resident memory of the process, KiB (a figure for the summary line, not an assertion: the
/// allocator keeps freed pages, so a single number after load says little on its own).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
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

/// One user's request: what it sends, and whether it streams / is stored.
fn request(user: usize, round: usize) -> (Value, bool, bool) {
    let stream = user.is_multiple_of(2);
    let store = !user.is_multiple_of(3);
    let text = format!("u{user}r{round}");
    let body = json!({
        "input": format!(r#"call:echo {{"text":"{text}"}} call:shout {{"text":"{text}"}}"#),
        "stream": stream,
        "store": store,
    });
    (body, stream, store)
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

async fn load(s: &Server, round: usize) -> Vec<String> {
    let runs = (0..USERS).map(|user| async move {
        let (body, stream, store) = request(user, round);
        let headers = as_user(&format!("user{user}"), round as u32 + 1);
        let final_response = if stream {
            let resp = s.sse("/responses", Some(&body), &pairs(&headers)).await;
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
            let (status, _, r) = s.post(&body, &pairs(&headers)).await;
            assert_eq!(status, 200, "user {user}: no 5xx for upstream faults: {r}");
            r
        };
        let status = check_response(&final_response, user);
        let id = final_response["id"].as_str().unwrap_or_default();
        let (code, stored) = s.call("GET", &format!("/responses/{id}"), &pairs(&headers)).await;
        if store {
            assert_eq!(code, 200, "user {user}: stored response missing");
            assert_eq!(stored["output"], final_response["output"], "user {user}: stored != streamed");
            assert_eq!(stored["status"], final_response["status"]);
            // Another user cannot read it.
            let (code, _) = s.call("GET", &format!("/responses/{id}"), &pairs(&as_user("intruder", 1))).await;
            assert_eq!(code, 404);
        } else {
            assert_eq!(code, 404, "user {user}: store:false response was kept");
        }
        status
    });
    join_all(runs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_users_under_toolbox_faults() {
    let proxy = MockProxy::start(scenario()).await.unwrap();
    let mut env = toolbox_env(&proxy.base_url(), "steady,flaky");
    env.push(("AGENTHOST_TOOLBOX_REQUEST_TIMEOUT".into(), "5".into()));
    let s = Server::start(&pairs(&env)).await;
    // Warm: connections to the proxy opened, tool lists shared.
    let (_, _, warm) = s.post(&json!({"input": r#"call:echo {"text":"warm"}"#}), &[]).await;
    assert_eq!(warm["status"], "completed", "{warm}");
    let fds_before = fd_count_except_pooled(s.pid(), &[]);
    let rss_before = rss_kib(s.pid());
    let mut statuses = Vec::new();
    for round in 0..rounds() {
        statuses.extend(load(&s, round).await);
    }
    assert_eq!(statuses.len(), USERS * rounds());
    // Tool faults degrade a call, never the response: the model answers from the error.
    assert!(statuses.iter().all(|s| s == "completed"), "{statuses:?}");
    // A `tools/call` that may have reached the proxy is never repeated: at most one call per
    // tool per response, plus the retries of provably unprocessed 429s.
    let calls = proxy.requests().iter().filter(|q| q.jsonrpc_method.as_deref() == Some("tools/call")).count();
    assert!(calls <= 2 * USERS * rounds() + 3 * 3 + 1, "{calls} upstream calls for {} responses", USERS * rounds());
    let fds_after = assert_no_leaks(&s, fds_before, &[]).await;
    eprintln!(
        "fault matrix (toolbox): {} responses, {} completed, 0 lost, {calls} tools/call upstream, fds {fds_before} -> {fds_after}, RSS {rss_before} -> {} KiB",
        statuses.len(),
        statuses.iter().filter(|s| *s == "completed").count(),
        rss_kib(s.pid())
    );
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
            if stream {
                let (events, _) = read_events(s.sse("/responses", Some(&body), &pairs(&headers)).await).await;
                let terminal = events
                    .iter()
                    .filter(|e| {
                        ["response.completed", "response.incomplete", "response.failed"].contains(&e.name.as_str())
                    })
                    .count();
                assert_eq!(terminal, 1, "user {user}");
                check_response(&events.last().map(|e| e.data["response"].clone()).unwrap_or_default(), user)
            } else {
                let (status, _, r) = s.post(&body, &pairs(&headers)).await;
                assert_eq!(status, 200, "user {user}: {r}");
                check_response(&r, user)
            }
        }))
    };
    // A first round fills the model client's connection pool; a leak shows as growth after it.
    model_load(usize::MAX / 2).await;
    let model_port = port_of(&mock.base_url());
    let fds_before = fd_count_except_pooled(s.pid(), &[model_port]);
    let rss_before = rss_kib(s.pid());
    let mut statuses = Vec::new();
    for round in 0..rounds() {
        statuses.extend(model_load(round).await);
    }
    let seen: HashSet<&str> = statuses.iter().map(String::as_str).collect();
    assert!(seen.contains("failed") && seen.contains("completed"), "{seen:?}");
    let fds_after = assert_no_leaks(&s, fds_before, &[model_port]).await;
    let count = |want: &str| statuses.iter().filter(|s| *s == want).count();
    eprintln!(
        "fault matrix (model): {} responses, {} completed, {} failed with stable codes, 0 lost, fds {fds_before} -> {fds_after}, RSS {rss_before} -> {} KiB",
        statuses.len(),
        count("completed"),
        count("failed"),
        rss_kib(s.pid())
    );
}

/// No panics in the log, and file descriptors back to their level before the load (sockets of
/// finished requests are closed once their peers are).
async fn assert_no_leaks(s: &Server, before: usize, upstream_ports: &[u16]) -> usize {
    assert!(!s.log().contains("panicked"), "a panic was logged");
    let mut after = fd_count_except_pooled(s.pid(), upstream_ports);
    for _ in 0..100 {
        if after <= before + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = fd_count_except_pooled(s.pid(), upstream_ports);
    }
    assert!(after <= before + 2, "file descriptors: {before} before the load, {after} after");
    after
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
    let fds_before = fd_count_except_pooled(s.pid(), &[]);
    let runs = (0..USERS).map(|user| {
        let s = &s;
        async move {
            let body =
                json!({"input": format!(r#"call:echo {{"text":"u{user}r0"}}"#), "stream": user.is_multiple_of(2)});
            let headers = as_user(&format!("id{user}"), 1);
            let r = if user.is_multiple_of(2) {
                let (events, _) = read_events(s.sse("/responses", Some(&body), &pairs(&headers)).await).await;
                events.last().map(|e| e.data["response"].clone()).unwrap_or_default()
            } else {
                let (status, _, r) = s.post(&body, &pairs(&headers)).await;
                assert_eq!(status, 200, "{r}");
                r
            };
            assert_eq!(check_response(&r, user), "completed");
            let list = &r["output"][0];
            assert_eq!(list["type"], "mcp_list_tools", "{r}");
            let error = list["error"].as_str().unwrap_or_default();
            assert!(error.contains("no access token") || error.contains("did not answer in time"), "{error}");
        }
    });
    join_all(runs).await;
    let token_requests = hits.load(Ordering::SeqCst);
    assert!(token_requests <= USERS, "{token_requests} token requests for {USERS} responses");
    assert!(
        proxy.requests().iter().all(|q| q.jsonrpc_method.as_deref() != Some("tools/call")),
        "no call without a token"
    );
    let fds_after = assert_no_leaks(&s, fds_before, &[]).await;
    eprintln!(
        "fault matrix (identity): {USERS} responses completed, {token_requests} token requests, fds {fds_before} -> {fds_after}"
    );
}
