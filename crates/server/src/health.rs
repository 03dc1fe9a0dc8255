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
