//! Fault injection on the HTTP layer: latency, hangs, injected statuses, dropped connections,
//! malformed answers and SSE streams cut off mid-event.
//!
//! [`plan`] decides (and consumes counters) under the state lock; [`execute`] then carries the
//! plan out without any lock held.

use std::{collections::VecDeque, time::Duration};

use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{scenario::FaultSpec, server::ConnHandle, users::user_from_label};

/// Remaining one-shot faults of one [`FaultSpec`].
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultCounters {
    statuses: VecDeque<u16>,
    drops: u32,
    malformed: u32,
    cuts: u32,
}

impl FaultCounters {
    pub(crate) fn new(spec: &FaultSpec) -> Self {
        Self {
            statuses: spec.http_statuses.iter().copied().collect(),
            drops: spec.drop_connection.unwrap_or(0),
            malformed: spec.malformed.unwrap_or(0),
            cuts: spec.cut_stream.unwrap_or(0),
        }
    }
}

/// What to do with one request before (or instead of) answering it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FaultPlan {
    /// Sleep this long first.
    pub(crate) latency: Duration,
    /// Then this.
    pub(crate) action: FaultAction,
}

/// The disruptive part of a [`FaultPlan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum FaultAction {
    /// Answer normally.
    #[default]
    None,
    /// Close the TCP connection without a response.
    Drop,
    /// Answer with this status (text body) and optional `Retry-After`.
    Status { status: u16, retry_after: Option<u64> },
    /// Never answer.
    Hang,
    /// HTTP 200 with a body that is not a JSON-RPC message.
    Malformed,
    /// HTTP 200 `text/event-stream` that breaks off inside its first event.
    CutStream,
}

/// Whether a fault is scoped to (or open to) this user.
pub(crate) fn applies_to_user(spec: &FaultSpec, user: &str) -> bool {
    spec.user.as_deref().is_none_or(|u| user_from_label(u) == user)
}

fn applies(spec: &FaultSpec, user: &str, method: Option<&str>) -> bool {
    applies_to_user(spec, user)
        && spec.methods.as_ref().is_none_or(|methods| method.is_some_and(|m| methods.iter().any(|x| x == m)))
}

/// Combines every matching fault for one POSTed message, consuming one-shot counters.
///
/// Latencies add up. The first available dropped connection wins, then a malformed answer, then
/// a cut stream, then the first injected status, then a hang (only for `tools/list` and
/// `tools/call`).
pub(crate) fn plan(
    specs: &[FaultSpec],
    counters: &mut Vec<FaultCounters>,
    user: &str,
    method: Option<&str>,
) -> FaultPlan {
    if counters.len() < specs.len() {
        counters.resize_with(specs.len(), FaultCounters::default);
    }
    let mut out = FaultPlan::default();
    let mut hang = false;
    for (spec, counter) in specs.iter().zip(counters.iter_mut()) {
        if !applies(spec, user, method) {
            continue;
        }
        out.latency += Duration::from_millis(spec.latency_ms.unwrap_or(0));
        if out.action == FaultAction::None {
            if counter.drops > 0 {
                counter.drops -= 1;
                out.action = FaultAction::Drop;
            } else if counter.malformed > 0 {
                counter.malformed -= 1;
                out.action = FaultAction::Malformed;
            } else if counter.cuts > 0 {
                counter.cuts -= 1;
                out.action = FaultAction::CutStream;
            } else if let Some(status) = counter.statuses.pop_front() {
                out.action = FaultAction::Status { status, retry_after: spec.retry_after };
            }
        }
        hang |= spec.hang && matches!(method, Some("tools/list" | "tools/call"));
    }
    if hang && out.action == FaultAction::None {
        out.action = FaultAction::Hang;
    }
    out
}

/// Carries out a plan. `Some(response)` replaces the normal answer; `None` means "go on".
/// Dropping and hanging never return.
pub(crate) async fn execute(plan: FaultPlan, conn: Option<&ConnHandle>) -> Option<Response> {
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    match plan.action {
        FaultAction::None => None,
        FaultAction::Status { status, retry_after } => Some(status_response(status, retry_after)),
        FaultAction::Drop => {
            match conn {
                Some(conn) => conn.drop_connection(),
                None => {
                    // Not served by our accept loop: the closest we can do is an error status.
                    return Some(status_response(502, None));
                }
            }
            std::future::pending::<Option<Response>>().await
        }
        FaultAction::Hang => std::future::pending::<Option<Response>>().await,
        FaultAction::Malformed => Some(
            ([(header::CONTENT_TYPE, "application/json")], r#"{"jsonrpc":"2.0","result":{"content":[{"type":"te"#)
                .into_response(),
        ),
        FaultAction::CutStream => Some(cut_stream()),
    }
}

/// An SSE answer whose body fails after half an event: hyper then closes the connection without
/// the chunked terminator, so the client sees the stream end mid-message.
fn cut_stream() -> Response {
    let half = Bytes::from_static(b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"cont");
    let chunks: [Result<Bytes, std::io::Error>; 2] =
        [Ok(half), Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "mock-proxy: stream cut"))];
    let body = Body::from_stream(futures::stream::iter(chunks));
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// An injected status with a text body (so clients see an HTTP status, not a JSON-RPC error).
fn status_response(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("mock-proxy injected HTTP {}", status.as_u16()),
    )
        .into_response();
    if let Some(secs) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// HTTP 401 for a user whose token expired: a JSON-RPC error body, no `WWW-Authenticate`.
pub(crate) fn expired_response(user: &str, id: Option<serde_json::Value>) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(serde_json::Value::Null),
        "error": {
            "code": -32001,
            "message": format!("Unauthorized: token expired for user {}", crate::users::user_label(user)),
        }
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
