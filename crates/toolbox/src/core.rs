//! What every toolbox of a registry shares: policies, timeouts, telemetry and the change signal.

use std::time::Duration;

use agenthost_agent::Telemetry;
use tokio::sync::watch;

use crate::consent::LinkPolicy;
use crate::settings::{ApprovalPolicy, ConsentMode, RetryPolicy};

/// What every toolbox shares: policies, timeouts and the change signal.
pub struct Core {
    pub(crate) consent_mode: ConsentMode,
    pub(crate) approval: ApprovalPolicy,
    pub(crate) links: LinkPolicy,
    pub(crate) retry: RetryPolicy,
    pub(crate) request_timeout: Duration,
    pub(crate) list_ttl: Duration,
    pub(crate) failure_ttl: Duration,
    pub(crate) degraded_wait: Duration,
    pub(crate) telemetry: Telemetry,
    pub(crate) changed: watch::Sender<u64>,
}

impl Core {
    /// Signals that a toolbox's state (or shared tools) changed.
    pub(crate) fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }
}
