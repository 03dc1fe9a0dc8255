//! The memory store: partitioning, history rules, paging, limits.

use std::time::Duration;

use agenthost_responses::{ConversationRef, Item, Response, ResponseStatus, id};
use agenthost_store::{
    HistorySource, Lookup, MemoryStore, MemoryStoreConfig, PageQuery, Record, ResponseStore, UserKey,
};

fn record(user: &str, text: &str, prev: Option<&str>, conv: Option<&str>, status: ResponseStatus) -> Record {
    let rid = id::new_id(id::RESPONSE, prev);
    let mut response = Response::new(rid.clone(), "m".into(), 0);
    response.status = status;
    response.previous_response_id = prev.map(str::to_string);
    response.conversation = conv.map(|c| ConversationRef { id: c.into() });
    let mut input = Item::user_text(text);
    input.ensure_id(&rid);
    let mut output = Item::user_text(format!("re: {text}"));
    output.ensure_id(&rid);
    response.output = vec![output];
    Record { user: UserKey::new(user), response, input: vec![input] }
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

fn store() -> MemoryStore {
    MemoryStore::new(MemoryStoreConfig::default())
}

#[tokio::test]
async fn users_never_see_each_others_responses() {
    let s = store();
    let r = record("alice", "hi", None, None, ResponseStatus::Completed);
    let rid = r.response.id.clone();
    s.put(&r.user.clone().into(), r).await.unwrap();
    assert!(matches!(s.get(&UserKey::new("alice").into(), &rid).await.unwrap(), Lookup::Found(_)));
    assert_eq!(s.get(&UserKey::new("bob").into(), &rid).await.unwrap(), Lookup::Missing);
    assert_eq!(s.delete(&UserKey::new("bob").into(), &rid).await.unwrap(), Lookup::Missing);
    assert_eq!(s.history(&UserKey::new("bob").into(), HistorySource::Previous(&rid)).await.unwrap(), Lookup::Missing);
    assert_eq!(s.delete(&UserKey::new("alice").into(), &rid).await.unwrap(), Lookup::Found(()));
    assert_eq!(s.get(&UserKey::new("alice").into(), &rid).await.unwrap(), Lookup::Deleted);
    assert_eq!(s.get(&UserKey::new("bob").into(), &rid).await.unwrap(), Lookup::Missing);
}

#[tokio::test]
async fn previous_response_chains_flatten_and_skip_failed() {
    let s = store();
    let a = record("u", "one", None, None, ResponseStatus::Completed);
    let a_id = a.response.id.clone();
    s.put(&a.user.clone().into(), a).await.unwrap();
    let b = record("u", "two", Some(&a_id), None, ResponseStatus::Failed);
    let b_id = b.response.id.clone();
    s.put(&b.user.clone().into(), b).await.unwrap();
    let c = record("u", "three", Some(&b_id), None, ResponseStatus::Completed);
    let c_id = c.response.id.clone();
    s.put(&c.user.clone().into(), c).await.unwrap();
    let Lookup::Found(h) = s.history(&UserKey::new("u").into(), HistorySource::Previous(&c_id)).await.unwrap() else {
        panic!()
    };
    assert_eq!(texts(&h), ["one", "re: one", "three", "re: three"]);
}

#[tokio::test]
async fn conversation_history_in_creation_order_and_capped() {
    let s = store();
    for i in 0..60 {
        {
            let r = record("u", &format!("m{i}"), None, Some("conv"), ResponseStatus::Completed);
            s.put(&r.user.clone().into(), r).await
        }
        .unwrap();
    }
    {
        let r = record("other", "secret", None, Some("conv"), ResponseStatus::Completed);
        s.put(&r.user.clone().into(), r).await
    }
    .unwrap();
    let Lookup::Found(h) = s.history(&UserKey::new("u").into(), HistorySource::Conversation("conv")).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(h.len(), 100);
    assert_eq!(texts(&h)[0], "m10");
    assert_eq!(texts(&h)[99], "re: m59");
    assert!(!texts(&h).contains(&"secret".to_string()));
}

#[tokio::test]
async fn input_items_page_over_history_and_input() {
    let s = store();
    let a = record("u", "one", None, None, ResponseStatus::Completed);
    let a_id = a.response.id.clone();
    s.put(&a.user.clone().into(), a).await.unwrap();
    let b = record("u", "two", Some(&a_id), None, ResponseStatus::Completed);
    let b_id = b.response.id.clone();
    s.put(&b.user.clone().into(), b).await.unwrap();
    let q = PageQuery { limit: 2, descending: false, after: None, before: None };
    let Lookup::Found(p) = s.input_items(&UserKey::new("u").into(), &b_id, &q).await.unwrap() else { panic!() };
    assert_eq!(texts(&p.data), ["one", "re: one"]);
    assert!(p.has_more);
    let after = p.data[1].id().unwrap().to_string();
    let q = PageQuery { limit: 20, descending: false, after: Some(after), before: None };
    let Lookup::Found(p) = s.input_items(&UserKey::new("u").into(), &b_id, &q).await.unwrap() else { panic!() };
    assert_eq!(texts(&p.data), ["two"]);
    assert!(!p.has_more);
    let q = PageQuery { limit: 20, descending: true, after: None, before: None };
    let Lookup::Found(p) = s.input_items(&UserKey::new("u").into(), &b_id, &q).await.unwrap() else { panic!() };
    assert_eq!(texts(&p.data), ["two", "re: one", "one"]);
}

#[tokio::test]
async fn caps_evict_the_oldest_first() {
    let s = MemoryStore::new(MemoryStoreConfig { max_responses: 3, ..MemoryStoreConfig::default() });
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = record("u", &format!("m{i}"), None, None, ResponseStatus::Completed);
        ids.push(r.response.id.clone());
        s.put(&r.user.clone().into(), r).await.unwrap();
    }
    assert_eq!(s.get(&UserKey::new("u").into(), &ids[0]).await.unwrap(), Lookup::Missing);
    assert_eq!(s.get(&UserKey::new("u").into(), &ids[1]).await.unwrap(), Lookup::Missing);
    assert!(matches!(s.get(&UserKey::new("u").into(), &ids[4]).await.unwrap(), Lookup::Found(_)));
    let st = s.stats();
    assert_eq!((st.responses, st.evictions), (3, 2));

    let s = MemoryStore::new(MemoryStoreConfig { max_bytes: 2000, ..MemoryStoreConfig::default() });
    for i in 0..50 {
        {
            let r = record("u", &format!("m{i}"), None, None, ResponseStatus::Completed);
            s.put(&r.user.clone().into(), r).await
        }
        .unwrap();
    }
    assert!(s.stats().bytes <= 2000);
    assert!(s.stats().responses < 50);
}

#[tokio::test]
async fn ttl_expires_responses() {
    let s = MemoryStore::new(MemoryStoreConfig { ttl: Duration::ZERO, ..MemoryStoreConfig::default() });
    let r = record("u", "hi", None, None, ResponseStatus::Completed);
    let rid = r.response.id.clone();
    s.put(&r.user.clone().into(), r).await.unwrap();
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(s.get(&UserKey::new("u").into(), &rid).await.unwrap(), Lookup::Missing);
}

#[tokio::test]
async fn item_references_resolve_only_for_the_owner() {
    let s = store();
    let r = record("u", "hi", None, None, ResponseStatus::Completed);
    let item_id = r.input[0].id().unwrap().to_string();
    s.put(&r.user.clone().into(), r).await.unwrap();
    let found = s.items(&UserKey::new("u").into(), &[item_id.clone(), "msg_nope".into()]).await.unwrap();
    assert!(found[0].is_some() && found[1].is_none());
    assert_eq!(s.items(&UserKey::new("x").into(), &[item_id]).await.unwrap(), vec![None]);
}

#[tokio::test]
async fn conformance_conversation_lifecycle() {
    agenthost_store::conformance::conversation_lifecycle(&store()).await;
}

#[tokio::test]
async fn conformance_responses_on_a_conversation() {
    agenthost_store::conformance::responses_on_a_conversation(&store()).await;
}

#[tokio::test]
async fn conformance_all_checks() {
    agenthost_store::conformance::all_checks(&store()).await;
}
