//! MCP client spans (`tools/list`, `tools/call {tool}`, `initialize`) with the OpenTelemetry MCP
//! attribute names, the `mcp.client.operation.duration` events, and the W3C context that goes
//! into each request's `params._meta`.
//!
//! An operation's span is current while it runs, so [`crate::client`] reads the outbound trace
//! context (and records `jsonrpc.request.id`) from it; [`crate::http`] records the session id.

use std::time::Instant;

use agenthost_agent::TraceHeaders;
use agenthost_agent::telemetry::{McpOperation, SPAN_TARGET, Telemetry};
use rmcp::model::{ClientRequest, GetMeta};
use tracing::Span;
use tracing::field::Empty;

/// The MCP protocol version this client negotiates.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Where an endpoint lives, for `server.address` / `server.port`.
#[derive(Clone, Debug, Default)]
pub struct Remote {
    /// Host name or address.
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: Option<u16>,
}

impl Remote {
    /// The host and port of `url`; empty when it does not parse.
    pub fn of(url: &str) -> Self {
        match url::Url::parse(url) {
            Ok(u) => Remote { host: u.host_str().unwrap_or_default().to_owned(), port: u.port_or_known_default() },
            Err(_) => Remote::default(),
        }
    }
}

/// One MCP operation being traced; reports `cancelled` if dropped before [`McpCall::finish`].
pub struct McpCall {
    span: Span,
    telemetry: Telemetry,
    method: &'static str,
    tool_label: Option<String>,
    started: Instant,
    done: bool,
}

impl McpCall {
    /// Opens the CLIENT span of `method` (`tools/call` names `tool`; its metric label is
    /// `tool_label`) against `peer`, as a child of the current span.
    pub fn start(
        telemetry: &Telemetry,
        peer: &Remote,
        method: &'static str,
        tool: Option<(&str, &str)>,
        toolbox: &str,
    ) -> Self {
        let name = match tool {
            Some((tool, _)) => format!("{method} {tool}"),
            None => method.to_owned(),
        };
        let span = tracing::info_span!(
            target: SPAN_TARGET,
            "mcp",
            otel.name = %name,
            otel.kind = "client",
            otel.status_code = Empty,
            mcp.method.name = method,
            mcp.protocol.version = PROTOCOL_VERSION,
            mcp.session.id = Empty,
            gen_ai.tool.name = tool.map(|(t, _)| t),
            gen_ai.operation.name = tool.map(|_| "execute_tool"),
            jsonrpc.request.id = Empty,
            rpc.response.status_code = Empty,
            error.type = Empty,
            network.protocol.name = "http",
            network.transport = "tcp",
            server.address = %peer.host,
            server.port = peer.port.map(i64::from),
            agenthost.toolbox = toolbox,
        );
        McpCall {
            span,
            telemetry: telemetry.clone(),
            method,
            tool_label: tool.map(|(_, label)| label.to_owned()),
            started: Instant::now(),
            done: false,
        }
    }

    /// The span, to instrument the operation with.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Records how the operation ended: `error` (a class such as `consent_required`,
    /// `tool_error`, `timeout`) sets `error.type` and an error status; `rpc_code` is the
    /// JSON-RPC error code, if the peer answered with one.
    pub fn finish(mut self, error: Option<&str>, rpc_code: Option<i32>) {
        self.done = true;
        if let Some(code) = rpc_code {
            self.span.record("rpc.response.status_code", code.to_string());
        }
        self.report(error);
    }

    fn report(&self, error: Option<&str>) {
        if let Some(class) = error {
            self.span.record("error.type", class);
            self.span.record("otel.status_code", "error");
        }
        self.telemetry.mcp_operation(&McpOperation {
            method: self.method,
            tool: self.tool_label.as_deref(),
            error_type: error,
            duration: self.started.elapsed(),
        });
    }
}

impl Drop for McpCall {
    fn drop(&mut self) {
        if !self.done {
            self.report(Some("cancelled"));
        }
    }
}

/// Puts the W3C context into the request's `params._meta` (`traceparent`, `tracestate`,
/// `baggage`), replacing any there.
pub fn inject_meta(request: &mut ClientRequest, trace: &TraceHeaders) {
    let meta = request.get_meta_mut();
    for (key, value) in
        [("traceparent", &trace.traceparent), ("tracestate", &trace.tracestate), ("baggage", &trace.baggage)]
    {
        match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => {
                meta.0.0.insert(key.to_owned(), serde_json::Value::String(v.to_owned()));
            }
            None => {
                meta.0.0.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ClientJsonRpcMessage, ListToolsRequest, NumberOrString, PaginatedRequestParams};

    use super::*;

    #[test]
    fn trace_context_goes_into_params_meta() {
        let mut request =
            ClientRequest::ListToolsRequest(ListToolsRequest::with_param(PaginatedRequestParams::default()));
        let trace = TraceHeaders {
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            tracestate: Some("k=v".into()),
            baggage: None,
        };
        inject_meta(&mut request, &trace);
        let message = ClientJsonRpcMessage::request(request, NumberOrString::Number(7));
        let json = serde_json::to_value(&message).unwrap_or_default();
        assert_eq!(
            json["params"]["_meta"],
            serde_json::json!({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "k=v"})
        );
        assert_eq!(json["method"], "tools/list");
    }

    #[test]
    fn peers_come_from_urls() {
        let p = Remote::of("https://proj.services.ai.azure.com/api/projects/p/toolboxes/t/mcp?api-version=v1");
        assert_eq!((p.host.as_str(), p.port), ("proj.services.ai.azure.com", Some(443)));
        assert_eq!(Remote::of("not a url").host, "");
    }
}
