//! The flags of `agenthost chat`, and their checks beyond what clap does.

use clap::Args;

use crate::exit::EXIT_CODES_HELP;

/// Default server address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8088";

/// Settings of `agenthost chat`: a REPL (or, with `--prompt`, one request) over streaming
/// `POST /responses` that handles OAuth consent and tool approvals.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct ChatArgs {
    /// Server base URL; requests go to <URL>/responses.
    #[arg(long, env = "AGENTHOST_CHAT_URL", value_name = "URL", default_value = DEFAULT_URL)]
    pub url: String,

    /// Agent to address, sent as agent_reference {type, name}.
    #[arg(long, env = "AGENTHOST_CHAT_AGENT", value_name = "NAME")]
    pub agent: Option<String>,

    /// User id sent as the x-agent-user-id header.
    #[arg(long, env = "AGENTHOST_CHAT_USER", value_name = "ID")]
    pub user: Option<String>,

    /// Send x-agent-foundry-call-id: <P>:<n>, n = 1, 2, ... per request.
    #[arg(long, value_name = "P")]
    pub call_id_prefix: Option<String>,

    /// Keep history in this conversation (sent as `conversation`) instead of chaining
    /// previous_response_id.
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,

    /// Send this one prompt, print the answer and exit (non-interactive).
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,

    /// Print the final Response JSON instead of the streamed text.
    #[arg(long)]
    pub json: bool,

    /// Re-sends allowed while the same source keeps asking for consent; then stop (exit 11).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_consent_retries: u32,

    /// Never offer to open consent links in a browser.
    #[arg(long)]
    pub no_browser: bool,

    /// Model name sent as `model` (omitted by default).
    #[arg(long, env = "AGENTHOST_CHAT_MODEL", value_name = "M")]
    pub model: Option<String>,
}

impl Default for ChatArgs {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.to_owned(),
            agent: None,
            user: None,
            call_id_prefix: None,
            conversation: None,
            prompt: None,
            json: false,
            max_consent_retries: 2,
            no_browser: false,
            model: None,
        }
    }
}

impl ChatArgs {
    /// Checks values clap cannot: non-empty names, no control characters. The URL and header
    /// values are checked when the HTTP client is built.
    pub(crate) fn check(&self) -> Result<(), String> {
        let named = [
            ("--agent", &self.agent),
            ("--user", &self.user),
            ("--call-id-prefix", &self.call_id_prefix),
            ("--conversation", &self.conversation),
            ("--model", &self.model),
        ];
        for (flag, value) in named {
            if let Some(v) = value {
                if v.trim().is_empty() {
                    return Err(format!("{flag} must not be empty"));
                }
                if v.chars().any(char::is_control) {
                    return Err(format!("{flag} must not contain control characters"));
                }
            }
        }
        if let Some(p) = &self.prompt
            && p.trim().is_empty()
        {
            return Err("--prompt must not be empty".to_owned());
        }
        Ok(())
    }
}
