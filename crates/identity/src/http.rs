//! The HTTP plumbing shared by the managed- and workload-identity providers: one reqwest
//! client per provider (timeouts, no redirects), a bounded retry loop honouring
//! `Retry-After`, and parsing of token and error bodies that never copies secrets into
//! error messages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::TokenError;
use crate::token::AccessToken;

/// Largest token or error body read from an endpoint.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest error description kept from an error body.
const MAX_DESCRIPTION_CHARS: usize = 256;
/// Longest error code kept from an error body.
const MAX_CODE_CHARS: usize = 64;

/// Timeout and retry policy for calls to a token endpoint.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Limit for one attempt, connecting and reading the body included. Default 10 s.
    pub timeout: Duration,
    /// Retries after the first attempt on 408/429/5xx and connection failures. Default 3.
    pub max_retries: u32,
    /// Delay before the first retry; doubles per retry up to `max_backoff`, each with equal
    /// jitter (between half and all of it). Default 200 ms.
    pub initial_backoff: Duration,
    /// Longest delay between attempts. A `Retry-After` asking for more ends the retries
    /// and returns the error instead of retrying early. Default 5 s.
    pub max_backoff: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// A reqwest client plus the policy it is used with.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    opts: HttpOptions,
}

/// One failed attempt, with the server's `Retry-After` if it sent one.
struct Failure {
    error: TokenError,
    retry_after: Option<Duration>,
}

impl HttpClient {
    /// Builds the client. `use_env_proxy = false` bypasses `HTTP(S)_PROXY`, as required for
    /// link-local and loopback identity endpoints.
    pub(crate) fn new(opts: &HttpOptions, use_env_proxy: bool) -> Result<Self, TokenError> {
        // reqwest is built with `rustls-no-provider`; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout)
            // Never forward identity headers or assertions to another location.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("agenthost-identity/", env!("CARGO_PKG_VERSION")));
        if !use_env_proxy {
            builder = builder.no_proxy();
        }
        let client =
            builder.build().map_err(|e| TokenError::invalid_config(format!("cannot build HTTP client: {e}")))?;
        Ok(Self { client, opts: opts.clone() })
    }

    /// Sends the request built by `build` (rebuilt per attempt), retrying transient
    /// failures, and parses the token response. `extra_retry` lists further statuses worth
    /// retrying; `secrets` are scrubbed from any text copied into an error.
    pub(crate) async fn fetch_token<F>(
        &self,
        build: F,
        extra_retry: &[u16],
        secrets: &[&str],
    ) -> Result<AccessToken, TokenError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync,
    {
        let mut attempt: u32 = 0;
        loop {
            let failure = match self.attempt(&build, secrets).await {
                Ok(token) => return Ok(token),
                Err(failure) => failure,
            };
            let retryable = match &failure.error {
                TokenError::Transport { connect, .. } => *connect,
                TokenError::Http { status, .. } => is_retryable_status(*status) || extra_retry.contains(status),
                _ => false,
            };
            if !retryable || attempt >= self.opts.max_retries {
                return Err(failure.error);
            }
            let delay = failure.retry_after.unwrap_or_else(|| self.backoff(attempt));
            if delay > self.opts.max_backoff {
                return Err(failure.error);
            }
            tracing::debug!(
                attempt = attempt + 1,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %failure.error,
                "retrying token request"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// The jittered delay before retry `attempt + 1` (`attempt` counts the retries so far).
    fn backoff(&self, attempt: u32) -> Duration {
        agenthost_backoff::backoff(self.opts.initial_backoff, self.opts.max_backoff, attempt + 1)
    }

    async fn attempt<F>(&self, build: &F, secrets: &[&str]) -> Result<AccessToken, Failure>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync,
    {
        let no_retry_after = |error| Failure { error, retry_after: None };
        let mut response = build(&self.client).send().await.map_err(|e| no_retry_after(self.map_reqwest(e)))?;
        let status = response.status();
        let retry_after = agenthost_backoff::retry_after(response.headers(), SystemTime::now());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| no_retry_after(self.map_reqwest(e)))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(no_retry_after(TokenError::invalid_response(format!(
                    "HTTP {} body exceeds {MAX_BODY_BYTES} bytes",
                    status.as_u16()
                ))));
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return parse_token_response(&body, SystemTime::now()).map_err(no_retry_after);
        }
        let (code, description) = parse_error_body(&body, secrets);
        Err(Failure { error: TokenError::Http { status: status.as_u16(), code, description }, retry_after })
    }

    fn map_reqwest(&self, e: reqwest::Error) -> TokenError {
        if e.is_timeout() {
            TokenError::Timeout { timeout: self.opts.timeout }
        } else {
            TokenError::Transport { connect: e.is_connect(), source: std::sync::Arc::new(e) }
        }
    }
}

fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// Parses `{access_token, expires_in | expires_on}`. `expires_in` (relative, immune to
/// clock skew) wins over `expires_on` (epoch seconds); both may be numbers or strings.
pub(crate) fn parse_token_response(body: &[u8], now: SystemTime) -> Result<AccessToken, TokenError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        TokenError::invalid_response(format!("body is not JSON (line {}, column {})", e.line(), e.column()))
    })?;
    let Some(obj) = value.as_object() else {
        return Err(TokenError::invalid_response("body is not a JSON object"));
    };
    let token = obj
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::invalid_response("missing or empty access_token"))?;
    let expires_at = if let Some(v) = obj.get("expires_in") {
        now.checked_add(Duration::from_secs(seconds_field(v, "expires_in")?))
    } else if let Some(v) = obj.get("expires_on") {
        UNIX_EPOCH.checked_add(Duration::from_secs(seconds_field(v, "expires_on")?))
    } else {
        return Err(TokenError::invalid_response("missing expires_in and expires_on"));
    };
    let expires_at = expires_at.ok_or_else(|| TokenError::invalid_response("token expiry is out of range"))?;
    Ok(AccessToken::new(token, expires_at))
}

fn seconds_field(value: &Value, name: &str) -> Result<u64, TokenError> {
    let parsed = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| TokenError::invalid_response(format!("{name} is not a non-negative integer of seconds")))
}

/// Extracts `(code, description)` from an OAuth (`error`, `error_description`), Azure
/// (`error: {code, message}`) or plain (`message`) error body, scrubbed of `secrets`.
fn parse_error_body(body: &[u8], secrets: &[&str]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let (code, description) = match value.get("error") {
        Some(Value::String(code)) => (Some(code.clone()), text(value.get("error_description"))),
        Some(Value::Object(err)) => (text(err.get("code")), text(err.get("message"))),
        _ => (None, text(value.get("message").or_else(|| value.get("Message")))),
    };
    (code.map(|c| scrub(&c, secrets, MAX_CODE_CHARS)), description.map(|d| scrub(&d, secrets, MAX_DESCRIPTION_CHARS)))
}

/// Removes every occurrence of `secrets` and anything shaped like a JWT, then truncates.
pub(crate) fn scrub(text: &str, secrets: &[&str], max_chars: usize) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "[redacted]");
    }
    let out = redact_jwt_like(&out);
    if out.chars().count() > max_chars {
        let mut truncated: String = out.chars().take(max_chars).collect();
        truncated.push('…');
        truncated
    } else {
        out
    }
}

/// Replaces runs of base64url/dot characters that start with `eyJ` (a JSON header) and are
/// long enough to be a JWT.
fn redact_jwt_like(text: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.starts_with("eyJ") && run.len() >= 16 {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if is_token_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_secrets_and_jwts() {
        let text = "bad assertion s3cr3t-value and eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig here";
        let out = scrub(text, &["s3cr3t-value"], 256);
        assert!(!out.contains("s3cr3t-value"), "{out}");
        assert!(!out.contains("eyJ"), "{out}");
        assert!(out.contains("bad assertion [redacted]"), "{out}");
    }

    #[test]
    fn scrub_truncates() {
        let out = scrub(&"x".repeat(500), &[], 10);
        assert_eq!(out.chars().count(), 11);
    }

    #[test]
    fn backoff_is_capped() {
        let opts = HttpOptions {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..HttpOptions::default()
        };
        let client = HttpClient::new(&opts, false).expect("client");
        // Doubling from the initial delay up to the cap, each with equal jitter.
        let within = |d: Duration, full: u64| d >= Duration::from_millis(full / 2) && d <= Duration::from_millis(full);
        for _ in 0..20 {
            assert!(within(client.backoff(0), 100));
            assert!(within(client.backoff(1), 200));
            assert!(within(client.backoff(2), 350));
            assert!(within(client.backoff(40), 350));
        }
    }

    #[test]
    fn expires_in_wins_over_expires_on() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let body = br#"{"access_token":"t","expires_in":"60","expires_on":5}"#;
        let token = parse_token_response(body, now).expect("token");
        assert_eq!(token.expires_at(), now + Duration::from_secs(60));
    }

    #[test]
    fn bad_expiry_message_does_not_echo_body() {
        let body = br#"{"access_token":"tok-SECRET","expires_on":"tok-SECRET"}"#;
        let err = parse_token_response(body, SystemTime::now()).expect_err("must fail");
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }
}
