//! Single-flight: at most one computation per key at a time, its result shared by every caller
//! that asks while it runs.
//!
//! A computation runs as its own task, so it completes (and its result is recorded by the
//! computation itself, e.g. in a cache) even when every caller has given up. No lock is held
//! while it runs: the map of flights is locked only to look up, start or end one. The caller
//! records results; the usual shape is "check the cache, else join the flight", with the check
//! repeated under the map's lock by [`Flights::join`] so that a flight ending between the two
//! never starts a second one.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use parking_lot::Mutex;

/// A computation in flight; await it for its result. Cloning joins it.
pub type Flight<V> = Shared<BoxFuture<'static, Result<V, Lost>>>;

/// The computation ended without a result: it panicked, or its runtime shut down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the shared computation ended without a result")]
pub struct Lost;

/// What [`Flights::join`] found.
pub enum Join<V> {
    /// The check answered; nothing runs.
    Ready(V),
    /// A computation is in flight.
    Wait {
        /// Await it for the result.
        flight: Flight<V>,
        /// Whether this call started it (false: it joined one already running).
        started: bool,
    },
}

/// The flights in progress, by key.
pub struct Flights<K, V> {
    map: Mutex<HashMap<K, (u64, Flight<V>)>>,
    next: AtomicU64,
}

impl<K, V> Default for Flights<K, V> {
    fn default() -> Self {
        Flights { map: Mutex::new(HashMap::new()), next: AtomicU64::new(0) }
    }
}

impl<K, V> Flights<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A new, empty set of flights.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Joins the flight of `key`; if there is none, asks `check` (under the map's lock, so keep it
    /// short and free of I/O) and, if it has no answer, spawns `work` as the key's flight. The
    /// flight leaves the map when `work` completes, after whatever `work` recorded.
    pub fn join<Fut>(self: &Arc<Self>, key: K, check: impl FnOnce() -> Option<V>, work: impl FnOnce() -> Fut) -> Join<V>
    where
        Fut: Future<Output = V> + Send + 'static,
    {
        let mut map = self.map.lock();
        if let Some((_, flight)) = map.get(&key) {
            return Join::Wait { flight: flight.clone(), started: false };
        }
        if let Some(ready) = check() {
            return Join::Ready(ready);
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let this = Arc::clone(self);
        let done_key = key.clone();
        let future = work();
        let task = tokio::spawn(async move {
            let value = future.await;
            this.end(&done_key, id);
            value
        });
        let flight: Flight<V> = task.map(|joined| joined.map_err(|_| Lost)).boxed().shared();
        map.insert(key, (id, flight.clone()));
        Join::Wait { flight, started: true }
    }

    /// Whether `key` has a flight in progress.
    pub fn in_flight(&self, key: &K) -> bool {
        self.map.lock().contains_key(key)
    }

    fn end(&self, key: &K, id: u64) {
        let mut map = self.map.lock();
        if map.get(key).is_some_and(|(current, _)| *current == id) {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[tokio::test]
    async fn one_computation_per_key_shared_by_every_caller() {
        let flights: Arc<Flights<&str, usize>> = Flights::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::oneshot::channel::<()>();
        let counted = runs.clone();
        let Join::Wait { flight: first, started: true } = flights.join(
            "a",
            || None,
            move || async move {
                gate.await.ok();
                counted.fetch_add(1, Ordering::SeqCst) + 41
            },
        ) else {
            panic!("the first call starts the flight")
        };
        let Join::Wait { flight: second, started: false } =
            flights.join("a", || Some(0), || async { unreachable!("joined, not started") })
        else {
            panic!("the second call joins")
        };
        assert!(flights.in_flight(&"a") && !flights.in_flight(&"b"));
        release.send(()).ok();
        assert_eq!((first.await, second.await), (Ok(41), Ok(41)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(!flights.in_flight(&"a"));
        // No flight: the check answers, nothing runs.
        assert!(matches!(flights.join("a", || Some(7), || async { 0 }), Join::Ready(7)));
    }

    #[tokio::test]
    async fn a_flight_completes_when_every_caller_gives_up() {
        let flights: Arc<Flights<u8, ()>> = Flights::new();
        let (done, finished) = tokio::sync::oneshot::channel();
        let Join::Wait { flight, .. } = flights.join(
            1,
            || None,
            move || async move {
                done.send(()).ok();
            },
        ) else {
            panic!("started")
        };
        drop(flight);
        finished.await.expect("the work ran to its end");
    }

    #[tokio::test]
    async fn a_panicking_computation_is_lost_not_hung() {
        let flights: Arc<Flights<u8, u8>> = Flights::new();
        let Join::Wait { flight, .. } = flights.join(1, || None, || async { panic!("boom") }) else {
            panic!("started")
        };
        assert_eq!(flight.await, Err(Lost));
    }
}
