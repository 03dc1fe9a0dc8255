//! Markers through [`Toolboxes`]: strict mode, lazy opening into the bounded cache, versions in
//! URLs and cache keys, negative caching, and request-scoped consent.

use std::time::Duration;

use agenthost_mock_proxy::{Auth, Mode, Scenario, SourceSpec, ToolSpec, ToolboxSpec};
use agenthost_toolbox::{Marker, ToolboxState};
use serde_json::{Value, json};

use crate::support::{Setup, ctx, names, within};

fn marker(url: &str) -> Value {
    json!({"type": "mcp", "server_label": "x", "server_url": url})
}

fn m(name: &str, version: Option<&str>) -> Marker {
    Marker { name: name.into(), version: version.map(Into::into) }
}

/// `sales` (registered), `Extra` and `extra2` (not registered), `gated` (needs consent),
/// `versioned` (only version 1 exists).
fn scenario() -> Scenario {
    let tool =
        |name: &str, text: &str| SourceSpec::new(format!("{name}-src"), Auth::None).tool(ToolSpec::fixed(name, text));
    Scenario::new(Mode::Stateless)
        .toolbox(ToolboxSpec::new("sales").source(tool("quote", "42")))
        .toolbox(ToolboxSpec::new("Extra").source(tool("extra_tool", "x")))
        .toolbox(ToolboxSpec::new("extra2").source(tool("extra2_tool", "y")))
        .toolbox(ToolboxSpec::new("extra3").source(tool("extra3_tool", "z")))
        .toolbox(
            ToolboxSpec::new("gated")
                .source(SourceSpec::new("mail", Auth::Consent).tool(ToolSpec::fixed("send", "sent"))),
        )
        .toolbox(ToolboxSpec::new("versioned").with_versions(["1"]).source(tool("v_tool", "v1")))
}

#[tokio::test]
async fn strict_mode_accepts_only_registered_toolboxes() {
    let setup = Setup::started(scenario(), |s, _| s.toolboxes = vec!["sales".into()]).await;
    let tb = &setup.toolboxes;
    // Case-insensitive match on registered names; duplicates are processed once.
    let got = tb.markers(&[
        json!({"type": "function", "name": "f"}),
        marker("foundry-toolbox://SALES"),
        marker("Foundry-Toolbox://sales"),
        marker("foundry-toolbox:sales?version=3"),
        marker("foundry-toolbox:Sales?VERSION=3"),
    ]);
    assert_eq!(got, Ok(vec![m("SALES", None), m("sales", Some("3"))]));
    let err = tb.markers(&[marker("foundry-toolbox://sales"), marker("foundry-toolbox://Extra")]).err();
    assert_eq!(err.as_ref().map(|e| e.code), Some("unknown_toolbox"));
    assert_eq!(err.as_ref().map(|e| e.param.as_str()), Some("$.tools[1].server_url"));
    assert!(err.map(|e| e.message).unwrap_or_default().contains("Extra"));
    let err = tb.markers(&[marker("foundry-toolbox://..%2Fadmin")]).err();
    assert_eq!(err.map(|e| e.code), Some("invalid_toolbox_name"));

    // A marker naming a registered toolbox adds nothing new; resolve also enforces strictness.
    let (tools, preflight) = within(tb.resolve(&ctx("alice"), &[m("SALES", None), m("Extra", None)])).await;
    assert_eq!(names(&tools), ["quote"]);
    assert_eq!(preflight.list_errors, vec![("Extra".to_owned(), "unknown_toolbox".to_owned())]);
    assert_eq!(tb.lazy_toolboxes(), 0);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn non_strict_mode_opens_lazily_into_a_bounded_cache() {
    let setup = Setup::started(scenario(), |s, _| {
        s.toolboxes = vec!["sales".into()];
        s.strict = false;
        s.max_lazy_toolboxes = 2;
    })
    .await;
    let tb = &setup.toolboxes;
    let alice = ctx("alice");
    // The name keeps its case in the URL (the mock only knows `Extra`).
    let markers = tb.markers(&[marker("foundry-toolbox://Extra")]).expect("valid");
    let (tools, preflight) = within(tb.resolve(&alice, &markers)).await;
    assert!(preflight.list_errors.is_empty(), "{preflight:?}");
    assert_eq!(names(&tools), ["extra_tool", "quote"]);
    let spec = tools.specs().into_iter().find(|s| s.name == "extra_tool").expect("tool");
    assert_eq!(spec.server_label.as_deref(), Some("Extra"));
    assert_eq!(tb.lazy_toolboxes(), 1);
    // Listed once for alice, then cached.
    within(tb.resolve(&alice, &markers)).await;
    assert_eq!(setup.count(|r| r.toolbox == "Extra" && r.jsonrpc_method.as_deref() == Some("tools/list")), 1);

    // A pinned version goes into the URL and the cache key.
    let (tools, preflight) = within(tb.resolve(&alice, &[m("versioned", Some("1"))])).await;
    assert!(preflight.list_errors.is_empty());
    assert!(names(&tools).contains(&"v_tool".to_owned()));
    assert!(setup.proxy.requests().iter().any(|r| r.path.ends_with("/toolboxes/versioned/versions/1/mcp")));
    assert_eq!(tb.lazy_toolboxes(), 2);
    let (_, preflight) = within(tb.resolve(&alice, &[m("versioned", Some("9"))])).await;
    assert_eq!(crate::support::classes(&preflight.list_errors), vec![("versioned".to_owned(), "not_found".to_owned())]);
    // The cache stays bounded (least recently used out).
    assert_eq!(tb.lazy_toolboxes(), 2);
    within(tb.resolve(&alice, &[m("extra2", None), m("extra3", None)])).await;
    assert_eq!(tb.lazy_toolboxes(), 2);
    // Readiness only ever lists configured toolboxes.
    assert_eq!(tb.readiness().toolboxes.len(), 1);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn unknown_lazy_toolboxes_are_negatively_cached() {
    let setup = Setup::started(scenario(), |s, _| {
        s.strict = false;
        s.failure_ttl = Duration::from_secs(60);
    })
    .await;
    let nope = [m("nope", None)];
    for _ in 0..3 {
        let (_, preflight) = within(setup.toolboxes.resolve(&ctx("alice"), &nope)).await;
        assert_eq!(crate::support::classes(&preflight.list_errors), vec![("nope".to_owned(), "not_found".to_owned())]);
    }
    let attempts = setup.count(|r| r.toolbox == "nope");
    assert_eq!(attempts, 1, "one initialize, then the failure is remembered");
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn marker_consent_is_request_scoped() {
    let setup = Setup::started(scenario(), |s, _| {
        s.toolboxes = vec!["sales".into(), "gated".into()];
        s.strict = false;
    })
    .await;
    let before = setup.toolboxes.readiness();
    assert_eq!(crate::support::status(&before, "gated").state, ToolboxState::ConsentRequired);
    // A marker of the configured gated toolbox: alice consents and gets its tools...
    setup.proxy.grant("alice", "mail");
    let (tools, preflight) = within(setup.toolboxes.resolve(&ctx("alice"), &[m("gated", None)])).await;
    assert!(preflight.consents.is_empty());
    assert_eq!(names(&tools), ["quote", "send"]);
    // ...bob still has to consent, and nothing global moved.
    let (tools, preflight) = within(setup.toolboxes.resolve(&ctx("bob"), &[m("gated", None)])).await;
    assert_eq!(names(&tools), ["quote"]);
    assert_eq!(preflight.consents.len(), 1);
    assert_eq!(setup.toolboxes.readiness(), before);

    // A lazily opened marker that needs consent: consent for this request only.
    let setup2 = Setup::started(scenario(), |s, _| s.strict = false).await;
    let before = setup2.toolboxes.readiness();
    let (_, preflight) = within(setup2.toolboxes.resolve(&ctx("carol"), &[m("gated", None)])).await;
    assert_eq!(preflight.consents.len(), 1);
    let (_, preflight) = within(setup2.toolboxes.resolve(&ctx("carol"), &[m("gated", None)])).await;
    assert_eq!(preflight.consents.len(), 1, "consent outcomes are re-checked, not cached");
    assert_eq!(setup2.toolboxes.readiness(), before);
    setup.toolboxes.shutdown().await;
    setup2.toolboxes.shutdown().await;
}

/// The .NET name cases through every entry point: configured names and markers.
#[tokio::test]
async fn unsafe_names_are_rejected_everywhere_and_safe_ones_open() {
    use std::sync::Arc;

    use agenthost_identity::TokenProvider;
    use agenthost_toolbox::{ToolboxConfigError, ToolboxSettings, Toolboxes};

    let token: Arc<dyn TokenProvider> = Arc::new(crate::support::CountingToken::default());
    for bad in [
        "../../admin",
        "..%2f..%2fadmin",
        "%2e%2e/%2e%2e/admin",
        "%25252525252f",
        "a/b",
        "..",
        ".",
        "box\\..\\secret",
        "foo?x=1",
        "foo#frag",
        "bad%3fx=1",
        "tb%23frag",
        "a%2fb",
    ] {
        let settings = ToolboxSettings {
            project_endpoint: Some("https://proj.example/api/projects/proj".into()),
            toolboxes: vec![bad.into()],
            ..ToolboxSettings::default()
        };
        match Toolboxes::new(settings, Some(token.clone())) {
            Err(ToolboxConfigError::InvalidToolboxName { name, .. }) => assert_eq!(name, bad),
            other => panic!("{bad:?} must be rejected, got {other:?}"),
        }
    }

    let good = ["my-toolbox", "sales", "box.v2", "a..b", "tb:v1", "tb@1", "a(b)"];
    let mut scenario = Scenario::new(Mode::Stateless);
    for (i, name) in good.iter().enumerate() {
        scenario = scenario.toolbox(
            ToolboxSpec::new(*name)
                .source(SourceSpec::new("s", Auth::None).tool(ToolSpec::fixed(format!("tool{i}"), *name))),
        );
    }
    let setup = Setup::started(scenario, |s, _| s.strict = false).await;
    for bad in [
        "foundry-toolbox://../../admin",
        "foundry-toolbox://..%2f..%2fadmin",
        "foundry-toolbox://%2e%2e",
        "foundry-toolbox://%25252525252f",
        "foundry-toolbox://bad%3fx=1",
        "foundry-toolbox://tb%23frag",
        "foundry-toolbox:box\\..\\secret",
    ] {
        let err = setup.toolboxes.markers(&[marker(bad)]).err();
        assert_eq!(err.map(|e| e.code), Some("invalid_toolbox_name"), "{bad}");
    }
    for (i, name) in good.iter().enumerate() {
        let markers = setup
            .toolboxes
            .markers(&[marker(&format!("foundry-toolbox://{name}"))])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(markers, vec![m(name, None)]);
        let (tools, preflight) = within(setup.toolboxes.resolve(&ctx("alice"), &markers)).await;
        assert!(preflight.consents.is_empty() && preflight.list_errors.is_empty(), "{name}: {preflight:?}");
        assert_eq!(names(&tools), [format!("tool{i}")], "{name}");
    }
    setup.toolboxes.shutdown().await;
}
