//! Several `agenthost` processes on one PostgreSQL (`AGENTHOST_TEST_POSTGRES_URL`; `.ci/run`
//! starts one with tests/scripts/pg-throwaway.sh). Without it a local run says it skipped; in CI
//! it fails.

use std::process::Command;
use std::time::{Duration, Instant};

use agenthost_e2e::{Server, binary};
use serde_json::json;

fn database() -> Option<String> {
    let url = std::env::var("AGENTHOST_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        let why = "AGENTHOST_TEST_POSTGRES_URL not set (eval \"$(tests/scripts/pg-throwaway.sh env)\")";
        assert!(std::env::var("CI").is_err(), "CI: {why}");
        eprintln!("skipped: {why}");
    }
    url
}

const USER: &[(&str, &str)] = &[("x-agent-user-id", "replica-e2e")];

#[tokio::test]
async fn two_replicas_share_responses_and_conversations() {
    let Some(url) = database() else { return };
    let env = [("AGENTHOST_STORE", url.as_str())];
    let (a, b) = tokio::join!(Server::start(&env), Server::start(&env));

    let (status, _, first) = a.post(&json!({"input": "remember me"}), USER).await;
    assert_eq!((status, &first["status"]), (200, &json!("completed")), "{first}");
    let id = first["id"].as_str().unwrap();
    // Created on A: readable on B, identical; another user sees nothing.
    let (status, on_b) = b.send("GET", &format!("/responses/{id}"), None, USER).await;
    assert_eq!((status, &on_b), (200, &first));
    let (status, _) = b.send("GET", &format!("/responses/{id}"), None, &[("x-agent-user-id", "other")]).await;
    assert_eq!(status, 404);
    // Continued on B with A's history.
    let (status, _, second) = b.post(&json!({"input": "and this", "previous_response_id": id}), USER).await;
    assert_eq!(status, 200, "{second}");
    // remember me(2) + You said: remember me(4) + and this(2)
    assert_eq!(second["usage"]["input_tokens"], 8);
    let (_, items) = a
        .send("GET", &format!("/responses/{}/input_items?order=asc", second["id"].as_str().unwrap()), None, USER)
        .await;
    assert_eq!(items["data"].as_array().unwrap().len(), 3);
    // Deleted on B: gone on A.
    let (status, _) = b.send("DELETE", &format!("/responses/{id}"), None, USER).await;
    assert_eq!(status, 200);
    let (status, err) = a.send("GET", &format!("/responses/{id}"), None, USER).await;
    assert_eq!((status, &err["error"]["code"]), (400, &json!("response_deleted")));

    // A conversation created on A, answered on B, listed on A.
    let body = json!({"items":[{"role":"user","content":"hello replicas"}]});
    let (_, conv) = a.send("POST", "/conversations", Some(&body), USER).await;
    let conv = conv["id"].as_str().unwrap().to_string();
    let (status, _, answer) = b.post(&json!({"conversation": conv}), USER).await;
    assert_eq!((status, &answer["output"][0]["content"][0]["text"]), (200, &json!("You said: hello replicas")));
    let (_, listed) = a.send("GET", &format!("/conversations/{conv}/items?order=asc"), None, USER).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");

    // A background response started on A can be read from B.
    let (status, _, bg) = a.post(&json!({"input": "in the background", "background": true}), USER).await;
    assert_eq!(status, 200);
    let bg_id = bg["id"].as_str().unwrap();
    let (status, seen) = b.send("GET", &format!("/responses/{bg_id}"), None, USER).await;
    assert_eq!((status, &seen["id"]), (200, &json!(bg_id)));

    // The readiness body names the store without its password.
    let (status, ready) = a.send("GET", "/readiness", None, &[]).await;
    assert_eq!((status, &ready["store"]["kind"], &ready["store"]["state"]), (200, &json!("postgres"), &json!("ready")));
    assert!(!ready["store"]["target"].as_str().unwrap().contains("agenthost-test"), "{ready}");
}

#[tokio::test]
async fn an_unreachable_database_keeps_readiness_503_and_only_stored_requests_fail() {
    let url = "postgres://agenthost:very-secret@127.0.0.1:1/agenthost";
    let s = Server::spawn(&[("AGENTHOST_STORE", url)], &[]);
    s.wait_live().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        let (status, ready) = s.send("GET", "/readiness", None, &[]).await;
        assert_eq!(status, 503, "{ready}");
        if !ready["store"]["last_error"].is_null() {
            break ready;
        }
        assert!(Instant::now() < deadline, "no store error reported: {ready}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((&ready["status"], &ready["store"]["state"]), (&json!("unready"), &json!("unavailable")));
    assert_eq!(ready["store"]["target"], "postgres://agenthost:***@127.0.0.1:1/agenthost");

    let (status, _, body) = s.post(&json!({"input": "kept"}), &[]).await;
    assert_eq!((status, &body["error"]["code"]), (503, &json!("store_unavailable")), "{body}");
    let (status, _, body) = s.post(&json!({"input": "not kept", "store": false}), &[]).await;
    assert_eq!((status, &body["status"]), (200, &json!("completed")), "{body}");
    let log = s.log();
    assert!(log.contains("store unavailable") && log.contains("127.0.0.1:1"), "{log}");
    assert!(!log.contains("very-secret"), "password logged: {log}");
}

fn check(url: &str) -> (Option<i32>, String) {
    let out = Command::new(binary("agenthost"))
        .args(["serve", "--check"])
        .env_clear()
        .env("AGENTHOST_STORE", url)
        .output()
        .expect("agenthost serve --check");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn check_says_in_one_line_whether_the_store_is_usable() {
    let (code, line) = check("postgres://agenthost:very-secret@127.0.0.1:1/agenthost");
    assert_eq!(code, Some(1), "{line}");
    assert!(line.starts_with("store postgres://agenthost:***@127.0.0.1:1/agenthost: not usable:"), "{line}");
    assert!(!line.contains("very-secret") && line.lines().count() == 1, "{line}");
    let (code, line) = check("memory");
    assert_eq!((code, line.trim()), (Some(0), "store memory: usable (in memory, this process only)"));
    let Some(url) = database() else { return };
    let (code, line) = check(&url);
    assert_eq!(code, Some(0), "{line}");
    assert!(line.contains(": usable (schema 4)") && !line.contains("agenthost-test"), "{line}");
}

#[tokio::test]
async fn a_killed_replicas_runs_end_run_lost_and_live_runs_keep_their_lease() {
    let Some(url) = database() else { return };
    let env =
        [("AGENTHOST_STORE", url.as_str()), ("AGENTHOST_STORE_LEASE", "1"), ("AGENTHOST_SCRIPTED_PACE_MS", "300")];
    let (mut a, b) = tokio::join!(Server::start(&env), Server::start(&env));
    let slow = json!({"input": "one two three four five six seven eight", "background": true});
    let (status, _, on_a) = a.post(&slow, USER).await;
    assert_eq!(status, 200);
    let lost = on_a["id"].as_str().unwrap().to_string();
    let (_, _, on_b) = b.post(&slow, USER).await;
    let alive = on_b["id"].as_str().unwrap().to_string();
    a.kill();

    // B ends A's response once its lease lapses; B's own run, longer than a lease, is renewed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut lost_seen, mut alive_seen) = (json!(null), json!(null));
    while Instant::now() < deadline {
        lost_seen = b.send("GET", &format!("/responses/{lost}"), None, USER).await.1;
        alive_seen = b.send("GET", &format!("/responses/{alive}"), None, USER).await.1;
        if lost_seen["status"] == "failed" && alive_seen["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        (&lost_seen["status"], &lost_seen["error"]["code"]),
        (&json!("failed"), &json!("run_lost")),
        "{lost_seen}"
    );
    // (Any replica on the database may have reaped it; replicas of other tests share it.)
    assert_eq!(alive_seen["status"], "completed", "{alive_seen}");
}

#[tokio::test]
async fn a_background_run_on_one_replica_is_cancelled_from_another() {
    let Some(url) = database() else { return };
    let env = [("AGENTHOST_STORE", url.as_str()), ("AGENTHOST_SCRIPTED_PACE_MS", "300")];
    let (a, b) = tokio::join!(Server::start(&env), Server::start(&env));
    let slow = json!({"input": "one two three four five six seven eight nine ten", "background": true});
    let (_, _, started) = a.post(&slow, USER).await;
    let id = started["id"].as_str().unwrap();
    // Another user cannot cancel it from either replica.
    let (status, _) = b.send("POST", &format!("/responses/{id}/cancel"), None, &[("x-agent-user-id", "other")]).await;
    assert_eq!(status, 404);
    let (status, cancelled) = b.send("POST", &format!("/responses/{id}/cancel"), None, USER).await;
    assert_eq!((status, &cancelled["status"]), (200, &json!("cancelled")), "{cancelled}");
    let (_, on_a) = a.send("GET", &format!("/responses/{id}"), None, USER).await;
    assert_eq!(on_a["status"], "cancelled");
    assert!(a.log().contains("cancelled at another replica's request"), "{}", a.log());
}

/// Sixteen users continue their conversations on three replicas picked at random (a fixed
/// pseudo-random order): every item lands in its own conversation, in order, attributed to its
/// user, and none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_users_across_three_replicas_lose_and_misattribute_nothing() {
    let Some(url) = database() else { return };
    let env = [("AGENTHOST_STORE", url.as_str())];
    let (a, b, c) = tokio::join!(Server::start(&env), Server::start(&env), Server::start(&env));
    let replicas = [&a, &b, &c];
    const TURNS: usize = 4;
    let users = (0..16usize).map(|u| {
        async move {
            let who = format!("rep-user-{u}");
            let h = [("x-agent-user-id", who.as_str())];
            let pick = |t: usize| replicas[(u * 7 + t * 5 + 3) % 3];
            let (status, conv) = pick(0).send("POST", "/conversations", Some(&json!({})), &h).await;
            assert_eq!(status, 200, "{conv}");
            let conv = conv["id"].as_str().unwrap().to_string();
            for t in 0..TURNS {
                let body = json!({"conversation": conv, "input": format!("u{u} turn {t}")});
                let (status, _, r) = pick(t + 1).post(&body, &h).await;
                assert_eq!((status, &r["status"]), (200, &json!("completed")), "user {u} turn {t}: {r}");
            }
            let (_, items) = pick(TURNS + 1)
                .send("GET", &format!("/conversations/{conv}/items?order=asc&limit=100"), None, &h)
                .await;
            let texts: Vec<String> = items["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["content"][0]["text"].as_str().unwrap_or_default().to_string())
                .collect();
            let expected: Vec<String> =
                (0..TURNS).flat_map(|t| [format!("u{u} turn {t}"), format!("You said: u{u} turn {t}")]).collect();
            assert_eq!(texts, expected, "user {u}");
            // Another user cannot see the conversation on any replica.
            for r in replicas {
                let (status, _) =
                    r.send("GET", &format!("/conversations/{conv}"), None, &[("x-agent-user-id", "nosy")]).await;
                assert_eq!(status, 404);
            }
        }
    });
    futures::future::join_all(users).await;
}

/// The database restarts while requests run: stored requests in the outage fail cleanly (503
/// `store_unavailable` before creation, or a `failed` response), `store:false` keeps working,
/// and once it is back every replica serves stored requests again without a restart.
#[tokio::test]
async fn a_database_restart_mid_load_degrades_requests_and_recovers() {
    if database().is_none() {
        return;
    }
    // Its own cluster, so restarting it does not disturb the other tests' database.
    let dir = std::env::temp_dir().join(format!("agenthost-pg-restart-{}", std::process::id()));
    let script = agenthost_e2e::mcp_servers::repo_root().join("tests/scripts/pg-throwaway.sh");
    let url = pg(&script, &dir, "url");
    let env = [("AGENTHOST_STORE", url.as_str())];
    let (a, b) = tokio::join!(Server::start(&env), Server::start(&env));
    let load = async {
        let mut outcomes = Vec::new();
        for i in 0..40 {
            let (status, _, r) = a.post(&json!({"input": format!("load {i}")}), USER).await;
            let field = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            outcomes.push((status, field("status"), r["error"]["code"].as_str().unwrap_or_default().to_string()));
        }
        outcomes
    };
    let (restart_script, restart_dir) = (script.clone(), dir.clone());
    let restart = tokio::task::spawn_blocking(move || pg(&restart_script, &restart_dir, "restart"));
    let (outcomes, restarted) = tokio::join!(load, restart);
    restarted.unwrap();
    for (status, state, code) in &outcomes {
        let ok = (*status == 200 && state == "completed")
            || (*status == 503 && code == "store_unavailable")
            || (*status == 200 && state == "failed" && code == "store_unavailable");
        assert!(ok, "{status} {state} {code}");
    }
    // store:false never needed the database.
    let (status, _, r) = b.post(&json!({"input": "no store", "store": false}), USER).await;
    assert_eq!((status, &r["status"]), (200, &json!("completed")));
    // Both replicas recover on their own.
    for s in [&a, &b] {
        let mut last = (0, json!(null));
        for _ in 0..100 {
            let (status, _, r) = s.post(&json!({"input": "back?"}), USER).await;
            last = (status, r);
            if status == 200 && last.1["status"] == "completed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!((last.0, &last.1["status"]), (200, &json!("completed")), "{}", last.1);
        let id = last.1["id"].as_str().unwrap();
        assert_eq!(b.send("GET", &format!("/responses/{id}"), None, USER).await.0, 200);
    }
    pg(&script, &dir, "stop");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs tests/scripts/pg-throwaway.sh on the cluster in `dir`.
fn pg(script: &std::path::Path, dir: &std::path::Path, arg: &str) -> String {
    let out = Command::new("bash").arg(script).arg(arg).env("AGENTHOST_PG_DIR", dir).output().expect("pg-throwaway");
    assert!(out.status.success(), "pg-throwaway {arg}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A conversation busy on one replica is 409 `conversation_locked` on another until the running
/// response ends; then the other replica continues it.
#[tokio::test]
async fn a_conversation_is_claimed_across_replicas() {
    let Some(url) = database() else { return };
    let env = [("AGENTHOST_STORE", url.as_str()), ("AGENTHOST_SCRIPTED_PACE_MS", "100")];
    let (a, b) = tokio::join!(Server::start(&env), Server::start(&env));
    let (_, conv) = a.send("POST", "/conversations", Some(&json!({})), USER).await;
    let conv = conv["id"].as_str().unwrap().to_string();
    let slow = json!({"conversation": conv, "input": "one two three four five six", "stream": true});
    let mut reader = agenthost_e2e::EventReader::new(a.sse("/responses", Some(&slow), USER).await);
    let created = reader.next().await.unwrap();
    assert_eq!(created.name, "response.created");
    let holder = created.data["response"]["id"].as_str().unwrap().to_string();
    let (status, _, err) = b.post(&json!({"conversation": conv, "input": "meanwhile"}), USER).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("conversation_locked")), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains(&holder), "{err}");
    while let Some(e) = reader.next().await {
        if e.name == "response.completed" {
            break;
        }
    }
    // Released with the terminal event: the other replica continues at once.
    let (status, _, r) = b.post(&json!({"conversation": conv, "input": "after"}), USER).await;
    assert_eq!((status, &r["status"]), (200, &json!("completed")), "{r}");
}

/// A background stream running on A is streamed from B: the stored events from the start or
/// after `starting_after`, then live ones until the terminal event, the same frames A serves.
#[tokio::test]
async fn a_background_stream_on_one_replica_is_streamed_from_another() {
    let Some(url) = database() else { return };
    let env = [("AGENTHOST_STORE", url.as_str()), ("AGENTHOST_SCRIPTED_PACE_MS", "100")];
    let (a, b) = tokio::join!(Server::start(&env), Server::start(&env));
    let body = json!({"input": "one two three four five six seven eight", "background": true, "stream": true});
    let mut on_a = agenthost_e2e::EventReader::new(a.sse("/responses", Some(&body), USER).await);
    let created = on_a.next().await.unwrap();
    let id = created.data["response"]["id"].as_str().unwrap().to_string();

    // While it runs on A, B streams it live from the start.
    let from_b = b
        .http
        .get(format!("{}/responses/{id}?stream=true", b.base))
        .header("x-agent-user-id", "replica-e2e")
        .send()
        .await
        .unwrap();
    assert_eq!(from_b.status(), 200);
    let (events_b, _) = agenthost_e2e::read_events(from_b).await;
    let mut events_a = vec![created];
    while let Some(e) = on_a.next().await {
        events_a.push(e);
    }
    let seqs = |events: &[agenthost_e2e::Event]| {
        events.iter().map(|e| e.data["sequence_number"].as_u64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(seqs(&events_b), seqs(&events_a));
    assert_eq!(events_b.last().unwrap().name, "response.completed");
    assert_eq!(events_b.last().unwrap().data, events_a.last().unwrap().data);

    // Replay after an event, from the database.
    let after = b
        .http
        .get(format!("{}/responses/{id}?stream=true&starting_after=3", b.base))
        .header("x-agent-user-id", "replica-e2e")
        .send()
        .await
        .unwrap();
    let (replayed, _) = agenthost_e2e::read_events(after).await;
    assert_eq!(replayed.first().unwrap().data["sequence_number"], 4);
    assert_eq!(replayed.len(), events_a.len() - 4);
    // Another user gets nothing.
    let (status, _) =
        b.send("GET", &format!("/responses/{id}?stream=true"), None, &[("x-agent-user-id", "other")]).await;
    assert_eq!(status, 404);
}
