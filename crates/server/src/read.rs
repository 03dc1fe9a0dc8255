//! Routes on existing responses (§5.7): get (and replay), cancel, delete, input items.
//!
//! Each asks [`find`] first: a background run still in flight is read from the run registry, any
//! other response from the store. A synchronous response in flight does not exist for readers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agenthost_agent::UserKey;
use agenthost_responses::{Item, ResponseStatus};
use agenthost_store::{Caller, Lookup, PageQuery, Record};
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response as HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::platform::PlatformRequest;
use crate::run::{Run, StopReason};
use crate::sse::{self, ClientGuard};
use crate::state::AppState;

/// How long cancel waits for a run to wind down (§5.7).
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// Where a response lives now.
enum Found {
    /// A background run still producing it.
    Live(Arc<Run>),
    /// Its stored record.
    Stored(Arc<Record>),
}

/// Looks `id` up for `user`: the in-flight background run, else the store.
async fn find(app: &AppState, caller: &Caller, id: &str) -> Result<Found, ApiError> {
    if let Some(run) = in_flight(app, caller.user(), id)? {
        return Ok(Found::Live(run));
    }
    match app.store.get(caller, id).await? {
        Lookup::Found(r) => Ok(Found::Stored(r)),
        Lookup::Deleted => Err(ApiError::ResponseDeleted(id.to_string())),
        Lookup::Missing => Err(ApiError::ResponseNotFound(id.to_string())),
    }
}

/// The unfinished background run `id`; a synchronous one in flight is not found.
fn in_flight(app: &AppState, user: &UserKey, id: &str) -> Result<Option<Arc<Run>>, ApiError> {
    match app.runs.get(user, id) {
        Some(run) if run.finished().is_none() && !run.background => Err(ApiError::ResponseNotFound(id.to_string())),
        Some(run) if run.finished().is_none() => Ok(Some(run)),
        _ => Ok(None),
    }
}

/// `GET /responses/{id}` (and `?stream=true&starting_after=N` replay).
pub async fn get(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<HttpResponse, ApiError> {
    let caller = platform.caller();
    let stream = match query.get("stream").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::InvalidValue { param: "stream", message: "'stream' must be true or false." }),
    };
    if stream {
        return replay(&app, &caller, &id, &query, &headers).await;
    }
    match find(&app, &caller, &id).await? {
        Found::Live(run) => {
            let snapshot = run.snapshot().ok_or(ApiError::Internal("background run without a snapshot"))?;
            Ok(Json(snapshot.as_ref()).into_response())
        }
        Found::Stored(r) => Ok(Json(&r.response).into_response()),
    }
}

/// `GET ?stream=true`: the recorded events of a background streaming run after `starting_after`
/// (or `Last-Event-ID`), then its live events. Finished runs stay replayable for a while.
async fn replay(
    app: &AppState,
    caller: &Caller,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<HttpResponse, ApiError> {
    let after = query
        .get("starting_after")
        .map(String::as_str)
        .or_else(|| headers.get("last-event-id").and_then(|v| v.to_str().ok()));
    let from = match after.map(|n| n.trim().parse::<u64>()) {
        None => 0,
        Some(Ok(n)) => n as usize + 1,
        Some(Err(_)) => {
            return Err(ApiError::InvalidValue {
                param: "starting_after",
                message: "'starting_after' must be a non-negative integer.",
            });
        }
    };
    let user = caller.user();
    match app.runs.get(user, id) {
        Some(run) if run.background && run.stream => {
            if let Lookup::Deleted = app.store.get(caller, id).await? {
                return Err(ApiError::ResponseDeleted(id.to_string()));
            }
            let permit = app.admission.stream()?;
            let keepalive = app.config.sse_keepalive;
            return Ok(sse::response(run, from, keepalive, ClientGuard(None), app.metrics.clone(), Some(permit)));
        }
        Some(run) if !run.background => return Err(ApiError::ResponseNotFound(id.to_string())),
        _ => {}
    }
    match find(app, caller, id).await? {
        Found::Stored(r) if !r.response.background => Err(ApiError::NotBackground),
        // Run (or finished) on another replica: its events are in the database.
        Found::Stored(_) if app.durable.is_some() => {
            let db = app.durable.clone().ok_or(ApiError::NotReplayable)?;
            let permit = app.admission.stream()?;
            let limit = app.config.response_timeout + std::time::Duration::from_secs(30);
            crate::shared_events::stream(db, user, id, from, limit, permit).await?.ok_or(ApiError::NotReplayable)
        }
        _ => Err(ApiError::NotReplayable),
    }
}

/// `POST /responses/{id}/cancel`.
pub async fn cancel(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = match find(&app, &platform.caller(), &id).await? {
        Found::Live(run) => {
            run.stop(StopReason::Cancelled);
            let done = tokio::time::timeout(CANCEL_GRACE, run.wait_finished())
                .await
                .map_err(|_| ApiError::Internal("a cancelled run did not finish within the grace period"))?;
            return Ok(Json(done.as_ref()).into_response());
        }
        Found::Stored(r) => r,
    };
    if !record.response.background {
        return Err(ApiError::CancelSynchronous);
    }
    // Unfinished, and not running here: another replica runs it. Ask it to stop (NOTIFY) and
    // answer with the record once that replica has stored the cancelled response.
    if matches!(record.response.status, ResponseStatus::Queued | ResponseStatus::InProgress)
        && let Some(db) = &app.durable
    {
        db.notify_cancel(&id).await?;
        return wait_until_settled(&app, &platform.caller(), &id).await;
    }
    Err(ApiError::CancelFinished(match record.response.status {
        ResponseStatus::Cancelled => return Ok(Json(&record.response).into_response()),
        ResponseStatus::Completed => "a completed",
        ResponseStatus::Failed => "a failed",
        ResponseStatus::Incomplete => "an incomplete",
        ResponseStatus::Queued | ResponseStatus::InProgress => "an unfinished",
    }))
}

/// The stored response `id` once it is no longer queued or in progress (within
/// [`CANCEL_GRACE`]), for a cancel carried out by another replica.
async fn wait_until_settled(app: &AppState, caller: &Caller, id: &str) -> Result<HttpResponse, ApiError> {
    let deadline = tokio::time::Instant::now() + CANCEL_GRACE;
    loop {
        // The store is the only channel back from the other replica; its commit is the signal.
        if let Found::Stored(r) = find(app, caller, id).await?
            && !matches!(r.response.status, ResponseStatus::Queued | ResponseStatus::InProgress)
        {
            return Ok(Json(&r.response).into_response());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Internal("a cancelled run did not finish within the grace period"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `DELETE /responses/{id}`: a tombstone in the store; a running background response stays.
pub async fn delete(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = &platform.user;
    if in_flight(&app, user, &id)?.is_some() {
        return Err(ApiError::DeleteInProgress(id));
    }
    match app.store.delete(&platform.caller(), &id).await? {
        Lookup::Found(()) => Ok(Json(json!({"id": id, "object": "response.deleted", "deleted": true})).into_response()),
        Lookup::Deleted => Err(ApiError::ResponseDeleted(id)),
        Lookup::Missing => Err(ApiError::ResponseNotFound(id)),
    }
}

/// `limit` (1..=100, default 20), `order` (`asc` | `desc`, default `desc`), `after`, `before`.
pub(crate) fn page_query(query: &HashMap<String, String>) -> Result<PageQuery, ApiError> {
    let limit = match query.get("limit").map(|v| v.parse::<usize>()) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::InvalidValue { param: "limit", message: "'limit' must be between 1 and 100." });
        }
    };
    let descending = match query.get("order").map(String::as_str) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(ApiError::InvalidValue { param: "order", message: "'order' must be 'asc' or 'desc'." }),
    };
    Ok(PageQuery { limit, descending, after: query.get("after").cloned(), before: query.get("before").cloned() })
}

/// A list object over `data`.
pub(crate) fn list(data: &[Item], has_more: bool) -> serde_json::Value {
    json!({
        "object": "list",
        "first_id": data.first().and_then(Item::id),
        "last_id": data.last().and_then(Item::id),
        "has_more": has_more,
        "data": data,
    })
}

/// `GET /responses/{id}/input_items`: a page of a stored response's history and input.
pub async fn input_items(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let page = page_query(&query)?;
    match app.store.input_items(&platform.caller(), &id, &page).await? {
        Lookup::Found(p) => Ok(Json(list(&p.data, p.has_more)).into_response()),
        Lookup::Deleted => Err(ApiError::ResponseDeleted(id)),
        Lookup::Missing => Err(ApiError::ResponseNotFound(id)),
    }
}
