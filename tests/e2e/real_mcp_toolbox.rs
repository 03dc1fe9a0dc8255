//! Real MCP servers as pre-registered toolboxes, checked against a direct MCP client: the
//! readiness tool counts, every output and every error text are exactly what the server itself
//! answers a direct call (`agenthost_e2e::mcp_client`), not values written here.

use agenthost_e2e::mcp_client::McpClient;
use agenthost_e2e::mcp_servers::{Front, McpServer};
use agenthost_e2e::{Server, pairs, toolbox_env};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

fn types(r: &Value) -> Vec<&str> {
    r["output"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect()
}

/// Runs `call:{tool} {args}` through the toolbox; checks the three items and returns the output.
async fn call(s: &Server, tool: &str, args: &Value) -> String {
    let (status, _, r) = s.post(&json!({"input": format!("call:{tool} {args}")}), &[]).await;
    assert_eq!((status, &r["status"]), (200, &json!("completed")), "{r}\n{}", s.log());
    assert_eq!(types(&r), ["function_call", "function_call_output", "message"], "{r}");
    let (call, result) = (&r["output"][0], &r["output"][1]);
    assert_eq!((&call["name"], &call["status"]), (&json!(tool), &json!("completed")), "{r}");
    assert_eq!(serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(), *args);
    assert_eq!(result["call_id"], call["call_id"]);
    let output = result["output"].as_str().unwrap().to_owned();
    assert_eq!(r["output"][2]["content"][0]["text"], format!("{tool} returned: {output}"));
    output
}

/// The text of a direct call's first content block, and whether it was an error.
fn text_of(result: &Value) -> (String, bool) {
    (result["content"][0]["text"].as_str().unwrap().to_owned(), result["isError"] == true)
}

async fn healthy(s: &Server, name: &str, tools: usize) {
    let (status, ready) = s.call("GET", "/readiness", &[]).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        ready,
        json!({"status":"ready","toolboxes":[{"name":name,"state":"Healthy","tools":tools,"last_error":null,"next_retry_ms":null}]})
    );
}

#[tokio::test]
async fn fastmcp_toolbox_answers_exactly_what_a_direct_client_gets() {
    let Some(py) = McpServer::fastmcp(false).await else { return };
    let mut direct = McpClient::connect(&py.url).await;
    let listed = direct.list_tools().await;
    let front = Front::start(&[("calc", &py.url)]).await;
    let s = Server::start(&pairs(&toolbox_env(&front.base, "calc"))).await;
    healthy(&s, "calc", listed.len()).await;

    // Typed arguments.
    let args = json!({"a": 20, "b": 22});
    let (want, is_error) = text_of(&direct.call_tool("add", args.clone()).await);
    assert_eq!((want.as_str(), is_error), ("42", false));
    assert_eq!(call(&s, "add", &args).await, want);

    // An isError result: the model gets the server's text as an error.
    let args = json!({"message": "jammed"});
    let (want, is_error) = text_of(&direct.call_tool("fail", args.clone()).await);
    assert!(is_error && want.contains("jammed"), "{want}");
    assert_eq!(call(&s, "fail", &args).await, format!("Error: {want}"));

    // A tool that awaits before answering.
    let args = json!({"seconds": 0.05});
    assert_eq!(call(&s, "slow", &args).await, text_of(&direct.call_tool("slow", args.clone()).await).0);

    // Image content (no text) reaches the model as the content blocks, data intact.
    let want = direct.call_tool("image", json!({})).await;
    let got: Value = serde_json::from_str(&call(&s, "image", &json!({})).await).unwrap();
    assert_eq!((&got[0]["type"], &got[0]["mimeType"]), (&json!("image"), &json!("image/png")), "{got}");
    assert_eq!(got[0]["data"], want["content"][0]["data"]);

    // The toolbox credential reaches the server through the front; no caller header is added.
    assert_eq!(call(&s, "whoami", &json!({})).await, "x-api-key=none authorization=Bearer e2e-secret-token");
}

#[tokio::test]
async fn server_everything_toolbox_answers_exactly_what_a_direct_client_gets() {
    let Some(every) = McpServer::everything().await else { return };
    let mut direct = McpClient::connect(&every.url).await;
    let listed = direct.list_tools().await;
    let names: Vec<&str> = listed.iter().filter_map(|t| t["name"].as_str()).collect();
    let front = Front::start(&[("every", &every.url)]).await;
    let s = Server::start(&pairs(&toolbox_env(&front.base, "every"))).await;
    healthy(&s, "every", listed.len()).await;

    let echo = *names.iter().find(|n| n.contains("echo")).unwrap_or_else(|| panic!("no echo tool: {names:?}"));
    let args = json!({"message": "via toolbox"});
    let (want, _) = text_of(&direct.call_tool(echo, args.clone()).await);
    assert!(want.contains("via toolbox"), "{want}");
    assert_eq!(call(&s, echo, &args).await, want);

    // The adding tool: `add` in older releases, `get-sum` in newer ones.
    let sum = *names.iter().find(|n| ["add", "get-sum"].contains(n)).unwrap_or_else(|| panic!("{names:?}"));
    let args = json!({"a": 2, "b": 3});
    let (want, _) = text_of(&direct.call_tool(sum, args.clone()).await);
    assert!(want.contains('5'), "{want}");
    assert_eq!(call(&s, sum, &args).await, want);
}

#[tokio::test]
async fn the_front_streams_a_never_ending_sse_body() {
    // The older transport's GET /sse never ends; its first event arriving through the front
    // shows the front streams bodies instead of buffering them.
    let Some(py) = McpServer::fastmcp(true).await else { return };
    let front = Front::start(&[("legacy", &py.url)]).await;
    let resp = agenthost_e2e::client()
        .get(format!("{}/toolboxes/legacy/mcp?api-version=v1", front.base))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"].to_str().unwrap().split(';').next(), Some("text/event-stream"));
    let first = resp.bytes_stream().eventsource().next().await.expect("an event").unwrap();
    assert_eq!(first.event, "endpoint");
    assert!(first.data.starts_with("/messages/?session_id="), "{first:?}");
}
