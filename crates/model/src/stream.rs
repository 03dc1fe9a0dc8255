//! The call driver shared by both APIs: attempts with retries, the SSE body read under the
//! idle timeout, the request deadline and cancellation, and an API-specific [`Parser`] that
//! turns upstream events into [`ModelEvent`]s.
//!
//! Retries happen only while nothing has been yielded to the caller. When `ctx.cancel` fires the
//! stream ends at once and the HTTP response is dropped, which closes the connection.

use std::sync::Arc;
use std::time::Duration;

use agenthost_agent::{ModelError, ModelEvent, ModelStream, RequestContext};
use bytes::Bytes;
use eventsource_stream::{EventStream, EventStreamError};
use futures::StreamExt;
use serde_json::Value;

use crate::error::{Failure, Scrubber, codes};
use crate::http::{Endpoint, Opened, transport_failure};
use agenthost_backoff::backoff;

/// How long the rest of a completed stream is read in the background before the connection is
/// given up.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Largest non-streamed (`application/json`) success body accepted.
const MAX_JSON_BODY: usize = 16 * 1024 * 1024;

/// What a parser wants after an event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Keep reading.
    Continue,
    /// The answer is complete; stop reading (the connection is released).
    Done,
}

/// What the endpoint said about its answer, recorded on the call's span.
#[derive(Debug, Default)]
pub(crate) struct ResponseMeta {
    /// `gen_ai.response.id`.
    pub id: Option<String>,
    /// `gen_ai.response.model`.
    pub model: Option<String>,
    /// `gen_ai.response.finish_reasons`.
    pub finish_reasons: Vec<String>,
}

impl ResponseMeta {
    /// Takes `id` and `model` from a response document or chunk, when not known yet.
    pub fn note(&mut self, doc: &Value) {
        let field = |key: &str| doc.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned);
        if self.id.is_none() {
            self.id = field("id");
        }
        if self.model.is_none() {
            self.model = field("model");
        }
    }

    /// Adds a finish reason once.
    pub fn finish(&mut self, reason: &str) {
        if !reason.is_empty() && !self.finish_reasons.iter().any(|r| r == reason) {
            self.finish_reasons.push(reason.to_owned());
        }
    }

    /// Records what is known on the current span (the agent's `chat` span).
    fn record(&self, ctx: &RequestContext) {
        let span = tracing::Span::current();
        if let Some(id) = &self.id {
            span.record("gen_ai.response.id", id.as_str());
        }
        if let Some(model) = &self.model {
            span.record("gen_ai.response.model", model.as_str());
        }
        if !self.finish_reasons.is_empty() {
            let reasons: Vec<&str> = self.finish_reasons.iter().map(String::as_str).collect();
            ctx.telemetry.set_span_strings(&span, "gen_ai.response.finish_reasons", &reasons);
        }
    }
}

/// Turns one API's wire events into model events. One parser per attempt.
pub(crate) trait Parser: Send + 'static {
    /// What the answer said about itself so far.
    fn meta(&self) -> &ResponseMeta;

    /// One SSE event (`event:` name, possibly `message`, and its data).
    fn event(
        &mut self,
        name: &str,
        data: &str,
        scrubber: &Scrubber,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Step, Failure>;

    /// A whole non-streamed answer (a server that ignored `stream: true`).
    fn json_body(&mut self, body: Value, scrubber: &Scrubber, out: &mut Vec<ModelEvent>) -> Result<(), Failure>;

    /// The body ended without the parser returning [`Step::Done`].
    fn eof(&mut self, out: &mut Vec<ModelEvent>) -> Result<(), Failure>;
}

/// Why the body stream stopped delivering bytes.
#[derive(Debug)]
enum BodyError {
    Http(reqwest::Error),
    Idle,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Http(_) => f.write_str("transport error"),
            BodyError::Idle => f.write_str("idle timeout"),
        }
    }
}

/// Runs a model call: `body` is POSTed (again on retries) and each attempt's body is parsed by
/// a fresh parser from `make`.
/// Serializes `body` and starts the streaming call with a fresh `make()` parser per attempt.
pub(crate) fn start_stream<P, F>(
    endpoint: &Arc<Endpoint>,
    ctx: &RequestContext,
    body: &Value,
    make: F,
) -> Result<ModelStream, ModelError>
where
    P: Parser,
    F: Fn() -> P + Send + 'static,
{
    let bytes = serde_json::to_vec(body).map_err(|e| ModelError::new(codes::INVALID_MODEL_REQUEST, e.to_string()))?;
    Ok(run(endpoint.clone(), ctx, Bytes::from(bytes), make))
}

pub(crate) fn run<P, F>(endpoint: Arc<Endpoint>, ctx: &RequestContext, body: Bytes, make: F) -> ModelStream
where
    P: Parser,
    F: Fn() -> P + Send + 'static,
{
    let ctx = ctx.clone();
    Box::pin(async_stream::stream! {
        let cancel = ctx.cancel.clone();
        let deadline = ctx.deadline;
        let policy = endpoint.policy.clone();
        let mut retry: u32 = 0;
        let mut yielded = false;
        loop {
            let failure: Failure = 'attempt: {
                let opened = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    _ = until(deadline) => {
                        yield Err(deadline_error());
                        return;
                    }
                    opened = endpoint.open(&ctx, body.clone()) => opened,
                };
                let Opened { response, scrubber } = match opened {
                    Ok(opened) => opened,
                    Err(failure) => break 'attempt failure,
                };
                let mut parser = make();
                let mut out = Vec::new();

                if is_json(&response) {
                    let read = tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return,
                        _ = until(deadline) => {
                            yield Err(deadline_error());
                            return;
                        }
                        read = read_json(response, policy.idle_timeout, &scrubber) => read,
                    };
                    let result = read.and_then(|doc| parser.json_body(doc, &scrubber, &mut out));
                    for event in std::mem::take(&mut out) {
                        yielded = true;
                        yield Ok(event);
                    }
                    match result {
                        Ok(()) => {
                            parser.meta().record(&ctx);
                            return;
                        }
                        Err(failure) => break 'attempt failure,
                    }
                }

                let bytes = tokio_stream::StreamExt::timeout(response.bytes_stream(), policy.idle_timeout)
                    .map(|item| match item {
                        Ok(Ok(chunk)) => Ok(chunk),
                        Ok(Err(e)) => Err(BodyError::Http(e)),
                        Err(_) => Err(BodyError::Idle),
                    });
                let mut events = Box::pin(EventStream::new(bytes));
                loop {
                    let next = tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return,
                        _ = until(deadline) => {
                            yield Err(deadline_error());
                            return;
                        }
                        next = events.next() => next,
                    };
                    let step = match next {
                        Some(Ok(event)) => parser.event(&event.event, &event.data, &scrubber, &mut out),
                        Some(Err(EventStreamError::Transport(BodyError::Idle))) => Err(Failure::fatal(
                            codes::MODEL_TIMEOUT,
                            format!(
                                "the model sent nothing for {} ms",
                                policy.idle_timeout.as_millis()
                            ),
                        )),
                        Some(Err(EventStreamError::Transport(BodyError::Http(e)))) => {
                            Err(transport_failure(&e, &scrubber))
                        }
                        Some(Err(_)) => Err(Failure::fatal(
                            codes::MODEL_ERROR,
                            "the model stream is not valid server-sent events",
                        )),
                        None => parser.eof(&mut out).map(|()| Step::Done),
                    };
                    for event in std::mem::take(&mut out) {
                        yielded = true;
                        yield Ok(event);
                    }
                    match step {
                        Ok(Step::Continue) => {}
                        Ok(Step::Done) => {
                            parser.meta().record(&ctx);
                            // Read the (normally empty) rest of the body in the background so the
                            // connection can go back to the pool instead of being closed.
                            tokio::spawn(async move {
                                let drain = async { while events.next().await.is_some() {} };
                                let _ = tokio::time::timeout(DRAIN_LIMIT, drain).await;
                            });
                            return;
                        }
                        Err(failure) => break 'attempt failure,
                    }
                }
            };

            let delay = match failure.retry_after {
                Some(asked) if asked > policy.max_retry_after => None,
                Some(asked) => Some(asked),
                None => Some(backoff(policy.retry_base_delay, policy.max_retry_delay, retry + 1)),
            };
            let in_time = |d: Duration| {
                deadline.is_none_or(|at| tokio::time::Instant::now() + d < at)
            };
            match delay {
                Some(delay) if failure.retryable && !yielded && retry < policy.max_retries && in_time(delay) => {
                    tracing::warn!(
                        provider = endpoint.provider,
                        model = %endpoint.model,
                        code = %failure.error.code,
                        retry = retry + 1,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "model call failed; retrying"
                    );
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    retry += 1;
                }
                _ => {
                    tracing::warn!(
                        provider = endpoint.provider,
                        model = %endpoint.model,
                        code = %failure.error.code,
                        attempts = retry + 1,
                        "model call failed"
                    );
                    yield Err(failure.error);
                    return;
                }
            }
        }
    })
}

/// Resolves at `deadline`; never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn deadline_error() -> ModelError {
    ModelError::new(codes::MODEL_TIMEOUT, "the request deadline passed before the model finished")
}

/// Whether the success response is a plain JSON document rather than an event stream.
fn is_json(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("application/json"))
}

/// Reads and parses a non-streamed JSON answer.
async fn read_json(mut response: reqwest::Response, idle: Duration, scrubber: &Scrubber) -> Result<Value, Failure> {
    let mut buf = Vec::new();
    loop {
        match tokio::time::timeout(idle, response.chunk()).await {
            Err(_) => {
                return Err(Failure::fatal(
                    codes::MODEL_TIMEOUT,
                    format!("the model sent nothing for {} ms", idle.as_millis()),
                ));
            }
            Ok(Err(e)) => return Err(transport_failure(&e, scrubber)),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => {
                buf.extend_from_slice(&chunk);
                if buf.len() > MAX_JSON_BODY {
                    return Err(Failure::fatal(codes::MODEL_ERROR, "the model answer is too large"));
                }
            }
        }
    }
    serde_json::from_slice(&buf).map_err(|_| Failure::fatal(codes::MODEL_ERROR, "the model answer is not valid JSON"))
}

/// Parses an SSE event's `data` as JSON. Data that is not JSON is ignored for events whose
/// name says they are not part of the API (`event: ping`); for unnamed events and the API's
/// own event names it is a malformed stream (`model_error`), for `event: error` an error with
/// the data as its message.
pub(crate) fn parse_data(name: &str, data: &str, scrubber: &Scrubber) -> Result<Option<Value>, Failure> {
    if let Ok(value) = serde_json::from_str(data) {
        return Ok(Some(value));
    }
    match name {
        "error" => Err(Failure::fatal(codes::MODEL_ERROR, scrubber.scrub(data.trim()))),
        "message" => {
            Err(Failure::fatal(codes::MODEL_ERROR, "the model stream carried an event that is not valid JSON"))
        }
        _ if name.starts_with("response.") => {
            Err(Failure::fatal(codes::MODEL_ERROR, "the model stream carried an event that is not valid JSON"))
        }
        _ => Ok(None),
    }
}

/// A failure for a stream that ended before its terminal event.
pub(crate) fn truncated() -> Failure {
    Failure::transient(codes::MODEL_UNAVAILABLE, "the model stream ended before the answer was complete")
}

/// Reads a usage object with the given field names (`input_tokens` / `prompt_tokens`, …).
pub(crate) fn read_usage(
    usage: &Value,
    input: &str,
    output: &str,
    input_details: &str,
    output_details: &str,
) -> Option<agenthost_responses::Usage> {
    if !usage.is_object() {
        return None;
    }
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let mut u = agenthost_responses::Usage::new(n(usage.get(input)), n(usage.get(output)));
    if let Some(total) = usage.get("total_tokens").and_then(Value::as_u64) {
        u.total_tokens = total;
    }
    u.input_tokens_details.cached_tokens = n(usage.get(input_details).and_then(|d| d.get("cached_tokens")));
    u.output_tokens_details.reasoning_tokens = n(usage.get(output_details).and_then(|d| d.get("reasoning_tokens")));
    Some(u)
}
