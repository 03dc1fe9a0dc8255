//! [`Toolboxes`]: the configured toolboxes, the bounded cache of marker-opened ones, startup and
//! background loops, readiness, markers and per-request resolution.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use agenthost_agent::telemetry::MARKER_LABEL;
use agenthost_agent::{Preflight, RequestContext, ToolSet};
use agenthost_identity::TokenProvider;
use http::HeaderValue;
use parking_lot::Mutex;
use rmcp::model::Implementation;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::background;
use crate::client::Endpoint;
use crate::consent::LinkPolicy;
use crate::core::Core;
use crate::endpoint::{self, Layout};
use crate::http::{HttpShared, features_value};
use crate::marker::{self, Marker, MarkerError};
use crate::names;
use crate::outcome::{Kind, Outcome};
use crate::settings::{RetryPolicy, ToolboxConfigError, ToolboxSettings, bounded, dedupe_names};
use crate::state::{ToolboxReadiness, ToolboxState, ToolboxStatus};
use crate::toolbox::Toolbox;
use crate::toolset::{self, RequestTools};

struct Enabled {
    /// Base for marker toolboxes (and configured ones without their own URL).
    project: Option<String>,
    http: Arc<HttpShared>,
    client: Implementation,
    registered: Vec<Arc<Toolbox>>,
}

enum Mode {
    /// No endpoint: configured names are reported `NoEndpoint`.
    Disabled {
        names: Vec<String>,
    },
    Enabled(Enabled),
}

/// Marker-opened toolboxes, least recently used first out.
#[derive(Default)]
struct Lazy {
    entries: HashMap<(String, Option<String>), (Arc<Toolbox>, u64)>,
    tick: u64,
}

/// Foundry toolboxes for the server: configured ones (with states and readiness) and those
/// requests ask for with markers.
pub struct Toolboxes {
    core: Arc<Core>,
    mode: Mode,
    strict: bool,
    startup_timeout: Duration,
    max_lazy: usize,
    lazy: Mutex<Lazy>,
    startup_deadline: Mutex<Option<Instant>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl fmt::Debug for Toolboxes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toolboxes").field("readiness", &self.readiness()).finish_non_exhaustive()
    }
}

impl Toolboxes {
    /// Validates the configuration and builds the toolboxes; nothing is contacted until
    /// [`Toolboxes::start`] or a request.
    pub fn new(
        settings: ToolboxSettings,
        token: Option<Arc<dyn TokenProvider>>,
    ) -> Result<Arc<Toolboxes>, ToolboxConfigError> {
        Self::with_retry(settings, token, RetryPolicy::default())
    }

    /// [`Toolboxes::new`] with explicit retry tuning (tests use tiny delays).
    pub fn with_retry(
        settings: ToolboxSettings,
        token: Option<Arc<dyn TokenProvider>>,
        retry: RetryPolicy,
    ) -> Result<Arc<Toolboxes>, ToolboxConfigError> {
        let retry = retry.bounded();
        let request_timeout = bounded(settings.request_timeout);
        let names = dedupe_names(settings.toolboxes.iter().chain(&settings.required));
        let required = dedupe_names(&settings.required);
        let layout = endpoint::layout(&settings, &names)?;
        let (changed, _) = watch::channel(0u64);
        let core = Arc::new(Core {
            consent_mode: settings.consent_mode,
            approval: settings.approval.clone(),
            links: LinkPolicy { allow_loopback_http: settings.allow_loopback_consent_links },
            retry: retry.clone(),
            request_timeout,
            list_ttl: bounded(settings.list_ttl),
            failure_ttl: bounded(settings.failure_ttl),
            degraded_wait: bounded(settings.degraded_wait),
            telemetry: settings.telemetry.clone(),
            changed,
        });
        let mode = match layout {
            Layout::Disabled => Mode::Disabled { names: layout_names(&names) },
            Layout::Enabled { project, toolboxes } => {
                let token = token.ok_or(ToolboxConfigError::MissingTokenProvider)?;
                let features = HeaderValue::from_str(&features_value(settings.extra_features.as_deref()))
                    .map_err(|e| ToolboxConfigError::InvalidFeatures(e.to_string()))?;
                let http = Arc::new(HttpShared {
                    client: http_client(request_timeout)?,
                    token,
                    features,
                    retry,
                    request_timeout,
                    telemetry: settings.telemetry.clone(),
                });
                let client = Implementation::new(settings.client_name.clone(), settings.client_version.clone());
                let registered = toolboxes
                    .into_iter()
                    .map(|(name, version, url)| {
                        let is_required = required.iter().any(|r| r.eq_ignore_ascii_case(&name));
                        let ep = Endpoint::new(name.clone(), &name, url, http.clone(), client.clone());
                        Toolbox::new(name, version, Kind::Registered { required: is_required }, ep, core.clone())
                    })
                    .collect();
                Mode::Enabled(Enabled { project, http, client, registered })
            }
        };
        Ok(Arc::new(Toolboxes {
            core,
            mode,
            strict: settings.strict,
            startup_timeout: bounded(settings.startup_timeout),
            max_lazy: settings.max_lazy_toolboxes.max(1),
            lazy: Mutex::new(Lazy::default()),
            startup_deadline: Mutex::new(None),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }))
    }

    /// Lists every configured toolbox concurrently in the background (container identity,
    /// startup deadline), then keeps retrying and refreshing them. Idempotent; needs a tokio
    /// runtime (without one it logs and does nothing).
    pub fn start(self: &Arc<Self>) {
        let Mode::Enabled(enabled) = &self.mode else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("Toolboxes::start needs a tokio runtime; toolboxes not started");
            return;
        };
        let deadline = {
            let mut slot = self.startup_deadline.lock();
            if slot.is_some() || self.shutdown.is_cancelled() {
                return;
            }
            let deadline = Instant::now() + self.startup_timeout;
            *slot = Some(deadline);
            deadline
        };
        for tb in &enabled.registered {
            let task = background::run(tb.clone(), deadline, self.shutdown.clone());
            self.tasks.spawn_on(task, &runtime);
        }
        self.core.bump();
    }

    /// The cached state of every configured toolbox; no I/O.
    pub fn readiness(&self) -> ToolboxReadiness {
        match &self.mode {
            Mode::Disabled { names } => ToolboxReadiness {
                ready: true,
                toolboxes: names
                    .iter()
                    .map(|name| ToolboxStatus {
                        name: name.clone(),
                        state: ToolboxState::NoEndpoint,
                        tools: 0,
                        last_error: None,
                        next_retry_ms: None,
                    })
                    .collect(),
            },
            Mode::Enabled(enabled) => {
                let deadline = *self.startup_deadline.lock();
                let now = Instant::now();
                let mut ready = true;
                let toolboxes = enabled
                    .registered
                    .iter()
                    .map(|tb| {
                        let report = tb.report(deadline, now);
                        ready &= !tb.blocks_readiness(&report);
                        report
                    })
                    .collect();
                ToolboxReadiness { ready, toolboxes }
            }
        }
    }

    /// A receiver that changes whenever a configured toolbox's state or shared tools change
    /// (e.g. to wait for readiness without polling).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.core.changed.subscribe()
    }

    /// The toolbox markers among a request's tools, validated and de-duplicated
    /// (case-insensitively on name and version). Runs before `response.created`.
    pub fn markers(&self, request_tools: &[Value]) -> Result<Vec<Marker>, MarkerError> {
        let parsed = marker::parse(request_tools)?;
        let Some((first, _)) = parsed.first() else {
            return Ok(Vec::new());
        };
        let Mode::Enabled(enabled) = &self.mode else {
            return Err(MarkerError::new(
                "toolboxes_disabled",
                "Toolbox markers need a Foundry project endpoint (FOUNDRY_PROJECT_ENDPOINT); toolboxes are disabled."
                    .into(),
                *first,
            ));
        };
        let mut out: Vec<Marker> = Vec::new();
        for (index, m) in parsed {
            let registered = enabled.find(&m.name).is_some();
            if self.strict && !registered {
                return Err(MarkerError::new(
                    "unknown_toolbox",
                    format!(
                        "Toolbox {:?} is not pre-registered; register it (TOOLBOX_NAME / --toolbox) or disable strict mode.",
                        m.name
                    ),
                    index,
                ));
            }
            let needs_url = !registered || m.version.is_some();
            if needs_url && enabled.project.is_none() {
                return Err(MarkerError::new(
                    "unknown_toolbox",
                    format!(
                        "Toolbox {:?} cannot be opened: only TOOLBOX_ENDPOINT is configured; set FOUNDRY_PROJECT_ENDPOINT.",
                        m.name
                    ),
                    index,
                ));
            }
            let duplicate = out.iter().any(|o| {
                o.name.eq_ignore_ascii_case(&m.name)
                    && match (&o.version, &m.version) {
                        (None, None) => true,
                        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                        _ => false,
                    }
            });
            if !duplicate {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// The tools one request may use and what must be surfaced before the model runs: every
    /// configured toolbox plus the request's markers, resolved concurrently for the request's
    /// user under its deadline.
    pub async fn resolve(&self, ctx: &RequestContext, markers: &[Marker]) -> (Arc<dyn ToolSet>, Preflight) {
        let Mode::Enabled(enabled) = &self.mode else {
            return (Arc::new(RequestTools::empty(self.core.clone())), Preflight::default());
        };
        let mut targets: Vec<Arc<Toolbox>> = enabled.registered.clone();
        let mut list_errors = Vec::new();
        for m in markers {
            match self.marker_toolbox(enabled, m) {
                Ok(tb) => {
                    if !targets.iter().any(|t| Arc::ptr_eq(t, &tb)) {
                        targets.push(tb);
                    }
                }
                Err(class) => list_errors.push((m.name.clone(), class.to_owned())),
            }
        }
        let outcomes = futures::future::join_all(targets.iter().map(|tb| tb.resolve_for(ctx))).await;
        let resolved: Vec<(Arc<Toolbox>, Outcome)> = targets.into_iter().zip(outcomes).collect();
        let (tools, preflight) = toolset::build(self.core.clone(), resolved, list_errors);
        (Arc::new(tools), preflight)
    }

    /// The toolbox a marker names: a configured one, or one from the bounded lazy cache.
    fn marker_toolbox(&self, enabled: &Enabled, m: &Marker) -> Result<Arc<Toolbox>, &'static str> {
        if names::validate_segment(&m.name).is_err()
            || m.version.as_deref().is_some_and(|v| names::validate_segment(v).is_err())
        {
            return Err("invalid_name");
        }
        let registered = enabled.find(&m.name);
        if m.version.is_none()
            && let Some(tb) = registered
        {
            return Ok(tb.clone());
        }
        if self.strict && registered.is_none() {
            return Err("unknown_toolbox");
        }
        let Some(project) = &enabled.project else {
            return Err("unknown_toolbox");
        };
        // A configured toolbox at a pinned version keeps its configured spelling.
        let name = registered.map_or_else(|| m.name.clone(), |tb| tb.name.clone());
        let key = (name.clone(), m.version.clone());
        let mut lazy = self.lazy.lock();
        lazy.tick += 1;
        let tick = lazy.tick;
        if let Some((tb, used)) = lazy.entries.get_mut(&key) {
            *used = tick;
            return Ok(tb.clone());
        }
        let url = names::proxy_url(project, &name, m.version.as_deref());
        let ep = Endpoint::new(name.clone(), MARKER_LABEL, url, enabled.http.clone(), enabled.client.clone());
        let tb = Toolbox::new(name, m.version.clone(), Kind::Marker, ep, self.core.clone());
        lazy.entries.insert(key, (tb.clone(), tick));
        if lazy.entries.len() > self.max_lazy
            && let Some(oldest) = lazy.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone())
            && let Some((evicted, _)) = lazy.entries.remove(&oldest)
        {
            // Requests still using it keep it alive; its connection closes when the last one
            // is done (dropping the client cancels its worker).
            tracing::debug!(toolbox = %evicted.name, "evicting a lazily opened toolbox");
        }
        Ok(tb)
    }

    /// How many marker-opened toolboxes are cached (for tests and metrics).
    pub fn lazy_toolboxes(&self) -> usize {
        self.lazy.lock().entries.len()
    }

    /// Stops the background loops and closes every connection. Idempotent.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        let mut endpoints: Vec<Arc<Endpoint>> = Vec::new();
        if let Mode::Enabled(enabled) = &self.mode {
            endpoints.extend(enabled.registered.iter().map(|tb| tb.endpoint.clone()));
        }
        endpoints.extend(self.lazy.lock().entries.drain().map(|(_, (tb, _))| tb.endpoint.clone()));
        futures::future::join_all(endpoints.iter().map(|ep| ep.close())).await;
    }
}

impl Drop for Toolboxes {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Enabled {
    fn find(&self, name: &str) -> Option<&Arc<Toolbox>> {
        self.registered.iter().find(|tb| tb.name.eq_ignore_ascii_case(name))
    }
}

fn layout_names(names: &[String]) -> Vec<String> {
    names.to_vec()
}

/// The shared reqwest client: rmcp's defaults (no idle pool, no redirects), a connect timeout.
fn http_client(request_timeout: Duration) -> Result<reqwest::Client, ToolboxConfigError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(request_timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| ToolboxConfigError::HttpClient(e.to_string()))
}
