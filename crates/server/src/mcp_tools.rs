//! Request `mcp` tools by `server_url`, before the response exists: the tools are parsed, each
//! URL passes the outbound-safety policy (a refusal is a 400 naming the rule), and lists the
//! previous response already holds for the same server are picked for reuse.

use std::collections::HashMap;

use agenthost_egress::Rule;
use agenthost_remote_mcp::ServerSpec;
use agenthost_responses::{CreateRequest, Item};
use agenthost_store::{Caller, Lookup};
use serde_json::Value;

use crate::config::mcp::RESOLVE_TIMEOUT;
use crate::error::ApiError;
use crate::state::AppState;

/// The request's `mcp` servers by URL, each allowed by the outbound-safety policy.
pub async fn servers(app: &AppState, request: &CreateRequest) -> Result<Vec<ServerSpec>, ApiError> {
    let servers = agenthost_remote_mcp::parse(&request.tools).map_err(ApiError::McpTool)?;
    let Some(first) = servers.first() else {
        return Ok(servers);
    };
    let settings = &app.config.mcp;
    if !settings.url_tools {
        return Err(ApiError::McpUrlToolsDisabled { param: server_url_param(first) });
    }
    let checks = servers.iter().map(|server| async move {
        let forbidden = |e: agenthost_egress::Refusal| ApiError::McpUrlForbidden {
            message: format!("The server_url of MCP server '{}' is refused: {e}", server.label),
            param: server_url_param(server),
        };
        let url = settings.egress.check_url(&server.url).map_err(forbidden)?;
        match settings.egress.check_resolved(&url, RESOLVE_TIMEOUT).await {
            // A name that does not resolve now is the listing's error to report, not a refusal.
            Err(e) if e.rule != Rule::Unresolvable => Err(forbidden(e)),
            _ => Ok(()),
        }
    });
    for check in futures::future::join_all(checks).await {
        check?;
    }
    Ok(servers)
}

fn server_url_param(server: &ServerSpec) -> String {
    format!("$.tools[{}].server_url", server.index)
}

/// For each server the previous response also had (same label and URL), the tools of the latest
/// successful `mcp_list_tools` item for it in the chain: listed again, they are not (OpenAI's
/// behaviour).
pub async fn reused_lists(
    app: &AppState,
    caller: &Caller,
    request: &CreateRequest,
    servers: &[ServerSpec],
    history: &[Item],
) -> Result<HashMap<String, Vec<Value>>, ApiError> {
    let mut out = HashMap::new();
    let Some(previous) = request.previous_response_id.as_deref().filter(|_| !servers.is_empty()) else {
        return Ok(out);
    };
    let Lookup::Found(previous) = app.store.get(caller, previous).await? else {
        return Ok(out);
    };
    for server in servers {
        let same_server = previous.response.tools.iter().any(|tool| {
            tool.get("type").and_then(Value::as_str) == Some("mcp")
                && tool.get("server_label").and_then(Value::as_str) == Some(server.label.as_str())
                && tool.get("server_url").and_then(Value::as_str).map(str::trim) == Some(server.url.as_str())
        });
        if !same_server {
            continue;
        }
        let latest = history.iter().rev().find_map(|item| match item {
            Item::McpListTools(list) if list.server_label == server.label => Some(list),
            _ => None,
        });
        if let Some(list) = latest.filter(|l| l.error.is_none()) {
            out.insert(server.label.clone(), list.tools.clone());
        }
    }
    Ok(out)
}
