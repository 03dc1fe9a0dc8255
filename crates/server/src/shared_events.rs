//! The events of background streaming responses, shared through the database so that any
//! replica can stream one (`GET /responses/{id}?stream=true`), not only the one running it.
//!
//! The running replica ships its run's frames to the store as they are written (each batch is
//! whatever accumulated while the previous insert ran); another replica replays the stored frames
//! from `starting_after` and then follows new ones until the terminal event.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use agenthost_agent::UserKey;
use agenthost_store::Lookup;
use agenthost_store_postgres::PostgresStore;
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;

use crate::error::ApiError;
use crate::limits::StreamPermit;
use crate::run::Run;
use crate::state::AppState;

/// How often a replica that does not run the response looks for new frames.
const FOLLOW_EVERY: Duration = Duration::from_millis(50);
/// Frames read per query.
const BATCH: i64 = 256;
/// How long a failed shipment waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// Ships `run`'s frames to the database until the run's log is complete.
pub fn ship(app: &AppState, db: Arc<PostgresStore>, run: Arc<Run>) {
    app.tracker.spawn(async move {
        let mut rx = run.subscribe();
        let mut next = 0usize;
        loop {
            rx.borrow_and_update();
            let (frames, done) = run.frames_from(next);
            if !frames.is_empty() {
                let texts: Vec<String> = frames.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
                match db.append_events(&run.id, next as i64, &texts).await {
                    Ok(()) => next += frames.len(),
                    Err(e) => {
                        tracing::warn!(response_id = %run.id, code = e.code(), "could not share stream events: {e}");
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                }
                continue;
            }
            if done {
                break;
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
    });
}

fn is_terminal(frame: &str) -> bool {
    ["event: response.completed\n", "event: response.failed\n", "event: response.incomplete\n"]
        .iter()
        .any(|t| frame.starts_with(t))
}

/// Streams `user`'s background response `id` from the database, from frame `from`; `None`
/// when the database holds no frames of it (not a streaming response, or not this user's).
pub async fn stream(
    db: Arc<PostgresStore>,
    user: &UserKey,
    id: &str,
    from: usize,
    limit: Duration,
    permit: StreamPermit,
) -> Result<Option<Response>, ApiError> {
    match db.events_after(user, id, 0, 1).await? {
        Lookup::Found(first) if !first.is_empty() => {}
        _ => return Ok(None),
    }
    let (user, id) = (user.clone(), id.to_string());
    let body = async_stream::stream! {
        let _permit = permit;
        let give_up = tokio::time::Instant::now() + limit;
        let mut next = from as i64;
        loop {
            let frames = match db.events_after(&user, &id, next, BATCH).await {
                Ok(Lookup::Found(frames)) => frames,
                // Deleted meanwhile, or the database went away: the stream ends here.
                _ => break,
            };
            let mut done = false;
            for frame in &frames {
                done |= is_terminal(frame);
                yield Ok::<Bytes, Infallible>(Bytes::from(frame.clone()));
            }
            next += frames.len() as i64;
            if done || tokio::time::Instant::now() >= give_up {
                break;
            }
            if frames.is_empty() {
                tokio::time::sleep(FOLLOW_EVERY).await;
            }
        }
    };
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(Some(response))
}
