//! The shared store behaviour against a real PostgreSQL (`AGENTHOST_TEST_POSTGRES_URL`, started
//! by `tests/scripts/pg-throwaway.sh`; `.ci/run` does it). Without one a local run says it
//! skipped; in CI (CI set) it fails.

use std::time::Duration;

use agenthost_store::conformance;
use agenthost_store::{Lookup, ResponseStore, UserKey};
use agenthost_store_postgres::{PostgresOptions, PostgresStore, redact};

fn url() -> Option<String> {
    let url = std::env::var("AGENTHOST_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        let why = "AGENTHOST_TEST_POSTGRES_URL not set (eval \"$(tests/scripts/pg-throwaway.sh env)\")";
        assert!(std::env::var("CI").is_err(), "CI: {why}");
        eprintln!("skipped: {why}");
    }
    url
}

fn options(url: &str) -> PostgresOptions {
    PostgresOptions {
        url: url.to_string(),
        password: None,
        max_connections: 4,
        ttl: Duration::from_secs(3600),
        max_responses: 1_000_000,
        lease: Duration::from_secs(30),
    }
}

// One test, so the cap check at the end (which trims the whole table) races nothing.
#[tokio::test]
async fn postgres_store_conforms() {
    let Some(url) = url() else { return };
    let store = PostgresStore::new(&options(&url)).expect("store");
    // Twice, as replicas starting together would.
    let (a, b) = tokio::join!(store.migrate(), store.migrate());
    a.expect("migrate");
    b.expect("migrate again");
    conformance::all_checks(&store).await;

    // A second connection (another replica) sees what the first wrote.
    let other = PostgresStore::new(&options(&url)).expect("store");
    let r = conformance::record("replica-user", "shared", None, agenthost_responses::ResponseStatus::Completed);
    let id = r.response.id.clone();
    store.put(&r.user.clone().into(), r).await.expect("put");
    assert!(matches!(other.get(&UserKey::new("replica-user").into(), &id).await.unwrap(), Lookup::Found(_)));

    // Retention: a zero TTL reads as missing; the count cap trims the oldest.
    let expired = PostgresStore::new(&PostgresOptions { ttl: Duration::ZERO, ..options(&url) }).expect("store");
    assert_eq!(expired.get(&UserKey::new("replica-user").into(), &id).await.unwrap(), Lookup::Missing);
    let capped = PostgresStore::new(&PostgresOptions { max_responses: 1, ..options(&url) }).expect("store");
    let newest = conformance::record("cap-user", "newest", None, agenthost_responses::ResponseStatus::Completed);
    let newest_id = newest.response.id.clone();
    capped.put(&newest.user.clone().into(), newest).await.expect("put");
    capped.sweep().await.expect("sweep");
    assert_eq!(capped.get(&UserKey::new("replica-user").into(), &id).await.unwrap(), Lookup::Missing);
    assert!(matches!(capped.get(&UserKey::new("cap-user").into(), &newest_id).await.unwrap(), Lookup::Found(_)));
    assert_eq!(capped.stats().responses, 1);
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_not_a_panic() {
    let store = PostgresStore::new(&options("postgres://agenthost:secret-pw@127.0.0.1:1/agenthost")).expect("store");
    let err = store.migrate().await.expect_err("unreachable");
    assert_eq!(err.code(), "store_unavailable");
    assert!(!err.to_string().contains("secret-pw"), "{err}");
    let err = store.get(&UserKey::new("u").into(), "caresp_x").await.expect_err("unreachable");
    assert_eq!(err.code(), "store_unavailable");
    assert_eq!(redact("postgres://agenthost:secret-pw@db:5432/x"), "postgres://agenthost:***@db:5432/x");
    assert!(PostgresStore::new(&options("not a url")).is_err());
}
