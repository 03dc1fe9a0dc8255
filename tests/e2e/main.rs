//! Black-box tests of the real `agenthost` binary. One module per topic.

/// `agenthost chat` on a pseudo-terminal and non-interactively, against the real server.
mod chat;
/// The Conversations API and responses on conversations.
mod conversations;
/// Every error path answered before a response is created.
mod errors;
/// The fault matrix under load: 64 users while the toolbox proxy and the model fail.
mod faults;
/// Hosted mode on the Foundry storage API (the mock's): replicas without a database.
mod foundry;
/// History through previous_response_id and conversations; per-user partitioning.
mod history;
/// Hostile input through HTTP: every refusal a 4xx with the envelope and a stable code.
mod hostile;
/// Sixteen users at once through consent, markers, approvals and history: nothing crosses.
mod isolation;
/// Readiness, client disconnect, keep-alive, SIGTERM drain.
mod lifecycle;
/// Edge limits: platform header lengths, body deadline, run and stream caps.
mod limits;
/// Request `mcp` tools by server_url: items, events, approvals, secrets, outbound safety.
mod mcp_url;
/// A real model backend (the mock OpenAI-compatible server): streaming, tools, faults, auth.
mod model;
/// Platform headers, hosted mode (501), route prefix, response id override.
mod platform;
/// Create a response: non-streaming and streaming outputs, event order, tool calls.
mod protocol;
/// Third-party MCP servers (FastMCP, server-everything) as request tools and as toolboxes.
mod real_mcp;
/// Real MCP servers as toolboxes, every answer compared with a direct client's.
mod real_mcp_toolbox;
/// Several replicas on one PostgreSQL; an unreachable database; `serve --check`.
mod replicas;
/// Official client libraries (the openai npm package) against the real binary.
mod sdk;
/// Background mode, replay, cancel, GET/DELETE/input_items of stored responses.
mod stored;
/// Toolboxes through the mock proxy: deferred startup, per-user consent, markers, approvals.
mod toolbox;
