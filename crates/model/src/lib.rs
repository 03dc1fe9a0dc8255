//! Real model backends for the agent loop: [`OpenAiResponses`] (the OpenAI Responses API) and
//! [`OpenAiChat`] (Chat Completions), both implementing [`agenthost_agent::Model`] over plain
//! reqwest with a tolerant SSE parser.
//!
//! [`build`] turns a [`ModelConfig`] into an `Arc<dyn Model>`. Behaviour shared by both
//! backends: API-key or Entra-token authentication, `traceparent`/`tracestate` propagation,
//! connect / first-byte / idle timeouts, retries with backoff before anything was streamed,
//! cancellation through `RequestContext::cancel`, and stable error codes ([`codes`]).
//!
//! Invariants: credentials never appear in logs, `Debug` output or [`ModelError`] messages; no
//! user id is ever sent upstream; upstream requests never set `store: true`.
//!
//! With the `mock` feature, [`mock::MockOpenAi`] is a scripted OpenAI-compatible server for
//! tests.
//!
//! [`ModelError`]: agenthost_agent::ModelError

mod chat_api;
mod config;
mod error;
mod http;
mod mapping;
mod responses_api;
mod stream;

#[cfg(feature = "mock")]
pub mod mock;

use std::sync::Arc;

use agenthost_agent::Model;

pub use chat_api::OpenAiChat;
pub use config::{ApiKeyStyle, ModelConfig, ModelConfigError, Provider};
pub use error::codes;
pub use mapping::MISSING_OUTPUT;
pub use responses_api::OpenAiResponses;

/// Builds the backend `config.provider` names.
pub fn build(config: ModelConfig) -> Result<Arc<dyn Model>, ModelConfigError> {
    Ok(match config.provider {
        Provider::OpenAiResponses => Arc::new(OpenAiResponses::new(&config)?),
        Provider::OpenAiChat => Arc::new(OpenAiChat::new(&config)?),
    })
}
