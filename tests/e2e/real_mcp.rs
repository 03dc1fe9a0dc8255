//! MCP servers nobody here wrote, through the real binary: the Python MCP SDK's FastMCP
//! (Streamable HTTP and the older HTTP+SSE transport) and `@modelcontextprotocol/server-everything`,
//! both as request `mcp` tools by URL and as pre-registered toolboxes behind a path-mapping
//! front. `.ci/run` installs them; locally a missing one is skipped, saying so.

use agenthost_e2e::mcp_servers::{Front, McpServer};
use agenthost_e2e::{Server, pairs, toolbox_env};
use serde_json::{Value, json};

const PRIVATE_OK: (&str, &str) = ("AGENTHOST_MCP_ALLOW_PRIVATE_NETWORKS", "true");

fn types(r: &Value) -> Vec<&str> {
    r["output"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect()
}

fn tool(label: &str, url: &str) -> Value {
    json!({"type":"mcp","server_label":label,"server_url":url,"require_approval":"never",
           "headers":{"x-api-key":"key-123"},"authorization":"tok-456"})
}

async fn ask(s: &Server, input: &str, tools: &Value) -> Value {
    let (status, _, r) = s.post(&json!({"input": input, "tools": tools}), &[]).await;
    assert_eq!(status, 200, "{r}");
    r
}

#[tokio::test]
async fn fastmcp_as_a_request_tool() {
    let Some(py) = McpServer::fastmcp(false).await else { return };
    let s = Server::start(&[PRIVATE_OK, ("AGENTHOST_MCP_CALL_TIMEOUT", "2")]).await;
    let tools = json!([tool("py", &py.url)]);

    let r = ask(&s, r#"call:add {"a":2,"b":40}"#, &tools).await;
    assert_eq!(types(&r), ["mcp_list_tools", "mcp_call", "message"], "{r}");
    let listed: Vec<&str> =
        r["output"][0]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(listed, ["add", "fail", "slow", "image", "whoami"]);
    let add = &r["output"][0]["tools"][0];
    assert_eq!(add["description"], "Adds two integers.");
    assert_eq!(add["input_schema"]["properties"]["a"]["type"], "integer");
    assert_eq!(add["input_schema"]["required"], json!(["a", "b"]));
    let call = &r["output"][1];
    assert_eq!((&call["name"], &call["output"], &call["status"]), (&json!("add"), &json!("42"), &json!("completed")));
    assert_eq!(r["output"][2]["content"][0]["text"], "add returned: 42");

    // An error result is a failed call with the tool's text.
    let r = ask(&s, r#"call:fail {"message":"out of paper"}"#, &tools).await;
    let call = &r["output"][1];
    assert_eq!(call["status"], "failed", "{call}");
    assert!(call["error"].as_str().unwrap().contains("out of paper"), "{call}");

    // The request's credentials reached the server, once each.
    let r = ask(&s, "call:whoami", &tools).await;
    assert_eq!(r["output"][1]["output"], "x-api-key=key-123 authorization=Bearer tok-456");

    // Image content is kept, as JSON with its MIME type and data.
    let r = ask(&s, "call:image", &tools).await;
    let output: Value = serde_json::from_str(r["output"][1]["output"].as_str().unwrap()).unwrap();
    assert_eq!((&output["type"], &output["mime_type"]), (&json!("image"), &json!("image/png")));
    assert!(output["data"].as_str().unwrap().starts_with("iVBOR"));

    // A slow tool is cut at the call deadline; the response still completes.
    let r = ask(&s, r#"call:slow {"seconds": 30}"#, &tools).await;
    assert_eq!(r["status"], "completed");
    let call = &r["output"][1];
    assert_eq!(call["status"], "failed");
    assert!(call["error"].as_str().unwrap().contains("timed out"), "{call}");
    assert!(!s.log().contains("tok-456") && !s.log().contains("key-123"), "a secret was logged");
}

#[tokio::test]
async fn fastmcp_over_the_older_sse_transport() {
    let Some(py) = McpServer::fastmcp(true).await else { return };
    let s = Server::start(&[PRIVATE_OK]).await;
    let r = ask(&s, r#"call:add {"a":1,"b":2}"#, &json!([tool("py", &py.url)])).await;
    assert_eq!(types(&r), ["mcp_list_tools", "mcp_call", "message"], "{r}");
    assert_eq!(r["output"][1]["output"], "3");
}

/// The server's tool whose name contains `part`, discovered by listing (names vary by version).
fn find<'a>(listed: &'a [Value], part: &str) -> &'a str {
    listed
        .iter()
        .filter_map(|t| t["name"].as_str())
        .find(|n| n.contains(part))
        .unwrap_or_else(|| panic!("no tool like {part} in {listed:?}"))
}

#[tokio::test]
async fn server_everything_as_a_request_tool() {
    let Some(every) = McpServer::everything().await else { return };
    let s = Server::start(&[PRIVATE_OK]).await;
    let tools = json!([tool("everything", &every.url)]);
    let r = ask(&s, "hello", &tools).await;
    assert_eq!(types(&r), ["mcp_list_tools", "message"], "{r}");
    let listed = r["output"][0]["tools"].as_array().unwrap().clone();
    assert!(listed.len() >= 5, "{listed:?}");

    let echo = find(&listed, "echo");
    let r = ask(&s, &format!(r#"call:{echo} {{"message":"round trip"}}"#), &tools).await;
    // Listed again? No: each request without previous_response_id lists once.
    assert_eq!(types(&r), ["mcp_list_tools", "mcp_call", "message"], "{r}");
    let call = &r["output"][1];
    assert_eq!(call["status"], "completed", "{call}");
    assert!(call["output"].as_str().unwrap().contains("round trip"), "{call}");

    let sum = listed.iter().filter_map(|t| t["name"].as_str()).find(|n| n.contains("sum") || *n == "add").unwrap();
    let r = ask(&s, &format!(r#"call:{sum} {{"a":2,"b":3}}"#), &tools).await;
    assert!(r["output"][1]["output"].as_str().unwrap().contains('5'), "{r}");

    let image = find(&listed, "image");
    let r = ask(&s, &format!("call:{image}"), &tools).await;
    let output = r["output"][1]["output"].as_str().unwrap();
    assert!(output.contains(r#""type":"image""#) && output.contains("image/png"), "{output}");
}

#[tokio::test]
async fn real_servers_as_toolboxes_behind_a_path_mapping_front() {
    let (Some(py), Some(every)) = (McpServer::fastmcp(false).await, McpServer::everything().await) else { return };
    let front = Front::start(&[("py", &py.url), ("every", &every.url)]).await;
    let s = Server::start(&pairs(&toolbox_env(&front.base, "py,every"))).await;
    let (status, ready) = s.call("GET", "/readiness", &[]).await;
    assert_eq!(status, 200, "{ready}");
    let states: Vec<(&str, &str, u64)> = ready["toolboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["state"].as_str().unwrap(), t["tools"].as_u64().unwrap()))
        .collect();
    // The tool count of server-everything comes from listing it directly.
    let direct = Server::start(&[PRIVATE_OK]).await;
    let listing = ask(&direct, "hi", &json!([tool("every", &every.url)])).await;
    let count = listing["output"][0]["tools"].as_array().unwrap().len() as u64;
    assert_eq!(states, [("py", "Healthy", 5), ("every", "Healthy", count)]);

    let (_, _, r) = s.post(&json!({"input": r#"call:add {"a":20,"b":22}"#}), &[]).await;
    assert_eq!(types(&r), ["function_call", "function_call_output", "message"], "{r}");
    assert_eq!(r["output"][1]["output"], "42");
    assert_eq!(r["output"][2]["content"][0]["text"], "add returned: 42");
    let (_, _, r) = s.post(&json!({"input": r#"call:fail {"message":"jammed"}"#}), &[]).await;
    let output = r["output"][1]["output"].as_str().unwrap();
    assert!(output.starts_with("Error: ") && output.contains("jammed"), "{output}");
    let listed = listing["output"][0]["tools"].as_array().unwrap();
    let echo = find(listed, "echo");
    let (_, _, r) = s.post(&json!({"input": format!(r#"call:{echo} {{"message":"via toolbox"}}"#)}), &[]).await;
    assert!(r["output"][1]["output"].as_str().unwrap().contains("via toolbox"), "{r}");
}
