//! The one consent parser, used for every signal the proxy sends: the aggregate `tools/list`
//! failure (in the JSON-RPC `data` or the message), a `tools/call` error whose message or data is
//! a link or the aggregate payload, and MCP `-32042` URL elicitation.
//!
//! Rules (each fixes a weakness of the reference parsers):
//! * `data` is read before `message`; a string `data` is scanned like a message.
//! * Any prefix (`Request failed (remote): ...`) and trailing text are tolerated: the parser
//!   scans for the balanced JSON object that holds an `errors` array, not just from the first
//!   `{`, and also finds it nested inside another object.
//! * The source `type` is ignored; `CONSENT_REQUIRED` matches case-insensitively; the JSON-RPC
//!   code does not matter when the payload says `CONSENT_REQUIRED`. A bare link counts only
//!   with code -32006 or -32007.
//! * Links are validated ([`LinkPolicy`]); an invalid link makes its source a failure, never a
//!   link shown to anyone.
//! * Mixed payloads give both: consents for the consentable sources and a failure per broken
//!   source.

use agenthost_agent::ConsentRequest;
use serde_json::Value;

use crate::error::ErrorClass;
use crate::redact::find_scheme;
pub use crate::redact::redact_urls;

/// JSON-RPC code of consent errors on the live proxy.
pub const CONSENT_CODE: i32 = -32006;
/// JSON-RPC code of consent errors in older proxy documentation.
pub const LEGACY_CONSENT_CODE: i32 = -32007;
/// MCP "URL elicitation required".
pub const URL_ELICITATION_CODE: i32 = -32042;
/// Longest accepted consent link, in bytes.
pub const MAX_LINK_BYTES: usize = 4096;
/// Longest error text the parser looks at; the proxy's payloads are far smaller.
const MAX_SCAN_BYTES: usize = 256 * 1024;
/// Most candidate `{` positions tried in one text.
const MAX_CANDIDATES: usize = 64;

/// Which consent links are acceptable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkPolicy {
    /// Also accept `http` links whose host is a loopback address or `localhost`.
    pub allow_loopback_http: bool,
}

impl LinkPolicy {
    /// Whether `link` may be shown to a user: an absolute `https` URL with a host, no
    /// userinfo, no whitespace or control characters, at most 4096 bytes.
    pub fn is_valid(&self, link: &str) -> bool {
        if link.is_empty()
            || link.len() > MAX_LINK_BYTES
            || link.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return false;
        }
        // The URL parser repairs `https:///host` and friends; the raw text must already have
        // an authority.
        let authority = link.split_once("://").map(|(_, rest)| rest).and_then(|rest| rest.chars().next());
        if authority.is_none_or(|c| matches!(c, '/' | '?' | '#' | '@')) {
            return false;
        }
        let Ok(url) = url::Url::parse(link) else {
            return false;
        };
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        let Some(host) = url.host() else {
            return false;
        };
        match url.scheme() {
            "https" => !url.host_str().unwrap_or_default().is_empty(),
            "http" => self.allow_loopback_http && is_loopback(&host),
            _ => false,
        }
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// A link safe for logs: scheme, host and path only (the query carries an opaque state blob).
pub fn redact_link(link: &str) -> String {
    match url::Url::parse(link) {
        Ok(url) => format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or_default(), url.path()),
        Err(_) => "<invalid link>".to_owned(),
    }
}

/// What an error says about consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// At least one source needs consent. `consents` holds the valid links (possibly none, when
    /// every link was invalid); `broken` holds sources that failed for other reasons (including
    /// invalid links), by label.
    Consent {
        /// Valid sign-in requests, in payload order.
        consents: Vec<ConsentRequest>,
        /// Failed sources: (label, error class).
        broken: Vec<(String, ErrorClass)>,
    },
    /// An aggregate payload whose sources all failed for reasons consent cannot fix.
    Hard {
        /// Failed sources: (label, error class).
        broken: Vec<(String, ErrorClass)>,
    },
    /// Nothing consent-related.
    None,
}

/// Parses a JSON-RPC error from the proxy. `toolbox` labels sources without a `name`.
pub fn parse(toolbox: &str, code: i32, message: &str, data: Option<&Value>, links: LinkPolicy) -> Signal {
    if code == URL_ELICITATION_CODE
        && let Some(signal) = data.and_then(|d| elicitations(toolbox, d, links))
    {
        return signal;
    }
    // `data` first: structured, and never prefixed.
    if let Some(data) = data {
        let found = match data {
            Value::String(text) => find_aggregate(text),
            other => find_errors_object(other, 0).cloned(),
        };
        if let Some(aggregate) = found
            && let Some(signal) = from_aggregate(toolbox, &aggregate, links)
        {
            return signal;
        }
    }
    if let Some(aggregate) = find_aggregate(message)
        && let Some(signal) = from_aggregate(toolbox, &aggregate, links)
    {
        return signal;
    }
    if code == CONSENT_CODE || code == LEGACY_CONSENT_CODE {
        let candidate = match data {
            Some(Value::String(text)) if find_scheme(text).is_some() => text.as_str(),
            _ => message,
        };
        return bare_link(toolbox, candidate, links);
    }
    Signal::None
}

/// A message (or string `data`) that is a link, possibly after a prefix such as
/// `Request failed (remote): `; trailing text after whitespace is ignored.
fn bare_link(toolbox: &str, text: &str, links: LinkPolicy) -> Signal {
    let link = find_scheme(text).map(|start| {
        let tail = &text[start..];
        let end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        &tail[..end]
    });
    match link {
        Some(link) if links.is_valid(link) => Signal::Consent {
            consents: vec![ConsentRequest { server_label: toolbox.to_owned(), consent_link: link.to_owned() }],
            broken: Vec::new(),
        },
        _ => {
            Signal::Consent { consents: Vec::new(), broken: vec![(toolbox.to_owned(), ErrorClass::InvalidConsentLink)] }
        }
    }
}

/// MCP URL elicitation: `data.elicitations[].url` (mode `url` or unspecified).
fn elicitations(toolbox: &str, data: &Value, links: LinkPolicy) -> Option<Signal> {
    let items = data.get("elicitations")?.as_array()?;
    let mut consents = Vec::new();
    let mut broken = Vec::new();
    for item in items {
        let mode_ok = item.get("mode").and_then(Value::as_str).is_none_or(|m| m.eq_ignore_ascii_case("url"));
        match item.get("url").and_then(Value::as_str) {
            Some(url) if mode_ok && links.is_valid(url) => {
                consents.push(ConsentRequest { server_label: toolbox.to_owned(), consent_link: url.to_owned() })
            }
            _ => broken.push((toolbox.to_owned(), ErrorClass::InvalidConsentLink)),
        }
    }
    if consents.is_empty() && broken.is_empty() {
        return None;
    }
    Some(Signal::Consent { consents, broken })
}

/// Turns an `{"errors":[...]}` object into a signal; `None` when it lists nothing.
fn from_aggregate(toolbox: &str, aggregate: &Value, links: LinkPolicy) -> Option<Signal> {
    let entries = aggregate.get("errors")?.as_array()?;
    let mut consents = Vec::new();
    let mut broken = Vec::new();
    let mut saw_consent = false;
    for entry in entries {
        let Some(obj) = entry.as_object() else {
            broken.push((toolbox.to_owned(), ErrorClass::Protocol));
            continue;
        };
        let label = obj
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(toolbox)
            .to_owned();
        let error = obj.get("error").and_then(Value::as_object);
        let is_consent = error
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("CONSENT_REQUIRED"));
        if !is_consent {
            broken.push((label, ErrorClass::Upstream));
            continue;
        }
        saw_consent = true;
        match error.and_then(|e| e.get("message")).and_then(Value::as_str) {
            Some(link) if links.is_valid(link.trim()) => {
                consents.push(ConsentRequest { server_label: label, consent_link: link.trim().to_owned() })
            }
            _ => broken.push((label, ErrorClass::InvalidConsentLink)),
        }
    }
    if saw_consent {
        Some(Signal::Consent { consents, broken })
    } else if broken.is_empty() {
        None
    } else {
        Some(Signal::Hard { broken })
    }
}

/// The first JSON object in `text` that holds (possibly nested) an `errors` array.
fn find_aggregate(text: &str) -> Option<Value> {
    let text = match text.char_indices().nth(MAX_SCAN_BYTES) {
        Some((cut, _)) => &text[..cut],
        None => text,
    };
    for (start, _) in text.match_indices('{').take(MAX_CANDIDATES) {
        let Some(end) = balanced_end(&text[start..]) else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<Value>(&text[start..start + end]) else {
            continue;
        };
        if let Some(found) = find_errors_object(&value, 0) {
            return Some(found.clone());
        }
    }
    None
}

/// Length of the balanced `{...}` at the start of `text`, honouring JSON strings and escapes.
fn balanced_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `value` itself when it has an `errors` array, else the first nested object that has one.
fn find_errors_object(value: &Value, depth: usize) -> Option<&Value> {
    if depth > 4 {
        return None;
    }
    match value {
        Value::Object(map) => {
            if map.get("errors").is_some_and(Value::is_array) {
                return Some(value);
            }
            map.values().find_map(|v| find_errors_object(v, depth + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "consent_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "consent_props.rs"]
mod props;
