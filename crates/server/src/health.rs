//! The server's lifecycle phase (starting, ready, draining), which readiness reports.

use std::sync::atomic::{AtomicU8, Ordering};

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;

/// The server's lifecycle as probes see it.
#[derive(Default)]
pub struct Health {
    phase: AtomicU8,
}

impl Health {
    /// Startup work is done.
    pub fn set_ready(&self) {
        let _ = self.phase.compare_exchange(STARTING, READY, Ordering::AcqRel, Ordering::Acquire);
    }

    /// SIGTERM arrived: unready for good, no new responses.
    pub fn start_draining(&self) {
        self.phase.store(DRAINING, Ordering::Release);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.phase.load(Ordering::Acquire) == DRAINING
    }

    /// The phase as readiness reports it, and whether it alone allows being ready.
    pub(crate) fn status(&self) -> (&'static str, bool) {
        match self.phase.load(Ordering::Acquire) {
            READY => ("ready", true),
            DRAINING => ("draining", false),
            _ => ("starting", false),
        }
    }
}

/// Whether the store can be used, as readiness reports it. The memory store always can; a
/// database store becomes usable once its schema is applied, and stays reported with the last
/// failure so operators see why.
pub struct StoreHealth {
    /// `memory`, `postgres` or `foundry`.
    pub kind: &'static str,
    /// The store's target without secrets.
    pub target: String,
    state: parking_lot::Mutex<(bool, Option<String>)>,
}

impl StoreHealth {
    /// Health of a store that is usable from the start (`ready`) or not yet.
    pub fn new(kind: &'static str, target: String, ready: bool) -> Self {
        StoreHealth { kind, target, state: parking_lot::Mutex::new((ready, None)) }
    }

    /// Whether requests that store can be served.
    pub fn is_ready(&self) -> bool {
        self.state.lock().0
    }

    /// Records the outcome of a connection attempt.
    pub fn record(&self, outcome: Result<(), String>) {
        let mut state = self.state.lock();
        *state = match outcome {
            Ok(()) => (true, None),
            Err(e) => (false, Some(e)),
        };
    }

    /// The readiness body's `store` field.
    pub fn report(&self) -> serde_json::Value {
        let (ready, last_error) = self.state.lock().clone();
        serde_json::json!({
            "kind": self.kind,
            "target": self.target,
            "state": if ready { "ready" } else { "unavailable" },
            "last_error": last_error,
        })
    }
}
