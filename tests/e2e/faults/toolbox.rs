//! The toolbox side of the fault matrix: 64 users while the proxy answers 429/503 storms and
//! drops connections, while one toolbox is slow, hangs, answers malformed JSON-RPC or cuts its SSE
//! answer (one at a time, then mixed), while the proxy is down and after it is back, and while
//! consent mixes with hard errors and tokens expire.

use std::net::SocketAddr;

use agenthost_e2e::{Server, as_user, pairs, toolbox_env};
use agenthost_mock_proxy::{MockProxy, Scenario};
use futures::future::join_all;
use serde_json::{Value, json};

use super::{USERS, assert_back_to, footprint, rounds, run_turn, scenario};

/// The round number of a warm-up load (its texts never clash with a measured round's).
const WARM: usize = 99;

/// One user's request: the text only this user's turn carries, streaming for even users,
/// `store: false` for every third.
fn body(user: usize, round: usize, calls: &[&str]) -> Value {
    let text = format!("u{user}r{round}");
    let input: Vec<String> = calls.iter().map(|tool| format!(r#"call:{tool} {{"text":"{text}"}}"#)).collect();
    json!({"input": input.join(" "), "stream": user.is_multiple_of(2), "store": !user.is_multiple_of(3)})
}

/// `function_call_output` texts of a response, in order.
fn call_outputs(r: &Value) -> Vec<String> {
    r["output"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i["type"] == "function_call_output")
                .map(|i| i["output"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `tools/call` requests the proxy received for `toolbox` since its log was last cleared.
fn calls_to(proxy: &MockProxy, toolbox: &str) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|q| q.toolbox == toolbox && q.jsonrpc_method.as_deref() == Some("tools/call"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_users_under_toolbox_storms() {
    let proxy = MockProxy::start(scenario()).await.unwrap();
    let mut env = toolbox_env(&proxy.base_url(), "steady,flaky");
    env.push(("AGENTHOST_TOOLBOX_REQUEST_TIMEOUT".into(), "5".into()));
    let s = Server::start(&pairs(&env)).await;
    let load = |round: usize| {
        let s = &s;
        join_all((0..USERS).map(move |user| async move {
            let r =
                run_turn(s, user, &body(user, round, &["echo", "shout"]), &as_user(&format!("user{user}"), 1)).await;
            r["status"].as_str().unwrap_or_default().to_string()
        }))
    };
    // A first load under the same storm brings the server to its working size (connections to the
    // proxy, the allocator's high-water mark of 64 concurrent turns); growth after it is a leak.
    load(WARM).await;
    proxy.reset();
    let before = footprint(&s, &[]).await;
    let mut statuses = Vec::new();
    for round in 0..rounds() {
        statuses.extend(load(round).await);
    }
    assert_eq!(statuses.len(), USERS * rounds());
    // Tool faults degrade a call, never the response: the model answers from the error.
    assert!(statuses.iter().all(|s| s == "completed"), "{statuses:?}");
    // A `tools/call` that may have reached the proxy is never repeated: at most one call per
    // tool per response, plus the retries of provably unprocessed 429s.
    let calls = calls_to(&proxy, "steady") + calls_to(&proxy, "flaky");
    assert!(calls <= 2 * USERS * rounds() + 3 * 3 + 1, "{calls} upstream calls for {} responses", USERS * rounds());
    let after = assert_back_to(&s, before, &[]).await;
    eprintln!(
        "fault matrix (toolbox storms): {} responses completed, 0 lost, {calls} tools/call upstream; before: {before}; after: {after}",
        statuses.len()
    );
}

/// A steady toolbox beside one that is slow (2 s), one that never answers a call, one whose
/// answers are not JSON-RPC and one whose SSE answers break off mid-event.
const ONE_BAD_TOOLBOX: &str = r#"
[[toolboxes]]
name = "steady"
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
[[toolboxes]]
name = "slow"
  [[toolboxes.sources]]
  name = "slow"
    [[toolboxes.sources.tools]]
    name = "slowpoke"
  [[toolboxes.faults]]
  methods = ["tools/call"]
  latency_ms = 2000
[[toolboxes]]
name = "hanging"
  [[toolboxes.sources]]
  name = "hanging"
    [[toolboxes.sources.tools]]
    name = "sleeper"
  [[toolboxes.faults]]
  methods = ["tools/call"]
  hang = true
[[toolboxes]]
name = "garbled"
  [[toolboxes.sources]]
  name = "garbled"
    [[toolboxes.sources.tools]]
    name = "babble"
  [[toolboxes.faults]]
  methods = ["tools/call"]
  malformed = 1000000
[[toolboxes]]
name = "cut"
  [[toolboxes.sources]]
  name = "cut"
    [[toolboxes.sources.tools]]
    name = "stammer"
  [[toolboxes.faults]]
  methods = ["tools/call"]
  cut_stream = 1000000
"#;

/// (toolbox, its tool, what the tool's output must start with).
const FAULTY: [(&str, &str, &str); 4] = [
    ("slow", "slowpoke", "echo: "),
    ("hanging", "sleeper", "Error: "),
    ("garbled", "babble", "Error: "),
    ("cut", "stammer", "Error: "),
];

/// Each fault alone under 64 users, then all four dealt round-robin to 64 users at once: every
/// response completes with the steady tool's answer and the faulty tool's error (or, when only
/// slow, its answer), each user's `tools/call` reaches the proxy exactly once (none is retried:
/// it may have run), and nothing is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_users_with_one_toolbox_slow_hanging_garbled_or_cut() {
    let proxy = MockProxy::start(Scenario::from_toml_str(ONE_BAD_TOOLBOX).unwrap()).await.unwrap();
    let mut env = toolbox_env(&proxy.base_url(), "steady,slow,hanging,garbled,cut");
    env.push(("AGENTHOST_TOOLBOX_REQUEST_TIMEOUT".into(), "4".into()));
    let s = Server::start(&pairs(&env)).await;
    // Phases 0..4: one faulty toolbox each; phase 4: user i gets fault i % 4. The mixed phase also
    // runs first, as the warm-up the footprint is measured after.
    let phases = [FAULTY.len()].into_iter().chain((0..rounds()).flat_map(|_| 0..=FAULTY.len()));
    let mut before = None;
    for (round, phase) in phases.enumerate() {
        proxy.clear_requests();
        let fault_of = |user: usize| if phase < FAULTY.len() { FAULTY[phase] } else { FAULTY[user % FAULTY.len()] };
        let turns = (0..USERS).map(|user| {
            let s = &s;
            async move {
                let (_, tool, expect) = fault_of(user);
                let r =
                    run_turn(s, user, &body(user, round, &["echo", tool]), &as_user(&format!("p{round}u{user}"), 1))
                        .await;
                assert_eq!(r["status"], "completed", "phase {phase} user {user}: {r}");
                let outputs = call_outputs(&r);
                assert_eq!(outputs.len(), 2, "phase {phase} user {user}: {r}");
                assert_eq!(outputs[0], format!("echo: u{user}r{round}"));
                assert!(outputs[1].starts_with(expect), "phase {phase} user {user} ({tool}): {:?}", outputs[1]);
            }
        });
        join_all(turns).await;
        for (toolbox, _, _) in FAULTY {
            let want = (0..USERS).filter(|u| fault_of(*u).0 == toolbox).count();
            assert_eq!(calls_to(&proxy, toolbox), want, "phase {phase}: tools/call to {toolbox}");
        }
        assert_eq!(calls_to(&proxy, "steady"), USERS, "phase {phase}");
        if before.is_none() {
            before = Some(footprint(&s, &[]).await);
        }
    }
    let before = before.expect("a warm-up phase ran");
    let after = assert_back_to(&s, before, &[]).await;
    eprintln!(
        "fault matrix (slow, hanging, garbled, cut): {} responses completed; before: {before}; after: {after}",
        USERS * (1 + rounds() * (FAULTY.len() + 1))
    );
}

/// The proxy goes away (connection refused) under 64 users: every response still completes, the
/// tools' errors say the toolbox could not be reached, readiness stays 200; when the proxy is back
/// on the same address the next 64 turns get their tools again, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_users_while_the_proxy_is_down_and_after_it_is_back() {
    let proxy = MockProxy::start(scenario()).await.unwrap();
    let addr: SocketAddr = proxy.addr();
    let s = Server::start(&pairs(&toolbox_env(&proxy.base_url(), "steady"))).await;
    let load = |round: usize| {
        let s = &s;
        join_all((0..USERS).map(move |user| async move {
            let r =
                run_turn(s, user, &body(user, round, &["echo"]), &as_user(&format!("d{user}"), round as u32 + 1)).await;
            assert_eq!(r["status"], "completed", "round {round} user {user}: {r}");
            call_outputs(&r)
        }))
    };
    load(WARM).await;
    let before = footprint(&s, &[]).await;
    proxy.shutdown().await;
    for outputs in load(0).await {
        assert_eq!(outputs.len(), 1, "{outputs:?}");
        assert!(outputs[0].starts_with("Error: "), "{outputs:?}");
    }
    let (ready, _) = s.call("GET", "/readiness", &[]).await;
    assert_eq!(ready, 200, "readiness never waits on a toolbox");
    let proxy = MockProxy::start_on(scenario(), addr).await.unwrap();
    for (user, outputs) in load(1).await.into_iter().enumerate() {
        assert_eq!(outputs, [format!("echo: u{user}r1")], "user {user}: tools back with the proxy");
    }
    // The new proxy never saw the server's MCP sessions: a call it answers "session unknown" was
    // not run, and is sent once more on a new session. Nothing is sent a third time.
    let calls = calls_to(&proxy, "steady");
    assert!((USERS..=2 * USERS).contains(&calls), "{calls} tools/call for {USERS} turns");
    let after = assert_back_to(&s, before, &[]).await;
    eprintln!(
        "fault matrix (proxy down, then back): {} responses completed; before: {before}; after: {after}",
        2 * USERS
    );
}

/// Consent mixed with hard errors, and tokens expiring, under 64 users. One toolbox's listing
/// fails for one source with consent and for another with a hard error; another toolbox needs
/// consent too. Each turn ends `incomplete` with that user's own two consent links and the hard
/// error reported. Once each user has consented, their call works and expires their token; their
/// next turn's call gets HTTP 401, which is answered by re-listing (never by calling again), and
/// the turn asks for consent again with their own link.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_users_meeting_consent_with_hard_errors_and_expiring_tokens() {
    let scenario = Scenario::from_toml_str(
        r#"
[[toolboxes]]
name = "suite"
  [[toolboxes.sources]]
  name = "mail"
  auth = "consent"
    [[toolboxes.sources.tools]]
    name = "send_mail"
  [[toolboxes.sources]]
  name = "broken"
  auth = "hard_error"
[[toolboxes]]
name = "notebook"
  [[toolboxes.sources]]
  name = "notes"
  auth = "consent"
    [[toolboxes.sources.tools]]
    name = "write_note"
  [[toolboxes.faults]]
  expire_after_calls = 1
"#,
    )
    .unwrap();
    let proxy = MockProxy::start(scenario).await.unwrap();
    let s = Server::start(&pairs(&toolbox_env(&proxy.base_url(), "suite,notebook"))).await;
    let items_of = |r: &Value, kind: &str| -> Vec<Value> {
        r["output"].as_array().map(|o| o.iter().filter(|i| i["type"] == kind).cloned().collect()).unwrap_or_default()
    };
    let load = |who: &'static str, round: usize| {
        let s = &s;
        join_all((0..USERS).map(move |user| async move {
            let headers = as_user(&format!("{who}{user}"), round as u32 + 1);
            run_turn(s, user, &body(user, round, &["write_note"]), &headers).await
        }))
    };
    // Each turn asks its own user for consent to `sources`.
    let asks_again = |who: &str, user: usize, r: &Value, sources: &[&str]| {
        assert_eq!(r["status"], "incomplete", "user {user}: {r}");
        let consents = items_of(r, "oauth_consent_request");
        let labels: Vec<&str> = consents.iter().filter_map(|i| i["server_label"].as_str()).collect();
        assert_eq!(labels, sources, "user {user}: {r}");
        for item in &consents {
            let link = item["consent_link"].as_str().unwrap_or_default();
            assert!(link.contains(&format!("user={who}{user}&")), "user {user}: {link}");
        }
    };
    for (user, r) in load("w", 0).await.iter().enumerate() {
        asks_again("w", user, r, &["mail", "notes"]);
    }
    let before = footprint(&s, &[]).await;
    for (user, r) in load("c", 0).await.iter().enumerate() {
        asks_again("c", user, r, &["mail", "notes"]);
        let lists = items_of(r, "mcp_list_tools");
        assert!(lists.iter().any(|l| l["error"].as_str().is_some_and(|e| !e.is_empty())), "hard error reported: {r}");
    }
    assert_eq!(calls_to(&proxy, "notebook"), 0);
    for user in 0..USERS {
        proxy.grant(&format!("c{user}"), "mail");
        proxy.grant(&format!("c{user}"), "notes");
    }
    proxy.clear_requests();
    for (user, r) in load("c", 1).await.iter().enumerate() {
        assert_eq!(r["status"], "completed", "user {user}: {r}");
        assert_eq!(call_outputs(r), [format!("echo: u{user}r1")]);
    }
    assert_eq!(calls_to(&proxy, "notebook"), USERS);
    proxy.clear_requests();
    // The call's 401 re-lists its toolbox, which asks again; the other toolbox's listing (its hard
    // error) is still this user's cached one.
    for (user, r) in load("c", 2).await.iter().enumerate() {
        asks_again("c", user, r, &["notes"]);
    }
    let calls = calls_to(&proxy, "notebook");
    assert!(calls <= USERS, "{calls} tools/call: a 401 is answered by re-listing, not by calling again");
    let after = assert_back_to(&s, before, &[]).await;
    eprintln!("fault matrix (consent, hard errors, expiry): {} responses; before: {before}; after: {after}", 4 * USERS);
}
