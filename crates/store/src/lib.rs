//! Stored responses: the [`ResponseStore`] trait and the bounded in-memory [`MemoryStore`].
//!
//! A store partitions everything by user: a lookup with another user's key behaves exactly as if
//! the response did not exist. History is derived from stored records on demand (a
//! `previous_response_id` chain or a conversation, oldest first, items of failed responses
//! excluded) rather than copied into every record, so a record costs only its own items.

#[cfg(feature = "conformance")]
pub mod conformance;
mod memory;

use std::sync::Arc;

pub use agenthost_platform::{Caller, UserKey};
use agenthost_responses::{Conversation, Item, Response};
use serde_json::{Map, Value};

pub use memory::{MemoryStore, MemoryStoreConfig};

/// Most history items a turn sees (§7.2 of the protocol reference).
pub const HISTORY_LIMIT: usize = 100;

/// A stored response with its input items.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The owning user.
    pub user: UserKey,
    /// The response snapshot; its `previous_response_id` and `conversation` link it to history.
    pub response: Response,
    /// This request's input items, with ids. A backend whose service returns the response alone
    /// (the Foundry storage API) reads records back with no input: `input_items` pages it there.
    pub input: Vec<Item>,
}

/// The result of a lookup.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup<T> {
    /// Present and owned by the asking user.
    Found(T),
    /// Deleted by its owner.
    Deleted,
    /// Unknown, expired, or owned by someone else.
    Missing,
}

/// Where a turn's history comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistorySource<'a> {
    /// The chain ending at this response (inclusive).
    Previous(&'a str),
    /// Every response of this conversation.
    Conversation(&'a str),
}

/// Page request for `input_items`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageQuery {
    /// 1..=100.
    pub limit: usize,
    /// Newest first when true.
    pub descending: bool,
    /// Start after this item id.
    pub after: Option<String>,
    /// Stop before this item id.
    pub before: Option<String>,
}

impl PageQuery {
    /// The page this query asks for out of `all` (every item, oldest first): the order, the
    /// `after`/`before` window (an unknown `after` gives an empty page, an unknown `before` no
    /// bound), then at most `limit` items.
    pub fn window(&self, mut all: Vec<Item>) -> Page {
        if self.descending {
            all.reverse();
        }
        let position = |id: &str| all.iter().position(|i| i.id() == Some(id));
        let start = self.after.as_deref().map_or(0, |after| position(after).map_or(all.len(), |p| p + 1));
        let end = self.before.as_deref().map_or(all.len(), |before| position(before).unwrap_or(all.len()));
        if start >= end {
            return Page { data: Vec::new(), has_more: false };
        }
        let has_more = end - start > self.limit;
        all.truncate(end.min(start.saturating_add(self.limit)));
        all.drain(..start);
        Page { data: all, has_more }
    }
}

/// One page of items.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The items.
    pub data: Vec<Item>,
    /// Whether more items follow.
    pub has_more: bool,
}

/// Sizes and counters, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Responses held.
    pub responses: usize,
    /// Approximate serialized bytes held.
    pub bytes: usize,
    /// Responses evicted since start (cap or TTL).
    pub evictions: u64,
}

/// A store failure. The memory store fails only on records it cannot encode; backends with I/O
/// add the rest. [`StoreError::code`] is stable; messages may name the backend but never a
/// credential.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or refused the operation; retrying later may succeed.
    #[error("response store unavailable: {0}")]
    Unavailable(String),
    /// A record could not be encoded or decoded.
    #[error("response store record is not valid: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The stable code operators see in logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "store_unavailable",
            StoreError::Corrupt(_) => "store_corrupt",
        }
    }
}

/// Where responses live. Every method takes the [`Caller`] it acts for: backends of our own
/// partition by its user, the Foundry storage backend forwards its call id (the service
/// partitions by the identity that carries).
#[async_trait::async_trait]
pub trait ResponseStore: Send + Sync {
    /// Stores a record, replacing one with the same id. `record.user` owns it; `caller` is the
    /// request it is written for (the same user), whose call id a platform backend forwards.
    async fn put(&self, caller: &Caller, record: Record) -> Result<(), StoreError>;

    /// The record `id` as `user` sees it.
    async fn get(&self, caller: &Caller, id: &str) -> Result<Lookup<Arc<Record>>, StoreError>;

    /// Deletes `id`, leaving a tombstone.
    async fn delete(&self, caller: &Caller, id: &str) -> Result<Lookup<()>, StoreError>;

    /// History items, oldest first, at most [`HISTORY_LIMIT`]. `Missing` when a
    /// `previous_response_id` is unknown to this user; an unknown conversation is empty history.
    async fn history(&self, caller: &Caller, source: HistorySource<'_>) -> Result<Lookup<Vec<Item>>, StoreError>;

    /// A page of `id`'s input items: its history, then its own input.
    async fn input_items(&self, caller: &Caller, id: &str, page: &PageQuery) -> Result<Lookup<Page>, StoreError>;

    /// Stored items by id (for `item_reference` inputs); `None` for unknown or foreign ids.
    async fn items(&self, caller: &Caller, ids: &[String]) -> Result<Vec<Option<Item>>, StoreError>;

    /// Creates a conversation holding `items` (which have ids).
    async fn create_conversation(
        &self,
        caller: &Caller,
        conversation: Conversation,
        items: Vec<Item>,
    ) -> Result<(), StoreError>;

    /// Conversation `id` as `user` sees it. A conversation exists once created through the API
    /// or once a stored response on it has been written.
    async fn conversation(&self, caller: &Caller, id: &str) -> Result<Lookup<Conversation>, StoreError>;

    /// Replaces a conversation's metadata.
    async fn update_conversation(
        &self,
        caller: &Caller,
        id: &str,
        metadata: Map<String, Value>,
    ) -> Result<Lookup<Conversation>, StoreError>;

    /// Deletes a conversation and its items (not the responses that produced them).
    async fn delete_conversation(&self, caller: &Caller, id: &str) -> Result<Lookup<()>, StoreError>;

    /// Appends `items` (which have ids) to a conversation.
    async fn add_conversation_items(
        &self,
        caller: &Caller,
        id: &str,
        items: Vec<Item>,
    ) -> Result<Lookup<()>, StoreError>;

    /// A page of a conversation's items.
    async fn conversation_items(&self, caller: &Caller, id: &str, page: &PageQuery)
    -> Result<Lookup<Page>, StoreError>;

    /// One item of a conversation: `Found(None)` when the conversation has no such item.
    async fn conversation_item(
        &self,
        caller: &Caller,
        id: &str,
        item_id: &str,
    ) -> Result<Lookup<Option<Item>>, StoreError>;

    /// Deletes one item of a conversation; `Found(None)` when it has no such item.
    async fn delete_conversation_item(
        &self,
        caller: &Caller,
        id: &str,
        item_id: &str,
    ) -> Result<Lookup<Option<Conversation>>, StoreError>;

    /// Current sizes and counters.
    fn stats(&self) -> StoreStats;
}

#[cfg(test)]
mod page_tests {
    use super::*;

    fn items(ids: &[&str]) -> Vec<Item> {
        ids.iter().map(|id| Item::Other(serde_json::json!({ "type": "x", "id": id }))).collect()
    }

    fn ids(page: &Page) -> Vec<&str> {
        page.data.iter().filter_map(Item::id).collect()
    }

    fn query(limit: usize, descending: bool, after: Option<&str>, before: Option<&str>) -> PageQuery {
        PageQuery { limit, descending, after: after.map(Into::into), before: before.map(Into::into) }
    }

    #[test]
    fn a_window_takes_order_bounds_and_limit() {
        let all = || items(&["a", "b", "c", "d", "e"]);
        let page = query(2, false, None, None).window(all());
        assert_eq!((ids(&page), page.has_more), (vec!["a", "b"], true));
        let page = query(2, true, None, None).window(all());
        assert_eq!((ids(&page), page.has_more), (vec!["e", "d"], true));
        let page = query(2, false, Some("b"), None).window(all());
        assert_eq!((ids(&page), page.has_more), (vec!["c", "d"], true));
        let page = query(5, false, Some("b"), Some("e")).window(all());
        assert_eq!((ids(&page), page.has_more), (vec!["c", "d"], false));
        let page = query(2, false, Some("c"), Some("e")).window(all());
        assert_eq!((ids(&page), page.has_more), (vec!["d"], false));
        let page = query(2, true, Some("d"), None).window(all());
        assert_eq!((ids(&page), page.has_more), (vec!["c", "b"], true));
    }

    #[test]
    fn unknown_or_crossed_bounds() {
        let all = || items(&["a", "b", "c"]);
        let page = query(10, false, Some("zz"), None).window(all());
        assert_eq!((ids(&page), page.has_more), (Vec::<&str>::new(), false));
        let page = query(10, false, None, Some("zz")).window(all());
        assert_eq!(ids(&page), vec!["a", "b", "c"]);
        let page = query(10, false, Some("c"), Some("a")).window(all());
        assert_eq!((ids(&page), page.has_more), (Vec::<&str>::new(), false));
        let page = query(3, false, None, None).window(all());
        assert!(!page.has_more);
    }
}
