//! The script of a [`MockOpenAi`](super::MockOpenAi): [`MockTurn`]s made of [`MockChunk`]s.

use std::time::Duration;

use serde_json::Value;

/// One piece of a scripted reply. The same script renders as Responses API events or as Chat
/// Completions chunks, depending on the endpoint called.
#[derive(Clone, Debug, PartialEq)]
pub enum MockChunk {
    /// Answer text.
    Text(String),
    /// Refusal text.
    Refusal(String),
    /// Reasoning summary text (Chat Completions: `reasoning_content`).
    Reasoning(String),
    /// `encrypted_content` of the current reasoning item (Responses API only).
    ReasoningEncrypted(String),
    /// A tool call starts (Chat Completions: the next `index`).
    ToolCall {
        /// The call id.
        call_id: String,
        /// The tool name.
        name: String,
    },
    /// A fragment of a started call's arguments.
    ToolArgs {
        /// The call id.
        call_id: String,
        /// Argument text.
        fragment: String,
    },
    /// A call is complete (Responses API: `output_item.done`; calls still open are completed
    /// at the end of the reply).
    ToolDone {
        /// The call id.
        call_id: String,
    },
    /// Token usage, reported with the final event.
    Usage {
        /// Input tokens.
        input: u64,
        /// Output tokens.
        output: u64,
        /// Cached input tokens.
        cached: u64,
        /// Reasoning tokens.
        reasoning: u64,
    },
    /// A JSON event sent verbatim (Responses API: with `event: <its type>`).
    Event(Value),
    /// Raw bytes written to the body as they are (comments, malformed lines, …).
    Raw(String),
}

impl MockChunk {
    /// Answer text.
    pub fn text(t: impl Into<String>) -> Self {
        MockChunk::Text(t.into())
    }

    /// Refusal text.
    pub fn refusal(t: impl Into<String>) -> Self {
        MockChunk::Refusal(t.into())
    }

    /// Reasoning summary text.
    pub fn reasoning(t: impl Into<String>) -> Self {
        MockChunk::Reasoning(t.into())
    }

    /// Encrypted reasoning state.
    pub fn reasoning_encrypted(t: impl Into<String>) -> Self {
        MockChunk::ReasoningEncrypted(t.into())
    }

    /// Start of a tool call.
    pub fn tool_call(call_id: impl Into<String>, name: impl Into<String>) -> Self {
        MockChunk::ToolCall { call_id: call_id.into(), name: name.into() }
    }

    /// An argument fragment of a tool call.
    pub fn tool_args(call_id: impl Into<String>, fragment: impl Into<String>) -> Self {
        MockChunk::ToolArgs { call_id: call_id.into(), fragment: fragment.into() }
    }

    /// End of a tool call.
    pub fn tool_done(call_id: impl Into<String>) -> Self {
        MockChunk::ToolDone { call_id: call_id.into() }
    }

    /// A whole tool call: start, one chunk per argument fragment, done.
    pub fn function_call(call_id: &str, name: &str, fragments: &[&str]) -> Vec<MockChunk> {
        let mut chunks = vec![MockChunk::tool_call(call_id, name)];
        chunks.extend(fragments.iter().map(|f| MockChunk::tool_args(call_id, *f)));
        chunks.push(MockChunk::tool_done(call_id));
        chunks
    }

    /// Usage without cached or reasoning tokens.
    pub fn usage(input: u64, output: u64) -> Self {
        MockChunk::Usage { input, output, cached: 0, reasoning: 0 }
    }

    /// A verbatim JSON event.
    pub fn event(value: Value) -> Self {
        MockChunk::Event(value)
    }

    /// Verbatim body bytes.
    pub fn raw(raw: impl Into<String>) -> Self {
        MockChunk::Raw(raw.into())
    }
}

/// How a scripted reply ends after its chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MockEnd {
    /// The API's normal completion (`response.completed`; `finish_reason`, usage, `[DONE]`).
    Complete,
    /// Nothing more is sent and the connection stays open.
    Hang,
    /// A 500-style error in the stream (`response.failed` with `server_error`; a Chat
    /// Completions `{"error":{"type":"server_error"}}` chunk) with this message.
    ServerError(String),
    /// The connection is aborted.
    Drop,
    /// The body ends cleanly, without the API's completion events.
    Truncate,
}

#[derive(Clone, Debug)]
pub(super) enum TurnKind {
    Reply {
        chunks: Vec<MockChunk>,
        delay: Duration,
        end: MockEnd,
        /// Answer with one JSON document even when a stream was asked for.
        whole: bool,
    },
    Error {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    Hang,
}

/// What the next request gets.
#[derive(Clone, Debug)]
pub struct MockTurn {
    pub(super) kind: TurnKind,
}

impl MockTurn {
    /// A reply made of `chunks`, ending normally.
    pub fn reply(chunks: Vec<MockChunk>) -> Self {
        MockTurn { kind: TurnKind::Reply { chunks, delay: Duration::ZERO, end: MockEnd::Complete, whole: false } }
    }

    /// A text reply, one delta per item.
    pub fn text(deltas: &[&str]) -> Self {
        MockTurn::reply(deltas.iter().map(|d| MockChunk::text(*d)).collect())
    }

    /// An HTTP error with a JSON body.
    pub fn error(status: u16, body: Value) -> Self {
        MockTurn { kind: TurnKind::Error { status, body: body.to_string(), headers: Vec::new() } }
    }

    /// An HTTP error with a raw body.
    pub fn error_text(status: u16, body: impl Into<String>) -> Self {
        MockTurn { kind: TurnKind::Error { status, body: body.into(), headers: Vec::new() } }
    }

    /// A request that is never answered (no status, no headers).
    pub fn hang() -> Self {
        MockTurn { kind: TurnKind::Hang }
    }

    /// Waits `delay` before each chunk of a reply.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        if let TurnKind::Reply { delay: d, .. } = &mut self.kind {
            *d = delay;
        }
        self
    }

    /// Answers a reply as one JSON document even when the request asked for a stream, like a
    /// server that ignores `stream: true`.
    pub fn as_json(mut self) -> Self {
        if let TurnKind::Reply { whole, .. } = &mut self.kind {
            *whole = true;
        }
        self
    }

    /// Ends a reply with `end` instead of completing it.
    pub fn ending(mut self, end: MockEnd) -> Self {
        if let TurnKind::Reply { end: e, .. } = &mut self.kind {
            *e = end;
        }
        self
    }

    /// Keeps the first `n` chunks of a reply, then ends with `end`.
    pub fn fail_after(mut self, n: usize, end: MockEnd) -> Self {
        if let TurnKind::Reply { chunks, end: e, .. } = &mut self.kind {
            chunks.truncate(n);
            *e = end;
        }
        self
    }

    /// Adds a response header to an error (e.g. `retry-after-ms`).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let TurnKind::Error { headers, .. } = &mut self.kind {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// Adds `Retry-After: <value>` to an error.
    pub fn retry_after(self, value: impl Into<String>) -> Self {
        self.with_header("retry-after", value)
    }
}
