//! Matching `mcp_approval_response` inputs to the approval requests in a user's history.

use agenthost_responses::Item;

use crate::tools::ToolCall;
use crate::turn::Approval;

/// An approval response that refers to nothing this user was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApprovalError {
    /// Index of the offending input item.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

/// The calls the user answered in `input`, found through the `mcp_approval_request` items in
/// `history` (which only holds this user's items). Unknown ids, foreign ids, and requests already
/// answered are errors.
pub fn approvals_from(history: &[Item], input: &[Item]) -> Result<Vec<Approval>, ApprovalError> {
    let mut out: Vec<Approval> = Vec::new();
    for (index, item) in input.iter().enumerate() {
        let Item::McpApprovalResponse(answer) = item else {
            continue;
        };
        let unknown =
            || ApprovalError { index, message: format!("Unknown approval request '{}'.", answer.approval_request_id) };
        let pos = history
            .iter()
            .position(|h| matches!(h, Item::McpApprovalRequest(r) if r.id == answer.approval_request_id))
            .ok_or_else(unknown)?;
        let Item::McpApprovalRequest(request) = &history[pos] else {
            return Err(unknown());
        };
        // A toolbox call is the latest matching function_call before the request; a request
        // `mcp` server's call has none (it waited before any item was written), and the approval
        // request itself describes it.
        let toolbox_call = history[..pos].iter().rev().find_map(|h| match h {
            Item::FunctionCall(c) if c.name == request.name && c.arguments == request.arguments => Some(c),
            _ => None,
        });
        let (call, mcp_server) = match toolbox_call {
            Some(c) => {
                (ToolCall { call_id: c.call_id.clone(), name: c.name.clone(), arguments: c.arguments.clone() }, None)
            }
            None => (
                ToolCall {
                    call_id: request.id.clone(),
                    name: request.name.clone(),
                    arguments: request.arguments.clone(),
                },
                Some(request.server_label.clone()),
            ),
        };
        let answered = history.iter().any(|h| match h {
            Item::FunctionCallOutput(o) => o.call_id == call.call_id,
            Item::McpCall(c) => c.approval_request_id.as_deref() == Some(request.id.as_str()),
            _ => false,
        }) || out.iter().any(|a| a.call.call_id == call.call_id);
        if answered {
            return Err(ApprovalError {
                index,
                message: format!("Approval request '{}' was already answered.", answer.approval_request_id),
            });
        }
        out.push(Approval { call, mcp_server, approve: answer.approve, reason: answer.reason.clone() });
    }
    Ok(out)
}
