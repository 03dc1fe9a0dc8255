//! Integration tests of the model backends against the in-process mock OpenAI server.
//!
//! No test sleeps to synchronise: they wait on the mock's request / disconnect counters, and
//! every wait is bounded by [`bounded`] so a regression fails fast instead of hanging.

mod behaviour;
mod chat;
mod helpers;
mod loop_turn;
mod mock_server;
mod responses;
