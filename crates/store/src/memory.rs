//! The embedded in-memory store, bounded by count, bytes and age.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agenthost_responses::{Item, ResponseStatus};
use parking_lot::Mutex;

use crate::{HISTORY_LIMIT, HistorySource, Lookup, Page, PageQuery, Record, ResponseStore, StoreError, StoreStats};

/// Limits of the memory store. The oldest responses are evicted first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryStoreConfig {
    /// Most responses kept.
    pub max_responses: usize,
    /// Most approximate serialized bytes kept.
    pub max_bytes: usize,
    /// How long a response is kept after it was last written.
    pub ttl: Duration,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        MemoryStoreConfig { max_responses: 100_000, max_bytes: 256 * 1024 * 1024, ttl: Duration::from_secs(24 * 3600) }
    }
}

struct Entry {
    record: Arc<Record>,
    bytes: usize,
    written: Instant,
}

#[derive(Default)]
struct Inner {
    records: HashMap<String, Entry>,
    /// Insertion order with write time; stale pairs (rewritten or deleted ids) are skipped.
    order: VecDeque<(String, Instant)>,
    conversations: HashMap<(String, String), Vec<String>>,
    /// Item id -> owning response id.
    items: HashMap<String, String>,
    tombstones: HashMap<String, String>,
    tombstone_order: VecDeque<String>,
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

struct Counter(usize);
impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn approx_bytes(record: &Record) -> usize {
    let mut c = Counter(0);
    let _ = serde_json::to_writer(&mut c, &record.response);
    let _ = serde_json::to_writer(&mut c, &record.input);
    c.0 + 128
}

impl Inner {
    fn remove(&mut self, id: &str) -> Option<Entry> {
        let entry = self.records.remove(id)?;
        self.bytes -= entry.bytes;
        for item in entry.record.input.iter().chain(&entry.record.response.output) {
            if let Some(item_id) = item.id() {
                self.items.remove(item_id);
            }
        }
        if let Some(conv) = &entry.record.response.conversation {
            let key = (entry.record.user.clone(), conv.id.clone());
            if let Some(list) = self.conversations.get_mut(&key) {
                list.retain(|r| r != id);
                if list.is_empty() {
                    self.conversations.remove(&key);
                }
            }
        }
        Some(entry)
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
    }

    fn visible(&self, user: &str, id: &str, ttl: Duration, now: Instant) -> Lookup<&Arc<Record>> {
        match self.records.get(id) {
            Some(e) if e.record.user == user && now.duration_since(e.written) <= ttl => Lookup::Found(&e.record),
            Some(_) => Lookup::Missing,
            None if self.tombstones.get(id).is_some_and(|u| u == user) => Lookup::Deleted,
            None => Lookup::Missing,
        }
    }

    /// Own items of a record that history may include.
    fn own_items(record: &Record) -> impl DoubleEndedIterator<Item = &Item> {
        let failed = record.response.status == ResponseStatus::Failed;
        record.input.iter().chain(&record.response.output).filter(move |_| !failed)
    }

    /// The chain ending at `id` (inclusive when `include_self`), newest items first, capped.
    fn chain_rev(&self, start: Option<&Record>, include_self: bool) -> Vec<Item> {
        let mut out = Vec::new();
        let mut current = start;
        let mut first = true;
        let mut hops = 0;
        while let Some(record) = current {
            if !first || include_self {
                for item in Self::own_items(record).rev() {
                    if out.len() == HISTORY_LIMIT {
                        return out;
                    }
                    out.push(item.clone());
                }
            }
            first = false;
            hops += 1;
            if hops > HISTORY_LIMIT * 10 {
                break;
            }
            current = record
                .response
                .previous_response_id
                .as_deref()
                .and_then(|p| self.records.get(p))
                .map(|e| e.record.as_ref())
                .filter(|r| r.user == record.user);
        }
        out
    }

    fn conversation_rev(&self, user: &str, conv: &str, before: Option<&str>) -> Vec<Item> {
        let mut out = Vec::new();
        let Some(ids) = self.conversations.get(&(user.to_string(), conv.to_string())) else {
            return out;
        };
        let end = before.and_then(|b| ids.iter().position(|i| i == b)).unwrap_or(ids.len());
        for id in ids[..end].iter().rev() {
            if let Some(e) = self.records.get(id) {
                for item in Self::own_items(&e.record).rev() {
                    if out.len() == HISTORY_LIMIT {
                        return out;
                    }
                    out.push(item.clone());
                }
            }
        }
        out
    }
}

#[async_trait::async_trait]
impl ResponseStore for MemoryStore {
    async fn put(&self, record: Record) -> Result<(), StoreError> {
        let now = Instant::now();
        let bytes = approx_bytes(&record);
        let id = record.response.id.clone();
        let mut inner = self.inner.lock();
        let existed = inner.remove(&id).is_some();
        for item in record.input.iter().chain(&record.response.output) {
            if let Some(item_id) = item.id() {
                inner.items.insert(item_id.to_string(), id.clone());
            }
        }
        if let Some(conv) = &record.response.conversation {
            let list = inner.conversations.entry((record.user.clone(), conv.id.clone())).or_default();
            // A rewrite (background terminal update) keeps the response's place.
            if !existed || !list.contains(&id) {
                list.push(id.clone());
            }
        }
        inner.bytes += bytes;
        inner.records.insert(id.clone(), Entry { record: Arc::new(record), bytes, written: now });
        inner.order.push_back((id, now));
        inner.evict(&self.config, now);
        Ok(())
    }

    async fn get(&self, user: &str, id: &str) -> Result<Lookup<Arc<Record>>, StoreError> {
        let inner = self.inner.lock();
        Ok(match inner.visible(user, id, self.config.ttl, Instant::now()) {
            Lookup::Found(r) => Lookup::Found(r.clone()),
            Lookup::Deleted => Lookup::Deleted,
            Lookup::Missing => Lookup::Missing,
        })
    }

    async fn delete(&self, user: &str, id: &str) -> Result<Lookup<()>, StoreError> {
        let mut inner = self.inner.lock();
        match inner.visible(user, id, self.config.ttl, Instant::now()) {
            Lookup::Found(_) => {}
            Lookup::Deleted => return Ok(Lookup::Deleted),
            Lookup::Missing => return Ok(Lookup::Missing),
        }
        inner.remove(id);
        inner.tombstones.insert(id.to_string(), user.to_string());
        inner.tombstone_order.push_back(id.to_string());
        while inner.tombstone_order.len() > self.config.max_responses {
            if let Some(old) = inner.tombstone_order.pop_front() {
                inner.tombstones.remove(&old);
            }
        }
        Ok(Lookup::Found(()))
    }

    async fn history(&self, user: &str, source: HistorySource<'_>) -> Result<Lookup<Vec<Item>>, StoreError> {
        let inner = self.inner.lock();
        let mut items = match source {
            HistorySource::Previous(id) => match inner.visible(user, id, self.config.ttl, Instant::now()) {
                Lookup::Found(r) => inner.chain_rev(Some(r), true),
                _ => return Ok(Lookup::Missing),
            },
            HistorySource::Conversation(conv) => inner.conversation_rev(user, conv, None),
        };
        items.reverse();
        Ok(Lookup::Found(items))
    }

    async fn input_items(&self, user: &str, id: &str, page: &PageQuery) -> Result<Lookup<Page>, StoreError> {
        let inner = self.inner.lock();
        let record = match inner.visible(user, id, self.config.ttl, Instant::now()) {
            Lookup::Found(r) => r.clone(),
            Lookup::Deleted => return Ok(Lookup::Deleted),
            Lookup::Missing => return Ok(Lookup::Missing),
        };
        let mut all = match &record.response.conversation {
            Some(conv) => inner.conversation_rev(user, &conv.id, Some(id)),
            None => inner.chain_rev(Some(&record), false),
        };
        all.reverse();
        all.extend(record.input.iter().cloned());
        if page.descending {
            all.reverse();
        }
        let start = match &page.after {
            Some(after) => all.iter().position(|i| i.id() == Some(after.as_str())).map_or(all.len(), |p| p + 1),
            None => 0,
        };
        let end = match &page.before {
            Some(before) => all.iter().position(|i| i.id() == Some(before.as_str())).unwrap_or(all.len()),
            None => all.len(),
        };
        let window = if start < end { &all[start..end] } else { &[][..] };
        let has_more = window.len() > page.limit;
        Ok(Lookup::Found(Page { data: window.iter().take(page.limit).cloned().collect(), has_more }))
    }

    async fn items(&self, user: &str, ids: &[String]) -> Result<Vec<Option<Item>>, StoreError> {
        let inner = self.inner.lock();
        Ok(ids
            .iter()
            .map(|item_id| {
                let owner = inner.items.get(item_id)?;
                let entry = inner.records.get(owner).filter(|e| e.record.user == user)?;
                entry
                    .record
                    .input
                    .iter()
                    .chain(&entry.record.response.output)
                    .find(|i| i.id() == Some(item_id.as_str()))
                    .cloned()
            })
            .collect())
    }

    fn stats(&self) -> StoreStats {
        let inner = self.inner.lock();
        StoreStats { responses: inner.records.len(), bytes: inner.bytes, evictions: inner.evictions }
    }
}
