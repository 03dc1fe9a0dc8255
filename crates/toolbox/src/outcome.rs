//! What listing a toolbox leads to, and what kind of toolbox it is: the values every part of the
//! crate passes around (the toolbox, its shared state, the request tool set).

use std::sync::Arc;

use agenthost_agent::ConsentRequest;
use serde_json::Value;

use crate::error::ErrorClass;

/// A tool as listed by the proxy.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedTool {
    /// The original MCP name (sent back to the proxy).
    pub name: String,
    /// Description (empty when the tool has none).
    pub description: String,
    /// Input JSON schema.
    pub schema: Value,
}

/// An immutable, shareable tool list.
pub type ToolList = Arc<Vec<ListedTool>>;

/// What listing a toolbox for someone led to.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The tools.
    Tools(ToolList),
    /// Sources need consent (`consents`, valid links only) and/or failed (`broken`).
    Consent {
        /// Sign-in requests.
        consents: Vec<ConsentRequest>,
        /// Failed sources: (label, class).
        broken: Vec<(String, ErrorClass)>,
    },
    /// The whole toolbox failed.
    Failed(ErrorClass),
}

/// Whether a toolbox was configured or came from a request's marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Pre-registered; has a shared state and a background loop.
    Registered {
        /// Its `Unhealthy` state makes the container not ready.
        required: bool,
    },
    /// Opened from a marker; everything about it is per user.
    Marker,
}
