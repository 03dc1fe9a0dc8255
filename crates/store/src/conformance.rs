//! Behaviour every [`ResponseStore`] backend must have, as async checks a backend's tests call
//! with a fresh store (feature `conformance`). The memory store is the reference.
//!
//! Each check panics with a message on the first deviation; ids are fresh per call, so checks may
//! share one database.
//!
//! Every operation is made as a [`Caller`] with a fresh call id whose prefix (before `:`) is the
//! user, the way the platform's call ids identify the caller to the Foundry storage service (and
//! its mock): a backend that partitions by user and one that partitions by the forwarded call id
//! both see distinct users.

use agenthost_responses::{Conversation, ConversationRef, Item, Response, ResponseStatus, id};
use serde_json::Map;

use crate::{Caller, HistorySource, Lookup, PageQuery, Record, ResponseStore, StoreError, UserKey};

/// `user` acting through a request with a new call id `{user}:{random}`.
pub fn caller_of(user: &UserKey) -> Caller {
    let call_id = format!("{}:{}", user.partition(), &id::new_id("call", None)[5..]);
    Caller::new(user.clone(), Some(&call_id))
}

fn user(name: &str) -> Caller {
    caller_of(&UserKey::new(name))
}

/// Writes `record` as its owner.
async fn put(store: &dyn ResponseStore, record: Record) -> Result<(), StoreError> {
    store.put(&caller_of(&record.user), record).await
}

fn message(text: &str, hint: &str) -> Item {
    let mut item = Item::user_text(text);
    item.ensure_id(hint);
    item
}

fn texts(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Item::Message(m) => m.text(),
            other => other.type_name().to_string(),
        })
        .collect()
}

/// A finished response on `conv` with one input and one output message.
pub fn conversation_record(owner: &str, text: &str, conv: &str, status: ResponseStatus) -> Record {
    let rid = id::new_id(id::RESPONSE, Some(conv));
    let mut response = Response::new(rid.clone(), "m".into(), 0);
    response.status = status;
    response.conversation = Some(ConversationRef { id: conv.into() });
    response.output = vec![message(&format!("re: {text}"), &rid)];
    Record { user: UserKey::new(owner), response, input: vec![message(text, &rid)] }
}

/// A user name no other check (or earlier run on the same database) uses.
fn fresh(name: &str) -> String {
    format!("{name}-{}", &id::new_id("u", None)[2..20])
}

/// A finished response with one input and one output message, optionally continuing `prev`.
pub fn record(owner: &str, text: &str, prev: Option<&str>, status: ResponseStatus) -> Record {
    let rid = id::new_id(id::RESPONSE, prev);
    let mut response = Response::new(rid.clone(), "m".into(), 0);
    response.status = status;
    response.previous_response_id = prev.map(str::to_string);
    response.output = vec![message(&format!("re: {text}"), &rid)];
    Record { user: UserKey::new(owner), response, input: vec![message(text, &rid)] }
}

/// Another user's response is indistinguishable from a missing one; delete leaves a tombstone
/// only its owner sees.
pub async fn users_never_see_each_others_responses(store: &dyn ResponseStore) {
    let (alice, bob) = (fresh("alice"), fresh("bob"));
    let r = record(&alice, "hi", None, ResponseStatus::Completed);
    let rid = r.response.id.clone();
    put(store, r.clone()).await.expect("put");
    let Lookup::Found(got) = store.get(&user(&alice), &rid).await.unwrap() else { panic!("get") };
    assert_eq!((&got.user, &got.response), (&r.user, &r.response), "a record reads back as written");
    assert!(got.input == r.input || got.input.is_empty(), "input reads back as written, or not at all");
    assert_eq!(store.get(&user(&bob), &rid).await.unwrap(), Lookup::Missing);
    assert_eq!(store.delete(&user(&bob), &rid).await.unwrap(), Lookup::Missing);
    assert_eq!(store.history(&user(&bob), HistorySource::Previous(&rid)).await.unwrap(), Lookup::Missing);
    assert_eq!(store.delete(&user(&alice), &rid).await.unwrap(), Lookup::Found(()));
    assert_eq!(store.get(&user(&alice), &rid).await.unwrap(), Lookup::Deleted);
    assert_eq!(store.delete(&user(&alice), &rid).await.unwrap(), Lookup::Deleted);
    assert_eq!(store.get(&user(&bob), &rid).await.unwrap(), Lookup::Missing);
    assert_eq!(store.history(&user(&alice), HistorySource::Previous(&rid)).await.unwrap(), Lookup::Missing);
}

/// A `previous_response_id` chain flattens oldest first and skips failed responses; a rewrite
/// (a background response's terminal update) replaces the record.
pub async fn previous_response_chains_flatten_and_skip_failed(store: &dyn ResponseStore) {
    let u = fresh("u");
    let a = record(&u, "one", None, ResponseStatus::Completed);
    let a_id = a.response.id.clone();
    put(store, a).await.expect("put");
    let b = record(&u, "two", Some(&a_id), ResponseStatus::Failed);
    let b_id = b.response.id.clone();
    put(store, b).await.expect("put");
    let mut c = record(&u, "three", Some(&b_id), ResponseStatus::Queued);
    let c_id = c.response.id.clone();
    put(store, c.clone()).await.expect("put");
    c.response.status = ResponseStatus::Completed;
    put(store, c).await.expect("rewrite");
    let Lookup::Found(h) = store.history(&user(&u), HistorySource::Previous(&c_id)).await.unwrap() else {
        panic!("history")
    };
    assert_eq!(texts(&h), ["one", "re: one", "three", "re: three"]);
    let Lookup::Found(got) = store.get(&user(&u), &c_id).await.unwrap() else { panic!("get") };
    assert_eq!(got.response.status, ResponseStatus::Completed);
}

/// `input_items` pages over the history and the response's own input, both orders.
pub async fn input_items_page_over_history_and_input(store: &dyn ResponseStore) {
    let u = fresh("u");
    let a = record(&u, "one", None, ResponseStatus::Completed);
    let a_id = a.response.id.clone();
    put(store, a).await.expect("put");
    let b = record(&u, "two", Some(&a_id), ResponseStatus::Completed);
    let b_id = b.response.id.clone();
    put(store, b).await.expect("put");
    let q = PageQuery { limit: 2, descending: false, after: None, before: None };
    let Lookup::Found(p) = store.input_items(&user(&u), &b_id, &q).await.unwrap() else { panic!("page") };
    assert_eq!((texts(&p.data), p.has_more), (vec!["one".to_string(), "re: one".into()], true));
    let after = p.data[1].id().unwrap_or_default().to_string();
    let q = PageQuery { limit: 20, descending: false, after: Some(after), before: None };
    let Lookup::Found(p) = store.input_items(&user(&u), &b_id, &q).await.unwrap() else { panic!("page") };
    assert_eq!((texts(&p.data), p.has_more), (vec!["two".to_string()], false));
    let q = PageQuery { limit: 20, descending: true, after: None, before: None };
    let Lookup::Found(p) = store.input_items(&user(&u), &b_id, &q).await.unwrap() else { panic!("page") };
    assert_eq!(texts(&p.data), ["two", "re: one", "one"]);
    assert_eq!(store.input_items(&user(&fresh("x")), &b_id, &q).await.unwrap(), Lookup::Missing);
}

/// `item_reference` lookups resolve only the owner's items.
pub async fn item_references_resolve_only_for_the_owner(store: &dyn ResponseStore) {
    let u = fresh("u");
    let r = record(&u, "hi", None, ResponseStatus::Completed);
    let item_id = r.input[0].id().unwrap_or_default().to_string();
    put(store, r).await.expect("put");
    let found = store.items(&user(&u), &[item_id.clone(), "msg_nope".into()]).await.unwrap();
    assert!(found[0].is_some() && found[1].is_none(), "{found:?}");
    assert_eq!(store.items(&user(&fresh("x")), &[item_id]).await.unwrap(), vec![None]);
}

/// Every check above, in order.
pub async fn all_checks(store: &dyn ResponseStore) {
    users_never_see_each_others_responses(store).await;
    previous_response_chains_flatten_and_skip_failed(store).await;
    input_items_page_over_history_and_input(store).await;
    item_references_resolve_only_for_the_owner(store).await;
    conversation_lifecycle(store).await;
    responses_on_a_conversation(store).await;
}

fn all() -> PageQuery {
    PageQuery { limit: 100, descending: false, after: None, before: None }
}

async fn items_of(store: &dyn ResponseStore, owner: &str, conv: &str) -> Vec<String> {
    match store.conversation_items(&user(owner), conv, &all()).await.expect("store") {
        Lookup::Found(page) => texts(&page.data),
        other => panic!("conversation {conv} of {owner}: {other:?}"),
    }
}

/// Create, read, update, extend, page, delete; another user sees nothing.
pub async fn conversation_lifecycle(store: &dyn ResponseStore) {
    let conv = id::new_id(id::CONVERSATION, None);
    let (alice, bob) = (fresh("alice"), fresh("bob"));
    let user = |name: &str| user(if name == "alice" { &alice } else { &bob });
    let mut meta = Map::new();
    meta.insert("topic".into(), "mail".into());
    let created = Conversation::new(conv.clone(), 7, meta);
    store.create_conversation(&user("alice"), created.clone(), vec![message("one", &conv)]).await.expect("create");
    assert_eq!(store.conversation(&user("alice"), &conv).await.unwrap(), Lookup::Found(created.clone()));
    assert_eq!(store.conversation(&user("bob"), &conv).await.unwrap(), Lookup::Missing);
    assert_eq!(store.add_conversation_items(&user("bob"), &conv, vec![]).await.unwrap(), Lookup::Missing);

    let added = vec![message("two", &conv), message("three", &conv)];
    let second_id = added[0].id().unwrap_or_default().to_string();
    store.add_conversation_items(&user("alice"), &conv, added).await.expect("add");
    assert_eq!(items_of(store, &alice, &conv).await, ["one", "two", "three"]);

    let page = PageQuery { limit: 1, descending: true, after: None, before: None };
    let Lookup::Found(newest) = store.conversation_items(&user("alice"), &conv, &page).await.unwrap() else {
        panic!("page")
    };
    assert_eq!((texts(&newest.data), newest.has_more), (vec!["three".to_string()], true));

    let Lookup::Found(Some(item)) = store.conversation_item(&user("alice"), &conv, &second_id).await.unwrap() else {
        panic!("item")
    };
    assert_eq!(texts(&[item]), ["two"]);
    assert_eq!(store.conversation_item(&user("alice"), &conv, "msg_nope").await.unwrap(), Lookup::Found(None));
    assert_eq!(store.conversation_item(&user("bob"), &conv, &second_id).await.unwrap(), Lookup::Missing);

    let mut meta = Map::new();
    meta.insert("topic".into(), "calendar".into());
    let Lookup::Found(updated) = store.update_conversation(&user("alice"), &conv, meta.clone()).await.unwrap() else {
        panic!("update")
    };
    assert_eq!(updated.metadata, meta);
    assert_eq!(store.update_conversation(&user("bob"), &conv, Map::new()).await.unwrap(), Lookup::Missing);

    assert!(matches!(
        store.delete_conversation_item(&user("alice"), &conv, &second_id).await.unwrap(),
        Lookup::Found(Some(_))
    ));
    assert_eq!(items_of(store, &alice, &conv).await, ["one", "three"]);
    assert_eq!(store.delete_conversation(&user("bob"), &conv).await.unwrap(), Lookup::Missing);
    assert_eq!(store.delete_conversation(&user("alice"), &conv).await.unwrap(), Lookup::Found(()));
    assert_eq!(store.conversation(&user("alice"), &conv).await.unwrap(), Lookup::Missing);
}

/// Responses on a conversation append their input and output when they end; failed, unfinished
/// and consent-awaiting ones do not; history and `input_items` read the conversation's items; deleting the
/// conversation leaves the responses.
pub async fn responses_on_a_conversation(store: &dyn ResponseStore) {
    let conv = id::new_id(id::CONVERSATION, None);
    let (owner, other) = (fresh("alice"), fresh("bob"));
    let alice = user(&owner);
    store
        .create_conversation(&alice, Conversation::new(conv.clone(), 1, Map::new()), vec![message("hello", &conv)])
        .await
        .expect("create");
    let first = conversation_record(&owner, "a", &conv, ResponseStatus::Completed);
    put(store, first).await.expect("put");
    put(store, conversation_record(&owner, "lost", &conv, ResponseStatus::Failed)).await.expect("put");
    let mut consent = conversation_record(&owner, "sign in first", &conv, ResponseStatus::Incomplete);
    consent.response.output = vec![Item::OAuthConsentRequest(agenthost_responses::item::OAuthConsentRequestItem {
        id: "oacr_1".into(),
        consent_link: "https://login.example/consent".into(),
        server_label: "mail".into(),
        response_id: None,
        agent_reference: None,
    })];
    put(store, consent).await.expect("put");
    let mut running = conversation_record(&owner, "later", &conv, ResponseStatus::Queued);
    put(store, running.clone()).await.expect("put");
    assert_eq!(items_of(store, &owner, &conv).await, ["hello", "a", "re: a"]);

    // The background response ends: its items join after what was there.
    running.response.status = ResponseStatus::Completed;
    let running_id = running.response.id.clone();
    put(store, running).await.expect("put");
    assert_eq!(items_of(store, &owner, &conv).await, ["hello", "a", "re: a", "later", "re: later"]);
    let Lookup::Found(history) = store.history(&alice, HistorySource::Conversation(&conv)).await.unwrap() else {
        panic!("history")
    };
    assert_eq!(texts(&history), ["hello", "a", "re: a", "later", "re: later"]);
    let Lookup::Found(page) = store.input_items(&alice, &running_id, &all()).await.unwrap() else {
        panic!("input items")
    };
    assert_eq!(texts(&page.data), ["hello", "a", "re: a", "later"]);

    // A conversation named only by a response exists too, for its owner only.
    let named = id::new_id(id::CONVERSATION, None);
    put(store, conversation_record(&owner, "x", &named, ResponseStatus::Completed)).await.expect("put");
    assert!(matches!(store.conversation(&alice, &named).await.unwrap(), Lookup::Found(_)));
    assert_eq!(store.conversation(&user(&other), &named).await.unwrap(), Lookup::Missing);
    assert_eq!(items_of(store, &owner, &named).await, ["x", "re: x"]);

    assert_eq!(store.delete_conversation(&alice, &conv).await.unwrap(), Lookup::Found(()));
    assert!(matches!(store.get(&alice, &running_id).await.unwrap(), Lookup::Found(_)));
    let Lookup::Found(empty) = store.history(&alice, HistorySource::Conversation(&conv)).await.unwrap() else {
        panic!("history")
    };
    assert!(empty.is_empty());
}
