//! OAuth consent: link validation, loop detection, and the explanation printed when a source
//! keeps asking for consent.
//!
//! The resume contract (toolbox-consent-anchors §1.3) is "sign in out of band, then re-send the
//! same prompt"; there is no reply item and no "consent completed" signal, so a source that fails
//! after consent would make a naive client loop forever (W22). [`ConsentTracker`] bounds that.

use std::collections::HashMap;
use std::net::IpAddr;

use url::{Host, Url};

/// One `oauth_consent_request`: who asks, and the link as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Consent {
    pub server_label: String,
    pub link: String,
}

impl Consent {
    /// The label to show; servers may omit it.
    pub(crate) fn label(&self) -> String {
        display_label(&self.server_label)
    }
}

/// A `server_label` fit for printing; servers may omit it.
pub(crate) fn display_label(server_label: &str) -> String {
    if server_label.trim().is_empty() { "a tool".to_owned() } else { crate::text::clean(server_label) }
}

/// Checks a consent link before it is printed or opened, returning it normalized.
///
/// Accepted: absolute `https://` URLs with a host, and `http://` only for loopback hosts
/// (`localhost`, `127.0.0.0/8`, `::1`). Rejected: control, whitespace or invisible formatting
/// characters, backslashes, embedded credentials, any other scheme.
pub fn validate_consent_link(link: &str) -> Result<String, String> {
    if link.is_empty() {
        return Err("the link is empty".to_owned());
    }
    if link.chars().any(|c| c.is_control() || c.is_whitespace() || is_invisible(c)) {
        return Err("the link contains control, space or invisible characters".to_owned());
    }
    if link.contains('\\') {
        return Err("the link contains a backslash".to_owned());
    }
    let lower = link.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    match rest {
        None => return Err("the link is not an absolute https:// URL".to_owned()),
        Some(r) if r.is_empty() || r.starts_with('/') => {
            return Err("the link has no host".to_owned());
        }
        Some(_) => {}
    }
    let url = Url::parse(link).map_err(|e| format!("the link is not a valid URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the link carries credentials".to_owned());
    }
    let host = url.host().ok_or_else(|| "the link has no host".to_owned())?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => return Err("the link uses http:// for a non-loopback host".to_owned()),
        _ => return Err("the link is not an absolute https:// URL".to_owned()),
    }
    Ok(url.to_string())
}

/// Zero-width and bidirectional formatting characters, which can disguise a link.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// Counts, per source, how many responses in a row asked for consent while the same input is
/// re-sent.
#[derive(Debug)]
pub(crate) struct ConsentTracker {
    max_retries: u32,
    asks: HashMap<String, u32>,
}

impl ConsentTracker {
    /// A tracker allowing `max_retries` re-sends per source.
    pub(crate) fn new(max_retries: u32) -> Self {
        Self { max_retries, asks: HashMap::new() }
    }

    /// Records one response that asked for consent for `labels`. Returns the first source that
    /// has now asked more often than re-sends allow (so another re-send would loop). Sources
    /// that did not ask this time start over.
    pub(crate) fn record<'a>(&mut self, labels: impl IntoIterator<Item = &'a str>) -> Option<String> {
        let mut labels: Vec<&str> = labels.into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        labels.retain(|l| seen.insert(*l));
        self.asks.retain(|k, _| labels.contains(&k.as_str()));
        let mut stop = None;
        for label in labels {
            let n = self.asks.entry(label.to_owned()).or_insert(0);
            *n += 1;
            if *n > self.max_retries && stop.is_none() {
                stop = Some(label.to_owned());
            }
        }
        stop
    }
}

/// The lines printed when the consent loop is stopped.
pub(crate) fn loop_explanation(label: &str, retries: u32) -> Vec<String> {
    vec![
        format!("error: {label} still asks for consent after {retries} re-send(s); stopping instead of looping"),
        "Likely causes:".to_owned(),
        "  - the connection is missing scopes the tool needs (check the OAuth connection's scopes)".to_owned(),
        "  - the redirect URI is not registered with the OAuth app, so sign-in never completed".to_owned(),
        "  - consent was given in another account or tenant than the user the agent runs as".to_owned(),
        "  - the toolbox source fails right after consent (check the server and proxy logs)".to_owned(),
    ]
}
