//! Azure managed identity: the App Service / Container Apps endpoint (`IDENTITY_ENDPOINT`
//! and `IDENTITY_HEADER`, api-version 2019-08-01), Cloud Shell (`MSI_ENDPOINT` without a
//! secret) and the VM instance metadata service (IMDS, api-version 2018-02-01).

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use url::Url;

use crate::error::TokenError;
use crate::http::{HttpClient, HttpOptions};
use crate::provider::{TokenProvider, scope_to_resource};
use crate::token::{AccessToken, Secret};

/// The default IMDS token endpoint.
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// Path of the token endpoint below an IMDS authority host.
pub const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";
const IMDS_API_VERSION: &str = "2018-02-01";
/// IMDS answers 404 while an identity is being assigned and 410 while it is updating.
const IMDS_EXTRA_RETRY: &[u16] = &[404, 410];

/// Where a [`ManagedIdentity`] gets its tokens.
#[derive(Debug, Clone)]
enum Source {
    AppService { endpoint: Url, header: Secret },
    CloudShell { endpoint: Url },
    Imds { endpoint: Url },
}

/// Tokens for the system- or user-assigned managed identity of the host.
#[derive(Debug)]
pub struct ManagedIdentity {
    source: Source,
    client_id: Option<String>,
    http: HttpClient,
}

impl ManagedIdentity {
    /// App Service / Container Apps: `GET {endpoint}?api-version=2019-08-01&resource=..
    /// [&client_id=..]` with header `X-IDENTITY-HEADER: {identity_header}`.
    pub fn app_service(
        endpoint: &str,
        identity_header: impl Into<Secret>,
        client_id: Option<String>,
        http: &HttpOptions,
    ) -> Result<Self, TokenError> {
        let header = identity_header.into();
        sensitive_header(&header)?;
        Self::build(
            Source::AppService { endpoint: parse_endpoint(endpoint, "identity endpoint")?, header },
            client_id,
            http,
        )
    }

    /// Cloud Shell: `POST {endpoint}` with form `resource=..` and `Metadata: true`.
    /// User-assigned identities are not supported there.
    pub fn cloud_shell(endpoint: &str, http: &HttpOptions) -> Result<Self, TokenError> {
        Self::build(Source::CloudShell { endpoint: parse_endpoint(endpoint, "MSI endpoint")? }, None, http)
    }

    /// IMDS: `GET {endpoint}?api-version=2018-02-01&resource=..[&client_id=..]` with
    /// `Metadata: true`. `endpoint` defaults to [`IMDS_ENDPOINT`].
    pub fn imds(endpoint: Option<&str>, client_id: Option<String>, http: &HttpOptions) -> Result<Self, TokenError> {
        let endpoint = parse_endpoint(endpoint.unwrap_or(IMDS_ENDPOINT), "IMDS endpoint")?;
        Self::build(Source::Imds { endpoint }, client_id, http)
    }

    fn build(source: Source, client_id: Option<String>, http: &HttpOptions) -> Result<Self, TokenError> {
        Ok(Self {
            source,
            client_id: client_id.filter(|c| !c.trim().is_empty()),
            // Identity endpoints are loopback or link-local: never go through a proxy.
            http: HttpClient::new(http, false)?,
        })
    }

    /// Which endpoint flavour is used: `"app_service"`, `"cloud_shell"` or `"imds"`.
    pub fn source_name(&self) -> &'static str {
        match self.source {
            Source::AppService { .. } => "app_service",
            Source::CloudShell { .. } => "cloud_shell",
            Source::Imds { .. } => "imds",
        }
    }

    /// The user-assigned identity's client id, if one is configured.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    fn query_url(&self, endpoint: &Url, api_version: &str, resource: &str) -> Url {
        let mut url = endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("api-version", api_version).append_pair("resource", resource);
            if let Some(client_id) = &self.client_id {
                query.append_pair("client_id", client_id);
            }
        }
        url
    }
}

#[async_trait::async_trait]
impl TokenProvider for ManagedIdentity {
    async fn token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        let resource = scope_to_resource(scope)?;
        tracing::debug!(kind = "managed_identity", source = self.source_name(), scope, "requesting token");
        let metadata = HeaderValue::from_static("true");
        let token = match &self.source {
            Source::AppService { endpoint, header } => {
                let url = self.query_url(endpoint, APP_SERVICE_API_VERSION, resource);
                let value = sensitive_header(header)?;
                self.http
                    .fetch_token(
                        |c| c.get(url.clone()).header("X-IDENTITY-HEADER", value.clone()),
                        &[],
                        &[header.expose()],
                    )
                    .await?
            }
            Source::Imds { endpoint } => {
                let url = self.query_url(endpoint, IMDS_API_VERSION, resource);
                self.http
                    .fetch_token(|c| c.get(url.clone()).header("Metadata", metadata.clone()), IMDS_EXTRA_RETRY, &[])
                    .await?
            }
            Source::CloudShell { endpoint } => {
                let body =
                    url::form_urlencoded::Serializer::new(String::new()).append_pair("resource", resource).finish();
                self.http
                    .fetch_token(
                        |c| {
                            c.post(endpoint.clone())
                                .header("Metadata", metadata.clone())
                                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                                .body(body.clone())
                        },
                        &[],
                        &[],
                    )
                    .await?
            }
        };
        tracing::debug!(
            kind = "managed_identity",
            scope,
            expires_at = ?token.expires_at(),
            "token acquired"
        );
        Ok(token)
    }

    fn kind(&self) -> &'static str {
        "managed_identity"
    }
}

/// The identity header as a header value marked sensitive (redacted in `Debug`).
fn sensitive_header(secret: &Secret) -> Result<HeaderValue, TokenError> {
    let mut value = HeaderValue::from_str(secret.expose())
        .map_err(|_| TokenError::invalid_config("identity header is not a valid HTTP header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Parses an absolute `http`/`https` endpoint URL; the message does not echo the value.
pub(crate) fn parse_endpoint(value: &str, what: &str) -> Result<Url, TokenError> {
    let url =
        Url::parse(value.trim()).map_err(|e| TokenError::invalid_config(format!("{what} is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(TokenError::invalid_config(format!("{what} must be an http(s) URL with a host")));
    }
    Ok(url)
}
