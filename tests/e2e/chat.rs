use std::process::Command;
use std::time::Duration;

use agenthost_e2e::{Pty, Server, binary, free_port, pairs, toolbox_env};
use agenthost_mock_proxy::{MockProxy, demo_scenario};

async fn demo_server(proxy: &MockProxy, extra: &[(&str, &str)]) -> Server {
    let mut env = toolbox_env(&proxy.base_url(), "demo");
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Server::start(&pairs(&env)).await
}

fn chat_args(base: &str, user: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        binary("agenthost").to_string_lossy().into_owned(),
        "chat".into(),
        "--url".into(),
        base.into(),
        "--user".into(),
        user.into(),
        "--call-id-prefix".into(),
        user.into(),
        "--no-browser".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The link in a `Sign in to <label>: <link>` line.
fn link_in(screen: &str) -> String {
    let line = screen.lines().rev().find(|l| l.contains("Sign in to send_email: ")).expect("sign-in line");
    line.split("Sign in to send_email: ").nth(1).unwrap().trim().to_string()
}

const SEND: &str = r#"call:send_email {"to":"bob@example.com"}"#;

#[tokio::test]
async fn consent_loop_on_a_terminal_then_a_second_user() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let s = demo_server(&proxy, &[]).await;

    let mut alice = Pty::spawn(&chat_args(&s.base, "alice", &[]));
    alice.line(SEND).await;
    let shown = alice.expect("Press Enter after signing in").await;
    let link = link_in(&shown);
    assert_eq!(shown.matches("Sign in to send_email:").count(), 1, "{shown}");
    assert!(link.contains("user=alice"), "{link}");
    // Nothing is re-sent until the person presses Enter.
    let posts = || {
        proxy
            .requests()
            .iter()
            .filter(|r| r.user == "alice" && r.jsonrpc_method.as_deref() == Some("tools/list"))
            .count()
    };
    let before = posts();
    assert_eq!(s.http.get(&link).send().await.unwrap().status(), 200);
    assert_eq!(posts(), before);
    alice.line("").await;
    alice.expect("send_email returned: sent").await;
    alice.line("/quit").await;
    assert_eq!(alice.exit_code().await, Some(0));
    let screen = alice.screen();
    assert!(screen.contains("send_email"), "{screen}");

    // Bob, in turn, gets his own link; alice's consent did not carry over.
    let mut bob = Pty::spawn(&chat_args(&s.base, "bob", &[]));
    bob.line(SEND).await;
    let shown = bob.expect("Press Enter after signing in").await;
    assert!(link_in(&shown).contains("user=bob"));
    bob.line("/quit").await;
    assert_eq!(bob.exit_code().await, Some(0));
}

#[tokio::test]
async fn consent_loop_stops_when_consent_keeps_coming_back() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let s = demo_server(&proxy, &[]).await;
    let mut carol = Pty::spawn(&chat_args(&s.base, "carol", &["--max-consent-retries", "1"]));
    carol.line(SEND).await;
    carol.expect("Press Enter after signing in").await;
    carol.line("").await; // never signed in: the re-sent prompt asks for consent again
    carol.expect("Re-sending your message.").await;
    carol.expect("still asks for consent after 1 re-send(s)").await;
    carol.expect("Likely causes:").await;
    assert_eq!(carol.exit_code().await, Some(11));
}

#[tokio::test]
async fn chat_keeps_history_in_a_server_conversation() {
    let s = Server::start(&[]).await;
    let mut erin = Pty::spawn(&chat_args(&s.base, "erin", &[]));
    erin.line("first words").await;
    let shown = erin.expect("You said: first words").await;
    let line = shown.lines().find(|l| l.contains("(history is kept in conversation ")).expect("conversation line");
    let id = line.split("conversation ").nth(1).unwrap().trim_end_matches(')').trim().to_string();
    assert!(id.starts_with("conv_"), "{line}");
    erin.line("second").await;
    erin.expect("You said: second").await;
    erin.line("/quit").await;
    assert_eq!(erin.exit_code().await, Some(0));
    let (status, items) =
        s.send("GET", &format!("/conversations/{id}/items?order=asc"), None, &[("x-agent-user-id", "erin")]).await;
    assert_eq!(status, 200, "{items}");
    let texts: Vec<&str> =
        items["data"].as_array().unwrap().iter().map(|i| i["content"][0]["text"].as_str().unwrap_or("")).collect();
    assert_eq!(texts, ["first words", "You said: first words", "second", "You said: second"]);
}

#[tokio::test]
async fn approval_on_a_terminal() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let s = demo_server(&proxy, &[("AGENTHOST_REQUIRE_APPROVAL", "echo")]).await;
    let mut dan = Pty::spawn(&chat_args(&s.base, "dan", &[]));
    proxy.grant("dan", "send_email");
    dan.line(r#"call:echo {"text":"hi"}"#).await;
    let shown = dan.expect("Approve? [y/N]").await;
    assert!(shown.contains("echo") && shown.contains("\"text\""), "{shown}");
    dan.line("y").await;
    dan.expect("echo returned: echo: hi").await;
    dan.line("/quit").await;
    assert_eq!(dan.exit_code().await, Some(0));
}

fn run_chat(args: &[String]) -> (Option<i32>, String, String) {
    let out = Command::new(&args[0]).args(&args[1..]).output().expect("agenthost chat");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn non_interactive_exit_codes() {
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let s = demo_server(&proxy, &[("AGENTHOST_REQUIRE_APPROVAL", "echo"), ("AGENTHOST_MAX_BODY_BYTES", "400")]).await;
    proxy.grant("erin", "send_email");

    let (code, out, _) = tokio::task::spawn_blocking({
        let a = chat_args(&s.base, "erin", &["--prompt", "hello"]);
        move || run_chat(&a)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0));
    assert!(out.contains("You said: hello"), "{out}");

    let a = chat_args(&s.base, "erin", &["--prompt", "hello", "--json"]);
    let (code, out, _) = tokio::task::spawn_blocking(move || run_chat(&a)).await.unwrap();
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(out.trim()).expect("--json prints the response");
    assert_eq!(json["status"], "completed");

    let a = chat_args(&s.base, "fay", &["--prompt", SEND]);
    let (code, out, err) = tokio::task::spawn_blocking(move || run_chat(&a)).await.unwrap();
    assert_eq!(code, Some(10), "{out}{err}");
    assert!(format!("{out}{err}").contains("user=fay"));

    let a = chat_args(&s.base, "erin", &["--prompt", r#"call:echo {"text":"x"}"#]);
    let (code, _, _) = tokio::task::spawn_blocking(move || run_chat(&a)).await.unwrap();
    assert_eq!(code, Some(12));

    let a = chat_args(&s.base, "erin", &["--prompt", &"x".repeat(500)]);
    let (code, _, err) = tokio::task::spawn_blocking(move || run_chat(&a)).await.unwrap();
    assert_eq!(code, Some(4));
    assert!(err.contains("request_too_large"), "{err}");

    let closed = format!("http://127.0.0.1:{}", free_port());
    let a = chat_args(&closed, "erin", &["--prompt", "hi"]);
    let (code, _, err) = tokio::task::spawn_blocking(move || run_chat(&a)).await.unwrap();
    assert_eq!(code, Some(3));
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
}

#[tokio::test]
async fn server_dying_mid_stream_is_exit_6() {
    let mut s = Server::start(&[("AGENTHOST_SCRIPTED_PACE_MS", "300")]).await;
    let a = chat_args(&s.base, "gus", &["--prompt", "a b c d e f g h"]);
    let chat = tokio::task::spawn_blocking(move || run_chat(&a));
    // Kill the server once the answer has started streaming.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !s.metrics_text().await.contains("agenthost_sse_streams_open 1") {
        assert!(tokio::time::Instant::now() < deadline, "stream never opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.kill();
    let (code, _, err) = chat.await.unwrap();
    assert_eq!(code, Some(6), "{err}");
}
