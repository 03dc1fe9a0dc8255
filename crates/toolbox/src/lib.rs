//! Foundry toolboxes over MCP for the hosted-agent server.
//!
//! [`Toolboxes`] owns the configured toolboxes (listed at startup with the container identity,
//! retried and refreshed in the background, reported by [`Toolboxes::readiness`]) and the
//! toolboxes requests ask for with markers ([`Toolboxes::markers`]). For each request,
//! [`Toolboxes::resolve`] builds the [`ToolSet`](agenthost_agent::ToolSet) of that request's
//! user and the [`Preflight`](agenthost_agent::Preflight) to surface before the model runs.
//!
//! Invariants:
//! * This crate knows nothing about HTTP servers or the Responses wire format: it takes a
//!   [`RequestContext`](agenthost_agent::RequestContext) and returns agent types.
//! * Nothing a user's request learns (consent, per-user tools) changes shared state or reaches
//!   another user; the shared state changes only through container-identity listings.
//! * No lock is held across I/O; every network operation has a deadline and honours the
//!   request's cancellation.
//! * No token, consent-link query or user id is logged; `x-agent-user-id` is never sent.
//!
//! The crate README describes the tool-name rule, the state machine and the cache design.

#![warn(missing_docs)]

mod background;
mod client;
pub mod consent;
mod core;
mod endpoint;
mod error;
mod http;
mod marker;
pub mod names;
mod outcome;
mod redact;
mod registry;
mod retry;
mod settings;
mod state;
mod toolbox;
mod toolset;
mod trace;

pub use error::ErrorClass;
pub use http::{MANDATORY_FEATURE, features_value};
pub use marker::{Marker, MarkerError, parse as parse_markers};
pub use registry::Toolboxes;
pub use settings::{ApprovalPolicy, ConsentMode, ParseSettingError, RetryPolicy, ToolboxConfigError, ToolboxSettings};
pub use state::{ToolboxReadiness, ToolboxState, ToolboxStatus};
