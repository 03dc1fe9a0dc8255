//! Access tokens for calling the Foundry toolbox proxy (scope [`TOOLBOX_SCOPE`]) and model
//! endpoints (scope [`COGNITIVE_SERVICES_SCOPE`]).
//!
//! Providers implement [`TokenProvider`]:
//! * [`StaticToken`]: a fixed token for local use;
//! * [`ManagedIdentity`]: App Service / Container Apps, Cloud Shell or IMDS;
//! * [`WorkloadIdentity`]: Entra workload identity with a federated token file;
//! * [`CachedProvider`]: per-scope cache with early, single-flight refresh.
//!
//! [`select`] picks one from the identity variables the caller read (precedence documented in
//! [`select`](mod@select)).
//!
//! Invariants: no token, client assertion or identity-header value ever appears in a
//! `Debug`/`Display` output, an error message or a log line; logs carry only the provider
//! kind, the scope and the expiry. Every HTTP call has a timeout and a bounded retry.

pub mod cache;
mod error;
mod http;
mod managed;
mod provider;
pub mod select;
mod token;
mod workload;

pub use cache::{CacheOptions, CachedProvider, Clock, SystemClock};
pub use error::TokenError;
pub use http::HttpOptions;
pub use managed::{IMDS_ENDPOINT, IMDS_TOKEN_PATH, ManagedIdentity};
pub use provider::{StaticToken, TokenProvider};
pub use select::{IdentityVars, SelectOptions, select, vars};
pub use token::{AccessToken, Secret, far_future};
pub use workload::{DEFAULT_AUTHORITY_HOST, JWT_BEARER_ASSERTION_TYPE, WorkloadIdentity};

/// Scope for the Foundry toolbox proxy.
pub const TOOLBOX_SCOPE: &str = "https://ai.azure.com/.default";
/// Scope for Azure OpenAI / Foundry model endpoints.
pub const COGNITIVE_SERVICES_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
/// The conventional variable for a local static toolbox token.
pub const TOOLBOX_TOKEN_VAR: &str = "AGENTHOST_TOOLBOX_TOKEN";
