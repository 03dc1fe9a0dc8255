//! `agenthost chat`: the reference consent-aware client of the Responses protocol.
//!
//! A REPL (or, with `--prompt`, a single request) over streaming `POST /responses`: text is
//! printed as it arrives, tool calls and results as compact `→` / `←` lines, and the history is
//! kept in a conversation (`--conversation`, or one created at the first prompt when the server
//! offers the Conversations API), else chained with `previous_response_id`. When a response carries
//! `oauth_consent_request` items the distinct, validated links are shown (and offered to a
//! browser), the client waits for the person to press Enter, then re-sends the same prompt on the
//! same history, stopping after `--max-consent-retries` re-sends for a source that keeps asking.
//! `mcp_approval_request` items are answered with `mcp_approval_response` input items.
//!
//! Modules: [`args`] (flags), `client` (HTTP + SSE), `render` (printing a stream), `consent`
//! (link validation, loop bound), `repl` (the conversation loop), [`exit`] (exit codes),
//! `browser` (the [`Browser`] seam). Nothing here needs a terminal: [`run_with_io`] takes any
//! line source and writers.

pub mod args;
mod browser;
mod client;
mod consent;
pub mod exit;
mod render;
mod repl;
mod text;

use std::io::Write;
use std::process::ExitCode;

use tokio::io::AsyncBufRead;

pub use args::ChatArgs;
pub use browser::{Browser, SystemBrowser};
pub use consent::validate_consent_link;

/// Runs `agenthost chat` on the real stdin, stdout and stderr, with the system browser.
pub async fn run(args: ChatArgs) -> ExitCode {
    let browser = SystemBrowser::detect();
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    let code = run_with_io(args, input, std::io::stdout(), std::io::stderr(), &browser).await;
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Runs `agenthost chat` over the given input lines and writers; returns the exit code (see
/// [`exit`]). Without `--prompt` this is the REPL; with it, one request and no input is read.
pub async fn run_with_io(
    args: ChatArgs,
    input: impl AsyncBufRead + Unpin + Send,
    out: impl Write + Send,
    err: impl Write + Send,
    browser: &dyn Browser,
) -> i32 {
    let mut err = err;
    if let Err(msg) = args.check() {
        let _ = writeln!(err, "error: {msg}");
        return exit::USAGE;
    }
    let client = match client::Client::new(&args) {
        Ok(c) => c,
        Err(msg) => {
            let _ = writeln!(err, "error: {msg}");
            return exit::USAGE;
        }
    };
    let prompt = args.prompt.clone();
    let mut session = repl::Session::new(args, client, Box::pin(input), Box::new(out), Box::new(err), browser);
    match prompt {
        Some(p) => session.once(p).await,
        None => session.repl().await,
    }
}
