//! Retry decisions: which failed MCP messages may be sent again, and how long to wait.
//!
//! A message is repeated only when repeating it cannot cause a second side effect:
//! * a connection that was never made (connect error) and HTTP 429 (the proxy did not process
//!   the request) — for every message, `tools/call` included;
//! * broken connections, timeouts and HTTP 500/502/503/504 — only for messages that do not
//!   change anything (`initialize`, `tools/list`, `ping`, `notifications/initialized`).
//!
//! Delays grow exponentially with jitter, honour `Retry-After`, and never run past the
//! operation's deadline; attempts are bounded.

use std::time::{Duration, SystemTime};

use rmcp::transport::streamable_http_client::StreamableHttpError;

use crate::settings::RetryPolicy;

/// How safe it is to send a message again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// Reads and handshakes: repeat on any transient failure.
    Idempotent,
    /// May have effects (`tools/call`, ...): repeat only when the server provably did not
    /// process it.
    Unsafe,
    /// Cancellations and replies: never repeated.
    Never,
}

/// The repeat class of a JSON-RPC method.
pub fn repeat_class(method: &str, is_notification: bool) -> Repeat {
    match method {
        "initialize" | "tools/list" | "ping" | "notifications/initialized" => Repeat::Idempotent,
        "notifications/cancelled" => Repeat::Never,
        _ if is_notification => Repeat::Never,
        _ => Repeat::Unsafe,
    }
}

/// What a failed attempt says about retrying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Do not retry.
    Stop,
    /// Retry after the policy's backoff.
    Backoff,
    /// Retry after this long (from `Retry-After`).
    After(Duration),
}

/// Classifies one failed attempt of a message of class `repeat`.
pub fn verdict<E>(error: &StreamableHttpError<E>, repeat: Repeat, is_connect: impl Fn(&E) -> bool) -> Verdict
where
    E: std::error::Error + Send + Sync + 'static,
{
    if repeat == Repeat::Never {
        return Verdict::Stop;
    }
    let idempotent = repeat == Repeat::Idempotent;
    match error {
        StreamableHttpError::Client(e) if is_connect(e) => Verdict::Backoff,
        StreamableHttpError::Client(_) | StreamableHttpError::Io(_) if idempotent => Verdict::Backoff,
        StreamableHttpError::HttpStatus(status) => {
            let retryable = status.status == 429 || (idempotent && matches!(status.status, 500 | 502 | 503 | 504));
            if !retryable {
                return Verdict::Stop;
            }
            match status.retry_after.as_deref().and_then(parse_retry_after) {
                Some(delay) => Verdict::After(delay),
                None => Verdict::Backoff,
            }
        }
        _ => Verdict::Stop,
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    agenthost_backoff::parse_retry_after(value, SystemTime::now())
}

/// The backoff before attempt `attempt + 1` (attempt counts from 1): base · 2^(attempt-1),
/// capped, with "equal jitter" (between half and all of it).
pub fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    agenthost_backoff::backoff(policy.base_delay, policy.max_delay, attempt)
}

/// The background retry delay after `failures` consecutive failures.
pub fn background_delay(policy: &RetryPolicy, failures: u32) -> Duration {
    agenthost_backoff::backoff(policy.background_initial, policy.background_max, failures)
}

/// The delay to wait before retrying, or `None` when the retry would run past `remaining` (or
/// `Retry-After` exceeds the policy's cap).
pub fn delay_for(policy: &RetryPolicy, verdict: &Verdict, attempt: u32, remaining: Duration) -> Option<Duration> {
    let delay = match verdict {
        Verdict::Stop => return None,
        Verdict::Backoff => backoff(policy, attempt),
        Verdict::After(after) if *after > policy.max_retry_after => return None,
        Verdict::After(after) => *after,
    };
    (delay < remaining).then_some(delay)
}

#[cfg(test)]
mod tests {
    use rmcp::transport::streamable_http_client::HttpStatusError;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("fake")]
    struct Fake {
        connect: bool,
    }

    fn status(code: u16, retry_after: Option<&str>) -> StreamableHttpError<Fake> {
        StreamableHttpError::HttpStatus(HttpStatusError::new(code, retry_after.map(str::to_owned)))
    }

    fn v(e: &StreamableHttpError<Fake>, r: Repeat) -> Verdict {
        verdict(e, r, |f: &Fake| f.connect)
    }

    #[test]
    fn methods_have_repeat_classes() {
        assert_eq!(repeat_class("initialize", false), Repeat::Idempotent);
        assert_eq!(repeat_class("tools/list", false), Repeat::Idempotent);
        assert_eq!(repeat_class("notifications/initialized", true), Repeat::Idempotent);
        assert_eq!(repeat_class("tools/call", false), Repeat::Unsafe);
        assert_eq!(repeat_class("notifications/cancelled", true), Repeat::Never);
        assert_eq!(repeat_class("notifications/progress", true), Repeat::Never);
    }

    #[test]
    fn tools_call_is_retried_only_when_unprocessed() {
        let connect = StreamableHttpError::Client(Fake { connect: true });
        let dropped = StreamableHttpError::Client(Fake { connect: false });
        assert_eq!(v(&connect, Repeat::Unsafe), Verdict::Backoff);
        assert_eq!(v(&dropped, Repeat::Unsafe), Verdict::Stop);
        assert_eq!(v(&status(500, None), Repeat::Unsafe), Verdict::Stop);
        assert_eq!(v(&status(503, Some("1")), Repeat::Unsafe), Verdict::Stop);
        assert_eq!(v(&status(429, Some("2")), Repeat::Unsafe), Verdict::After(Duration::from_secs(2)));
        assert_eq!(v(&status(429, None), Repeat::Unsafe), Verdict::Backoff);
    }

    #[test]
    fn reads_are_retried_on_transient_failures() {
        let dropped = StreamableHttpError::Client(Fake { connect: false });
        assert_eq!(v(&dropped, Repeat::Idempotent), Verdict::Backoff);
        for code in [500, 502, 503, 504] {
            assert_eq!(v(&status(code, None), Repeat::Idempotent), Verdict::Backoff);
        }
        assert_eq!(v(&status(503, Some("3")), Repeat::Idempotent), Verdict::After(Duration::from_secs(3)));
        assert_eq!(v(&status(501, None), Repeat::Idempotent), Verdict::Stop);
        assert_eq!(v(&StreamableHttpError::SessionExpired, Repeat::Idempotent), Verdict::Stop);
        let connect = StreamableHttpError::Client(Fake { connect: true });
        assert_eq!(v(&connect, Repeat::Never), Verdict::Stop);
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
        // A date in the past means "now".
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST"), None);
        assert_eq!(parse_retry_after("Sun, 36 Nov 1994 08:49:37 GMT"), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let d1 = backoff(&p, 1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d2 = backoff(&p, 2);
            assert!(d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200), "{d2:?}");
            let d9 = backoff(&p, 9);
            assert!(d9 >= Duration::from_millis(175) && d9 <= Duration::from_millis(350), "{d9:?}");
        }
        assert!(backoff(&p, u32::MAX) <= Duration::from_millis(350));
    }

    #[test]
    fn delays_respect_the_deadline_and_the_retry_after_cap() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
            max_retry_after: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let long = Duration::from_secs(60);
        assert_eq!(delay_for(&p, &Verdict::Stop, 1, long), None);
        assert_eq!(delay_for(&p, &Verdict::After(Duration::from_secs(2)), 1, long), Some(Duration::from_secs(2)));
        assert_eq!(delay_for(&p, &Verdict::After(Duration::from_secs(6)), 1, long), None);
        assert_eq!(delay_for(&p, &Verdict::After(Duration::from_secs(2)), 1, Duration::from_secs(1)), None);
        assert!(delay_for(&p, &Verdict::Backoff, 1, long).is_some());
        assert_eq!(delay_for(&p, &Verdict::Backoff, 1, Duration::from_millis(1)), None);
    }
}
