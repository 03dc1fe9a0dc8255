//! `agenthost-mock-proxy`: serves a scenario (or the demo scenario) until Ctrl-C or SIGTERM.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use agenthost_mock_proxy::{MockProxy, Scenario, demo_scenario};
use clap::Parser;

/// A fault-injecting mock of the Foundry toolbox MCP proxy.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090", env = "MOCK_PROXY_LISTEN")]
    listen: SocketAddr,
    /// Scenario file (TOML, or JSON when it ends in `.json`). Default: the demo scenario.
    #[arg(long, env = "MOCK_PROXY_SCENARIO")]
    scenario: Option<PathBuf>,
    /// Base URL put in consent links (overrides the scenario's `public_url`).
    #[arg(long)]
    public_url: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut scenario = match &args.scenario {
        Some(path) => match Scenario::from_path(path) {
            Ok(scenario) => scenario,
            Err(err) => {
                eprintln!("agenthost-mock-proxy: {err}");
                return ExitCode::from(64);
            }
        },
        None => demo_scenario(),
    };
    if args.public_url.is_some() {
        scenario.public_url = args.public_url.clone();
    }
    let names: Vec<String> = scenario.toolboxes.iter().map(|t| t.name.clone()).collect();
    let proxy = match MockProxy::start_on(scenario, args.listen).await {
        Ok(proxy) => proxy,
        Err(err) => {
            eprintln!("agenthost-mock-proxy: cannot start on {}: {err}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("{}", proxy.base_url());
    for name in &names {
        eprintln!("agenthost-mock-proxy: serving {}", proxy.toolbox_url(name));
    }
    wait_for_signal().await;
    eprintln!("agenthost-mock-proxy: shutting down");
    proxy.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C, or on SIGTERM on Unix.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
