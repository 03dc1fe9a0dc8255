//! The browser playground (`GET /playground`) in a real Chromium, against the real binary and
//! the mock toolbox proxy: the consent loop through the popup for two users, the loop stop,
//! approvals, a failed response, the toolbox panel, streaming with stop and threading.
//!
//! Every step's screenshot lands in `target/playground-screenshots/` (the README shows two).

mod driver;

use agenthost_e2e::{Server, free_port, pairs, toolbox_env};
use agenthost_mock_proxy::{Auth, MockProxy, Scenario, SourceSpec, ToolSpec, ToolboxSpec, demo_scenario};
use agenthost_model::mock::{MockOpenAi, MockTurn};
use driver::Browser;
use serde_json::{Value, json};

const SEND: &str = r#"call:send_email {"to":"bob@example.com"}"#;

/// The server with the playground on, its toolboxes behind `proxy`.
async fn playground_server(proxy: &MockProxy, toolboxes: &str, extra: &[(&str, &str)]) -> Server {
    let mut env = toolbox_env(&proxy.base_url(), toolboxes);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Server::start_with(&pairs(&env), &["--playground"]).await
}

/// `tools/call` requests for `tool` by `user` that reached the proxy.
fn calls(proxy: &MockProxy, user: &str, tool: &str) -> usize {
    proxy.requests().iter().filter(|r| r.user == user && r.tool.as_deref() == Some(tool)).count()
}

fn count(css: &str) -> String {
    format!("document.querySelectorAll({css:?}).length")
}

#[tokio::test]
async fn alice_signs_in_through_the_popup_then_bob_is_asked_separately() {
    let Some(mut b) = Browser::start("consent").await else { return };
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let s = playground_server(&proxy, "demo", &[]).await;
    b.open(&s.base).await;
    b.until(
        "the demo toolbox",
        "document.querySelector('[data-testid=toolbox][data-name=demo][data-state=ConsentRequired]')",
    )
    .await;
    // Everything the page loaded came from the server itself, and its script and styles ran
    // under the CSP.
    let foreign = b
        .js(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)\
             .filter(o => o !== location.origin);",
            vec![],
        )
        .await;
    assert_eq!(foreign, json!([]));
    let styled = b.js("return getComputedStyle(document.querySelector('.bar')).display;", vec![]).await;
    assert_eq!(styled, "flex");
    b.shot("start").await;

    // alice asks for the gated tool: one sign-in button, nothing run.
    b.send(SEND).await;
    b.until("the sign-in button", "document.querySelector('[data-testid=consent-button]')").await;
    let buttons = b
        .js("return [...document.querySelectorAll('[data-testid=consent-button]')].map(e => e.textContent);", vec![])
        .await;
    assert_eq!(buttons, json!(["Sign in to send_email"]));
    assert_eq!(calls(&proxy, "alice", "send_email"), 0);
    b.shot("consent-asked").await;

    // One click: the popup grants, posts back and closes; the page re-sends once on its own.
    b.click("[data-testid=consent-button]").await;
    b.until(
        "the tool to run",
        "document.querySelector('[data-testid=tool-card][data-status=completed]') && \
         [...document.querySelectorAll('[data-testid=message][data-role=assistant] .text')].some(m => m.textContent.includes('send_email returned: sent'))",
    )
    .await;
    let t = b.transcript().await;
    assert_eq!(
        t.lines().map(|l| l.split(']').next().unwrap_or("")).collect::<Vec<_>>(),
        ["[message user", "[consent", "[resend", "[tool-card completed", "[message assistant"],
        "{t}"
    );
    assert!(t.contains("Signed in."), "the sign-in page posted back: {t}");
    let card = b
        .js(
            "const c = document.querySelector('[data-testid=tool-card]'); \
             return [c.dataset.name, c.querySelector('.tool-args').textContent, c.querySelector('.tool-output').textContent];",
            vec![],
        )
        .await;
    assert_eq!(card, json!(["send_email", "{\n  \"to\": \"bob@example.com\"\n}", "sent"]));
    assert_eq!(calls(&proxy, "alice", "send_email"), 1);
    b.click("[data-testid=tool-card] summary").await;
    b.shot("tool-ran").await;

    // bob is asked on his own (alice's consent is hers). His popup is blocked: he opens the
    // plain link, signs in there, and says so.
    b.pick_user("bob").await;
    b.block_popups().await;
    b.send(SEND).await;
    b.until("bob's sign-in button", "document.querySelector('[data-testid=consent-button]')").await;
    b.click("[data-testid=consent-button]").await;
    b.until("the fallback", "document.querySelector('[data-testid=signed-in]')").await;
    let href = b.js("return document.querySelector('[data-testid=consent-link]').href;", vec![]).await;
    assert!(href.as_str().unwrap().contains("user=bob"), "{href}");
    b.shot("bob-popup-blocked").await;
    b.click("[data-testid=consent-link]").await;
    b.switch_to_popup().await;
    b.until("the sign-in page", "document.body && document.body.innerText.includes('Consent granted')").await;
    b.shot("bob-signed-in").await;
    b.close_popup().await;
    assert_eq!(calls(&proxy, "bob", "send_email"), 0);
    b.click("[data-testid=signed-in]").await;
    b.until("bob's tool to run", "document.querySelector('[data-testid=tool-card][data-status=completed]')").await;
    assert_eq!(calls(&proxy, "bob", "send_email"), 1);
    b.shot("bob-tool-ran").await;
    b.quit().await;
}

#[tokio::test]
async fn consent_that_keeps_coming_back_stops_the_loop() {
    let Some(mut b) = Browser::start("loop-stop").await else { return };
    // A sign-in that never completes (a state the proxy never issued: the page says so), as
    // when the OAuth app's redirect URI is wrong. The same consent comes back after it.
    let port = free_port();
    let broken =
        format!("http://127.0.0.1:{port}/consent?toolbox=demo&source=send_email&user=carol&state=never-issued");
    let scenario = Scenario::default().toolbox(
        ToolboxSpec::new("demo").source(
            SourceSpec::new("send_email", Auth::Consent)
                .tool(ToolSpec::fixed("send_email", "sent"))
                .with_consent_link_override(broken),
        ),
    );
    let proxy = MockProxy::start_on(scenario, ([127, 0, 0, 1], port).into()).await.unwrap();
    let s = playground_server(&proxy, "demo", &[]).await;
    b.open(&s.base).await;
    b.pick_user("carol").await;
    b.send(SEND).await;
    b.until("the sign-in button", "document.querySelector('[data-testid=consent-button]')").await;
    b.click("[data-testid=consent-button]").await;
    b.switch_to_popup().await;
    b.until("the failed sign-in page", "document.body && document.body.innerText.includes('Bad consent link')").await;
    b.shot("sign-in-fails").await;
    b.close_popup().await;
    b.until("the loop stop", "document.querySelector('[data-testid=consent-loop]')").await;
    let t = b.transcript().await;
    assert_eq!(
        t.lines().map(|l| l.split(']').next().unwrap_or("")).collect::<Vec<_>>(),
        ["[note", "[message user", "[consent", "[resend", "[consent-loop"],
        "{t}"
    );
    assert!(t.contains("Sign-in window closed."), "{t}");
    assert!(t.contains("send_email still asks for consent after 1 re-send(s); stopping instead of looping."), "{t}");
    assert!(t.contains("the redirect URI is not registered"), "{t}");
    // Nothing is left running or waiting.
    let idle = b.js("return [document.querySelector('[data-testid=send]').disabled, document.querySelector('[data-testid=stop]').hidden];", vec![]).await;
    assert_eq!(idle, json!([false, true]));
    assert_eq!(calls(&proxy, "carol", "send_email"), 0);
    b.shot("loop-stopped").await;
    b.quit().await;
}

#[tokio::test]
async fn an_approval_and_a_denial() {
    let Some(mut b) = Browser::start("approval").await else { return };
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    proxy.grant("dave", "send_email");
    let s = playground_server(&proxy, "demo", &[("AGENTHOST_REQUIRE_APPROVAL", "send_email")]).await;
    b.open(&s.base).await;
    b.pick_user("dave").await;

    b.send(SEND).await;
    b.until("the approval", "document.querySelector('[data-testid=approve]')").await;
    let waiting = b
        .js(
            "const c = document.querySelector('[data-testid=tool-card]'); \
             return [c.dataset.status, c.querySelector('.tool-source').textContent, c.querySelector('.tool-state').textContent, \
                     document.querySelector('[data-testid=approval]').innerText.includes('send_email (demo) wants to run with')];",
            vec![],
        )
        .await;
    assert_eq!(waiting, json!(["in_progress", "via demo", "waiting for approval", true]));
    assert_eq!(calls(&proxy, "dave", "send_email"), 0, "ran before approval");
    b.shot("approval-asked").await;
    b.click("[data-testid=approve]").await;
    b.until("the approved call", "document.querySelector('[data-testid=tool-card][data-status=completed]')").await;
    assert_eq!(calls(&proxy, "dave", "send_email"), 1);
    b.shot("approved").await;

    // The conversation goes on; this time dave says no.
    b.send(SEND).await;
    b.until("the second approval", "document.querySelector('[data-testid=deny]:not([disabled])')").await;
    b.click("[data-testid=deny]:not([disabled])").await;
    b.until("the denied call", "document.querySelector('[data-testid=tool-card][data-status=failed]')").await;
    b.until("the model's answer", &format!("{} === 2", count("[data-testid=message][data-role=assistant]"))).await;
    let denied = b
        .js(
            "return [document.querySelector('[data-testid=tool-card][data-status=failed] .tool-output').textContent, \
                     [...document.querySelectorAll('[data-testid=message][data-role=assistant] .text')].pop().textContent];",
            vec![],
        )
        .await;
    assert_eq!(
        denied,
        json!(["Error: the user denied this tool call", "send_email returned: Error: the user denied this tool call"])
    );
    assert_eq!(calls(&proxy, "dave", "send_email"), 1, "a denied call never reaches the proxy");
    b.shot("denied").await;
    b.quit().await;
}

#[tokio::test]
async fn a_failed_response_shows_its_code_and_message() {
    let Some(mut b) = Browser::start("failed").await else { return };
    let model = MockOpenAi::start(vec![MockTurn::error(
        400,
        json!({"error":{"code":"context_length_exceeded","message":"This model's maximum context length is 8 tokens."}}),
    )])
    .await;
    let s = Server::start_with(
        &[
            ("AGENTHOST_MODEL_PROVIDER", "openai"),
            ("AGENTHOST_MODEL_BASE_URL", &model.base_url()),
            ("AGENTHOST_MODEL", "mock-model"),
            ("OPENAI_API_KEY", "sk-browser-test"),
        ],
        &["--playground"],
    )
    .await;
    b.open(&s.base).await;
    b.send("a prompt far longer than eight tokens").await;
    b.until("the error", "document.querySelector('[data-testid=error]')").await;
    let error = b
        .js(
            "const e = document.querySelector('[data-testid=error]'); \
             return [e.dataset.code, e.querySelector('.code').textContent, e.querySelector('.detail').textContent];",
            vec![],
        )
        .await;
    assert_eq!(
        error,
        json!([
            "context_length_exceeded",
            "context_length_exceeded",
            "This model's maximum context length is 8 tokens."
        ])
    );
    b.shot("failed").await;
    b.quit().await;
}

#[tokio::test]
async fn the_toolbox_panel_shows_each_state() {
    let Some(mut b) = Browser::start("toolboxes").await else { return };
    let scenario = Scenario::from_toml_str(
        r#"
[[toolboxes]]
name = "fast"
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
[[toolboxes]]
name = "gated"
  [[toolboxes.sources]]
  name = "mail"
  auth = "consent"
    [[toolboxes.sources.tools]]
    name = "send_email"
[[toolboxes]]
name = "stuck"
  [[toolboxes.sources]]
  name = "slow"
    [[toolboxes.sources.tools]]
    name = "slow_tool"
  [[toolboxes.faults]]
  hang = true
"#,
    )
    .unwrap();
    let proxy = MockProxy::start(scenario).await.unwrap();
    let s = playground_server(
        &proxy,
        "fast,gated,stuck,missing",
        &[("AGENTHOST_TOOLBOX_STARTUP_TIMEOUT", "1"), ("AGENTHOST_TOOLBOX_REQUEST_TIMEOUT", "2")],
    )
    .await;
    // What the panel must show is what readiness says.
    let (_, ready) = s.call("GET", "/readiness", &[]).await;
    let expected: Vec<Value> =
        ready["toolboxes"].as_array().unwrap().iter().map(|t| json!([t["name"], t["state"]])).collect();
    assert_eq!(
        expected,
        [
            json!(["fast", "Healthy"]),
            json!(["gated", "ConsentRequired"]),
            json!(["stuck", "Degraded"]),
            json!(["missing", "Unhealthy"])
        ]
    );
    b.open(&s.base).await;
    b.until("four toolboxes", &format!("{} === 4", count("[data-testid=toolbox-panel] [data-testid=toolbox]"))).await;
    let shown = b
        .js(
            "return [...document.querySelectorAll('[data-testid=toolbox]')].map(t => \
             [t.dataset.name, t.dataset.state, t.innerText.replace(/\\s+/g, ' ').trim()]);",
            vec![],
        )
        .await;
    assert_eq!(
        shown,
        json!([
            ["fast", "Healthy", "fast Healthy 1 tool"],
            ["gated", "ConsentRequired", "gated Consent required (listed per user) last error: consent_required"],
            ["stuck", "Degraded", shown[2][2]],
            ["missing", "Unhealthy", shown[3][2]],
        ])
    );
    let stuck = shown[2][2].as_str().unwrap();
    assert!(stuck.starts_with("stuck Degraded (listed per user, retrying) last error: timeout"), "{stuck}");
    let missing = shown[3][2].as_str().unwrap();
    assert!(missing.starts_with("missing Unhealthy last error: not_found"), "{missing}");
    let badge = b.js("return document.querySelector('[data-testid=readiness]').textContent;", vec![]).await;
    assert_eq!(badge, "ready");
    b.shot("panel").await;

    // A toolbox that cannot list is named in the conversation; the others' tools still run.
    proxy.grant("alice", "mail");
    b.send(r#"call:echo {"text":"hi"}"#).await;
    b.until("the echo", "document.querySelector('[data-testid=tool-card][data-status=completed]') && !document.querySelector('[data-testid=send]').disabled").await;
    let notes = b
        .js("return [...document.querySelectorAll('[data-testid=list-error]')].map(n => n.textContent);", vec![])
        .await;
    let notes: Vec<&str> = notes.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(notes.iter().any(|n| n.starts_with("Tools of stuck are unavailable for this response")), "{notes:?}");
    let output =
        b.js("return document.querySelector('[data-testid=tool-card] .tool-output').textContent;", vec![]).await;
    assert_eq!(output, "echo: hi");
    b.shot("toolbox-unavailable").await;

    // Phone width: the same page, panels stacked, still usable.
    b.client.set_window_size(390, 844).await.expect("phone size");
    let width = b.js("return document.documentElement.scrollWidth <= window.innerWidth;", vec![]).await;
    assert_eq!(width, true, "no horizontal scrolling at phone width");
    b.shot("phone").await;
    b.quit().await;
}

#[tokio::test]
async fn streaming_stop_threading_and_new_conversation() {
    let Some(mut b) = Browser::start("streaming").await else { return };
    let s = Server::start_with(&[("AGENTHOST_SCRIPTED_PACE_MS", "150")], &["--playground"]).await;
    b.open(&s.base).await;

    // Text renders as it streams; Stop cancels the run on the server.
    b.send("one two three four five six seven eight nine ten eleven twelve").await;
    b.until(
        "the first words",
        "(() => { const m = document.querySelector('[data-testid=message][data-role=assistant] .text'); \
          return m && m.textContent.startsWith('You said:') && !document.querySelector('[data-testid=stop]').hidden; })()",
    )
    .await;
    b.click("[data-testid=stop]").await;
    b.until(
        "the stop",
        "document.querySelector('#transcript').innerText.includes('Stopped: the response was cancelled.')",
    )
    .await;
    let partial = b
        .js("return document.querySelector('[data-testid=message][data-role=assistant] .text').textContent;", vec![])
        .await;
    let partial = partial.as_str().unwrap();
    assert!(partial.starts_with("You said:") && !partial.ends_with("twelve"), "{partial}");
    b.shot("stopped").await;

    // Two prompts in a row are one conversation (previous_response_id).
    b.send("first").await;
    b.until("the first answer", "[...document.querySelectorAll('[data-testid=message][data-role=assistant] .text')].some(m => m.textContent === 'You said: first') && !document.querySelector('[data-testid=send]').disabled").await;
    // Enter sends; Shift+Enter is a new line inside the prompt.
    use fantoccini::key::Key;
    // (Null releases the held Shift.)
    let shift_enter = format!("sec{}{}{}ond", char::from(Key::Shift), char::from(Key::Enter), char::from(Key::Null));
    b.send(&shift_enter).await;
    b.until("the second answer", "[...document.querySelectorAll('[data-testid=message][data-role=assistant] .text')].some(m => m.textContent === 'You said: sec\\nond') && !document.querySelector('[data-testid=send]').disabled").await;
    let id = b
        .js("return [...document.querySelectorAll('[data-testid=message][data-role=assistant]')].pop().dataset.responseId;", vec![])
        .await;
    let (status, items) = s
        .call(
            "GET",
            &format!("/responses/{}/input_items?order=asc", id.as_str().unwrap()),
            &[("x-agent-user-id", "alice")],
        )
        .await;
    assert_eq!(status, 200, "{items}");
    let texts: Vec<&str> =
        items["data"].as_array().unwrap().iter().filter_map(|i| i["content"][0]["text"].as_str()).collect();
    assert_eq!(texts, ["first", "You said: first", "sec\nond"]);
    b.shot("threaded").await;

    b.click("[data-testid=new-conversation]").await;
    b.until("an empty transcript", &format!("{} === 0", count("#transcript > li"))).await;
    b.send("fresh").await;
    b.until("the fresh answer", "[...document.querySelectorAll('[data-testid=message][data-role=assistant] .text')].some(m => m.textContent === 'You said: fresh') && !document.querySelector('[data-testid=send]').disabled").await;
    let id = b
        .js("return document.querySelector('[data-testid=message][data-role=assistant]').dataset.responseId;", vec![])
        .await;
    let (_, items) = s
        .call(
            "GET",
            &format!("/responses/{}/input_items?order=asc", id.as_str().unwrap()),
            &[("x-agent-user-id", "alice")],
        )
        .await;
    assert_eq!(items["data"].as_array().unwrap().len(), 1, "a new conversation has no history: {items}");
    b.quit().await;
}

/// `agenthost demo` turns the playground on and prints its URL first; plain `serve` does not.
#[tokio::test]
async fn demo_prints_and_serves_the_playground() {
    use std::io::{BufRead, BufReader};
    let (port, metrics) = (free_port(), free_port());
    let mut child = KillOnDrop(
        std::process::Command::new(agenthost_e2e::binary("agenthost"))
            .args(["demo", "--port", &port.to_string(), "--metrics-port", &metrics.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start agenthost demo"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let url = format!("http://127.0.0.1:{port}/playground");
    // The walkthrough is printed once the server is built; its playground line is the signal.
    // The rest of stdout keeps being read, so the demo never writes to a closed pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim_start().starts_with("playground") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("a playground line");
    assert_eq!(line.split_whitespace().nth(1), Some(url.as_str()), "{line}");
    let http = agenthost_e2e::client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let page = loop {
        match http.get(&url).send().await {
            Ok(r) => break r,
            Err(e) => assert!(std::time::Instant::now() < deadline, "{url}: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("connect-src 'self'"));
    assert!(page.text().await.unwrap().contains("data-testid=\"prompt\""));

    let plain = Server::start(&[]).await;
    assert_eq!(plain.http.get(format!("{}/playground", plain.base)).send().await.unwrap().status(), 404);
}

/// Kills the child when the test ends, pass or fail.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
