//! [`run_turn`]: one response's model <-> tools loop.

use std::collections::HashSet;
use std::sync::Arc;

use agenthost_responses::item::{
    FunctionCallOutputItem, ItemStatus, McpApprovalRequestItem, McpListToolsItem, OAuthConsentRequestItem,
};
use agenthost_responses::{EventSink, Item, ItemHandle, ResponseError, ResponseWriter, Usage, id, unix_now};
use futures::StreamExt;
use futures::future::join_all;
use serde_json::Value;
use tracing::Instrument;

use crate::context::{RequestContext, UserKey};
use crate::model::{Model, ModelEvent, ModelRequest};
use crate::spans;
use crate::tools::{ConsentRequest, ToolCall, ToolOutcome, ToolSet};

/// What must be surfaced before the model runs (decided by whoever resolved the tools).
#[derive(Clone, Debug, Default)]
pub struct Preflight {
    /// Outstanding consents: when non-empty the model does not run; the turn asks the user.
    pub consents: Vec<ConsentRequest>,
    /// Tool sources that failed to list for a reason consent cannot fix, reported alongside.
    pub list_errors: Vec<(String, String)>,
}

/// A tool call the user answered with an `mcp_approval_response`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// The call that waited for approval.
    pub call: ToolCall,
    /// Whether the user approved it.
    pub approve: bool,
    /// The user's reason, if any.
    pub reason: Option<String>,
}

/// Everything one turn needs.
pub struct Turn {
    /// The request's context.
    pub ctx: RequestContext,
    /// The model.
    pub model: Arc<dyn Model>,
    /// The tools this turn may use.
    pub tools: Arc<dyn ToolSet>,
    /// What to surface before the model runs.
    pub preflight: Preflight,
    /// Approved or denied calls from earlier turns, run (or refused) before the model.
    pub approvals: Vec<Approval>,
    /// The model request: instructions, history + input, options. Tools are filled from `tools`.
    pub request: ModelRequest,
    /// Most model calls in one turn.
    pub max_iterations: usize,
}

/// How a turn ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TurnEnd {
    /// A terminal event was written.
    Finished,
    /// The context was cancelled; no terminal event was written, the caller writes it.
    Interrupted,
}

/// The text a `function_call_output` carries when its turn stopped for consent.
pub const CONSENT_PENDING_OUTPUT: &str =
    "Consent required: the user must sign in to this tool's source and send the message again.";

/// Runs the turn, writing items and exactly one terminal event (unless interrupted).
pub async fn run_turn(turn: Turn, writer: &mut ResponseWriter, sink: &mut dyn EventSink) -> TurnEnd {
    let Turn { ctx, model, tools, preflight, approvals, mut request, max_iterations } = turn;
    let mut usage: Option<Usage> = None;

    if !preflight.consents.is_empty() {
        emit_list_errors(writer, sink, &preflight.list_errors);
        emit_consents(writer, sink, &ctx.user, preflight.consents);
        writer.incomplete(sink, None, None);
        return TurnEnd::Finished;
    }
    emit_list_errors(writer, sink, &preflight.list_errors);

    request.tools = tools.specs();
    if !approvals.is_empty() {
        let calls: Vec<ToolCall> = approvals.iter().map(|a| a.call.clone()).collect();
        let outcomes = approvals.iter().map(|a| {
            let tools = tools.clone();
            let ctx = &ctx;
            async move {
                if a.approve {
                    spans::invoke(tools.as_ref(), ctx, &a.call).await
                } else {
                    let why = a.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
                    ToolOutcome::Error(format!("the user denied this tool call{why}"))
                }
            }
        });
        let outcomes = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return TurnEnd::Interrupted,
            outcomes = join_all(outcomes) => outcomes,
        };
        if record_outcomes(writer, sink, &ctx.user, &mut request, &calls, outcomes, usage) {
            return TurnEnd::Finished;
        }
    }
    for _ in 0..max_iterations.max(1) {
        let step_start = writer.response().output.len();
        let step = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return TurnEnd::Interrupted,
            step = model_step(&ctx, model.as_ref(), request.clone(), writer, sink, &mut usage) => step,
        };
        let calls = match step {
            Ok(Some(calls)) => calls,
            Ok(None) => return TurnEnd::Interrupted,
            Err(error) => {
                writer.fail(sink, error, usage);
                return TurnEnd::Finished;
            }
        };
        if calls.is_empty() {
            writer.complete(sink, usage, unix_now());
            return TurnEnd::Finished;
        }
        // What the model said in this step goes back to it on the next one.
        request.input.extend(writer.response().output[step_start..].iter().cloned());

        let (gated, free): (Vec<ToolCall>, Vec<ToolCall>) =
            calls.into_iter().partition(|call| tools.approval_label(call).is_some());
        let specs = &request.tools;
        let invocations = free.iter().map(|call| {
            let known = specs.iter().any(|s| s.name == call.name);
            let tools = tools.clone();
            let ctx = &ctx;
            async move {
                if known {
                    spans::invoke(tools.as_ref(), ctx, call).await
                } else {
                    spans::not_found(call);
                    ToolOutcome::Error(format!("tool '{}' is not available to this agent", call.name))
                }
            }
        });
        // Every call settles before the turn moves on, so a consent stop never abandons a sibling
        // call halfway through a side effect.
        let outcomes = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return TurnEnd::Interrupted,
            outcomes = join_all(invocations) => outcomes,
        };
        if record_outcomes(writer, sink, &ctx.user, &mut request, &free, outcomes, usage) {
            return TurnEnd::Finished;
        }
        if !gated.is_empty() {
            for call in &gated {
                let item = Item::McpApprovalRequest(McpApprovalRequestItem {
                    id: writer.new_item_id(id::MCP_APPROVAL_REQUEST),
                    server_label: tools.approval_label(call).unwrap_or_default(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                    response_id: None,
                    agent_reference: None,
                });
                writer.add_item(sink, item);
            }
            writer.complete(sink, usage, unix_now());
            return TurnEnd::Finished;
        }
    }
    writer.fail(
        sink,
        ResponseError::new(
            "max_iterations_exceeded",
            format!("The agent called tools {max_iterations} times without answering."),
        ),
        usage,
    );
    TurnEnd::Finished
}

/// One model call, traced as `chat {model}`. Returns the tool calls it asked for, `None` when the
/// model stream was cut by cancellation, or the error that fails the response.
async fn model_step(
    ctx: &RequestContext,
    model: &dyn Model,
    request: ModelRequest,
    writer: &mut ResponseWriter,
    sink: &mut dyn EventSink,
    usage: &mut Option<Usage>,
) -> Result<Option<Vec<ToolCall>>, ResponseError> {
    let call = spans::ChatCall::start(ctx, model, &request);
    let mut record = spans::CallRecord::default();
    let span = call.span().clone();
    let result = stream_step(ctx, model, request, writer, sink, &mut record).instrument(span).await;
    if let Some(call_usage) = &record.usage {
        usage.get_or_insert_with(Usage::default).add(call_usage);
    }
    match &result {
        Ok(Some(calls)) => {
            record.calls = calls.clone();
            call.finish(&record, None);
        }
        Ok(None) => call.finish(&record, Some("cancelled")),
        Err(error) => call.finish(&record, Some(&error.code)),
    }
    result
}

/// Streams one model call into the writer, collecting what its span reports in `record`.
async fn stream_step(
    ctx: &RequestContext,
    model: &dyn Model,
    request: ModelRequest,
    writer: &mut ResponseWriter,
    sink: &mut dyn EventSink,
    record: &mut spans::CallRecord,
) -> Result<Option<Vec<ToolCall>>, ResponseError> {
    let capture = ctx.telemetry.capture_content();
    let mut stream = model.stream(ctx, request).await.map_err(|e| ResponseError::new(e.code.as_str(), e.message))?;
    let mut text: Option<ItemHandle> = None;
    let mut refusal: Option<ItemHandle> = None;
    let mut reasoning: Option<ItemHandle> = None;
    let mut calls: Vec<ItemHandle> = Vec::new();

    while let Some(event) = stream.next().await {
        let event = event.map_err(|e| ResponseError::new(e.code.as_str(), e.message))?;
        match event {
            ModelEvent::TextDelta(delta) => {
                if capture {
                    record.text.push_str(&delta);
                }
                close(writer, sink, &mut reasoning);
                close(writer, sink, &mut refusal);
                let h = *text.get_or_insert_with(|| writer.start_message(sink));
                writer.text_delta(sink, h, &delta);
            }
            ModelEvent::RefusalDelta(delta) => {
                close(writer, sink, &mut reasoning);
                close(writer, sink, &mut text);
                let h = *refusal.get_or_insert_with(|| writer.start_refusal(sink));
                writer.text_delta(sink, h, &delta);
            }
            ModelEvent::ReasoningDelta(delta) => {
                let h = *reasoning.get_or_insert_with(|| writer.start_reasoning(sink));
                writer.reasoning_delta(sink, h, &delta);
            }
            ModelEvent::ReasoningEncrypted(state) => {
                let h = *reasoning.get_or_insert_with(|| writer.start_reasoning(sink));
                writer.set_reasoning_encrypted(h, state);
            }
            ModelEvent::FunctionCallStart { call_id, name } => {
                close(writer, sink, &mut reasoning);
                close(writer, sink, &mut text);
                close(writer, sink, &mut refusal);
                calls.push(writer.start_function_call(sink, &call_id, &name));
            }
            ModelEvent::FunctionCallArgumentsDelta { call_id, delta } => {
                if let Some(h) = find_call(writer, &calls, &call_id) {
                    writer.function_arguments_delta(sink, h, &delta);
                }
            }
            ModelEvent::FunctionCallDone { call_id, arguments } => {
                if let Some(h) = find_call(writer, &calls, &call_id) {
                    let streamed = writer.function_call(h).map(|f| f.arguments.len()).unwrap_or(0);
                    if streamed == 0 && !arguments.is_empty() {
                        writer.function_arguments_delta(sink, h, &arguments);
                    }
                    writer.finish(sink, h, ItemStatus::Completed);
                }
            }
            ModelEvent::Usage(u) => record.usage.get_or_insert_with(Usage::default).add(&u),
        }
    }
    if ctx.cancel.is_cancelled() {
        return Ok(None);
    }
    close(writer, sink, &mut reasoning);
    close(writer, sink, &mut text);
    close(writer, sink, &mut refusal);
    let mut out = Vec::with_capacity(calls.len());
    for h in calls {
        writer.finish(sink, h, ItemStatus::Completed);
        if let Some(f) = writer.function_call(h) {
            out.push(ToolCall { call_id: f.call_id.clone(), name: f.name.clone(), arguments: f.arguments.clone() });
        }
    }
    Ok(Some(out))
}

/// Writes one `function_call_output` per call; on consent, also the consent items and the
/// `incomplete` terminal event, returning true when the turn is over.
fn record_outcomes(
    writer: &mut ResponseWriter,
    sink: &mut dyn EventSink,
    user: &UserKey,
    request: &mut ModelRequest,
    calls: &[ToolCall],
    outcomes: Vec<ToolOutcome>,
    usage: Option<Usage>,
) -> bool {
    let mut consents = Vec::new();
    for (call, outcome) in calls.iter().zip(outcomes) {
        let output = match outcome {
            ToolOutcome::Output(text) => text,
            ToolOutcome::Error(message) => format!("Error: {message}"),
            ToolOutcome::ConsentRequired(requests) => {
                consents.extend(requests);
                CONSENT_PENDING_OUTPUT.to_string()
            }
        };
        let item = Item::FunctionCallOutput(FunctionCallOutputItem {
            id: None,
            call_id: call.call_id.clone(),
            output: Value::String(output),
            status: Some(ItemStatus::Completed),
            response_id: None,
            agent_reference: None,
        });
        let h = writer.add_item(sink, item);
        request.input.push(writer.response().output[h.output_index()].clone());
    }
    if consents.is_empty() {
        return false;
    }
    emit_consents(writer, sink, user, consents);
    writer.incomplete(sink, None, usage);
    true
}

fn find_call(writer: &ResponseWriter, calls: &[ItemHandle], call_id: &str) -> Option<ItemHandle> {
    calls.iter().copied().find(|h| writer.function_call(*h).is_some_and(|f| f.call_id == call_id))
}

fn close(writer: &mut ResponseWriter, sink: &mut dyn EventSink, h: &mut Option<ItemHandle>) {
    if let Some(h) = h.take() {
        writer.finish(sink, h, ItemStatus::Completed);
    }
}

fn emit_list_errors(writer: &mut ResponseWriter, sink: &mut dyn EventSink, errors: &[(String, String)]) {
    for (label, error) in errors {
        let item = Item::McpListTools(McpListToolsItem {
            id: writer.new_item_id(id::MCP_LIST_TOOLS),
            server_label: label.clone(),
            tools: Vec::new(),
            error: Some(error.clone()),
            response_id: None,
            agent_reference: None,
        });
        writer.add_item(sink, item);
    }
}

/// One `oauth_consent_request` per distinct (server_label, link), in first-seen order.
/// One `oauth_consent_request` per distinct (source, sign-in endpoint), in first-seen order. The
/// item id is derived from (user, source, link without its query) within the response's
/// partition, so a re-sent turn that asks for the same consent again carries the same id (W22):
/// clients and later turns can tell "already asked" from a new request.
fn emit_consents(writer: &mut ResponseWriter, sink: &mut dyn EventSink, user: &UserKey, consents: Vec<ConsentRequest>) {
    let mut seen = HashSet::new();
    for c in consents {
        let endpoint = c.consent_link.split(['?', '#']).next().unwrap_or_default().to_string();
        if !seen.insert((c.server_label.clone(), endpoint.clone())) {
            continue;
        }
        let response_id = writer.response().id.clone();
        let item = Item::OAuthConsentRequest(OAuthConsentRequestItem {
            id: id::stable_id(id::OAUTH_CONSENT_REQUEST, &response_id, &[user.partition(), &c.server_label, &endpoint]),
            consent_link: c.consent_link,
            server_label: c.server_label,
            response_id: None,
            agent_reference: None,
        });
        writer.add_item(sink, item);
    }
}
