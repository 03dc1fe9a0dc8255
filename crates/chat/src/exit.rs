//! Exit codes of `agenthost chat` and the errors that lead to them.
//!
//! Every failure is reported as one line on stderr and mapped to one of the codes below; the
//! same table is printed by `--help` ([`EXIT_CODES_HELP`]).

use std::fmt;

/// Success; in the REPL also `/quit` or end of input.
pub const OK: i32 = 0;
/// Bad flags or flag values.
pub const USAGE: i32 = 2;
/// The server could not be reached (connection refused, DNS failure, connect timeout).
pub const UNREACHABLE: i32 = 3;
/// The server answered with HTTP 4xx.
pub const HTTP_CLIENT_ERROR: i32 = 4;
/// The server answered with HTTP 5xx.
pub const HTTP_SERVER_ERROR: i32 = 5;
/// The event stream ended without a terminal event (the server died mid-stream).
pub const STREAM_ENDED: i32 = 6;
/// The response ended `failed` (or `cancelled`), or the stream carried an `error` event.
pub const RESPONSE_FAILED: i32 = 7;
/// Consent is required and the client is not interactive (`--prompt`).
pub const CONSENT_REQUIRED: i32 = 10;
/// A source kept asking for consent after `--max-consent-retries` re-sends.
pub const CONSENT_LOOP: i32 = 11;
/// A tool call needs approval and the client is not interactive (`--prompt`).
pub const APPROVAL_REQUIRED: i32 = 12;

/// The exit-code table shown by `agenthost chat --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   ok (REPL: /quit or end of input)
  2   usage error
  3   server unreachable (connection refused, DNS, connect timeout)
  4   HTTP 4xx (prints the envelope's error.code: error.message)
  5   HTTP 5xx
  6   stream ended without a terminal event (server died mid-stream)
  7   response ended failed or cancelled (prints error.code: error.message)
  10  consent required (--prompt: the sign-in links are printed)
  11  consent loop stopped: a source kept asking for consent after
      --max-consent-retries re-sends
  12  approval required (--prompt: the approval requests are printed)
In the REPL, errors 3-7 are reported and the prompt comes back; 11 ends the session.";

/// Why one request to the server did not produce a terminal response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChatError {
    /// Connecting or sending failed before any response arrived.
    Unreachable { url: String, reason: String },
    /// A non-success HTTP status; `detail` is `code: message` from the envelope when present.
    Http { status: u16, detail: String },
    /// The body ended (or broke) before a terminal event.
    StreamEnded { reason: Option<String> },
    /// The stream carried an `error` event instead of a response.
    StreamError { detail: String },
}

impl ChatError {
    /// The exit code this error maps to.
    pub(crate) fn code(&self) -> i32 {
        match self {
            Self::Unreachable { .. } => UNREACHABLE,
            Self::Http { status, .. } if *status >= 500 => HTTP_SERVER_ERROR,
            Self::Http { .. } => HTTP_CLIENT_ERROR,
            Self::StreamEnded { .. } => STREAM_ENDED,
            Self::StreamError { .. } => RESPONSE_FAILED,
        }
    }
}

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable { url, reason } => write!(f, "cannot reach {url}: {reason}"),
            Self::Http { status, detail } => write!(f, "HTTP {status}: {detail}"),
            Self::StreamEnded { reason: None } => {
                write!(f, "the stream ended without a terminal event")
            }
            Self::StreamEnded { reason: Some(r) } => {
                write!(f, "the stream ended without a terminal event: {r}")
            }
            Self::StreamError { detail } => write!(f, "the server sent an error event: {detail}"),
        }
    }
}
