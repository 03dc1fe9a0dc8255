//! What the hosting platform tells us about a request, as types every layer can share without
//! depending on the agent: the user a request acts for ([`UserKey`]) and the W3C trace headers
//! to propagate ([`TraceHeaders`]). The server parses them from headers; the store partitions by
//! [`UserKey`]; the agent, toolbox and model crates carry them on outbound calls.

use std::fmt;
use std::sync::Arc;

/// The user a request acts for: the platform's `x-agent-user-id`, or anonymous.
///
/// It partitions stored responses, consent state and per-user tool lists. It is never sent to
/// any upstream service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct UserKey(Option<Arc<str>>);

impl UserKey {
    /// The anonymous user, shared by every request without a user id.
    pub fn anonymous() -> Self {
        UserKey(None)
    }

    /// The user with this id; blank ids are anonymous.
    pub fn new(id: &str) -> Self {
        let id = id.trim();
        if id.is_empty() { UserKey(None) } else { UserKey(Some(Arc::from(id))) }
    }

    /// The user id, or `None` when anonymous.
    pub fn id(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// A stable partition string: the id, or the empty string when anonymous.
    pub fn partition(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or("(anonymous)"))
    }
}

/// W3C trace-context headers to propagate on outbound calls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceHeaders {
    /// `traceparent`.
    pub traceparent: Option<String>,
    /// `tracestate`.
    pub tracestate: Option<String>,
    /// `baggage`.
    pub baggage: Option<String>,
}
