//! The Conversations API's wire types: the conversation object and the bodies that create,
//! update and extend one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::item::Item;
use crate::request::{Checker, RequestError, body_object, parse_items, parse_metadata};

/// Most items one create or add request may carry (OpenAI's limit).
pub const MAX_ITEMS_PER_REQUEST: usize = 20;

/// A conversation (`conv_…`): an ordered, user-owned list of items that responses read as their
/// history and append to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// `conv_…`.
    pub id: String,
    /// Always `conversation`.
    #[serde(default = "conversation_object")]
    pub object: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Up to 16 string pairs.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

fn conversation_object() -> String {
    "conversation".to_string()
}

impl Conversation {
    /// A conversation created now-ish.
    pub fn new(id: String, created_at: u64, metadata: Map<String, Value>) -> Self {
        Conversation { id, object: conversation_object(), created_at, metadata }
    }
}

/// `POST /conversations`: `{items?, metadata?}`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateConversation {
    /// Initial items, at most [`MAX_ITEMS_PER_REQUEST`].
    pub items: Vec<Item>,
    /// Metadata.
    pub metadata: Map<String, Value>,
}

impl CreateConversation {
    /// Parses and validates a body; an empty body is an empty conversation.
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(CreateConversation { items: Vec::new(), metadata: Map::new() });
        }
        let obj = body_object(body)?;
        let mut c = Checker { details: Vec::new() };
        let items = conversation_items(&mut c, obj.get("items"), false)?;
        let metadata = parse_metadata(&mut c, obj.get("metadata"));
        c.finish()?;
        Ok(CreateConversation { items, metadata })
    }
}

/// `POST /conversations/{id}`: `{metadata}`.
pub fn parse_update(body: &[u8]) -> Result<Map<String, Value>, RequestError> {
    let obj = body_object(body)?;
    let mut c = Checker { details: Vec::new() };
    if !obj.contains_key("metadata") {
        c.bad("$.metadata", "'metadata' is required.");
    }
    let metadata = parse_metadata(&mut c, obj.get("metadata"));
    c.finish()?;
    Ok(metadata)
}

/// `POST /conversations/{id}/items`: `{items}` (required, 1 to [`MAX_ITEMS_PER_REQUEST`]).
pub fn parse_add_items(body: &[u8]) -> Result<Vec<Item>, RequestError> {
    let obj = body_object(body)?;
    let mut c = Checker { details: Vec::new() };
    let items = conversation_items(&mut c, obj.get("items"), true)?;
    c.finish()?;
    Ok(items)
}

fn conversation_items(c: &mut Checker, v: Option<&Value>, required: bool) -> Result<Vec<Item>, RequestError> {
    match v {
        None | Some(Value::Null) if required => c.bad("$.items", "'items' is required."),
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) if a.len() > MAX_ITEMS_PER_REQUEST => {
            return Err(RequestError::simple(
                "invalid_request_error",
                format!("'items' may hold at most {MAX_ITEMS_PER_REQUEST} items; got {}.", a.len()),
                Some("items"),
            ));
        }
        Some(Value::Array(a)) if a.is_empty() && required => c.bad("$.items", "'items' must not be empty."),
        Some(Value::Array(_)) => {}
        Some(_) => c.bad("$.items", "'items' must be an array of items."),
    }
    let items = parse_items(c, v.filter(|v| v.is_array()), "$.items");
    for (i, item) in items.iter().enumerate() {
        if matches!(item, Item::ItemReference(_)) {
            c.bad(format!("$.items[{i}]"), "Item references cannot be added to a conversation.");
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_accepts_nothing_items_and_metadata() {
        assert!(CreateConversation::parse(b"").unwrap().items.is_empty());
        let c = CreateConversation::parse(
            br#"{"items":[{"type":"message","role":"user","content":"hi"}],"metadata":{"k":"v"}}"#,
        )
        .unwrap();
        assert_eq!(c.items.len(), 1);
        assert_eq!(c.metadata["k"], "v");
    }

    #[test]
    fn invalid_items_name_their_index() {
        let e =
            CreateConversation::parse(br#"{"items":[{"role":"user","content":"a"},{"type":"message"}]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("$.items[1]"));
        let e = parse_add_items(br#"{"items":[{"type":"item_reference","id":"msg_1"}]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("$.items[0]"));
        let e = parse_add_items(br#"{"items":[]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("$.items"));
        let many = format!(r#"{{"items":[{}]}}"#, vec![r#"{"role":"user","content":"a"}"#; 21].join(","));
        assert_eq!(parse_add_items(many.as_bytes()).unwrap_err().param.as_deref(), Some("items"));
    }

    #[test]
    fn update_needs_metadata() {
        assert_eq!(parse_update(br#"{"metadata":{"a":"b"}}"#).unwrap()["a"], "b");
        assert_eq!(parse_update(b"{}").unwrap_err().param.as_deref(), Some("$.metadata"));
        assert_eq!(parse_update(br#"{"metadata":{"a":1}}"#).unwrap_err().param.as_deref(), Some("$.metadata.a"));
    }
}
