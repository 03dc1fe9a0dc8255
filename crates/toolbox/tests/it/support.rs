//! Test helpers: settings against a mock proxy, a counting token provider, request contexts,
//! and event-driven waits (on the toolboxes' change signal, never on fixed sleeps).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agenthost_agent::{Preflight, RequestContext, ToolSet, UserKey};
use agenthost_identity::{AccessToken, TokenError, TokenProvider};
use agenthost_mock_proxy::{MockProxy, RecordedRequest, Scenario};
use agenthost_toolbox::{RetryPolicy, ToolboxReadiness, ToolboxSettings, ToolboxState, Toolboxes};

/// Upper bound of anything a test awaits; a bug fails the test instead of hanging it.
pub const LIMIT: Duration = Duration::from_secs(15);

/// A W3C traceparent.
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The token every test request carries.
pub const TOKEN: &str = "test-token";

/// Awaits `fut` or fails after [`LIMIT`].
pub async fn within<T>(fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {LIMIT:?}"),
    }
}

/// A token provider that counts how often it is asked.
#[derive(Debug, Default)]
pub struct CountingToken {
    pub calls: AtomicUsize,
    pub scopes: parking_lot::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl TokenProvider for CountingToken {
    async fn token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.scopes.lock().push(scope.to_owned());
        Ok(AccessToken::never_expiring(TOKEN))
    }

    fn kind(&self) -> &'static str {
        "static"
    }
}

/// Retries with tiny delays so nothing sleeps for real.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(5),
        background_initial: Duration::from_millis(20),
        background_max: Duration::from_millis(200),
    }
}

/// Settings for `proxy` with these pre-registered toolboxes.
pub fn settings(proxy: &MockProxy, toolboxes: &[&str]) -> ToolboxSettings {
    ToolboxSettings {
        project_endpoint: Some(format!("{}/api/projects/p", proxy.base_url())),
        toolboxes: toolboxes.iter().map(|s| (*s).to_owned()).collect(),
        allow_loopback_consent_links: true,
        startup_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..ToolboxSettings::default()
    }
}

/// A running test setup.
pub struct Setup {
    pub proxy: MockProxy,
    pub toolboxes: Arc<Toolboxes>,
    pub token: Arc<CountingToken>,
}

impl Setup {
    /// Starts the mock and builds (without starting) the toolboxes.
    pub async fn new(scenario: Scenario, configure: impl FnOnce(&mut ToolboxSettings, &MockProxy)) -> Setup {
        Self::build(scenario, fast_retry(), configure).await
    }

    /// [`Setup::new`] with a retry policy.
    pub async fn build(
        scenario: Scenario,
        retry: RetryPolicy,
        configure: impl FnOnce(&mut ToolboxSettings, &MockProxy),
    ) -> Setup {
        let proxy = MockProxy::start(scenario).await.expect("mock proxy starts");
        let mut s = settings(&proxy, &[]);
        configure(&mut s, &proxy);
        let token = Arc::new(CountingToken::default());
        let provider: Arc<dyn TokenProvider> = token.clone();
        let toolboxes = Toolboxes::with_retry(s, Some(provider), retry).expect("valid settings");
        Setup { proxy, toolboxes, token }
    }

    /// Starts the background listing and waits until nothing is `Pending`.
    pub async fn started(scenario: Scenario, configure: impl FnOnce(&mut ToolboxSettings, &MockProxy)) -> Setup {
        let setup = Setup::new(scenario, configure).await;
        setup.toolboxes.start();
        wait_for(&setup.toolboxes, |r| r.toolboxes.iter().all(|t| t.state != ToolboxState::Pending)).await;
        setup
    }

    /// Recorded requests matching `pred`.
    pub fn count(&self, pred: impl Fn(&RecordedRequest) -> bool) -> usize {
        self.proxy.requests().iter().filter(|r| pred(r)).count()
    }

    /// `tools/list` requests by `user` ("" = container).
    pub fn lists_by(&self, user: &str) -> usize {
        self.count(|r| r.jsonrpc_method.as_deref() == Some("tools/list") && r.user == user)
    }

    /// `tools/call` requests.
    pub fn calls(&self) -> usize {
        self.count(|r| r.jsonrpc_method.as_deref() == Some("tools/call"))
    }

    /// Resolves for `ctx` without markers.
    pub async fn resolve(&self, ctx: &RequestContext) -> (Arc<dyn ToolSet>, Preflight) {
        within(self.toolboxes.resolve(ctx, &[])).await
    }

    /// The state of toolbox `name`.
    pub fn state(&self, name: &str) -> ToolboxState {
        status(&self.toolboxes.readiness(), name).state
    }
}

/// The status line of `name`.
pub fn status(r: &ToolboxReadiness, name: &str) -> agenthost_toolbox::ToolboxStatus {
    r.toolboxes.iter().find(|t| t.name == name).cloned().unwrap_or_else(|| panic!("no toolbox {name} in {r:?}"))
}

/// Waits (on the change signal) until `cond` holds for the readiness report.
pub async fn wait_for(tb: &Toolboxes, cond: impl Fn(&ToolboxReadiness) -> bool) -> ToolboxReadiness {
    let mut rx = tb.subscribe();
    within(async {
        loop {
            let r = tb.readiness();
            if cond(&r) {
                return r;
            }
            if rx.changed().await.is_err() {
                panic!("change signal closed; last readiness {r:?}");
            }
        }
    })
    .await
}

/// Polls `cond` (for observations of the mock, which has no change signal).
pub async fn eventually(mut cond: impl FnMut() -> bool) {
    within(async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// A request context for `user`, with a call id `user:n` and a traceparent.
pub fn ctx(user: &str) -> RequestContext {
    static N: AtomicUsize = AtomicUsize::new(0);
    let mut ctx = RequestContext::local("resp_test");
    ctx.user = UserKey::new(user);
    ctx.call_id = Some(format!("{user}:{}", N.fetch_add(1, Ordering::SeqCst)));
    ctx.trace.traceparent = Some(TRACEPARENT.to_owned());
    ctx
}

/// The model-facing tool names of a tool set, sorted.
pub fn names(tools: &Arc<dyn ToolSet>) -> Vec<String> {
    let mut names: Vec<String> = tools.specs().into_iter().map(|s| s.name).collect();
    names.sort();
    names
}

/// A tool call.
pub fn call(name: &str, arguments: &str) -> agenthost_agent::ToolCall {
    agenthost_agent::ToolCall { call_id: "call_1".into(), name: name.into(), arguments: arguments.into() }
}

/// A fault filter matching only these JSON-RPC methods.
pub fn only(methods: &[&str]) -> Option<Vec<String>> {
    Some(methods.iter().map(|m| (*m).to_owned()).collect())
}

/// The stable class at the end of each list error (`... [class]`), with its label.
pub fn classes(errors: &[(String, String)]) -> Vec<(String, String)> {
    errors
        .iter()
        .map(|(label, text)| {
            let class = text.rsplit_once('[').map_or(text.as_str(), |(_, c)| c.trim_end_matches(']'));
            (label.clone(), class.to_string())
        })
        .collect()
}
