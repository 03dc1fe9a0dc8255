//! [`ModelConfig`]: which API to call, where, as whom, and with which timeouts and retries.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use agenthost_identity::{COGNITIVE_SERVICES_SCOPE, Secret, TokenProvider};
use url::Url;

/// Which wire API a backend speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// The OpenAI Responses API (`POST {base_url}/responses`); provider name `openai`.
    OpenAiResponses,
    /// The Chat Completions API (`POST {base_url}/chat/completions`); provider name `openai-chat`.
    OpenAiChat,
}

impl Provider {
    /// The provider name reported by [`Model::provider`](agenthost_agent::Model::provider).
    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAiResponses => "openai",
            Provider::OpenAiChat => "openai-chat",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Provider {
    type Err = ModelConfigError;

    /// Accepts `openai` / `responses` and `openai-chat` / `chat` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "openai" | "responses" | "openai-responses" => Ok(Provider::OpenAiResponses),
            "openai-chat" | "chat" | "chat-completions" => Ok(Provider::OpenAiChat),
            _ => Err(ModelConfigError::UnknownProvider(s.to_string())),
        }
    }
}

/// How an API key is sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ApiKeyStyle {
    /// [`ApiKeyStyle::ApiKeyHeader`] for Azure hosts (`*.openai.azure.com`,
    /// `*.cognitiveservices.azure.com`, `*.services.ai.azure.com`), else [`ApiKeyStyle::Bearer`].
    #[default]
    Auto,
    /// `Authorization: Bearer <key>` (OpenAI and most compatible servers).
    Bearer,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKeyHeader,
}

impl ApiKeyStyle {
    /// The concrete style for `base_url` (resolves [`ApiKeyStyle::Auto`]).
    pub fn resolve(self, base_url: &Url) -> ApiKeyStyle {
        match self {
            ApiKeyStyle::Auto => {
                let host = base_url.host_str().unwrap_or("").to_ascii_lowercase();
                let azure = [".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"]
                    .iter()
                    .any(|suffix| host.ends_with(suffix));
                if azure { ApiKeyStyle::ApiKeyHeader } else { ApiKeyStyle::Bearer }
            }
            other => other,
        }
    }
}

/// Everything needed to build a model backend. Start from [`ModelConfig::new`] and adjust fields.
///
/// `Debug` never prints the API key, the token or extra header values.
#[derive(Clone)]
pub struct ModelConfig {
    /// Which API to call.
    pub provider: Provider,
    /// API root, e.g. `https://api.openai.com/v1` or `https://<res>.openai.azure.com/openai/v1`.
    /// `/responses` or `/chat/completions` is appended to its path; a query (`?api-version=…`)
    /// is kept.
    pub base_url: String,
    /// The model or Azure deployment name sent upstream (the client's `model` is never used).
    pub model: String,
    /// API key, sent as [`ModelConfig::api_key_header`] says. Exclusive with `token`.
    pub api_key: Option<Secret>,
    /// How the API key is sent; [`ApiKeyStyle::Auto`] decides from the base URL host.
    pub api_key_header: ApiKeyStyle,
    /// Entra token provider: `Authorization: Bearer <token>` fetched on every attempt.
    pub token: Option<Arc<dyn TokenProvider>>,
    /// The scope tokens are requested for. Default [`COGNITIVE_SERVICES_SCOPE`].
    pub scope: String,
    /// Limit for establishing a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Limit from sending the request to receiving the response headers. Default 120 s.
    pub first_byte_timeout: Duration,
    /// Longest silence allowed while reading the body (before the first chunk too). Default 120 s.
    pub idle_timeout: Duration,
    /// Retries after the first attempt (429, 408, 5xx, connection failures). Default 3.
    pub max_retries: u32,
    /// Backoff before the first retry; doubles per retry, with jitter. Default 500 ms.
    pub retry_base_delay: Duration,
    /// Longest computed backoff between attempts. Default 8 s.
    pub max_retry_delay: Duration,
    /// Longest `Retry-After` honoured; a server asking for more ends the retries. Default 30 s.
    pub max_retry_after: Duration,
    /// Responses API: ask for `include: ["reasoning.encrypted_content"]`. Default false.
    pub include_reasoning_encrypted: bool,
    /// Reasoning effort (`reasoning.effort` / `reasoning_effort`), when set.
    pub reasoning_effort: Option<String>,
    /// Responses API: reasoning summary mode (`reasoning.summary`: `auto`, `concise`, `detailed`).
    pub reasoning_summary: Option<String>,
    /// Extra headers sent on every call (values are treated as secrets).
    pub extra_headers: Vec<(String, String)>,
}

impl ModelConfig {
    /// A configuration with the defaults documented on each field.
    pub fn new(provider: Provider, base_url: impl Into<String>, model: impl Into<String>) -> Self {
        ModelConfig {
            provider,
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            api_key_header: ApiKeyStyle::Auto,
            token: None,
            scope: COGNITIVE_SERVICES_SCOPE.to_string(),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(120),
            max_retries: 3,
            retry_base_delay: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
            include_reasoning_encrypted: false,
            reasoning_effort: None,
            reasoning_summary: None,
            extra_headers: Vec::new(),
        }
    }
}

impl fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.extra_headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ModelConfig")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key)
            .field("api_key_header", &self.api_key_header)
            .field("token", &self.token.as_ref().map(|t| t.kind()))
            .field("scope", &self.scope)
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_base_delay", &self.retry_base_delay)
            .field("max_retry_delay", &self.max_retry_delay)
            .field("max_retry_after", &self.max_retry_after)
            .field("include_reasoning_encrypted", &self.include_reasoning_encrypted)
            .field("reasoning_effort", &self.reasoning_effort)
            .field("reasoning_summary", &self.reasoning_summary)
            .field("extra_headers", &header_names)
            .finish()
    }
}

/// A configuration that cannot be used. Messages never contain secret values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelConfigError {
    /// The provider name is not one of `openai`, `openai-chat`.
    #[error("unknown model provider {0:?} (expected \"openai\" or \"openai-chat\")")]
    UnknownProvider(String),
    /// The base URL is not an absolute http(s) URL.
    #[error("invalid model base URL: {0}")]
    InvalidBaseUrl(String),
    /// No model / deployment name.
    #[error("model name is empty")]
    MissingModel,
    /// Both an API key and a token provider were given.
    #[error("configure either an API key or a token provider, not both")]
    ConflictingAuth,
    /// A header name or value cannot be sent (the value itself is never reported).
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    /// The token scope is empty.
    #[error("token scope is empty")]
    MissingScope,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// Parses and checks `base_url`: absolute, http or https, no credentials or fragment.
pub(crate) fn parse_base_url(raw: &str) -> Result<Url, ModelConfigError> {
    let url = Url::parse(raw.trim()).map_err(|e| ModelConfigError::InvalidBaseUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ModelConfigError::InvalidBaseUrl(format!("scheme {:?} is not http or https", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ModelConfigError::InvalidBaseUrl("credentials in the URL are not allowed".into()));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(ModelConfigError::InvalidBaseUrl("URL has no host".into()));
    }
    Ok(url)
}

/// `base` with `suffix` (e.g. `chat/completions`) appended to its path, query kept.
pub(crate) fn endpoint_url(base: &Url, suffix: &str) -> Url {
    let mut url = base.clone();
    url.set_fragment(None);
    let path = format!("{}/{}", base.path().trim_end_matches('/'), suffix);
    url.set_path(&path);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn api_key_style_is_chosen_from_the_host() {
        for host in [
            "https://res.openai.azure.com/openai/v1",
            "https://res.cognitiveservices.azure.com/openai/v1",
            "https://proj.services.ai.azure.com/openai/v1",
        ] {
            assert_eq!(ApiKeyStyle::Auto.resolve(&url(host)), ApiKeyStyle::ApiKeyHeader);
        }
        assert_eq!(ApiKeyStyle::Auto.resolve(&url("https://api.openai.com/v1")), ApiKeyStyle::Bearer);
        assert_eq!(ApiKeyStyle::Auto.resolve(&url("https://openai.azure.com.evil.example/v1")), ApiKeyStyle::Bearer);
        assert_eq!(ApiKeyStyle::Bearer.resolve(&url("https://res.openai.azure.com")), ApiKeyStyle::Bearer);
    }

    #[test]
    fn endpoint_keeps_the_query() {
        let base = url("https://r.openai.azure.com/openai/deployments/gpt?api-version=2024-10-21");
        assert_eq!(
            endpoint_url(&base, "chat/completions").as_str(),
            "https://r.openai.azure.com/openai/deployments/gpt/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            endpoint_url(&url("http://127.0.0.1:9/v1/"), "responses").as_str(),
            "http://127.0.0.1:9/v1/responses"
        );
    }

    #[test]
    fn bad_base_urls_are_rejected() {
        assert!(parse_base_url("not a url").is_err());
        assert!(parse_base_url("ftp://x/v1").is_err());
        assert!(parse_base_url("https://user:pw@x/v1").is_err());
        assert!(parse_base_url("https://x/v1").is_ok());
    }

    #[test]
    fn provider_names_parse() {
        assert_eq!("openai".parse(), Ok(Provider::OpenAiResponses));
        assert_eq!("OpenAI-Chat".parse(), Ok(Provider::OpenAiChat));
        assert!("anthropic".parse::<Provider>().is_err());
        assert_eq!(Provider::OpenAiChat.to_string(), "openai-chat");
    }

    #[test]
    fn debug_hides_secrets() {
        let mut c = ModelConfig::new(Provider::OpenAiChat, "https://x/v1", "m");
        c.api_key = Some(Secret::new("sk-very-secret"));
        c.extra_headers.push(("x-custom".into(), "hidden-value".into()));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("sk-very-secret"));
        assert!(!dbg.contains("hidden-value"));
        assert!(dbg.contains("x-custom"));
    }
}
