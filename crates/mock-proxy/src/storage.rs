//! The Foundry storage API under `{prefix}/storage/…` (any prefix, `?api-version=v1`), in
//! memory: responses with their input and history item ids, items, tombstones, and
//! conversations shaped like OpenAI's Conversations API (our assumption about the service; see
//! the `agenthost-store-foundry` crate docs).
//!
//! Every call needs `Authorization: Bearer <token>` (401 otherwise, and while the user's token is
//! expired) and is partitioned by the user the forwarded `x-agent-foundry-call-id` names (the
//! part before its first `:`; no call id is the container). A deleted response answers 410, an
//! unknown one 404, a create of a taken id 409. Faults: the next N calls can be answered with a
//! status ([`Storage::fail`]). Every call is logged ([`StorageRequest`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
    response::Response,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{mcp::CALL_ID_HEADER, users::user_from_call_id};

/// Largest storage request body the mock buffers.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// One call received on a storage route (`GET /_mock/storage/requests` returns these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageRequest {
    /// `GET`, `POST` or `DELETE`.
    pub method: String,
    /// The path after the prefix, from `storage/` on (e.g. `storage/responses/caresp_1`).
    pub route: String,
    /// The query string (e.g. `api-version=v1&limit=100`).
    pub query: Option<String>,
    /// The partition: the user from `x-agent-foundry-call-id`; `""` is the container.
    pub user: String,
    /// Every header, lower-case name to value.
    pub headers: BTreeMap<String, String>,
}

impl StorageRequest {
    /// The value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

#[derive(Debug)]
struct Stored {
    response: Value,
    input: Vec<Value>,
    history_ids: Vec<String>,
}

#[derive(Debug)]
struct Conv {
    conversation: Value,
    /// Items with the response that added them (`None`: the API).
    items: Vec<(Value, Option<String>)>,
}

#[derive(Debug, Default)]
struct Partition {
    responses: HashMap<String, Stored>,
    tombstones: HashSet<String>,
    /// Items of stored responses by id.
    items: HashMap<String, Value>,
    conversations: HashMap<String, Conv>,
}

#[derive(Debug, Default)]
struct Inner {
    partitions: HashMap<String, Partition>,
    log: Vec<StorageRequest>,
    /// (status, calls left to fail).
    fail: Option<(u16, u32)>,
}

/// The storage service's state. Its lock is never held across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct Storage {
    inner: Mutex<Inner>,
}

impl Storage {
    /// The next `count` calls are answered `status` (a 429 or 503 also says `Retry-After: 0`).
    pub(crate) fn fail(&self, status: u16, count: u32) {
        self.inner.lock().fail = (count > 0).then_some((status, count));
    }

    pub(crate) fn requests(&self) -> Vec<StorageRequest> {
        self.inner.lock().log.clone()
    }

    pub(crate) fn clear_requests(&self) {
        self.inner.lock().log.clear();
    }

    pub(crate) fn reset(&self) {
        *self.inner.lock() = Inner::default();
    }
}

/// The segments after `storage` when `path` is a storage route.
pub(crate) fn route_of(path: &str) -> Option<Vec<String>> {
    let segs: Vec<&str> = path.split('/').collect();
    let i = segs.iter().position(|s| *s == "storage")?;
    let rest: Vec<String> = segs[i + 1..]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    (!rest.is_empty() && matches!(rest[0].as_str(), "responses" | "items" | "history" | "conversations"))
        .then_some(rest)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, &json!({"error": {"type": "invalid_request_error", "code": code, "message": message}}))
}

fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, &body)
}

/// Serves one storage call; `expired` says whether a user's token is expired (401).
pub(crate) async fn handle(
    storage: &Storage,
    expired: impl Fn(&str) -> bool,
    segments: Vec<String>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let call_id = parts.headers.get(CALL_ID_HEADER).and_then(|v| v.to_str().ok());
    let user = user_from_call_id(call_id);
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let fault = {
        let mut inner = storage.inner.lock();
        inner.log.push(StorageRequest {
            method: parts.method.as_str().to_owned(),
            route: format!("storage/{}", segments.join("/")),
            query: parts.uri.query().map(str::to_owned),
            user: user.clone(),
            headers,
        });
        match &mut inner.fail {
            Some((status, left)) => {
                let status = *status;
                *left -= 1;
                if *left == 0 {
                    inner.fail = None;
                }
                Some(status)
            }
            None => None,
        }
    };
    if let Some(status) = fault {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response = error(status, "mock_fault", "injected storage fault");
        if matches!(status.as_u16(), 429 | 503) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
        }
        return response;
    }
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| !t.trim().is_empty());
    if !bearer || expired(&user) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required");
    }
    if query.get("api-version").map(String::as_str) != Some("v1") {
        return error(StatusCode::BAD_REQUEST, "invalid_api_version", "api-version=v1 is required");
    }
    let body: Value = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) if bytes.is_empty() => Value::Null,
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => v,
            Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_json", &e.to_string()),
        },
        Err(e) => return error(StatusCode::BAD_REQUEST, "unreadable_body", &e.to_string()),
    };
    let mut inner = storage.inner.lock();
    let partition = inner.partitions.entry(user).or_default();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    route(partition, &parts.method, &segs, &query, body)
}

fn route(p: &mut Partition, method: &Method, segs: &[&str], query: &HashMap<String, String>, body: Value) -> Response {
    match (method.as_str(), segs) {
        ("POST", ["responses"]) => p.create(body),
        ("GET", ["responses", id]) => p.lookup(id, |s| ok(s.response.clone())),
        ("POST", ["responses", id]) => p.update(id, body),
        ("DELETE", ["responses", id]) => p.delete(id),
        ("GET", ["responses", id, "input_items"]) => {
            let items = match p.visible(id) {
                Ok(s) => s.history_ids.iter().filter_map(|i| p.item(i)).chain(s.input.iter().cloned()).collect(),
                Err(absent) => return absent.response(),
            };
            ok(page(items, query))
        }
        ("POST", ["items", "batch", "retrieve"]) => {
            let ids: Vec<String> = body
                .get("item_ids")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            ok(Value::Array(ids.iter().map(|i| p.item(i).unwrap_or(Value::Null)).collect()))
        }
        ("GET", ["history", "item_ids"]) => p.history(query),
        ("POST", ["conversations"]) => {
            let Some(id) = body.get("id").and_then(Value::as_str).map(str::to_owned) else {
                return error(StatusCode::BAD_REQUEST, "missing_id", "a conversation needs an id");
            };
            let conversation = json!({
                "id": id,
                "object": "conversation",
                "created_at": body.get("created_at").cloned().unwrap_or(json!(0)),
                "metadata": body.get("metadata").cloned().unwrap_or(json!({})),
            });
            let items = body.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
            p.conversations.insert(
                id,
                Conv { conversation: conversation.clone(), items: items.into_iter().map(|i| (i, None)).collect() },
            );
            ok(conversation)
        }
        ("GET", ["conversations", id]) => p.with_conv(id, |c| ok(c.conversation.clone())),
        ("POST", ["conversations", id]) => p.with_conv(id, |c| {
            c.conversation["metadata"] = body.get("metadata").cloned().unwrap_or(json!({}));
            ok(c.conversation.clone())
        }),
        ("DELETE", ["conversations", id]) => match p.conversations.remove(*id) {
            Some(_) => ok(json!({"id": id, "object": "conversation.deleted", "deleted": true})),
            None => conversation_not_found(),
        },
        ("GET", ["conversations", id, "items"]) => {
            p.with_conv(id, |c| ok(page(c.items.iter().map(|(i, _)| i.clone()).collect(), query)))
        }
        ("POST", ["conversations", id, "items"]) => p.with_conv(id, |c| {
            let items = body.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
            c.items.extend(items.iter().cloned().map(|i| (i, None)));
            ok(json!({"object": "list", "data": items, "has_more": false}))
        }),
        ("GET", ["conversations", id, "items", item]) => {
            p.with_conv(id, |c| match c.items.iter().find(|(i, _)| item_id(i) == Some(*item)) {
                Some((i, _)) => ok(i.clone()),
                None => error(StatusCode::NOT_FOUND, "item_not_found", "no such item in the conversation"),
            })
        }
        ("DELETE", ["conversations", id, "items", item]) => p.with_conv(id, |c| {
            let before = c.items.len();
            c.items.retain(|(i, _)| item_id(i) != Some(*item));
            if c.items.len() == before {
                error(StatusCode::NOT_FOUND, "item_not_found", "no such item in the conversation")
            } else {
                ok(c.conversation.clone())
            }
        }),
        _ => error(StatusCode::NOT_FOUND, "no_such_route", "mock-proxy: no such storage route"),
    }
}

fn item_id(item: &Value) -> Option<&str> {
    item.get("id").and_then(Value::as_str)
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().filter_map(item_id).map(str::to_owned).collect()
}

fn conversation_not_found() -> Response {
    error(StatusCode::NOT_FOUND, "conversation_not_found", "no such conversation")
}

/// A finished response's items join its conversation, unless it failed or stopped for consent.
fn joins_conversation(response: &Value) -> bool {
    let status = response.get("status").and_then(Value::as_str).unwrap_or_default();
    let consent = status == "incomplete"
        && response
            .get("output")
            .and_then(Value::as_array)
            .is_some_and(|o| o.iter().any(|i| i.get("type").and_then(Value::as_str) == Some("oauth_consent_request")));
    !matches!(status, "queued" | "in_progress" | "failed") && !consent
}

/// The window of `all` (oldest first) that `limit`, `order`, `after` and `before` ask for.
fn page(mut all: Vec<Value>, query: &HashMap<String, String>) -> Value {
    if query.get("order").map(String::as_str) == Some("desc") {
        all.reverse();
    }
    let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(20);
    let position = |id: &String| all.iter().position(|i| item_id(i) == Some(id.as_str()));
    let start = query.get("after").map_or(0, |a| position(a).map_or(all.len(), |p| p + 1));
    let end = query.get("before").map_or(all.len(), |b| position(b).unwrap_or(all.len()));
    let window: &[Value] = if start < end { &all[start..end] } else { &[] };
    let data: Vec<Value> = window.iter().take(limit).cloned().collect();
    json!({
        "object": "list",
        "first_id": data.first().and_then(item_id),
        "last_id": data.last().and_then(item_id),
        "has_more": window.len() > limit,
        "data": data,
    })
}

/// Why a response is not there.
#[derive(Clone, Copy, Debug)]
enum Absent {
    Unknown,
    Deleted,
}

impl Absent {
    fn response(self) -> Response {
        match self {
            Absent::Deleted => error(StatusCode::GONE, "response_deleted", "deleted"),
            Absent::Unknown => error(StatusCode::NOT_FOUND, "response_not_found", "no such response"),
        }
    }
}

impl Partition {
    fn visible(&self, id: &str) -> Result<&Stored, Absent> {
        match self.responses.get(id) {
            Some(s) => Ok(s),
            None if self.tombstones.contains(id) => Err(Absent::Deleted),
            None => Err(Absent::Unknown),
        }
    }

    fn lookup(&self, id: &str, f: impl FnOnce(&Stored) -> Response) -> Response {
        match self.visible(id) {
            Ok(s) => f(s),
            Err(absent) => absent.response(),
        }
    }

    fn with_conv(&mut self, id: &str, f: impl FnOnce(&mut Conv) -> Response) -> Response {
        match self.conversations.get_mut(id) {
            Some(c) => f(c),
            None => conversation_not_found(),
        }
    }

    /// An item by id: a stored response's, else a conversation's.
    fn item(&self, id: &str) -> Option<Value> {
        self.items.get(id).cloned().or_else(|| {
            self.conversations
                .values()
                .flat_map(|c| &c.items)
                .find(|(i, _)| item_id(i) == Some(id))
                .map(|(i, _)| i.clone())
        })
    }

    fn create(&mut self, body: Value) -> Response {
        let Some(response) = body.get("response").filter(|r| r.is_object()).cloned() else {
            return error(StatusCode::BAD_REQUEST, "missing_response", "the body needs a response");
        };
        let Some(id) = response.get("id").and_then(Value::as_str).map(str::to_owned) else {
            return error(StatusCode::BAD_REQUEST, "missing_id", "the response needs an id");
        };
        if self.responses.contains_key(&id) || self.tombstones.contains(&id) {
            return error(StatusCode::CONFLICT, "response_exists", "a response with this id exists");
        }
        let input = body.get("input_items").and_then(Value::as_array).cloned().unwrap_or_default();
        let history_ids = body
            .get("history_item_ids")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        for item in &input {
            if let Some(item_id) = item_id(item) {
                self.items.insert(item_id.to_owned(), item.clone());
            }
        }
        self.responses.insert(id.clone(), Stored { response: Value::Null, input, history_ids });
        self.write(&id, response.clone());
        json_response(StatusCode::CREATED, &response)
    }

    fn update(&mut self, id: &str, response: Value) -> Response {
        if let Err(absent) = self.visible(id) {
            return absent.response();
        }
        if response.get("id").and_then(Value::as_str) != Some(id) {
            return error(StatusCode::BAD_REQUEST, "id_mismatch", "the body's id is not the path's");
        }
        self.write(id, response.clone());
        ok(response)
    }

    /// Stores `response` as `id`'s snapshot: its output items replace the previous ones, and its
    /// conversation (created if need be) holds its items if it joins.
    fn write(&mut self, id: &str, response: Value) {
        let output = response.get("output").and_then(Value::as_array).cloned().unwrap_or_default();
        let Some(stored) = self.responses.get_mut(id) else { return };
        let old = std::mem::replace(&mut stored.response, response.clone());
        let input = stored.input.clone();
        for old_id in ids(old.get("output").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()) {
            self.items.remove(&old_id);
        }
        for item in &output {
            if let Some(item_id) = item_id(item) {
                self.items.insert(item_id.to_owned(), item.clone());
            }
        }
        let Some(conv) = response.get("conversation").and_then(|c| c.get("id")).and_then(Value::as_str) else { return };
        let c = self.conversations.entry(conv.to_owned()).or_insert_with(|| Conv {
            conversation: json!({
                "id": conv,
                "object": "conversation",
                "created_at": response.get("created_at").cloned().unwrap_or(json!(0)),
                "metadata": {},
            }),
            items: Vec::new(),
        });
        c.items.retain(|(_, from)| from.as_deref() != Some(id));
        if joins_conversation(&response) {
            c.items.extend(input.into_iter().chain(output).map(|i| (i, Some(id.to_owned()))));
        }
    }

    fn delete(&mut self, id: &str) -> Response {
        if let Err(absent) = self.visible(id) {
            return absent.response();
        }
        if let Some(stored) = self.responses.remove(id) {
            let output = stored.response.get("output").and_then(Value::as_array).cloned().unwrap_or_default();
            for item_id in ids(&stored.input).into_iter().chain(ids(&output)) {
                self.items.remove(&item_id);
            }
        }
        self.tombstones.insert(id.to_owned());
        ok(json!({"id": id, "object": "response.deleted", "deleted": true}))
    }

    /// `previous_response_id` P: P's history ids, then P's input and output unless P failed;
    /// `conversation_id` C: C's items (none for an unknown C). The newest `limit`.
    fn history(&self, query: &HashMap<String, String>) -> Response {
        let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(100);
        let mut out: Vec<String> = if let Some(prev) = query.get("previous_response_id") {
            let stored = match self.visible(prev) {
                Ok(s) => s,
                Err(absent) => return absent.response(),
            };
            let mut out = stored.history_ids.clone();
            if stored.response.get("status").and_then(Value::as_str) != Some("failed") {
                out.extend(ids(&stored.input));
                out.extend(ids(stored
                    .response
                    .get("output")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()));
            }
            out
        } else if let Some(conv) = query.get("conversation_id") {
            self.conversations
                .get(conv)
                .map(|c| c.items.iter().filter_map(|(i, _)| item_id(i)).map(str::to_owned).collect())
                .unwrap_or_default()
        } else {
            return error(
                StatusCode::BAD_REQUEST,
                "missing_source",
                "previous_response_id or conversation_id is required",
            );
        };
        let skip = out.len().saturating_sub(limit);
        out.drain(..skip);
        ok(json!(out))
    }
}
