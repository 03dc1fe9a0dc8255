//! What the hosting platform tells us about a request, as types every layer can share without
//! depending on the agent: the user a request acts for ([`UserKey`]), the user together with the
//! request's call id as the stores need them ([`Caller`]) and the W3C trace headers to propagate
//! ([`TraceHeaders`]). The server parses them from headers; the store partitions by [`UserKey`]
//! (or, for the Foundry storage service, by the identity the forwarded call id carries); the agent,
//! toolbox and model crates carry them on outbound calls.

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

/// Who a store operation acts for: the user (our own stores' partition key) and the request's
/// `x-agent-foundry-call-id`, if the platform sent one.
///
/// The call id travels with the user because the Foundry storage service partitions by the caller
/// identity that the forwarded call id carries, not by anything we send about the user: a backend
/// talking to it must forward the call id of the request it acts for. Passed as a value to every
/// store method (no task-locals). The user id is never sent upstream; the call id is opaque and
/// forwarded verbatim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    user: UserKey,
    call_id: Option<Arc<str>>,
}

impl Caller {
    /// `user`, acting through the request whose call id is `call_id` (blank is none).
    pub fn new(user: UserKey, call_id: Option<&str>) -> Self {
        let call_id = call_id.map(str::trim).filter(|c| !c.is_empty()).map(Arc::from);
        Caller { user, call_id }
    }

    /// The user.
    pub fn user(&self) -> &UserKey {
        &self.user
    }

    /// The request's `x-agent-foundry-call-id`, verbatim (trimmed).
    pub fn call_id(&self) -> Option<&str> {
        self.call_id.as_deref()
    }
}

impl From<UserKey> for Caller {
    /// A caller without a call id (local requests, tests of stores that partition by user).
    fn from(user: UserKey) -> Self {
        Caller { user, call_id: None }
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
