//! Limits that hold at the edge, before a request costs the server work: platform id header
//! lengths, the body read deadline, and the caps on concurrent runs and open streams.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;
use crate::error::ApiError;

/// Longest accepted `x-agent-user-id` / `x-agent-foundry-call-id`, in bytes. Ids the platform
/// sends are far shorter; a longer value is abuse and would bloat logs, keys and metrics.
pub const MAX_PLATFORM_ID_BYTES: usize = 256;

/// Seconds a refused client is told to wait (`Retry-After`): runs are short-lived, so a slot
/// usually frees within a second.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Platform id headers checked by [`check_platform_headers`].
static ID_HEADERS: [HeaderName; 2] =
    [HeaderName::from_static("x-agent-user-id"), HeaderName::from_static("x-agent-foundry-call-id")];

/// Refuses platform id headers that are too long, not UTF-8 text, or hold control characters.
/// Without this check an unreadable user id would silently fall back to the anonymous user and
/// a huge one would become a partition key.
pub fn check_platform_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    for header in &ID_HEADERS {
        let name = header.as_str();
        for value in headers.get_all(header) {
            let bytes = value.as_bytes();
            let reason = if bytes.len() > MAX_PLATFORM_ID_BYTES {
                Some(format!("is longer than {MAX_PLATFORM_ID_BYTES} bytes"))
            } else if std::str::from_utf8(bytes).map_or(true, |t| t.chars().any(char::is_control)) {
                Some("must be UTF-8 text without control characters".to_string())
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(ApiError::InvalidPlatformHeader { name, reason });
            }
        }
    }
    Ok(())
}

/// The caps on concurrent runs and open streams. A permit is held for as long as the run or
/// stream lives; none left means 429 rather than unbounded growth.
pub struct Admission {
    runs: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    /// How long a body may take to arrive.
    pub body_timeout: Duration,
}

/// A run slot, released when dropped (the run task owns it).
pub type RunPermit = OwnedSemaphorePermit;
/// A stream slot, released when the SSE body is dropped.
pub type StreamPermit = OwnedSemaphorePermit;

impl Admission {
    /// Caps from the configuration.
    pub fn new(limits: &Limits) -> Self {
        Admission {
            runs: Arc::new(Semaphore::new(limits.max_concurrent_runs)),
            streams: Arc::new(Semaphore::new(limits.max_open_streams)),
            body_timeout: limits.body_timeout,
        }
    }

    /// A run slot, or 429.
    pub fn run(&self) -> Result<RunPermit, ApiError> {
        self.runs
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyRequests { what: "concurrent responses", retry_after: RETRY_AFTER_SECS })
    }

    /// A stream slot, or 429.
    pub fn stream(&self) -> Result<StreamPermit, ApiError> {
        self.streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyRequests { what: "open streams", retry_after: RETRY_AFTER_SECS })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: &'static str, value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_bytes(value).unwrap());
        h
    }

    #[test]
    fn platform_ids_are_bounded_text() {
        for name in ID_HEADERS.iter().map(HeaderName::as_str) {
            assert!(check_platform_headers(&with(name, "u".repeat(256).as_bytes())).is_ok());
            assert!(check_platform_headers(&with(name, "ünïcode".as_bytes())).is_ok());
            for bad in ["u".repeat(257).into_bytes(), b"a\tb".to_vec(), vec![0xff, 0xfe]] {
                match check_platform_headers(&with(name, &bad)) {
                    Err(ApiError::InvalidPlatformHeader { name: n, .. }) => assert_eq!(n, name),
                    other => panic!("{name} {bad:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn caps_refuse_beyond_the_limit_and_free_on_drop() {
        let a = Admission::new(&Limits { max_concurrent_runs: 1, max_open_streams: 1, ..Limits::default() });
        let run = a.run().unwrap();
        assert!(matches!(a.run(), Err(ApiError::TooManyRequests { retry_after: 1, .. })));
        drop(run);
        assert!(a.run().is_ok());
        let s = a.stream().unwrap();
        assert!(a.stream().is_err());
        drop(s);
        assert!(a.stream().is_ok());
    }
}
