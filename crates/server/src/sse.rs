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
/// Largest chunk [`coalesce`] builds, so a long replay is not copied into one allocation.
const MAX_CHUNK: usize = 64 * 1024;

/// Frames that are ready together, joined into as few chunks as fit [`MAX_CHUNK`]: one write
/// instead of one per event. A frame alone stays as it is (no copy).
fn coalesce(frames: Vec<Bytes>) -> Vec<Bytes> {
    if frames.len() < 2 {
        return frames;
    }
    let mut chunks = Vec::new();
    let mut batch: Vec<u8> = Vec::new();
    for frame in frames {
        if !batch.is_empty() && batch.len() + frame.len() > MAX_CHUNK {
            chunks.push(Bytes::from(std::mem::take(&mut batch)));
        }
        batch.extend_from_slice(&frame);
    }
    if !batch.is_empty() {
        chunks.push(Bytes::from(batch));
    }
    chunks
}

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
            for chunk in coalesce(frames) {
                yield Ok::<Bytes, Infallible>(chunk);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_frames_become_few_bounded_chunks_in_order() {
        let frame = |c: u8, n: usize| Bytes::from(vec![c; n]);
        assert!(coalesce(Vec::new()).is_empty());
        assert_eq!(coalesce(vec![frame(b'a', 3)]), vec![frame(b'a', 3)]);
        assert_eq!(coalesce(vec![frame(b'a', 2), frame(b'b', 1)]), vec![Bytes::from_static(b"aab")]);
        let big = MAX_CHUNK / 2 + 1;
        let frames = vec![frame(b'a', big), frame(b'b', big), frame(b'c', 10), frame(b'd', MAX_CHUNK + 5)];
        let chunks = coalesce(frames.clone());
        assert_eq!(chunks.iter().map(Bytes::len).collect::<Vec<_>>(), vec![big, big + 10, MAX_CHUNK + 5]);
        assert_eq!(chunks.concat(), frames.concat());
    }
}
