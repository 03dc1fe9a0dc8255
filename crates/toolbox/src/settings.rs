//! Configuration of the toolbox layer: what the lead's config resolves into, plus the retry
//! tuning and the configuration errors that stop startup.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// When list-time consent is surfaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConsentMode {
    /// Before the model runs: outstanding consent stops the turn and asks the user (the
    /// reference behaviour).
    #[default]
    Eager,
    /// Only when the model picks a gated source: the turn runs with the available tools plus a
    /// sign-in placeholder per gated source, so unrelated turns are never blocked.
    OnUse,
}

impl FromStr for ConsentMode {
    type Err = ParseSettingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "eager" => Ok(ConsentMode::Eager),
            "on-use" | "on_use" | "onuse" => Ok(ConsentMode::OnUse),
            _ => Err(ParseSettingError::new("consent mode", s, "expected eager or on-use")),
        }
    }
}

/// Which toolbox tool calls wait for the user's approval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ApprovalPolicy {
    /// No call waits.
    #[default]
    Never,
    /// Every toolbox call waits.
    Always,
    /// Calls of these tools wait; a name matches the original MCP name or the model-facing name.
    Tools(Vec<String>),
}

impl ApprovalPolicy {
    /// Whether a call of the tool with these names needs approval.
    pub fn requires(&self, original: &str, model_name: &str) -> bool {
        match self {
            ApprovalPolicy::Never => false,
            ApprovalPolicy::Always => true,
            ApprovalPolicy::Tools(names) => names.iter().any(|n| n == original || n == model_name),
        }
    }
}

impl FromStr for ApprovalPolicy {
    type Err = ParseSettingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.eq_ignore_ascii_case("never") {
            return Ok(ApprovalPolicy::Never);
        }
        if trimmed.eq_ignore_ascii_case("always") {
            return Ok(ApprovalPolicy::Always);
        }
        let names: Vec<String> =
            trimmed.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect();
        if names.is_empty() {
            return Err(ParseSettingError::new(
                "approval policy",
                s,
                "expected never, always or a comma-separated list of tool names",
            ));
        }
        Ok(ApprovalPolicy::Tools(names))
    }
}

/// A setting string that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {expected}")]
pub struct ParseSettingError {
    what: &'static str,
    value: String,
    expected: &'static str,
}

impl ParseSettingError {
    fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        Self { what, value: value.to_owned(), expected }
    }
}

/// Everything the toolbox layer needs from configuration.
#[derive(Clone, Debug)]
pub struct ToolboxSettings {
    /// Foundry project endpoint (`FOUNDRY_PROJECT_ENDPOINT`, else `AZURE_AI_PROJECT_ENDPOINT`).
    pub project_endpoint: Option<String>,
    /// `TOOLBOX_ENDPOINT`: the full proxy URL of one toolbox. It is named by the first entry of
    /// `toolboxes`, else by the path segment after `/toolboxes/`.
    pub toolbox_endpoint: Option<String>,
    /// Pre-registered toolboxes; trimmed, blanks dropped, de-duplicated case-insensitively.
    pub toolboxes: Vec<String>,
    /// Toolboxes whose `Unhealthy` state makes the container not ready (added to `toolboxes`
    /// when missing there).
    pub required: Vec<String>,
    /// Reject markers naming toolboxes that are not pre-registered.
    pub strict: bool,
    /// When list-time consent is surfaced.
    pub consent_mode: ConsentMode,
    /// Which calls wait for approval.
    pub approval: ApprovalPolicy,
    /// How long the first listing of pre-registered toolboxes may keep the container unready.
    pub startup_timeout: Duration,
    /// Deadline of one MCP operation (never beyond the request's own deadline).
    pub request_timeout: Duration,
    /// How long a listed tool set is used before it is listed again.
    pub list_ttl: Duration,
    /// How long a hard per-(toolbox, user) listing failure is remembered.
    pub failure_ttl: Duration,
    /// How long a request waits for its user's retry of a `Degraded` toolbox (one that fails for
    /// the container too) before going on without it; the retry continues in the background and
    /// its result serves the user's next request. Only the request that starts the retry waits,
    /// and only when the container's failure is one a user's identity may fix (auth, a 4xx, a
    /// protocol error): an unreachable or hanging toolbox (timeout, connect, 5xx) holds no request.
    pub degraded_wait: Duration,
    /// `FOUNDRY_AGENT_TOOLSET_FEATURES`, merged into `Foundry-Features`.
    pub extra_features: Option<String>,
    /// Accept `http` consent links to loopback hosts (local demos with the mock proxy).
    pub allow_loopback_consent_links: bool,
    /// MCP `clientInfo.name`.
    pub client_name: String,
    /// MCP `clientInfo.version`.
    pub client_version: String,
    /// Most toolboxes opened lazily from markers that are kept at once (LRU beyond that).
    pub max_lazy_toolboxes: usize,
    /// Where listing, consent, retry and MCP metrics go, and the trace context of outbound
    /// requests comes from.
    pub telemetry: agenthost_agent::Telemetry,
}

impl Default for ToolboxSettings {
    fn default() -> Self {
        Self {
            project_endpoint: None,
            toolbox_endpoint: None,
            toolboxes: Vec::new(),
            required: Vec::new(),
            strict: true,
            consent_mode: ConsentMode::Eager,
            approval: ApprovalPolicy::Never,
            startup_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            list_ttl: Duration::from_secs(300),
            failure_ttl: Duration::from_secs(5),
            degraded_wait: Duration::from_secs(1),
            extra_features: None,
            allow_loopback_consent_links: false,
            client_name: "hosted-agent".to_owned(),
            client_version: "1.0.0".to_owned(),
            max_lazy_toolboxes: 64,
            telemetry: agenthost_agent::Telemetry::none(),
        }
    }
}

/// Retry and backoff tuning. The defaults suit production; tests shrink the delays so nothing
/// sleeps for real.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most HTTP attempts of one MCP message (first try included).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles per attempt, with jitter.
    pub base_delay: Duration,
    /// Largest backoff between two attempts.
    pub max_delay: Duration,
    /// Largest `Retry-After` honoured; a longer one fails the request at once.
    pub max_retry_after: Duration,
    /// First delay of the background retry of a `Degraded`/`Unhealthy` toolbox.
    pub background_initial: Duration,
    /// Cap of the background retry delay.
    pub background_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(10),
            background_initial: Duration::from_secs(1),
            background_max: Duration::from_secs(60),
        }
    }
}

/// Why the toolbox layer cannot start with this configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolboxConfigError {
    /// An endpoint is configured but there is no way to get a token for it.
    #[error(
        "a toolbox endpoint is configured but no token provider is available: set AGENTHOST_TOOLBOX_TOKEN or configure managed/workload identity"
    )]
    MissingTokenProvider,
    /// An endpoint URL is unusable.
    #[error("invalid {setting} {value:?}: {reason}")]
    InvalidEndpoint {
        /// Which setting (`FOUNDRY_PROJECT_ENDPOINT`, `TOOLBOX_ENDPOINT`).
        setting: &'static str,
        /// The value as configured.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A configured toolbox name is not one safe URL path segment.
    #[error("invalid toolbox name {name:?}: {reason}")]
    InvalidToolboxName {
        /// The name as configured.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// `FOUNDRY_AGENT_TOOLSET_FEATURES` cannot be sent as a header.
    #[error("invalid FOUNDRY_AGENT_TOOLSET_FEATURES: {0}")]
    InvalidFeatures(String),
    /// The HTTP client could not be built.
    #[error("cannot build the toolbox HTTP client: {0}")]
    HttpClient(String),
}

impl fmt::Display for ConsentMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConsentMode::Eager => "eager",
            ConsentMode::OnUse => "on-use",
        })
    }
}

/// Longest duration any setting may take, so that deadlines never overflow.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// `d`, capped at a year.
pub(crate) fn bounded(d: Duration) -> Duration {
    d.min(MAX_DURATION)
}

impl RetryPolicy {
    /// The policy with every duration capped (and at least one attempt).
    pub(crate) fn bounded(self) -> Self {
        Self {
            max_attempts: self.max_attempts.max(1),
            base_delay: bounded(self.base_delay),
            max_delay: bounded(self.max_delay),
            max_retry_after: bounded(self.max_retry_after),
            background_initial: bounded(self.background_initial),
            background_max: bounded(self.background_max),
        }
    }
}

/// Trims names, drops blanks and keeps the first spelling of case-insensitive duplicates.
pub(crate) fn dedupe_names<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        if name.is_empty() || out.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            continue;
        }
        out.push(name.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_mode_parses() {
        assert_eq!("eager".parse(), Ok(ConsentMode::Eager));
        assert_eq!(" On-Use ".parse(), Ok(ConsentMode::OnUse));
        assert!("lazy".parse::<ConsentMode>().is_err());
    }

    #[test]
    fn approval_policy_parses() {
        assert_eq!("never".parse(), Ok(ApprovalPolicy::Never));
        assert_eq!("ALWAYS".parse(), Ok(ApprovalPolicy::Always));
        assert_eq!(
            "send_email, ,demo_echo".parse(),
            Ok(ApprovalPolicy::Tools(vec!["send_email".into(), "demo_echo".into()]))
        );
        assert!(" , ".parse::<ApprovalPolicy>().is_err());
        let p = ApprovalPolicy::Tools(vec!["send.email".into()]);
        assert!(p.requires("send.email", "send_email"));
        assert!(!p.requires("echo", "echo"));
        assert!(ApprovalPolicy::Always.requires("a", "a"));
        assert!(!ApprovalPolicy::Never.requires("a", "a"));
    }

    #[test]
    fn names_are_deduplicated_case_insensitively() {
        let names = vec![" Sales".to_owned(), "".to_owned(), "sales".to_owned(), "hr".to_owned(), "  ".to_owned()];
        assert_eq!(dedupe_names(&names), vec!["Sales", "hr"]);
    }

    #[test]
    fn durations_are_bounded() {
        assert_eq!(bounded(Duration::MAX), MAX_DURATION);
        assert_eq!(bounded(Duration::from_secs(3)), Duration::from_secs(3));
        let p = RetryPolicy { max_attempts: 0, background_max: Duration::MAX, ..RetryPolicy::default() }.bounded();
        assert_eq!(p.max_attempts, 1);
        assert_eq!(p.background_max, MAX_DURATION);
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let s = ToolboxSettings::default();
        assert!(s.strict);
        assert_eq!(s.startup_timeout, Duration::from_secs(5));
        assert_eq!(s.request_timeout, Duration::from_secs(30));
        assert_eq!(s.list_ttl, Duration::from_secs(300));
        assert_eq!(s.failure_ttl, Duration::from_secs(5));
        assert_eq!(s.max_lazy_toolboxes, 64);
        assert_eq!(s.client_name, "hosted-agent");
        assert_eq!(s.client_version, "1.0.0");
    }
}
