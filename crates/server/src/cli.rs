//! The command line. Every setting of our own is a flag with a matching `AGENTHOST_*` variable;
//! platform variables (`PORT`, `SSE_KEEPALIVE_INTERVAL`, `FOUNDRY_*`) are read under their Foundry
//! names. Values are taken as text here and validated in [`crate::config`], so a bad value names
//! the flag or variable it came from.

use clap::{Args, Parser, Subcommand};

/// agenthost: a hosted-agent server for the OpenAI Responses protocol and Foundry toolboxes.
#[derive(Debug, Parser)]
#[command(name = "agenthost", version, propagate_version = true)]
pub struct Cli {
    /// What to run (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Responses API, health probes and metrics.
    Serve(Box<ServeArgs>),
    /// Talk to a Responses server, handling OAuth consent and tool approvals.
    Chat(agenthost_chat::ChatArgs),
    /// Serve with an embedded mock toolbox proxy (toolbox `demo`: `echo`, and `send_email`,
    /// which needs each user's consent) and print a walkthrough.
    Demo(DemoArgs),
}

/// Settings of `agenthost demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// API port of the server.
    #[arg(long, env = "PORT", default_value_t = 8088)]
    pub port: u16,

    /// Port of the embedded mock toolbox proxy (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub proxy_port: u16,

    /// Metrics port.
    #[arg(long, env = "AGENTHOST_METRICS_PORT", default_value_t = 9464)]
    pub metrics_port: u16,
}

const PLATFORM_HELP: &str = "\
Platform variables (set by Foundry; read, never required):
  FOUNDRY_HOSTING_ENVIRONMENT  non-empty: hosted. Requests must then carry x-agent-foundry-call-id
                               (else 501) and x-agent-user-id.
  FOUNDRY_AGENT_NAME           agent name echoed in agent_reference (default: agenthost)
  FOUNDRY_AGENT_VERSION        agent version echoed in agent_reference
  FOUNDRY_AGENT_SESSION_ID     session id stamped on every response
  TOOLBOX_NAME                 comma list of toolboxes to pre-register
  TOOLBOX_ENDPOINT             full proxy URL of one toolbox (instead of a project endpoint)
  AZURE_AI_PROJECT_ENDPOINT    project endpoint when FOUNDRY_PROJECT_ENDPOINT is unset
  FOUNDRY_AGENT_TOOLSET_FEATURES  extra Foundry-Features flags for toolbox calls
  AGENTHOST_TOOLBOX_TOKEN      static bearer token for the toolbox proxy (local use)
  IDENTITY_ENDPOINT, IDENTITY_HEADER  managed identity (Container Apps / App Service)
  AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID  workload identity
  OPENAI_API_KEY, AZURE_OPENAI_API_KEY  model API key (never logged)
  PGPASSWORD                   database password when AGENTHOST_STORE has none (never logged)
  OPENAI_BASE_URL              model base URL when AGENTHOST_MODEL_BASE_URL is unset
  AZURE_AI_MODEL_DEPLOYMENT_NAME  model name when AGENTHOST_MODEL is unset
  DEFAULT_AD_PORT              legacy port, used when PORT is unset
  RUST_LOG                     log filter (default: info)

Traces (OpenTelemetry; spans are always created, exported only with an endpoint):
  OTEL_EXPORTER_OTLP_ENDPOINT  OTLP/HTTP collector base URL ({url}/v1/traces); or
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  the full traces URL
  OTEL_EXPORTER_OTLP_HEADERS   k=v,... headers for the collector
  OTEL_SERVICE_NAME            service.name (default: agenthost)
  OTEL_RESOURCE_ATTRIBUTES     k=v,... resource attributes
  OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG  sampler (default: parentbased_always_on)
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT  true: record messages on spans (default: false)
  OTEL_SDK_DISABLED            true: no tracing at all (no spans; inbound trace headers forwarded as is)
  FOUNDRY_PROJECT_ARM_ID       span attribute microsoft.foundry.project.id";

/// Settings of `agenthost serve`.
#[derive(Debug, Clone, Default, Args)]
#[command(after_help = PLATFORM_HELP)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AGENTHOST_HOST", value_name = "ADDR")]
    pub host: Option<String>,

    /// API port, 1-65535 [default: 8088].
    #[arg(long, env = "PORT", value_name = "PORT")]
    pub port: Option<String>,

    /// Port of the separate /metrics listener, 1-65535 [default: 9464].
    #[arg(long, env = "AGENTHOST_METRICS_PORT", value_name = "PORT")]
    pub metrics_port: Option<String>,

    /// Mount the Responses routes under this prefix too, e.g. /openai/v1.
    #[arg(long, env = "AGENTHOST_ROUTE_PREFIX", value_name = "PATH")]
    pub route_prefix: Option<String>,

    /// Largest accepted request body in bytes [default: 16777216].
    #[arg(long, env = "AGENTHOST_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<String>,

    /// Seconds between SSE `: keep-alive` comments; 0 turns them off [default: 0].
    #[arg(long, env = "SSE_KEEPALIVE_INTERVAL", value_name = "SECONDS")]
    pub sse_keepalive_interval: Option<String>,

    /// Seconds to let in-flight responses finish after SIGTERM [default: 30].
    #[arg(long, env = "AGENTHOST_DRAIN_TIMEOUT", value_name = "SECONDS")]
    pub drain_timeout: Option<String>,

    /// Seconds a single response may run before it fails with `timeout` [default: 600].
    #[arg(long, env = "AGENTHOST_RESPONSE_TIMEOUT", value_name = "SECONDS")]
    pub response_timeout: Option<String>,

    /// Most model calls in one response [default: 10].
    #[arg(long, env = "AGENTHOST_MAX_TOOL_ITERATIONS", value_name = "N")]
    pub max_tool_iterations: Option<String>,

    /// Most responses the in-memory store keeps [default: 100000].
    #[arg(long, env = "AGENTHOST_STORE_MAX_RESPONSES", value_name = "N")]
    pub store_max_responses: Option<String>,

    /// Most bytes (serialized size) the in-memory store keeps [default: 16777216].
    #[arg(long, env = "AGENTHOST_STORE_MAX_BYTES", value_name = "BYTES")]
    pub store_max_bytes: Option<String>,

    /// Seconds a stored response is kept [default: 86400].
    #[arg(long, env = "AGENTHOST_STORE_TTL", value_name = "SECONDS")]
    pub store_ttl: Option<String>,

    /// Where responses and conversations live: memory (this process only), foundry (the Foundry
    /// storage API at FOUNDRY_PROJECT_ENDPOINT) or a postgres:// URL, both shared by every
    /// replica [default: memory, or foundry when FOUNDRY_HOSTING_ENVIRONMENT is set].
    #[arg(long, env = "AGENTHOST_STORE", value_name = "URL")]
    pub store: Option<String>,

    /// Seconds an unfinished background response's lease lasts (database stores): its replica
    /// renews it; when that replica dies, another ends the response `failed` with `run_lost`
    /// once it lapses [default: 30].
    #[arg(long, env = "AGENTHOST_STORE_LEASE", value_name = "SECONDS")]
    pub store_lease: Option<String>,

    /// File holding the database password when the URL has none (else PGPASSWORD).
    #[arg(long, env = "AGENTHOST_STORE_PASSWORD_FILE", value_name = "PATH")]
    pub store_password_file: Option<String>,

    /// Check that the store is usable (connect and apply the schema, or reach the storage API
    /// with our credentials), print one line and exit: 0 usable, 1 not.
    #[arg(long)]
    pub check: bool,

    /// Model backend: scripted, openai (Responses API) or openai-chat (Chat Completions)
    /// [default: openai when a base URL is set, else scripted].
    #[arg(long, env = "AGENTHOST_MODEL_PROVIDER", value_name = "PROVIDER")]
    pub model_provider: Option<String>,

    /// Base URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1 [default: OPENAI_BASE_URL].
    #[arg(long, env = "AGENTHOST_MODEL_BASE_URL", value_name = "URL")]
    pub model_base_url: Option<String>,

    /// Model or deployment name sent upstream, also echoed when a request names no model
    /// [default: AZURE_AI_MODEL_DEPLOYMENT_NAME].
    #[arg(long, env = "AGENTHOST_MODEL", value_name = "NAME")]
    pub model: Option<String>,

    /// Entra token scope when the model is reached with managed or workload identity
    /// [default: https://cognitiveservices.azure.com/.default].
    #[arg(long, env = "AGENTHOST_MODEL_TOKEN_SCOPE", value_name = "SCOPE")]
    pub model_token_scope: Option<String>,

    /// Seconds to wait for the model's first byte, and between chunks [default: 120].
    #[arg(long, env = "AGENTHOST_MODEL_TIMEOUT", value_name = "SECONDS")]
    pub model_timeout: Option<String>,

    /// Retries of a model call that failed with 429/5xx before any output [default: 3].
    #[arg(long, env = "AGENTHOST_MODEL_MAX_RETRIES", value_name = "N")]
    pub model_max_retries: Option<String>,

    /// The agent's own instructions, placed before each request's instructions.
    #[arg(long, env = "AGENTHOST_INSTRUCTIONS", value_name = "TEXT")]
    pub instructions: Option<String>,

    /// Read the agent's instructions from this file (instead of --instructions).
    #[arg(long, env = "AGENTHOST_INSTRUCTIONS_FILE", value_name = "PATH")]
    pub instructions_file: Option<String>,

    /// Milliseconds the scripted model waits before each streamed event (demo pacing) [default: 0].
    #[arg(long, env = "AGENTHOST_SCRIPTED_PACE_MS", value_name = "MS")]
    pub scripted_pace_ms: Option<String>,

    /// Log format: text or json [default: text].
    #[arg(long, env = "AGENTHOST_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// The only directory the server writes to [default: $TMPDIR/agenthost].
    #[arg(long, env = "AGENTHOST_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<String>,

    /// Pre-register a toolbox (repeatable); added to the comma list in TOOLBOX_NAME.
    #[arg(long = "toolbox", value_name = "NAME")]
    pub toolboxes: Vec<String>,

    /// Foundry project endpoint; toolboxes live at {endpoint}/toolboxes/{name}/mcp
    /// [default: AZURE_AI_PROJECT_ENDPOINT, else toolboxes are disabled].
    #[arg(long, env = "FOUNDRY_PROJECT_ENDPOINT", value_name = "URL")]
    pub project_endpoint: Option<String>,

    /// Comma list of toolboxes whose permanent failure makes the container unready.
    #[arg(long, env = "AGENTHOST_REQUIRED_TOOLBOXES", value_name = "NAMES")]
    pub required_toolboxes: Option<String>,

    /// Only pre-registered toolboxes may be named by request markers: true or false [default: true].
    #[arg(long, env = "AGENTHOST_TOOLBOX_STRICT", value_name = "BOOL")]
    pub toolbox_strict: Option<String>,

    /// When to ask for consent: eager (before the model runs) or on-use [default: eager].
    #[arg(long, env = "AGENTHOST_CONSENT_MODE", value_name = "MODE")]
    pub consent_mode: Option<String>,

    /// Seconds startup waits for toolboxes to list before reporting them Degraded [default: 5].
    #[arg(long, env = "AGENTHOST_TOOLBOX_STARTUP_TIMEOUT", value_name = "SECONDS")]
    pub toolbox_startup_timeout: Option<String>,

    /// Seconds one toolbox proxy request may take [default: 30].
    #[arg(long, env = "AGENTHOST_TOOLBOX_REQUEST_TIMEOUT", value_name = "SECONDS")]
    pub toolbox_request_timeout: Option<String>,

    /// Milliseconds a request waits for its user's retry of a Degraded toolbox before going on
    /// without it (the retry continues in the background) [default: 1000].
    #[arg(long, env = "AGENTHOST_TOOLBOX_DEGRADED_WAIT_MS", value_name = "MS")]
    pub toolbox_degraded_wait_ms: Option<String>,

    /// Accept http consent links on loopback hosts (demos and tests): true or false [default: false].
    #[arg(long, env = "AGENTHOST_ALLOW_LOOPBACK_CONSENT_LINKS", value_name = "BOOL")]
    pub allow_loopback_consent_links: Option<String>,

    /// Serve the Conversations API (/conversations): auto (on unless hosted by Foundry, where the
    /// platform serves it), on or off [default: auto].
    #[arg(long, env = "AGENTHOST_CONVERSATIONS_API", value_name = "MODE")]
    pub conversations_api: Option<String>,

    /// Tool calls that wait for the user's approval: never, always, or a comma list of tools [default: never].
    #[arg(long, env = "AGENTHOST_REQUIRE_APPROVAL", value_name = "POLICY")]
    pub require_approval: Option<String>,

    /// Serve the browser playground at GET /playground: true or false; `--playground` alone is
    /// true [default: false; on in `agenthost demo`].
    #[arg(long, env = "AGENTHOST_PLAYGROUND", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub playground: Option<String>,

    /// Seconds the whole request body may take to arrive; a stalled body gets 408 [default: 30].
    #[arg(long, env = "AGENTHOST_BODY_TIMEOUT", value_name = "SECONDS")]
    pub body_timeout: Option<String>,

    /// Most responses being produced at once; beyond it 429 with Retry-After [default: 1024].
    #[arg(long, env = "AGENTHOST_MAX_CONCURRENT_RUNS", value_name = "N")]
    pub max_concurrent_runs: Option<String>,

    /// Most SSE streams open at once; beyond it 429 with Retry-After [default: 1024].
    #[arg(long, env = "AGENTHOST_MAX_OPEN_STREAMS", value_name = "N")]
    pub max_open_streams: Option<String>,

    /// Request `mcp` tools by server_url: on, or off (only toolboxes) [default: on].
    #[arg(long, env = "AGENTHOST_MCP_URL_TOOLS", value_name = "on|off")]
    pub mcp_url_tools: Option<String>,

    /// Comma list of host patterns request mcp servers must match (example.com, *.example.com)
    /// [default: any public host].
    #[arg(long, env = "AGENTHOST_MCP_ALLOWED_HOSTS", value_name = "HOSTS")]
    pub mcp_allowed_hosts: Option<String>,

    /// Let request mcp servers be on loopback/private networks and plain http (local use, tests)
    /// [default: false].
    #[arg(long, env = "AGENTHOST_MCP_ALLOW_PRIVATE_NETWORKS", value_name = "BOOL")]
    pub mcp_allow_private_networks: Option<String>,

    /// Comma list of CIDRs request mcp servers may never be in, even with private networks
    /// allowed (the cluster's service and pod ranges).
    #[arg(long, env = "AGENTHOST_MCP_DENIED_NETWORKS", value_name = "CIDRS")]
    pub mcp_denied_networks: Option<String>,

    /// Seconds one request mcp tool call may take [default: 60].
    #[arg(long, env = "AGENTHOST_MCP_CALL_TIMEOUT", value_name = "SECONDS")]
    pub mcp_call_timeout: Option<String>,

    /// Seconds a pooled request mcp connection may stay unused [default: 300].
    #[arg(long, env = "AGENTHOST_MCP_IDLE_TIMEOUT", value_name = "SECONDS")]
    pub mcp_idle_timeout: Option<String>,

    /// Most pooled request mcp connections (one per server URL and credentials) [default: 64].
    #[arg(long, env = "AGENTHOST_MCP_MAX_CONNECTIONS", value_name = "N")]
    pub mcp_max_connections: Option<String>,
}
