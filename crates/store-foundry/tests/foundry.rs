//! The Foundry storage store against the mock proxy's storage routes on loopback: the shared
//! conformance suite, the headers of every call, partitioning by call id, and a 503 storm.

use std::sync::Arc;
use std::time::Duration;

use agenthost_identity::StaticToken;
use agenthost_mock_proxy::{MockProxy, Scenario};
use agenthost_responses::ResponseStatus;
use agenthost_store::{Caller, HistorySource, Lookup, ResponseStore, UserKey, conformance};
use agenthost_store_foundry::{FoundryOptions, FoundryStore, RetryPolicy};

const TOKEN: &str = "storage-token-1";

async fn start() -> (MockProxy, FoundryStore) {
    let proxy = MockProxy::start(Scenario::default()).await.expect("mock proxy");
    let mut options = FoundryOptions::new(format!("{}/api/projects/p", proxy.base_url()));
    options.retry = RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let store = FoundryStore::new(&options, Arc::new(StaticToken::new(TOKEN))).expect("store");
    (proxy, store)
}

#[tokio::test]
async fn the_foundry_store_conforms() {
    let (proxy, store) = start().await;
    store.check().await.expect("usable");
    conformance::all_checks(&store).await;
    proxy.shutdown().await;
}

#[tokio::test]
async fn every_call_carries_the_token_and_the_call_id_and_never_the_user() {
    let (proxy, store) = start().await;
    let caller = Caller::new(UserKey::new("alice"), Some("alice:call-17"));
    let first = conformance::record("alice", "one", None, ResponseStatus::Completed);
    let first_id = first.response.id.clone();
    store.put(&caller, first).await.expect("put");
    let second = conformance::record("alice", "two", Some(&first_id), ResponseStatus::Completed);
    let second_id = second.response.id.clone();
    store.put(&caller, second).await.expect("put");
    assert!(matches!(store.get(&caller, &second_id).await.unwrap(), Lookup::Found(_)));

    let calls = proxy.storage_requests();
    let routes: Vec<String> = calls.iter().map(|c| format!("{} {}", c.method, c.route)).collect();
    assert_eq!(
        routes,
        [
            "POST storage/responses".to_string(),
            "GET storage/history/item_ids".into(),
            "POST storage/responses".into(),
            format!("GET storage/responses/{second_id}"),
        ]
    );
    assert_eq!(
        calls[1].query.as_deref(),
        Some(format!("api-version=v1&limit=100&previous_response_id={first_id}").as_str())
    );
    for call in &calls {
        assert_eq!(call.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()), "{call:?}");
        assert_eq!(call.header("x-agent-foundry-call-id"), Some("alice:call-17"), "{call:?}");
        assert_eq!(call.header("x-agent-user-id"), None, "{call:?}");
        assert_eq!(call.user, "alice");
        assert!(call.query.as_deref().is_some_and(|q| q.starts_with("api-version=v1")), "{call:?}");
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn users_are_partitioned_by_the_call_id_and_a_user_without_one_is_refused() {
    let (proxy, store) = start().await;
    let alice = Caller::new(UserKey::new("alice"), Some("alice:1"));
    let bob = Caller::new(UserKey::new("bob"), Some("bob:1"));
    let r = conformance::record("alice", "secret", None, ResponseStatus::Completed);
    let id = r.response.id.clone();
    let item = r.input[0].id().unwrap_or_default().to_string();
    store.put(&alice, r).await.expect("put");
    // Another call of alice's (a new call id) sees it; bob does not.
    let later = Caller::new(UserKey::new("alice"), Some("alice:2"));
    let Lookup::Found(got) = store.get(&later, &id).await.unwrap() else { panic!("alice's own response") };
    assert_eq!(got.response.id, id);
    assert_eq!(store.get(&bob, &id).await.unwrap(), Lookup::Missing);
    assert_eq!(store.items(&bob, std::slice::from_ref(&item)).await.unwrap(), vec![None]);
    assert_eq!(store.history(&bob, HistorySource::Previous(&id)).await.unwrap(), Lookup::Missing);
    assert_eq!(store.delete(&bob, &id).await.unwrap(), Lookup::Missing);
    // Without a call id the service would answer from the container's partition: refused.
    let calls_before = proxy.storage_requests().len();
    let err = store.get(&UserKey::new("alice").into(), &id).await.expect_err("no call id");
    assert_eq!(err.code(), "store_unavailable");
    assert!(err.to_string().contains("x-agent-foundry-call-id"), "{err}");
    assert_eq!(proxy.storage_requests().len(), calls_before, "nothing was sent");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_503_storm_is_unavailable_after_bounded_retries_then_recovers() {
    let (proxy, store) = start().await;
    let caller = Caller::new(UserKey::new("carol"), Some("carol:1"));
    proxy.fail_storage(503, 1000);
    let err = store.get(&caller, "caresp_x").await.expect_err("storm");
    assert_eq!(err.code(), "store_unavailable");
    assert!(err.to_string().contains("HTTP 503 (mock_fault)") && err.to_string().contains("after 3 attempts"), "{err}");
    assert_eq!(proxy.storage_requests().len(), 3, "reads are retried, a bounded number of times");

    // A write is not repeated after a 503 (it may have been processed).
    proxy.clear_storage_requests();
    let r = conformance::record("carol", "hi", None, ResponseStatus::Completed);
    let err = store.put(&caller, r.clone()).await.expect_err("storm");
    assert_eq!(err.code(), "store_unavailable");
    assert!(err.to_string().contains("after 1 attempt)"), "{err}");
    assert_eq!(proxy.storage_requests().len(), 1);
    assert!(store.check().await.is_err());

    // 429 says the service did not process it: writes are retried too.
    proxy.fail_storage(429, 1);
    store.put(&caller, r.clone()).await.expect("retried past one 429");
    proxy.fail_storage(0, 0);
    store.check().await.expect("usable again");
    assert!(matches!(store.get(&caller, &r.response.id).await.unwrap(), Lookup::Found(_)));
    proxy.shutdown().await;
}

#[tokio::test]
async fn refused_credentials_and_bad_bodies_are_typed() {
    let (proxy, store) = start().await;
    let caller = Caller::new(UserKey::new("dave"), Some("dave:1"));
    proxy.expire("dave");
    let err = store.get(&caller, "caresp_x").await.expect_err("401");
    assert_eq!(err.code(), "store_unavailable");
    assert!(err.to_string().contains("HTTP 401") && !err.to_string().contains(TOKEN), "{err}");
    proxy.unexpire("dave");

    // A service answering something that is not a response: corrupt, not a panic.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "not json" });
        let _ = axum::serve(listener, app).await;
    });
    let odd = FoundryStore::new(&FoundryOptions::new(format!("http://{addr}")), Arc::new(StaticToken::new(TOKEN)))
        .expect("store");
    let err = odd.get(&caller, "caresp_x").await.expect_err("corrupt");
    assert_eq!(err.code(), "store_corrupt");
    // Answering at all (here 200 with junk) is usable; a service wanting a call id on every
    // call would answer 4xx and be usable too.
    odd.check().await.expect("usable");
    proxy.shutdown().await;
}
