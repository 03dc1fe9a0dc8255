//! Configuration, startup states, the startup deadline, readiness and background recovery.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agenthost_identity::TokenProvider;
use agenthost_mock_proxy::{Auth, FaultSpec, Mode, Scenario, SourceSpec, ToolSpec, ToolboxSpec};
use agenthost_toolbox::{ToolboxConfigError, ToolboxSettings, ToolboxState, Toolboxes};
use serde_json::json;

use crate::support::{CountingToken, Setup, ctx, status, wait_for, within};

fn only(methods: &[&str]) -> Option<Vec<String>> {
    Some(methods.iter().map(|m| (*m).to_owned()).collect())
}

/// working, consent, broken (hard error), hang and (absent from the mock) missing.
fn five() -> Scenario {
    Scenario::new(Mode::Session)
        .toolbox(ToolboxSpec::new("working").source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo"))))
        .toolbox(
            ToolboxSpec::new("consent")
                .source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo2")))
                .source(SourceSpec::new("send_email", Auth::Consent).tool(ToolSpec::fixed("send_email", "sent"))),
        )
        .toolbox(ToolboxSpec::new("broken").source(SourceSpec::new("bad", Auth::HardError).tool(ToolSpec::echo("bad"))))
        .toolbox(
            ToolboxSpec::new("hang")
                .source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo3")))
                .fault(FaultSpec { methods: only(&["tools/list"]), hang: true, ..FaultSpec::default() }),
        )
}

#[tokio::test]
async fn no_endpoint_disables_toolboxes_and_stays_ready() {
    let settings = ToolboxSettings {
        toolboxes: vec!["a".into(), "B".into(), "b".into(), " ".into()],
        ..ToolboxSettings::default()
    };
    let tb = Toolboxes::new(settings, None).expect("no token needed without an endpoint");
    tb.start();
    let r = tb.readiness();
    assert!(r.ready);
    assert_eq!(r.toolboxes.len(), 2);
    assert!(r.toolboxes.iter().all(|t| t.state == ToolboxState::NoEndpoint));
    assert_eq!(r.toolboxes[1].name, "B");
    let err = tb
        .markers(&[
            json!({"type": "function", "name": "f"}),
            json!({"type": "mcp", "server_url": "foundry-toolbox://a"}),
        ])
        .err();
    assert_eq!(err.as_ref().map(|e| e.code), Some("toolboxes_disabled"));
    assert_eq!(err.map(|e| e.param), Some("$.tools[1].server_url".to_owned()));
    assert_eq!(tb.markers(&[json!({"type": "mcp", "server_url": "https://x/mcp"})]), Ok(vec![]));
    let (tools, preflight) = within(tb.resolve(&ctx("alice"), &[])).await;
    assert!(tools.specs().is_empty());
    assert!(preflight.consents.is_empty() && preflight.list_errors.is_empty());
    tb.shutdown().await;
}

#[tokio::test]
async fn configuration_errors() {
    let with_endpoint = ToolboxSettings {
        project_endpoint: Some("https://p.example/api/projects/p".into()),
        toolboxes: vec!["tb".into()],
        ..ToolboxSettings::default()
    };
    let err = Toolboxes::new(with_endpoint.clone(), None).err();
    assert_eq!(err, Some(ToolboxConfigError::MissingTokenProvider));
    assert!(err.map(|e| e.to_string()).unwrap_or_default().contains("AGENTHOST_TOOLBOX_TOKEN"));

    let token: Arc<dyn TokenProvider> = Arc::new(CountingToken::default());
    let bad_name = ToolboxSettings { toolboxes: vec!["../../admin".into()], ..with_endpoint.clone() };
    assert!(matches!(
        Toolboxes::new(bad_name, Some(token.clone())).err(),
        Some(ToolboxConfigError::InvalidToolboxName { .. })
    ));
    let bad_url = ToolboxSettings { project_endpoint: Some("ftp://p.example".into()), ..with_endpoint.clone() };
    assert!(matches!(
        Toolboxes::new(bad_url, Some(token.clone())).err(),
        Some(ToolboxConfigError::InvalidEndpoint { .. })
    ));
    let bad_features = ToolboxSettings { extra_features: Some("a\nb".into()), ..with_endpoint };
    assert!(matches!(Toolboxes::new(bad_features, Some(token)).err(), Some(ToolboxConfigError::InvalidFeatures(_))));
}

#[tokio::test]
async fn startup_states_and_deadline() {
    let setup = Setup::new(five(), |s, _| {
        s.toolboxes = ["working", "consent", "broken", "hang", "missing"].map(String::from).to_vec();
        s.startup_timeout = Duration::from_millis(600);
    })
    .await;
    let before = setup.toolboxes.readiness();
    assert!(!before.ready, "nothing listed yet: {before:?}");
    assert!(before.toolboxes.iter().all(|t| t.state == ToolboxState::Pending));

    let started = Instant::now();
    setup.toolboxes.start();
    setup.toolboxes.start(); // idempotent
    let r = wait_for(&setup.toolboxes, |r| r.ready).await;
    let waited = started.elapsed();
    // The hanging toolbox holds readiness only until the startup deadline.
    assert!(waited >= Duration::from_millis(550), "ready too early: {waited:?} {r:?}");
    assert!(waited < Duration::from_secs(4), "hang blocked readiness: {waited:?}");

    let working = status(&r, "working");
    assert_eq!((working.state, working.tools, working.last_error.as_deref()), (ToolboxState::Healthy, 1, None));
    let consent = status(&r, "consent");
    assert_eq!(consent.state, ToolboxState::ConsentRequired);
    assert_eq!(consent.last_error.as_deref(), Some("consent_required"));
    let broken = status(&r, "broken");
    assert_eq!((broken.state, broken.last_error.as_deref()), (ToolboxState::Degraded, Some("upstream")));
    let hang = status(&r, "hang");
    assert_eq!((hang.state, hang.last_error.as_deref()), (ToolboxState::Degraded, Some("timeout")));
    let missing = status(&r, "missing");
    assert_eq!((missing.state, missing.last_error.as_deref()), (ToolboxState::Unhealthy, Some("not_found")));

    // Degraded and Unhealthy ones report their next background retry.
    let r = wait_for(&setup.toolboxes, |r| ["broken", "missing"].iter().all(|n| status(r, n).next_retry_ms.is_some()))
        .await;
    assert!(status(&r, "working").next_retry_ms.is_none());
    assert!(status(&r, "consent").next_retry_ms.is_none());
    // Startup listing ran with the container identity, concurrently (the hang did not delay
    // the others: they settled while it was still pending).
    assert!(setup.count(|r| r.user.is_empty()) > 0);
    assert_eq!(setup.count(|r| !r.user.is_empty()), 0);
    // The status serializes without URLs or user data.
    let json = serde_json::to_string(&r).unwrap_or_default();
    assert!(!json.contains("127.0.0.1"), "{json}");
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn hanging_toolbox_does_not_delay_the_others() {
    let setup = Setup::new(five(), |s, _| {
        s.toolboxes = vec!["hang".into(), "working".into()];
        s.startup_timeout = Duration::from_secs(10);
    })
    .await;
    setup.toolboxes.start();
    let r = wait_for(&setup.toolboxes, |r| status(r, "working").state == ToolboxState::Healthy).await;
    assert_eq!(status(&r, "hang").state, ToolboxState::Pending);
    assert!(!r.ready);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn required_toolboxes_gate_readiness() {
    let setup = Setup::started(five(), |s, _| {
        s.toolboxes = vec!["working".into(), "broken".into()];
        s.required = vec!["missing".into(), "broken".into()];
    })
    .await;
    let r = setup.toolboxes.readiness();
    // `missing` was added from the required list, and its Unhealthy state blocks readiness;
    // a required Degraded toolbox does not.
    assert_eq!(r.toolboxes.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["working", "broken", "missing"]);
    assert_eq!(status(&r, "missing").state, ToolboxState::Unhealthy);
    assert_eq!(status(&r, "broken").state, ToolboxState::Degraded);
    assert!(!r.ready);
    setup.toolboxes.shutdown().await;

    let setup = Setup::started(five(), |s, _| {
        s.toolboxes = vec!["missing".into()];
        s.required = vec!["broken".into()];
    })
    .await;
    assert!(setup.toolboxes.readiness().ready, "optional Unhealthy is fine");
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn degraded_toolbox_recovers_in_the_background() {
    let scenario = Scenario::new(Mode::Stateless).toolbox(
        ToolboxSpec::new("flaky").source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo"))).fault(
            FaultSpec {
                methods: only(&["tools/list"]),
                http_statuses: vec![503, 503, 503, 503],
                ..FaultSpec::default()
            },
        ),
    );
    let setup = Setup::new(scenario, |s, _| s.toolboxes = vec!["flaky".into()]).await;
    let mut seen = Vec::new();
    let mut rx = setup.toolboxes.subscribe();
    setup.toolboxes.start();
    within(async {
        loop {
            let st = status(&setup.toolboxes.readiness(), "flaky");
            if seen.last() != Some(&(st.state, st.last_error.clone())) {
                seen.push((st.state, st.last_error.clone()));
            }
            if st.state == ToolboxState::Healthy {
                break;
            }
            let _ = rx.changed().await;
        }
    })
    .await;
    // Three attempts of the first listing hit 503 (Degraded), the background retry hits the
    // fourth 503, retries and succeeds.
    assert!(seen.contains(&(ToolboxState::Degraded, Some("http_503".into()))), "{seen:?}");
    assert_eq!(setup.lists_by(""), 5);
    assert_eq!(status(&setup.toolboxes.readiness(), "flaky").tools, 1);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn unreachable_proxy_is_degraded_with_connect() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let token: Arc<dyn TokenProvider> = Arc::new(CountingToken::default());
    let settings = ToolboxSettings {
        project_endpoint: Some(format!("http://127.0.0.1:{port}/api/projects/p")),
        toolboxes: vec!["tb".into()],
        ..ToolboxSettings::default()
    };
    let tb = Toolboxes::with_retry(settings, Some(token), crate::support::fast_retry()).expect("valid");
    tb.start();
    let r = wait_for(&tb, |r| r.toolboxes[0].state != ToolboxState::Pending).await;
    assert_eq!(r.toolboxes[0].state, ToolboxState::Degraded);
    assert_eq!(r.toolboxes[0].last_error.as_deref(), Some("connect"));
    assert!(r.ready);
    // A request for a user tries again and reports the failure without tools.
    let (tools, preflight) = within(tb.resolve(&ctx("alice"), &[])).await;
    assert!(tools.specs().is_empty());
    assert_eq!(crate::support::classes(&preflight.list_errors), vec![("tb".to_owned(), "connect".to_owned())]);
    tb.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_and_closes() {
    let setup = Setup::started(agenthost_mock_proxy::demo_scenario(), |s, _| s.toolboxes = vec!["demo".into()]).await;
    setup.toolboxes.shutdown().await;
    setup.toolboxes.shutdown().await; // idempotent
    // The session was deleted.
    assert_eq!(setup.count(|r| r.http_method == "DELETE"), 1);
    // Nothing is started again after shutdown; requests fail cleanly.
    setup.toolboxes.start();
    let (_, preflight) = setup.resolve(&ctx("alice")).await;
    assert_eq!(crate::support::classes(&preflight.list_errors), vec![("demo".to_owned(), "closed".to_owned())]);
}
