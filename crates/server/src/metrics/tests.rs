//! Every metric family and its label set after a run that exercises them all: list-time consent,
//! a retried listing, a tool call, model calls, an SSE stream.

use std::collections::{BTreeMap, BTreeSet};

use agenthost_mock_proxy::{MockProxy, Scenario};
use serde_json::json;

use crate::cli::ServeArgs;
use crate::test_support::{app, post, settle, toolbox_args, vars};

const SCENARIO: &str = r#"
[[toolboxes]]
name = "demo"
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
  [[toolboxes.sources]]
  name = "send_email"
  auth = "consent"
    [[toolboxes.sources.tools]]
    name = "send_email"
  [[toolboxes.faults]]
  user = "alice"
  methods = ["tools/list"]
  http_statuses = [503]
"#;

/// Family name -> (type, label names of its samples, without `le`).
fn families(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            out.insert(name.to_string(), (kind.to_string(), BTreeSet::new()));
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| out.contains_key(*f)))
                .unwrap_or(name);
            let labels = line.split_once('{').and_then(|(_, rest)| rest.split_once('}')).map(|(l, _)| l);
            let entry = out.get_mut(family).unwrap_or_else(|| panic!("sample without TYPE: {line}"));
            for pair in labels.unwrap_or_default().split(',').filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                for secret in ["alice", "bob", "caresp", "http", "echo\\\""] {
                    assert!(!value.contains(secret), "label value {value} in {line}");
                }
                if key != "le" {
                    entry.1.insert(key.to_string());
                }
            }
        }
    }
    out
}

fn expect(kind: &str, labels: &[&str]) -> (String, BTreeSet<String>) {
    (kind.to_string(), labels.iter().map(|l| l.to_string()).collect())
}

#[tokio::test]
async fn every_family_with_bounded_labels() {
    let proxy = MockProxy::start(Scenario::from_toml_str(SCENARIO).expect("scenario")).await.expect("proxy");
    let app = app(toolbox_args(&proxy.base_url(), "demo"), &vars(&[])).await;

    let bob = [("x-agent-user-id", "bob"), ("x-agent-foundry-call-id", "bob:1")];
    let (status, body) = post(&app, "/responses", json!({"input": "call:send_email {}"}), &bob).await;
    assert!(status == 200 && body.contains("\"incomplete\""), "{body}");
    proxy.grant("alice", "send_email");
    let alice = [("x-agent-user-id", "alice"), ("x-agent-foundry-call-id", "alice:1")];
    let input = json!({"input": "call:echo {\"text\":\"hi\"}", "stream": true});
    let (status, body) = post(&app, "/responses", input, &alice).await;
    assert!(status == 200 && body.contains("event: response.completed"), "{body}");
    settle(&app).await;

    let text = app.metrics.render(app.store.stats(), &app.toolboxes.readiness());
    let got = families(&text);
    let model = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"];
    let want: BTreeMap<String, (String, BTreeSet<String>)> = [
        ("agenthost_build_info", expect("gauge", &["version"])),
        ("agenthost_consent_requests_total", expect("counter", &["toolbox"])),
        ("agenthost_response_duration_seconds", expect("histogram", &[])),
        ("agenthost_responses_total", expect("counter", &["status"])),
        ("agenthost_runtime_alive_tasks", expect("gauge", &[])),
        ("agenthost_sse_streams_open", expect("gauge", &[])),
        ("agenthost_store_bytes", expect("gauge", &[])),
        ("agenthost_store_evictions_total", expect("counter", &[])),
        ("agenthost_store_responses", expect("gauge", &[])),
        ("agenthost_toolbox_listings_total", expect("counter", &["toolbox", "outcome"])),
        ("agenthost_toolbox_retries_total", expect("counter", &["toolbox", "operation"])),
        ("agenthost_toolbox_state", expect("gauge", &["toolbox", "state"])),
        ("agenthost_toolbox_tools", expect("gauge", &["toolbox"])),
        ("gen_ai_client_operation_duration_seconds", expect("histogram", &[&model[..], &["error_type"]].concat())),
        ("gen_ai_client_token_usage", expect("histogram", &[&model[..], &["gen_ai_token_type"]].concat())),
        ("http_server_active_requests", expect("gauge", &["http_request_method"])),
        (
            "http_server_request_duration_seconds",
            expect("histogram", &["http_request_method", "http_route", "http_response_status_code"]),
        ),
        (
            "mcp_client_operation_duration_seconds",
            expect("histogram", &["mcp_method_name", "gen_ai_tool_name", "error_type"]),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got, want, "{text}");

    for line in [
        r#"agenthost_consent_requests_total{toolbox="demo"} 1"#,
        r#"agenthost_toolbox_listings_total{outcome="consent_required",toolbox="demo"} 2"#,
        r#"agenthost_toolbox_listings_total{outcome="ok",toolbox="demo"} 1"#,
        r#"agenthost_toolbox_listings_total{outcome="deferred",toolbox="demo"} 0"#,
        r#"agenthost_toolbox_listings_total{outcome="error",toolbox="demo"} 0"#,
        r#"agenthost_toolbox_retries_total{operation="tools/list",toolbox="demo"} 1"#,
        r#"agenthost_toolbox_retries_total{operation="tools/call",toolbox="demo"} 0"#,
        r#"agenthost_toolbox_state{state="consent_required",toolbox="demo"} 1"#,
        r#"agenthost_toolbox_state{state="healthy",toolbox="demo"} 0"#,
        r#"agenthost_toolbox_tools{toolbox="demo"} 0"#,
        r#"mcp_client_operation_duration_seconds_count{error_type="",gen_ai_tool_name="echo",mcp_method_name="tools/call"} 1"#,
        r#"mcp_client_operation_duration_seconds_count{error_type="",gen_ai_tool_name="",mcp_method_name="tools/list"} 1"#,
        r#"mcp_client_operation_duration_seconds_count{error_type="consent_required",gen_ai_tool_name="",mcp_method_name="tools/list"} 2"#,
        r#"mcp_client_operation_duration_seconds_count{error_type="",gen_ai_tool_name="",mcp_method_name="initialize"} 1"#,
        r#"gen_ai_client_operation_duration_seconds_count{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="scripted",gen_ai_request_model="scripted"} 2"#,
        r#"gen_ai_client_token_usage_count{gen_ai_operation_name="chat",gen_ai_provider_name="scripted",gen_ai_request_model="scripted",gen_ai_token_type="output"} 2"#,
        r#"agenthost_responses_total{status="completed"} 1"#,
        r#"agenthost_responses_total{status="incomplete"} 1"#,
        r#"agenthost_sse_streams_open 0"#,
        r#"http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="200",http_route="/responses"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    proxy.shutdown().await;
}

/// A store that cannot count (the Foundry storage API) exports no store size or evictions,
/// rather than a constant 0 that reads as an empty store.
#[tokio::test]
async fn a_store_that_cannot_count_exports_no_store_families() {
    let args = ServeArgs {
        store: Some("foundry".into()),
        project_endpoint: Some("http://127.0.0.1:9/project".into()),
        ..ServeArgs::default()
    };
    let app = app(args, &vars(&[])).await;
    let text = app.metrics.render(app.store.stats(), &app.toolboxes.readiness());
    let got = families(&text);
    for family in ["agenthost_store_bytes", "agenthost_store_evictions_total", "agenthost_store_responses"] {
        assert!(!got.contains_key(family), "{family} exported\n{text}");
    }
    assert!(got.contains_key("agenthost_response_duration_seconds"), "{text}");
}
