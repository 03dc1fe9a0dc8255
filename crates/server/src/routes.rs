//! The Responses routes (§1.2, §5.6, §5.7 of the protocol reference). Handlers extract, call the
//! store or start a run, and map the outcome; the protocol's rules live in the crates below.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agenthost_agent::{ModelRequest, NoTools, Preflight, RequestContext, Turn, TurnEnd, approvals_from, run_turn};
use agenthost_responses::{
    AgentReference, ConversationRef, CreateRequest, Item, Response, ResponseError, ResponseStatus, ResponseWriter, id,
    unix_now,
};
use agenthost_store::{HistorySource, Lookup, Record};
use agenthost_toolbox::Marker;
use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response as HttpResponse};
use serde_json::json;
use tracing::Instrument;

use crate::app::AppState;
use crate::error::ApiError;
use crate::platform::PlatformRequest;
use crate::run::{Run, RunSink, StopReason};
use crate::sse::{self, ClientGuard};
use crate::telemetry::{self, RequestSpans};

/// How long cancel waits for a run to wind down (§5.7).
const CANCEL_GRACE: Duration = Duration::from_secs(10);

pub(crate) fn store_error(e: agenthost_store::StoreError) -> ApiError {
    tracing::error!("store failure: {e}");
    ApiError::internal()
}

async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large {
            ApiError::too_large(limit)
        } else {
            ApiError::bad_request("invalid_request_error", "Could not read the request body.", None)
        }
    })
}

/// `POST /responses`.
pub async fn create(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Extension(spans): Extension<RequestSpans>,
    headers: HeaderMap,
    body: Body,
) -> HttpResponse {
    let mut session = app.config.platform.session_id.clone();
    let mut response = match create_inner(&app, platform, &spans.log, &headers, body, &mut session).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let session = session.unwrap_or_else(|| id::session_id("", "", None));
    if let Ok(v) = HeaderValue::from_str(&session) {
        response.headers_mut().insert("x-agent-session-id", v);
    }
    response
}

async fn create_inner(
    app: &AppState,
    platform: PlatformRequest,
    log_span: &tracing::Span,
    headers: &HeaderMap,
    body: Body,
    session: &mut Option<String>,
) -> Result<HttpResponse, ApiError> {
    if app.health.is_draining() {
        return Err(ApiError::shutting_down());
    }
    if app.config.platform.hosted {
        if platform.call_id.is_none() {
            return Err(ApiError::unsupported_protocol());
        }
        if platform.user.id().is_none() {
            return Err(ApiError::missing_user_id());
        }
    }
    let bytes = read_body(body, headers, app.config.max_body_bytes).await?;
    let request = CreateRequest::parse(&bytes)?;
    let markers =
        app.toolboxes.markers(&request.tools).map_err(|e| ApiError::bad_request(e.code, e.message, Some(&e.param)))?;
    let user = platform.user.partition().to_string();

    let history = match (&request.previous_response_id, &request.conversation) {
        (Some(prev), _) => match app.store.history(&user, HistorySource::Previous(prev)).await.map_err(store_error)? {
            Lookup::Found(items) => items,
            _ => {
                return Err(ApiError {
                    status: axum::http::StatusCode::NOT_FOUND,
                    ..ApiError::bad_request(
                        "previous_response_not_found",
                        format!("Previous response with id '{prev}' not found."),
                        Some("previous_response_id"),
                    )
                });
            }
        },
        (None, Some(conv)) => {
            match app.store.history(&user, HistorySource::Conversation(conv)).await.map_err(store_error)? {
                Lookup::Found(items) => items,
                _ => Vec::new(),
            }
        }
        (None, None) => Vec::new(),
    };

    let hint = request.previous_response_id.as_deref().or(request.conversation.as_deref());
    let response_id = platform.response_id.clone().unwrap_or_else(|| id::new_id(id::RESPONSE, hint));
    let input = resolve_references(app, &user, request.input.clone(), &response_id).await?;
    let approvals = approvals_from(&history, &input).map_err(|e| {
        ApiError::bad_request(
            "unknown_approval_request",
            e.message,
            Some(&format!("$.input[{}].approval_request_id", e.index)),
        )
    })?;

    // §2.5: the partition of the conversation or previous response; a raw id when not well-formed.
    let partition = hint.map(|h| id::partition_of(h).unwrap_or_else(|| h.to_string()));
    let agent_name = app.config.platform.agent_name.clone().unwrap_or_else(|| "agenthost".into());
    let agent_name_for_span = agent_name.clone();
    let agent_version = app.config.platform.agent_version.clone();
    *session =
        Some(request.agent_session_id.clone().or_else(|| session.clone()).unwrap_or_else(|| {
            id::session_id(&agent_name, agent_version.as_deref().unwrap_or(""), partition.as_deref())
        }));

    let mut snapshot = Response::new(
        response_id.clone(),
        request.model.clone().or_else(|| app.config.model.clone()).unwrap_or_default(),
        unix_now(),
    );
    snapshot.status = if request.background { ResponseStatus::Queued } else { ResponseStatus::InProgress };
    snapshot.instructions = request.instructions.clone();
    snapshot.tools = request.tools.clone();
    if let Some(choice) = &request.tool_choice {
        snapshot.tool_choice = choice.clone();
    }
    snapshot.parallel_tool_calls = request.parallel_tool_calls.unwrap_or(true);
    snapshot.temperature = request.temperature;
    snapshot.top_p = request.top_p;
    snapshot.metadata = request.metadata.clone();
    snapshot.previous_response_id = request.previous_response_id.clone();
    snapshot.conversation = request.conversation.clone().map(|id| ConversationRef { id });
    snapshot.background = request.background;
    snapshot.store = request.store;
    snapshot.agent_reference =
        Some(request.agent_reference.clone().unwrap_or_else(|| AgentReference::new(agent_name, agent_version)));
    snapshot.agent_session_id = session.clone();

    let run = Run::new(response_id.clone(), user.clone(), request.background, request.stream);
    let mut writer = ResponseWriter::new(snapshot);
    let mut sink = RunSink::new(run.clone());
    writer.created(&mut sink);
    if request.background {
        let record = Record { user: user.clone(), response: writer.response().clone(), input: input.clone() };
        app.store.put(record).await.map_err(store_error)?;
    }
    app.runs.insert(run.clone());

    // A child of the request's server span (current here); the run task runs inside it and the
    // log span.
    let span = telemetry::invoke_agent_span(
        &app.config,
        &telemetry::AgentRun {
            agent_name: &agent_name_for_span,
            response_id: &response_id,
            conversation_id: request.conversation.as_deref(),
            model: app.model.as_ref(),
            streaming: request.stream,
            request_id: &platform.request_id,
            session_id: session.as_deref(),
        },
    );
    let ctx = RequestContext {
        request_id: platform.request_id.clone(),
        response_id: response_id.clone(),
        user: platform.user.clone(),
        call_id: platform.call_id.clone(),
        trace: platform.trace.clone(),
        telemetry: app.telemetry.clone(),
        log_span: log_span.clone(),
        cancel: run.cancel.clone(),
        deadline: Some(tokio::time::Instant::now() + app.config.response_timeout),
    };
    let mut model_input = history;
    model_input.extend(input.iter().cloned());
    let turn = Turn {
        ctx,
        model: app.model.clone(),
        // Filled in by `drive` once the request's toolboxes are resolved.
        tools: Arc::new(NoTools),
        preflight: Preflight::default(),
        approvals,
        request: ModelRequest {
            instructions: join_instructions(
                app.config.backend.instructions.as_deref(),
                request.instructions.as_deref(),
            ),
            input: model_input,
            tools: Vec::new(),
            tool_choice: request.tool_choice.clone(),
            parallel_tool_calls: request.parallel_tool_calls,
            temperature: request.temperature,
            top_p: request.top_p,
            max_output_tokens: request.max_output_tokens,
        },
        max_iterations: app.config.max_tool_iterations,
    };
    let task_app = app.clone();
    let task_run = run.clone();
    let plan = Plan { turn, markers, input, store: request.store, span: span.clone() };
    app.tracker.spawn(drive(task_app, task_run, writer, sink, plan).instrument(span).instrument(log_span.clone()));

    let keepalive = app.config.sse_keepalive;
    Ok(match (request.background, request.stream) {
        (false, true) => sse::response(run.clone(), 0, keepalive, ClientGuard(Some(run)), app.metrics.clone()),
        (true, true) => sse::response(run, 0, keepalive, ClientGuard(None), app.metrics.clone()),
        (true, false) => match run.snapshot() {
            Some(s) => Json(s.as_ref().clone()).into_response(),
            None => return Err(ApiError::internal()),
        },
        (false, false) => {
            let guard = ClientGuard(Some(run.clone()));
            let done = run.wait_finished().await;
            drop(guard);
            Json(done.as_ref().clone()).into_response()
        }
    })
}

/// The agent's own instructions first, then the request's.
fn join_instructions(agent: Option<&str>, request: Option<&str>) -> Option<String> {
    match (agent, request) {
        (Some(a), Some(r)) => Some(format!("{a}\n\n{r}")),
        (a, r) => a.or(r).map(str::to_string),
    }
}

/// Replaces `item_reference` inputs with the stored items and gives every input item an id.
async fn resolve_references(
    app: &AppState,
    user: &str,
    input: Vec<Item>,
    response_id: &str,
) -> Result<Vec<Item>, ApiError> {
    let refs: Vec<String> = input
        .iter()
        .filter_map(|i| match i {
            Item::ItemReference(r) => Some(r.id.clone()),
            _ => None,
        })
        .collect();
    let mut resolved =
        if refs.is_empty() { Vec::new() } else { app.store.items(user, &refs).await.map_err(store_error)? }.into_iter();
    let mut out = Vec::with_capacity(input.len());
    for (n, mut item) in input.into_iter().enumerate() {
        if let Item::ItemReference(r) = &item {
            match resolved.next().flatten() {
                Some(found) => {
                    out.push(found);
                    continue;
                }
                None => {
                    return Err(ApiError::bad_request(
                        "item_not_found",
                        format!("Item '{}' not found.", r.id),
                        Some(&format!("$.input[{n}]")),
                    ));
                }
            }
        }
        item.ensure_id(response_id);
        out.push(item);
    }
    Ok(out)
}

/// What a run does, besides writing: the turn, the request's toolbox markers, what to store, and
/// its `invoke_agent` span.
struct Plan {
    turn: Turn,
    markers: Vec<Marker>,
    input: Vec<Item>,
    store: bool,
    span: tracing::Span,
}

/// The run task: drives the turn, persists, then publishes the terminal event.
async fn drive(app: AppState, run: Arc<Run>, mut writer: ResponseWriter, mut sink: RunSink, plan: Plan) {
    let Plan { mut turn, markers, input, store, span } = plan;
    let started = Instant::now();
    let deadline = app.config.response_timeout;
    writer.in_progress(&mut sink);
    let work = async {
        // Toolbox resolution may list a toolbox for this user; it runs inside the response's
        // deadline and cancellation, after `response.created` has gone out.
        let (tools, preflight) = app.toolboxes.resolve(&turn.ctx, &markers).await;
        turn.tools = tools;
        turn.preflight = preflight;
        run_turn(turn, &mut writer, &mut sink).await
    };
    let end = tokio::select! {
        end = work => end,
        _ = tokio::time::sleep(deadline) => {
            run.stop(StopReason::Timeout);
            TurnEnd::Interrupted
        }
    };
    if end == TurnEnd::Interrupted {
        match run.stop_reason() {
            StopReason::Shutdown => writer.fail(
                &mut sink,
                ResponseError::new("server_shutdown", "The server shut down before the response finished."),
                None,
            ),
            StopReason::Timeout => writer.fail(
                &mut sink,
                ResponseError::new("timeout", format!("The response did not finish within {}s.", deadline.as_secs())),
                None,
            ),
            StopReason::ClientGone | StopReason::Cancelled | StopReason::None => writer.cancel(&mut sink),
        }
    }
    let response = writer.into_response();
    let client_gone = run.stop_reason() == StopReason::ClientGone && !run.background;
    if store && !client_gone {
        let record = Record { user: run.user.clone(), response: response.clone(), input };
        if let Err(e) = app.store.put(record).await {
            tracing::error!(response_id = %run.id, "could not store response: {e}");
        }
    }
    telemetry::finish_invoke_agent(&span, &response);
    app.metrics.responses.with_label_values(&[response.status.as_str()]).inc();
    app.metrics.response_duration.observe(started.elapsed().as_secs_f64());
    run.publish_final(sink.terminal.take(), response);
    app.runs.finish(&run);
}

/// `GET /responses/{id}` (and `?stream=true&starting_after=N` replay).
pub async fn get(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<HttpResponse, ApiError> {
    let user = platform.user.partition();
    let stream = match query.get("stream").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_request("invalid_value", "'stream' must be true or false.", Some("stream")));
        }
    };
    if stream {
        let after = query
            .get("starting_after")
            .cloned()
            .or_else(|| headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_string));
        let from = match after {
            None => 0,
            Some(n) => match n.trim().parse::<u64>() {
                Ok(n) => n as usize + 1,
                Err(_) => {
                    return Err(ApiError::bad_request(
                        "invalid_value",
                        "'starting_after' must be a non-negative integer.",
                        Some("starting_after"),
                    ));
                }
            },
        };
        match app.runs.get(user, &id) {
            Some(run) if run.background && run.stream => {
                if let Lookup::Deleted = app.store.get(user, &id).await.map_err(store_error)? {
                    return Err(ApiError::response_deleted(&id));
                }
                return Ok(sse::response(run, from, app.config.sse_keepalive, ClientGuard(None), app.metrics.clone()));
            }
            // A synchronous response in flight does not exist yet for readers.
            Some(run) if !run.background => return Err(ApiError::response_not_found(&id)),
            _ => {}
        }
        return match app.store.get(user, &id).await.map_err(store_error)? {
            Lookup::Found(r) if !r.response.background => Err(ApiError::bad_request(
                "invalid_request_error",
                "This response cannot be streamed because it was not created with background=true.",
                Some("stream"),
            )),
            Lookup::Found(_) => Err(ApiError::bad_request(
                "invalid_request_error",
                "This response cannot be streamed because it was not created with stream=true, or its events have expired.",
                Some("stream"),
            )),
            Lookup::Deleted => Err(ApiError::response_deleted(&id)),
            Lookup::Missing => Err(ApiError::response_not_found(&id)),
        };
    }
    if let Some(run) = app.runs.get(user, &id)
        && run.finished().is_none()
    {
        if !run.background {
            return Err(ApiError::response_not_found(&id));
        }
        if let Some(s) = run.snapshot() {
            return Ok(Json(s.as_ref().clone()).into_response());
        }
    }
    match app.store.get(user, &id).await.map_err(store_error)? {
        Lookup::Found(r) => Ok(Json(&r.response).into_response()),
        Lookup::Deleted => Err(ApiError::response_deleted(&id)),
        Lookup::Missing => Err(ApiError::response_not_found(&id)),
    }
}

/// `POST /responses/{id}/cancel`.
pub async fn cancel(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = platform.user.partition();
    if let Some(run) = app.runs.get(user, &id)
        && run.finished().is_none()
    {
        if !run.background {
            return Err(ApiError::response_not_found(&id));
        }
        run.stop(StopReason::Cancelled);
        let done = tokio::time::timeout(CANCEL_GRACE, run.wait_finished()).await.map_err(|_| ApiError::internal())?;
        return Ok(Json(done.as_ref().clone()).into_response());
    }
    match app.store.get(user, &id).await.map_err(store_error)? {
        Lookup::Found(r) => {
            if !r.response.background {
                return Err(ApiError::bad_request(
                    "invalid_request_error",
                    "Cannot cancel a synchronous response.",
                    None,
                ));
            }
            let what = match r.response.status {
                ResponseStatus::Cancelled => return Ok(Json(&r.response).into_response()),
                ResponseStatus::Completed => "a completed",
                ResponseStatus::Failed => "a failed",
                ResponseStatus::Incomplete => "an incomplete",
                ResponseStatus::Queued | ResponseStatus::InProgress => "an unfinished",
            };
            Err(ApiError::bad_request("invalid_request_error", format!("Cannot cancel {what} response."), None))
        }
        Lookup::Deleted => Err(ApiError::response_deleted(&id)),
        Lookup::Missing => Err(ApiError::response_not_found(&id)),
    }
}

/// `DELETE /responses/{id}`.
pub async fn delete(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = platform.user.partition();
    if let Some(run) = app.runs.get(user, &id)
        && run.finished().is_none()
    {
        if run.background {
            return Err(ApiError::bad_request(
                "invalid_request_error",
                format!("Response '{id}' is in progress and cannot be deleted."),
                None,
            ));
        }
        return Err(ApiError::response_not_found(&id));
    }
    match app.store.delete(user, &id).await.map_err(store_error)? {
        Lookup::Found(()) => Ok(Json(json!({"id": id, "object": "response.deleted", "deleted": true})).into_response()),
        Lookup::Deleted => Err(ApiError::response_deleted(&id)),
        Lookup::Missing => Err(ApiError::response_not_found(&id)),
    }
}
