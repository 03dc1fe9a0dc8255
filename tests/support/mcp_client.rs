//! A minimal direct MCP client over Streamable HTTP (JSON or SSE answers), independent of the
//! code under test: the oracle for what a real MCP server offers and answers, so tests compare
//! agenthost's results with the server's own instead of with hard-coded values.

/// A minimal direct MCP client over streamable HTTP (JSON or SSE answers), independent of the
/// code under test: the oracle for what a real server offers.
pub struct McpClient {
    http: reqwest::Client,
    url: String,
    session: Option<String>,
    next_id: u64,
}

impl McpClient {
    /// Connects (initialize + initialized) to the streamable HTTP endpoint `url`.
    pub async fn connect(url: &str) -> McpClient {
        let mut c = McpClient { http: crate::client(), url: url.to_owned(), session: None, next_id: 1 };
        let init = c
            .request(
                "initialize",
                serde_json::json!({"protocolVersion":"2025-06-18","capabilities":{},
                    "clientInfo":{"name":"agenthost-e2e","version":"1"}}),
            )
            .await;
        assert!(init.get("result").is_some(), "initialize failed: {init}");
        c.post(&serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
        c
    }

    /// All tools (following `nextCursor`).
    pub async fn list_tools(&mut self) -> Vec<serde_json::Value> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = cursor.as_ref().map_or(serde_json::json!({}), |c| serde_json::json!({"cursor": c}));
            let r = self.request("tools/list", params).await;
            let result = &r["result"];
            tools.extend(result["tools"].as_array().cloned().unwrap_or_default());
            match result["nextCursor"].as_str() {
                Some(c) if !c.is_empty() => cursor = Some(c.to_owned()),
                _ => return tools,
            }
        }
    }

    /// `tools/call`; returns the JSON-RPC `result` (panics on a JSON-RPC error).
    pub async fn call_tool(&mut self, name: &str, arguments: serde_json::Value) -> serde_json::Value {
        let r = self.request("tools/call", serde_json::json!({"name": name, "arguments": arguments})).await;
        assert!(r.get("result").is_some(), "tools/call {name} failed: {r}");
        r["result"].clone()
    }

    /// One JSON-RPC request; returns the whole response message.
    pub async fn request(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let id = self.next_id;
        self.next_id += 1;
        let text = self.post(&serde_json::json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})).await;
        // An SSE answer may carry notifications first; the response is the message with our id.
        let messages: Vec<serde_json::Value> = if text.trim_start().starts_with('{') {
            vec![serde_json::from_str(&text).expect("JSON-RPC body")]
        } else {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str(d.trim()).ok())
                .collect()
        };
        messages.into_iter().find(|m| m["id"] == id).unwrap_or_else(|| panic!("no answer to {method}: {text}"))
    }

    async fn post(&mut self, body: &serde_json::Value) -> String {
        let mut req = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(body);
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        let resp = req.send().await.expect("MCP POST");
        assert!(resp.status().is_success(), "MCP POST {}: {}", self.url, resp.status());
        if let Some(s) = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()) {
            self.session = Some(s.to_owned());
        }
        resp.text().await.expect("MCP body")
    }
}
