//! The HTTP side of a backend: one reqwest client per backend, authentication (API key or
//! Entra token), trace-context propagation, and one attempt of a streaming POST.
//!
//! Only `traceparent` / `tracestate` travel with the request (those of the current span, the
//! agent's `chat` span, when the request is traced): no user id, call id or baggage.

use std::time::{Duration, SystemTime};

use agenthost_agent::RequestContext;
use agenthost_identity::{Secret, TokenProvider};
use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;
use url::Url;

use crate::config::{ApiKeyStyle, ModelConfig, ModelConfigError, endpoint_url, parse_base_url};
use crate::error::{Failure, Scrubber, codes, from_status};
use agenthost_backoff::retry_after;

/// Largest error body read from the endpoint.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How a call authenticates.
#[derive(Clone, Debug)]
enum Auth {
    /// No credentials (local compatible servers).
    None,
    /// A fixed header (`Authorization: Bearer <key>` or `api-key: <key>`).
    Key { header: HeaderName, value: Secret, raw: Secret },
    /// An Entra token fetched per attempt.
    Token { provider: Arc<dyn TokenProvider>, scope: String },
}

/// Timeouts and retry limits of one backend.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub first_byte_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_retries: u32,
    pub retry_base_delay: Duration,
    pub max_retry_delay: Duration,
    pub max_retry_after: Duration,
}

/// One configured endpoint (`…/responses` or `…/chat/completions`).
#[derive(Debug)]
pub(crate) struct Endpoint {
    client: reqwest::Client,
    url: Url,
    auth: Auth,
    extra_headers: HeaderMap,
    /// The provider name, for logs.
    pub provider: &'static str,
    /// `gen_ai.provider.name`: `azure.ai.openai` for Azure hosts, else `openai`.
    pub gen_ai_provider: &'static str,
    /// The upstream model / deployment name.
    pub model: String,
    pub policy: Policy,
}

/// A successful response and the scrubber for anything read from it.
pub(crate) struct Opened {
    pub response: reqwest::Response,
    pub scrubber: Scrubber,
}

impl Endpoint {
    /// Validates `config` and builds the client for the `suffix` path of a `provider` backend.
    pub fn new(config: &ModelConfig, provider: &'static str, suffix: &str) -> Result<Self, ModelConfigError> {
        let base = parse_base_url(&config.base_url)?;
        let model = config.model.trim().to_string();
        if model.is_empty() {
            return Err(ModelConfigError::MissingModel);
        }
        let auth = match (&config.api_key, &config.token) {
            (Some(_), Some(_)) => return Err(ModelConfigError::ConflictingAuth),
            (Some(key), None) => match config.api_key_header.resolve(&base) {
                ApiKeyStyle::ApiKeyHeader => {
                    Auth::Key { header: HeaderName::from_static("api-key"), value: key.clone(), raw: key.clone() }
                }
                _ => Auth::Key {
                    header: AUTHORIZATION,
                    value: Secret::new(format!("Bearer {}", key.expose())),
                    raw: key.clone(),
                },
            },
            (None, Some(provider)) => {
                let scope = config.scope.trim().to_string();
                if scope.is_empty() {
                    return Err(ModelConfigError::MissingScope);
                }
                Auth::Token { provider: provider.clone(), scope }
            }
            (None, None) => Auth::None,
        };
        if let Auth::Key { header, value, .. } = &auth {
            HeaderValue::from_str(value.expose()).map_err(|_| ModelConfigError::InvalidHeader(header.to_string()))?;
        }
        let mut extra_headers = HeaderMap::new();
        for (name, value) in &config.extra_headers {
            let header = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| ModelConfigError::InvalidHeader(name.clone()))?;
            let mut value =
                HeaderValue::from_str(value.trim()).map_err(|_| ModelConfigError::InvalidHeader(name.clone()))?;
            value.set_sensitive(true);
            extra_headers.append(header, value);
        }

        // reqwest is built with `rustls-no-provider`; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            // Credentials are never forwarded to another location.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("agenthost-model/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ModelConfigError::HttpClient(e.without_url().to_string()))?;
        let azure = ApiKeyStyle::Auto.resolve(&base) == ApiKeyStyle::ApiKeyHeader;
        Ok(Endpoint {
            client,
            url: endpoint_url(&base, suffix),
            auth,
            extra_headers,
            provider,
            gen_ai_provider: if azure { "azure.ai.openai" } else { "openai" },
            model,
            policy: Policy {
                first_byte_timeout: config.first_byte_timeout,
                idle_timeout: config.idle_timeout,
                max_retries: config.max_retries,
                retry_base_delay: config.retry_base_delay,
                max_retry_delay: config.max_retry_delay,
                max_retry_after: config.max_retry_after,
            },
        })
    }

    /// One attempt: sends `body` and returns the response once its status is a success.
    pub async fn open(&self, ctx: &RequestContext, body: Bytes) -> Result<Opened, Failure> {
        let mut headers = self.extra_headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let outbound = ctx.outbound_trace();
        let trace = [("traceparent", outbound.traceparent.as_deref()), ("tracestate", outbound.tracestate.as_deref())];
        let span = tracing::Span::current();
        span.record("server.address", self.url.host_str().unwrap_or_default());
        if let Some(port) = self.url.port_or_known_default() {
            span.record("server.port", i64::from(port));
        }
        for (name, value) in trace {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(v.trim()).ok()) {
                headers.insert(HeaderName::from_static(name), v);
            }
        }
        let secrets = self.authorize(&mut headers).await?;
        let scrubber = Scrubber::new(secrets);

        let request = self.client.post(self.url.clone()).headers(headers).body(body).send();
        let response = match tokio::time::timeout(self.policy.first_byte_timeout, request).await {
            Err(_) => {
                return Err(Failure::fatal(
                    codes::MODEL_TIMEOUT,
                    format!("the model did not answer within {} ms", self.policy.first_byte_timeout.as_millis()),
                ));
            }
            Ok(Err(e)) => return Err(transport_failure(&e, &scrubber)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        tracing::debug!(
            provider = self.provider,
            model = %self.model,
            status = status.as_u16(),
            "model endpoint answered"
        );
        if status.is_success() {
            return Ok(Opened { response, scrubber });
        }
        let delay = retry_after(response.headers(), SystemTime::now());
        let body = read_limited(response, self.policy.idle_timeout).await;
        Err(from_status(status.as_u16(), &body, delay, &scrubber))
    }

    /// Adds the credentials; returns the secret values to scrub from upstream messages.
    async fn authorize(&self, headers: &mut HeaderMap) -> Result<Vec<String>, Failure> {
        match &self.auth {
            Auth::None => Ok(Vec::new()),
            Auth::Key { header, value, raw } => {
                let mut v = HeaderValue::from_str(value.expose())
                    .map_err(|_| Failure::fatal(codes::MODEL_AUTH_FAILED, "the API key is not a valid header value"))?;
                v.set_sensitive(true);
                headers.insert(header.clone(), v);
                Ok(vec![raw.expose().to_string()])
            }
            Auth::Token { provider, scope } => {
                let token = provider.token(scope).await.map_err(|e| {
                    Failure::fatal(
                        codes::MODEL_AUTH_FAILED,
                        format!("cannot get an access token for the model endpoint: {e}"),
                    )
                })?;
                let secret = token.secret().expose().to_string();
                let mut v = HeaderValue::from_str(&format!("Bearer {secret}")).map_err(|_| {
                    Failure::fatal(codes::MODEL_AUTH_FAILED, "the access token is not a valid header value")
                })?;
                v.set_sensitive(true);
                headers.insert(AUTHORIZATION, v);
                Ok(vec![secret])
            }
        }
    }
}

/// A failure to send the request or read the body: retryable `model_unavailable`.
pub(crate) fn transport_failure(e: &reqwest::Error, scrubber: &Scrubber) -> Failure {
    let what = if e.is_connect() {
        "cannot connect to the model endpoint"
    } else if e.is_body() || e.is_decode() {
        "the model stream broke off"
    } else {
        "the model request failed"
    };
    let detail = scrubber.scrub(&error_chain(e));
    Failure::transient(codes::MODEL_UNAVAILABLE, format!("{what}: {detail}"))
}

/// The error and its sources, without the URL.
fn error_chain(e: &reqwest::Error) -> String {
    let mut out = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        let text = match err.downcast_ref::<reqwest::Error>() {
            Some(re) if re.url().is_some() => {
                let mut owned = String::new();
                if re.is_connect() {
                    owned.push_str("connection error");
                } else if re.is_timeout() {
                    owned.push_str("timed out");
                } else if re.is_body() || re.is_decode() {
                    owned.push_str("error reading the body");
                } else {
                    owned.push_str("request error");
                }
                owned
            }
            _ => err.to_string(),
        };
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        source = err.source();
    }
    out
}

/// Reads at most [`MAX_ERROR_BODY`] bytes of an error body, giving up after `idle` of silence.
async fn read_limited(mut response: reqwest::Response, idle: Duration) -> String {
    let mut buf = Vec::new();
    while buf.len() < MAX_ERROR_BODY {
        match tokio::time::timeout(idle, response.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&buf).into_owned()
}
