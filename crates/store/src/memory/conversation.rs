//! Conversations in the memory store: each is its own ordered list of items (kept as JSON), fed
//! by the Conversations API and by every response on it when that response ends.

use std::sync::Arc;
use std::time::Instant;

use agenthost_responses::{Conversation, Item};

use crate::HISTORY_LIMIT;

/// Bookkeeping per conversation and per item beyond their JSON, counted toward the byte cap.
const CONVERSATION_OVERHEAD: usize = 200;
const ITEM_OVERHEAD: usize = 64;

/// One item of a conversation.
pub(super) struct ConvItem {
    pub(super) id: Arc<str>,
    /// Position in the conversation; never reused, so marks survive deletions.
    pub(super) seq: u64,
    /// The response that appended it, if any.
    pub(super) response: Option<Arc<str>>,
    pub(super) json: Arc<[u8]>,
}

/// A conversation and its items.
pub(super) struct Conv {
    pub(super) conversation: Conversation,
    pub(super) items: Vec<ConvItem>,
    next_seq: u64,
    pub(super) written: Instant,
}

impl Conv {
    pub(super) fn new(conversation: Conversation, now: Instant) -> Self {
        Conv { conversation, items: Vec::new(), next_seq: 0, written: now }
    }

    /// The sequence number the next item gets.
    pub(super) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub(super) fn bytes(&self) -> usize {
        CONVERSATION_OVERHEAD + self.items.iter().map(|i| i.json.len() + ITEM_OVERHEAD).sum::<usize>()
    }

    /// Appends items (which must have ids) and returns the first one's sequence number.
    pub(super) fn append(
        &mut self,
        items: &[Item],
        response: Option<&Arc<str>>,
        now: Instant,
    ) -> Result<u64, serde_json::Error> {
        let first = self.next_seq;
        for item in items {
            let json: Arc<[u8]> = serde_json::to_vec(item)?.into();
            let id: Arc<str> = Arc::from(item.id().unwrap_or_default());
            self.items.push(ConvItem { id, seq: self.next_seq, response: response.cloned(), json });
            self.next_seq += 1;
        }
        self.written = now;
        Ok(first)
    }

    /// Drops the items a response appended (it is being rewritten).
    pub(super) fn remove_response(&mut self, response: &str) {
        self.items.retain(|i| i.response.as_deref() != Some(response));
    }

    /// The JSON of the last [`HISTORY_LIMIT`] items before `mark`, oldest first.
    pub(super) fn history_before(&self, mark: u64) -> Vec<Arc<[u8]>> {
        let before: Vec<&ConvItem> = self.items.iter().filter(|i| i.seq < mark).collect();
        let skip = before.len().saturating_sub(HISTORY_LIMIT);
        before[skip..].iter().map(|i| i.json.clone()).collect()
    }

    /// Every item's JSON, oldest first.
    pub(super) fn all(&self) -> Vec<Arc<[u8]>> {
        self.items.iter().map(|i| i.json.clone()).collect()
    }

    pub(super) fn item(&self, id: &str) -> Option<Arc<[u8]>> {
        self.items.iter().find(|i| i.id.as_ref() == id).map(|i| i.json.clone())
    }

    /// Removes item `id`; false when there is none.
    pub(super) fn remove_item(&mut self, id: &str, now: Instant) -> bool {
        let before = self.items.len();
        self.items.retain(|i| i.id.as_ref() != id);
        self.written = now;
        self.items.len() != before
    }
}

/// Items parsed from JSON this store wrote (a failure is a bug; the item is skipped).
pub(super) fn parse_items(jsons: &[Arc<[u8]>]) -> Vec<Item> {
    jsons.iter().filter_map(|j| serde_json::from_slice(j).ok()).collect()
}
