//! Black-box tests of `agenthost chat`: `run_with_io` against a scripted fake Responses server,
//! with in-memory (or gated) input and a fake browser. Nothing needs a terminal.

mod approval;
mod args;
mod consent;
mod exit_codes;
mod links;
mod sse;
mod streaming;
mod support;
