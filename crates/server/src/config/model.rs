//! The model section: which backend answers and how to reach it.

use std::time::Duration;

use super::read::{Reader, positive_secs};
use super::{ConfigError, Env, nonempty, vars};
use crate::cli::ServeArgs;

/// Which model answers, and how to reach it.
#[derive(Clone, Debug, Default)]
pub struct ModelSettings {
    /// `scripted`, `openai` or `openai-chat`.
    pub provider: String,
    /// `AGENTHOST_MODEL_BASE_URL`, else `OPENAI_BASE_URL`.
    pub base_url: Option<String>,
    /// `AGENTHOST_MODEL`, else `AZURE_AI_MODEL_DEPLOYMENT_NAME`.
    pub name: Option<String>,
    /// `OPENAI_API_KEY`, else `AZURE_OPENAI_API_KEY` (redacted in Debug).
    pub api_key: Option<agenthost_identity::Secret>,
    /// The key came from `AZURE_OPENAI_API_KEY`: send it as `api-key`, as Azure expects.
    pub azure_key: bool,
    /// Entra scope for identity-based auth.
    pub token_scope: Option<String>,
    /// First-byte and idle timeout.
    pub timeout: Duration,
    /// Retries before output.
    pub max_retries: u32,
    /// The agent's own instructions.
    pub instructions: Option<String>,
}

impl ModelSettings {
    pub(super) fn read(r: &Reader<'_>, args: &ServeArgs, env: &dyn Env) -> Result<Self, ConfigError> {
        let base_url = args
            .model_base_url
            .clone()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| nonempty(env, vars::OPENAI_BASE_URL));
        let default_provider = if base_url.is_some() { "openai" } else { "scripted" };
        let provider = r.parse(&args.model_provider, "model_provider", default_provider.to_string(), |v| match v {
            "scripted" | "openai" | "openai-chat" => Ok(v.to_string()),
            _ => Err("expected scripted, openai or openai-chat".into()),
        })?;
        if provider != "scripted" && base_url.is_none() {
            return Err(ConfigError {
                source_name: r.var("model_base_url"),
                value: String::new(),
                reason: format!("the {provider} model provider needs a base URL"),
            });
        }
        let instructions = match (&args.instructions, &args.instructions_file) {
            (_, Some(path)) if !path.trim().is_empty() => {
                Some(std::fs::read_to_string(path.trim()).map_err(|e| ConfigError {
                    source_name: r.origin("instructions_file"),
                    value: path.clone(),
                    reason: format!("cannot read the file: {e}"),
                })?)
            }
            (Some(text), _) if !text.trim().is_empty() => Some(text.clone()),
            _ => None,
        };
        let openai_key = nonempty(env, vars::OPENAI_API_KEY);
        let azure_key = nonempty(env, vars::AZURE_OPENAI_API_KEY);
        Ok(ModelSettings {
            provider,
            base_url,
            name: args
                .model
                .clone()
                .filter(|m| !m.trim().is_empty())
                .or_else(|| nonempty(env, vars::AZURE_AI_MODEL_DEPLOYMENT_NAME)),
            azure_key: openai_key.is_none() && azure_key.is_some(),
            api_key: openai_key.or(azure_key).map(agenthost_identity::Secret::new),
            token_scope: args.model_token_scope.clone().filter(|v| !v.trim().is_empty()),
            timeout: r.parse(&args.model_timeout, "model_timeout", Duration::from_secs(120), positive_secs)?,
            max_retries: r.parse(&args.model_max_retries, "model_max_retries", 3, |v| {
                v.parse::<u32>().map_err(|_| "expected a whole number".to_string())
            })?,
            instructions,
        })
    }
}
