//! Validated configuration, read per section. Raw text from flags and the environment becomes
//! typed settings here; a bad value is an error that names the flag or variable it came from.
//!
//! Every name is written once: flags and their variables in the clap definition (`cli.rs`),
//! variables read without a flag in [`vars`]. A test checks `--help` and the README's table
//! against both.

mod limits;
pub mod mcp;
mod model;
mod read;
mod store;
mod toolbox;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use agenthost_store::MemoryStoreConfig;
use clap::ArgMatches;

pub use self::limits::Limits;
pub use self::mcp::McpSettings;
pub use self::model::ModelSettings;
use self::read::{Reader, non_negative, parse_port, positive, positive_secs, positive_usize};
pub use self::store::StoreBackend;
pub use self::toolbox::ToolboxConfig;
use crate::cli::ServeArgs;
pub use crate::env::{ConfigError, Env, ProcessEnv};

/// Variables read directly, without a flag (the platform's names).
pub mod vars {
    /// Legacy API port, used when `PORT` is unset.
    pub const DEFAULT_AD_PORT: &str = "DEFAULT_AD_PORT";
    /// Non-empty: hosted by Foundry.
    pub const FOUNDRY_HOSTING_ENVIRONMENT: &str = "FOUNDRY_HOSTING_ENVIRONMENT";
    /// Agent name echoed in `agent_reference`.
    pub const FOUNDRY_AGENT_NAME: &str = "FOUNDRY_AGENT_NAME";
    /// Agent version echoed in `agent_reference`.
    pub const FOUNDRY_AGENT_VERSION: &str = "FOUNDRY_AGENT_VERSION";
    /// Session id stamped on every response.
    pub const FOUNDRY_AGENT_SESSION_ID: &str = "FOUNDRY_AGENT_SESSION_ID";
    /// Comma list of toolboxes to pre-register.
    pub const TOOLBOX_NAME: &str = "TOOLBOX_NAME";
    /// Full proxy URL of one toolbox.
    pub const TOOLBOX_ENDPOINT: &str = "TOOLBOX_ENDPOINT";
    /// Project endpoint when `FOUNDRY_PROJECT_ENDPOINT` is unset.
    pub const AZURE_AI_PROJECT_ENDPOINT: &str = "AZURE_AI_PROJECT_ENDPOINT";
    /// Extra `Foundry-Features` flags for toolbox calls.
    pub const FOUNDRY_AGENT_TOOLSET_FEATURES: &str = "FOUNDRY_AGENT_TOOLSET_FEATURES";
    /// Model base URL when `AGENTHOST_MODEL_BASE_URL` is unset.
    pub const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
    /// Model name when `AGENTHOST_MODEL` is unset.
    pub const AZURE_AI_MODEL_DEPLOYMENT_NAME: &str = "AZURE_AI_MODEL_DEPLOYMENT_NAME";
    /// Model API key.
    pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
    /// Azure OpenAI API key, sent as `api-key`.
    pub const AZURE_OPENAI_API_KEY: &str = "AZURE_OPENAI_API_KEY";
    /// Database password when the store URL has none.
    pub const PGPASSWORD: &str = "PGPASSWORD";

    /// Every name above (the drift test checks `--help` and the README against it).
    #[cfg(test)]
    pub const ALL: [&str; 14] = [
        DEFAULT_AD_PORT,
        FOUNDRY_HOSTING_ENVIRONMENT,
        FOUNDRY_AGENT_NAME,
        FOUNDRY_AGENT_VERSION,
        FOUNDRY_AGENT_SESSION_ID,
        TOOLBOX_NAME,
        TOOLBOX_ENDPOINT,
        AZURE_AI_PROJECT_ENDPOINT,
        FOUNDRY_AGENT_TOOLSET_FEATURES,
        OPENAI_BASE_URL,
        AZURE_AI_MODEL_DEPLOYMENT_NAME,
        OPENAI_API_KEY,
        AZURE_OPENAI_API_KEY,
        PGPASSWORD,
    ];
}

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

impl Platform {
    /// `gen_ai.agent.id`: `{name}:{version}` when the platform names both.
    pub fn agent_id(&self) -> Option<String> {
        Some(format!("{}:{}", self.agent_name.as_deref()?, self.agent_version.as_deref()?))
    }

    fn read(env: &dyn Env) -> Self {
        Platform {
            hosted: nonempty(env, vars::FOUNDRY_HOSTING_ENVIRONMENT).is_some(),
            agent_name: nonempty(env, vars::FOUNDRY_AGENT_NAME),
            agent_version: nonempty(env, vars::FOUNDRY_AGENT_VERSION),
            session_id: nonempty(env, vars::FOUNDRY_AGENT_SESSION_ID),
        }
    }
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
    /// In-memory store limits (the TTL and count cap apply to every backend).
    pub store: MemoryStoreConfig,
    /// Which store backend.
    pub store_backend: StoreBackend,
    /// `--check`: check the store and exit.
    pub check: bool,
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
    /// Whether `/conversations` is served.
    pub conversations_api: bool,
    /// Traces: OTLP export, resource, sampling, content capture (`OTEL_*`).
    pub telemetry: crate::telemetry::Settings,
    /// The workload / managed identity variables token providers are chosen from.
    pub identity: agenthost_identity::IdentityVars,
    /// `AGENTHOST_PLAYGROUND`: serve the browser playground at `/playground`.
    pub playground: bool,
    /// Edge limits: body timeout, concurrent runs and streams.
    pub limits: Limits,
    /// Request `mcp` tools by URL: on/off, outbound safety, timeouts, pool.
    pub mcp: McpSettings,
}

/// The trimmed value of `key`, if set and not blank.
fn nonempty(env: &dyn Env, key: &str) -> Option<String> {
    env.get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl Config {
    /// Builds the configuration from parsed arguments (clap has already merged flags with their
    /// variables) and the platform variables in `env`.
    pub fn from_args(args: &ServeArgs, matches: Option<&ArgMatches>, env: &dyn Env) -> Result<Config, ConfigError> {
        let r = Reader::new(matches);
        let host: IpAddr = r.parse(&args.host, "host", IpAddr::from([0, 0, 0, 0]), |v| {
            v.parse().map_err(|_| "expected an IP address".to_string())
        })?;
        let backend = ModelSettings::read(&r, args, env)?;
        let platform = Platform::read(env);
        let limits = store_limits(&r, args)?;
        Ok(Config {
            listen: SocketAddr::new(host, api_port(&r, args, env)?),
            metrics_listen: SocketAddr::new(host, r.parse(&args.metrics_port, "metrics_port", 9464, parse_port)?),
            route_prefix: r.parse(&args.route_prefix, "route_prefix", None, |v| {
                let trimmed = v.trim_end_matches('/');
                if trimmed.is_empty() {
                    Ok(None)
                } else if !trimmed.starts_with('/') || trimmed.contains(['?', '#', '{', '}', ' ']) {
                    Err("expected a path such as /openai/v1".into())
                } else {
                    Ok(Some(trimmed.to_string()))
                }
            })?,
            max_body_bytes: r.parse(&args.max_body_bytes, "max_body_bytes", 16 * 1024 * 1024, positive_usize)?,
            sse_keepalive: Some(r.parse(&args.sse_keepalive_interval, "sse_keepalive_interval", 0, non_negative)?)
                .filter(|&s| s > 0)
                .map(Duration::from_secs),
            drain_timeout: Duration::from_secs(r.parse(&args.drain_timeout, "drain_timeout", 30, non_negative)?),
            response_timeout: r.parse(
                &args.response_timeout,
                "response_timeout",
                Duration::from_secs(600),
                positive_secs,
            )?,
            max_tool_iterations: r.parse(&args.max_tool_iterations, "max_tool_iterations", 10, positive_usize)?,
            store_backend: StoreBackend::read(&r, args, env, &limits)?,
            store: limits,
            check: args.check,
            model: backend.name.clone(),
            backend,
            scripted_pace: Duration::from_millis(r.parse(&args.scripted_pace_ms, "scripted_pace_ms", 0, |v| {
                v.parse::<u64>().map_err(|_| "expected a whole number of milliseconds".to_string())
            })?),
            json_logs: r.parse(&args.log_format, "log_format", false, |v| match v {
                "json" => Ok(true),
                "text" | "" => Ok(false),
                _ => Err("expected text or json".into()),
            })?,
            state_dir: match &args.state_dir {
                Some(dir) if !dir.trim().is_empty() => PathBuf::from(dir),
                _ => std::env::temp_dir().join("agenthost"),
            },
            conversations_api: r
                .parse(&args.conversations_api, "conversations_api", None, |v| match v {
                    "auto" | "" => Ok(None),
                    "on" | "true" => Ok(Some(true)),
                    "off" | "false" => Ok(Some(false)),
                    _ => Err("expected auto, on or off".into()),
                })?
                .unwrap_or(!platform.hosted),
            platform,
            toolbox: ToolboxConfig::read(&r, args, env)?,
            telemetry: crate::telemetry::Settings::from_env(env)?,
            identity: agenthost_identity::IdentityVars::read(|k| env.get(k)),
            playground: r.parse(&args.playground, "playground", false, read::boolean)?,
            limits: Limits::read(&r, args)?,
            mcp: McpSettings::read(&r, args)?,
        })
    }
}

/// `--port`/`PORT`, else the legacy `DEFAULT_AD_PORT`, else 8088.
fn api_port(r: &Reader<'_>, args: &ServeArgs, env: &dyn Env) -> Result<u16, ConfigError> {
    match env.get(vars::DEFAULT_AD_PORT).filter(|_| args.port.is_none()) {
        Some(v) => parse_port(v.trim()).map_err(|reason| ConfigError {
            source_name: vars::DEFAULT_AD_PORT.into(),
            value: v.clone(),
            reason,
        }),
        None => r.parse(&args.port, "port", 8088, parse_port),
    }
}

/// The in-memory store's caps and TTL.
fn store_limits(r: &Reader<'_>, args: &ServeArgs) -> Result<MemoryStoreConfig, ConfigError> {
    let defaults = MemoryStoreConfig::default();
    Ok(MemoryStoreConfig {
        max_responses: r.parse(
            &args.store_max_responses,
            "store_max_responses",
            defaults.max_responses,
            positive_usize,
        )?,
        max_bytes: r.parse(&args.store_max_bytes, "store_max_bytes", defaults.max_bytes, positive_usize)?,
        ttl: r.parse(&args.store_ttl, "store_ttl", defaults.ttl, |v| positive(v).map(Duration::from_secs))?,
    })
}

#[cfg(test)]
mod tests {
    use clap::Args;

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

    /// The README's configuration table, as (variables, flags) per row.
    fn readme_rows() -> Vec<(Vec<String>, Vec<String>)> {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let table = readme.split("| variable | flag | default | meaning |").nth(1).expect("the table");
        table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|row| {
                let cells: Vec<&str> = row.split('|').collect();
                let names =
                    |cell: &str| -> Vec<String> { cell.split('`').skip(1).step_by(2).map(str::to_string).collect() };
                (names(cells[1]), names(cells[2]).into_iter().filter(|f| f.starts_with("--")).collect())
            })
            .collect()
    }

    #[test]
    fn readme_table_help_and_clap_agree() {
        use clap::CommandFactory;
        let rows = readme_rows();
        let serve = ServeArgs::augment_args(clap::Command::new("serve"));
        let mut flags_in_clap = Vec::new();
        for arg in serve.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let flag = format!("--{long}");
            flags_in_clap.push(flag.clone());
            let row = rows.iter().find(|(_, flags)| flags.contains(&flag));
            let Some((row_vars, _)) = row else { panic!("README table has no row for {flag}") };
            if let Some(var) = arg.get_env() {
                let var = var.to_string_lossy().into_owned();
                assert!(row_vars.contains(&var), "README row of {flag} does not name {var}: {row_vars:?}");
            }
        }
        for (_, flags) in &rows {
            for flag in flags {
                assert!(flags_in_clap.contains(flag), "README names {flag}, which `serve` does not have");
            }
        }
        let mut help = Vec::new();
        crate::cli::Cli::command().find_subcommand_mut("serve").expect("serve").write_long_help(&mut help).unwrap();
        let help = String::from_utf8(help).unwrap();
        let readme_vars: Vec<&String> = rows.iter().flat_map(|(v, _)| v).collect();
        for var in vars::ALL.iter().chain([&agenthost_identity::TOOLBOX_TOKEN_VAR]) {
            assert!(help.contains(var), "`serve --help` does not mention {var}");
            assert!(readme_vars.iter().any(|v| v == var), "README table does not mention {var}");
        }
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
        let a = ServeArgs { store: Some("memory".into()), ..args() };
        let c = Config::from_args(&a, None, &env).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert!(c.platform.hosted);
        assert_eq!(c.platform.agent_name.as_deref(), Some("a"));
    }

    #[test]
    fn foundry_is_the_hosted_default_and_needs_the_project_endpoint() {
        let hosted = HashMap::from([("FOUNDRY_HOSTING_ENVIRONMENT", "1")]);
        let endpoint = |e: &str| ServeArgs { project_endpoint: Some(e.into()), ..args() };
        let c = Config::from_args(&endpoint("https://a.services.ai.azure.com/api/projects/p"), None, &hosted).unwrap();
        assert!(
            matches!(&c.store_backend, StoreBackend::Foundry(o) if o.endpoint == "https://a.services.ai.azure.com/api/projects/p")
        );
        assert_eq!(c.store_backend.describe(), "https://a.services.ai.azure.com/api/projects/p/storage");
        // Not hosted: memory unless named.
        let c = Config::from_args(&endpoint("https://a.example/p"), None, &HashMap::new()).unwrap();
        assert!(matches!(c.store_backend, StoreBackend::Memory));
        let named = ServeArgs { store: Some("foundry".into()), ..endpoint("http://127.0.0.1:9/p") };
        assert!(matches!(
            Config::from_args(&named, None, &HashMap::new()).unwrap().store_backend,
            StoreBackend::Foundry(_)
        ));
        // Hosted with another store named: that store.
        let memory = ServeArgs { store: Some("memory".into()), ..args() };
        assert!(matches!(Config::from_args(&memory, None, &hosted).unwrap().store_backend, StoreBackend::Memory));

        let e = Config::from_args(&args(), None, &hosted).unwrap_err();
        assert_eq!(e.source_name, "FOUNDRY_HOSTING_ENVIRONMENT");
        assert!(e.to_string().contains("needs FOUNDRY_PROJECT_ENDPOINT"), "{e}");
        let e = Config::from_args(&ServeArgs { store: Some("foundry".into()), ..args() }, None, &HashMap::new())
            .unwrap_err();
        assert_eq!(e.source_name, "--store");
        assert!(e.to_string().contains("needs FOUNDRY_PROJECT_ENDPOINT"), "{e}");
        let e = Config::from_args(&endpoint("http://a.example/p"), None, &hosted).unwrap_err();
        assert_eq!(e.source_name, "--project-endpoint");
        assert!(e.to_string().contains("must be https"), "{e}");
        let e = Config::from_args(&ServeArgs { store: Some("dynamo".into()), ..args() }, None, &HashMap::new())
            .unwrap_err();
        assert!(e.to_string().contains("expected memory, foundry or a postgres:// URL"), "{e}");
    }

    #[test]
    fn route_prefix_is_normalised() {
        let a = ServeArgs { route_prefix: Some("/openai/v1/".into()), ..args() };
        assert_eq!(Config::from_args(&a, None, &HashMap::new()).unwrap().route_prefix.as_deref(), Some("/openai/v1"));
        let a = ServeArgs { route_prefix: Some("openai".into()), ..args() };
        assert!(Config::from_args(&a, None, &HashMap::new()).is_err());
    }
}
