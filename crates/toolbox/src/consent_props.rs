//! Property tests of the consent parser (issue 15): whatever the proxy sends, parsing never
//! panics and never yields a sign-in link that fails validation.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// Links a hostile or broken proxy might send, valid ones among them.
fn link() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("https://login.example.com/consent?state=abc".to_string()),
        Just("http://127.0.0.1:9/consent".to_string()),
        Just("http://evil.example.com/consent".to_string()),
        Just("javascript:alert(1)".to_string()),
        Just("https:///no-host".to_string()),
        Just("https://user:pw@login.example.com/".to_string()),
        Just("https://login.example.com/a b".to_string()),
        Just("https://login.example.com/\u{0}x".to_string()),
        Just(format!("https://login.example.com/{}", "a".repeat(5000))),
        "https://[a-z.]{0,20}/[ -~]{0,30}".prop_map(|s| s),
        any::<String>(),
    ]
}

fn entry() -> impl Strategy<Value = Value> {
    (
        prop::option::of("[a-z_]{0,12}"),
        prop_oneof![Just("CONSENT_REQUIRED".to_string()), Just("OTHER".to_string()), any::<String>()],
        link(),
        prop::option::of(link()),
    )
        .prop_map(|(name, code, message, consent)| {
            let mut e = json!({"type": "mcp", "error": {"code": code, "message": message}});
            if let Some(name) = name {
                e["name"] = json!(name);
            }
            if let Some(consent) = consent {
                e["error"]["consentUrl"] = json!(consent);
            }
            e
        })
}

fn aggregate() -> impl Strategy<Value = String> {
    prop::collection::vec(entry(), 0..6)
        .prop_map(|entries| format!("Request failed (remote): tools/list failed {}", json!({ "errors": entries })))
}

fn code() -> impl Strategy<Value = i32> {
    prop_oneof![Just(CONSENT_CODE), Just(LEGACY_CONSENT_CODE), Just(URL_ELICITATION_CODE), Just(-32603), any::<i32>()]
}

fn data() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        aggregate().prop_map(|a| Some(Value::String(a))),
        link().prop_map(|l| Some(json!({"elicitations": [{"mode": "url", "url": l, "elicitationId": "e"}]}))),
        prop::collection::vec(entry(), 0..4).prop_map(|e| Some(json!({"errors": e}))),
        any::<String>().prop_map(|s| Some(Value::String(s))),
    ]
}

fn check(signal: &Signal, policy: LinkPolicy) {
    if let Signal::Consent { consents, .. } = signal {
        for c in consents {
            assert!(policy.is_valid(&c.consent_link), "an invalid link came out: {:?}", c.consent_link);
            assert!(!c.server_label.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsing_never_panics_and_every_link_is_valid(
        code in code(),
        message in prop_oneof![aggregate(), link(), any::<String>()],
        data in data(),
        loopback in any::<bool>(),
    ) {
        let policy = LinkPolicy { allow_loopback_http: loopback };
        let signal = parse("tb", code, &message, data.as_ref(), policy);
        check(&signal, policy);
    }

    #[test]
    fn link_validation_never_panics(link in link()) {
        let strict = LinkPolicy::default();
        if strict.is_valid(&link) {
            prop_assert!(link.starts_with("https://"));
            prop_assert!(link.len() <= MAX_LINK_BYTES);
        }
        let _ = redact_link(&link);
    }
}
