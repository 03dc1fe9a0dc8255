//! HTTP and SSE: one `POST /responses` per call, read back as a sequence of JSON events.
//!
//! Parsing is deliberately tolerant (`serde_json::Value`), so the client also works against
//! servers that add or omit fields. A server that ignores `stream: true` and answers with a JSON
//! Response is accepted too: the body becomes one synthetic terminal event.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use url::Url;

use crate::args::ChatArgs;
use crate::exit::ChatError;

const USER_HEADER: &str = "x-agent-user-id";
const CALL_ID_HEADER: &str = "x-agent-foundry-call-id";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most characters of an unparseable error body quoted in an error line.
const BODY_EXCERPT: usize = 200;

type SseStream = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// The Responses endpoint plus the per-request headers the flags ask for.
pub(crate) struct Client {
    http: reqwest::Client,
    endpoint: Url,
    user: Option<HeaderValue>,
    call_id_prefix: Option<String>,
    calls: AtomicU64,
}

impl Client {
    /// Builds the client; an error is a usage error (bad URL or header value).
    pub(crate) fn new(args: &ChatArgs) -> Result<Self, String> {
        let endpoint = endpoint(&args.url)?;
        let user = match &args.user {
            Some(u) => Some(
                header_value(u).ok_or_else(|| "--user must be printable ASCII (it is sent as a header)".to_owned())?,
            ),
            None => None,
        };
        if let Some(p) = &args.call_id_prefix
            && header_value(p).is_none()
        {
            return Err("--call-id-prefix must be printable ASCII (it is sent as a header)".to_owned());
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        if is_loopback(&endpoint) {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { http, endpoint, user, call_id_prefix: args.call_id_prefix.clone(), calls: AtomicU64::new(0) })
    }

    /// The URL every request goes to.
    pub(crate) fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// Creates a conversation when the server offers the Conversations API; `None` when it does
    /// not (404, hosted mode) or the request fails, so the session chains responses instead.
    pub(crate) async fn create_conversation(&self) -> Option<String> {
        let mut url = self.endpoint.clone();
        let path = url.path().trim_end_matches('/').trim_end_matches("/responses").to_owned();
        url.set_path(&format!("{path}/conversations"));
        // The user partitions the conversation; no call id is spent (nothing upstream is called).
        let mut headers = HeaderMap::new();
        if let Some(u) = &self.user {
            headers.insert(HeaderName::from_static(USER_HEADER), u.clone());
        }
        let resp = self.http.post(url).headers(headers).json(&serde_json::json!({})).send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let body: Value = resp.json().await.ok()?;
        body.get("id").and_then(Value::as_str).filter(|id| id.starts_with("conv_")).map(str::to_owned)
    }

    /// The user and call-id headers of one request.
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(u) = &self.user {
            headers.insert(HeaderName::from_static(USER_HEADER), u.clone());
        }
        if let Some(p) = &self.call_id_prefix {
            let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
            if let Ok(v) = HeaderValue::from_str(&format!("{p}:{n}")) {
                headers.insert(HeaderName::from_static(CALL_ID_HEADER), v);
            }
        }
        headers
    }

    /// Sends one create request and returns its events once the server answered 2xx.
    pub(crate) async fn send(&self, body: &Value) -> Result<Events, ChatError> {
        let mut headers = self.headers();
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let resp = self.http.post(self.endpoint.clone()).headers(headers).json(body).send().await.map_err(|e| {
            if e.is_request() && !e.is_connect() && !e.is_timeout() {
                // Connected and sent, but the server went away before answering.
                ChatError::StreamEnded {
                    reason: Some(format!("the server closed the connection before answering ({})", root_cause(&e))),
                }
            } else {
                ChatError::Unreachable { url: self.endpoint.to_string(), reason: root_cause(&e) }
            }
        })?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(ChatError::Http {
                status: status.as_u16(),
                detail: envelope_detail(&text, status.canonical_reason()),
            });
        }
        let is_json = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
        if is_json {
            let text = resp.text().await.map_err(|e| ChatError::StreamEnded { reason: Some(root_cause(&e)) })?;
            let response: Value = serde_json::from_str(&text).map_err(|_| ChatError::StreamEnded {
                reason: Some("the JSON response body is not valid JSON".to_owned()),
            })?;
            return Ok(Events::Json(Some(response)));
        }
        Ok(Events::Sse(Box::pin(resp.bytes_stream().eventsource())))
    }
}

/// The events of one response, from an SSE body or a single JSON Response.
pub(crate) enum Events {
    Sse(SseStream),
    Json(Option<Value>),
}

impl Events {
    /// The next event as JSON with a `type`; `Ok(None)` at the end of the body. Frames whose
    /// data is not a JSON object are skipped.
    pub(crate) async fn next(&mut self) -> Result<Option<Value>, ChatError> {
        match self {
            Self::Json(slot) => Ok(slot.take().map(|response| {
                let status = response.get("status").and_then(Value::as_str).unwrap_or("completed").to_owned();
                json!({"type": format!("response.{status}"), "response": response})
            })),
            Self::Sse(stream) => loop {
                let Some(frame) = stream.next().await else {
                    return Ok(None);
                };
                let frame = frame.map_err(|e| ChatError::StreamEnded {
                    reason: Some(match e {
                        EventStreamError::Transport(t) => root_cause(&t),
                        other => other.to_string(),
                    }),
                })?;
                if let Some(event) = parse_frame(&frame) {
                    return Ok(Some(event));
                }
            },
        }
    }
}

/// One SSE frame as a JSON object whose `type` falls back to the SSE event name.
fn parse_frame(frame: &Event) -> Option<Value> {
    let mut value: Value = serde_json::from_str(frame.data.trim()).ok()?;
    let obj = value.as_object_mut()?;
    let has_type = obj.get("type").and_then(Value::as_str).is_some();
    if !has_type {
        if frame.event.is_empty() || frame.event == "message" {
            return None;
        }
        obj.insert("type".to_owned(), Value::String(frame.event.clone()));
    }
    Some(value)
}

/// `<base>/responses`, unless the base already ends in `/responses`.
fn endpoint(base: &str) -> Result<Url, String> {
    let base = base.trim();
    let mut url = Url::parse(base).map_err(|e| format!("--url {base:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("--url {base:?} must be an http:// or https:// URL"));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_owned();
    if !path.ends_with("/responses") {
        url.set_path(&format!("{path}/responses"));
    }
    Ok(url)
}

/// A header value from printable ASCII only (no obs-text, no controls).
fn header_value(s: &str) -> Option<HeaderValue> {
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    HeaderValue::from_str(s).ok()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// `code: message` from an error envelope (`{"error":{...}}` or a bare `{code, message}`), else
/// a short excerpt of the body, else the status text.
pub(crate) fn envelope_detail(body: &str, reason: Option<&str>) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body)
        && let Some(detail) = error_detail(v.get("error").unwrap_or(&v))
    {
        return detail;
    }
    let excerpt = crate::text::one_line(body.trim(), BODY_EXCERPT);
    match (excerpt.is_empty(), reason) {
        (false, _) => excerpt,
        (true, Some(r)) => r.to_owned(),
        (true, None) => "no details".to_owned(),
    }
}

/// `code: message` of an error object; the code falls back to `type`.
pub(crate) fn error_detail(err: &Value) -> Option<String> {
    let text = |k: &str| {
        err.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(|s| crate::text::one_line(s, BODY_EXCERPT))
    };
    let message = text("message");
    let code = text("code").or_else(|| text("type"));
    match (code, message) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (Some(c), None) => Some(c),
        (None, Some(m)) => Some(m),
        (None, None) => None,
    }
}

/// The innermost cause of a reqwest error, e.g. "Connection refused (os error 111)".
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if e.is_timeout() && !text.contains("timed out") { format!("timed out ({text})") } else { text }
}
