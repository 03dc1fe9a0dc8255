//! Input and output items (§5.4 of the protocol reference).
//!
//! Known item types are typed; anything else is kept as raw JSON in [`Item::Other`] so unknown
//! items from newer clients round-trip through history instead of failing the request.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::agent_reference::AgentReference;

/// One item of a response's input or output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    /// A user, system, developer or assistant message.
    Message(MessageItem),
    /// A tool call the model asked for.
    FunctionCall(FunctionCallItem),
    /// The result of a tool call.
    FunctionCallOutput(FunctionCallOutputItem),
    /// The model's reasoning summary.
    Reasoning(ReasoningItem),
    /// The tools of an MCP server, or why they could not be listed.
    McpListTools(McpListToolsItem),
    /// A call of a request `mcp` server's tool, with its result.
    McpCall(McpCallItem),
    /// A tool call that waits for the user's approval.
    McpApprovalRequest(McpApprovalRequestItem),
    /// The user's answer to an approval request (input only).
    McpApprovalResponse(McpApprovalResponseItem),
    /// A sign-in link the user must visit before a tool source can be used.
    #[serde(rename = "oauth_consent_request")]
    OAuthConsentRequest(OAuthConsentRequestItem),
    /// A reference to a stored item by id (input only).
    ItemReference(ItemReferenceItem),
    /// Any other item, kept verbatim.
    #[serde(untagged)]
    Other(Value),
}

/// The status of an output item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Still being produced.
    InProgress,
    /// Finished.
    Completed,
    /// Stopped before it was finished.
    Incomplete,
    /// Failed.
    Failed,
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The end user.
    User,
    /// The agent.
    Assistant,
    /// System instructions.
    System,
    /// Developer instructions.
    Developer,
}

/// A part of a message's content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text written by the user.
    InputText {
        /// The text.
        text: String,
    },
    /// Text written by the agent.
    OutputText {
        /// The text.
        text: String,
        /// Citations and other annotations.
        #[serde(default)]
        annotations: Vec<Value>,
        /// Token log probabilities, when requested.
        #[serde(default)]
        logprobs: Vec<Value>,
    },
    /// The model declined to answer.
    Refusal {
        /// Why.
        refusal: String,
    },
    /// A reasoning summary.
    SummaryText {
        /// The summary.
        text: String,
    },
    /// Images, files and future part types, kept verbatim.
    #[serde(untagged)]
    Other(Value),
}

impl ContentPart {
    /// An `output_text` part with no annotations.
    pub fn output_text(text: impl Into<String>) -> Self {
        ContentPart::OutputText { text: text.into(), annotations: Vec::new(), logprobs: Vec::new() }
    }

    /// The plain text of this part, if it has any.
    pub fn text(&self) -> Option<&str> {
        match self {
            ContentPart::InputText { text }
            | ContentPart::OutputText { text, .. }
            | ContentPart::SummaryText { text } => Some(text),
            ContentPart::Refusal { refusal } => Some(refusal),
            ContentPart::Other(_) => None,
        }
    }
}

/// A message item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageItem {
    /// The item id (`msg_…`); absent on client input until it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Who wrote it.
    pub role: Role,
    /// The content; a plain string on input is read as one `input_text` part.
    #[serde(deserialize_with = "content_string_or_parts")]
    pub content: Vec<ContentPart>,
    /// Production status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    /// The response that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// The agent that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_reference: Option<AgentReference>,
}

impl MessageItem {
    /// The concatenated text of all text parts.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let Some(t) = part.text() {
                out.push_str(t);
            }
        }
        out
    }
}

fn content_string_or_parts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ContentPart>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Content {
        Text(String),
        Parts(Vec<ContentPart>),
    }
    Ok(match Content::deserialize(d)? {
        Content::Text(text) => vec![ContentPart::InputText { text }],
        Content::Parts(parts) => parts,
    })
}

/// A `function_call` item: the model asks for a tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallItem {
    /// The item id (`fc_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Correlates the call with its output.
    pub call_id: String,
    /// The tool name as the model sees it.
    pub name: String,
    /// The arguments, a JSON document encoded as a string.
    pub arguments: String,
    /// Production status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    /// The response that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// The agent that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_reference: Option<AgentReference>,
}

/// A `function_call_output` item: what a tool returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallOutputItem {
    /// The item id (`fco_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The call this answers.
    pub call_id: String,
    /// The output; a JSON string on everything we emit, content parts are accepted on input.
    pub output: Value,
    /// Production status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    /// The response that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// The agent that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_reference: Option<AgentReference>,
}

impl FunctionCallOutputItem {
    /// The output as text: the string itself, or the JSON of anything else.
    pub fn output_text(&self) -> String {
        match &self.output {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// A `reasoning` item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReasoningItem {
    /// The item id (`rs_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Summary parts (`summary_text`).
    #[serde(default)]
    pub summary: Vec<ContentPart>,
    /// Opaque reasoning state some models return for the next call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
    /// Production status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    /// The response that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// The agent that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_reference: Option<AgentReference>,
}

/// An `mcp_list_tools` item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpListToolsItem {
    /// The item id (`mcpl_…`).
    pub id: String,
    /// The MCP server (toolbox or tool source).
    pub server_label: String,
    /// `{name, description, input_schema, annotations}` per tool.
    #[serde(default)]
    pub tools: Vec<Value>,
    /// Why listing failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The response that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// The agent that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_reference: Option<AgentReference>,
}

/// An `mcp_call` item: a call of a request `mcp` server's tool and its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpCallItem {
    /// The item id (`mcp_…`).
    pub id: String,
    /// The server (the request tool's `server_label`).
    pub server_label: String,
    /// The tool's name on the server.
    pub name: String,
    /// The arguments, a JSON document encoded as a string.
    pub arguments: String,
    /// What the tool returned, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Why the call failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Production status (`in_progress`, `completed`, `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    /// The `mcp_approval_request` this call ran after, when it waited for approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_request_id: Option<String>,
    /// The response that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// The agent that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_reference: Option<AgentReference>,
}

/// An `mcp_approval_request` item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpApprovalRequestItem {
    /// The item id (`mcpr_…`), which the approval response refers to.
    pub id: String,
    /// The toolbox the tool belongs to.
    pub server_label: String,
    /// The tool name.
    pub name: String,
    /// The arguments, a JSON document encoded as a string.
    pub arguments: String,
    /// The response that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// The agent that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_reference: Option<AgentReference>,
}

/// An `mcp_approval_response` input item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpApprovalResponseItem {
    /// The item id (`mcpa_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The `mcp_approval_request` this answers.
    pub approval_request_id: String,
    /// Whether the user approved.
    pub approve: bool,
    /// The user's reason, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An `oauth_consent_request` item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OAuthConsentRequestItem {
    /// The item id (`oacr_…`).
    pub id: String,
    /// The validated sign-in link.
    pub consent_link: String,
    /// The tool source that needs consent.
    pub server_label: String,
    /// The response that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// The agent that produced this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_reference: Option<AgentReference>,
}

/// An `item_reference` input item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemReferenceItem {
    /// The referenced item's id.
    pub id: String,
}

impl Item {
    /// The item's id, if it has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Item::Message(m) => m.id.as_deref(),
            Item::FunctionCall(i) => i.id.as_deref(),
            Item::FunctionCallOutput(i) => i.id.as_deref(),
            Item::Reasoning(i) => i.id.as_deref(),
            Item::McpListTools(i) => Some(&i.id),
            Item::McpCall(i) => Some(&i.id),
            Item::McpApprovalRequest(i) => Some(&i.id),
            Item::McpApprovalResponse(i) => i.id.as_deref(),
            Item::OAuthConsentRequest(i) => Some(&i.id),
            Item::ItemReference(i) => Some(&i.id),
            Item::Other(v) => v.get("id").and_then(Value::as_str),
        }
    }

    /// The id prefix used when this item is stored without an id.
    pub fn id_prefix(&self) -> &'static str {
        use crate::id;
        match self {
            Item::Message(_) => id::MESSAGE,
            Item::FunctionCall(_) => id::FUNCTION_CALL,
            Item::FunctionCallOutput(_) => id::FUNCTION_CALL_OUTPUT,
            Item::Reasoning(_) => id::REASONING,
            Item::McpListTools(_) => id::MCP_LIST_TOOLS,
            Item::McpCall(_) => id::MCP_CALL,
            Item::McpApprovalRequest(_) => id::MCP_APPROVAL_REQUEST,
            Item::McpApprovalResponse(_) => id::MCP_APPROVAL_RESPONSE,
            Item::OAuthConsentRequest(_) => id::OAUTH_CONSENT_REQUEST,
            Item::ItemReference(_) | Item::Other(_) => id::GENERIC_ITEM,
        }
    }

    /// Gives the item an id (in `partition_hint`'s partition) when it has none, and marks
    /// unfinished input items completed, as the store does for input items.
    pub fn ensure_id(&mut self, partition_hint: &str) {
        if self.id().is_some() {
            return;
        }
        let new = crate::id::new_id(self.id_prefix(), Some(partition_hint));
        match self {
            Item::Message(m) => {
                m.id = Some(new);
                m.status.get_or_insert(ItemStatus::Completed);
            }
            Item::FunctionCall(i) => {
                i.id = Some(new);
                i.status.get_or_insert(ItemStatus::Completed);
            }
            Item::FunctionCallOutput(i) => {
                i.id = Some(new);
                i.status.get_or_insert(ItemStatus::Completed);
            }
            Item::Reasoning(i) => i.id = Some(new),
            Item::McpApprovalResponse(i) => i.id = Some(new),
            Item::Other(Value::Object(map)) => {
                map.insert("id".into(), Value::String(new));
            }
            _ => {}
        }
    }

    /// Stamps the producing response and agent on an output item (B20/B21).
    pub fn stamp(&mut self, response_id: &str, agent: Option<&AgentReference>) {
        let (rid, agent_ref) = match self {
            Item::Message(i) => (&mut i.response_id, &mut i.agent_reference),
            Item::FunctionCall(i) => (&mut i.response_id, &mut i.agent_reference),
            Item::FunctionCallOutput(i) => (&mut i.response_id, &mut i.agent_reference),
            Item::Reasoning(i) => (&mut i.response_id, &mut i.agent_reference),
            Item::McpListTools(i) => (&mut i.response_id, &mut i.agent_reference),
            Item::McpCall(i) => (&mut i.response_id, &mut i.agent_reference),
            Item::McpApprovalRequest(i) => (&mut i.response_id, &mut i.agent_reference),
            Item::OAuthConsentRequest(i) => (&mut i.response_id, &mut i.agent_reference),
            _ => return,
        };
        *rid = Some(response_id.to_string());
        *agent_ref = agent.cloned();
    }

    /// A user message with one `input_text` part.
    pub fn user_text(text: impl Into<String>) -> Item {
        Item::Message(MessageItem {
            id: None,
            role: Role::User,
            content: vec![ContentPart::InputText { text: text.into() }],
            status: None,
            response_id: None,
            agent_reference: None,
        })
    }

    /// The `type` this item has on the wire.
    pub fn type_name(&self) -> &str {
        match self {
            Item::Message(_) => "message",
            Item::FunctionCall(_) => "function_call",
            Item::FunctionCallOutput(_) => "function_call_output",
            Item::Reasoning(_) => "reasoning",
            Item::McpListTools(_) => "mcp_list_tools",
            Item::McpCall(_) => "mcp_call",
            Item::McpApprovalRequest(_) => "mcp_approval_request",
            Item::McpApprovalResponse(_) => "mcp_approval_response",
            Item::OAuthConsentRequest(_) => "oauth_consent_request",
            Item::ItemReference(_) => "item_reference",
            Item::Other(v) => v.get("type").and_then(Value::as_str).unwrap_or("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_content_becomes_one_input_text_part() {
        let item: Item = serde_json::from_value(json!({"type":"message","role":"user","content":"hi"})).unwrap();
        let Item::Message(m) = item else { panic!("not a message") };
        assert_eq!(m.content, vec![ContentPart::InputText { text: "hi".into() }]);
    }

    #[test]
    fn unknown_items_and_parts_round_trip_verbatim() {
        let raw = json!({"type":"web_search_call","id":"ws_1","status":"completed"});
        let item: Item = serde_json::from_value(raw.clone()).unwrap();
        assert!(matches!(item, Item::Other(_)));
        assert_eq!(serde_json::to_value(&item).unwrap(), raw);

        let img = json!({"type":"message","role":"user","content":[{"type":"input_image","image_url":"https://x/y.png","detail":"auto"}]});
        let item: Item = serde_json::from_value(img.clone()).unwrap();
        assert_eq!(serde_json::to_value(&item).unwrap(), img);
    }

    #[test]
    fn output_items_serialize_with_type_first_class_fields() {
        let item = Item::OAuthConsentRequest(OAuthConsentRequestItem {
            id: "oacr_1".into(),
            consent_link: "https://consent.example/x".into(),
            server_label: "send_email".into(),
            response_id: Some("caresp_1".into()),
            agent_reference: None,
        });
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            json!({"type":"oauth_consent_request","id":"oacr_1","consent_link":"https://consent.example/x","server_label":"send_email","response_id":"caresp_1"})
        );
    }
}
