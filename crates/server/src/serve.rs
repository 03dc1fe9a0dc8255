//! Binding, serving, and the shutdown sequence.
//!
//! On SIGTERM (or Ctrl-C) readiness turns 503 at once and new responses are refused with 503,
//! while the listeners keep answering so the platform can see it. In-flight runs get the drain
//! budget to finish; any still running then end `failed` with `server_shutdown`, so every stream
//! gets its terminal event. Only then do the listeners close and the process exit.

use std::sync::Arc;
use std::time::Duration;

use agenthost_agent::{Model, NoTools, ScriptedModel};
use agenthost_store::MemoryStore;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{self, App, AppState};
use crate::config::Config;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::run::{Runs, StopReason};

/// Time reserved at the end of the drain budget for interrupted runs to write their terminal
/// event and for streams to flush it.
const FINAL_GRACE: Duration = Duration::from_secs(2);

/// Builds the shared state for `config` with the embedded defaults.
pub fn build(config: Config) -> anyhow::Result<AppState> {
    let model: Arc<dyn Model> = Arc::new(ScriptedModel {
        pace: config.scripted_pace,
    });
    Ok(Arc::new(App {
        store: Arc::new(MemoryStore::new(config.store)),
        model,
        tools: Arc::new(NoTools),
        runs: Runs::default(),
        health: Health::default(),
        metrics: Metrics::new()?,
        tracker: TaskTracker::new(),
        config,
    }))
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
    let metrics = TcpListener::bind(app.config.metrics_listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {} (AGENTHOST_METRICS_PORT/--metrics-port): {e}",
                app.config.metrics_listen
            )
        })?;
    tracing::info!(api = %app.config.listen, metrics = %app.config.metrics_listen, "agenthost listening");

    let stop_listening = CancellationToken::new();
    let api_server = tokio::spawn({
        let router = app::router(app.clone());
        let stop = stop_listening.clone();
        async move {
            axum::serve(api, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        }
    });
    let metrics_server = tokio::spawn({
        let router = app::metrics_router(app.clone());
        let stop = stop_listening.clone();
        async move {
            axum::serve(metrics, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        }
    });
    let sweeper = tokio::spawn({
        let app = app.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                app.runs.sweep();
            }
        }
    });

    app.health.set_ready();
    shutdown_signal().await;
    tracing::info!(drain_timeout = ?app.config.drain_timeout, "shutdown requested; draining");
    drain(&app).await;
    sweeper.abort();
    stop_listening.cancel();
    let _ = tokio::time::timeout(FINAL_GRACE, async {
        let _ = api_server.await;
        let _ = metrics_server.await;
    })
    .await;
    tracing::info!("agenthost stopped");
    Ok(())
}

async fn drain(app: &App) {
    app.health.start_draining();
    app.tracker.close();
    let budget = app.config.drain_timeout.saturating_sub(FINAL_GRACE);
    if tokio::time::timeout(budget, app.tracker.wait())
        .await
        .is_err()
    {
        let stuck = app.runs.in_flight();
        tracing::warn!(
            runs = stuck.len(),
            "drain budget spent; failing the runs still in flight"
        );
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
