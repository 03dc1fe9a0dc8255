//! The shared state of a pre-registered toolbox, its background loop and what readiness reports.
//!
//! ```text
//! Pending ──first listing (container identity, startup deadline)──┬─> Healthy          tools listed
//!                                                                 ├─> ConsentRequired  only consent is missing
//!                                                                 ├─> Degraded         any other failure, incl. timeout
//!                                                                 └─> Unhealthy        not found / invalid / config
//! Degraded, Unhealthy ──background retry (capped exp. backoff + jitter)──> any state
//! Healthy ──refresh every list_ttl, on tools/list_changed, on not-found──> any state
//! ConsentRequired ──slow re-check (background_max)──> any state
//! ```
//!
//! The state only ever changes through listings with the container identity: what one user's
//! request sees (consent, per-user tools) never changes it (markers included).

use serde::Serialize;
use tokio::time::Instant;

use crate::error::ErrorClass;
use crate::outcome::{Outcome, ToolList};

/// State of a configured toolbox, as readiness reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum ToolboxState {
    /// No project endpoint: toolboxes are disabled.
    NoEndpoint,
    /// The first listing has not settled and the startup deadline has not passed.
    #[default]
    Pending,
    /// Tools listed with the container identity; shared by every user.
    Healthy,
    /// Listing failed only because sources need a user's consent; listed per user.
    ConsentRequired,
    /// Listing failed for another reason (it may need a user's identity); listed per user and
    /// retried in the background.
    Degraded,
    /// A failure no user can fix (not found, invalid, rejected configuration); retried in the
    /// background.
    Unhealthy,
}

/// One toolbox in the readiness report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ToolboxStatus {
    /// Toolbox name.
    pub name: String,
    /// Its state.
    pub state: ToolboxState,
    /// Shared tools (those of a `Healthy` toolbox).
    pub tools: usize,
    /// Class of the last failure (`timeout`, `http_503`, `consent_required`, ...), never a URL,
    /// token or user data.
    pub last_error: Option<String>,
    /// Milliseconds until the next background retry.
    pub next_retry_ms: Option<u64>,
}

/// The readiness of the toolbox layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ToolboxReadiness {
    /// No toolbox is `Pending` and no required toolbox is `Unhealthy`.
    pub ready: bool,
    /// Every configured toolbox, in configuration order.
    pub toolboxes: Vec<ToolboxStatus>,
}

/// Mutable shared state of one pre-registered toolbox.
#[derive(Debug, Default)]
pub struct Status {
    /// Current state.
    pub state: ToolboxState,
    /// Tools listed with the container identity, and the endpoint generation they belong to.
    pub shared: Option<(ToolList, u64)>,
    /// Class of the last failure.
    pub last_error: Option<ErrorClass>,
    /// When the background loop tries next.
    pub next_retry: Option<Instant>,
    /// Consecutive failures (drives the backoff).
    pub failures: u32,
}

impl Status {
    /// What every user gets without listing: the shared tools of a `Healthy` toolbox, or the
    /// failure of an `Unhealthy` one.
    pub fn shared_outcome(&self) -> Option<Outcome> {
        match (self.state, &self.shared) {
            (ToolboxState::Healthy, Some((tools, _))) => Some(Outcome::Tools(tools.clone())),
            (ToolboxState::Unhealthy, _) => Some(Outcome::Failed(self.last_error.unwrap_or(ErrorClass::NotFound))),
            _ => None,
        }
    }

    /// Moves to the state a container-identity listing implies.
    pub fn apply(&mut self, outcome: &Outcome, generation: u64) {
        match outcome {
            Outcome::Tools(tools) => {
                self.state = ToolboxState::Healthy;
                self.shared = Some((tools.clone(), generation));
                self.last_error = None;
                self.failures = 0;
            }
            Outcome::Consent { consents, broken } if !consents.is_empty() && broken.is_empty() => {
                self.state = ToolboxState::ConsentRequired;
                self.shared = None;
                self.last_error = Some(ErrorClass::ConsentRequired);
                self.failures = 0;
            }
            Outcome::Consent { broken, .. } => {
                self.state = ToolboxState::Degraded;
                self.shared = None;
                self.last_error = Some(broken.first().map_or(ErrorClass::ConsentRequired, |b| b.1));
                self.failures = self.failures.saturating_add(1);
            }
            Outcome::Failed(class) => {
                self.state = if class.is_permanent() { ToolboxState::Unhealthy } else { ToolboxState::Degraded };
                self.shared = None;
                self.last_error = Some(*class);
                self.failures = self.failures.saturating_add(1);
            }
        }
        self.next_retry = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use agenthost_agent::ConsentRequest;

    fn consent() -> ConsentRequest {
        ConsentRequest { server_label: "s".into(), consent_link: "https://x.example/".into() }
    }

    #[test]
    fn outcomes_map_to_states() {
        let mut s = Status::default();
        assert_eq!(s.state, ToolboxState::Pending);
        s.apply(&Outcome::Tools(Arc::new(vec![])), 3);
        assert_eq!(s.state, ToolboxState::Healthy);
        assert!(matches!(s.shared_outcome(), Some(Outcome::Tools(_))));
        s.apply(&Outcome::Consent { consents: vec![consent()], broken: vec![] }, 3);
        assert_eq!(s.state, ToolboxState::ConsentRequired);
        assert_eq!(s.last_error, Some(ErrorClass::ConsentRequired));
        assert!(s.shared_outcome().is_none());
        s.apply(&Outcome::Consent { consents: vec![consent()], broken: vec![("b".into(), ErrorClass::Upstream)] }, 3);
        assert_eq!(s.state, ToolboxState::Degraded);
        assert_eq!(s.last_error, Some(ErrorClass::Upstream));
        s.apply(&Outcome::Failed(ErrorClass::Timeout), 3);
        assert_eq!(s.state, ToolboxState::Degraded);
        assert_eq!(s.failures, 2);
        s.apply(&Outcome::Failed(ErrorClass::NotFound), 3);
        assert_eq!(s.state, ToolboxState::Unhealthy);
        assert_eq!(s.shared_outcome(), Some(Outcome::Failed(ErrorClass::NotFound)));
        s.apply(&Outcome::Tools(Arc::new(vec![])), 4);
        assert_eq!(s.state, ToolboxState::Healthy);
        assert_eq!(s.failures, 0);
        assert_eq!(s.last_error, None);
    }

    #[test]
    fn states_serialize_as_pascal_case() {
        let json = serde_json::to_value(ToolboxStatus {
            name: "tb".into(),
            state: ToolboxState::ConsentRequired,
            tools: 0,
            last_error: Some("consent_required".into()),
            next_retry_ms: None,
        })
        .unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"name":"tb","state":"ConsentRequired","tools":0,"last_error":"consent_required","next_retry_ms":null})
        );
        assert_eq!(serde_json::to_value(ToolboxState::NoEndpoint).unwrap_or_default(), "NoEndpoint");
    }
}
