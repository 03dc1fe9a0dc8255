//! [`run_turn`]: one response's model <-> tools loop.

use std::collections::HashSet;
use std::sync::Arc;

use agenthost_responses::item::{
    FunctionCallOutputItem, ItemStatus, McpApprovalRequestItem, McpCallItem, McpListToolsItem, OAuthConsentRequestItem,
};
use agenthost_responses::{EventSink, Item, ItemHandle, ResponseError, ResponseWriter, Usage, id, unix_now};
use futures::StreamExt;
use futures::future::join_all;
use serde_json::Value;
use tracing::Instrument;

use crate::context::{RequestContext, UserKey};
use crate::model::{Model, ModelEvent, ModelRequest};
use crate::spans;
use crate::tools::{ConsentRequest, McpTarget, ToolCall, ToolOutcome, ToolSet};

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
    /// The call that waited for approval. For a request `mcp` server's call, `call_id` is the
    /// approval request's id and `name` the tool's name on the server.
    pub call: ToolCall,
    /// The request `mcp` server the call belongs to; `None` for a toolbox call.
    pub mcp_server: Option<String>,
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
        let batch: Vec<Planned> = approvals.into_iter().map(|a| Planned::from_approval(tools.as_ref(), a)).collect();
        match run_batch(&ctx, &tools, writer, sink, &mut request, batch).await {
            None => return TurnEnd::Interrupted,
            Some(consents) if !consents.is_empty() => {
                emit_consents(writer, sink, &ctx.user, consents);
                writer.incomplete(sink, None, usage);
                return TurnEnd::Finished;
            }
            Some(_) => {}
        }
    }
    for _ in 0..max_iterations.max(1) {
        let step_start = writer.response().output.len();
        let step = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return TurnEnd::Interrupted,
            step = model_step(&ctx, model.as_ref(), tools.as_ref(), request.clone(), writer, sink, &mut usage) => step,
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
        let batch: Vec<Planned> = free.into_iter().map(|call| Planned::from_model(tools.as_ref(), call)).collect();
        // Every call settles before the turn moves on, so a consent stop never abandons a sibling
        // call halfway through a side effect.
        match run_batch(&ctx, &tools, writer, sink, &mut request, batch).await {
            None => return TurnEnd::Interrupted,
            Some(consents) if !consents.is_empty() => {
                emit_consents(writer, sink, &ctx.user, consents);
                writer.incomplete(sink, None, usage);
                return TurnEnd::Finished;
            }
            Some(_) => {}
        }
        if !gated.is_empty() {
            for call in &gated {
                // A request `mcp` server's approval names the tool as the server knows it.
                let name = tools.mcp_target(&call.name).map_or_else(|| call.name.clone(), |t| t.tool);
                let item = Item::McpApprovalRequest(McpApprovalRequestItem {
                    id: writer.new_item_id(id::MCP_APPROVAL_REQUEST),
                    server_label: tools.approval_label(call).unwrap_or_default(),
                    name,
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
    tools: &dyn ToolSet,
    request: ModelRequest,
    writer: &mut ResponseWriter,
    sink: &mut dyn EventSink,
    usage: &mut Option<Usage>,
) -> Result<Option<Vec<ToolCall>>, ResponseError> {
    let call = spans::ChatCall::start(ctx, model, &request);
    let mut record = spans::CallRecord::default();
    let span = call.span().clone();
    let result = stream_step(ctx, model, tools, request, writer, sink, &mut record).instrument(span).await;
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
    tools: &dyn ToolSet,
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
    let mut calls: Vec<Pending> = Vec::new();

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
                // A request `mcp` server's call becomes an `mcp_call` item when it runs (or an
                // approval request); until then its arguments are only collected.
                if tools.mcp_target(&name).is_some() {
                    calls.push(Pending::Mcp(ToolCall { call_id, name, arguments: String::new() }));
                } else {
                    calls.push(Pending::Function(writer.start_function_call(sink, &call_id, &name)));
                }
            }
            ModelEvent::FunctionCallArgumentsDelta { call_id, delta } => {
                match find_call(writer, &mut calls, &call_id) {
                    Some(Found::Function(h)) => writer.function_arguments_delta(sink, h, &delta),
                    Some(Found::Mcp(call)) => call.arguments.push_str(&delta),
                    None => {}
                }
            }
            ModelEvent::FunctionCallDone { call_id, arguments } => match find_call(writer, &mut calls, &call_id) {
                Some(Found::Function(h)) => {
                    let streamed = writer.function_call(h).map(|f| f.arguments.len()).unwrap_or(0);
                    if streamed == 0 && !arguments.is_empty() {
                        writer.function_arguments_delta(sink, h, &arguments);
                    }
                    writer.finish(sink, h, ItemStatus::Completed);
                }
                Some(Found::Mcp(call)) if call.arguments.is_empty() => call.arguments = arguments,
                Some(Found::Mcp(_)) | None => {}
            },
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
    for pending in calls {
        match pending {
            Pending::Function(h) => {
                writer.finish(sink, h, ItemStatus::Completed);
                if let Some(f) = writer.function_call(h) {
                    out.push(ToolCall {
                        call_id: f.call_id.clone(),
                        name: f.name.clone(),
                        arguments: f.arguments.clone(),
                    });
                }
            }
            Pending::Mcp(call) => out.push(call),
        }
    }
    Ok(Some(out))
}

/// One call of a batch, as the turn will run it.
enum Planned {
    /// A `function_call` already in the output; its result is a `function_call_output`.
    /// `denied` holds the user's refusal of an approval-gated call.
    Function { call: ToolCall, denied: Option<String> },
    /// A request `mcp` server's call, opened as an `mcp_call` item when the batch starts.
    Mcp { call: ToolCall, target: McpTarget, approval_request_id: Option<String> },
    /// A request `mcp` server's call the user denied: no item, the model is told.
    McpDenied { call: ToolCall, message: String },
}

impl Planned {
    fn from_model(tools: &dyn ToolSet, call: ToolCall) -> Self {
        match tools.mcp_target(&call.name) {
            Some(target) => Planned::Mcp { call, target, approval_request_id: None },
            None => Planned::Function { call, denied: None },
        }
    }

    fn from_approval(tools: &dyn ToolSet, approval: Approval) -> Self {
        let denied = (!approval.approve).then(|| {
            let why = approval.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            format!("the user denied this tool call{why}")
        });
        let Some(server_label) = approval.mcp_server else {
            return Planned::Function { call: approval.call, denied };
        };
        let approval_request_id = approval.call.call_id.clone();
        // The model knows the tool by its model-facing name; without one the server's tool is
        // gone from this request, and the call fails as a call of an unknown tool.
        let model_name = tools.mcp_name(&server_label, &approval.call.name);
        let target = McpTarget { server_label, tool: approval.call.name.clone() };
        let call = ToolCall { name: model_name.unwrap_or_else(|| approval.call.name.clone()), ..approval.call };
        match denied {
            Some(message) => Planned::McpDenied { call, message },
            None => Planned::Mcp { call, target, approval_request_id: Some(approval_request_id) },
        }
    }
}

/// Runs a batch of calls concurrently and writes their results in order: `function_call_output`
/// items, `mcp_call` items (opened before any call starts, closed with their result), and for
/// the model the call/output pairs of `mcp` calls. Returns the consents the calls asked for, or
/// `None` when the turn was cancelled while they ran.
async fn run_batch(
    ctx: &RequestContext,
    tools: &Arc<dyn ToolSet>,
    writer: &mut ResponseWriter,
    sink: &mut dyn EventSink,
    request: &mut ModelRequest,
    batch: Vec<Planned>,
) -> Option<Vec<ConsentRequest>> {
    if batch.is_empty() {
        return Some(Vec::new());
    }
    let handles: Vec<Option<ItemHandle>> = batch
        .iter()
        .map(|planned| match planned {
            Planned::Mcp { call, target, approval_request_id } => Some(writer.start_mcp_call(
                sink,
                &target.server_label,
                &target.tool,
                &call.arguments,
                approval_request_id.clone(),
            )),
            _ => None,
        })
        .collect();
    let specs = &request.tools;
    let invocations = batch.iter().map(|planned| {
        let tools = tools.clone();
        async move {
            let (call, denied) = match planned {
                Planned::Function { call, denied } => (call, denied.as_ref()),
                Planned::Mcp { call, .. } => (call, None),
                Planned::McpDenied { message, .. } => return ToolOutcome::Error(message.clone()),
            };
            if let Some(message) = denied {
                return ToolOutcome::Error(message.clone());
            }
            if specs.iter().any(|s| s.name == call.name) {
                spans::invoke(tools.as_ref(), ctx, call).await
            } else {
                spans::not_found(call);
                ToolOutcome::Error(format!("tool '{}' is not available to this agent", call.name))
            }
        }
    });
    let outcomes = tokio::select! {
        biased;
        _ = ctx.cancel.cancelled() => return None,
        outcomes = join_all(invocations) => outcomes,
    };
    let mut consents = Vec::new();
    for ((planned, outcome), handle) in batch.iter().zip(outcomes).zip(handles) {
        match planned {
            Planned::Function { call, .. } => {
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
            Planned::Mcp { call, .. } => {
                let result = match outcome {
                    ToolOutcome::Output(text) => Ok(text),
                    ToolOutcome::Error(message) => Err(message),
                    ToolOutcome::ConsentRequired(requests) => {
                        consents.extend(requests);
                        Err(CONSENT_PENDING_OUTPUT.to_string())
                    }
                };
                let Some(h) = handle else { continue };
                writer.finish_mcp_call(sink, h, result);
                if let Some(item) = writer.mcp_call(h) {
                    let (c, o) = crate::mcp_view::pair(item, &call.name);
                    request.input.push(c);
                    request.input.push(o);
                }
            }
            Planned::McpDenied { call, message } => {
                let (c, o) = denied_pair(call, message);
                request.input.push(c);
                request.input.push(o);
            }
        }
    }
    Some(consents)
}

/// What the model sees for a request `mcp` server's call the user denied.
fn denied_pair(call: &ToolCall, message: &str) -> (Item, Item) {
    let item = McpCallItem {
        id: call.call_id.clone(),
        server_label: String::new(),
        name: call.name.clone(),
        arguments: call.arguments.clone(),
        output: None,
        error: Some(message.to_string()),
        status: Some(ItemStatus::Failed),
        approval_request_id: None,
        response_id: None,
        agent_reference: None,
    };
    crate::mcp_view::pair(&item, &call.name)
}

/// A tool call the model is streaming.
enum Pending {
    /// A `function_call` item, open in the output.
    Function(ItemHandle),
    /// A request `mcp` server's call, not in the output yet.
    Mcp(ToolCall),
}

enum Found<'a> {
    Function(ItemHandle),
    Mcp(&'a mut ToolCall),
}

fn find_call<'a>(writer: &ResponseWriter, calls: &'a mut [Pending], call_id: &str) -> Option<Found<'a>> {
    calls.iter_mut().find_map(|pending| match pending {
        Pending::Function(h) if writer.function_call(*h).is_some_and(|f| f.call_id == call_id) => {
            Some(Found::Function(*h))
        }
        Pending::Mcp(call) if call.call_id == call_id => Some(Found::Mcp(call)),
        _ => None,
    })
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
