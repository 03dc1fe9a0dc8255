//! Choosing a provider from the identity variables of the environment. This crate never reads
//! the environment itself: the caller (the server's one environment seam) reads the names in
//! [`vars`] into [`IdentityVars`] and hands over the values.
//!
//! Precedence of [`select`] (the first match wins; empty values count as unset):
//!
//! 1. **Static token**: [`SelectOptions::static_token`] (e.g. the value of
//!    `AGENTHOST_TOOLBOX_TOKEN`), if the caller passes one.
//! 2. **Workload identity**: `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_CLIENT_ID` and
//!    `AZURE_TENANT_ID` all set; authority `AZURE_AUTHORITY_HOST` (default
//!    `https://login.microsoftonline.com/`).
//! 3. **Managed identity**, App Service / Container Apps: `IDENTITY_ENDPOINT` and
//!    `IDENTITY_HEADER`; or the legacy pair `MSI_ENDPOINT` and `MSI_SECRET` (same protocol);
//!    or `MSI_ENDPOINT` alone (Cloud Shell).
//! 4. **Managed identity via IMDS**, only if [`EnvOptions::allow_imds`] (e.g. when hosted):
//!    endpoint `{AZURE_POD_IDENTITY_AUTHORITY_HOST}/metadata/identity/oauth2/token`, default
//!    `http://169.254.169.254/metadata/identity/oauth2/token`.
//! 5. Otherwise `Ok(None)`.
//!
//! A user-assigned managed identity is selected by `FOUNDRY_AGENT_INSTANCE_CLIENT_ID`, else
//! `AZURE_CLIENT_ID` (not used for Cloud Shell). Managed and workload identities are wrapped
//! in a [`CachedProvider`]; the static token is not.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cache::{CacheOptions, CachedProvider};
use crate::error::TokenError;
use crate::http::HttpOptions;
use crate::managed::{IMDS_TOKEN_PATH, ManagedIdentity};
use crate::provider::{StaticToken, TokenProvider};
use crate::workload::WorkloadIdentity;

/// Names of the environment variables [`select`] consults, all in [`vars::ALL`].
pub mod vars {
    /// Workload identity: path of the projected service-account token.
    pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
    /// Workload identity application id; user-assigned managed identity client id.
    pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
    /// Workload identity tenant.
    pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
    /// Workload identity authority host.
    pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
    /// App Service / Container Apps token endpoint.
    pub const IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
    /// App Service / Container Apps secret sent as `X-IDENTITY-HEADER`.
    pub const IDENTITY_HEADER: &str = "IDENTITY_HEADER";
    /// Legacy App Service endpoint, or the Cloud Shell endpoint when `MSI_SECRET` is unset.
    pub const MSI_ENDPOINT: &str = "MSI_ENDPOINT";
    /// Legacy App Service secret.
    pub const MSI_SECRET: &str = "MSI_SECRET";
    /// Overrides the IMDS host (scheme, host and port).
    pub const AZURE_POD_IDENTITY_AUTHORITY_HOST: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
    /// Client id of the Foundry agent instance identity (preferred over `AZURE_CLIENT_ID`).
    pub const FOUNDRY_AGENT_INSTANCE_CLIENT_ID: &str = "FOUNDRY_AGENT_INSTANCE_CLIENT_ID";

    /// Every name above.
    pub const ALL: [&str; 10] = [
        AZURE_FEDERATED_TOKEN_FILE,
        AZURE_CLIENT_ID,
        AZURE_TENANT_ID,
        AZURE_AUTHORITY_HOST,
        IDENTITY_ENDPOINT,
        IDENTITY_HEADER,
        MSI_ENDPOINT,
        MSI_SECRET,
        AZURE_POD_IDENTITY_AUTHORITY_HOST,
        FOUNDRY_AGENT_INSTANCE_CLIENT_ID,
    ];
}

/// The values of the [`vars`] that are set and not blank.
#[derive(Clone, Default)]
pub struct IdentityVars {
    values: HashMap<&'static str, String>,
}

impl IdentityVars {
    /// Reads every name in [`vars::ALL`] through `lookup`.
    pub fn read(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let values = vars::ALL
            .iter()
            .filter_map(|&name| lookup(name).filter(|v| !v.trim().is_empty()).map(|v| (name, v)))
            .collect();
        IdentityVars { values }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }
}

impl std::fmt::Debug for IdentityVars {
    // Names only: IDENTITY_HEADER and MSI_SECRET are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.values.keys().copied().collect();
        names.sort_unstable();
        f.debug_struct("IdentityVars").field("set", &names).finish()
    }
}

/// Options for [`select`].
#[derive(Clone, Default)]
pub struct SelectOptions {
    /// A static token that takes precedence over everything else (blank counts as none).
    pub static_token: Option<String>,
    /// Fall back to IMDS when nothing else is configured (only when running on Azure).
    pub allow_imds: bool,
    /// Timeouts and retries for token requests.
    pub http: HttpOptions,
    /// Refresh policy of the returned cache.
    pub cache: CacheOptions,
}

/// Builds the provider the variables select (precedence in the [module docs](self)),
/// or `Ok(None)` if none is configured. Errors only for present but invalid values.
pub fn select(env: &IdentityVars, opts: &SelectOptions) -> Result<Option<Arc<dyn TokenProvider>>, TokenError> {
    let get = |key: &str| env.get(key);

    if let Some(token) = opts.static_token.as_deref().filter(|t| !t.trim().is_empty()) {
        tracing::info!(kind = "static", "using a static token");
        return Ok(Some(Arc::new(StaticToken::new(token.trim()))));
    }

    let token_file = get(vars::AZURE_FEDERATED_TOKEN_FILE);
    let client_id = get(vars::AZURE_CLIENT_ID);
    let tenant_id = get(vars::AZURE_TENANT_ID);
    match (&token_file, &client_id, &tenant_id) {
        (Some(file), Some(client), Some(tenant)) => {
            let authority = get(vars::AZURE_AUTHORITY_HOST);
            let provider =
                WorkloadIdentity::new(tenant, client, PathBuf::from(file), authority.as_deref(), &opts.http)?;
            tracing::info!(kind = "workload_identity", "using workload identity");
            return Ok(Some(cached(provider, opts)));
        }
        (Some(_), _, _) => tracing::warn!(
            "AZURE_FEDERATED_TOKEN_FILE is set but AZURE_CLIENT_ID or AZURE_TENANT_ID is not; \
             skipping workload identity"
        ),
        _ => {}
    }

    let mi_client_id = get(vars::FOUNDRY_AGENT_INSTANCE_CLIENT_ID).or(client_id);
    let app_service = match (get(vars::IDENTITY_ENDPOINT), get(vars::IDENTITY_HEADER)) {
        (Some(endpoint), Some(header)) => Some((endpoint, header)),
        (Some(_), None) => {
            tracing::warn!("IDENTITY_ENDPOINT is set without IDENTITY_HEADER; ignoring it");
            None
        }
        _ => None,
    };
    let msi_endpoint = get(vars::MSI_ENDPOINT);
    let managed = match (app_service, msi_endpoint) {
        (Some((endpoint, header)), _) => {
            Some(ManagedIdentity::app_service(&endpoint, header, mi_client_id.clone(), &opts.http)?)
        }
        (None, Some(endpoint)) => match get(vars::MSI_SECRET) {
            Some(secret) => Some(ManagedIdentity::app_service(&endpoint, secret, mi_client_id.clone(), &opts.http)?),
            None => Some(ManagedIdentity::cloud_shell(&endpoint, &opts.http)?),
        },
        (None, None) if opts.allow_imds => {
            let endpoint = get(vars::AZURE_POD_IDENTITY_AUTHORITY_HOST)
                .map(|host| format!("{}{IMDS_TOKEN_PATH}", host.trim().trim_end_matches('/')));
            Some(ManagedIdentity::imds(endpoint.as_deref(), mi_client_id.clone(), &opts.http)?)
        }
        (None, None) => None,
    };
    match managed {
        Some(provider) => {
            tracing::info!(
                kind = "managed_identity",
                source = provider.source_name(),
                user_assigned = provider.client_id().is_some(),
                "using managed identity"
            );
            Ok(Some(cached(provider, opts)))
        }
        None => Ok(None),
    }
}

fn cached<P: TokenProvider + 'static>(provider: P, opts: &SelectOptions) -> Arc<dyn TokenProvider> {
    Arc::new(CachedProvider::with_options(provider, opts.cache.clone()))
}
