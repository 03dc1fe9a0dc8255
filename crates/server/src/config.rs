//! Validated configuration. Raw text from flags and the environment becomes typed settings here;
//! a bad value is an error that names the flag or variable it came from.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::ArgMatches;
use clap::parser::ValueSource;

use crate::cli::ServeArgs;

/// Hosted-platform facts read from Foundry's variables.
#[derive(Clone, Debug, Default)]
pub struct Platform {
    /// `FOUNDRY_HOSTING_ENVIRONMENT` is non-empty.
    pub hosted: bool,
    /// `FOUNDRY_AGENT_NAME`.
    pub agent_name: Option<String>,
    /// `FOUNDRY_AGENT_VERSION`.
    pub agent_version: Option<String>,
    /// `FOUNDRY_AGENT_SESSION_ID`.
    pub session_id: Option<String>,
}

/// Everything `serve` needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// API listener.
    pub listen: SocketAddr,
    /// Metrics listener.
    pub metrics_listen: SocketAddr,
    /// Extra mount point of the Responses routes (`/openai/v1`), if any.
    pub route_prefix: Option<String>,
    /// Body size limit.
    pub max_body_bytes: usize,
    /// SSE keep-alive period.
    pub sse_keepalive: Option<Duration>,
    /// Drain budget after SIGTERM.
    pub drain_timeout: Duration,
    /// Deadline of one response.
    pub response_timeout: Duration,
    /// Most model calls per response.
    pub max_tool_iterations: usize,
    /// In-memory store limits.
    pub store: agenthost_store::MemoryStoreConfig,
    /// Default model name to echo.
    pub model: Option<String>,
    /// The model backend.
    pub backend: ModelSettings,
    /// Scripted model pacing.
    pub scripted_pace: Duration,
    /// JSON logs.
    pub json_logs: bool,
    /// Where the server may write.
    pub state_dir: PathBuf,
    /// Hosted-platform facts.
    pub platform: Platform,
    /// Toolbox settings, as validated text (the toolbox crate parses its own enums).
    pub toolbox: ToolboxConfig,
    /// Traces: OTLP export, resource, sampling, content capture (`OTEL_*`).
    pub telemetry: crate::telemetry::Settings,
    /// The workload / managed identity variables token providers are chosen from.
    pub identity: agenthost_identity::IdentityVars,
}

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

/// A setting could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid value {value:?} for {source_name}: {reason}")]
pub struct ConfigError {
    /// The flag or environment variable, e.g. `PORT` or `--port`.
    pub source_name: String,
    /// The offending value.
    pub value: String,
    /// What a valid value looks like.
    pub reason: String,
}

/// Reads the process environment; the only place this crate touches it.
pub trait Env {
    /// The variable's value, if set.
    fn get(&self, key: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

struct Reader<'a> {
    matches: Option<&'a ArgMatches>,
}

impl Reader<'_> {
    /// Where the value of `id` came from, for error messages.
    fn origin(&self, id: &str, flag: &str, var: &str) -> String {
        match self.matches.and_then(|m| m.value_source(id)) {
            Some(ValueSource::EnvVariable) => var.to_string(),
            _ => flag.to_string(),
        }
    }

    fn parse<T>(
        &self,
        raw: &Option<String>,
        id: &str,
        flag: &str,
        var: &str,
        default: T,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match raw {
            None => Ok(default),
            Some(v) => check(v.trim()).map_err(|reason| ConfigError {
                source_name: self.origin(id, flag, var),
                value: v.clone(),
                reason,
            }),
        }
    }
}

fn parse_port(v: &str) -> Result<u16, String> {
    match v.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err("expected a port number from 1 to 65535".into()),
    }
}

fn positive(v: &str) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a positive whole number".into()),
    }
}

fn boolean(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn comma_list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn non_negative(v: &str) -> Result<u64, String> {
    v.parse::<u64>().map_err(|_| "expected a whole number of seconds (0 or more)".into())
}

impl Config {
    /// Builds the configuration from parsed arguments (clap has already merged flags with their
    /// variables) and the platform variables in `env`.
    pub fn from_args(args: &ServeArgs, matches: Option<&ArgMatches>, env: &dyn Env) -> Result<Config, ConfigError> {
        let r = Reader { matches };
        let host: IpAddr =
            r.parse(&args.host, "host", "--host", "AGENTHOST_HOST", IpAddr::from([0, 0, 0, 0]), |v| {
                v.parse().map_err(|_| "expected an IP address".to_string())
            })?;
        let legacy_port = if args.port.is_none() { env.get("DEFAULT_AD_PORT") } else { None };
        let port = match legacy_port {
            Some(v) => parse_port(v.trim()).map_err(|reason| ConfigError {
                source_name: "DEFAULT_AD_PORT".into(),
                value: v.clone(),
                reason,
            })?,
            None => r.parse(&args.port, "port", "--port", "PORT", 8088, parse_port)?,
        };
        let metrics_port =
            r.parse(&args.metrics_port, "metrics_port", "--metrics-port", "AGENTHOST_METRICS_PORT", 9464, parse_port)?;
        let route_prefix =
            r.parse(&args.route_prefix, "route_prefix", "--route-prefix", "AGENTHOST_ROUTE_PREFIX", None, |v| {
                let trimmed = v.trim_end_matches('/');
                if trimmed.is_empty() {
                    Ok(None)
                } else if !trimmed.starts_with('/') || trimmed.contains(['?', '#', '{', '}', ' ']) {
                    Err("expected a path such as /openai/v1".into())
                } else {
                    Ok(Some(trimmed.to_string()))
                }
            })?;
        let max_body_bytes = r.parse(
            &args.max_body_bytes,
            "max_body_bytes",
            "--max-body-bytes",
            "AGENTHOST_MAX_BODY_BYTES",
            16 * 1024 * 1024,
            |v| positive(v).map(|n| n as usize),
        )?;
        let keepalive = r.parse(
            &args.sse_keepalive_interval,
            "sse_keepalive_interval",
            "--sse-keepalive-interval",
            "SSE_KEEPALIVE_INTERVAL",
            0,
            non_negative,
        )?;
        let drain = r.parse(
            &args.drain_timeout,
            "drain_timeout",
            "--drain-timeout",
            "AGENTHOST_DRAIN_TIMEOUT",
            30,
            non_negative,
        )?;
        let response_timeout = r.parse(
            &args.response_timeout,
            "response_timeout",
            "--response-timeout",
            "AGENTHOST_RESPONSE_TIMEOUT",
            600,
            positive,
        )?;
        let max_tool_iterations = r.parse(
            &args.max_tool_iterations,
            "max_tool_iterations",
            "--max-tool-iterations",
            "AGENTHOST_MAX_TOOL_ITERATIONS",
            10,
            |v| positive(v).map(|n| n as usize),
        )?;
        let defaults = agenthost_store::MemoryStoreConfig {
            max_bytes: agenthost_store::MemoryStoreConfig::default().max_bytes,
            ..agenthost_store::MemoryStoreConfig::default()
        };
        let store = agenthost_store::MemoryStoreConfig {
            max_responses: r.parse(
                &args.store_max_responses,
                "store_max_responses",
                "--store-max-responses",
                "AGENTHOST_STORE_MAX_RESPONSES",
                defaults.max_responses,
                |v| positive(v).map(|n| n as usize),
            )?,
            max_bytes: r.parse(
                &args.store_max_bytes,
                "store_max_bytes",
                "--store-max-bytes",
                "AGENTHOST_STORE_MAX_BYTES",
                defaults.max_bytes,
                |v| positive(v).map(|n| n as usize),
            )?,
            ttl: r.parse(&args.store_ttl, "store_ttl", "--store-ttl", "AGENTHOST_STORE_TTL", defaults.ttl, |v| {
                positive(v).map(Duration::from_secs)
            })?,
        };
        let json_logs =
            r.parse(&args.log_format, "log_format", "--log-format", "AGENTHOST_LOG_FORMAT", false, |v| match v {
                "json" => Ok(true),
                "text" | "" => Ok(false),
                _ => Err("expected text or json".into()),
            })?;
        let state_dir = match &args.state_dir {
            Some(dir) if !dir.trim().is_empty() => PathBuf::from(dir),
            _ => std::env::temp_dir().join("agenthost"),
        };
        let nonempty = |k: &str| env.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut names = nonempty("TOOLBOX_NAME").map(|v| comma_list(&v)).unwrap_or_default();
        names.extend(args.toolboxes.iter().flat_map(|t| comma_list(t)));
        let toolbox = ToolboxConfig {
            project_endpoint: args
                .project_endpoint
                .clone()
                .filter(|v| !v.trim().is_empty())
                .or_else(|| nonempty("AZURE_AI_PROJECT_ENDPOINT")),
            toolbox_endpoint: nonempty("TOOLBOX_ENDPOINT"),
            names,
            required: args.required_toolboxes.as_deref().map(comma_list).unwrap_or_default(),
            strict: r.parse(
                &args.toolbox_strict,
                "toolbox_strict",
                "--toolbox-strict",
                "AGENTHOST_TOOLBOX_STRICT",
                true,
                boolean,
            )?,
            consent_mode: r.parse(
                &args.consent_mode,
                "consent_mode",
                "--consent-mode",
                "AGENTHOST_CONSENT_MODE",
                "eager".to_string(),
                |v| match v {
                    "eager" | "on-use" => Ok(v.to_string()),
                    _ => Err("expected eager or on-use".into()),
                },
            )?,
            require_approval: r.parse(
                &args.require_approval,
                "require_approval",
                "--require-approval",
                "AGENTHOST_REQUIRE_APPROVAL",
                "never".to_string(),
                |v| {
                    if v.is_empty() {
                        Err("expected never, always or a list of tool names".into())
                    } else {
                        Ok(v.to_string())
                    }
                },
            )?,
            startup_timeout: r.parse(
                &args.toolbox_startup_timeout,
                "toolbox_startup_timeout",
                "--toolbox-startup-timeout",
                "AGENTHOST_TOOLBOX_STARTUP_TIMEOUT",
                Duration::from_secs(5),
                |v| positive(v).map(Duration::from_secs),
            )?,
            request_timeout: r.parse(
                &args.toolbox_request_timeout,
                "toolbox_request_timeout",
                "--toolbox-request-timeout",
                "AGENTHOST_TOOLBOX_REQUEST_TIMEOUT",
                Duration::from_secs(30),
                |v| positive(v).map(Duration::from_secs),
            )?,
            degraded_wait: r.parse(
                &args.toolbox_degraded_wait_ms,
                "toolbox_degraded_wait_ms",
                "--toolbox-degraded-wait-ms",
                "AGENTHOST_TOOLBOX_DEGRADED_WAIT_MS",
                Duration::from_secs(1),
                |v| v.parse::<u64>().map(Duration::from_millis).map_err(|_| "expected milliseconds".to_string()),
            )?,
            allow_loopback_consent_links: r.parse(
                &args.allow_loopback_consent_links,
                "allow_loopback_consent_links",
                "--allow-loopback-consent-links",
                "AGENTHOST_ALLOW_LOOPBACK_CONSENT_LINKS",
                false,
                boolean,
            )?,
            extra_features: nonempty("FOUNDRY_AGENT_TOOLSET_FEATURES"),
            token: nonempty(agenthost_identity::TOOLBOX_TOKEN_VAR).map(agenthost_identity::Secret::new),
        };
        let base_url =
            args.model_base_url.clone().filter(|v| !v.trim().is_empty()).or_else(|| nonempty("OPENAI_BASE_URL"));
        let provider = r.parse(
            &args.model_provider,
            "model_provider",
            "--model-provider",
            "AGENTHOST_MODEL_PROVIDER",
            if base_url.is_some() { "openai".to_string() } else { "scripted".to_string() },
            |v| match v {
                "scripted" | "openai" | "openai-chat" => Ok(v.to_string()),
                _ => Err("expected scripted, openai or openai-chat".into()),
            },
        )?;
        if provider != "scripted" && base_url.is_none() {
            return Err(ConfigError {
                source_name: "AGENTHOST_MODEL_BASE_URL".into(),
                value: String::new(),
                reason: format!("the {provider} model provider needs a base URL"),
            });
        }
        let instructions = match (&args.instructions, &args.instructions_file) {
            (_, Some(path)) if !path.trim().is_empty() => {
                Some(std::fs::read_to_string(path.trim()).map_err(|e| ConfigError {
                    source_name: r.origin("instructions_file", "--instructions-file", "AGENTHOST_INSTRUCTIONS_FILE"),
                    value: path.clone(),
                    reason: format!("cannot read the file: {e}"),
                })?)
            }
            (Some(text), _) if !text.trim().is_empty() => Some(text.clone()),
            _ => None,
        };
        let model_name =
            args.model.clone().filter(|m| !m.trim().is_empty()).or_else(|| nonempty("AZURE_AI_MODEL_DEPLOYMENT_NAME"));
        let backend = ModelSettings {
            provider,
            base_url,
            name: model_name.clone(),
            api_key: nonempty("OPENAI_API_KEY")
                .or_else(|| nonempty("AZURE_OPENAI_API_KEY"))
                .map(agenthost_identity::Secret::new),
            azure_key: nonempty("OPENAI_API_KEY").is_none() && nonempty("AZURE_OPENAI_API_KEY").is_some(),
            token_scope: args.model_token_scope.clone().filter(|v| !v.trim().is_empty()),
            timeout: r.parse(
                &args.model_timeout,
                "model_timeout",
                "--model-timeout",
                "AGENTHOST_MODEL_TIMEOUT",
                Duration::from_secs(120),
                |v| positive(v).map(Duration::from_secs),
            )?,
            max_retries: r.parse(
                &args.model_max_retries,
                "model_max_retries",
                "--model-max-retries",
                "AGENTHOST_MODEL_MAX_RETRIES",
                3,
                |v| v.parse::<u32>().map_err(|_| "expected a whole number".to_string()),
            )?,
            instructions,
        };
        Ok(Config {
            telemetry: crate::telemetry::Settings::from_env(env)?,
            identity: agenthost_identity::IdentityVars::read(|k| env.get(k)),
            backend,
            toolbox,
            listen: SocketAddr::new(host, port),
            metrics_listen: SocketAddr::new(host, metrics_port),
            route_prefix,
            max_body_bytes,
            sse_keepalive: (keepalive > 0).then(|| Duration::from_secs(keepalive)),
            drain_timeout: Duration::from_secs(drain),
            response_timeout: Duration::from_secs(response_timeout),
            max_tool_iterations,
            store,
            scripted_pace: Duration::from_millis(r.parse(
                &args.scripted_pace_ms,
                "scripted_pace_ms",
                "--scripted-pace-ms",
                "AGENTHOST_SCRIPTED_PACE_MS",
                0,
                |v| v.parse::<u64>().map_err(|_| "expected a whole number of milliseconds".to_string()),
            )?),
            model: model_name,
            json_logs,
            state_dir,
            platform: Platform {
                hosted: nonempty("FOUNDRY_HOSTING_ENVIRONMENT").is_some(),
                agent_name: nonempty("FOUNDRY_AGENT_NAME"),
                agent_version: nonempty("FOUNDRY_AGENT_VERSION"),
                session_id: nonempty("FOUNDRY_AGENT_SESSION_ID"),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    impl Env for HashMap<&str, &str> {
        fn get(&self, key: &str) -> Option<String> {
            HashMap::get(self, key).map(|v| v.to_string())
        }
    }

    fn args() -> ServeArgs {
        ServeArgs::default()
    }

    #[test]
    fn defaults() {
        let c = Config::from_args(&args(), None, &HashMap::new()).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8088");
        assert_eq!(c.metrics_listen.port(), 9464);
        assert_eq!(c.drain_timeout, Duration::from_secs(30));
        assert!(c.sse_keepalive.is_none() && !c.platform.hosted);
    }

    #[test]
    fn bad_ports_name_their_source() {
        for bad in ["0", "70000", "http"] {
            let a = ServeArgs { port: Some(bad.into()), ..args() };
            let e = Config::from_args(&a, None, &HashMap::new()).unwrap_err();
            assert_eq!(e.source_name, "--port");
            assert!(e.to_string().contains(bad));
        }
        let env = HashMap::from([("DEFAULT_AD_PORT", "x")]);
        assert_eq!(Config::from_args(&args(), None, &env).unwrap_err().source_name, "DEFAULT_AD_PORT");
    }

    #[test]
    fn legacy_port_and_platform_variables() {
        let env = HashMap::from([
            ("DEFAULT_AD_PORT", "9000"),
            ("FOUNDRY_HOSTING_ENVIRONMENT", "1"),
            ("FOUNDRY_AGENT_NAME", "a"),
        ]);
        let c = Config::from_args(&args(), None, &env).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert!(c.platform.hosted);
        assert_eq!(c.platform.agent_name.as_deref(), Some("a"));
    }

    #[test]
    fn route_prefix_is_normalised() {
        let a = ServeArgs { route_prefix: Some("/openai/v1/".into()), ..args() };
        assert_eq!(Config::from_args(&a, None, &HashMap::new()).unwrap().route_prefix.as_deref(), Some("/openai/v1"));
        let a = ServeArgs { route_prefix: Some("openai".into()), ..args() };
        assert!(Config::from_args(&a, None, &HashMap::new()).is_err());
    }
}
