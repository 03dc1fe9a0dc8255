//! How `mcp_call` items reach a model: as the `function_call` + `function_call_output` pair that
//! every backend (and the scripted model) understands. The upstream model never runs an MCP
//! server itself; to it, a call of a request `mcp` tool is a tool call like any other.

use agenthost_responses::Item;
use agenthost_responses::item::{FunctionCallItem, FunctionCallOutputItem, ItemStatus, McpCallItem};
use serde_json::Value;

/// The output a model sees for an `mcp_call` that never finished (its run was stopped).
pub const UNFINISHED_MCP_CALL: &str = "Error: this tool call did not finish.";

/// `items` with every `mcp_call` replaced by its call and output pair.
pub fn model_view(items: Vec<Item>) -> Vec<Item> {
    if !items.iter().any(|i| matches!(i, Item::McpCall(_))) {
        return items;
    }
    let mut out = Vec::with_capacity(items.len() + 4);
    for item in items {
        match item {
            Item::McpCall(call) => {
                let (c, o) = pair(&call, &call.name);
                out.push(c);
                out.push(o);
            }
            other => out.push(other),
        }
    }
    out
}

/// The pair a model sees for `call`, named `model_name` (the name the model called it by).
pub(crate) fn pair(call: &McpCallItem, model_name: &str) -> (Item, Item) {
    let output = match (&call.output, &call.error) {
        (Some(output), _) => output.clone(),
        (None, Some(error)) => format!("Error: {error}"),
        (None, None) => UNFINISHED_MCP_CALL.to_string(),
    };
    let function_call = Item::FunctionCall(FunctionCallItem {
        id: None,
        call_id: call.id.clone(),
        name: model_name.to_string(),
        arguments: call.arguments.clone(),
        status: Some(ItemStatus::Completed),
        response_id: None,
        agent_reference: None,
    });
    let function_output = Item::FunctionCallOutput(FunctionCallOutputItem {
        id: None,
        call_id: call.id.clone(),
        output: Value::String(output),
        status: Some(ItemStatus::Completed),
        response_id: None,
        agent_reference: None,
    });
    (function_call, function_output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(output: Option<&str>, error: Option<&str>) -> McpCallItem {
        McpCallItem {
            id: "mcp_1".into(),
            server_label: "calc".into(),
            name: "add".into(),
            arguments: r#"{"a":1}"#.into(),
            output: output.map(str::to_string),
            error: error.map(str::to_string),
            status: Some(ItemStatus::Completed),
            approval_request_id: None,
            response_id: None,
            agent_reference: None,
        }
    }

    #[test]
    fn mcp_calls_become_call_and_output_pairs() {
        let items =
            vec![Item::user_text("hi"), Item::McpCall(call(Some("2"), None)), Item::McpCall(call(None, Some("boom")))];
        let view = model_view(items);
        let types: Vec<&str> = view.iter().map(Item::type_name).collect();
        assert_eq!(
            types,
            ["message", "function_call", "function_call_output", "function_call", "function_call_output"]
        );
        let Item::FunctionCall(c) = &view[1] else { panic!() };
        assert_eq!((c.call_id.as_str(), c.name.as_str(), c.arguments.as_str()), ("mcp_1", "add", r#"{"a":1}"#));
        let Item::FunctionCallOutput(o) = &view[2] else { panic!() };
        assert_eq!(o.output_text(), "2");
        let Item::FunctionCallOutput(o) = &view[4] else { panic!() };
        assert_eq!(o.output_text(), "Error: boom");
        let (_, unfinished) = pair(&call(None, None), "add");
        let Item::FunctionCallOutput(o) = unfinished else { panic!() };
        assert_eq!(o.output_text(), UNFINISHED_MCP_CALL);
    }
}
