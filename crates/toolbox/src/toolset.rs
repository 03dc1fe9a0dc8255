//! The per-request [`ToolSet`]: the tools one request may use, named for the model, and how a
//! call of one of them runs (consent, token expiry, errors, results).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use agenthost_agent::telemetry::MARKER_LABEL;
use agenthost_agent::{ConsentRequest, Preflight, RequestContext, ToolCall, ToolOutcome, ToolSet, ToolSpec};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, ResourceContents};
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::Instrument;

use crate::client::Caller;
use crate::consent::{self, Signal};
use crate::core::Core;
use crate::error::{ErrorClass, OpError, rpc_class};
use crate::http::PerRequest;
use crate::names::ToolNamer;
use crate::outcome::{Kind, Outcome};
use crate::settings::ConsentMode;
use crate::toolbox::Toolbox;
use crate::trace::McpCall;

/// Longest tool error text given to the model.
const MAX_ERROR_TEXT: usize = 1000;

enum Target {
    Tool {
        toolbox: Arc<Toolbox>,
        original: String,
    },
    /// A sign-in placeholder (on-use consent) and its toolbox's metric label.
    SignIn(ConsentRequest, Arc<str>),
}

/// The tools of one request.
pub struct RequestTools {
    core: Arc<Core>,
    specs: Vec<ToolSpec>,
    targets: HashMap<String, Target>,
}

impl RequestTools {
    /// No tools (toolboxes disabled).
    pub(crate) fn empty(core: Arc<Core>) -> Self {
        Self { core, specs: Vec::new(), targets: HashMap::new() }
    }
}

/// Builds the request's tool set and preflight from each toolbox's outcome (in order), plus
/// list errors found earlier (e.g. markers that could not be opened).
pub(crate) fn build(
    core: Arc<Core>,
    resolved: Vec<(Arc<Toolbox>, Outcome)>,
    mut list_errors: Vec<(String, String)>,
) -> (RequestTools, Preflight) {
    let mut namer = ToolNamer::new();
    let mut specs = Vec::new();
    let mut targets = HashMap::new();
    let mut consents = Vec::new();
    let mut seen = HashSet::new();
    for (toolbox, outcome) in resolved {
        match outcome {
            Outcome::Tools(tools) => {
                for tool in tools.iter() {
                    let name = namer.assign(&toolbox.name, &tool.name);
                    specs.push(ToolSpec {
                        name: name.clone(),
                        description: tool.description.clone(),
                        parameters: tool.schema.clone(),
                        server_label: Some(toolbox.name.clone()),
                    });
                    targets.insert(name, Target::Tool { toolbox: toolbox.clone(), original: tool.name.clone() });
                }
            }
            Outcome::Consent { consents: found, broken } => {
                for c in found {
                    if !seen.insert((c.server_label.clone(), c.consent_link.clone())) {
                        continue;
                    }
                    match core.consent_mode {
                        ConsentMode::Eager => {
                            core.telemetry.consent_requested(&toolbox.endpoint.label);
                            consents.push(c);
                        }
                        ConsentMode::OnUse => {
                            let name = namer.assign(&toolbox.name, &format!("{}_sign_in", c.server_label));
                            specs.push(ToolSpec {
                                name: name.clone(),
                                description: format!(
                                    "Sign in to '{}' (toolbox '{}'). Its tools are unavailable until the user signs in; call this when the user needs them, and the user will be asked to sign in.",
                                    c.server_label, toolbox.name
                                ),
                                parameters: json!({"type": "object", "properties": {}}),
                                server_label: Some(toolbox.name.clone()),
                            });
                            targets.insert(name, Target::SignIn(c, toolbox.endpoint.label.clone()));
                        }
                    }
                }
                for (label, class) in broken {
                    list_errors.push((label.clone(), class.list_error_text(&label)));
                }
            }
            Outcome::Failed(class) => list_errors.push((toolbox.name.clone(), class.list_error_text(&toolbox.name))),
        }
    }
    let tools = RequestTools { core, specs, targets };
    (tools, Preflight { consents, list_errors })
}

#[async_trait::async_trait]
impl ToolSet for RequestTools {
    fn specs(&self) -> Vec<ToolSpec> {
        self.specs.clone()
    }

    async fn invoke(&self, ctx: &RequestContext, call: &ToolCall) -> ToolOutcome {
        match self.targets.get(&call.name) {
            None => ToolOutcome::Error(format!("tool '{}' is not available", call.name)),
            Some(Target::SignIn(consent, label)) => {
                self.core.telemetry.consent_requested(label);
                ToolOutcome::ConsentRequired(vec![consent.clone()])
            }
            Some(Target::Tool { toolbox, original }) => match parse_arguments(&call.arguments) {
                Ok(arguments) => toolbox.invoke(ctx, original, arguments).await,
                Err(message) => ToolOutcome::Error(message),
            },
        }
    }

    fn approval_label(&self, call: &ToolCall) -> Option<String> {
        match self.targets.get(&call.name)? {
            Target::Tool { toolbox, original } if self.core.approval.requires(original, &call.name) => {
                Some(toolbox.name.clone())
            }
            _ => None,
        }
    }
}

/// The call's arguments as a JSON object (empty text means no arguments).
fn parse_arguments(text: &str) -> Result<JsonObject, String> {
    if text.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the tool arguments must be a JSON object".into()),
        Err(e) => Err(format!("the tool arguments are not valid JSON: {e}")),
    }
}

impl Toolbox {
    /// Runs one call for the request's user, in a `tools/call {tool}` span.
    pub(crate) async fn invoke(
        self: &Arc<Self>,
        ctx: &RequestContext,
        original: &str,
        arguments: JsonObject,
    ) -> ToolOutcome {
        let deadline = self.deadline(ctx, Instant::now());
        let caller = Caller {
            who: Some(ctx.user.clone()),
            per: PerRequest::new(ctx.call_id.as_deref(), &ctx.trace, Some(deadline)),
            deadline,
            cancel: Some(ctx.cancel.clone()),
        };
        let tool_label = if self.kind == Kind::Marker { MARKER_LABEL } else { original };
        let call = McpCall::start(
            &self.core.telemetry,
            &self.endpoint.peer,
            "tools/call",
            Some((original, tool_label)),
            &self.name,
        );
        let result = self.endpoint.call_tool(&caller, original, arguments).instrument(call.span().clone()).await;
        let error = match result {
            Ok(result) => {
                let outcome = render(result);
                call.finish(matches!(outcome, ToolOutcome::Error(_)).then_some("tool_error"), None);
                return outcome;
            }
            Err(error) => error,
        };
        match error {
            OpError::Rpc(data) => {
                let signal =
                    consent::parse(&self.name, data.code.0, &data.message, data.data.as_ref(), self.core.links);
                let (outcome, class) = match signal {
                    Signal::Consent { consents, .. } if !consents.is_empty() => {
                        for c in &consents {
                            tracing::info!(
                                toolbox = %self.name,
                                source = %c.server_label,
                                link = %consent::redact_link(&c.consent_link),
                                "tool call needs consent"
                            );
                            self.core.telemetry.consent_requested(&self.endpoint.label);
                        }
                        (ToolOutcome::ConsentRequired(consents), ErrorClass::ConsentRequired)
                    }
                    Signal::Consent { .. } => {
                        tracing::warn!(toolbox = %self.name, "consent requested with an invalid link");
                        let message = "The tool's source asked the user to sign in but sent an unusable sign-in link.";
                        (ToolOutcome::Error(message.into()), ErrorClass::InvalidConsentLink)
                    }
                    Signal::Hard { .. } | Signal::None => {
                        let class = rpc_class(&data);
                        if class == ErrorClass::NotFound {
                            self.endpoint.invalidate();
                        }
                        let message = format!("The tool failed: {}", truncate(&consent::redact_urls(&data.message)));
                        (ToolOutcome::Error(message), class)
                    }
                };
                call.finish(Some(&class.as_string()), Some(data.code.0));
                outcome
            }
            OpError::Class(ErrorClass::Auth) => {
                call.finish(Some(&ErrorClass::Auth.as_string()), None);
                self.after_auth_failure(ctx).await
            }
            OpError::Class(class) => {
                if class == ErrorClass::NotFound {
                    self.endpoint.invalidate();
                }
                tracing::warn!(toolbox = %self.name, tool = %original, error = %class, "tool call failed");
                call.finish(Some(&class.as_string()), None);
                ToolOutcome::Error(format!("The tool call failed: {}.", class.describe()))
            }
        }
    }

    /// The proxy refused the token (e.g. an OAuth token expired after consent): forget this
    /// user's lists, re-list for them, and ask for consent again when that is what is missing.
    async fn after_auth_failure(self: &Arc<Self>, ctx: &RequestContext) -> ToolOutcome {
        tracing::warn!(toolbox = %self.name, "toolbox rejected the authorization of a call; re-listing for the user");
        match self.relist_user(ctx).await {
            Outcome::Consent { consents, .. } if !consents.is_empty() => {
                for _ in &consents {
                    self.core.telemetry.consent_requested(&self.endpoint.label);
                }
                ToolOutcome::ConsentRequired(consents)
            }
            Outcome::Tools(_) => ToolOutcome::Error(
                "The toolbox rejected this call's authorization (HTTP 401/403). The tool list was refreshed; the call may be retried."
                    .into(),
            ),
            Outcome::Consent { .. } => ToolOutcome::Error(
                "The toolbox rejected this call's authorization and its sign-in link is unusable.".into(),
            ),
            Outcome::Failed(class) => ToolOutcome::Error(format!(
                "The toolbox rejected this call's authorization (HTTP 401/403), and re-checking failed: {}.",
                class.describe()
            )),
        }
    }
}

/// A tool result for the model: text blocks joined, else structured content as JSON.
fn render(result: CallToolResult) -> ToolOutcome {
    let texts: Vec<String> = result.content.iter().filter_map(block_text).collect();
    let body = if !texts.is_empty() {
        texts.join("\n")
    } else if let Some(structured) = &result.structured_content {
        structured.to_string()
    } else if !result.content.is_empty() {
        serde_json::to_string(&result.content).unwrap_or_default()
    } else {
        String::new()
    };
    if result.is_error == Some(true) {
        if body.is_empty() { ToolOutcome::Error("the tool reported an error".into()) } else { ToolOutcome::Error(body) }
    } else {
        ToolOutcome::Output(body)
    }
}

fn block_text(block: &ContentBlock) -> Option<String> {
    match block {
        ContentBlock::Text(text) => Some(text.text.clone()),
        ContentBlock::Resource(resource) => match &resource.resource {
            ResourceContents::TextResourceContents { text, .. } => Some(text.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(parse_arguments(""), Ok(JsonObject::new()));
        assert_eq!(parse_arguments("  "), Ok(JsonObject::new()));
        assert_eq!(parse_arguments(r#"{"text":"hi"}"#).map(|m| m.len()), Ok(1));
        assert!(parse_arguments("[1]").is_err());
        assert!(parse_arguments("{").is_err());
    }

    #[test]
    fn rendering() {
        let ok = CallToolResult::success(vec![ContentBlock::text("a"), ContentBlock::text("b")]);
        assert_eq!(render(ok), ToolOutcome::Output("a\nb".into()));
        let err = CallToolResult::error(vec![ContentBlock::text("mailbox full")]);
        assert_eq!(render(err), ToolOutcome::Error("mailbox full".into()));
        let structured = CallToolResult::structured(json!({"n": 1}));
        // rmcp also puts the JSON text into content; either way the model sees the JSON.
        assert_eq!(render(structured), ToolOutcome::Output(r#"{"n":1}"#.into()));
        let empty = CallToolResult::success(vec![]);
        assert_eq!(render(empty), ToolOutcome::Output(String::new()));
        assert_eq!(truncate(&"x".repeat(1005)).len(), 1003);
    }
}
