//! Scenarios: what the mock proxy serves and which faults it injects.
//!
//! A [`Scenario`] is plain data. It deserializes from TOML or JSON (unknown keys are rejected),
//! and the builder methods below make it easy to write one as a Rust literal in tests. See the
//! crate README for the full file format.

use std::{collections::BTreeSet, path::Path};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Transport mode of every toolbox endpoint in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// rmcp legacy session mode: `initialize` returns an `Mcp-Session-Id`, responses are SSE.
    #[default]
    Session,
    /// No session id, `application/json` responses (what the live proxy is reported to do).
    Stateless,
}

/// How a tool source authenticates, which decides when it asks for consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// Always works.
    #[default]
    None,
    /// Per-user OAuth consent checked at `tools/list`: until the user consents, listing the whole
    /// toolbox fails with the aggregate consent error.
    Consent,
    /// Per-user OAuth consent checked at `tools/call`: listing works, calling fails with -32006.
    ConsentAtCall,
    /// `tools/list` always fails for this source with a non-consent error entry.
    HardError,
}

/// What a tool does when called.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Returns `echo: <arguments.text>`, or the JSON arguments when there is no string `text`.
    #[default]
    Echo,
    /// Returns this text.
    Fixed(String),
    /// Returns a tool result with `is_error: true` and this text.
    Error(String),
}

/// Where the aggregate `{"errors":[...]}` object goes in a failed `tools/list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Appended to the JSON-RPC `message` (what the live proxy does); `data` is absent.
    #[default]
    Message,
    /// In the JSON-RPC `data`; the message is text without JSON.
    Data,
    /// In both places.
    Both,
}

/// Shape of the JSON-RPC errors the mock produces for consent and aggregate list failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentErrorShape {
    /// JSON-RPC code of a failed `tools/list` (consent, hard error or mixed). Default -32006;
    /// -32007, -32000 and -32603 are the other shapes seen in the wild.
    #[serde(default = "default_consent_code")]
    pub code: i32,
    /// Where the aggregate object goes. Default `message`.
    #[serde(default)]
    pub placement: Placement,
    /// JSON-RPC code of a call-time consent error. Default -32006.
    #[serde(default = "default_consent_code")]
    pub call_code: i32,
}

fn default_consent_code() -> i32 {
    -32006
}

impl Default for ConsentErrorShape {
    fn default() -> Self {
        Self { code: default_consent_code(), placement: Placement::default(), call_code: default_consent_code() }
    }
}

/// One tool of a tool source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// Tool name, unique within its toolbox.
    pub name: String,
    /// Tool description (may be empty).
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments; must be an object. Default `{"type":"object"}`.
    #[serde(default = "default_input_schema")]
    pub input_schema: Value,
    /// What the tool does. Default `echo`.
    #[serde(default, alias = "behavior")]
    pub behaviour: Behaviour,
}

fn default_input_schema() -> Value {
    json!({"type": "object"})
}

impl ToolSpec {
    /// A tool with the given behaviour, no description and the default schema.
    pub fn new(name: impl Into<String>, behaviour: Behaviour) -> Self {
        Self { name: name.into(), description: String::new(), input_schema: default_input_schema(), behaviour }
    }
    /// An `echo` tool.
    pub fn echo(name: impl Into<String>) -> Self {
        Self::new(name, Behaviour::Echo)
    }
    /// A tool that returns `text`.
    pub fn fixed(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(name, Behaviour::Fixed(text.into()))
    }
    /// A tool that returns an `is_error` result with `text`.
    pub fn error(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(name, Behaviour::Error(text.into()))
    }
    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
    /// Sets the input schema (must be a JSON object).
    pub fn with_schema(mut self, input_schema: Value) -> Self {
        self.input_schema = input_schema;
        self
    }
}

/// A tool source (a connection inside a toolbox), e.g. `send_email`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Source label; the `name` of its entries in aggregate error payloads.
    pub name: String,
    /// Authentication mode. Default `none`.
    #[serde(default)]
    pub auth: Auth,
    /// The `type` of its entries in aggregate error payloads. Default `mcp`.
    #[serde(default = "default_source_type", rename = "type")]
    pub source_type: String,
    /// `error.code` of the entry produced by `auth = "hard_error"`. Default `INTERNAL_ERROR`.
    #[serde(default = "default_error_code")]
    pub error_code: String,
    /// `error.message` of the entry produced by `auth = "hard_error"`.
    #[serde(default = "default_error_message")]
    pub error_message: String,
    /// Return this string as the consent link instead of a working mock link.
    #[serde(default)]
    pub consent_link_override: Option<String>,
    /// The tools this source contributes.
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
}

fn default_source_type() -> String {
    "mcp".to_owned()
}
fn default_error_code() -> String {
    "INTERNAL_ERROR".to_owned()
}
fn default_error_message() -> String {
    "upstream tool source failed".to_owned()
}

impl SourceSpec {
    /// A source with no tools yet.
    pub fn new(name: impl Into<String>, auth: Auth) -> Self {
        Self {
            name: name.into(),
            auth,
            source_type: default_source_type(),
            error_code: default_error_code(),
            error_message: default_error_message(),
            consent_link_override: None,
            tools: Vec::new(),
        }
    }
    /// Adds a tool.
    pub fn tool(mut self, tool: ToolSpec) -> Self {
        self.tools.push(tool);
        self
    }
    /// Makes consent errors carry `link` instead of a working mock link.
    pub fn with_consent_link_override(mut self, link: impl Into<String>) -> Self {
        self.consent_link_override = Some(link.into());
        self
    }
}

/// A fault injected on a toolbox's MCP endpoint, optionally only for one user.
///
/// Faults act on POSTed JSON-RPC messages (never on the session's GET stream or DELETE), and only
/// on those whose method is in `methods` when that is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Only this user (`"container"` or `""` = the container identity). Absent: every user.
    #[serde(default)]
    pub user: Option<String>,
    /// Only these JSON-RPC methods (e.g. `["tools/list"]`). Absent: every method.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// Delay added before answering each matching request.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Never answer matching `tools/list` / `tools/call`; the connection stays open.
    #[serde(default)]
    pub hang: bool,
    /// HTTP statuses returned (text body) for the next matching requests, in order.
    #[serde(default)]
    pub http_statuses: Vec<u16>,
    /// `Retry-After` seconds sent with each status from `http_statuses`.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// After this many successful `tools/call` by a user, that user's token expires (HTTP 401).
    #[serde(default)]
    pub expire_after_calls: Option<u32>,
    /// Close the TCP connection without a response for the next K matching requests.
    #[serde(default)]
    pub drop_connection: Option<u32>,
    /// Answer the next K matching requests with HTTP 200 and a body that is not JSON-RPC
    /// (truncated JSON), as a broken proxy or middlebox would.
    #[serde(default)]
    pub malformed: Option<u32>,
    /// Answer the next K matching requests with an SSE stream that breaks off inside its first
    /// event (the connection closes before the JSON-RPC response is complete).
    #[serde(default)]
    pub cut_stream: Option<u32>,
}

/// One toolbox, served at `.../toolboxes/{name}/mcp` and `.../toolboxes/{name}/versions/{v}/mcp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolboxSpec {
    /// Toolbox name (one path segment).
    pub name: String,
    /// Versions accepted on the versioned path. Absent: any version.
    #[serde(default)]
    pub versions: Option<Vec<String>>,
    /// Paginate `tools/list` with this many tools per page. Absent: one page.
    #[serde(default)]
    pub page_size: Option<usize>,
    /// Tool sources, in listing order.
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
    /// Faults on this toolbox's endpoint.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
}

impl ToolboxSpec {
    /// An empty toolbox that accepts any version.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), versions: None, page_size: None, sources: Vec::new(), faults: Vec::new() }
    }
    /// Adds a tool source.
    pub fn source(mut self, source: SourceSpec) -> Self {
        self.sources.push(source);
        self
    }
    /// Adds a fault.
    pub fn fault(mut self, fault: FaultSpec) -> Self {
        self.faults.push(fault);
        self
    }
    /// Restricts the accepted versions.
    pub fn with_versions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, versions: I) -> Self {
        self.versions = Some(versions.into_iter().map(Into::into).collect());
        self
    }
}

/// Everything the mock serves. Deserializable from TOML or JSON with unknown keys rejected.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Session or stateless transport. Default `session`.
    #[serde(default)]
    pub mode: Mode,
    /// Shape of consent and aggregate list errors.
    #[serde(default)]
    pub consent_error: ConsentErrorShape,
    /// Base URL put in consent links instead of `http://127.0.0.1:PORT` (e.g. behind a proxy).
    #[serde(default)]
    pub public_url: Option<String>,
    /// The toolboxes served; any other name is answered with 404.
    #[serde(default)]
    pub toolboxes: Vec<ToolboxSpec>,
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// TOML syntax error or unknown/mistyped key.
    #[error("invalid scenario TOML: {0}")]
    Toml(#[from] toml::de::Error),
    /// JSON syntax error or unknown/mistyped key.
    #[error("invalid scenario JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Parsed, but inconsistent (duplicate names, bad status, schema not an object, ...).
    #[error("invalid scenario: {0}")]
    Invalid(String),
}

impl From<ScenarioError> for std::io::Error {
    fn from(err: ScenarioError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, err)
    }
}

impl Scenario {
    /// An empty scenario in the given mode.
    pub fn new(mode: Mode) -> Self {
        Self { mode, ..Self::default() }
    }
    /// Adds a toolbox.
    pub fn toolbox(mut self, toolbox: ToolboxSpec) -> Self {
        self.toolboxes.push(toolbox);
        self
    }
    /// Sets the consent error shape.
    pub fn with_consent_error(mut self, shape: ConsentErrorShape) -> Self {
        self.consent_error = shape;
        self
    }
    /// Parses and validates a TOML scenario.
    pub fn from_toml_str(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Self = toml::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }
    /// Parses and validates a JSON scenario.
    pub fn from_json_str(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Self = serde_json::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }
    /// Reads a scenario file: JSON when the extension is `.json`, TOML otherwise.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ScenarioError::Io { path: path.display().to_string(), source })?;
        let is_json = path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        if is_json { Self::from_json_str(&text) } else { Self::from_toml_str(&text) }
    }
    /// The toolbox with this name.
    pub fn find_toolbox(&self, name: &str) -> Option<&ToolboxSpec> {
        self.toolboxes.iter().find(|t| t.name == name)
    }

    /// Checks what serde cannot: unique names, one-segment toolbox names, object schemas, and
    /// HTTP statuses in 100..=599.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let invalid = |msg: String| Err(ScenarioError::Invalid(msg));
        let mut toolbox_names = BTreeSet::new();
        for tb in &self.toolboxes {
            if tb.name.is_empty() || tb.name.contains(['/', '?', '#']) {
                return invalid(format!("toolbox name {:?} is not one path segment", tb.name));
            }
            if !toolbox_names.insert(tb.name.as_str()) {
                return invalid(format!("duplicate toolbox {:?}", tb.name));
            }
            if tb.page_size == Some(0) {
                return invalid(format!("toolbox {:?}: page_size must be > 0", tb.name));
            }
            let mut tools = BTreeSet::new();
            let mut sources = BTreeSet::new();
            for src in &tb.sources {
                if !sources.insert(src.name.as_str()) {
                    return invalid(format!("toolbox {:?}: duplicate source {:?}", tb.name, src.name));
                }
                for tool in &src.tools {
                    if !tools.insert(tool.name.as_str()) {
                        return invalid(format!("toolbox {:?}: duplicate tool {:?}", tb.name, tool.name));
                    }
                    if !tool.input_schema.is_object() {
                        return invalid(format!("tool {:?}: input_schema must be a JSON object", tool.name));
                    }
                }
            }
            for fault in &tb.faults {
                if let Some(bad) = fault.http_statuses.iter().find(|s| !(100..=599).contains(*s)) {
                    return invalid(format!("toolbox {:?}: bad HTTP status {bad}", tb.name));
                }
                if fault.expire_after_calls == Some(0) {
                    return invalid(format!("toolbox {:?}: expire_after_calls must be > 0", tb.name));
                }
            }
        }
        Ok(())
    }
}

/// The demo scenario (session mode): toolbox `demo` with source `echo` (auth `none`, tool `echo`)
/// and source `send_email` (auth `consent`, tool `send_email` taking `{to, subject, body}` and
/// returning `sent`).
pub fn demo_scenario() -> Scenario {
    let email_schema = json!({
        "type": "object",
        "properties": {
            "to": {"type": "string", "description": "Recipient address"},
            "subject": {"type": "string"},
            "body": {"type": "string"}
        },
        "required": ["to", "subject", "body"]
    });
    Scenario::new(Mode::Session).toolbox(
        ToolboxSpec::new("demo")
            .source(SourceSpec::new("echo", Auth::None).tool(
                ToolSpec::echo("echo").with_description("Echoes its `text` argument back.").with_schema(json!({
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"]
                })),
            ))
            .source(
                SourceSpec::new("send_email", Auth::Consent).tool(
                    ToolSpec::fixed("send_email", "sent")
                        .with_description("Sends an email on behalf of the user.")
                        .with_schema(email_schema),
                ),
            ),
    )
}
