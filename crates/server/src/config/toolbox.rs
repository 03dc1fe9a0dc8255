//! The toolbox section: which toolboxes, where, and how consent and approvals behave.

use std::time::Duration;

use super::read::{Reader, boolean, comma_list, positive_secs};
use super::{ConfigError, Env, nonempty, vars};
use crate::cli::ServeArgs;

/// Toolbox-related settings.
#[derive(Clone, Debug, Default)]
pub struct ToolboxConfig {
    /// `FOUNDRY_PROJECT_ENDPOINT`, else `AZURE_AI_PROJECT_ENDPOINT`.
    pub project_endpoint: Option<String>,
    /// `TOOLBOX_ENDPOINT`.
    pub toolbox_endpoint: Option<String>,
    /// `TOOLBOX_NAME` plus `--toolbox`.
    pub names: Vec<String>,
    /// `AGENTHOST_REQUIRED_TOOLBOXES`.
    pub required: Vec<String>,
    /// `AGENTHOST_TOOLBOX_STRICT`.
    pub strict: bool,
    /// `AGENTHOST_CONSENT_MODE`: `eager` or `on-use`.
    pub consent_mode: String,
    /// `AGENTHOST_REQUIRE_APPROVAL`: `never`, `always` or a list.
    pub require_approval: String,
    /// `AGENTHOST_TOOLBOX_STARTUP_TIMEOUT`.
    pub startup_timeout: Duration,
    /// `AGENTHOST_TOOLBOX_REQUEST_TIMEOUT`.
    pub request_timeout: Duration,
    /// `AGENTHOST_TOOLBOX_DEGRADED_WAIT_MS`.
    pub degraded_wait: Duration,
    /// `AGENTHOST_ALLOW_LOOPBACK_CONSENT_LINKS`.
    pub allow_loopback_consent_links: bool,
    /// `FOUNDRY_AGENT_TOOLSET_FEATURES`.
    pub extra_features: Option<String>,
    /// `AGENTHOST_TOOLBOX_TOKEN`: a static proxy token (local use), redacted in Debug.
    pub token: Option<agenthost_identity::Secret>,
}

impl ToolboxConfig {
    pub(super) fn read(r: &Reader<'_>, args: &ServeArgs, env: &dyn Env) -> Result<Self, ConfigError> {
        let mut names = nonempty(env, vars::TOOLBOX_NAME).map(|v| comma_list(&v)).unwrap_or_default();
        names.extend(args.toolboxes.iter().flat_map(|t| comma_list(t)));
        Ok(ToolboxConfig {
            project_endpoint: args
                .project_endpoint
                .clone()
                .filter(|v| !v.trim().is_empty())
                .or_else(|| nonempty(env, vars::AZURE_AI_PROJECT_ENDPOINT)),
            toolbox_endpoint: nonempty(env, vars::TOOLBOX_ENDPOINT),
            names,
            required: args.required_toolboxes.as_deref().map(comma_list).unwrap_or_default(),
            strict: r.parse(&args.toolbox_strict, "toolbox_strict", true, boolean)?,
            consent_mode: r.parse(&args.consent_mode, "consent_mode", "eager".to_string(), |v| match v {
                "eager" | "on-use" => Ok(v.to_string()),
                _ => Err("expected eager or on-use".into()),
            })?,
            require_approval: r.parse(&args.require_approval, "require_approval", "never".to_string(), |v| {
                if v.is_empty() {
                    Err("expected never, always or a list of tool names".into())
                } else {
                    Ok(v.to_string())
                }
            })?,
            startup_timeout: r.parse(
                &args.toolbox_startup_timeout,
                "toolbox_startup_timeout",
                Duration::from_secs(5),
                positive_secs,
            )?,
            request_timeout: r.parse(
                &args.toolbox_request_timeout,
                "toolbox_request_timeout",
                Duration::from_secs(30),
                positive_secs,
            )?,
            degraded_wait: r.parse(
                &args.toolbox_degraded_wait_ms,
                "toolbox_degraded_wait_ms",
                Duration::from_secs(1),
                |v| v.parse::<u64>().map(Duration::from_millis).map_err(|_| "expected milliseconds".to_string()),
            )?,
            allow_loopback_consent_links: r.parse(
                &args.allow_loopback_consent_links,
                "allow_loopback_consent_links",
                false,
                boolean,
            )?,
            extra_features: nonempty(env, vars::FOUNDRY_AGENT_TOOLSET_FEATURES),
            token: nonempty(env, agenthost_identity::TOOLBOX_TOKEN_VAR).map(agenthost_identity::Secret::new),
        })
    }
}
