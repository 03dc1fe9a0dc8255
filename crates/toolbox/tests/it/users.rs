//! Per-user consent and tool caches: isolation, single-flight, independence of users, negative
//! caching, mixed payloads, consent shapes, link validation and on-use placeholders.

use std::sync::Arc;
use std::time::Duration;

use agenthost_agent::{ConsentRequest, ToolOutcome};
use agenthost_mock_proxy::{
    Auth, ConsentErrorShape, FaultSpec, Mode, Placement, Scenario, SourceSpec, ToolSpec, ToolboxSpec,
};
use agenthost_toolbox::{ConsentMode, ToolboxState};

use crate::support::{Setup, call, ctx, eventually, names, only, within};

/// `tb`: echo (no auth) + send_email (consent at list time).
fn gated(mode: Mode) -> Scenario {
    Scenario::new(mode).toolbox(
        ToolboxSpec::new("tb")
            .source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo")))
            .source(SourceSpec::new("send_email", Auth::Consent).tool(ToolSpec::fixed("send_email", "sent"))),
    )
}

fn link_user(c: &ConsentRequest) -> String {
    let url = url::Url::parse(&c.consent_link).expect("valid link");
    url.query_pairs().find(|(k, _)| k == "user").map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[tokio::test]
async fn consent_is_per_user_and_never_leaks_tools() {
    let setup = Setup::started(gated(Mode::Session), |s, _| s.toolboxes = vec!["tb".into()]).await;
    assert_eq!(setup.state("tb"), ToolboxState::ConsentRequired);

    // alice has not consented: one consent, her link, no tools.
    let alice = ctx("alice");
    let (tools, preflight) = setup.resolve(&alice).await;
    assert!(tools.specs().is_empty());
    assert_eq!(preflight.consents.len(), 1, "{preflight:?}");
    assert_eq!(preflight.consents[0].server_label, "send_email");
    assert_eq!(link_user(&preflight.consents[0]), "alice");
    assert!(preflight.list_errors.is_empty());

    // alice consents and re-sends: she is re-checked (consent is never cached) and gets tools.
    setup.proxy.grant("alice", "send_email");
    let (tools, preflight) = setup.resolve(&alice).await;
    assert!(preflight.consents.is_empty(), "{preflight:?}");
    assert_eq!(names(&tools), ["echo", "send_email"]);
    assert_eq!(setup.lists_by("alice"), 2);
    let sent = within(tools.invoke(&alice, &call("send_email", r#"{"to":"x"}"#))).await;
    assert_eq!(sent, ToolOutcome::Output("sent".into()));

    // bob still gets his own consent, and none of alice's tools.
    let bob = ctx("bob");
    let (tools, preflight) = setup.resolve(&bob).await;
    assert!(tools.specs().is_empty());
    assert_eq!(preflight.consents.len(), 1);
    assert_eq!(link_user(&preflight.consents[0]), "bob");

    // alice's later requests use her cached list; the shared state never moved.
    let (tools, _) = setup.resolve(&ctx("alice")).await;
    assert_eq!(names(&tools), ["echo", "send_email"]);
    assert_eq!(setup.lists_by("alice"), 2);
    assert_eq!(setup.state("tb"), ToolboxState::ConsentRequired);
    assert_eq!(setup.toolboxes.readiness().toolboxes[0].tools, 0);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_of_one_user_share_one_listing() {
    let slow = FaultSpec {
        user: Some("alice".into()),
        methods: Some(vec!["tools/list".into()]),
        latency_ms: Some(300),
        ..FaultSpec::default()
    };
    let mut scenario = gated(Mode::Session);
    scenario.toolboxes[0].faults.push(slow);
    let setup = Setup::started(scenario, |s, _| s.toolboxes = vec!["tb".into()]).await;
    setup.proxy.grant("alice", "send_email");
    let contexts: Vec<_> = (0..8).map(|_| ctx("alice")).collect();
    let results = within(futures::future::join_all(contexts.iter().map(|c| setup.toolboxes.resolve(c, &[])))).await;
    for (tools, preflight) in &results {
        assert_eq!(names(tools), ["echo", "send_email"]);
        assert!(preflight.consents.is_empty() && preflight.list_errors.is_empty());
    }
    assert_eq!(setup.lists_by("alice"), 1);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn a_slow_user_never_delays_another() {
    let hang = FaultSpec {
        user: Some("alice".into()),
        methods: Some(vec!["tools/list".into()]),
        hang: true,
        ..FaultSpec::default()
    };
    let mut scenario = gated(Mode::Session);
    scenario.toolboxes[0].faults.push(hang);
    let setup = Arc::new(
        Setup::started(scenario, |s, _| {
            s.toolboxes = vec!["tb".into()];
            s.request_timeout = Duration::from_secs(60);
        })
        .await,
    );
    setup.proxy.grant("alice", "send_email");
    setup.proxy.grant("bob", "send_email");
    let alice = ctx("alice");
    let pending = {
        let setup = setup.clone();
        let alice = alice.clone();
        tokio::spawn(async move { setup.toolboxes.resolve(&alice, &[]).await.1 })
    };
    eventually(|| setup.lists_by("alice") == 1).await;

    let (tools, preflight) = setup.resolve(&ctx("bob")).await;
    assert_eq!(names(&tools), ["echo", "send_email"]);
    assert!(preflight.list_errors.is_empty());
    assert!(!pending.is_finished(), "alice's listing hangs, bob's did not wait for it");

    // Cancelling alice's request ends her wait at once.
    alice.cancel.cancel();
    let preflight = within(pending).await.expect("task");
    assert_eq!(crate::support::classes(&preflight.list_errors), vec![("tb".to_owned(), "cancelled".to_owned())]);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn request_deadline_bounds_a_hanging_listing() {
    let hang = FaultSpec {
        user: Some("alice".into()),
        methods: Some(vec!["tools/list".into()]),
        hang: true,
        ..FaultSpec::default()
    };
    let mut scenario = gated(Mode::Stateless);
    scenario.toolboxes[0].faults.push(hang);
    let setup = Setup::started(scenario, |s, _| s.toolboxes = vec!["tb".into()]).await;
    let mut alice = ctx("alice");
    alice.deadline = Some(tokio::time::Instant::now() + Duration::from_millis(200));
    let started = std::time::Instant::now();
    let (_, preflight) = setup.resolve(&alice).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(crate::support::classes(&preflight.list_errors), vec![("tb".to_owned(), "timeout".to_owned())]);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn hard_failures_are_negatively_cached_per_user() {
    // Every listing of `tb` fails hard for users (the container is fine: it never lists here).
    let scenario = Scenario::new(Mode::Stateless)
        .toolbox(ToolboxSpec::new("tb").source(SourceSpec::new("bad", Auth::HardError).tool(ToolSpec::echo("bad"))));
    let setup = Setup::started(scenario, |s, _| {
        s.toolboxes = vec!["tb".into()];
        s.failure_ttl = Duration::from_secs(60);
    })
    .await;
    assert_eq!(setup.state("tb"), ToolboxState::Degraded);
    for _ in 0..3 {
        let (tools, preflight) = setup.resolve(&ctx("alice")).await;
        assert!(tools.specs().is_empty());
        assert_eq!(crate::support::classes(&preflight.list_errors), vec![("tb".to_owned(), "upstream".to_owned())]);
    }
    assert_eq!(setup.lists_by("alice"), 1);
    // Another user is tried on their own.
    setup.resolve(&ctx("bob")).await;
    assert_eq!(setup.lists_by("bob"), 1);
    setup.toolboxes.shutdown().await;

    // With no failure TTL, every request tries again.
    let scenario = Scenario::new(Mode::Stateless)
        .toolbox(ToolboxSpec::new("tb").source(SourceSpec::new("bad", Auth::HardError).tool(ToolSpec::echo("bad"))));
    let setup = Setup::started(scenario, |s, _| {
        s.toolboxes = vec!["tb".into()];
        s.failure_ttl = Duration::ZERO;
    })
    .await;
    setup.resolve(&ctx("alice")).await;
    setup.resolve(&ctx("alice")).await;
    assert_eq!(setup.lists_by("alice"), 2);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn mixed_payload_gives_consents_and_list_errors() {
    let scenario = Scenario::new(Mode::Session).toolbox(
        ToolboxSpec::new("tb")
            .source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo")))
            .source(SourceSpec::new("send_email", Auth::Consent).tool(ToolSpec::fixed("send_email", "sent")))
            .source(SourceSpec::new("broken", Auth::HardError).tool(ToolSpec::echo("b"))),
    );
    let setup = Setup::started(scenario, |s, _| s.toolboxes = vec!["tb".into()]).await;
    // Not "only consent": Degraded, with the broken source's class.
    let status = setup.toolboxes.readiness().toolboxes[0].clone();
    assert_eq!((status.state, status.last_error.as_deref()), (ToolboxState::Degraded, Some("upstream")));
    let (tools, preflight) = setup.resolve(&ctx("alice")).await;
    assert!(tools.specs().is_empty());
    assert_eq!(preflight.consents.iter().map(|c| c.server_label.as_str()).collect::<Vec<_>>(), ["send_email"]);
    assert_eq!(crate::support::classes(&preflight.list_errors), vec![("broken".to_owned(), "upstream".to_owned())]);
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn every_consent_shape_is_recognised() {
    let shapes = [
        (-32006, Placement::Message),
        (-32007, Placement::Message),
        (-32000, Placement::Data),
        (-32603, Placement::Both),
        (-32006, Placement::Data),
    ];
    for (code, placement) in shapes {
        let scenario =
            gated(Mode::Stateless).with_consent_error(ConsentErrorShape { code, placement, call_code: -32006 });
        let setup = Setup::started(scenario, |s, _| s.toolboxes = vec!["tb".into()]).await;
        assert_eq!(setup.state("tb"), ToolboxState::ConsentRequired, "{code} {placement:?}");
        let (_, preflight) = setup.resolve(&ctx("alice")).await;
        assert_eq!(preflight.consents.len(), 1, "{code} {placement:?}");
        assert_eq!(preflight.consents[0].server_label, "send_email");
        setup.toolboxes.shutdown().await;
    }
}

#[tokio::test]
async fn invalid_consent_links_are_list_errors_never_consents() {
    let scenario = Scenario::new(Mode::Stateless).toolbox(
        ToolboxSpec::new("tb").source(
            SourceSpec::new("send_email", Auth::Consent)
                .with_consent_link_override("javascript:alert(1)")
                .tool(ToolSpec::fixed("send_email", "sent")),
        ),
    );
    let setup = Setup::started(scenario, |s, _| s.toolboxes = vec!["tb".into()]).await;
    let (_, preflight) = setup.resolve(&ctx("alice")).await;
    assert!(preflight.consents.is_empty());
    assert_eq!(
        crate::support::classes(&preflight.list_errors),
        vec![("send_email".to_owned(), "invalid_consent_link".to_owned())]
    );
    setup.toolboxes.shutdown().await;

    // The mock's own http loopback links are rejected unless explicitly allowed.
    let setup = Setup::started(gated(Mode::Stateless), |s, _| {
        s.toolboxes = vec!["tb".into()];
        s.allow_loopback_consent_links = false;
    })
    .await;
    let (_, preflight) = setup.resolve(&ctx("alice")).await;
    assert!(preflight.consents.is_empty());
    assert_eq!(
        crate::support::classes(&preflight.list_errors),
        vec![("send_email".to_owned(), "invalid_consent_link".to_owned())]
    );
    setup.toolboxes.shutdown().await;
}

#[tokio::test]
async fn on_use_mode_offers_sign_in_placeholders() {
    let scenario = gated(Mode::Stateless).toolbox(
        ToolboxSpec::new("other").source(SourceSpec::new("s", Auth::None).tool(ToolSpec::fixed("weather", "sunny"))),
    );
    let setup = Setup::started(scenario, |s, _| {
        s.toolboxes = vec!["tb".into(), "other".into()];
        s.consent_mode = ConsentMode::OnUse;
        s.approval = agenthost_toolbox::ApprovalPolicy::Always;
    })
    .await;
    let alice = ctx("alice");
    let (tools, preflight) = setup.resolve(&alice).await;
    assert!(preflight.consents.is_empty(), "on-use never blocks the turn");
    assert_eq!(names(&tools), ["send_email_sign_in", "weather"]);
    let spec = tools.specs().into_iter().find(|s| s.name == "send_email_sign_in").expect("placeholder");
    assert_eq!(spec.server_label.as_deref(), Some("tb"));
    assert!(spec.description.contains("sign in"), "{}", spec.description);
    // Placeholders never need approval; real tools follow the policy.
    assert_eq!(tools.approval_label(&call("send_email_sign_in", "{}")), None);
    assert_eq!(tools.approval_label(&call("weather", "{}")), Some("other".into()));
    match within(tools.invoke(&alice, &call("send_email_sign_in", "{}"))).await {
        ToolOutcome::ConsentRequired(consents) => {
            assert_eq!(consents.len(), 1);
            assert_eq!(consents[0].server_label, "send_email");
            assert_eq!(link_user(&consents[0]), "alice");
        }
        other => panic!("expected consent, got {other:?}"),
    }
    assert_eq!(setup.calls(), 0, "the placeholder never reaches the proxy");
    setup.toolboxes.shutdown().await;
}

/// W1: a pre-registered toolbox that hangs for everyone never holds a user's request: the
/// user's retry runs in the background; other toolboxes' tools are served meanwhile.
#[tokio::test]
async fn a_hanging_degraded_toolbox_never_holds_requests() {
    let hang = FaultSpec { methods: only(&["tools/list"]), hang: true, ..FaultSpec::default() };
    let mut stuck = ToolboxSpec::new("stuck").source(SourceSpec::new("slow", Auth::None).tool(ToolSpec::echo("slow")));
    stuck.faults = vec![hang];
    let fast = ToolboxSpec::new("fast").source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo")));
    let scenario = Scenario::new(Mode::Stateless).toolbox(fast).toolbox(stuck);
    let setup = Setup::started(scenario, |s, _| {
        s.toolboxes = vec!["fast".into(), "stuck".into()];
        s.startup_timeout = Duration::from_millis(200);
        s.degraded_wait = Duration::from_secs(3);
    })
    .await;
    for n in 0..2 {
        let t = std::time::Instant::now();
        let (tools, preflight) = setup.resolve(&ctx("alice")).await;
        assert!(t.elapsed() < Duration::from_millis(500), "request {n} waited {:?}", t.elapsed());
        assert_eq!(tools.specs().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["echo"]);
        assert_eq!(crate::support::classes(&preflight.list_errors), vec![("stuck".to_string(), "timeout".to_string())]);
    }
    // The user's retry did go out, in the background.
    eventually(|| setup.lists_by("alice") == 1).await;
    setup.toolboxes.shutdown().await;
}

/// A toolbox the container may not list (403) but the user may: the request that starts the
/// user's retry waits for it and gets the user's tools.
#[tokio::test]
async fn a_degraded_toolbox_is_listed_with_the_users_identity() {
    let deny = FaultSpec {
        user: Some("container".into()),
        methods: only(&["tools/list"]),
        http_statuses: vec![403; 64],
        ..FaultSpec::default()
    };
    let mut tb = ToolboxSpec::new("obo").source(SourceSpec::new("echo", Auth::None).tool(ToolSpec::echo("echo")));
    tb.faults = vec![deny];
    let setup = Setup::started(Scenario::new(Mode::Stateless).toolbox(tb), |s, _| {
        s.toolboxes = vec!["obo".into()];
        s.degraded_wait = Duration::from_secs(3);
    })
    .await;
    assert_eq!(setup.toolboxes.readiness().toolboxes[0].state, ToolboxState::Degraded);
    let (tools, preflight) = setup.resolve(&ctx("alice")).await;
    assert_eq!(tools.specs().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["echo"]);
    assert!(preflight.list_errors.is_empty(), "{:?}", preflight.list_errors);
    assert_eq!(setup.lists_by("alice"), 1);
    setup.toolboxes.shutdown().await;
}
