//! Consent link validation.

use agenthost_chat::validate_consent_link;

#[test]
fn accepted_links() {
    for (link, normalized) in [
        ("https://consent.example/login?data=abc", "https://consent.example/login?data=abc"),
        ("HTTPS://Login.Example.com/x", "https://login.example.com/x"),
        ("http://localhost:8080/consent", "http://localhost:8080/consent"),
        ("http://127.0.0.1/c", "http://127.0.0.1/c"),
        ("http://[::1]:9/c", "http://[::1]:9/c"),
        ("https://host", "https://host/"),
    ] {
        assert_eq!(validate_consent_link(link).as_deref(), Ok(normalized), "{link}");
    }
}

#[test]
fn rejected_links() {
    for link in [
        "",
        "not-a-url",
        "/relative/path",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://consent.example/x",
        "http://consent.example/x",
        "http://10.0.0.1/x",
        "https:///path",
        "https://",
        "https://consent.example/x\n",
        "https://consent.example/\u{1b}[2J",
        "https://consent.example/a b",
        "https://consent\u{202e}elpmaxe.com/",
        "https://user:pw@consent.example/",
        "https://login.microsoft.com@evil.example/",
        "https:\\\\evil.example\\x",
    ] {
        assert!(validate_consent_link(link).is_err(), "{link:?} must be rejected");
    }
}
