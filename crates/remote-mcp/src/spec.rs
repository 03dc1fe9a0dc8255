//! Request `mcp` tools with a `server_url`, as OpenAI's Responses API takes them:
//! `{"type":"mcp","server_label","server_url","server_description","headers","authorization",
//! "require_approval","allowed_tools"}`. Toolbox markers (`foundry-toolbox://`) are not ours.

use std::collections::HashSet;
use std::fmt;

use http::{HeaderName, HeaderValue};
use serde_json::Value;

/// Headers a request may not set on its MCP server: the transport owns them.
const RESERVED_HEADERS: [&str; 9] = [
    "accept",
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];
/// Most headers one server may get from a request.
const MAX_HEADERS: usize = 32;
/// Most request `mcp` servers in one request.
pub const MAX_SERVERS: usize = 16;

/// One request `mcp` server.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Position in the request's `tools`.
    pub index: usize,
    /// `server_label`: how items and the model name the server.
    pub label: String,
    /// `server_url`, as given.
    pub url: String,
    /// `server_description`, given to the model with each tool.
    pub description: Option<String>,
    /// What is sent to this server only.
    pub credentials: Credentials,
    /// Which calls wait for the user's approval.
    pub approval: ApprovalPolicy,
    /// `allowed_tools`: only these tools are listed and offered; `None` is all.
    pub allowed_tools: Option<HashSet<String>>,
}

impl fmt::Debug for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSpec")
            .field("index", &self.index)
            .field("label", &self.label)
            .field("approval", &self.approval)
            .field("allowed_tools", &self.allowed_tools)
            .finish_non_exhaustive()
    }
}

/// `headers` and `authorization`: sent to the server, never echoed, stored, logged or given to
/// the model. `Debug` prints header names only.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// Extra headers, names lower-case, sorted.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.headers.iter().map(|(n, _)| n.as_str())).finish()
    }
}

/// `require_approval`. OpenAI's default is `Always`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalPolicy {
    /// Every call waits.
    Always,
    /// No call waits.
    Never,
    /// `{"never":{"tool_names":[..]},"always":{"tool_names":[..]}}`: listed tools as listed;
    /// the others wait unless only `always` was given.
    Filter {
        /// Tools that never wait.
        never: HashSet<String>,
        /// Tools that always wait.
        always: HashSet<String>,
        /// What unlisted tools do.
        others_wait: bool,
    },
}

impl ApprovalPolicy {
    /// Whether a call of `tool` waits for approval.
    pub fn requires(&self, tool: &str) -> bool {
        match self {
            ApprovalPolicy::Always => true,
            ApprovalPolicy::Never => false,
            ApprovalPolicy::Filter { never, always, others_wait } => {
                if always.contains(tool) {
                    true
                } else if never.contains(tool) {
                    false
                } else {
                    *others_wait
                }
            }
        }
    }
}

/// Why the request's `mcp` tools were refused (HTTP 400 before creation).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpecError {
    /// The JSON path of the offending field.
    pub param: String,
    /// What is wrong.
    pub message: String,
}

fn bad(index: usize, field: &str, message: impl Into<String>) -> SpecError {
    let param = if field.is_empty() { format!("$.tools[{index}]") } else { format!("$.tools[{index}].{field}") };
    SpecError { param, message: message.into() }
}

/// Whether a request tool is a toolbox marker (handled by the toolbox crate).
fn is_marker(url: &str) -> bool {
    url.get(..16).is_some_and(|head| head.eq_ignore_ascii_case("foundry-toolbox:"))
}

/// The request's `mcp` tools that name a server by URL, in order. Markers and other tool types
/// are skipped.
pub fn parse(tools: &[Value]) -> Result<Vec<ServerSpec>, SpecError> {
    let mut out: Vec<ServerSpec> = Vec::new();
    for (index, tool) in tools.iter().enumerate() {
        if tool.get("type").and_then(Value::as_str) != Some("mcp") {
            continue;
        }
        let Some(obj) = tool.as_object() else { continue };
        let url = match obj.get("server_url") {
            Some(Value::String(url)) if is_marker(url) => continue,
            Some(Value::String(url)) if !url.trim().is_empty() => url.trim().to_string(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                if obj.get("connector_id").is_some() {
                    return Err(bad(index, "connector_id", "Connectors are not supported here; give a 'server_url'."));
                }
                return Err(bad(index, "server_url", "An 'mcp' tool needs a 'server_url'."));
            }
            Some(_) => return Err(bad(index, "server_url", "'server_url' must be a string.")),
        };
        let label = match obj.get("server_label") {
            Some(Value::String(label)) => label.clone(),
            _ => return Err(bad(index, "server_label", "An 'mcp' tool needs a string 'server_label'.")),
        };
        if label.is_empty()
            || label.len() > 64
            || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad(index, "server_label", "'server_label' must be 1 to 64 letters, digits, '_' or '-'."));
        }
        if out.iter().any(|s| s.label == label) {
            return Err(bad(index, "server_label", format!("Two 'mcp' tools have the server_label '{label}'.")));
        }
        let description = match obj.get("server_description") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) => Some(d.clone()),
            Some(_) => return Err(bad(index, "server_description", "'server_description' must be a string.")),
        };
        let credentials = credentials(index, obj.get("headers"), obj.get("authorization"))?;
        let approval = approval(index, obj.get("require_approval"))?;
        let allowed_tools = allowed_tools(index, obj.get("allowed_tools"))?;
        out.push(ServerSpec { index, label, url, description, credentials, approval, allowed_tools });
        if out.len() > MAX_SERVERS {
            return Err(bad(index, "", format!("At most {MAX_SERVERS} 'mcp' servers per request.")));
        }
    }
    Ok(out)
}

fn credentials(index: usize, headers: Option<&Value>, authorization: Option<&Value>) -> Result<Credentials, SpecError> {
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::new();
    match headers {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            if map.len() > MAX_HEADERS {
                return Err(bad(index, "headers", format!("At most {MAX_HEADERS} headers.")));
            }
            for (name, value) in map {
                let param = format!("headers.{name}");
                let header = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| bad(index, &param, format!("'{name}' is not a valid header name.")))?;
                if RESERVED_HEADERS.contains(&header.as_str()) {
                    return Err(bad(index, &param, format!("The header '{name}' is set by the MCP transport.")));
                }
                let Value::String(text) = value else {
                    return Err(bad(index, &param, "Header values must be strings."));
                };
                let mut value = HeaderValue::from_str(text)
                    .map_err(|_| bad(index, &param, "The header value holds characters a header cannot."))?;
                value.set_sensitive(true);
                out.push((header, value));
            }
        }
        Some(_) => return Err(bad(index, "headers", "'headers' must be an object of strings.")),
    }
    match authorization {
        None | Some(Value::Null) => {}
        Some(Value::String(token)) => {
            if out.iter().any(|(n, _)| n == http::header::AUTHORIZATION) {
                return Err(bad(
                    index,
                    "authorization",
                    "Give the token either as 'authorization' or as an Authorization header, not both.",
                ));
            }
            let token = token.trim();
            let token = token.strip_prefix("Bearer ").unwrap_or(token);
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| bad(index, "authorization", "The token holds characters a header cannot."))?;
            value.set_sensitive(true);
            out.push((http::header::AUTHORIZATION, value));
        }
        Some(_) => return Err(bad(index, "authorization", "'authorization' must be a string.")),
    }
    out.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    Ok(Credentials { headers: out })
}

fn tool_names(index: usize, field: &str, value: &Value) -> Result<HashSet<String>, SpecError> {
    let list = match value {
        Value::Array(list) => list,
        Value::Object(obj) => match obj.get("tool_names") {
            Some(Value::Array(list)) => list,
            None => return Ok(HashSet::new()),
            Some(_) => return Err(bad(index, field, "'tool_names' must be an array of strings.")),
        },
        _ => return Err(bad(index, field, "Expected an array of tool names or {\"tool_names\": [...]}.")),
    };
    list.iter()
        .map(|v| v.as_str().map(str::to_string).ok_or_else(|| bad(index, field, "Tool names must be strings.")))
        .collect()
}

fn approval(index: usize, value: Option<&Value>) -> Result<ApprovalPolicy, SpecError> {
    match value {
        None | Some(Value::Null) => Ok(ApprovalPolicy::Always),
        Some(Value::String(s)) if s == "always" => Ok(ApprovalPolicy::Always),
        Some(Value::String(s)) if s == "never" => Ok(ApprovalPolicy::Never),
        Some(Value::Object(obj)) => {
            let never = match obj.get("never") {
                None | Some(Value::Null) => None,
                Some(v) => Some(tool_names(index, "require_approval.never", v)?),
            };
            let always = match obj.get("always") {
                None | Some(Value::Null) => None,
                Some(v) => Some(tool_names(index, "require_approval.always", v)?),
            };
            let others_wait = never.is_some() || always.is_none();
            Ok(ApprovalPolicy::Filter {
                never: never.unwrap_or_default(),
                always: always.unwrap_or_default(),
                others_wait,
            })
        }
        Some(_) => {
            Err(bad(index, "require_approval", "'require_approval' must be \"always\", \"never\" or a filter object."))
        }
    }
}

fn allowed_tools(index: usize, value: Option<&Value>) -> Result<Option<HashSet<String>>, SpecError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => tool_names(index, "allowed_tools", v).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_openai_shapes_and_skips_markers() {
        let tools = vec![
            json!({"type":"function","name":"f"}),
            json!({"type":"mcp","server_url":"foundry-toolbox://box"}),
            json!({"type":"mcp","server_label":"calc","server_url":"https://calc.example/mcp",
                   "headers":{"X-Api-Key":"k1"},"authorization":"tok","allowed_tools":{"tool_names":["add"]},
                   "require_approval":{"never":{"tool_names":["add"]}}}),
            json!({"type":"mcp","server_label":"b","server_url":"https://b.example/mcp","require_approval":"never"}),
        ];
        let specs = parse(&tools).unwrap();
        assert_eq!(specs.len(), 2);
        let calc = &specs[0];
        assert_eq!((calc.index, calc.label.as_str(), calc.url.as_str()), (2, "calc", "https://calc.example/mcp"));
        let names: Vec<&str> = calc.credentials.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["authorization", "x-api-key"]);
        assert_eq!(calc.credentials.headers[0].1, "Bearer tok");
        assert_eq!(calc.allowed_tools, Some(HashSet::from(["add".to_string()])));
        assert!(!calc.approval.requires("add") && calc.approval.requires("other"));
        assert_eq!(specs[1].approval, ApprovalPolicy::Never);
        // Secrets never show in Debug.
        let debug = format!("{calc:?} {:?}", calc.credentials);
        assert!(!debug.contains("k1") && !debug.contains("tok"), "{debug}");
    }

    #[test]
    fn default_approval_is_always_and_filters_follow_openai() {
        let specs = parse(&[json!({"type":"mcp","server_label":"a","server_url":"https://a/mcp"})]).unwrap();
        assert_eq!(specs[0].approval, ApprovalPolicy::Always);
        let only_always = approval(0, Some(&json!({"always":{"tool_names":["rm"]}}))).unwrap();
        assert!(only_always.requires("rm") && !only_always.requires("ls"));
        let both = approval(0, Some(&json!({"always":["rm"],"never":["ls"]}))).unwrap();
        assert!(both.requires("rm") && !both.requires("ls") && both.requires("cat"));
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (json!({"type":"mcp","server_url":"https://a/mcp"}), "$.tools[0].server_label"),
            (json!({"type":"mcp","server_label":"a b","server_url":"https://a/mcp"}), "$.tools[0].server_label"),
            (json!({"type":"mcp","server_label":"a"}), "$.tools[0].server_url"),
            (json!({"type":"mcp","server_label":"a","connector_id":"x"}), "$.tools[0].connector_id"),
            (
                json!({"type":"mcp","server_label":"a","server_url":"https://a","headers":{"accept":"x"}}),
                "$.tools[0].headers.accept",
            ),
            (
                json!({"type":"mcp","server_label":"a","server_url":"https://a","headers":{"x":1}}),
                "$.tools[0].headers.x",
            ),
            (
                json!({"type":"mcp","server_label":"a","server_url":"https://a","headers":{"x":"a\nb"}}),
                "$.tools[0].headers.x",
            ),
            (
                json!({"type":"mcp","server_label":"a","server_url":"https://a","headers":{"authorization":"x"},"authorization":"y"}),
                "$.tools[0].authorization",
            ),
            (
                json!({"type":"mcp","server_label":"a","server_url":"https://a","require_approval":"sometimes"}),
                "$.tools[0].require_approval",
            ),
            (
                json!({"type":"mcp","server_label":"a","server_url":"https://a","allowed_tools":[1]}),
                "$.tools[0].allowed_tools",
            ),
        ];
        for (tool, param) in cases {
            let err = parse(std::slice::from_ref(&tool)).unwrap_err();
            assert_eq!(err.param, param, "{tool}");
        }
        let dup = parse(&[
            json!({"type":"mcp","server_label":"a","server_url":"https://a"}),
            json!({"type":"mcp","server_label":"a","server_url":"https://b"}),
        ])
        .unwrap_err();
        assert_eq!(dup.param, "$.tools[1].server_label");
    }
}
