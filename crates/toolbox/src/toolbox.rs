//! One toolbox (pre-registered or opened from a marker): its endpoint, its shared state and its
//! per-user consent and tool caches.
//!
//! Per-user design (W1, W3):
//! * Tools listed under a user's call id belong to that user: they are cached per
//!   (toolbox, user) for `list_ttl` and never offered to anyone else. Only tools listed with the
//!   container identity (a `Healthy` pre-registered toolbox) are shared.
//! * Listing for a user is single-flighted per (toolbox, user): concurrent requests of one user
//!   share one listing; another user never waits on it. The listing runs as its own task (so it
//!   finishes and is cached even if the first requester gives up); each waiter stops at its own
//!   deadline or cancellation.
//! * Hard failures are cached per (toolbox, user) for `failure_ttl`; transient ones (timeouts,
//!   unreachable, 429/5xx, a failing source: already retried within the turn), consent outcomes
//!   and rejected tokens are never cached, so a user who just consented (or whose token was
//!   renewed) is re-checked on the next request.
//! * Locks (`DashMap` shards, `parking_lot` mutexes) are only held for short sections, never
//!   across I/O.

use std::sync::Arc;
use std::time::Duration;

use agenthost_agent::telemetry::ListingOutcome;
use agenthost_agent::{RequestContext, UserKey};
use agenthost_single_flight::{Flight, Flights, Join};
use dashmap::DashMap;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::time::Instant;

use crate::state::ToolboxState;
use tracing::Instrument;

use crate::client::{Caller, Endpoint};
use crate::consent::{self, Signal};
use crate::core::Core;
use crate::error::{ErrorClass, OpError, rpc_class};
use crate::http::PerRequest;
use crate::outcome::{Kind, ListedTool, Outcome, ToolList};
use crate::state::Status;
use crate::trace::McpCall;

/// Per-toolbox bound of remembered users before expired entries are pruned.
const MAX_USERS: usize = 10_000;

enum Cached {
    Tools { list: ToolList, until: Instant, generation: u64 },
    Failed { class: ErrorClass, until: Instant },
}

#[derive(Default)]
struct UserSlot {
    cached: Option<Cached>,
}

/// One toolbox.
pub struct Toolbox {
    /// Its name (label of its tools and list errors).
    pub name: String,
    /// The pinned version, if any.
    pub version: Option<String>,
    /// Configured or from a marker.
    pub kind: Kind,
    /// Its proxy endpoint.
    pub endpoint: Arc<Endpoint>,
    pub(crate) core: Arc<Core>,
    pub(crate) status: Mutex<Status>,
    users: DashMap<UserKey, UserSlot>,
    /// Per-user listings in flight.
    listings: Arc<Flights<UserKey, Outcome>>,
}

enum Lookup {
    Ready(Outcome),
    /// A listing in flight, and whether this request started it.
    Wait(Flight<Outcome>, bool),
}

impl Toolbox {
    pub(crate) fn new(
        name: String,
        version: Option<String>,
        kind: Kind,
        endpoint: Arc<Endpoint>,
        core: Arc<Core>,
    ) -> Arc<Self> {
        Arc::new(Self {
            name,
            version,
            kind,
            endpoint,
            core,
            status: Mutex::new(Status::default()),
            users: DashMap::new(),
            listings: Flights::new(),
        })
    }

    /// Lists the toolbox as `caller` and interprets failures (consent, hard errors), in a
    /// `tools/list` span; counts the listing by outcome.
    pub(crate) async fn list_as(self: &Arc<Self>, caller: &Caller) -> Outcome {
        let call = McpCall::start(&self.core.telemetry, &self.endpoint.peer, "tools/list", None, &self.name);
        let (outcome, rpc_code) = async {
            match self.endpoint.list_tools(caller).await {
                Ok(tools) => (
                    Outcome::Tools(Arc::new(
                        tools
                            .into_iter()
                            .map(|t| ListedTool {
                                name: t.name.into_owned(),
                                description: t.description.map(|d| d.into_owned()).or(t.title).unwrap_or_default(),
                                schema: Value::Object(t.input_schema.as_ref().clone()),
                            })
                            .collect(),
                    )),
                    None,
                ),
                Err(error) => {
                    let code = match &error {
                        OpError::Rpc(data) => Some(data.code.0),
                        OpError::Class(_) => None,
                    };
                    (self.failure(error), code)
                }
            }
        }
        .instrument(call.span().clone())
        .await;
        let (error, listing) = match &outcome {
            Outcome::Tools(_) => (None, ListingOutcome::Ok),
            Outcome::Consent { consents, .. } if !consents.is_empty() => {
                (Some(ErrorClass::ConsentRequired.as_string()), ListingOutcome::ConsentRequired)
            }
            Outcome::Consent { broken, .. } => (
                Some(broken.first().map_or(ErrorClass::InvalidConsentLink, |b| b.1).as_string()),
                ListingOutcome::Error,
            ),
            Outcome::Failed(class) => (Some(class.as_string()), ListingOutcome::Error),
        };
        self.core.telemetry.toolbox_listing(&self.endpoint.label, listing);
        call.finish(error.as_deref(), rpc_code);
        outcome
    }

    /// Interprets a failed listing.
    fn failure(&self, error: OpError) -> Outcome {
        let data = match error {
            OpError::Class(class) => return Outcome::Failed(class),
            OpError::Rpc(data) => data,
        };
        let signal = consent::parse(&self.name, data.code.0, &data.message, data.data.as_ref(), self.core.links);
        match signal {
            Signal::Consent { consents, broken } => {
                for c in &consents {
                    tracing::info!(
                        toolbox = %self.name,
                        source = %c.server_label,
                        link = %consent::redact_link(&c.consent_link),
                        "toolbox source needs consent"
                    );
                }
                Outcome::Consent { consents, broken }
            }
            Signal::Hard { .. } => Outcome::Failed(ErrorClass::Upstream),
            Signal::None => Outcome::Failed(rpc_class(&data)),
        }
    }

    /// What this toolbox offers the request's user: per-user cache, the shared tools of a
    /// `Healthy` toolbox, or a (single-flighted) listing for that user.
    pub(crate) async fn resolve_for(self: &Arc<Self>, ctx: &RequestContext) -> Outcome {
        self.resolve_user(ctx, true).await
    }

    async fn resolve_user(self: &Arc<Self>, ctx: &RequestContext, allow_shared: bool) -> Outcome {
        let now = Instant::now();
        let generation = self.endpoint.generation();
        if let Some(list) = self.fresh_tools(&ctx.user, now, generation) {
            return Outcome::Tools(list);
        }
        if allow_shared && let Some(shared) = self.shared_outcome() {
            return shared;
        }
        let lookup = self.lookup_or_start(ctx, now, generation);
        let (flight, started) = match lookup {
            Lookup::Ready(outcome) => return outcome,
            Lookup::Wait(flight, started) => (flight, started),
        };
        let mut deadline = self.deadline(ctx, now);
        let degraded = self.degraded_class();
        if let Some(class) = degraded {
            // W1: a toolbox that fails for the container too must not hold this user's requests.
            // When it is unreachable or hanging, no request waits for the user's retry (it runs
            // in the background and serves the next request); when the failure may be one a
            // user's identity fixes, the request that started the retry waits briefly.
            let unreachable =
                matches!(class, ErrorClass::Timeout | ErrorClass::Connect | ErrorClass::Network | ErrorClass::Closed)
                    || matches!(class, ErrorClass::Http(status) if status >= 500);
            let budget = if started && !unreachable { self.core.degraded_wait } else { Duration::ZERO };
            deadline = deadline.min(now + budget);
        }
        let gave_up = tokio::select! {
            biased;
            outcome = flight => return outcome.unwrap_or(Outcome::Failed(ErrorClass::Closed)),
            () = ctx.cancel.cancelled() => ErrorClass::Cancelled,
            // Not waiting (longer) for a degraded toolbox: report why it is degraded.
            () = tokio::time::sleep_until(deadline) => degraded.unwrap_or(ErrorClass::Timeout),
        };
        // The listing goes on without this request (and is counted again when it ends).
        self.core.telemetry.toolbox_listing(&self.endpoint.label, ListingOutcome::Deferred);
        Outcome::Failed(gave_up)
    }

    /// Why a pre-registered toolbox is `Degraded` (failing for the container identity for a
    /// reason other than consent), if it is.
    fn degraded_class(&self) -> Option<ErrorClass> {
        if self.kind == Kind::Marker {
            return None;
        }
        let status = self.status.lock();
        (status.state == ToolboxState::Degraded).then(|| status.last_error.unwrap_or(ErrorClass::Upstream))
    }

    /// The shared outcome of a pre-registered toolbox, when its state decides for everyone:
    /// `Healthy` (its tools) or `Unhealthy` (nobody can fix it).
    fn shared_outcome(&self) -> Option<Outcome> {
        if self.kind == Kind::Marker {
            return None;
        }
        let status = self.status.lock();
        status.shared_outcome()
    }

    fn fresh_tools(&self, user: &UserKey, now: Instant, generation: u64) -> Option<ToolList> {
        let slot = self.users.get(user)?;
        match slot.cached.as_ref()? {
            Cached::Tools { list, until, generation: g } if *until > now && *g == generation => Some(list.clone()),
            _ => None,
        }
    }

    /// A fresh cached outcome, the user's listing in flight, or a new one.
    fn lookup_or_start(self: &Arc<Self>, ctx: &RequestContext, now: Instant, generation: u64) -> Lookup {
        let user = ctx.user.clone();
        let joined = self.listings.join(
            user.clone(),
            || self.cached_outcome(&ctx.user, now, generation),
            || {
                let deadline = now + self.core.request_timeout;
                let caller = Caller {
                    who: Some(user.clone()),
                    per: PerRequest::new(ctx.call_id.as_deref(), &ctx.trace, Some(deadline)),
                    deadline,
                    cancel: None,
                };
                let this = Arc::clone(self);
                // The listing's span belongs to the request that started it.
                async move {
                    let outcome = this.list_as(&caller).await;
                    this.finish_listing(&user, &outcome, generation);
                    outcome
                }
                .instrument(tracing::Span::current())
                .instrument(ctx.log_span.clone())
            },
        );
        match joined {
            Join::Ready(outcome) => Lookup::Ready(outcome),
            Join::Wait { flight, started } => Lookup::Wait(flight, started),
        }
    }

    /// The user's cached outcome, if still fresh.
    fn cached_outcome(&self, user: &UserKey, now: Instant, generation: u64) -> Option<Outcome> {
        let slot = self.users.get(user)?;
        match slot.cached.as_ref()? {
            Cached::Tools { list, until, generation: g } if *until > now && *g == generation => {
                Some(Outcome::Tools(list.clone()))
            }
            Cached::Failed { class, until } if *until > now => Some(Outcome::Failed(*class)),
            _ => None,
        }
    }

    /// Records a finished per-user listing (before its flight ends, so no request in between
    /// starts another).
    fn finish_listing(&self, user: &UserKey, outcome: &Outcome, generation: u64) {
        let now = Instant::now();
        self.users.entry(user.clone()).or_default().cached = match outcome {
            Outcome::Tools(list) => {
                Some(Cached::Tools { list: list.clone(), until: now + self.core.list_ttl, generation })
            }
            // Not failures of the toolbox: a cancelled request, or a token that the
            // platform may renew before the next request.
            Outcome::Failed(ErrorClass::Cancelled | ErrorClass::Auth) => None,
            // A transient fault was already retried within the turn; caching it would cost the
            // user the toolbox's tools after the fault is over.
            Outcome::Failed(class) if class.is_transient() => None,
            Outcome::Failed(class) => Some(Cached::Failed { class: *class, until: now + self.core.failure_ttl }),
            // Consent is re-checked on every request.
            Outcome::Consent { .. } => None,
        };
        if self.users.len() > MAX_USERS {
            // A user dropped here while listing again is simply re-added when that ends.
            self.users.retain(|_, slot| match &slot.cached {
                Some(Cached::Tools { until, .. } | Cached::Failed { until, .. }) => *until > now,
                None => false,
            });
        }
    }

    /// Forgets what is cached for `user` (after an auth or not-found error).
    pub(crate) fn invalidate_user(&self, user: &UserKey) {
        if let Some(mut slot) = self.users.get_mut(user) {
            slot.cached = None;
        }
    }

    /// Re-lists for the request's user, bypassing caches and shared tools.
    pub(crate) async fn relist_user(self: &Arc<Self>, ctx: &RequestContext) -> Outcome {
        self.invalidate_user(&ctx.user);
        self.resolve_user(ctx, false).await
    }

    /// The deadline of one operation for this request.
    pub(crate) fn deadline(&self, ctx: &RequestContext, now: Instant) -> Instant {
        let own = now + self.core.request_timeout;
        ctx.deadline.map_or(own, |d| d.min(own))
    }
}
