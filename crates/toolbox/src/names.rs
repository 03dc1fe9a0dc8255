//! Names: toolbox names as one safe URL path segment, proxy URLs, and the model-facing tool
//! names (`^[a-zA-Z0-9_-]{1,64}$`, unique within a tool set).
//!
//! Toolbox names come from configuration and from callers (markers), and end up in a URL
//! that carries the container's token, so a name must never be able to address anything but
//! `{endpoint}/toolboxes/{name}/mcp`. Two checks guard that: explicit rules (separators, dot
//! segments, encoded separators at any nesting depth, whitespace, control characters, length)
//! and an effect check that builds the URL, parses it back and requires the exact path shape.

use std::collections::HashSet;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// Longest accepted toolbox name or version, in bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// Longest model-facing tool name.
pub const MAX_TOOL_NAME: usize = 64;

/// Characters escaped in a path segment: everything outside RFC 3986 `pchar`, plus `%`.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The base the effect check builds URLs against (any absolute URL with a path works).
const PROBE_BASE: &str = "https://probe.invalid/api/projects/probe";

/// Checks that `name` is one safe path segment; the error says why not.
pub fn validate_segment(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!("is longer than {MAX_NAME_BYTES} bytes"));
    }
    // Decode repeatedly: `%25252f` is `/` three levels down, and a proxy that decodes once
    // more than we expect must still not see a separator.
    let mut current = name.to_owned();
    for _ in 0..8 {
        check_plain(&current)?;
        let decoded = match percent_decode_str(&current).decode_utf8() {
            Ok(d) => d.into_owned(),
            Err(_) => return Err("contains an escape that is not UTF-8".into()),
        };
        if decoded == current {
            return effect_check(name);
        }
        current = decoded;
    }
    Err("is percent-encoded too many times".into())
}

fn check_plain(s: &str) -> Result<(), String> {
    if s.chars().any(|c| c.is_control()) {
        return Err("contains a control character".into());
    }
    if s.chars().any(char::is_whitespace) {
        return Err("contains whitespace".into());
    }
    if let Some(c) = s.chars().find(|c| matches!(c, '/' | '\\' | '?' | '#')) {
        return Err(format!("contains {c:?} (or an escape of it)"));
    }
    if s == "." || s == ".." {
        return Err("is a dot segment".into());
    }
    Ok(())
}

/// Builds the URL and requires that it addresses exactly `{base}/toolboxes/{seg}/mcp` with the
/// segment decoding back to `name`.
fn effect_check(name: &str) -> Result<(), String> {
    let built = proxy_url(PROBE_BASE, name, None);
    let parsed = url::Url::parse(&built).map_err(|e| format!("does not form a URL ({e})"))?;
    let ok_origin = parsed.scheme() == "https"
        && parsed.host_str() == Some("probe.invalid")
        && parsed.fragment().is_none()
        && parsed.query() == Some("api-version=v1");
    let segments: Vec<&str> = parsed.path().split('/').collect();
    let ok_shape = matches!(
        segments.as_slice(),
        ["", "api", "projects", "probe", "toolboxes", seg, "mcp"]
            if percent_decode_str(seg).decode_utf8().is_ok_and(|d| d == name)
    );
    if ok_origin && ok_shape { Ok(()) } else { Err("does not stay one path segment of the proxy URL".into()) }
}

/// `{endpoint}/toolboxes/{name}[/versions/{v}]/mcp?api-version=v1` with both segments escaped.
/// Callers validate `name` and `version` first.
pub fn proxy_url(endpoint: &str, name: &str, version: Option<&str>) -> String {
    let base = endpoint.trim_end_matches('/');
    let name = utf8_percent_encode(name, SEGMENT);
    match version {
        Some(v) => format!("{base}/toolboxes/{name}/versions/{}/mcp?api-version=v1", utf8_percent_encode(v, SEGMENT)),
        None => format!("{base}/toolboxes/{name}/mcp?api-version=v1"),
    }
}

/// Whether `name` is already a valid model-facing tool name.
pub fn is_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOOL_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Assigns model-facing names for one tool set.
///
/// Rule: every character outside `[A-Za-z0-9_-]` becomes `_` (an empty result becomes `tool`).
/// If that name is free and at most 64 characters, it is used. Otherwise (taken, or too long)
/// the name is cut to 55 characters and `_` plus the first 8 hex digits of
/// SHA-256(`{toolbox}/{original}`) is appended; in the astronomically unlikely case that this
/// is taken too, the hash input gets a `#n` suffix until it is free. Names are claimed in the
/// order tools are added (pre-registered toolboxes in configuration order, then markers in
/// request order), so the same set of toolboxes always yields the same names.
#[derive(Debug, Default)]
pub struct ToolNamer {
    taken: HashSet<String>,
}

impl ToolNamer {
    /// An empty namer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The model-facing name of `original` from `toolbox`, now taken.
    pub fn assign(&mut self, toolbox: &str, original: &str) -> String {
        let mut plain: String =
            original.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
        if plain.is_empty() {
            plain = "tool".to_owned();
        }
        if plain.len() <= MAX_TOOL_NAME && self.taken.insert(plain.clone()) {
            return plain;
        }
        let stem: String = plain.chars().take(MAX_TOOL_NAME - 9).collect();
        for salt in 0u32.. {
            let input =
                if salt == 0 { format!("{toolbox}/{original}") } else { format!("{toolbox}/{original}#{salt}") };
            let candidate = format!("{stem}_{}", short_hash(&input));
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
        }
        // `0u32..` only ends after u32::MAX collisions, which cannot happen.
        plain
    }
}

/// First 8 hex digits of SHA-256 of `input`.
fn short_hash(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 13 names the .NET test rejects, plus more.
    #[test]
    fn rejects_unsafe_names() {
        for name in [
            "../../admin",
            "..%2f..%2fadmin",
            "%2e%2e/%2e%2e/admin",
            "%25252525252f",
            "a/b",
            "..",
            ".",
            "box\\..\\secret",
            "foo?x=1",
            "foo#frag",
            "bad%3fx=1",
            "tb%23frag",
            "a%2fb",
            "",
            " ",
            "a b",
            "tab\tname",
            "new\nline",
            "nul\u{0}",
            "del\u{7f}",
            "%2e",
            "%2E%2E",
            "%252e%252e",
            "a%5cb",
            "a%5Cb",
            "a%2Fb",
            "%0a",
            "%ff",
            "nbsp\u{a0}",
        ] {
            assert!(validate_segment(name).is_err(), "{name:?} must be rejected");
        }
        assert!(validate_segment(&"a".repeat(129)).is_err());
        assert!(validate_segment(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn allows_well_formed_names() {
        for name in [
            "my-toolbox",
            "sales",
            "box.v2",
            "a..b",
            "tb:v1",
            "tb@1",
            "a(b)",
            "Sales_Tools",
            "a~b",
            "100%",
            "caf\u{e9}",
        ] {
            assert_eq!(validate_segment(name), Ok(()), "{name:?} must be allowed");
        }
    }

    #[test]
    fn builds_proxy_urls() {
        assert_eq!(
            proxy_url("https://x.example/api/projects/p/", "sales", None),
            "https://x.example/api/projects/p/toolboxes/sales/mcp?api-version=v1"
        );
        assert_eq!(
            proxy_url("https://x.example/api/projects/p", "sales", Some("2025-06-01")),
            "https://x.example/api/projects/p/toolboxes/sales/versions/2025-06-01/mcp?api-version=v1"
        );
        assert_eq!(proxy_url("http://h", "a(b):1@x", None), "http://h/toolboxes/a(b):1@x/mcp?api-version=v1");
        assert_eq!(
            proxy_url("http://h", "100%", Some("v 1")),
            "http://h/toolboxes/100%25/versions/v%201/mcp?api-version=v1"
        );
    }

    #[test]
    fn model_names_follow_the_rule() {
        let mut namer = ToolNamer::new();
        assert_eq!(namer.assign("tb", "echo"), "echo");
        assert_eq!(namer.assign("tb", "send.email"), "send_email");
        assert_eq!(namer.assign("tb", ""), "tool");
        // `send_email` is taken: hashed suffix of "tb2/send_email".
        let second = namer.assign("tb2", "send_email");
        assert_eq!(second, format!("send_email_{}", short_hash("tb2/send_email")));
        assert!(is_model_name(&second));
        // Too long: cut to 55 and hashed.
        let long = "x".repeat(80);
        let named = namer.assign("tb", &long);
        assert_eq!(named.len(), 64);
        assert_eq!(named, format!("{}_{}", "x".repeat(55), short_hash(&format!("tb/{long}"))));
        // Exactly 64 valid characters are kept.
        let max = "y".repeat(64);
        assert_eq!(namer.assign("tb", &max), max);
        // Non-ASCII characters become underscores, one per character.
        assert_eq!(namer.assign("tb", "gr\u{fc}\u{df}e"), "gr__e");
    }

    #[test]
    fn model_names_are_deterministic_and_unique() {
        let tools = ["a", "a", "a.b", "a_b", "a-b", "A"];
        let run = || {
            let mut namer = ToolNamer::new();
            tools.iter().enumerate().map(|(i, t)| namer.assign(&format!("tb{i}"), t)).collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let unique: HashSet<_> = first.iter().collect();
        assert_eq!(unique.len(), first.len());
        assert!(first.iter().all(|n| is_model_name(n)), "{first:?}");
        assert_eq!(&first[0], "a");
        assert_eq!(&first[2], "a_b");
        assert_eq!(&first[4], "a-b");
        assert_eq!(&first[5], "A");
    }

    #[test]
    fn short_hash_is_eight_hex_digits() {
        let h = short_hash("tb/echo");
        assert_eq!(h.len(), 8);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(h, short_hash("tb/echo2"));
    }
}
