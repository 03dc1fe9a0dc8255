//! Binding, serving, and the shutdown sequence.
//!
//! On SIGTERM (or Ctrl-C) readiness turns 503 at once and new responses are refused with 503,
//! while the listeners keep answering so the platform can see it. In-flight runs get the drain
//! budget to finish; any still running then end `failed` with `server_shutdown`, so every stream
//! gets its terminal event. Only then do the listeners close and the process exit.

use std::sync::Arc;
use std::time::Duration;

use agenthost_agent::{Model, ScriptedModel, Telemetry};
use agenthost_identity::TokenProvider;
use agenthost_model::{ModelConfig, Provider};
use agenthost_store::{MemoryStore, ResponseStore};
use agenthost_store_foundry::FoundryStore;
use agenthost_store_postgres::PostgresStore;
use agenthost_toolbox::{ToolboxSettings, Toolboxes};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app;
use crate::config::{Config, StoreBackend};
use crate::health::{Health, StoreHealth};
use crate::metrics::Metrics;
use crate::run::{Runs, StopReason};
use crate::state::{App, AppState};
use crate::telemetry::ServerRecorder;

/// Time reserved at the end of the drain budget for interrupted runs to write their terminal
/// event and for streams to flush it.
const FINAL_GRACE: Duration = Duration::from_secs(2);

/// Builds the shared state: store, model, toolboxes. Token providers come from the identity
/// variables in `config`; `toolbox_token` overrides them (the demo's static token).
pub fn build(config: Config, toolbox_token: Option<Arc<dyn TokenProvider>>) -> Result<AppState, StartupError> {
    let metrics = Metrics::with_store_counts(!matches!(config.store_backend, StoreBackend::Foundry(_)))?;
    let telemetry = Telemetry::new(Arc::new(ServerRecorder::new(metrics.clone(), config.telemetry.capture_content)));
    let model = build_model(&config)?;
    // One provider for the project's services (toolbox proxy and storage), same scope.
    let project_token = project_token(&config, toolbox_token)?;
    let toolboxes = build_toolboxes(&config, project_token.clone(), telemetry.clone())?;
    let remote_mcp = build_remote_mcp(&config)?;
    metrics.register_toolboxes(toolboxes.readiness().toolboxes.iter().map(|t| t.name.as_str()));
    let mut foundry = None;
    let (store, durable, store_health): (Arc<dyn ResponseStore>, _, _) = match &config.store_backend {
        StoreBackend::Memory => {
            (Arc::new(MemoryStore::new(config.store)), None, StoreHealth::new("memory", "memory".into(), true))
        }
        StoreBackend::Postgres(options) => {
            let pg = Arc::new(PostgresStore::new(options).map_err(StartupError::Store)?);
            (pg.clone(), Some(pg), StoreHealth::new("postgres", config.store_backend.describe(), false))
        }
        StoreBackend::Foundry(options) => {
            let token = project_token.clone().ok_or(StartupError::NoStorageCredentials)?;
            let store = Arc::new(FoundryStore::new(options, token).map_err(StartupError::Store)?);
            foundry = Some(store.clone());
            (store.clone(), None, StoreHealth::new("foundry", store.target(), false))
        }
    };
    Ok(Arc::new(App {
        store,
        durable,
        store_health,
        foundry,
        model,
        toolboxes,
        remote_mcp,
        runs: Runs::default(),
        health: Health::default(),
        metrics,
        telemetry,
        tracker: TaskTracker::new(),
        admission: crate::limits::Admission::new(&config.limits),
        config,
    }))
}

/// The server cannot start with this configuration. Each message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The metrics registry refused a family (a bug, not a setting).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// `AGENTHOST_MODEL_PROVIDER` names no provider.
    #[error("AGENTHOST_MODEL_PROVIDER: unknown provider {0:?}")]
    UnknownProvider(String),
    /// The identity variables select a provider that cannot be built.
    #[error("{what} credentials: {source}")]
    Credentials {
        /// `model`, `toolbox` or `storage`.
        what: &'static str,
        /// Why.
        source: agenthost_identity::TokenError,
    },
    /// The model backend rejected its configuration.
    #[error("model configuration (AGENTHOST_MODEL_*): {0}")]
    Model(#[from] agenthost_model::ModelConfigError),
    /// A toolbox policy value cannot be parsed.
    #[error("{var}: {source}")]
    ToolboxSetting {
        /// The variable.
        var: &'static str,
        /// Why.
        source: agenthost_toolbox::ParseSettingError,
    },
    /// The store cannot be set up.
    #[error("store (AGENTHOST_STORE): {0}")]
    Store(agenthost_store::StoreError),
    /// The foundry store has no token provider to call the storage API with.
    #[error(
        "store (AGENTHOST_STORE) foundry: no credentials for https://ai.azure.com/.default \
         (managed identity, workload identity, or AGENTHOST_TOOLBOX_TOKEN for local use)"
    )]
    NoStorageCredentials,
    /// The HTTP client of request `mcp` servers cannot be built.
    #[error("request mcp client: {0}")]
    McpClient(String),
    /// The toolbox settings are inconsistent.
    #[error("toolboxes: {0}")]
    Toolboxes(#[from] agenthost_toolbox::ToolboxConfigError),
}

fn identity_options(
    config: &Config,
    static_token: Option<&agenthost_identity::Secret>,
) -> agenthost_identity::SelectOptions {
    agenthost_identity::SelectOptions {
        static_token: static_token.map(|t| t.expose().to_string()),
        // IMDS only answers on Azure compute; probing it elsewhere would stall for seconds.
        allow_imds: config.platform.hosted,
        ..Default::default()
    }
}

fn build_model(config: &Config) -> Result<Arc<dyn Model>, StartupError> {
    let m = &config.backend;
    if m.provider == "scripted" {
        return Ok(Arc::new(ScriptedModel { pace: config.scripted_pace }));
    }
    let provider: Provider = m.provider.parse().map_err(|_| StartupError::UnknownProvider(m.provider.clone()))?;
    let base_url = m.base_url.clone().unwrap_or_default();
    let mut mc = ModelConfig::new(provider, base_url, m.name.clone().unwrap_or_default());
    mc.api_key = m.api_key.clone();
    if m.azure_key {
        mc.api_key_header = agenthost_model::ApiKeyStyle::ApiKeyHeader;
    }
    if mc.api_key.is_none() {
        mc.token = agenthost_identity::select(&config.identity, &identity_options(config, None))
            .map_err(|source| StartupError::Credentials { what: "model", source })?;
    }
    if let Some(scope) = &m.token_scope {
        mc.scope = scope.clone();
    }
    mc.first_byte_timeout = m.timeout;
    mc.idle_timeout = m.timeout;
    mc.max_retries = m.max_retries;
    Ok(agenthost_model::build(mc)?)
}

/// The pool of request `mcp` servers, whose HTTP client carries the outbound-safety guard: every
/// address a host resolves to is checked when connecting, redirects are checked, no proxy.
fn build_remote_mcp(config: &Config) -> Result<agenthost_remote_mcp::RemoteMcp, StartupError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pool = &config.mcp.pool;
    let builder = reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(pool.connect_timeout)
        .pool_idle_timeout(pool.idle_timeout);
    let client = config.mcp.egress.guard(builder).build().map_err(|e| StartupError::McpClient(e.to_string()))?;
    Ok(agenthost_remote_mcp::RemoteMcp::new(agenthost_remote_mcp::Pool::new(client, pool.clone())))
}

/// The provider of tokens for the project's services (scope `https://ai.azure.com/.default`):
/// `override_token` (the demo's static token), else the identity variables, when a toolbox
/// endpoint is set or the store is `foundry`.
fn project_token(
    config: &Config,
    override_token: Option<Arc<dyn TokenProvider>>,
) -> Result<Option<Arc<dyn TokenProvider>>, StartupError> {
    let t = &config.toolbox;
    let has_endpoint = t.project_endpoint.is_some() || t.toolbox_endpoint.is_some();
    let foundry = matches!(config.store_backend, StoreBackend::Foundry(_));
    match override_token {
        Some(token) => Ok(Some(token)),
        None if has_endpoint || foundry => {
            agenthost_identity::select(&config.identity, &identity_options(config, config.toolbox.token.as_ref()))
                .map_err(|source| StartupError::Credentials {
                    what: if has_endpoint { "toolbox" } else { "storage" },
                    source,
                })
        }
        None => Ok(None),
    }
}

fn build_toolboxes(
    config: &Config,
    token: Option<Arc<dyn TokenProvider>>,
    telemetry: Telemetry,
) -> Result<Arc<Toolboxes>, StartupError> {
    let t = &config.toolbox;
    let settings = ToolboxSettings {
        project_endpoint: t.project_endpoint.clone(),
        toolbox_endpoint: t.toolbox_endpoint.clone(),
        toolboxes: t.names.clone(),
        required: t.required.clone(),
        strict: t.strict,
        consent_mode: t
            .consent_mode
            .parse()
            .map_err(|source| StartupError::ToolboxSetting { var: "AGENTHOST_CONSENT_MODE", source })?,
        approval: t
            .require_approval
            .parse()
            .map_err(|source| StartupError::ToolboxSetting { var: "AGENTHOST_REQUIRE_APPROVAL", source })?,
        startup_timeout: t.startup_timeout,
        request_timeout: t.request_timeout,
        degraded_wait: t.degraded_wait,
        extra_features: t.extra_features.clone(),
        allow_loopback_consent_links: t.allow_loopback_consent_links,
        client_name: config.platform.agent_name.clone().unwrap_or_else(|| "hosted-agent".into()),
        client_version: config.platform.agent_version.clone().unwrap_or_else(|| "1.0.0".into()),
        telemetry,
        ..ToolboxSettings::default()
    };
    Ok(Toolboxes::new(settings, token)?)
}

/// Serves until a shutdown signal, then drains.
pub async fn run(app: AppState) -> anyhow::Result<()> {
    std::fs::create_dir_all(&app.config.state_dir).ok();
    // No Nagle: SSE writes many small frames, and Nagle plus delayed ACKs would stall each one.
    let api = TcpListener::bind(app.config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (PORT/--port): {e}", app.config.listen))?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let metrics = TcpListener::bind(app.config.metrics_listen).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {} (AGENTHOST_METRICS_PORT/--metrics-port): {e}", app.config.metrics_listen)
    })?;
    tracing::info!(api = %app.config.listen, metrics = %app.config.metrics_listen, "agenthost listening");

    let stop_listening = CancellationToken::new();
    let api_server = tokio::spawn({
        let router = app::router(app.clone());
        let stop = stop_listening.clone();
        async move { axum::serve(api, router).with_graceful_shutdown(stop.cancelled_owned()).await }
    });
    let metrics_server = tokio::spawn({
        let router = app::metrics_router(app.clone());
        let stop = stop_listening.clone();
        async move { axum::serve(metrics, router).with_graceful_shutdown(stop.cancelled_owned()).await }
    });
    let sweeper = tokio::spawn({
        let app = app.clone();
        async move {
            if let Some(db) = &app.durable {
                connect_store(&app, || db.migrate()).await;
            } else if let Some(storage) = &app.foundry {
                connect_store(&app, || storage.check()).await;
            }
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                app.runs.sweep();
                // Also the store's liveness check: readiness follows the database or service.
                let outcome = match (&app.durable, &app.foundry) {
                    (Some(db), _) => Some(db.sweep().await),
                    (None, Some(storage)) => Some(storage.check().await),
                    (None, None) => None,
                };
                if let Some(outcome) = outcome {
                    if let Err(e) = &outcome {
                        tracing::warn!(store = %app.store_health.target, code = e.code(), "store check failed: {e}");
                    }
                    app.store_health.record(outcome.map_err(|e| e.to_string()));
                }
            }
        }
    });

    let leases = app.durable.clone().map(|db| {
        let app = app.clone();
        tokio::spawn(async move { keep_leases(&app, &db).await })
    });
    let cancels = app.durable.clone().map(|db| {
        let app = app.clone();
        tokio::spawn(async move {
            db.listen_for_cancels(|id| {
                if app.runs.cancel_from_peer(&id) {
                    tracing::info!(response_id = %id, "cancelled at another replica's request");
                }
            })
            .await
        })
    });
    app.toolboxes.start();
    app.health.set_ready();
    shutdown_signal().await;
    tracing::info!(drain_timeout = ?app.config.drain_timeout, "shutdown requested; draining");
    drain(&app).await;
    sweeper.abort();
    for task in [leases, cancels].into_iter().flatten() {
        task.abort();
    }
    app.toolboxes.shutdown().await;
    app.remote_mcp.pool().close().await;
    stop_listening.cancel();
    let _ = tokio::time::timeout(FINAL_GRACE, async {
        let _ = api_server.await;
        let _ = metrics_server.await;
    })
    .await;
    tracing::info!("agenthost stopped");
    Ok(())
}

/// Connects the store (applies the database schema, or checks the storage service answers with
/// our credentials), retrying with capped exponential backoff until it does; readiness stays
/// 503 (with the store's state) until then.
async fn connect_store<F, Fut>(app: &App, attempt: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), agenthost_store::StoreError>>,
{
    let mut wait = Duration::from_millis(250);
    loop {
        match attempt().await {
            Ok(()) => {
                tracing::info!(store = %app.store_health.target, "store ready");
                app.store_health.record(Ok(()));
                return;
            }
            Err(e) => {
                tracing::warn!(store = %app.store_health.target, code = e.code(), retry_in = ?wait, "store unavailable: {e}");
                app.store_health.record(Err(e.to_string()));
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// Renews the leases of this replica's unfinished runs (and their conversation claims) and ends the runs of dead
/// replicas (`run_lost`), three times per lease period.
async fn keep_leases(app: &App, db: &PostgresStore) {
    let lease = match &app.config.store_backend {
        StoreBackend::Postgres(options) => options.lease,
        StoreBackend::Memory | StoreBackend::Foundry(_) => return,
    };
    let mut tick = tokio::time::interval((lease / 3).max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        // Background runs hold a response lease, runs on a conversation a conversation claim.
        let mine: Vec<String> = app.runs.in_flight().iter().map(|r| r.id.clone()).collect();
        if let Err(e) = db.renew_leases(&mine).await {
            tracing::warn!(code = e.code(), runs = mine.len(), "could not renew run leases: {e}");
        }
        match db.reap_lost_runs().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(runs = n, "ended responses of a replica that stopped (run_lost)"),
            Err(e) => tracing::warn!(code = e.code(), "could not check for lost runs: {e}"),
        }
    }
}

/// `serve --check`: one line saying whether the store is usable; true when it is.
pub async fn check_store(app: &App) -> bool {
    let outcome = match (&app.durable, &app.foundry) {
        (Some(db), _) => db.migrate().await.map(|()| format!("schema {}", agenthost_store_postgres::SCHEMA_VERSION)),
        (None, Some(storage)) => storage.check().await.map(|()| "Foundry storage answers".to_string()),
        (None, None) => Ok("in memory, this process only".to_string()),
    };
    match outcome {
        Ok(detail) => {
            println!("store {}: usable ({detail})", app.store_health.target);
            true
        }
        Err(e) => {
            println!("store {}: not usable: {e}", app.store_health.target);
            false
        }
    }
}

async fn drain(app: &App) {
    app.health.start_draining();
    app.tracker.close();
    let budget = app.config.drain_timeout.saturating_sub(FINAL_GRACE);
    if tokio::time::timeout(budget, app.tracker.wait()).await.is_err() {
        let stuck = app.runs.in_flight();
        tracing::warn!(runs = stuck.len(), "drain budget spent; failing the runs still in flight");
        for run in stuck {
            run.stop(StopReason::Shutdown);
        }
        let _ = tokio::time::timeout(FINAL_GRACE, app.tracker.wait()).await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
