//! One storage call: URL, headers, the bounded retry, and the status -> outcome mapping.
//!
//! Headers on every call: exactly one `Authorization: Bearer <token>` (fetched from the provider
//! for each attempt; the provider caches), `x-agent-foundry-call-id` verbatim when the caller has
//! one, nothing else about the user (never `x-agent-user-id`).
//!
//! Retries: a connection that was never made and HTTP 429 (the service did not process the
//! request) are retried for every call; broken connections, timeouts and 500/502/503/504 only for
//! reads. Delays grow exponentially with "equal jitter", honour `Retry-After` (seconds or a
//! date) up to [`RetryPolicy::max_retry_after`], and attempts are bounded, so a storm ends as
//! [`StoreError::Unavailable`] quickly.

use std::time::Duration;

use agenthost_identity::TokenProvider;
use agenthost_platform::Caller;
use agenthost_store::StoreError;
use reqwest::{Method, StatusCode, header};
use serde_json::Value;

/// Scope of the Foundry storage API's bearer token (the toolbox proxy's scope).
pub const STORAGE_SCOPE: &str = agenthost_identity::TOOLBOX_SCOPE;
/// The platform's per-request call id header.
pub const CALL_ID_HEADER: &str = "x-agent-foundry-call-id";
/// The `api-version` every storage route takes.
pub const API_VERSION: &str = "v1";

/// How hard a call is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub attempts: u32,
    /// First backoff (doubled per attempt, with jitter).
    pub base_delay: Duration,
    /// Longest backoff.
    pub max_delay: Duration,
    /// A `Retry-After` asking for more than this ends the retries.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(5),
        }
    }
}

/// Whether repeating a call can cause a second effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads: repeated on any transient failure.
    Read,
    /// Writes: repeated only when the service provably did not process them.
    Write,
}

/// A storage answer the caller interprets: 2xx bodies, and the statuses that mean something for
/// a lookup (404, 409, 410).
#[derive(Debug)]
pub(crate) enum Reply {
    /// 2xx with its body (possibly empty).
    Ok(Vec<u8>),
    /// 404, with the error code of the body if it has one.
    NotFound(Option<String>),
    /// 409: the id is taken.
    Conflict,
    /// 410: deleted by its owner.
    Gone,
}

/// The shared HTTP side of a store.
pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: url::Url,
    pub(crate) token: std::sync::Arc<dyn TokenProvider>,
    pub(crate) retry: RetryPolicy,
}

impl Client {
    /// `{base}/storage/{segments…}?api-version=v1&{query…}`; segments are escaped.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, String)]) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("storage").extend(segments);
        }
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("api-version", API_VERSION);
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    /// Sends one call for `caller`, retrying as [`Repeat`] allows.
    pub(crate) async fn send(
        &self,
        caller: &Caller,
        method: Method,
        url: url::Url,
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Reply, StoreError> {
        let what = format!("{method} {}", url.path());
        let body = body.map(serde_json::to_vec).transpose().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut attempt = 1;
        loop {
            let failure = match self.attempt(caller, &method, &url, body.as_deref()).await {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            let retryable = failure.unprocessed || (repeat == Repeat::Read && failure.transient);
            let delay = match failure.retry_after {
                Some(after) if after > self.retry.max_retry_after => None,
                Some(after) => Some(after),
                None => Some(backoff(&self.retry, attempt)),
            };
            match delay {
                Some(delay) if retryable && attempt < self.retry.attempts => {
                    tracing::debug!(call = %what, attempt, ?delay, "storage call failed; retrying: {}", failure.message);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                _ => {
                    return Err(StoreError::Unavailable(format!(
                        "Foundry storage {what}: {} (after {attempt} attempt{})",
                        failure.message,
                        if attempt == 1 { "" } else { "s" }
                    )));
                }
            }
        }
    }

    /// One unauthenticated-user GET of `url` with our token: the status, or why there is none.
    pub(crate) async fn probe(&self, url: url::Url) -> Result<StatusCode, StoreError> {
        let what = format!("GET {}", url.path());
        let token = self.token.token(STORAGE_SCOPE).await.map_err(|e| {
            StoreError::Unavailable(format!("Foundry storage {what}: no token for {STORAGE_SCOPE}: {e}"))
        })?;
        let response = self
            .http
            .get(url)
            .header(header::AUTHORIZATION, format!("Bearer {}", token.secret().expose()))
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(format!("Foundry storage {what}: {}", transport_message(&e))))?;
        Ok(response.status())
    }

    async fn attempt(
        &self,
        caller: &Caller,
        method: &Method,
        url: &url::Url,
        body: Option<&[u8]>,
    ) -> Result<Reply, Failure> {
        // The token error names the provider and scope, never a secret.
        let token = self.token.token(STORAGE_SCOPE).await.map_err(|e| Failure {
            message: format!("no token for {STORAGE_SCOPE}: {e}"),
            unprocessed: false,
            transient: false,
            retry_after: None,
        })?;
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header(header::AUTHORIZATION, format!("Bearer {}", token.secret().expose()))
            .header(header::ACCEPT, "application/json");
        if let Some(call_id) = caller.call_id() {
            request = request.header(CALL_ID_HEADER, call_id);
        }
        if let Some(body) = body {
            request = request.header(header::CONTENT_TYPE, "application/json").body(body.to_vec());
        }
        let response = request.send().await.map_err(|e| Failure {
            // reqwest errors name the URL, which holds no secret (the token is a header).
            message: transport_message(&e),
            unprocessed: e.is_connect(),
            transient: true,
            retry_after: None,
        })?;
        let status = response.status();
        let retry_after = agenthost_backoff::retry_after(response.headers(), std::time::SystemTime::now());
        let bytes = response.bytes().await.map_err(|e| Failure {
            message: transport_message(&e),
            unprocessed: false,
            transient: true,
            retry_after: None,
        })?;
        match status {
            s if s.is_success() => Ok(Reply::Ok(bytes.to_vec())),
            StatusCode::NOT_FOUND => Ok(Reply::NotFound(error_code(&bytes))),
            StatusCode::CONFLICT => Ok(Reply::Conflict),
            StatusCode::GONE => Ok(Reply::Gone),
            s => Err(Failure {
                message: format!(
                    "HTTP {}{}",
                    s.as_u16(),
                    error_code(&bytes).map(|c| format!(" ({c})")).unwrap_or_default()
                ),
                unprocessed: s == StatusCode::TOO_MANY_REQUESTS,
                transient: matches!(s.as_u16(), 500 | 502 | 503 | 504),
                retry_after,
            }),
        }
    }
}

/// Why an attempt failed, and what that says about repeating it.
struct Failure {
    message: String,
    /// The service did not process it (no connection, 429).
    unprocessed: bool,
    /// It may have been processed, but repeating a read is harmless.
    transient: bool,
    retry_after: Option<Duration>,
}

fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "connection failed"
    };
    // The source chain says why (refused, reset, DNS); the URL is already in the call name.
    let mut why = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why = s.to_string();
        source = s.source();
    }
    if why.is_empty() { kind.to_string() } else { format!("{kind}: {why}") }
}

/// `error.code` of an OpenAI-style error body.
fn error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("error")?.get("code")?.as_str().map(str::to_string)
}

fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    agenthost_backoff::backoff(policy.base_delay, policy.max_delay, attempt)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let d9 = backoff(&p, 9);
            assert!(d9 >= Duration::from_millis(175) && d9 <= Duration::from_millis(350), "{d9:?}");
        }
        assert!(backoff(&p, u32::MAX) <= Duration::from_millis(350));
    }

    #[test]
    fn error_codes_come_from_openai_style_bodies() {
        assert_eq!(
            error_code(br#"{"error":{"code":"item_not_found","message":"x"}}"#).as_deref(),
            Some("item_not_found")
        );
        assert_eq!(error_code(b"not json"), None);
    }
}
