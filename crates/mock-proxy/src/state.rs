//! Mutable state of a running mock: the request log, consents, expired tokens, consent tickets
//! and fault counters.
//!
//! Everything sits behind one `parking_lot::Mutex`, which is never held across an `.await`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use parking_lot::Mutex;
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{
    faults::{FaultCounters, FaultPlan},
    scenario::Scenario,
};

pub use crate::users::CONTAINER_USER;
pub(crate) use crate::users::{user_from_call_id, user_from_label, user_label};

fn ser_user<S: Serializer>(user: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(user_label(user))
}

fn de_user<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d).map(|label| user_from_label(&label))
}

/// One HTTP request received on a toolbox MCP endpoint (`GET /_mock/requests` returns these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Toolbox name from the path (also recorded when the toolbox is unknown).
    pub toolbox: String,
    /// Version from a `.../versions/{v}/mcp` path.
    pub version: Option<String>,
    /// Request path, without the query string.
    pub path: String,
    /// Query string, if any (e.g. `api-version=v1`).
    #[serde(default)]
    pub query: Option<String>,
    /// `POST`, `GET` or `DELETE`.
    pub http_method: String,
    /// JSON-RPC method of a POSTed message (`initialize`, `tools/list`, ...), else `None`.
    pub jsonrpc_method: Option<String>,
    /// Tool name of a `tools/call`.
    pub tool: Option<String>,
    /// The user from `x-agent-foundry-call-id`; `""` is the container (JSON: `"container"`).
    #[serde(serialize_with = "ser_user", deserialize_with = "de_user")]
    pub user: String,
    /// Every header, lower-case name to value (repeated headers joined with `", "`).
    pub headers: BTreeMap<String, String>,
    /// Names of headers that appeared more than once (usually empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeated_headers: Vec<String>,
}

impl RecordedRequest {
    /// The value of a header (name is matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// Consents and expired tokens (`GET /_mock/state` returns this). Users are JSON names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// Sources each user has consented to.
    pub consents: BTreeMap<String, BTreeSet<String>>,
    /// Users whose token is expired (their `tools/call` requests get HTTP 401).
    pub expired: BTreeSet<String>,
}

/// A consent link handed out in an error; visiting it grants the consent.
#[derive(Debug, Clone)]
struct Ticket {
    toolbox: String,
    source: String,
    user: String,
}

#[derive(Debug, Default)]
struct State {
    requests: Vec<RecordedRequest>,
    /// user -> consented sources.
    consents: BTreeMap<String, BTreeSet<String>>,
    expired: BTreeSet<String>,
    /// `state` parameter -> ticket.
    tickets: HashMap<String, Ticket>,
    /// toolbox -> counters, aligned with the toolbox's `faults`.
    faults: HashMap<String, Vec<FaultCounters>>,
    /// (toolbox, user) -> successful tools/call since the user's token was last expired.
    calls: HashMap<(String, String), u32>,
}

/// State shared by the routes and the MCP handlers of one mock.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) scenario: Scenario,
    /// Base URL used in consent links, without a trailing `/`.
    pub(crate) public_base: String,
    /// The storage service's responses, items and conversations.
    pub(crate) storage: crate::storage::Storage,
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(scenario: Scenario, public_base: String) -> Self {
        let state = State { faults: fresh_counters(&scenario), ..State::default() };
        Self {
            scenario,
            public_base: public_base.trim_end_matches('/').to_owned(),
            storage: Default::default(),
            state: Mutex::new(state),
        }
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        self.state.lock().requests.push(request);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().requests.clone()
    }

    pub(crate) fn clear_requests(&self) {
        self.state.lock().requests.clear();
    }

    /// Forgets everything: log, consents, expiry, tickets, and rearms every fault.
    pub(crate) fn reset(&self) {
        *self.state.lock() = State { faults: fresh_counters(&self.scenario), ..State::default() };
    }

    pub(crate) fn has_consent(&self, user: &str, source: &str) -> bool {
        self.state.lock().consents.get(user).is_some_and(|s| s.contains(source))
    }

    /// Grants consent; this also renews an expired token.
    pub(crate) fn grant(&self, user: &str, source: &str) {
        let mut st = self.state.lock();
        st.consents.entry(user.to_owned()).or_default().insert(source.to_owned());
        st.expired.remove(user);
    }

    pub(crate) fn revoke(&self, user: &str, source: Option<&str>) {
        let mut st = self.state.lock();
        match source {
            Some(source) => {
                if let Some(set) = st.consents.get_mut(user) {
                    set.remove(source);
                }
            }
            None => {
                st.consents.remove(user);
            }
        }
    }

    /// Expires the user's token: every request gets 401, and its consents are forgotten.
    pub(crate) fn expire(&self, user: &str) {
        let mut st = self.state.lock();
        expire_locked(&mut st, user);
    }

    pub(crate) fn unexpire(&self, user: &str) {
        self.state.lock().expired.remove(user);
    }

    pub(crate) fn is_expired(&self, user: &str) -> bool {
        self.state.lock().expired.contains(user)
    }

    pub(crate) fn snapshot(&self) -> StateSnapshot {
        let st = self.state.lock();
        StateSnapshot {
            consents: st
                .consents
                .iter()
                .filter(|(_, s)| !s.is_empty())
                .map(|(u, s)| (user_label(u).to_owned(), s.clone()))
                .collect(),
            expired: st.expired.iter().map(|u| user_label(u).to_owned()).collect(),
        }
    }

    /// Issues a fresh consent link for (toolbox, source, user).
    pub(crate) fn consent_link(&self, toolbox: &str, source: &str, user: &str) -> String {
        let ticket_id = format!("{:032x}", rand::rng().random::<u128>());
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("toolbox", toolbox)
            .append_pair("source", source)
            .append_pair("user", user_label(user))
            .append_pair("state", &ticket_id)
            .finish();
        self.state.lock().tickets.insert(
            ticket_id,
            Ticket { toolbox: toolbox.to_owned(), source: source.to_owned(), user: user.to_owned() },
        );
        format!("{}/consent?{query}", self.public_base)
    }

    /// Grants the consent of a link if its parameters match an issued ticket. Links stay valid,
    /// so visiting one twice is harmless.
    pub(crate) fn redeem(&self, state: &str, toolbox: &str, source: &str, user_label: &str) -> bool {
        let user = user_from_label(user_label);
        let ticket = {
            let st = self.state.lock();
            st.tickets.get(state).cloned()
        };
        match ticket {
            Some(t) if t.toolbox == toolbox && t.source == source && t.user == user => {
                self.grant(&user, source);
                true
            }
            _ => false,
        }
    }

    /// Decides (and consumes) the faults for one POSTed message.
    pub(crate) fn plan_faults(&self, toolbox: &str, user: &str, method: Option<&str>) -> FaultPlan {
        let Some(spec) = self.scenario.find_toolbox(toolbox) else {
            return FaultPlan::default();
        };
        let mut st = self.state.lock();
        let counters = st.faults.entry(toolbox.to_owned()).or_default();
        crate::faults::plan(&spec.faults, counters, user, method)
    }

    /// Counts a successful tools/call; expires the user's token when a fault says so.
    pub(crate) fn record_successful_call(&self, toolbox: &str, user: &str) {
        let Some(spec) = self.scenario.find_toolbox(toolbox) else {
            return;
        };
        let mut st = self.state.lock();
        let count = {
            let c = st.calls.entry((toolbox.to_owned(), user.to_owned())).or_default();
            *c += 1;
            *c
        };
        let limit = spec
            .faults
            .iter()
            .filter(|f| crate::faults::applies_to_user(f, user))
            .filter_map(|f| f.expire_after_calls)
            .min();
        if limit.is_some_and(|n| count >= n) {
            expire_locked(&mut st, user);
        }
    }
}

fn expire_locked(st: &mut State, user: &str) {
    st.expired.insert(user.to_owned());
    st.consents.remove(user);
    st.calls.retain(|(_, u), _| u != user);
}

fn fresh_counters(scenario: &Scenario) -> HashMap<String, Vec<FaultCounters>> {
    scenario
        .toolboxes
        .iter()
        .map(|tb| {
            let counters = tb.faults.iter().map(FaultCounters::new).collect();
            (tb.name.clone(), counters)
        })
        .collect()
}
