//! Scenario parsing: the README example, defaults, JSON, typos and inconsistencies.

use agenthost_mock_proxy::{Auth, Behaviour, Mode, Placement, Scenario, ScenarioError, demo_scenario};
use serde_json::json;

/// The first ```toml block of the README.
fn readme_example() -> String {
    let readme = include_str!("../../README.md");
    let start = readme.find("```toml\n").expect("toml block") + "```toml\n".len();
    let len = readme[start..].find("```").expect("block end");
    readme[start..start + len].to_owned()
}

#[test]
fn readme_example_parses_with_every_option() {
    let s = Scenario::from_toml_str(&readme_example()).expect("README example is valid");
    assert_eq!(s.mode, Mode::Session);
    assert_eq!(s.consent_error.code, -32006);
    assert_eq!(s.consent_error.placement, Placement::Message);
    let tb = s.find_toolbox("demo").expect("demo");
    assert_eq!(tb.versions.as_deref(), Some(&["1".to_owned(), "2".to_owned()][..]));
    let auths: Vec<Auth> = tb.sources.iter().map(|s| s.auth).collect();
    assert_eq!(auths, [Auth::None, Auth::Consent, Auth::ConsentAtCall, Auth::HardError]);
    assert_eq!(tb.sources[0].tools[1].behaviour, Behaviour::Error("mailbox full".into()));
    assert_eq!(tb.sources[1].tools[0].behaviour, Behaviour::Fixed("sent".into()));
    assert_eq!(tb.sources[2].consent_link_override.as_deref(), Some("javascript:alert(1)"));
    assert_eq!(tb.faults[0].http_statuses, [503, 503]);
    assert_eq!(tb.faults[0].user.as_deref(), Some("alice"));
    assert_eq!(tb.faults[1].expire_after_calls, Some(3));
}

#[test]
fn defaults_are_filled_in() {
    let s = Scenario::from_toml_str(
        r#"
        [[toolboxes]]
        name = "tb"
        [[toolboxes.sources]]
        name = "src"
        [[toolboxes.sources.tools]]
        name = "t"
        "#,
    )
    .expect("minimal scenario");
    assert_eq!(s.mode, Mode::Session);
    let src = &s.toolboxes[0].sources[0];
    assert_eq!((src.auth, src.source_type.as_str()), (Auth::None, "mcp"));
    assert_eq!(src.tools[0].behaviour, Behaviour::Echo);
    assert_eq!(src.tools[0].input_schema, json!({"type": "object"}));
    assert_eq!(s.consent_error.call_code, -32006);
}

#[test]
fn typos_and_bad_values_are_rejected() {
    let typo = "[[toolboxes]]\nname = \"tb\"\n[[toolboxes.faults]]\nlatncy_ms = 5\n";
    let err = Scenario::from_toml_str(typo).expect_err("typo must be rejected");
    assert!(matches!(err, ScenarioError::Toml(_)));
    assert!(err.to_string().contains("latncy_ms"), "{err}");

    let bad_auth = "[[toolboxes]]\nname = \"tb\"\n[[toolboxes.sources]]\nname = \"s\"\nauth = \"oauth\"\n";
    assert!(Scenario::from_toml_str(bad_auth).is_err());
    assert!(Scenario::from_toml_str("mode = \"sessionless\"").is_err());
    assert!(Scenario::from_toml_str("[consent_error]\nplacemnt = \"data\"\n").is_err());

    let dup = "[[toolboxes]]\nname = \"tb\"\n[[toolboxes]]\nname = \"tb\"\n";
    assert!(matches!(Scenario::from_toml_str(dup), Err(ScenarioError::Invalid(_))));
    let status = "[[toolboxes]]\nname = \"tb\"\n[[toolboxes.faults]]\nhttp_statuses = [999]\n";
    assert!(matches!(Scenario::from_toml_str(status), Err(ScenarioError::Invalid(_))));
    let schema = "[[toolboxes]]\nname = \"tb\"\n[[toolboxes.sources]]\nname = \"s\"\n\
                  [[toolboxes.sources.tools]]\nname = \"t\"\ninput_schema = \"nope\"\n";
    assert!(matches!(Scenario::from_toml_str(schema), Err(ScenarioError::Invalid(_))));
    let slash = "[[toolboxes]]\nname = \"a/b\"\n";
    assert!(matches!(Scenario::from_toml_str(slash), Err(ScenarioError::Invalid(_))));
}

#[test]
fn json_round_trip_and_from_path() -> anyhow::Result<()> {
    let demo = demo_scenario();
    let text = serde_json::to_string(&demo)?;
    assert_eq!(Scenario::from_json_str(&text)?, demo);
    assert!(Scenario::from_json_str(r#"{"mode":"stateless","extra":1}"#).is_err());
    let parsed = Scenario::from_json_str(
        r#"{"mode":"stateless","consent_error":{"placement":"both","code":-32000},
            "toolboxes":[{"name":"tb","sources":[{"name":"s","auth":"consent_at_call",
            "tools":[{"name":"t","behavior":{"fixed":"x"}}]}]}]}"#,
    )?;
    assert_eq!(parsed.mode, Mode::Stateless);
    assert_eq!(parsed.consent_error.placement, Placement::Both);
    assert_eq!(parsed.toolboxes[0].sources[0].tools[0].behaviour, Behaviour::Fixed("x".into()));

    let dir = std::env::temp_dir().join(format!("mock-proxy-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let toml_path = dir.join("s.toml");
    std::fs::write(&toml_path, readme_example())?;
    assert!(Scenario::from_path(&toml_path)?.find_toolbox("demo").is_some());
    let json_path = dir.join("s.json");
    std::fs::write(&json_path, &text)?;
    assert_eq!(Scenario::from_path(&json_path)?, demo);
    assert!(matches!(Scenario::from_path(dir.join("missing.toml")), Err(ScenarioError::Io { .. })));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
