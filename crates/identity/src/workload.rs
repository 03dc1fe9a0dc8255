//! Microsoft Entra workload identity (AKS and other federated environments): exchanges the
//! projected service-account token in `AZURE_FEDERATED_TOKEN_FILE` for an access token
//! with the client-credentials grant. The file is re-read on every fetch because the
//! kubelet rotates it.

use std::path::{Path, PathBuf};

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use url::Url;

use crate::error::TokenError;
use crate::http::{HttpClient, HttpOptions};
use crate::managed::parse_endpoint;
use crate::provider::{TokenProvider, validate_scope};
use crate::token::{AccessToken, Secret};

/// The default Entra authority host.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com/";
/// The `client_assertion_type` for a JWT client assertion.
pub const JWT_BEARER_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Tokens for an Entra application through a federated (Kubernetes) credential.
#[derive(Debug)]
pub struct WorkloadIdentity {
    token_endpoint: Url,
    client_id: String,
    token_file: PathBuf,
    http: HttpClient,
}

impl WorkloadIdentity {
    /// `POST {authority_host}{tenant_id}/oauth2/v2.0/token`; `authority_host` defaults to
    /// [`DEFAULT_AUTHORITY_HOST`] and may omit the trailing slash.
    pub fn new(
        tenant_id: &str,
        client_id: &str,
        token_file: impl Into<PathBuf>,
        authority_host: Option<&str>,
        http: &HttpOptions,
    ) -> Result<Self, TokenError> {
        let tenant_id = tenant_id.trim();
        let tenant_ok = !tenant_id.is_empty()
            && tenant_id != "."
            && tenant_id != ".."
            && tenant_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !tenant_ok {
            return Err(TokenError::invalid_config("tenant id must be a GUID or domain name"));
        }
        let client_id = client_id.trim();
        if client_id.is_empty() {
            return Err(TokenError::invalid_config("client id is empty"));
        }
        let mut authority = parse_endpoint(authority_host.unwrap_or(DEFAULT_AUTHORITY_HOST), "authority host")?;
        authority.set_query(None);
        authority.set_fragment(None);
        if !authority.path().ends_with('/') {
            let path = format!("{}/", authority.path());
            authority.set_path(&path);
        }
        let token_endpoint = authority
            .join(&format!("{tenant_id}/oauth2/v2.0/token"))
            .map_err(|e| TokenError::invalid_config(format!("cannot build token URL: {e}")))?;
        Ok(Self {
            token_endpoint,
            client_id: client_id.to_owned(),
            token_file: token_file.into(),
            // Entra is a public endpoint: honour HTTP(S)_PROXY / NO_PROXY.
            http: HttpClient::new(http, true)?,
        })
    }

    /// The token endpoint URL.
    pub fn token_endpoint(&self) -> &Url {
        &self.token_endpoint
    }

    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The federated token file.
    pub fn token_file(&self) -> &Path {
        &self.token_file
    }

    async fn read_assertion(&self) -> Result<Secret, TokenError> {
        let contents = tokio::fs::read_to_string(&self.token_file)
            .await
            .map_err(|e| TokenError::federated_file(self.token_file.clone(), e))?;
        let assertion = contents.trim();
        if assertion.is_empty() {
            return Err(TokenError::federated_file(
                self.token_file.clone(),
                std::io::Error::new(std::io::ErrorKind::InvalidData, "file is empty"),
            ));
        }
        Ok(Secret::new(assertion))
    }
}

#[async_trait::async_trait]
impl TokenProvider for WorkloadIdentity {
    async fn token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        let scope = validate_scope(scope)?;
        let assertion = self.read_assertion().await?;
        tracing::debug!(kind = "workload_identity", scope, "requesting token");
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", scope)
            .append_pair("client_assertion_type", JWT_BEARER_ASSERTION_TYPE)
            .append_pair("client_assertion", assertion.expose())
            .finish();
        let encoded: String = url::form_urlencoded::byte_serialize(assertion.expose().as_bytes()).collect();
        let token = self
            .http
            .fetch_token(
                |c| {
                    c.post(self.token_endpoint.clone())
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .header(ACCEPT, "application/json")
                        .body(body.clone())
                },
                &[],
                &[assertion.expose(), &encoded],
            )
            .await?;
        tracing::debug!(
            kind = "workload_identity",
            scope,
            expires_at = ?token.expires_at(),
            "token acquired"
        );
        Ok(token)
    }

    fn kind(&self) -> &'static str {
        "workload_identity"
    }
}
