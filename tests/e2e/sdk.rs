//! Official client libraries against the real binary. Needs Node and `npm ci` in tests/sdk/node
//! (`.ci/run` does it); without them a local run says it skipped, and CI (CI=true) fails.

use std::path::PathBuf;

use agenthost_e2e::{Server, pairs, toolbox_env};
use agenthost_mock_proxy::{MockProxy, demo_scenario};

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/node")
}

/// Whether the npm client is installed; a missing one fails in CI and skips (loudly) locally.
fn have_node_client() -> bool {
    let installed = node_dir().join("node_modules/openai/package.json").exists()
        && std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !installed {
        let why = "node or tests/sdk/node/node_modules/openai missing (run `npm ci --prefix tests/sdk/node`)";
        assert!(std::env::var("CI").is_err(), "CI: {why}");
        eprintln!("skipped: {why}");
    }
    installed
}

#[tokio::test]
async fn openai_npm_client_runs_the_consent_and_approval_loop_on_a_conversation() {
    if !have_node_client() {
        return;
    }
    let proxy = MockProxy::start(demo_scenario()).await.unwrap();
    let mut env = toolbox_env(&proxy.base_url(), "demo");
    env.push(("AGENTHOST_REQUIRE_APPROVAL".into(), "send_email".into()));
    let s = Server::start(&pairs(&env)).await;
    let out = tokio::process::Command::new("node")
        .arg(node_dir().join("conversation-loop.mjs"))
        .arg(&s.base)
        .arg("dana")
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}\n{}", String::from_utf8_lossy(&out.stderr), s.log());
    assert!(stdout.contains(r#""ok":true"#) && stdout.contains(r#""items":6"#), "{stdout}");
    assert_eq!(proxy.requests().iter().filter(|r| r.tool.as_deref() == Some("send_email")).count(), 1);
}
