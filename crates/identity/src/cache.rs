//! [`CachedProvider`]: per-scope token caching with early refresh, single-flight refreshes
//! and stale-while-failing.
//!
//! Locking: a `parking_lot` mutex guards each scope's cached state and is never held across an
//! await. A refresh is the scope's single flight ([`agenthost_single_flight`]): it runs as its
//! own task, so it finishes and fills the cache even if its callers give up, and no lock is held
//! while it talks to the token endpoint. Callers that still have a valid (if ageing) token never
//! wait for it; they are served the cached token while the refresh runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agenthost_single_flight::{Flights, Join};

use crate::error::TokenError;
use crate::provider::TokenProvider;
use crate::token::AccessToken;

/// A source of wall-clock time, injectable for tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The real clock ([`SystemTime::now`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// When [`CachedProvider`] refreshes.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Refresh once less than this is left, or less than half the token's lifetime if
    /// that is smaller (short-lived tokens). Default 5 min.
    pub refresh_margin: Duration,
    /// After a failed refresh while a valid token is cached, serve that token without
    /// retrying for this long. Default 10 s.
    pub failure_cooldown: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self { refresh_margin: Duration::from_secs(5 * 60), failure_cooldown: Duration::from_secs(10) }
    }
}

/// Caches the tokens of `P` per scope (scopes are few; entries are never evicted).
pub struct CachedProvider<P> {
    inner: Arc<P>,
    opts: CacheOptions,
    clock: Arc<dyn Clock>,
    entries: parking_lot::Mutex<HashMap<String, Arc<Entry>>>,
    refreshes: Arc<Flights<String, Result<AccessToken, TokenError>>>,
}

#[derive(Default)]
struct Entry {
    state: parking_lot::Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// When the last fetch failed while a valid token was cached.
    failed_at: Option<SystemTime>,
}

struct Cached {
    token: AccessToken,
    obtained_at: SystemTime,
}

impl Cached {
    fn needs_refresh(&self, now: SystemTime, margin: Duration) -> bool {
        let lifetime = self.token.expires_at().duration_since(self.obtained_at).unwrap_or(Duration::ZERO);
        let margin = margin.min(lifetime / 2);
        self.token.remaining_at(now) <= margin
    }
}

impl<P: TokenProvider + 'static> CachedProvider<P> {
    /// Caches `inner` with [`CacheOptions::default`].
    pub fn new(inner: P) -> Self {
        Self::with_options(inner, CacheOptions::default())
    }

    /// Caches `inner` with `opts`.
    pub fn with_options(inner: P, opts: CacheOptions) -> Self {
        Self {
            inner: Arc::new(inner),
            opts,
            clock: Arc::new(SystemClock),
            entries: parking_lot::Mutex::new(HashMap::new()),
            refreshes: Flights::new(),
        }
    }

    /// Replaces the clock (for tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Drops the cached token for `scope`, e.g. after a downstream 401.
    pub fn invalidate(&self, scope: &str) {
        if let Some(entry) = self.entries.lock().get(scope) {
            let mut state = entry.state.lock();
            state.cached = None;
            state.failed_at = None;
        }
    }

    fn entry(&self, scope: &str) -> Arc<Entry> {
        Arc::clone(self.entries.lock().entry(scope.to_owned()).or_default())
    }

    /// A token that needs no refresh, if cached.
    fn fresh(&self, entry: &Entry) -> Option<AccessToken> {
        let state = entry.state.lock();
        let c = state.cached.as_ref()?;
        (!c.needs_refresh(self.clock.now(), self.opts.refresh_margin)).then(|| c.token.clone())
    }

    /// The refresh: asks the inner provider, then records the outcome. Owned values only, since
    /// it runs as its own task.
    fn refresh(
        &self,
        entry: Arc<Entry>,
        scope: String,
    ) -> impl Future<Output = Result<AccessToken, TokenError>> + Send + use<P> {
        let inner = Arc::clone(&self.inner);
        let clock = Arc::clone(&self.clock);
        async move {
            let result = inner.token(&scope).await;
            let now = clock.now();
            let mut state = entry.state.lock();
            match result {
                Ok(token) => {
                    state.cached = Some(Cached { token: token.clone(), obtained_at: now });
                    state.failed_at = None;
                    Ok(token)
                }
                Err(error) => {
                    let usable = state.cached.as_ref().filter(|c| !c.token.is_expired_at(now)).map(|c| c.token.clone());
                    match usable {
                        Some(token) => {
                            state.failed_at = Some(now);
                            tracing::warn!(
                                kind = inner.kind(),
                                scope,
                                expires_at = ?token.expires_at(),
                                error = %error,
                                "token refresh failed; serving the cached token"
                            );
                            Ok(token)
                        }
                        None => Err(error),
                    }
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl<P: TokenProvider + 'static> TokenProvider for CachedProvider<P> {
    async fn token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        let entry = self.entry(scope);

        // Fast path: a fresh token, or a valid one while a refresh is cooling down.
        let usable = {
            let now = self.clock.now();
            let state = entry.state.lock();
            match &state.cached {
                Some(c) if !c.needs_refresh(now, self.opts.refresh_margin) => return Ok(c.token.clone()),
                Some(c) if !c.token.is_expired_at(now) => {
                    let cooling = state.failed_at.is_some_and(|at| {
                        now.duration_since(at).unwrap_or(Duration::ZERO) < self.opts.failure_cooldown
                    });
                    if cooling {
                        return Ok(c.token.clone());
                    }
                    Some(c.token.clone())
                }
                _ => None,
            }
        };

        // Another caller may have refreshed since the fast path: `fresh` checks again under the
        // flights' lock.
        let joined = self.refreshes.join(
            scope.to_owned(),
            || self.fresh(&entry).map(Ok),
            || self.refresh(Arc::clone(&entry), scope.to_owned()),
        );
        match (joined, usable) {
            (Join::Ready(result), _) => result,
            // With a valid token in hand, never wait for another caller's refresh.
            (Join::Wait { started: false, .. }, Some(token)) => Ok(token),
            (Join::Wait { flight, .. }, _) => flight.await.unwrap_or(Err(TokenError::RefreshLost)),
        }
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

impl<P: std::fmt::Debug> std::fmt::Debug for CachedProvider<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedProvider")
            .field("inner", &self.inner)
            .field("opts", &self.opts)
            .field("scopes", &self.entries.lock().len())
            .finish()
    }
}
