//! Toolbox markers: request tools `{"type":"mcp","server_url":"foundry-toolbox://<name>[?version=<v>]"}`
//! (also `foundry-toolbox:<name>`) that ask for a toolbox for one request.
//!
//! The name is taken from the raw authority with its case kept (no URL parser that would
//! lower-case or otherwise normalise a host, W14); the version is the URL-unescaped value of the
//! first `version=` query key (key matched case-insensitively). Both must be one safe path
//! segment. Other `mcp` tools are not markers.

use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::names::validate_segment;

/// The scheme of a marker URL.
pub const SCHEME: &str = "foundry-toolbox:";

/// A toolbox a request asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Marker {
    /// Toolbox name, case kept.
    pub name: String,
    /// Pinned version.
    pub version: Option<String>,
}

/// Why a request's markers were rejected (before `response.created`, as a client error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MarkerError {
    /// `invalid_toolbox_name`, `unknown_toolbox` or `toolboxes_disabled`.
    pub code: &'static str,
    /// What is wrong, for the caller.
    pub message: String,
    /// Where: `$.tools[i].server_url`.
    pub param: String,
}

impl MarkerError {
    pub(crate) fn new(code: &'static str, message: String, index: usize) -> Self {
        Self { code, message, param: param(index) }
    }
}

/// `$.tools[i].server_url`.
pub fn param(index: usize) -> String {
    format!("$.tools[{index}].server_url")
}

/// The markers among `tools`, with their index, in order. Duplicates are kept (the registry
/// de-duplicates after mapping names to configured toolboxes).
pub fn parse(tools: &[Value]) -> Result<Vec<(usize, Marker)>, MarkerError> {
    let mut out = Vec::new();
    for (index, tool) in tools.iter().enumerate() {
        if tool.get("type").and_then(Value::as_str) != Some("mcp") {
            continue;
        }
        let Some(url) = tool.get("server_url").and_then(Value::as_str) else {
            continue;
        };
        let Some(rest) = strip_scheme(url) else {
            continue;
        };
        let marker = parse_rest(rest).map_err(|reason| {
            MarkerError::new("invalid_toolbox_name", format!("{url:?} does not name a valid toolbox: {reason}"), index)
        })?;
        out.push((index, marker));
    }
    Ok(out)
}

fn strip_scheme(url: &str) -> Option<&str> {
    let head = url.get(..SCHEME.len())?;
    head.eq_ignore_ascii_case(SCHEME).then(|| &url[SCHEME.len()..])
}

/// `//name[?query][#frag]` or `name[?query][#frag]`.
fn parse_rest(rest: &str) -> Result<Marker, String> {
    let rest = rest.split('#').next().unwrap_or_default();
    let (target, query) = match rest.split_once('?') {
        Some((t, q)) => (t, Some(q)),
        None => (rest, None),
    };
    let name = match target.strip_prefix("//") {
        Some(authority_and_path) => {
            let (authority, path) = match authority_and_path.find('/') {
                Some(i) => authority_and_path.split_at(i),
                None => (authority_and_path, ""),
            };
            if !path.is_empty() && path != "/" {
                return Err("the toolbox name must be the whole authority (no path)".into());
            }
            authority
        }
        None => target,
    };
    validate_segment(name).map_err(|e| format!("the name {e}"))?;
    let version = query.and_then(version_of).transpose()?;
    if let Some(v) = &version {
        validate_segment(v).map_err(|e| format!("the version {e}"))?;
    }
    Ok(Marker { name: name.to_owned(), version })
}

/// The unescaped value of the first `version` key; `None` when absent or empty.
fn version_of(query: &str) -> Option<Result<String, String>> {
    let value = query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        key.eq_ignore_ascii_case("version").then_some(value)
    })?;
    if value.is_empty() {
        return None;
    }
    Some(
        percent_decode_str(value)
            .decode_utf8()
            .map(|v| v.into_owned())
            .map_err(|_| "the version is not UTF-8".to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn marker(url: &str) -> Value {
        json!({"type": "mcp", "server_label": "x", "server_url": url})
    }

    fn one(url: &str) -> Result<Marker, MarkerError> {
        let parsed = parse(&[marker(url)])?;
        Ok(parsed.into_iter().next().map(|(_, m)| m).unwrap_or(Marker { name: "<none>".into(), version: None }))
    }

    fn m(name: &str, version: Option<&str>) -> Marker {
        Marker { name: name.into(), version: version.map(Into::into) }
    }

    #[test]
    fn names_keep_their_case_and_versions_are_unescaped() {
        assert_eq!(one("foundry-toolbox://Sales-Tools"), Ok(m("Sales-Tools", None)));
        assert_eq!(one("FOUNDRY-TOOLBOX://calendar-tools?version=v2"), Ok(m("calendar-tools", Some("v2"))));
        assert_eq!(one("foundry-toolbox:hr-tools?Version=2025-09-01"), Ok(m("hr-tools", Some("2025-09-01"))));
        assert_eq!(one("foundry-toolbox://tb?x=1&VERSION=a%2Db&version=c"), Ok(m("tb", Some("a-b"))));
        assert_eq!(one("foundry-toolbox://tb?version="), Ok(m("tb", None)));
        assert_eq!(one("foundry-toolbox://tb/"), Ok(m("tb", None)));
        assert_eq!(one("foundry-toolbox://tb#frag"), Ok(m("tb", None)));
        assert_eq!(one("foundry-toolbox://tb:v1"), Ok(m("tb:v1", None)));
        assert_eq!(one("foundry-toolbox://box.v2"), Ok(m("box.v2", None)));
    }

    #[test]
    fn non_markers_are_ignored() {
        let tools = vec![
            json!({"type": "function", "name": "f", "server_url": "foundry-toolbox://x"}),
            json!({"type": "mcp", "server_url": "https://example.com/mcp"}),
            json!({"type": "mcp", "server_url": null}),
            json!({"type": "mcp"}),
            json!({"type": "mcp", "server_url": "foundry-toolbo"}),
            json!("not an object"),
            marker("foundry-toolbox://real"),
        ];
        assert_eq!(parse(&tools), Ok(vec![(6, m("real", None))]));
        assert_eq!(parse(&[]), Ok(vec![]));
    }

    #[test]
    fn unsafe_names_and_versions_are_rejected_with_their_param() {
        for url in [
            "foundry-toolbox://",
            "foundry-toolbox:",
            "foundry-toolbox://../admin",
            "foundry-toolbox://a%2fb",
            "foundry-toolbox://tb/extra",
            "foundry-toolbox://..",
            "foundry-toolbox:%2e%2e",
            "foundry-toolbox://tb?version=..",
            "foundry-toolbox://tb?version=a%2fb",
            "foundry-toolbox://tb?version=%ff",
            "foundry-toolbox://a b",
        ] {
            let tools = vec![marker("foundry-toolbox://fine"), marker(url)];
            let err = parse(&tools).err();
            assert_eq!(err.as_ref().map(|e| e.code), Some("invalid_toolbox_name"), "{url}");
            assert_eq!(err.map(|e| e.param), Some("$.tools[1].server_url".to_owned()), "{url}");
        }
    }

    #[test]
    fn duplicates_are_all_reported() {
        let tools =
            vec![marker("foundry-toolbox://a"), marker("foundry-toolbox://A"), marker("foundry-toolbox://a?version=1")];
        assert_eq!(parse(&tools), Ok(vec![(0, m("a", None)), (1, m("A", None)), (2, m("a", Some("1")))]));
    }
}
