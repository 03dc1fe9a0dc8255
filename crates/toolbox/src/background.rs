//! The background life of a pre-registered toolbox: the startup listing with the container
//! identity, then retries and refreshes until shutdown, and the readiness line it reports.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::Caller;
use crate::error::ErrorClass;
use crate::outcome::{Kind, Outcome};
use crate::retry;
use crate::state::{ToolboxState, ToolboxStatus};
use crate::toolbox::Toolbox;

impl Toolbox {
    /// The readiness line of this toolbox. A `Pending` toolbox past the startup deadline is
    /// reported `Degraded` with `timeout`, even before its task got to record it.
    pub(crate) fn report(&self, startup_deadline: Option<Instant>, now: Instant) -> ToolboxStatus {
        let status = self.status.lock();
        let overdue = status.state == ToolboxState::Pending && startup_deadline.is_some_and(|d| now >= d);
        let (state, last_error) = if overdue {
            (ToolboxState::Degraded, Some(ErrorClass::Timeout))
        } else {
            (status.state, status.last_error)
        };
        let tools = match (state, &status.shared) {
            (ToolboxState::Healthy, Some((tools, _))) => tools.len(),
            _ => 0,
        };
        let next_retry_ms = match state {
            ToolboxState::Degraded | ToolboxState::Unhealthy => status
                .next_retry
                .map(|at| u64::try_from(at.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)),
            _ => None,
        };
        ToolboxStatus {
            name: self.name.clone(),
            state,
            tools,
            last_error: last_error.map(|e| e.as_string()),
            next_retry_ms,
        }
    }

    /// Whether this toolbox keeps the container unready.
    pub(crate) fn blocks_readiness(&self, report: &ToolboxStatus) -> bool {
        report.state == ToolboxState::Pending
            || (report.state == ToolboxState::Unhealthy && matches!(self.kind, Kind::Registered { required: true }))
    }

    /// One listing with the container identity, recorded in the shared state.
    async fn refresh(self: &Arc<Self>, deadline: Instant) {
        let generation = self.endpoint.generation();
        let outcome = self.list_as(&Caller::container(deadline)).await;
        let (before, state, error) = {
            let mut status = self.status.lock();
            let before = (status.state, status.last_error);
            status.apply(&outcome, generation);
            (before, status.state, status.last_error)
        };
        // Repeated identical outcomes of background retries are logged at debug only.
        let changed = before != (state, error);
        match &outcome {
            Outcome::Failed(class) if changed => {
                tracing::warn!(toolbox = %self.name, ?state, error = %class, "toolbox listing failed (container identity)")
            }
            Outcome::Tools(tools) if changed => {
                tracing::info!(toolbox = %self.name, version = ?self.version, tools = tools.len(), "toolbox listed")
            }
            Outcome::Consent { .. } if changed => {
                tracing::info!(toolbox = %self.name, ?state, "toolbox needs user consent; it is listed per user")
            }
            _ => {
                tracing::debug!(toolbox = %self.name, ?state, error = ?error.map(|e| e.as_string()), "toolbox re-listed")
            }
        }
        self.core.bump();
    }

    /// How long the background loop waits in the current state, recording the next retry.
    fn next_wait(&self) -> Duration {
        let mut status = self.status.lock();
        let wait = match status.state {
            // Floored so that a zero TTL ("always re-list") cannot spin the loop.
            ToolboxState::Healthy => self.core.list_ttl.max(self.core.retry.background_initial),
            ToolboxState::Degraded | ToolboxState::Unhealthy => {
                retry::background_delay(&self.core.retry, status.failures)
            }
            _ => self.core.retry.background_max,
        };
        status.next_retry =
            matches!(status.state, ToolboxState::Degraded | ToolboxState::Unhealthy).then(|| Instant::now() + wait);
        wait
    }
}

/// The background loop of one pre-registered toolbox: the startup listing, then retries and
/// refreshes until shutdown.
pub(crate) async fn run(tb: Arc<Toolbox>, startup_deadline: Instant, shutdown: CancellationToken) {
    let changed = tb.endpoint.changed();
    let first = startup_deadline.min(Instant::now() + tb.core.request_timeout);
    tokio::select! {
        () = shutdown.cancelled() => return,
        () = tb.refresh(first) => {}
    }
    loop {
        let wait = tb.next_wait();
        tb.core.bump();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
            () = changed.notified() => {}
        }
        let deadline = Instant::now() + tb.core.request_timeout;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tb.refresh(deadline) => {}
        }
    }
}
