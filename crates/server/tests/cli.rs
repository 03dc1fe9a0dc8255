//! The command line of the real binary: help text and startup errors. (Its presence also makes
//! `cargo test` build the `agenthost` binary that the e2e package starts.)

use std::process::Command;

fn agenthost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agenthost"));
    cmd.env_clear();
    cmd
}

#[test]
fn serve_help_documents_every_setting() {
    let out = agenthost().args(["serve", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for name in [
        "PORT",
        "AGENTHOST_HOST",
        "AGENTHOST_METRICS_PORT",
        "AGENTHOST_ROUTE_PREFIX",
        "AGENTHOST_MAX_BODY_BYTES",
        "SSE_KEEPALIVE_INTERVAL",
        "AGENTHOST_DRAIN_TIMEOUT",
        "AGENTHOST_RESPONSE_TIMEOUT",
        "AGENTHOST_MAX_TOOL_ITERATIONS",
        "AGENTHOST_STORE_MAX_RESPONSES",
        "AGENTHOST_STORE_MAX_BYTES",
        "AGENTHOST_STORE_TTL",
        "AGENTHOST_LOG_FORMAT",
        "AGENTHOST_STATE_DIR",
        "FOUNDRY_HOSTING_ENVIRONMENT",
        "FOUNDRY_AGENT_NAME",
        "FOUNDRY_AGENT_SESSION_ID",
    ] {
        assert!(help.contains(name), "--help does not mention {name}:\n{help}");
    }
}

#[test]
fn bad_values_exit_2_naming_the_variable() {
    for (var, value) in
        [("PORT", "0"), ("PORT", "70000"), ("AGENTHOST_DRAIN_TIMEOUT", "soon"), ("AGENTHOST_METRICS_PORT", "x")]
    {
        let out = agenthost().arg("serve").env(var, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var) && err.contains(value), "{var}={value}: {err}");
    }
    let out = agenthost().args(["serve", "--port", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--port"));
    // Plain `agenthost` is `agenthost serve` and reads the same variables.
    let out = agenthost().env("PORT", "99999").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PORT"));
}
