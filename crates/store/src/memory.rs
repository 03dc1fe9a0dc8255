//! The embedded in-memory store, bounded by count, bytes and age.
//!
//! Records are kept as their JSON: typed responses cost about twice their serialized size, and
//! the byte cap should bound what the store really holds. Ids are shared `Arc<str>`s and the item
//! index is keyed by a hash of the item id, so bookkeeping stays small next to the JSON.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use agenthost_responses::{Conversation, Item, Response, ResponseStatus};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use self::conversation::{Conv, parse_items};
use crate::{
    Caller, HISTORY_LIMIT, HistorySource, Lookup, Page, PageQuery, Record, ResponseStore, StoreError, StoreStats,
    UserKey,
};

mod conversation;

/// Limits of the memory store. The oldest responses are evicted first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryStoreConfig {
    /// Most responses kept.
    pub max_responses: usize,
    /// Most bytes kept (serialized records plus bookkeeping).
    pub max_bytes: usize,
    /// How long a response is kept after it was last written.
    pub ttl: Duration,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        MemoryStoreConfig { max_responses: 100_000, max_bytes: 16 * 1024 * 1024, ttl: Duration::from_secs(24 * 3600) }
    }
}

/// Bookkeeping per record beyond its JSON (map entry, order queue, shared id), counted toward
/// the byte cap.
const ENTRY_OVERHEAD: usize = 160;
/// Bookkeeping per indexed item id.
const INDEX_OVERHEAD: usize = 48;

#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    #[serde(borrow)]
    user: Cow<'a, str>,
    response: Cow<'a, Response>,
    input: Cow<'a, [Item]>,
}

struct Entry {
    user: Arc<str>,
    /// Shared so readers copy a handle under the lock and parse after releasing it.
    json: Arc<[u8]>,
    conversation: Option<Arc<str>>,
    /// Its conversation's items before this mark are its history.
    conv_mark: u64,
    previous: Option<Arc<str>>,
    failed: bool,
    item_keys: Box<[u64]>,
    written: Instant,
}

impl Entry {
    fn bytes(&self) -> usize {
        self.json.len() + ENTRY_OVERHEAD + self.item_keys.len() * INDEX_OVERHEAD
    }

    /// What history takes from this record: its JSON and item count; nothing when it failed
    /// (items of failed responses are not history).
    fn history_part(&self) -> Option<(Arc<[u8]>, usize)> {
        (!self.failed).then(|| (self.json.clone(), self.item_keys.len()))
    }
}

/// The typed record. Only this store wrote the JSON, so a failure is a bug; it reads as a
/// missing record rather than a panic.
fn parse(json: &[u8]) -> Option<Record> {
    let s: Stored<'_> = serde_json::from_slice(json).ok()?;
    Some(Record { user: UserKey::new(&s.user), response: s.response.into_owned(), input: s.input.into_owned() })
}

/// History items from records collected newest first (with their item counts, used only to stop
/// collecting early), oldest first and capped at [`HISTORY_LIMIT`]. Runs outside the lock.
fn history_items(parts: Vec<(Arc<[u8]>, usize)>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    for (json, _) in parts {
        let Some(record) = parse(&json) else { continue };
        let own: Vec<Item> = record.input.into_iter().chain(record.response.output).collect();
        out.extend(own.into_iter().rev());
        if out.len() >= HISTORY_LIMIT {
            out.truncate(HISTORY_LIMIT);
            break;
        }
    }
    out.reverse();
    out
}

static ITEM_HASHER: LazyLock<std::collections::hash_map::RandomState> =
    LazyLock::new(std::collections::hash_map::RandomState::new);

fn item_key(id: &str) -> u64 {
    ITEM_HASHER.hash_one(id)
}

/// (user, conversation id).
type ConversationKey = (Arc<str>, Arc<str>);

#[derive(Default)]
struct Inner {
    records: HashMap<Arc<str>, Entry>,
    /// Insertion order with write time; stale pairs (rewritten or deleted ids) are skipped.
    order: VecDeque<(Arc<str>, Instant)>,
    /// Conversations with their items.
    conversations: HashMap<ConversationKey, Conv>,
    /// Conversation write order, for TTL and the byte cap; stale pairs are skipped.
    conversation_order: VecDeque<(ConversationKey, Instant)>,
    /// Hash of an item id -> owning response id (verified on lookup).
    items: HashMap<u64, Arc<str>>,
    tombstones: HashMap<Arc<str>, Arc<str>>,
    tombstone_order: VecDeque<Arc<str>>,
    bytes: usize,
    evictions: u64,
}

/// The bounded in-memory store.
pub struct MemoryStore {
    config: MemoryStoreConfig,
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// A store with these limits.
    pub fn new(config: MemoryStoreConfig) -> Self {
        MemoryStore { config, inner: Mutex::new(Inner::default()) }
    }
}

impl Inner {
    fn remove(&mut self, id: &str) -> Option<Entry> {
        let (key, entry) = self.records.remove_entry(id)?;
        self.bytes -= entry.bytes();
        for k in entry.item_keys.iter() {
            if self.items.get(k).is_some_and(|owner| owner.as_ref() == id) {
                self.items.remove(k);
            }
        }
        let _ = key;
        Some(entry)
    }

    fn remove_conversation(&mut self, key: &ConversationKey) -> Option<Conv> {
        let conv = self.conversations.remove(key)?;
        self.bytes -= conv.bytes();
        Some(conv)
    }

    /// Re-counts a conversation's bytes around a change and records the write.
    fn touch_conversation(&mut self, key: &ConversationKey, change: impl FnOnce(&mut Conv)) -> bool {
        let Some(conv) = self.conversations.get_mut(key) else { return false };
        let before = conv.bytes();
        change(conv);
        let (after, written) = (conv.bytes(), conv.written);
        self.bytes = self.bytes - before + after;
        self.conversation_order.push_back((key.clone(), written));
        true
    }

    /// Conversations past the TTL, then the oldest while over the byte cap.
    fn evict_conversations(&mut self, config: &MemoryStoreConfig, now: Instant) {
        while let Some((key, written)) = self.conversation_order.front().cloned() {
            let live = self.conversations.get(&key).is_some_and(|c| c.written == written);
            if !live {
                self.conversation_order.pop_front();
                continue;
            }
            if self.bytes <= config.max_bytes && now.duration_since(written) <= config.ttl {
                break;
            }
            self.conversation_order.pop_front();
            self.remove_conversation(&key);
            self.evictions += 1;
        }
    }

    fn conversation(&self, user: &str, id: &str, ttl: Duration, now: Instant) -> Option<&Conv> {
        self.conversations.get(&(Arc::from(user), Arc::from(id))).filter(|c| now.duration_since(c.written) <= ttl)
    }

    fn evict(&mut self, config: &MemoryStoreConfig, now: Instant) {
        while let Some((id, written)) = self.order.front().cloned() {
            let live = self.records.get(&id).is_some_and(|e| e.written == written);
            if !live {
                self.order.pop_front();
                continue;
            }
            let over = self.records.len() > config.max_responses
                || self.bytes > config.max_bytes
                || now.duration_since(written) > config.ttl;
            if !over {
                break;
            }
            self.order.pop_front();
            self.remove(&id);
            self.evictions += 1;
        }
        self.evict_conversations(config, now);
    }

    fn visible(&self, user: &str, id: &str, ttl: Duration, now: Instant) -> Lookup<&Entry> {
        match self.records.get(id) {
            Some(e) if e.user.as_ref() == user && now.duration_since(e.written) <= ttl => Lookup::Found(e),
            Some(_) => Lookup::Missing,
            None if self.tombstones.get(id).is_some_and(|u| u.as_ref() == user) => Lookup::Deleted,
            None => Lookup::Missing,
        }
    }

    /// Records of the chain that `start` continues, newest first, until they hold enough items
    /// for the history limit; `start` itself only when `include_start`.
    fn chain_parts(&self, start: &Entry, include_start: bool) -> Vec<(Arc<[u8]>, usize)> {
        let mut out = Vec::new();
        let mut items = 0;
        let mut current = if include_start {
            Some(start)
        } else {
            start.previous.as_deref().and_then(|p| self.records.get(p)).filter(|prev| prev.user == start.user)
        };
        let mut hops = 0;
        while let Some(entry) = current {
            if let Some(part) = entry.history_part() {
                items += part.1;
                out.push(part);
            }
            hops += 1;
            if items >= HISTORY_LIMIT || hops > HISTORY_LIMIT * 10 {
                break;
            }
            current =
                entry.previous.as_deref().and_then(|p| self.records.get(p)).filter(|prev| prev.user == entry.user);
        }
        out
    }

    /// The JSON of a conversation's history items before `mark` (all when `None`).
    fn conversation_history(
        &self,
        user: &str,
        conv: &str,
        mark: Option<u64>,
        ttl: Duration,
        now: Instant,
    ) -> Vec<Arc<[u8]>> {
        self.conversation(user, conv, ttl, now).map(|c| c.history_before(mark.unwrap_or(u64::MAX))).unwrap_or_default()
    }
}

fn store_error(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("cannot serialize a response: {e}"))
}

#[async_trait::async_trait]
impl ResponseStore for MemoryStore {
    async fn put(&self, _caller: &Caller, record: Record) -> Result<(), StoreError> {
        let now = Instant::now();
        let json: Arc<[u8]> = serde_json::to_vec(&Stored {
            user: Cow::Borrowed(record.user.partition()),
            response: Cow::Borrowed(&record.response),
            input: Cow::Borrowed(&record.input),
        })
        .map_err(store_error)?
        .into();
        let item_keys: Box<[u64]> =
            record.input.iter().chain(&record.response.output).filter_map(Item::id).map(item_key).collect();
        let id: Arc<str> = Arc::from(record.response.id.as_str());
        let user: Arc<str> = Arc::from(record.user.partition());
        let conversation = record.response.conversation.as_ref().map(|c| Arc::<str>::from(c.id.as_str()));
        let finished = !matches!(record.response.status, ResponseStatus::Queued | ResponseStatus::InProgress);
        let failed = record.response.status == ResponseStatus::Failed;
        let joins_conversation = finished && !failed && !record.response.awaits_consent();
        let mut entry = Entry {
            user: user.clone(),
            json,
            conversation: conversation.clone(),
            conv_mark: 0,
            previous: record.response.previous_response_id.as_deref().map(Arc::from),
            failed,
            item_keys,
            written: now,
        };

        let mut inner = self.inner.lock();
        inner.remove(&id);
        for k in entry.item_keys.iter() {
            inner.items.insert(*k, id.clone());
        }
        if let Some(conv) = conversation {
            // A response on a conversation (created by the API or named only in requests) appends
            // its input and output when it ends, unless it failed or stopped for consent (the
            // client re-sends the same prompt); a rewrite replaces them.
            let key: ConversationKey = (user, conv.clone());
            if !inner.conversations.contains_key(&key) {
                let created = Conversation::new(conv.to_string(), record.response.created_at, Map::new());
                inner.conversations.insert(key.clone(), Conv::new(created, now));
                inner.bytes += inner.conversations.get(&key).map_or(0, Conv::bytes);
            }
            let mut appended = Ok(0);
            inner.touch_conversation(&key, |c| {
                c.remove_response(&id);
                appended = if joins_conversation {
                    let items: Vec<Item> = record.input.iter().chain(&record.response.output).cloned().collect();
                    c.append(&items, Some(&id), now)
                } else {
                    Ok(c.next_seq())
                };
            });
            entry.conv_mark = appended.map_err(store_error)?;
        }
        inner.bytes += entry.bytes();
        inner.records.insert(id.clone(), entry);
        inner.order.push_back((id, now));
        inner.evict(&self.config, now);
        Ok(())
    }

    async fn get(&self, caller: &Caller, id: &str) -> Result<Lookup<Arc<Record>>, StoreError> {
        let user = caller.user().partition();
        // Copy the JSON out so parsing happens outside the lock.
        let json = {
            let inner = self.inner.lock();
            match inner.visible(user, id, self.config.ttl, Instant::now()) {
                Lookup::Found(e) => e.json.clone(),
                Lookup::Deleted => return Ok(Lookup::Deleted),
                Lookup::Missing => return Ok(Lookup::Missing),
            }
        };
        let s: Stored<'_> = serde_json::from_slice(&json).map_err(store_error)?;
        Ok(Lookup::Found(Arc::new(Record {
            user: UserKey::new(&s.user),
            response: s.response.into_owned(),
            input: s.input.into_owned(),
        })))
    }

    async fn delete(&self, caller: &Caller, id: &str) -> Result<Lookup<()>, StoreError> {
        let user = caller.user().partition();
        let mut inner = self.inner.lock();
        match inner.visible(user, id, self.config.ttl, Instant::now()) {
            Lookup::Found(_) => {}
            Lookup::Deleted => return Ok(Lookup::Deleted),
            Lookup::Missing => return Ok(Lookup::Missing),
        }
        inner.remove(id);
        let key: Arc<str> = Arc::from(id);
        inner.tombstones.insert(key.clone(), Arc::from(user));
        inner.tombstone_order.push_back(key);
        while inner.tombstone_order.len() > self.config.max_responses {
            if let Some(old) = inner.tombstone_order.pop_front() {
                inner.tombstones.remove(&old);
            }
        }
        Ok(Lookup::Found(()))
    }

    async fn history(&self, caller: &Caller, source: HistorySource<'_>) -> Result<Lookup<Vec<Item>>, StoreError> {
        let user = caller.user().partition();
        let now = Instant::now();
        let parts = {
            let inner = self.inner.lock();
            match source {
                HistorySource::Previous(id) => match inner.visible(user, id, self.config.ttl, now) {
                    Lookup::Found(e) => inner.chain_parts(e, true),
                    _ => return Ok(Lookup::Missing),
                },
                HistorySource::Conversation(conv) => {
                    let jsons = inner.conversation_history(user, conv, None, self.config.ttl, now);
                    drop(inner);
                    return Ok(Lookup::Found(parse_items(&jsons)));
                }
            }
        };
        Ok(Lookup::Found(history_items(parts)))
    }

    async fn input_items(&self, caller: &Caller, id: &str, page: &PageQuery) -> Result<Lookup<Page>, StoreError> {
        let user = caller.user().partition();
        let now = Instant::now();
        let (chain, conv, own) = {
            let inner = self.inner.lock();
            let entry = match inner.visible(user, id, self.config.ttl, now) {
                Lookup::Found(e) => e,
                Lookup::Deleted => return Ok(Lookup::Deleted),
                Lookup::Missing => return Ok(Lookup::Missing),
            };
            match &entry.conversation {
                Some(conv) => (
                    Vec::new(),
                    inner.conversation_history(user, conv, Some(entry.conv_mark), self.config.ttl, now),
                    entry.json.clone(),
                ),
                None => (inner.chain_parts(entry, false), Vec::new(), entry.json.clone()),
            }
        };
        let mut all = if conv.is_empty() { history_items(chain) } else { parse_items(&conv) };
        all.extend(parse(&own).map(|r| r.input).unwrap_or_default());
        Ok(Lookup::Found(page.window(all)))
    }

    async fn items(&self, caller: &Caller, ids: &[String]) -> Result<Vec<Option<Item>>, StoreError> {
        let user = caller.user().partition();
        let owners: Vec<Option<Arc<[u8]>>> = {
            let inner = self.inner.lock();
            ids.iter()
                .map(|item_id| {
                    let owner = inner.items.get(&item_key(item_id))?;
                    inner.records.get(owner).filter(|e| e.user.as_ref() == user).map(|e| e.json.clone())
                })
                .collect()
        };
        Ok(ids
            .iter()
            .zip(owners)
            .map(|(item_id, json)| {
                let record = parse(&json?)?;
                record.input.into_iter().chain(record.response.output).find(|i| i.id() == Some(item_id.as_str()))
            })
            .collect())
    }

    async fn create_conversation(
        &self,
        caller: &Caller,
        conversation: Conversation,
        items: Vec<Item>,
    ) -> Result<(), StoreError> {
        let user = caller.user();
        let now = Instant::now();
        let key: ConversationKey = (Arc::from(user.partition()), Arc::from(conversation.id.as_str()));
        let mut conv = Conv::new(conversation, now);
        conv.append(&items, None, now).map_err(store_error)?;
        let mut inner = self.inner.lock();
        inner.remove_conversation(&key);
        inner.bytes += conv.bytes();
        inner.conversations.insert(key.clone(), conv);
        inner.conversation_order.push_back((key, now));
        inner.evict(&self.config, now);
        Ok(())
    }

    async fn conversation(&self, caller: &Caller, id: &str) -> Result<Lookup<Conversation>, StoreError> {
        let user = caller.user();
        let inner = self.inner.lock();
        Ok(match inner.conversation(user.partition(), id, self.config.ttl, Instant::now()) {
            Some(c) => Lookup::Found(c.conversation.clone()),
            None => Lookup::Missing,
        })
    }

    async fn update_conversation(
        &self,
        caller: &Caller,
        id: &str,
        metadata: Map<String, Value>,
    ) -> Result<Lookup<Conversation>, StoreError> {
        let user = caller.user();
        let now = Instant::now();
        let mut inner = self.inner.lock();
        if inner.conversation(user.partition(), id, self.config.ttl, now).is_none() {
            return Ok(Lookup::Missing);
        }
        let key: ConversationKey = (Arc::from(user.partition()), Arc::from(id));
        let mut updated = None;
        inner.touch_conversation(&key, |c| {
            c.conversation.metadata = metadata;
            c.written = now;
            updated = Some(c.conversation.clone());
        });
        Ok(updated.map_or(Lookup::Missing, Lookup::Found))
    }

    async fn delete_conversation(&self, caller: &Caller, id: &str) -> Result<Lookup<()>, StoreError> {
        let user = caller.user();
        let mut inner = self.inner.lock();
        if inner.conversation(user.partition(), id, self.config.ttl, Instant::now()).is_none() {
            return Ok(Lookup::Missing);
        }
        inner.remove_conversation(&(Arc::from(user.partition()), Arc::from(id)));
        Ok(Lookup::Found(()))
    }

    async fn add_conversation_items(
        &self,
        caller: &Caller,
        id: &str,
        items: Vec<Item>,
    ) -> Result<Lookup<()>, StoreError> {
        let user = caller.user();
        let now = Instant::now();
        let mut inner = self.inner.lock();
        if inner.conversation(user.partition(), id, self.config.ttl, now).is_none() {
            return Ok(Lookup::Missing);
        }
        let mut appended = Ok(0);
        inner.touch_conversation(&(Arc::from(user.partition()), Arc::from(id)), |c| {
            appended = c.append(&items, None, now);
        });
        appended.map_err(store_error)?;
        inner.evict(&self.config, now);
        Ok(Lookup::Found(()))
    }

    async fn conversation_items(
        &self,
        caller: &Caller,
        id: &str,
        page: &PageQuery,
    ) -> Result<Lookup<Page>, StoreError> {
        let user = caller.user();
        let all = {
            let inner = self.inner.lock();
            match inner.conversation(user.partition(), id, self.config.ttl, Instant::now()) {
                Some(c) => c.all(),
                None => return Ok(Lookup::Missing),
            }
        };
        let jsons: Vec<Arc<[u8]>> = all.into_iter().collect();
        Ok(Lookup::Found(page.window(parse_items(&jsons))))
    }

    async fn conversation_item(
        &self,
        caller: &Caller,
        id: &str,
        item_id: &str,
    ) -> Result<Lookup<Option<Item>>, StoreError> {
        let user = caller.user();
        let json = {
            let inner = self.inner.lock();
            match inner.conversation(user.partition(), id, self.config.ttl, Instant::now()) {
                Some(c) => c.item(item_id),
                None => return Ok(Lookup::Missing),
            }
        };
        Ok(Lookup::Found(json.and_then(|j| parse_items(&[j]).pop())))
    }

    async fn delete_conversation_item(
        &self,
        caller: &Caller,
        id: &str,
        item_id: &str,
    ) -> Result<Lookup<Option<Conversation>>, StoreError> {
        let user = caller.user();
        let now = Instant::now();
        let mut inner = self.inner.lock();
        if inner.conversation(user.partition(), id, self.config.ttl, now).is_none() {
            return Ok(Lookup::Missing);
        }
        let mut outcome = None;
        inner.touch_conversation(&(Arc::from(user.partition()), Arc::from(id)), |c| {
            outcome = c.remove_item(item_id, now).then(|| c.conversation.clone());
        });
        Ok(Lookup::Found(outcome))
    }

    fn stats(&self) -> StoreStats {
        let inner = self.inner.lock();
        StoreStats { responses: inner.records.len(), bytes: inner.bytes, evictions: inner.evictions }
    }
}
