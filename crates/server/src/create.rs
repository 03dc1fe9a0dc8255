//! `POST /responses`: a request becoming a run (§1.2, §5.6 of the protocol reference).
//!
//! [`create`] admits the request, [`prepare`] turns it into everything a run needs (history,
//! resolved input, approvals, ids, the response snapshot and the model request, built by the
//! crates that own those rules), [`start`] registers and spawns the run, and [`answer`] picks
//! the response mode. [`drive`] is the run task.

use std::sync::Arc;
use std::time::Instant;

use std::collections::HashMap;

use agenthost_agent::{
    Approval, Combined, ModelRequest, NoTools, Preflight, RequestContext, Turn, TurnEnd, UserKey, approvals_from,
    run_turn,
};
use agenthost_remote_mcp::ServerSpec;
use agenthost_responses::{
    AgentReference, CreateRequest, Created, Item, Response, ResponseError, ResponseWriter, Role, id, unix_now,
};
use agenthost_store::{Caller, HistorySource, Lookup, Record};
use agenthost_toolbox::Marker;
use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response as HttpResponse};
use tracing::Instrument;

use crate::error::ApiError;
use crate::limits::{RunPermit, StreamPermit};
use crate::platform::PlatformRequest;
use crate::run::{ConversationClaim, Run, RunSink, StopReason};
use crate::sse::{self, ClientGuard};
use crate::state::AppState;
use crate::telemetry::{self, RequestSpans};

/// `POST /responses`. Every answer, errors included, carries `x-agent-session-id`.
pub async fn create(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Extension(spans): Extension<RequestSpans>,
    headers: HeaderMap,
    body: Body,
) -> HttpResponse {
    let mut session = app.config.platform.session_id.clone();
    // Boxed: the whole request path is several KiB of future state, which every wrapper (the
    // handler, the middleware, hyper's service) would otherwise move by value.
    let outcome = Box::pin(async {
        admit(&app, &platform)?;
        // The run slot is taken before the body is read, so a flood of bodies is capped too.
        let run_permit = app.admission.run()?;
        let bytes = read_body(body, &headers, app.config.max_body_bytes, app.admission.body_timeout).await?;
        let request = CreateRequest::parse(&bytes)?;
        let uses_store = request.store || request.conversation.is_some() || request.previous_response_id.is_some();
        if uses_store && !app.store_health.is_ready() {
            return Err(ApiError::Store(agenthost_store::StoreError::Unavailable("not connected".into())));
        }
        let stream_permit = if request.stream { Some(app.admission.stream()?) } else { None };
        let prepared = prepare(&app, &platform, request).await?;
        session = Some(prepared.session_id.clone());
        let conversation = prepared.request.conversation.clone();
        let response_id = prepared.snapshot.id.clone();
        let run = match start(&app, &platform, &spans.log, prepared, run_permit).await {
            Ok(run) => run,
            Err(e) => {
                release_conversation(&app, &platform.user, conversation.as_deref(), &response_id).await;
                return Err(e);
            }
        };
        answer(&app, run, stream_permit).await
    });
    let mut response = outcome.await.unwrap_or_else(IntoResponse::into_response);
    let session = session.unwrap_or_else(|| id::session_id("", "", None));
    if let Ok(v) = HeaderValue::from_str(&session) {
        response.headers_mut().insert("x-agent-session-id", v);
    }
    response
}

/// Refuses requests the server must not start: while draining, and hosted requests without the
/// platform's call id or user id.
fn admit(app: &AppState, platform: &PlatformRequest) -> Result<(), ApiError> {
    if app.health.is_draining() {
        return Err(ApiError::ShuttingDown);
    }
    if app.config.platform.hosted {
        if platform.call_id.is_none() {
            return Err(ApiError::UnsupportedProtocol);
        }
        if platform.user.id().is_none() {
            return Err(ApiError::MissingUserId);
        }
    }
    Ok(())
}

/// The request body, within `limit` bytes and `timeout`.
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::BodyTooLarge(limit));
    }
    // One deadline for the whole body: a client that sends headers and stalls (or trickles)
    // is answered 408 instead of holding its connection and run slot.
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| ApiError::BodyTimeout(timeout.as_secs()))?;
    read.map_err(|e| {
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large { ApiError::BodyTooLarge(limit) } else { ApiError::UnreadableBody }
    })
}

/// A validated request with everything its run needs.
struct Prepared {
    request: CreateRequest,
    markers: Vec<Marker>,
    /// Request `mcp` servers by URL, and the lists reused from the previous response.
    servers: Vec<ServerSpec>,
    reused: HashMap<String, Vec<serde_json::Value>>,
    snapshot: Response,
    agent_name: String,
    session_id: String,
    input: Vec<Item>,
    model_request: ModelRequest,
    approvals: Vec<Approval>,
    /// Held while the response runs on a conversation.
    claim: Option<ConversationClaim>,
}

async fn prepare(app: &AppState, platform: &PlatformRequest, request: CreateRequest) -> Result<Prepared, ApiError> {
    let markers = app.toolboxes.markers(&request.tools)?;
    let servers = crate::mcp_tools::servers(app, &request).await?;
    let user = &platform.user;
    let caller = platform.caller();
    let hint = request.previous_response_id.as_deref().or(request.conversation.as_deref());
    let response_id = platform.response_id.clone().unwrap_or_else(|| id::new_id(id::RESPONSE, hint));
    // Claimed before the history is read, so it holds every item of the response before.
    let claim = match &request.conversation {
        Some(conv) => Some(
            app.runs
                .claim_conversation(user, conv, &response_id)
                .map_err(|holder| ApiError::ConversationLocked { conversation: conv.clone(), holder })?,
        ),
        None => None,
    };
    let history = history(app, &caller, &request).await?;
    if request.conversation.is_some()
        && request.input.is_empty()
        && !matches!(history.last(), Some(Item::Message(m)) if m.role == Role::User)
    {
        return Err(ApiError::MissingInput);
    }
    let reused = crate::mcp_tools::reused_lists(app, &caller, &request, &servers, &history).await?;
    let input = resolve_references(app, &caller, request.input.clone(), &response_id).await?;
    let approvals = approvals_from(&history, &input)
        .map_err(|e| ApiError::UnknownApproval { message: e.message, index: e.index })?;

    let config = &app.config.platform;
    let agent_name = config.agent_name.clone().unwrap_or_else(|| "agenthost".into());
    // §2.5: the session follows the conversation or previous response's partition (a raw id
    // when not well-formed), unless the request or the platform names one.
    let session_id = request.agent_session_id.clone().or_else(|| config.session_id.clone()).unwrap_or_else(|| {
        let partition = hint.map(|h| id::partition_of(h).unwrap_or_else(|| h.to_string()));
        id::session_id(&agent_name, config.agent_version.as_deref().unwrap_or(""), partition.as_deref())
    });
    let snapshot = Response::from_request(
        &request,
        Created {
            id: response_id,
            created_at: unix_now(),
            default_model: app.config.model.clone().unwrap_or_default(),
            agent: AgentReference::new(agent_name.clone(), config.agent_version.clone()),
            session_id: session_id.clone(),
        },
    );
    let mut model_input = history;
    model_input.extend(input.iter().cloned());
    let model_request = ModelRequest::from_request(&request, app.config.backend.instructions.as_deref(), model_input);
    // Last, so no refusal above leaves it held: the conversation's claim on every replica.
    if let (Some(db), Some(conv)) = (&app.durable, &request.conversation)
        && let Some(holder) = db.claim_conversation(user, conv, snapshot.id.as_str()).await?
    {
        return Err(ApiError::ConversationLocked { conversation: conv.clone(), holder });
    }
    Ok(Prepared {
        request,
        markers,
        servers,
        reused,
        snapshot,
        agent_name,
        session_id,
        input,
        model_request,
        approvals,
        claim,
    })
}

/// The turn's history: the `previous_response_id` chain (which must exist for this user), or
/// the conversation's responses (an unknown conversation starts empty).
async fn history(app: &AppState, caller: &Caller, request: &CreateRequest) -> Result<Vec<Item>, ApiError> {
    Ok(match (&request.previous_response_id, &request.conversation) {
        (Some(prev), _) => match app.store.history(caller, HistorySource::Previous(prev)).await? {
            Lookup::Found(items) => items,
            _ => return Err(ApiError::PreviousResponseNotFound(prev.clone())),
        },
        (None, Some(conv)) => match app.store.history(caller, HistorySource::Conversation(conv)).await? {
            Lookup::Found(items) => items,
            _ => Vec::new(),
        },
        (None, None) => Vec::new(),
    })
}

/// Replaces `item_reference` inputs with the stored items and gives every input item an id.
async fn resolve_references(
    app: &AppState,
    caller: &Caller,
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
    let mut resolved = if refs.is_empty() { Vec::new() } else { app.store.items(caller, &refs).await? }.into_iter();
    let mut out = Vec::with_capacity(input.len());
    for (index, mut item) in input.into_iter().enumerate() {
        if let Item::ItemReference(r) = &item {
            match resolved.next().flatten() {
                Some(found) => out.push(found),
                None => return Err(ApiError::ItemNotFound { id: r.id.clone(), index }),
            }
            continue;
        }
        item.ensure_id(response_id);
        out.push(item);
    }
    Ok(out)
}

/// Registers the run and spawns its task. `response.created` is in the run's log before the
/// task starts; a background response is stored before anyone can ask for it.
async fn start(
    app: &AppState,
    platform: &PlatformRequest,
    log_span: &tracing::Span,
    prepared: Prepared,
    permit: RunPermit,
) -> Result<Arc<Run>, ApiError> {
    let Prepared {
        request,
        markers,
        servers,
        reused,
        snapshot,
        agent_name,
        session_id,
        input,
        model_request,
        approvals,
        claim,
    } = prepared;
    let response_id = snapshot.id.clone();
    let run = Run::new(response_id.clone(), platform.user.clone(), request.background, request.stream);
    let mut writer = ResponseWriter::new(snapshot);
    let mut sink = RunSink::new(run.clone());
    writer.created(&mut sink);
    if request.background {
        let record = Record { user: platform.user.clone(), response: writer.response().clone(), input: input.clone() };
        app.store.put(&platform.caller(), record).await?;
    }
    app.runs.insert(run.clone());
    if request.background
        && request.stream
        && let Some(db) = &app.durable
    {
        // Any replica can then stream it.
        crate::shared_events::ship(app, db.clone(), run.clone());
    }

    // A child of the request's server span (current here); the run task runs inside it and the
    // log span.
    let platform_config = &app.config.platform;
    let span = telemetry::invoke_agent_span(&telemetry::AgentRun {
        agent_name: &agent_name,
        response_id: &response_id,
        conversation_id: request.conversation.as_deref(),
        model: app.model.as_ref(),
        streaming: request.stream,
        request_id: &platform.request_id,
        session_id: Some(&session_id),
        hosted: platform_config.hosted,
        agent_id: platform_config.agent_id(),
        agent_version: platform_config.agent_version.as_deref(),
        project_id: app.config.telemetry.project_arm_id.as_deref(),
    });
    let ctx = RequestContext {
        request_id: platform.request_id.clone(),
        response_id,
        user: platform.user.clone(),
        call_id: platform.call_id.clone(),
        trace: platform.trace.clone(),
        telemetry: app.telemetry.clone(),
        log_span: log_span.clone(),
        cancel: run.cancel.clone(),
        deadline: Some(tokio::time::Instant::now() + app.config.response_timeout),
    };
    let turn = Turn {
        ctx,
        model: app.model.clone(),
        // Filled in by `drive` once the request's toolboxes are resolved.
        tools: Arc::new(NoTools),
        preflight: Preflight::default(),
        approvals,
        request: model_request,
        max_iterations: app.config.max_tool_iterations,
    };
    let plan = Plan {
        turn,
        markers,
        servers,
        reused,
        input,
        store: request.store,
        span: span.clone(),
        claim,
        _permit: permit,
    };
    // Boxed before it is wrapped and spawned: the run's future is ~6 KiB, each wrapper a move.
    // (Driving a synchronous response in its request instead of a task was measured: 15 %
    // slower at c16 on 2 cores, as the run no longer spreads over both workers.)
    let task = Box::pin(drive(app.clone(), run.clone(), writer, sink, plan));
    app.tracker.spawn(task.instrument(span).instrument(log_span.clone()));
    Ok(run)
}

/// Streams, returns the background snapshot, or waits for the synchronous result.
async fn answer(app: &AppState, run: Arc<Run>, permit: Option<StreamPermit>) -> Result<HttpResponse, ApiError> {
    let keepalive = app.config.sse_keepalive;
    Ok(match (run.background, run.stream) {
        (false, true) => sse::response(run.clone(), 0, keepalive, ClientGuard(Some(run)), app.metrics.clone(), permit),
        (true, true) => sse::response(run, 0, keepalive, ClientGuard(None), app.metrics.clone(), permit),
        (true, false) => {
            let snapshot = run.snapshot().ok_or(ApiError::Internal("background run without a snapshot"))?;
            Json(snapshot.as_ref()).into_response()
        }
        (false, false) => {
            // Dropping the guard before the response is written is fine: the run has finished.
            let _guard = ClientGuard(Some(run.clone()));
            Json(run.wait_finished().await.as_ref()).into_response()
        }
    })
}

/// What a run does, besides writing: the turn, the request's toolbox markers, what to store, and
/// its `invoke_agent` span.
struct Plan {
    turn: Turn,
    markers: Vec<Marker>,
    servers: Vec<ServerSpec>,
    reused: HashMap<String, Vec<serde_json::Value>>,
    input: Vec<Item>,
    store: bool,
    span: tracing::Span,
    claim: Option<ConversationClaim>,
    /// The run's slot under the concurrency cap, freed when the task ends.
    _permit: RunPermit,
}

/// The run task: drives the turn, persists, then publishes the terminal event.
async fn drive(app: AppState, run: Arc<Run>, mut writer: ResponseWriter, mut sink: RunSink, plan: Plan) {
    let Plan { mut turn, markers, servers, reused, input, store, span, claim, _permit } = plan;
    let caller = Caller::new(run.user.clone(), turn.ctx.call_id.as_deref());
    let started = Instant::now();
    let deadline = app.config.response_timeout;
    writer.in_progress(&mut sink);
    let work = async {
        // Toolbox resolution may list a toolbox for this user; it runs inside the response's
        // deadline and cancellation, after `response.created` has gone out.
        let (tools, preflight) = app.toolboxes.resolve(&turn.ctx, &markers).await;
        turn.tools = if servers.is_empty() {
            tools
        } else {
            // Request `mcp` servers are listed in the response (`mcp_list_tools` items); their
            // tools' names avoid the toolboxes'.
            let taken = tools.specs().into_iter().map(|s| s.name).collect();
            let remote = app.remote_mcp.resolve(&turn.ctx, servers, &reused, &taken, &mut writer, &mut sink).await;
            Arc::new(Combined::new(vec![tools, Arc::new(remote)]))
        };
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
    let mut response = writer.into_response();
    let client_gone = run.stop_reason() == StopReason::ClientGone && !run.background;
    if store && !client_gone {
        let record = Record { user: run.user.clone(), response: response.clone(), input };
        if let Err(e) = app.store.put(&caller, record).await {
            tracing::error!(response_id = %run.id, code = e.code(), "could not store response: {e}");
            // What was not stored is not acknowledged: the response ends failed instead.
            fail_unstored(&mut response, &mut sink, e.code());
        }
    }
    telemetry::finish_invoke_agent(&span, &response);
    app.metrics.responses.with_label_values(&[response.status.as_str()]).inc();
    app.metrics.response_duration.observe(started.elapsed().as_secs_f64());
    // The next response on the conversation may start once this one's items are stored, and
    // the run slot frees before the terminal event goes out, so a client that saw it may start.
    if let Some(claim) = &claim {
        release_conversation(&app, &run.user, Some(claim.conversation()), &run.id).await;
    }
    drop(claim);
    drop(_permit);
    run.publish_final(sink.terminal.take(), response);
    app.runs.finish(&run);
}

/// Frees the conversation's claim on every replica (a no-op on the memory store, whose claims are
/// this process's). A failure only delays the next turn until the claim's lease lapses.
async fn release_conversation(app: &AppState, user: &UserKey, conversation: Option<&str>, response_id: &str) {
    if let (Some(db), Some(conv)) = (&app.durable, conversation)
        && let Err(e) = db.release_conversation(user, conv, response_id).await
    {
        tracing::warn!(code = e.code(), "could not release a conversation claim: {e}");
    }
}

/// Turns a finished response whose record could not be stored into a `failed` one, replacing
/// the held-back terminal event.
fn fail_unstored(response: &mut Response, sink: &mut RunSink, code: &str) {
    response.status = agenthost_responses::ResponseStatus::Failed;
    response.completed_at = None;
    response.incomplete_details = None;
    response.error = Some(ResponseError::new(code, "The response could not be stored; it is not kept."));
    if sink.terminal.is_some() {
        let event = agenthost_responses::StreamEvent {
            sequence_number: sink.terminal_seq.unwrap_or_default(),
            kind: agenthost_responses::event::EventKind::Failed { response: response.clone() },
        };
        sink.terminal = event.to_sse_frame().ok().map(bytes::Bytes::from);
    }
}
