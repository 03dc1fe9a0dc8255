//! Unit tests of the consent parser: every row of the reference matrix (§3.1) and the
//! weaknesses it fixes (W5, W6, W8, W9, W19).

use serde_json::json;

use super::*;

const TB: &str = "auth-paths-toolbox";
const LINK: &str = "https://login.example.com/consent?data=abc";
const HEAD: &str = "tools/list failed for 1 tool source(s), succeeded for 0 tool source(s)";

fn strict() -> LinkPolicy {
    LinkPolicy::default()
}

fn consent(label: &str, link: &str) -> ConsentRequest {
    ConsentRequest { server_label: label.to_owned(), consent_link: link.to_owned() }
}

fn entry(name: &str, ty: &str, code: &str, message: &str) -> String {
    json!({"name": name, "type": ty, "error": {"code": code, "message": message}}).to_string()
}

fn payload(entries: &[String]) -> String {
    format!("{{\"errors\":[{}]}}", entries.join(","))
}

fn msg(entries: &[String]) -> String {
    format!("Request failed (remote): {HEAD} {}", payload(entries))
}

fn consents_only(list: Vec<ConsentRequest>) -> Signal {
    Signal::Consent { consents: list, broken: Vec::new() }
}

#[test]
fn single_consent_with_sdk_prefix() {
    let m = msg(&[entry("send_email", "mcp", "CONSENT_REQUIRED", LINK)]);
    assert_eq!(parse(TB, -32006, &m, None, strict()), consents_only(vec![consent("send_email", LINK)]));
    // Without the prefix (the Python shape) too.
    let m = format!("{HEAD} {}", payload(&[entry("send_email", "mcp", "CONSENT_REQUIRED", LINK)]));
    assert_eq!(parse(TB, -32006, &m, None, strict()), consents_only(vec![consent("send_email", LINK)]));
}

#[test]
fn source_type_is_ignored() {
    for ty in ["mcp", "a2a_preview", "some_future_source"] {
        let link = "https://consent.example/login?data=xyz";
        let m = msg(&[entry("work-iq-connection", ty, "CONSENT_REQUIRED", link)]);
        assert_eq!(
            parse("work-iq-toolbox", -32006, &m, None, strict()),
            consents_only(vec![consent("work-iq-connection", link)]),
            "type {ty}"
        );
    }
}

#[test]
fn multiple_consents_keep_their_order() {
    let a = "https://login.example.com/consent/a";
    let b = "https://login.example.com/consent/b";
    let m =
        msg(&[entry("send_email", "mcp", "CONSENT_REQUIRED", a), entry("read_calendar", "mcp", "CONSENT_REQUIRED", b)]);
    assert_eq!(
        parse(TB, -32006, &m, None, strict()),
        consents_only(vec![consent("send_email", a), consent("read_calendar", b)])
    );
}

/// W9: a mixed payload reports both the consent and the broken source.
#[test]
fn mixed_payload_gives_consents_and_failures() {
    let m =
        msg(&[entry("send_email", "mcp", "CONSENT_REQUIRED", LINK), entry("broken", "mcp", "INTERNAL_ERROR", "boom")]);
    assert_eq!(
        parse(TB, -32006, &m, None, strict()),
        Signal::Consent {
            consents: vec![consent("send_email", LINK)],
            broken: vec![("broken".into(), ErrorClass::Upstream)],
        }
    );
}

#[test]
fn no_json_is_not_consent() {
    assert_eq!(parse(TB, -32603, "connection refused", None, strict()), Signal::None);
    // With the consent code but no link, consent is needed and nothing can be shown.
    assert_eq!(
        parse(TB, -32006, "connection refused", None, strict()),
        Signal::Consent { consents: vec![], broken: vec![(TB.into(), ErrorClass::InvalidConsentLink)] }
    );
}

#[test]
fn malformed_json_is_not_consent() {
    let m = "tools/list failed CONSENT_REQUIRED {\"errors\":[ not valid json";
    assert_eq!(parse(TB, -32603, m, None, strict()), Signal::None);
}

/// W6: an empty link is never emitted.
#[test]
fn empty_link_is_a_failure_of_the_source() {
    let m = payload(&[entry("send_email", "mcp", "CONSENT_REQUIRED", "")]);
    assert_eq!(
        parse(TB, -32006, &m, None, strict()),
        Signal::Consent { consents: vec![], broken: vec![("send_email".into(), ErrorClass::InvalidConsentLink)] }
    );
}

#[test]
fn missing_name_falls_back_to_the_toolbox() {
    let m = r#"{"errors":[{"type":"mcp","error":{"code":"CONSENT_REQUIRED","message":"https://consent/x"}}]}"#;
    assert_eq!(
        parse("my-toolbox", -32006, m, None, strict()),
        consents_only(vec![consent("my-toolbox", "https://consent/x")])
    );
    let blank = r#"{"errors":[{"name":"  ","error":{"code":"CONSENT_REQUIRED","message":"https://consent/x"}}]}"#;
    assert_eq!(
        parse("my-toolbox", -32006, blank, None, strict()),
        consents_only(vec![consent("my-toolbox", "https://consent/x")])
    );
}

#[test]
fn empty_message_is_not_consent() {
    assert_eq!(parse(TB, -32603, "", None, strict()), Signal::None);
    assert_eq!(parse(TB, -32603, "", Some(&Value::Null), strict()), Signal::None);
}

#[test]
fn no_consent_code_in_payload_is_hard() {
    let m = msg(&[entry("broken", "mcp", "INTERNAL_ERROR", "boom")]);
    assert_eq!(
        parse(TB, -32006, &m, None, strict()),
        Signal::Hard { broken: vec![("broken".into(), ErrorClass::Upstream)] }
    );
}

/// W8/W19: the JSON-RPC code does not matter when the payload says CONSENT_REQUIRED.
#[test]
fn any_code_is_accepted_with_a_consent_payload() {
    let m = msg(&[entry("send_email", "mcp", "CONSENT_REQUIRED", LINK)]);
    for code in [-32006, -32007, -32000, -32603, 0, 1] {
        assert_eq!(
            parse(TB, code, &m, None, strict()),
            consents_only(vec![consent("send_email", LINK)]),
            "code {code}"
        );
    }
}

#[test]
fn errors_missing_not_array_or_empty_is_not_consent() {
    for m in [
        r#"CONSENT_REQUIRED {"other":[]}"#,
        r#"CONSENT_REQUIRED {"errors":"CONSENT_REQUIRED"}"#,
        r#"CONSENT_REQUIRED {"errors":{}}"#,
        r#"CONSENT_REQUIRED {"errors":[]}"#,
    ] {
        assert_eq!(parse(TB, -32603, m, None, strict()), Signal::None, "{m}");
    }
}

#[test]
fn entries_without_a_consent_code_are_failures() {
    let cases = [
        r#"{"name":"a","type":"mcp"}"#,
        r#"{"name":"a","error":{"message":"https://x.example/"}}"#,
        r#"{"name":"a","error":{"code":42,"message":"https://x.example/"}}"#,
        r#"{"name":"a","error":{"code":"RATE_LIMITED","message":"https://x.example/"}}"#,
        r#"{"name":"a","error":"CONSENT_REQUIRED"}"#,
    ];
    for e in cases {
        let m = format!(r#"{{"errors":[{e}]}}"#);
        assert_eq!(
            parse(TB, -32603, &m, None, strict()),
            Signal::Hard { broken: vec![("a".into(), ErrorClass::Upstream)] },
            "{e}"
        );
    }
}

/// W19: the code matches case-insensitively.
#[test]
fn lower_case_consent_code_matches() {
    let m = payload(&[entry("send_email", "mcp", "consent_required", LINK)]);
    assert_eq!(parse(TB, -32603, &m, None, strict()), consents_only(vec![consent("send_email", LINK)]));
}

#[test]
fn non_string_link_is_a_failure() {
    let m = r#"{"errors":[{"name":"a","error":{"code":"CONSENT_REQUIRED","message":12}}]}"#;
    assert_eq!(
        parse(TB, -32006, m, None, strict()),
        Signal::Consent { consents: vec![], broken: vec![("a".into(), ErrorClass::InvalidConsentLink)] }
    );
}

#[test]
fn non_object_entries_are_protocol_failures() {
    let m =
        format!(r#"{{"errors":["CONSENT_REQUIRED", 7, {}]}}"#, entry("send_email", "mcp", "CONSENT_REQUIRED", LINK));
    assert_eq!(
        parse(TB, -32006, &m, None, strict()),
        Signal::Consent {
            consents: vec![consent("send_email", LINK)],
            broken: vec![(TB.into(), ErrorClass::Protocol), (TB.into(), ErrorClass::Protocol)],
        }
    );
}

/// W19: trailing text after the JSON is tolerated.
#[test]
fn trailing_text_is_tolerated() {
    let m = format!("{} trace-id=abc {{x}}", msg(&[entry("send_email", "mcp", "CONSENT_REQUIRED", LINK)]));
    assert_eq!(parse(TB, -32006, &m, None, strict()), consents_only(vec![consent("send_email", LINK)]));
}

/// W19: a `{` in the human-readable prefix does not hide the payload.
#[test]
fn brace_in_prefix_is_tolerated() {
    let m = format!(
        "Request failed {{remote}}: {{\"unrelated\":true}} {HEAD} {}",
        payload(&[entry("send_email", "mcp", "CONSENT_REQUIRED", LINK)])
    );
    assert_eq!(parse(TB, -32006, &m, None, strict()), consents_only(vec![consent("send_email", LINK)]));
    // Braces and quotes inside JSON strings do not confuse the scanner.
    let tricky = "https://login.example.com/consent?data=%7B%7D";
    let m = format!(
        "x {{ {}",
        payload(&[json!({"name": "a}\"{", "error": {"code": "CONSENT_REQUIRED", "message": tricky}}).to_string()])
    );
    assert_eq!(parse(TB, -32006, &m, None, strict()), consents_only(vec![consent("a}\"{", tricky)]));
}

/// W5: a call-time -32006 whose message is a prefixed link yields the link alone.
#[test]
fn bare_link_at_call_time() {
    assert_eq!(parse(TB, -32006, LINK, None, strict()), consents_only(vec![consent(TB, LINK)]));
    let m = format!("Request failed (remote): {LINK}");
    assert_eq!(parse(TB, -32006, &m, None, strict()), consents_only(vec![consent(TB, LINK)]));
    assert_eq!(
        parse(TB, -32007, &format!("{LINK} (expires in 10 min)"), None, strict()),
        consents_only(vec![consent(TB, LINK)])
    );
    // Any other code: a link in an error message is just text.
    assert_eq!(parse(TB, -32603, LINK, None, strict()), Signal::None);
}

/// W5: the call-time message is a link and `data` is the aggregate (the mock's shape): the
/// aggregate wins, so the label is the source name.
#[test]
fn data_is_read_before_the_message() {
    let data = json!({"errors": [{"name": "calendar", "type": "mcp", "error": {"code": "CONSENT_REQUIRED", "message": LINK}}]});
    assert_eq!(
        parse(TB, -32006, "https://other.example/ignored", Some(&data), strict()),
        consents_only(vec![consent("calendar", LINK)])
    );
    // The message alone says nothing; data carries the payload.
    assert_eq!(parse(TB, -32006, HEAD, Some(&data), strict()), consents_only(vec![consent("calendar", LINK)]));
    // data as a string holding the payload, and data nesting it.
    let text = Value::String(format!("prefix {data} suffix"));
    assert_eq!(parse(TB, -32000, "failed", Some(&text), strict()), consents_only(vec![consent("calendar", LINK)]));
    let nested = json!({"detail": {"inner": data}});
    assert_eq!(parse(TB, -32000, "failed", Some(&nested), strict()), consents_only(vec![consent("calendar", LINK)]));
    // data without a payload falls back to the message.
    let m = msg(&[entry("send_email", "mcp", "CONSENT_REQUIRED", LINK)]);
    assert_eq!(
        parse(TB, -32006, &m, Some(&json!({"reason": "x"})), strict()),
        consents_only(vec![consent("send_email", LINK)])
    );
    // A string data that is a link, with a message that is not.
    let link_data = Value::String(LINK.into());
    assert_eq!(
        parse(TB, -32006, "consent required", Some(&link_data), strict()),
        consents_only(vec![consent(TB, LINK)])
    );
}

#[test]
fn url_elicitation_is_consent() {
    let data = json!({"elicitations": [
        {"mode": "url", "elicitationId": "e1", "url": LINK, "message": "Sign in"},
        {"mode": "url", "elicitationId": "e2", "url": "javascript:alert(1)"}
    ]});
    assert_eq!(
        parse(TB, -32042, "URL elicitation required", Some(&data), strict()),
        Signal::Consent {
            consents: vec![consent(TB, LINK)],
            broken: vec![(TB.into(), ErrorClass::InvalidConsentLink)],
        }
    );
    assert_eq!(parse(TB, -32042, "nothing", None, strict()), Signal::None);
}

/// W6: links must be absolute https with a host; invalid ones never reach a user.
#[test]
fn link_validation() {
    let p = strict();
    assert!(p.is_valid("https://login.microsoftonline.com/consent?data=abc"));
    assert!(p.is_valid("https://x.consent.azure-apim.net/a/b#frag"));
    for bad in [
        "",
        "javascript:alert(1)",
        "data:text/html,hi",
        "http://login.example.com/consent",
        "http://127.0.0.1:9090/consent",
        "https:///path",
        "https:/login.example.com/",
        "https:login.example.com/",
        "https://login.example.com\\@evil.example/",
        "https://@login.example.com/",
        "https://user:pw@login.example.com/",
        "https://user@login.example.com/",
        "https://login.example.com/a b",
        " https://login.example.com/",
        "https://login.example.com/\n",
        "https://login.example.com/\u{7}",
        "not-a-url",
        "/relative/path",
        "ftp://login.example.com/",
    ] {
        assert!(!p.is_valid(bad), "{bad:?} must be rejected");
    }
    let long = format!("https://login.example.com/{}", "a".repeat(MAX_LINK_BYTES));
    assert!(!p.is_valid(&long));
    let exact =
        format!("https://login.example.com/{}", "a".repeat(MAX_LINK_BYTES - "https://login.example.com/".len()));
    assert!(p.is_valid(&exact));

    let loopback = LinkPolicy { allow_loopback_http: true };
    assert!(loopback.is_valid("http://127.0.0.1:9090/consent?x=1"));
    assert!(loopback.is_valid("http://localhost/consent"));
    assert!(loopback.is_valid("http://[::1]:80/consent"));
    assert!(!loopback.is_valid("http://10.0.0.1/consent"));
    assert!(!loopback.is_valid("http://login.example.com/consent"));
}

#[test]
fn invalid_link_in_payload_is_a_failure_not_a_consent() {
    let m = msg(&[
        entry("calendar", "mcp", "CONSENT_REQUIRED", "javascript:alert(1)"),
        entry("send_email", "mcp", "CONSENT_REQUIRED", LINK),
    ]);
    assert_eq!(
        parse(TB, -32006, &m, None, strict()),
        Signal::Consent {
            consents: vec![consent("send_email", LINK)],
            broken: vec![("calendar".into(), ErrorClass::InvalidConsentLink)],
        }
    );
}

/// W20: what reaches logs has no query string.
#[test]
fn redaction() {
    assert_eq!(redact_link(LINK), "https://login.example.com/consent");
    assert_eq!(redact_link("not a url"), "<invalid link>");
    assert_eq!(
        redact_urls("see https://a.example/x?state=secret and HTTP://b.example/y#f end"),
        "see https://a.example/x?... and HTTP://b.example/y?... end"
    );
    assert_eq!(redact_urls("no links here"), "no links here");
}

#[test]
fn huge_inputs_are_bounded() {
    let noise = "{".repeat(10_000);
    assert_eq!(parse(TB, -32603, &noise, None, strict()), Signal::None);
}
