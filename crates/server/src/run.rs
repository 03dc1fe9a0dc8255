//! Runs: one spawned task per response, its event log, and the registry of live runs.
//!
//! A run's task owns the [`ResponseWriter`]; readers (the SSE body, a replaying GET, a waiting
//! non-streaming handler, cancel) only look at the run's log, which is a short critical section
//! with no I/O. The terminal event is published only after the response is persisted, so a client
//! that sees it can immediately read the stored response.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use agenthost_agent::UserKey;
use agenthost_responses::{EventSink, Response, StreamEvent};
use bytes::Bytes;
use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long finished background-streaming runs stay replayable (§5.7: at least 10 minutes).
pub const REPLAY_RETENTION: Duration = Duration::from_secs(15 * 60);
/// Most finished runs kept for replay; the oldest go first.
const REPLAY_MAX: usize = 10_000;

/// Why a run was interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    /// Not interrupted.
    None = 0,
    /// The client of a non-background response went away.
    ClientGone = 1,
    /// `POST /responses/{id}/cancel`.
    Cancelled = 2,
    /// The drain deadline passed during shutdown.
    Shutdown = 3,
    /// The response deadline passed.
    Timeout = 4,
}

struct Log {
    frames: Vec<Bytes>,
    /// Latest snapshot, kept for background runs (GET while in flight, cancel).
    snapshot: Option<Arc<Response>>,
    /// The final response, once published.
    finished: Option<Arc<Response>>,
    finished_at: Option<Instant>,
}

/// One response being produced (or, for background streams, recently produced).
pub struct Run {
    /// Response id.
    pub id: String,
    /// The owner.
    pub user: UserKey,
    /// Background mode.
    pub background: bool,
    /// Created with `stream: true` (frames are recorded only then).
    pub stream: bool,
    /// Fires to interrupt the run.
    pub cancel: CancellationToken,
    reason: AtomicU8,
    log: Mutex<Log>,
    changed: watch::Sender<usize>,
}

impl Run {
    /// A run that has not produced anything yet.
    pub fn new(id: String, user: UserKey, background: bool, stream: bool) -> Arc<Run> {
        let (changed, _) = watch::channel(0);
        Arc::new(Run {
            id,
            user,
            background,
            stream,
            cancel: CancellationToken::new(),
            reason: AtomicU8::new(StopReason::None as u8),
            log: Mutex::new(Log { frames: Vec::new(), snapshot: None, finished: None, finished_at: None }),
            changed,
        })
    }

    /// Interrupts the run for `reason`; the first reason wins.
    pub fn stop(&self, reason: StopReason) {
        let _ = self.reason.compare_exchange(StopReason::None as u8, reason as u8, Ordering::AcqRel, Ordering::Acquire);
        self.cancel.cancel();
    }

    /// Why the run was interrupted.
    pub fn stop_reason(&self) -> StopReason {
        match self.reason.load(Ordering::Acquire) {
            1 => StopReason::ClientGone,
            2 => StopReason::Cancelled,
            3 => StopReason::Shutdown,
            4 => StopReason::Timeout,
            _ => StopReason::None,
        }
    }

    /// The latest snapshot (background runs) or the final response.
    pub fn snapshot(&self) -> Option<Arc<Response>> {
        let log = self.log.lock();
        log.finished.clone().or_else(|| log.snapshot.clone())
    }

    /// The final response, once published.
    pub fn finished(&self) -> Option<Arc<Response>> {
        self.log.lock().finished.clone()
    }

    fn finished_at(&self) -> Option<Instant> {
        self.log.lock().finished_at
    }

    /// Frames from index `from`, and whether the log is complete after them.
    pub fn frames_from(&self, from: usize) -> (Vec<Bytes>, bool) {
        let log = self.log.lock();
        let frames = log.frames.get(from..).map(<[Bytes]>::to_vec).unwrap_or_default();
        (frames, log.finished.is_some())
    }

    /// Notified whenever frames are added or the run finishes.
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.changed.subscribe()
    }

    /// Waits until the final response is published.
    pub async fn wait_finished(&self) -> Arc<Response> {
        let mut rx = self.subscribe();
        loop {
            if let Some(done) = self.finished() {
                return done;
            }
            if rx.changed().await.is_err() {
                // The sender lives in `self`, so this cannot happen while we hold `&self`.
                tokio::task::yield_now().await;
            }
        }
    }

    fn push(&self, frame: Option<Bytes>, snapshot: Option<&Response>) {
        let count = {
            let mut log = self.log.lock();
            if let Some(frame) = frame {
                log.frames.push(frame);
            }
            if let Some(s) = snapshot {
                log.snapshot = Some(Arc::new(s.clone()));
            }
            log.frames.len()
        };
        self.changed.send_replace(count);
    }

    /// Publishes the terminal frame and the final response.
    pub fn publish_final(&self, terminal: Option<Bytes>, response: Response) {
        let count = {
            let mut log = self.log.lock();
            if let Some(frame) = terminal {
                log.frames.push(frame);
            }
            log.finished = Some(Arc::new(response));
            log.finished_at = Some(Instant::now());
            log.frames.len()
        };
        self.changed.send_replace(count);
    }
}

/// The run's event sink: records SSE frames for streaming runs, snapshots for background runs,
/// and holds back the terminal event until the response is persisted.
pub struct RunSink {
    run: Arc<Run>,
    /// The held-back terminal frame.
    pub terminal: Option<Bytes>,
    /// The terminal event's sequence number, to replace it when persisting fails.
    pub terminal_seq: Option<u64>,
}

impl RunSink {
    /// A sink for `run`.
    pub fn new(run: Arc<Run>) -> Self {
        RunSink { run, terminal: None, terminal_seq: None }
    }
}

impl EventSink for RunSink {
    fn emit(&mut self, event: StreamEvent, snapshot: &Response) {
        let frame = if self.run.stream {
            match event.to_sse_frame() {
                Ok(frame) => Some(Bytes::from(frame)),
                Err(e) => {
                    tracing::error!(response_id = %self.run.id, "dropping unserializable event: {e}");
                    None
                }
            }
        } else {
            None
        };
        if event.is_terminal() {
            self.terminal = frame;
            self.terminal_seq = Some(event.sequence_number);
            return;
        }
        let keep_snapshot = self.run.background && !event.is_delta();
        if frame.is_some() || keep_snapshot {
            self.run.push(frame, keep_snapshot.then_some(snapshot));
        }
    }

    /// Streams record frames and background runs snapshots; a synchronous response is read only
    /// once, finished, so its run needs no events.
    fn wants_events(&self) -> bool {
        self.run.stream || self.run.background
    }
}

/// Live runs, and finished background-streaming runs kept for replay.
#[derive(Default)]
pub struct Runs {
    map: DashMap<String, Arc<Run>>,
    /// Conversations with a response running: (owner, conversation) -> response id.
    busy: Arc<DashMap<(UserKey, String), String>>,
}

/// A conversation held by one running response; released when dropped (after the response's
/// record is stored, so the next response on it reads its items).
pub struct ConversationClaim {
    busy: Arc<DashMap<(UserKey, String), String>>,
    key: (UserKey, String),
}

impl ConversationClaim {
    /// The claimed conversation.
    pub fn conversation(&self) -> &str {
        &self.key.1
    }
}

impl Drop for ConversationClaim {
    fn drop(&mut self) {
        self.busy.remove(&self.key);
    }
}

impl Runs {
    /// Claims `conversation` for `response_id`, or names the response that holds it.
    pub fn claim_conversation(
        &self,
        user: &UserKey,
        conversation: &str,
        response_id: &str,
    ) -> Result<ConversationClaim, String> {
        let key = (user.clone(), conversation.to_string());
        match self.busy.entry(key.clone()) {
            dashmap::Entry::Occupied(holder) => Err(holder.get().clone()),
            dashmap::Entry::Vacant(slot) => {
                slot.insert(response_id.to_string());
                Ok(ConversationClaim { busy: self.busy.clone(), key })
            }
        }
    }

    /// Registers a run.
    pub fn insert(&self, run: Arc<Run>) {
        self.map.insert(run.id.clone(), run);
    }

    /// The run `id` if `user` owns it.
    pub fn get(&self, user: &UserKey, id: &str) -> Option<Arc<Run>> {
        self.map.get(id).filter(|r| &r.user == user).map(|r| r.clone())
    }

    /// Stops the unfinished background run `id` for a cancel another replica received (it has
    /// checked the owner against the store); false when this replica does not run it.
    pub fn cancel_from_peer(&self, id: &str) -> bool {
        match self.map.get(id) {
            Some(run) if run.background && run.finished().is_none() => {
                run.stop(StopReason::Cancelled);
                true
            }
            _ => false,
        }
    }

    /// Forgets a finished run unless it must stay replayable.
    pub fn finish(&self, run: &Run) {
        if !(run.background && run.stream) {
            self.map.remove(&run.id);
        }
    }

    /// Runs still in flight.
    pub fn in_flight(&self) -> Vec<Arc<Run>> {
        self.map.iter().filter(|r| r.finished().is_none()).map(|r| r.clone()).collect()
    }

    /// Drops replay logs older than the retention, and the oldest beyond the cap.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.map.retain(|_, run| run.finished_at().is_none_or(|t| now.duration_since(t) < REPLAY_RETENTION));
        if self.map.len() > REPLAY_MAX {
            let mut finished: Vec<(Instant, String)> =
                self.map.iter().filter_map(|r| r.finished_at().map(|t| (t, r.id.clone()))).collect();
            finished.sort();
            let excess = self.map.len() - REPLAY_MAX;
            for (_, id) in finished.into_iter().take(excess) {
                self.map.remove(&id);
            }
        }
    }
}
