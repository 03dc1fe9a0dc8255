//! The Foundry storage [`ResponseStore`]: in Foundry hosted mode responses, their items and
//! conversations live in the platform's storage API at `{FOUNDRY_PROJECT_ENDPOINT}/storage/…`
//! (`?api-version=v1`), so every replica sees the same state without a database of ours.
//!
//! Routes (protocol reference §7.1):
//!
//! | Operation | Request |
//! |---|---|
//! | create | `POST storage/responses` `{"response":…,"input_items":[…],"history_item_ids":[…]}` |
//! | get | `GET storage/responses/{id}` |
//! | update | `POST storage/responses/{id}` `<Response>` |
//! | delete | `DELETE storage/responses/{id}` |
//! | input items | `GET storage/responses/{id}/input_items?limit=&order=&after=&before=` |
//! | items | `POST storage/items/batch/retrieve` `{"item_ids":[…]}` -> array, null for missing |
//! | history | `GET storage/history/item_ids?limit=&previous_response_id=&conversation_id=` -> ids |
//!
//! **Our assumptions about the service** (the reference documents neither): a deleted response
//! answers `410 Gone` (a tombstone, [`Lookup::Deleted`]) where an unknown one answers 404; a
//! create whose id exists answers `409`; and conversations live under the same base, shaped like
//! OpenAI's Conversations API with the id chosen by us: `POST storage/conversations`
//! `{"id","created_at","metadata","items"}`, `GET`/`POST` (metadata)/`DELETE
//! storage/conversations/{id}`, `GET`/`POST storage/conversations/{id}/items`, `GET`/`DELETE
//! storage/conversations/{id}/items/{item_id}` (a 404 says `conversation_not_found` or
//! `item_not_found`). The service appends a finished response's items to its conversation, as it
//! must to answer `history/item_ids?conversation_id=`. The mock proxy serves exactly this.
//!
//! Partitioning: the service partitions by the caller identity carried by the forwarded
//! `x-agent-foundry-call-id`, so every call forwards the [`Caller`]'s call id verbatim and
//! nothing about the user (`x-agent-user-id` is never sent). A caller with a user but no call
//! id cannot be partitioned by the service and is refused ([`StoreError::Unavailable`]) rather
//! than served from the container's own partition.
//!
//! Errors: transport failures, 5xx and 429 (after the bounded retries of [`http`]) and refused
//! credentials are [`StoreError::Unavailable`]; bodies that do not decode are
//! [`StoreError::Corrupt`]. Tokens never appear in errors or logs.
//!
//! A record read back has no `input` (the service's get returns the response alone);
//! `input_items` pages it. [`ResponseStore::stats`] is zero: the service keeps the counts.

pub mod http;

use std::sync::Arc;
use std::time::Duration;

use agenthost_identity::TokenProvider;
use agenthost_platform::Caller;
use agenthost_responses::{Conversation, Item, Response, ResponseStatus};
use agenthost_store::{
    HISTORY_LIMIT, HistorySource, Lookup, Page, PageQuery, Record, ResponseStore, StoreError, StoreStats,
};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

pub use crate::http::{CALL_ID_HEADER, RetryPolicy, STORAGE_SCOPE};
use crate::http::{Client, Repeat, Reply};

/// How to reach the storage API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundryOptions {
    /// The project endpoint (`FOUNDRY_PROJECT_ENDPOINT`), checked by [`validate_endpoint`].
    pub endpoint: String,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Retries of one call.
    pub retry: RetryPolicy,
}

impl FoundryOptions {
    /// The defaults for `endpoint`: 10 s per attempt, [`RetryPolicy::default`].
    pub fn new(endpoint: impl Into<String>) -> Self {
        FoundryOptions { endpoint: endpoint.into(), timeout: Duration::from_secs(10), retry: RetryPolicy::default() }
    }
}

/// `endpoint` as the storage base: an absolute `https` URL with a host (plain `http` only on a
/// loopback host, for tests and local mocks), no credentials, query or fragment. The error says
/// why, for the operator.
pub fn validate_endpoint(endpoint: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(endpoint.trim()).map_err(|e| format!("not an absolute URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("must have a host".into()),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err("must be https (plain http only on a loopback host)".into()),
        _ => return Err("must be an https URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(url)
}

/// The store. Cheap to share; holds one pooled HTTP client.
pub struct FoundryStore {
    client: Client,
}

impl std::fmt::Debug for FoundryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoundryStore").field("base", &self.client.base.as_str()).finish_non_exhaustive()
    }
}

/// The id [`FoundryStore::check`] looks up: never a real response.
const PROBE_ID: &str = "caresp_agenthost_storage_probe";

impl FoundryStore {
    /// A store at `options.endpoint`, authenticating with tokens from `token` (the same
    /// provider the toolbox proxy uses). Fails only on an invalid endpoint or HTTP client.
    pub fn new(options: &FoundryOptions, token: Arc<dyn TokenProvider>) -> Result<Self, StoreError> {
        let base = validate_endpoint(&options.endpoint)
            .map_err(|why| StoreError::Unavailable(format!("FOUNDRY_PROJECT_ENDPOINT {why}")))?;
        // reqwest is built with `rustls-no-provider`; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .tcp_nodelay(true)
            // The bearer token must never follow a redirect to another origin.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot build the storage HTTP client: {e}")))?;
        Ok(FoundryStore { client: Client { http, base, token, retry: options.retry } })
    }

    /// The storage base, for logs and readiness (holds no secret).
    pub fn target(&self) -> String {
        self.client.url(&[], &[]).as_str().split('?').next().unwrap_or_default().to_string()
    }

    /// Whether the service answers with our credentials: one lookup of an id that never
    /// exists, as the container identity (no request, so no call id). Any answer but refused
    /// credentials (401, 403), throttling or a server error counts as usable: a service that
    /// wants a call id on every call answers 4xx here and still serves requests. The caller
    /// (startup, the periodic check, `--check`) retries.
    pub async fn check(&self) -> Result<(), StoreError> {
        let url = self.client.url(&["responses", PROBE_ID], &[]);
        let status = self.client.probe(url).await?;
        match status.as_u16() {
            401 | 403 => {
                Err(StoreError::Unavailable(format!("Foundry storage refused our credentials (HTTP {status})")))
            }
            408 | 429 | 500..=599 => Err(StoreError::Unavailable(format!("Foundry storage answered HTTP {status}"))),
            _ => Ok(()),
        }
    }

    async fn call(
        &self,
        caller: &Caller,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Reply, StoreError> {
        if caller.user().id().is_some() && caller.call_id().is_none() {
            return Err(StoreError::Unavailable(
                "Foundry storage partitions by x-agent-foundry-call-id, which this request does not carry".into(),
            ));
        }
        let url = self.client.url(segments, query);
        self.client.send(caller, method, url, body, repeat).await
    }

    /// The history item ids a new response starts from: its conversation's items, else its
    /// previous response's history (unknown: none).
    async fn history_ids(&self, caller: &Caller, response: &Response) -> Result<Vec<String>, StoreError> {
        let source = match (&response.conversation, &response.previous_response_id) {
            (Some(conv), _) => ("conversation_id", conv.id.clone()),
            (None, Some(prev)) => ("previous_response_id", prev.clone()),
            (None, None) => return Ok(Vec::new()),
        };
        match self.history_lookup(caller, source).await? {
            Lookup::Found(ids) => Ok(ids),
            Lookup::Deleted | Lookup::Missing => Ok(Vec::new()),
        }
    }

    async fn history_lookup(&self, caller: &Caller, source: (&str, String)) -> Result<Lookup<Vec<String>>, StoreError> {
        let query = [("limit", HISTORY_LIMIT.to_string()), source];
        match self.call(caller, Method::GET, &["history", "item_ids"], &query, None, Repeat::Read).await? {
            Reply::Ok(body) => Ok(Lookup::Found(decode("history item ids", &body)?)),
            Reply::Gone => Ok(Lookup::Deleted),
            Reply::NotFound(_) | Reply::Conflict => Ok(Lookup::Missing),
        }
    }

    async fn create(&self, caller: &Caller, record: &Record) -> Result<Reply, StoreError> {
        let history = self.history_ids(caller, &record.response).await?;
        let body = json!({
            "response": record.response,
            "input_items": record.input,
            "history_item_ids": history,
        });
        self.call(caller, Method::POST, &["responses"], &[], Some(&body), Repeat::Write).await
    }

    async fn update(&self, caller: &Caller, response: &Response) -> Result<Reply, StoreError> {
        let body = serde_json::to_value(response).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.call(caller, Method::POST, &["responses", &response.id], &[], Some(&body), Repeat::Write).await
    }
}

fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(body)
        .map_err(|e| StoreError::Corrupt(format!("Foundry storage answered {what} that does not decode: {e}")))
}

fn refused(what: &str, reply: &Reply) -> StoreError {
    StoreError::Unavailable(format!("Foundry storage refused to {what}: {reply:?}"))
}

/// `GET …/input_items` and conversation item lists.
#[derive(Deserialize)]
struct ItemList {
    data: Vec<Item>,
    #[serde(default)]
    has_more: bool,
}

fn page_query(page: &PageQuery) -> Vec<(&'static str, String)> {
    let mut q = vec![("limit", page.limit.to_string()), ("order", if page.descending { "desc" } else { "asc" }.into())];
    if let Some(after) = &page.after {
        q.push(("after", after.clone()));
    }
    if let Some(before) = &page.before {
        q.push(("before", before.clone()));
    }
    q
}

fn page_of(body: &[u8]) -> Result<Page, StoreError> {
    let list: ItemList = decode("an item list", body)?;
    Ok(Page { data: list.data, has_more: list.has_more })
}

#[async_trait::async_trait]
impl ResponseStore for FoundryStore {
    async fn put(&self, caller: &Caller, record: Record) -> Result<(), StoreError> {
        let finished = !matches!(record.response.status, ResponseStatus::Queued | ResponseStatus::InProgress);
        // A finished background response was created when it started: update first. Anything
        // else is usually new: create first. Either falls back to the other.
        let reply = if record.response.background && finished {
            match self.update(caller, &record.response).await? {
                Reply::NotFound(_) => self.create(caller, &record).await?,
                other => other,
            }
        } else {
            match self.create(caller, &record).await? {
                Reply::Conflict => self.update(caller, &record.response).await?,
                other => other,
            }
        };
        match reply {
            Reply::Ok(_) => Ok(()),
            other => Err(refused("store the response", &other)),
        }
    }

    async fn get(&self, caller: &Caller, id: &str) -> Result<Lookup<Arc<Record>>, StoreError> {
        Ok(match self.call(caller, Method::GET, &["responses", id], &[], None, Repeat::Read).await? {
            Reply::Ok(body) => {
                let response: Response = decode("a response", &body)?;
                Lookup::Found(Arc::new(Record { user: caller.user().clone(), response, input: Vec::new() }))
            }
            Reply::Gone => Lookup::Deleted,
            Reply::NotFound(_) | Reply::Conflict => Lookup::Missing,
        })
    }

    async fn delete(&self, caller: &Caller, id: &str) -> Result<Lookup<()>, StoreError> {
        Ok(match self.call(caller, Method::DELETE, &["responses", id], &[], None, Repeat::Write).await? {
            Reply::Ok(_) => Lookup::Found(()),
            Reply::Gone => Lookup::Deleted,
            Reply::NotFound(_) | Reply::Conflict => Lookup::Missing,
        })
    }

    async fn history(&self, caller: &Caller, source: HistorySource<'_>) -> Result<Lookup<Vec<Item>>, StoreError> {
        let ids = match source {
            HistorySource::Previous(id) => {
                match self.history_lookup(caller, ("previous_response_id", id.into())).await? {
                    Lookup::Found(ids) => ids,
                    Lookup::Deleted | Lookup::Missing => return Ok(Lookup::Missing),
                }
            }
            HistorySource::Conversation(conv) => {
                match self.history_lookup(caller, ("conversation_id", conv.into())).await? {
                    Lookup::Found(ids) => ids,
                    Lookup::Deleted | Lookup::Missing => Vec::new(),
                }
            }
        };
        Ok(Lookup::Found(self.items(caller, &ids).await?.into_iter().flatten().collect()))
    }

    async fn input_items(&self, caller: &Caller, id: &str, page: &PageQuery) -> Result<Lookup<Page>, StoreError> {
        let query = page_query(page);
        Ok(
            match self.call(caller, Method::GET, &["responses", id, "input_items"], &query, None, Repeat::Read).await? {
                Reply::Ok(body) => Lookup::Found(page_of(&body)?),
                Reply::Gone => Lookup::Deleted,
                Reply::NotFound(_) | Reply::Conflict => Lookup::Missing,
            },
        )
    }

    async fn items(&self, caller: &Caller, ids: &[String]) -> Result<Vec<Option<Item>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({ "item_ids": ids });
        // A batch retrieve changes nothing: a read.
        match self.call(caller, Method::POST, &["items", "batch", "retrieve"], &[], Some(&body), Repeat::Read).await? {
            Reply::Ok(body) => {
                let items: Vec<Option<Item>> = decode("items", &body)?;
                if items.len() != ids.len() {
                    return Err(StoreError::Corrupt(format!(
                        "Foundry storage answered {} items for {} ids",
                        items.len(),
                        ids.len()
                    )));
                }
                Ok(items)
            }
            other => Err(refused("retrieve items", &other)),
        }
    }

    async fn create_conversation(
        &self,
        caller: &Caller,
        conversation: Conversation,
        items: Vec<Item>,
    ) -> Result<(), StoreError> {
        let body = json!({
            "id": conversation.id,
            "created_at": conversation.created_at,
            "metadata": conversation.metadata,
            "items": items,
        });
        match self.call(caller, Method::POST, &["conversations"], &[], Some(&body), Repeat::Write).await? {
            Reply::Ok(_) => Ok(()),
            other => Err(refused("create the conversation", &other)),
        }
    }

    async fn conversation(&self, caller: &Caller, id: &str) -> Result<Lookup<Conversation>, StoreError> {
        Ok(match self.call(caller, Method::GET, &["conversations", id], &[], None, Repeat::Read).await? {
            Reply::Ok(body) => Lookup::Found(decode("a conversation", &body)?),
            _ => Lookup::Missing,
        })
    }

    async fn update_conversation(
        &self,
        caller: &Caller,
        id: &str,
        metadata: Map<String, Value>,
    ) -> Result<Lookup<Conversation>, StoreError> {
        let body = json!({ "metadata": metadata });
        Ok(match self.call(caller, Method::POST, &["conversations", id], &[], Some(&body), Repeat::Write).await? {
            Reply::Ok(body) => Lookup::Found(decode("a conversation", &body)?),
            _ => Lookup::Missing,
        })
    }

    async fn delete_conversation(&self, caller: &Caller, id: &str) -> Result<Lookup<()>, StoreError> {
        Ok(match self.call(caller, Method::DELETE, &["conversations", id], &[], None, Repeat::Write).await? {
            Reply::Ok(_) => Lookup::Found(()),
            _ => Lookup::Missing,
        })
    }

    async fn add_conversation_items(
        &self,
        caller: &Caller,
        id: &str,
        items: Vec<Item>,
    ) -> Result<Lookup<()>, StoreError> {
        let body = json!({ "items": items });
        Ok(
            match self
                .call(caller, Method::POST, &["conversations", id, "items"], &[], Some(&body), Repeat::Write)
                .await?
            {
                Reply::Ok(_) => Lookup::Found(()),
                _ => Lookup::Missing,
            },
        )
    }

    async fn conversation_items(
        &self,
        caller: &Caller,
        id: &str,
        page: &PageQuery,
    ) -> Result<Lookup<Page>, StoreError> {
        let query = page_query(page);
        Ok(match self.call(caller, Method::GET, &["conversations", id, "items"], &query, None, Repeat::Read).await? {
            Reply::Ok(body) => Lookup::Found(page_of(&body)?),
            _ => Lookup::Missing,
        })
    }

    async fn conversation_item(
        &self,
        caller: &Caller,
        id: &str,
        item_id: &str,
    ) -> Result<Lookup<Option<Item>>, StoreError> {
        let segments = ["conversations", id, "items", item_id];
        Ok(match self.call(caller, Method::GET, &segments, &[], None, Repeat::Read).await? {
            Reply::Ok(body) => Lookup::Found(Some(decode("an item", &body)?)),
            Reply::NotFound(Some(code)) if code == ITEM_NOT_FOUND => Lookup::Found(None),
            _ => Lookup::Missing,
        })
    }

    async fn delete_conversation_item(
        &self,
        caller: &Caller,
        id: &str,
        item_id: &str,
    ) -> Result<Lookup<Option<Conversation>>, StoreError> {
        let segments = ["conversations", id, "items", item_id];
        Ok(match self.call(caller, Method::DELETE, &segments, &[], None, Repeat::Write).await? {
            Reply::Ok(body) => Lookup::Found(Some(decode("a conversation", &body)?)),
            Reply::NotFound(Some(code)) if code == ITEM_NOT_FOUND => Lookup::Found(None),
            _ => Lookup::Missing,
        })
    }

    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

/// `error.code` of a 404 for a missing item of an existing conversation.
pub const ITEM_NOT_FOUND: &str = "item_not_found";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_or_loopback_http() {
        assert!(validate_endpoint("https://acct.services.ai.azure.com/api/projects/p").is_ok());
        assert!(validate_endpoint("http://127.0.0.1:9/api/projects/p").is_ok());
        assert!(validate_endpoint("http://localhost:9").is_ok());
        assert!(validate_endpoint("http://[::1]:9").is_ok());
        for bad in ["http://example.com", "ftp://x", "not a url", "https://u:p@h", "https://h?x=1", "/relative"] {
            assert!(validate_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_escape_ids_and_carry_the_api_version() {
        let store = FoundryStore::new(
            &FoundryOptions::new("https://h.example/api/projects/p/"),
            Arc::new(agenthost_identity::StaticToken::new("t")),
        )
        .expect("store");
        let url = store.client.url(&["responses", "a/b?c"], &[("limit", "5".into())]);
        assert_eq!(url.as_str(), "https://h.example/api/projects/p/storage/responses/a%2Fb%3Fc?api-version=v1&limit=5");
        assert_eq!(store.target(), "https://h.example/api/projects/p/storage");
    }
}
