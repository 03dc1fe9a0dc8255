//! The request-`mcp`-tools section: whether requests may name MCP servers by URL, which URLs
//! they may reach (the outbound-safety policy), and the pool's timeouts and bound.

use std::time::Duration;

use agenthost_egress::{EgressPolicy, PolicyError};
use agenthost_remote_mcp::Settings;

use super::ConfigError;
use super::read::{Reader, boolean, comma_list, positive_secs, positive_usize};
use crate::cli::ServeArgs;

/// Request `mcp` tools by `server_url`.
#[derive(Clone, Debug)]
pub struct McpSettings {
    /// `AGENTHOST_MCP_URL_TOOLS`: requests may name servers by URL (else 400).
    pub url_tools: bool,
    /// Which URLs they may reach (`AGENTHOST_MCP_ALLOWED_HOSTS`,
    /// `AGENTHOST_MCP_ALLOW_PRIVATE_NETWORKS`, `AGENTHOST_MCP_DENIED_NETWORKS`).
    pub egress: EgressPolicy,
    /// Pool and operation limits (`AGENTHOST_MCP_CALL_TIMEOUT`, `AGENTHOST_MCP_IDLE_TIMEOUT`,
    /// `AGENTHOST_MCP_MAX_CONNECTIONS`).
    pub pool: Settings,
}

impl McpSettings {
    pub(super) fn read(r: &Reader<'_>, args: &ServeArgs) -> Result<Self, ConfigError> {
        let url_tools = r.parse(&args.mcp_url_tools, "mcp_url_tools", true, |v| match v {
            "on" | "true" | "" => Ok(true),
            "off" | "false" => Ok(false),
            _ => Err("expected on or off".into()),
        })?;
        let allow_private = r.parse(&args.mcp_allow_private_networks, "mcp_allow_private_networks", false, boolean)?;
        let hosts = r.parse(&args.mcp_allowed_hosts, "mcp_allowed_hosts", Vec::new(), |v| Ok(comma_list(v)))?;
        let denied = r.parse(&args.mcp_denied_networks, "mcp_denied_networks", Vec::new(), |v| Ok(comma_list(v)))?;
        let egress = EgressPolicy::new(allow_private, &hosts, &denied).map_err(|e| {
            let (id, raw) = match &e {
                PolicyError::InvalidNetwork(_) => ("mcp_denied_networks", &args.mcp_denied_networks),
                PolicyError::InvalidHostPattern(_) => ("mcp_allowed_hosts", &args.mcp_allowed_hosts),
            };
            ConfigError { source_name: r.origin(id), value: raw.clone().unwrap_or_default(), reason: e.to_string() }
        })?;
        let d = Settings::default();
        let pool = Settings {
            call_timeout: r.parse(&args.mcp_call_timeout, "mcp_call_timeout", d.call_timeout, positive_secs)?,
            idle_timeout: r.parse(&args.mcp_idle_timeout, "mcp_idle_timeout", d.idle_timeout, positive_secs)?,
            max_connections: r.parse(
                &args.mcp_max_connections,
                "mcp_max_connections",
                d.max_connections,
                positive_usize,
            )?,
            ..d
        };
        Ok(McpSettings { url_tools, egress, pool })
    }
}

/// How long the check of a request server's addresses may take before the response is created.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
