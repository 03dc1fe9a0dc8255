//! Which agent a request addresses: shared by requests, responses and items.

use serde::{Deserialize, Serialize};

/// Which agent a request addresses, echoed on the response and its items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentReference {
    /// Always `agent_reference`.
    #[serde(rename = "type", default = "agent_reference_type")]
    pub kind: String,
    /// The agent's name.
    pub name: String,
    /// The agent's version, when pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

fn agent_reference_type() -> String {
    "agent_reference".to_string()
}

impl AgentReference {
    /// A reference to `name`, optionally at `version`.
    pub fn new(name: impl Into<String>, version: Option<String>) -> Self {
        AgentReference { kind: agent_reference_type(), name: name.into(), version }
    }
}
