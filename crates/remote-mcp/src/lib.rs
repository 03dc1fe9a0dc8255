//! Request `mcp` tools by `server_url`, the way OpenAI's Responses API takes them: the tool spec
//! ([`spec`]), a pool of MCP connections per (URL, credentials) ([`pool`]), listing into
//! `mcp_list_tools` items and calls as `mcp_call`s ([`tools`]), and results as text
//! ([`render`]).
//!
//! Whether a URL may be reached at all is not decided here: the server checks it with
//! `agenthost-egress` before the response is created, and the pool's HTTP client carries that
//! crate's connect-time guard. Credentials (`headers`, `authorization`) go to their server only:
//! they are part of the pool key in memory, and never in an item, a log line or the model's input.

pub mod error;
pub mod legacy_sse;
pub mod pool;
pub mod render;
pub mod spec;
pub mod tools;

pub use error::McpError;
pub use pool::{Pool, Settings};
pub use spec::{ApprovalPolicy, Credentials, ServerSpec, SpecError, parse};
pub use tools::{RemoteMcp, RemoteTools};
