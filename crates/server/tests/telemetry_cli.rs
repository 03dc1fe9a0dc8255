//! The trace settings on the command line of the real binary: documented in `--help`, and a bad
//! value is a startup error naming its variable.

use std::process::Command;

fn agenthost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agenthost"));
    cmd.env_clear();
    cmd
}

#[test]
fn serve_help_documents_the_trace_settings() {
    let out = agenthost().args(["serve", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for name in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        "FOUNDRY_PROJECT_ARM_ID",
    ] {
        assert!(help.contains(name), "--help does not mention {name}:\n{help}");
    }
}

#[test]
fn bad_trace_settings_exit_2_naming_the_variable() {
    for (var, value) in [
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "maybe"),
    ] {
        let out = agenthost().arg("serve").env(var, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var) && err.contains(value), "{var}={value}: {err}");
    }
}
