//! `CachedProvider`: caching per scope, refresh inside the margin (driven by a manual
//! clock), single-flight refreshes, and serving a still-valid token when a refresh fails.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agenthost_identity::{
    AccessToken, COGNITIVE_SERVICES_SCOPE, CacheOptions, CachedProvider, Clock, ManagedIdentity, TOOLBOX_SCOPE,
    TokenError, TokenProvider,
};
use common::{ManualClock, Mock, Reply, fast_http};
use tokio::sync::{Semaphore, watch};

const MIN: Duration = Duration::from_secs(60);

/// An in-process provider whose tokens live `lifetime` on the manual clock.
#[derive(Debug)]
struct Fake {
    clock: Arc<ManualClock>,
    lifetime: Duration,
    calls: AtomicUsize,
    fail: AtomicBool,
    entered: watch::Sender<usize>,
    gate: Semaphore,
}

impl Fake {
    fn new(clock: &Arc<ManualClock>, lifetime: Duration) -> Arc<Self> {
        Arc::new(Self {
            clock: Arc::clone(clock),
            lifetime,
            calls: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
            entered: watch::channel(0).0,
            gate: Semaphore::new(Semaphore::MAX_PERMITS / 2),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl TokenProvider for Fake {
    async fn token(&self, _scope: &str) -> Result<AccessToken, TokenError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.entered.send_modify(|v| *v = n);
        self.gate.acquire().await.expect("gate").forget();
        if self.fail.load(Ordering::SeqCst) {
            return Err(TokenError::Http { status: 503, code: None, description: None });
        }
        Ok(AccessToken::new(format!("fake-{n}"), self.clock.now() + self.lifetime))
    }

    fn kind(&self) -> &'static str {
        "fake"
    }
}

fn start() -> Arc<ManualClock> {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000))
}

fn cached(fake: &Arc<Fake>, clock: &Arc<ManualClock>) -> CachedProvider<Arc<Fake>> {
    let opts = CacheOptions { refresh_margin: 5 * MIN, failure_cooldown: Duration::from_secs(10) };
    CachedProvider::with_options(Arc::clone(fake), opts).with_clock(Arc::clone(clock) as _)
}

async fn secret(provider: &impl TokenProvider) -> String {
    provider.token(TOOLBOX_SCOPE).await.expect("token").secret().expose().to_owned()
}

#[tokio::test]
async fn second_call_is_served_from_cache_per_scope() {
    let mock = Mock::start(Reply::token_in(3600)).await;
    let mi = ManagedIdentity::imds(Some(&mock.url), None, &fast_http()).expect("imds");
    let cached = CachedProvider::new(mi);
    assert_eq!(secret(&cached).await, "tok-1");
    assert_eq!(secret(&cached).await, "tok-1");
    assert_eq!(mock.hits(), 1);
    let other = cached.token(COGNITIVE_SERVICES_SCOPE).await.expect("token");
    assert_eq!(other.secret().expose(), "tok-2");
    assert_eq!(mock.hits(), 2, "each scope has its own entry");
    assert_eq!(cached.kind(), "managed_identity");

    cached.invalidate(TOOLBOX_SCOPE);
    assert_eq!(secret(&cached).await, "tok-3");
}

#[tokio::test]
async fn refreshes_once_inside_the_margin() {
    let clock = start();
    let fake = Fake::new(&clock, 60 * MIN);
    let cached = cached(&fake, &clock);
    assert_eq!(secret(&cached).await, "fake-1");
    clock.advance(54 * MIN);
    assert_eq!(secret(&cached).await, "fake-1", "6 min left: still fresh");
    assert_eq!(fake.calls(), 1);
    clock.advance(MIN + Duration::from_secs(1));
    assert_eq!(secret(&cached).await, "fake-2", "under 5 min left: refreshed");
    assert_eq!(secret(&cached).await, "fake-2");
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn short_tokens_refresh_at_half_life() {
    let clock = start();
    let fake = Fake::new(&clock, 4 * MIN);
    let cached = cached(&fake, &clock);
    assert_eq!(secret(&cached).await, "fake-1");
    clock.advance(2 * MIN - Duration::from_secs(1));
    assert_eq!(secret(&cached).await, "fake-1");
    clock.advance(Duration::from_secs(2));
    assert_eq!(secret(&cached).await, "fake-2");
}

#[tokio::test]
async fn concurrent_callers_share_one_http_request() {
    let mock = Mock::start_gated(Reply::token_in(3600)).await;
    let mi = ManagedIdentity::imds(Some(&mock.url), None, &fast_http()).expect("imds");
    let cached = Arc::new(CachedProvider::new(mi));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let cached = Arc::clone(&cached);
            tokio::spawn(async move { secret(&*cached).await })
        })
        .collect();
    mock.wait_for_hits(1).await;
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    mock.open_gate();
    for task in tasks {
        assert_eq!(task.await.expect("join"), "tok-1");
    }
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn concurrent_callers_share_one_failure() {
    let mock = Mock::start_gated(Reply::new(400, r#"{"error":"invalid_request"}"#)).await;
    let mi = ManagedIdentity::imds(Some(&mock.url), None, &fast_http()).expect("imds");
    let cached = Arc::new(CachedProvider::new(mi));
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let cached = Arc::clone(&cached);
            tokio::spawn(async move { cached.token(TOOLBOX_SCOPE).await })
        })
        .collect();
    mock.wait_for_hits(1).await;
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    mock.open_gate();
    for task in tasks {
        let err = task.await.expect("join").expect_err("must fail");
        assert!(matches!(err, TokenError::Http { status: 400, .. }), "{err:?}");
    }
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn callers_with_a_valid_token_do_not_wait_for_a_refresh() {
    let clock = start();
    let fake = Fake::new(&clock, 60 * MIN);
    let cached = Arc::new(cached(&fake, &clock));
    assert_eq!(secret(&*cached).await, "fake-1");
    fake.gate.forget_permits(usize::MAX);
    clock.advance(57 * MIN);

    let refresher = {
        let cached = Arc::clone(&cached);
        tokio::spawn(async move { secret(&*cached).await })
    };
    fake.entered.subscribe().wait_for(|n| *n >= 2).await.expect("entered");
    let during = tokio::time::timeout(Duration::from_secs(10), secret(&*cached))
        .await
        .expect("must not wait on the in-flight refresh");
    assert_eq!(during, "fake-1");
    fake.gate.add_permits(1);
    assert_eq!(refresher.await.expect("join"), "fake-2");
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn failed_refresh_keeps_serving_the_valid_token() {
    let clock = start();
    let fake = Fake::new(&clock, 60 * MIN);
    let cached = cached(&fake, &clock);
    assert_eq!(secret(&cached).await, "fake-1");
    fake.fail.store(true, Ordering::SeqCst);

    clock.advance(57 * MIN);
    assert_eq!(secret(&cached).await, "fake-1", "refresh failed, old token still valid");
    assert_eq!(fake.calls(), 2);
    clock.advance(Duration::from_secs(5));
    assert_eq!(secret(&cached).await, "fake-1");
    assert_eq!(fake.calls(), 2, "no retry within the failure cooldown");
    clock.advance(Duration::from_secs(6));
    assert_eq!(secret(&cached).await, "fake-1");
    assert_eq!(fake.calls(), 3, "retried after the cooldown");

    clock.advance(3 * MIN);
    let err = cached.token(TOOLBOX_SCOPE).await.expect_err("expired and failing");
    assert!(matches!(err, TokenError::Http { status: 503, .. }), "{err:?}");

    fake.fail.store(false, Ordering::SeqCst);
    assert_eq!(secret(&cached).await, "fake-5", "recovers once the provider does");
}

#[tokio::test]
async fn debug_does_not_print_cached_tokens() {
    let clock = start();
    let fake = Fake::new(&clock, 60 * MIN);
    let cached = cached(&fake, &clock);
    let token = cached.token(TOOLBOX_SCOPE).await.expect("token");
    let text = format!("{cached:?} {token:?}");
    assert!(!text.contains("fake-1"), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    assert!(token.expires_at() > SystemTime::UNIX_EPOCH);
}
