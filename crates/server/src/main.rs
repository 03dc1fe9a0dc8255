//! `agenthost`: a hosted-agent server for the OpenAI Responses protocol and Foundry toolboxes.
//!
//! This file only wires things: parse the command line, set up logging, build the app, serve.

mod app;
mod cli;
mod config;
mod conversations;
mod create;
mod demo;
mod env;
mod error;
mod health;
mod limits;
mod mcp_tools;
mod metrics;
mod platform;
mod playground;
mod probes;
mod read;
mod run;
mod serve;
mod shared_events;
mod sse;
mod state;
mod telemetry;
#[cfg(test)]
mod test_support;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::config::{Config, ProcessEnv};

/// mimalloc, not glibc's malloc: the request path allocates and frees many small objects across
/// worker threads, where glibc spent a fifth of the server's CPU (issue 12's profile). Built
/// without transparent huge pages (`no_thp`): with them an idle server holds 8 MiB it never uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Plain `agenthost` is `agenthost serve`: re-parse so flags' variables are read the same way.
    let (args, serve_matches) = match cli.command {
        Some(Command::Chat(args)) => return run_async(agenthost_chat::run(args)),
        Some(Command::Demo(args)) => {
            let tracing = match telemetry::Settings::from_env(&ProcessEnv) {
                Ok(settings) => telemetry::init(&settings, false, false),
                Err(e) => {
                    eprintln!("agenthost: {e}");
                    return ExitCode::from(2);
                }
            };
            let code = run_async(async move {
                match demo::run(args).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("agenthost demo: {e:#}");
                        ExitCode::FAILURE
                    }
                }
            });
            tracing.shutdown();
            return code;
        }
        Some(Command::Serve(args)) => (*args, matches.subcommand_matches("serve").cloned()),
        None => {
            let argv0 = std::env::args().next().unwrap_or_else(|| "agenthost".into());
            let m = Cli::command().get_matches_from([argv0, "serve".to_string()]);
            match Cli::from_arg_matches(&m) {
                Ok(Cli { command: Some(Command::Serve(args)) }) => (*args, m.subcommand_matches("serve").cloned()),
                _ => return ExitCode::from(2),
            }
        }
    };
    let config = match Config::from_args(&args, serve_matches.as_ref(), &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("agenthost: {e}");
            return ExitCode::from(2);
        }
    };
    let tracing = telemetry::init(&config.telemetry, config.json_logs, config.platform.hosted);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agenthost: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Building needs the runtime (HTTP clients), but a bad configuration is still exit code 2.
    let app = match runtime.block_on(async { serve::build(config, None) }) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("agenthost: {e}");
            return ExitCode::from(2);
        }
    };
    if app.config.check {
        let usable = runtime.block_on(serve::check_store(&app));
        return if usable { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    let result = runtime.block_on(serve::run(app));
    drop(runtime);
    // Flushes queued spans; blocking, so outside the runtime.
    tracing.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("agenthost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a client command on a fresh runtime.
fn run_async(fut: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("agenthost: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
