//! [`CachedProvider`]: per-scope token caching with early refresh, single-flight refreshes
//! and stale-while-failing.
//!
//! Locking: a `parking_lot` mutex guards each scope's cached state and is never held
//! across an await. A per-scope `tokio::sync::Mutex<()>` is the single-flight gate: only
//! its holder calls the inner provider. Callers that still have a valid (if ageing) token
//! never wait on the gate; they are served the cached token while the refresh runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
    inner: P,
    opts: CacheOptions,
    clock: Arc<dyn Clock>,
    entries: parking_lot::Mutex<HashMap<String, Arc<Entry>>>,
}

#[derive(Default)]
struct Entry {
    gate: tokio::sync::Mutex<()>,
    state: parking_lot::Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// Incremented after every completed fetch, successful or not.
    generation: u64,
    /// The error of the last fetch if it failed.
    last_error: Option<TokenError>,
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

impl<P: TokenProvider> CachedProvider<P> {
    /// Caches `inner` with [`CacheOptions::default`].
    pub fn new(inner: P) -> Self {
        Self::with_options(inner, CacheOptions::default())
    }

    /// Caches `inner` with `opts`.
    pub fn with_options(inner: P, opts: CacheOptions) -> Self {
        Self { inner, opts, clock: Arc::new(SystemClock), entries: parking_lot::Mutex::new(HashMap::new()) }
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

    async fn fetch(&self, entry: &Entry, scope: &str) -> Result<AccessToken, TokenError> {
        let result = self.inner.token(scope).await;
        let now = self.clock.now();
        let mut state = entry.state.lock();
        state.generation = state.generation.wrapping_add(1);
        match result {
            Ok(token) => {
                state.cached = Some(Cached { token: token.clone(), obtained_at: now });
                state.last_error = None;
                state.failed_at = None;
                Ok(token)
            }
            Err(error) => {
                let usable = state.cached.as_ref().filter(|c| !c.token.is_expired_at(now)).map(|c| c.token.clone());
                state.last_error = Some(error.clone());
                match usable {
                    Some(token) => {
                        state.failed_at = Some(now);
                        tracing::warn!(
                            kind = self.inner.kind(),
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

#[async_trait::async_trait]
impl<P: TokenProvider> TokenProvider for CachedProvider<P> {
    async fn token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        let entry = self.entry(scope);
        let margin = self.opts.refresh_margin;

        // Fast path: a fresh token, or a valid one while a refresh is cooling down.
        let (generation, usable) = {
            let now = self.clock.now();
            let state = entry.state.lock();
            let usable = match &state.cached {
                Some(c) if !c.needs_refresh(now, margin) => return Ok(c.token.clone()),
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
            };
            (state.generation, usable)
        };

        // Single-flight gate: with a valid token in hand, never wait for another refresh.
        let _gate = match usable {
            Some(token) => match entry.gate.try_lock() {
                Ok(gate) => gate,
                Err(_) => return Ok(token),
            },
            None => entry.gate.lock().await,
        };

        // Another caller may have completed a fetch while we waited.
        {
            let now = self.clock.now();
            let state = entry.state.lock();
            if let Some(c) = &state.cached
                && !c.needs_refresh(now, margin)
            {
                return Ok(c.token.clone());
            }
            if state.generation != generation
                && let Some(error) = &state.last_error
            {
                return match &state.cached {
                    Some(c) if !c.token.is_expired_at(now) => Ok(c.token.clone()),
                    _ => Err(error.clone()),
                };
            }
        }

        self.fetch(&entry, scope).await
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
