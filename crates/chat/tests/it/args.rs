//! The clap surface: defaults, flags and the exit-code table in `--help`.

use agenthost_chat::ChatArgs;
use clap::{CommandFactory, Parser};

#[derive(Parser, Debug)]
#[command(name = "chat")]
struct Cli {
    #[command(flatten)]
    args: ChatArgs,
}

#[test]
fn defaults_match_chat_args_default() {
    let cli = Cli::try_parse_from(["chat"]).expect("parse");
    // The URL may come from AGENTHOST_CHAT_URL in the environment; compare the rest.
    let expected = ChatArgs { url: cli.args.url.clone(), ..ChatArgs::default() };
    assert_eq!(cli.args, expected);
    assert_eq!(cli.args.max_consent_retries, 2);
}

#[test]
fn every_flag_parses() {
    let cli = Cli::try_parse_from([
        "chat",
        "--url",
        "http://h:1",
        "--agent",
        "a",
        "--user",
        "u",
        "--call-id-prefix",
        "p",
        "--conversation",
        "c",
        "--prompt",
        "hi",
        "--json",
        "--max-consent-retries",
        "5",
        "--no-browser",
        "--model",
        "m",
    ])
    .expect("parse");
    assert_eq!(
        cli.args,
        ChatArgs {
            url: "http://h:1".into(),
            agent: Some("a".into()),
            user: Some("u".into()),
            call_id_prefix: Some("p".into()),
            conversation: Some("c".into()),
            prompt: Some("hi".into()),
            json: true,
            max_consent_retries: 5,
            no_browser: true,
            model: Some("m".into()),
        }
    );
}

#[test]
fn a_bad_number_is_a_usage_error() {
    let err = Cli::try_parse_from(["chat", "--max-consent-retries", "-1"]).expect_err("rejected");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn help_lists_the_exit_codes() {
    let help = Cli::command().render_long_help().to_string();
    assert!(help.contains(agenthost_chat::exit::EXIT_CODES_HELP.lines().next().expect("line")));
    for needle in ["  10  consent required", "  11  consent loop stopped", "  12  approval required"] {
        assert!(help.contains(needle), "{needle} in\n{help}");
    }
}
