//! The SSE body of a run: its recorded frames from a position, live until the terminal event,
//! with optional `: keep-alive` comments.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;

use crate::limits::StreamPermit;
use crate::metrics::Metrics;
use crate::run::{Run, StopReason};

const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// Interrupts a non-background run when its client goes away before it finished.
pub struct ClientGuard(pub Option<Arc<Run>>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        if let Some(run) = self.0.take()
            && run.finished().is_none()
        {
            run.stop(StopReason::ClientGone);
        }
    }
}

/// Streams `run`'s frames starting at index `from`.
pub fn response(
    run: Arc<Run>,
    from: usize,
    keepalive: Option<Duration>,
    guard: ClientGuard,
    metrics: Metrics,
    permit: Option<StreamPermit>,
) -> Response {
    let stream = async_stream::stream! {
        let _guard = guard;
        let _permit = permit;
        let _open = metrics.sse_open_guard();
        let mut rx = run.subscribe();
        let mut next = from;
        let mut ticker = keepalive.map(|d| tokio::time::interval_at(tokio::time::Instant::now() + d, d));
        loop {
            rx.borrow_and_update();
            let (frames, done) = run.frames_from(next);
            next += frames.len();
            // What is there goes out as one chunk: one write instead of one per event.
            match frames.len() {
                0 => {}
                1 => yield Ok::<Bytes, Infallible>(frames.into_iter().next().unwrap_or_default()),
                _ => yield Ok(Bytes::from(frames.concat())),
            }
            if done {
                break;
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { break },
                _ = async {
                    match ticker.as_mut() {
                        Some(t) => { t.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => yield Ok(Bytes::from_static(KEEP_ALIVE)),
            }
        }
    };
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
