//! Outbound safety for URLs a request supplies (request `mcp` servers): which schemes, hosts and
//! addresses the server may connect to on a caller's behalf, so it cannot be turned into a proxy
//! into the cluster's private network or the cloud's metadata service.
//!
//! Three checks, one policy: [`EgressPolicy::check_url`] (scheme, credentials in the URL, host
//! patterns, IP literals) and [`EgressPolicy::check_resolved`] (every address the host resolves
//! to) before a response is created, and [`EgressPolicy::guard`] on the HTTP client, which checks
//! every resolved address again when connecting (DNS rebinding between check and connect cannot
//! slip through), refuses redirects to refused URLs and uses no proxy.

mod address;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use url::{Host, Url};

pub use address::classify;

/// Most redirects followed.
const MAX_REDIRECTS: usize = 5;

/// Why a URL is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Not a URL, or one without a host.
    InvalidUrl,
    /// Not `https` (or `http` where private networks are allowed).
    Scheme,
    /// `user:password@` in the URL.
    Credentials,
    /// The host matches none of the allowed host patterns.
    HostNotAllowed,
    /// 127.0.0.0/8, ::1, `localhost`.
    Loopback,
    /// RFC 1918, IPv6 unique-local (fc00::/7, incl. fd00:ec2::254), site-local and local-use
    /// NAT64 (64:ff9b:1::/48).
    Private,
    /// 169.254.0.0/16 (incl. 169.254.169.254), fe80::/10.
    LinkLocal,
    /// 100.64.0.0/10 (carrier-grade NAT).
    SharedAddress,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// Documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32,
    /// 3fff::/20).
    Documentation,
    /// Reserved and special-purpose ranges (240.0.0.0/4, 192.0.0.0/24, 198.18.0.0/15,
    /// 192.88.99.0/24, and IPv6 outside 2000::/3 such as 100::/64).
    Reserved,
    /// In a configured denied network (always refused).
    DeniedNetwork,
    /// The host did not resolve (in time).
    Unresolvable,
    /// A redirect to a refused URL, or too many redirects.
    Redirect,
}

impl Rule {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::InvalidUrl => "invalid_url",
            Rule::Scheme => "scheme",
            Rule::Credentials => "credentials_in_url",
            Rule::HostNotAllowed => "host_not_allowed",
            Rule::Loopback => "loopback",
            Rule::Private => "private",
            Rule::LinkLocal => "link_local",
            Rule::SharedAddress => "shared_address",
            Rule::Multicast => "multicast",
            Rule::Unspecified => "unspecified",
            Rule::Broadcast => "broadcast",
            Rule::Documentation => "documentation",
            Rule::Reserved => "reserved",
            Rule::DeniedNetwork => "denied_network",
            Rule::Unresolvable => "unresolvable",
            Rule::Redirect => "redirect",
        }
    }

    fn address_kind(self) -> &'static str {
        match self {
            Rule::Loopback => "a loopback address",
            Rule::Private => "a private address",
            Rule::LinkLocal => "a link-local address",
            Rule::SharedAddress => "a shared (CGNAT) address",
            Rule::Multicast => "a multicast address",
            Rule::Unspecified => "an unspecified address",
            Rule::Broadcast => "the broadcast address",
            Rule::Documentation => "a documentation address",
            Rule::Reserved => "a reserved address",
            Rule::DeniedNetwork => "a denied network",
            _ => "a refused address",
        }
    }
}

/// A refused URL: the rule and a message naming it and the host (never the URL's path or query,
/// which may hold secrets).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// Which rule refused it.
    pub rule: Rule,
    /// What the caller reads.
    pub message: String,
}

impl Refusal {
    fn new(rule: Rule, message: impl Into<String>) -> Self {
        Refusal { rule, message: message.into() }
    }

    /// The `Refusal` in an error's source chain, if any: a `reqwest::Error` from a client built
    /// with [`EgressPolicy::guard`] holds one when the guard refused a resolved address or a
    /// redirect.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
        let mut current = Some(error);
        while let Some(err) = current {
            if let Some(refusal) = err.downcast_ref::<Refusal>() {
                return Some(refusal);
            }
            current = err.source();
        }
        None
    }

    fn address(rule: Rule, host: &str, ip: IpAddr) -> Self {
        let message = if host == ip.to_string() || host.trim_matches(['[', ']']) == ip.to_string() {
            format!("{host} is {} (rule {})", rule.address_kind(), rule.as_str())
        } else {
            format!("{host} resolves to {ip}, {} (rule {})", rule.address_kind(), rule.as_str())
        };
        Refusal::new(rule, message)
    }
}

/// A configured value the policy cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// An allowed-host pattern is not a host name, `*.`-suffix or address.
    #[error("{0:?} is not a host pattern (example.com, *.example.com, 10.0.0.5, [::1])")]
    InvalidHostPattern(String),
    /// A denied network is not a CIDR.
    #[error("{0:?} is not a network in CIDR form (10.96.0.0/12, fd00::/8)")]
    InvalidNetwork(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    /// This host only.
    Exact(String),
    /// Any host below this suffix (`*.example.com`: `a.example.com`, not `example.com`).
    Below(String),
}

impl HostPattern {
    fn parse(raw: &str) -> Result<Self, PolicyError> {
        let bad = || PolicyError::InvalidHostPattern(raw.to_string());
        let text = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let (below, host) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest.to_string()),
            None => (false, text),
        };
        if host.is_empty() || (host.contains(['*', '/', ':', '@']) && !host.starts_with('[')) {
            return Err(bad());
        }
        // Normalised the way URL hosts are (IDNA, IP forms), so comparisons are like for like.
        let parsed = Host::parse(&host).map_err(|_| bad())?;
        let normal = host_text(&parsed);
        if normal.is_empty() || (below && !matches!(parsed, Host::Domain(_))) {
            return Err(bad());
        }
        Ok(if below { HostPattern::Below(normal) } else { HostPattern::Exact(normal) })
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h == host,
            HostPattern::Below(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
        }
    }
}

/// A host as compared and shown: lower case, no trailing dot, IPv6 without brackets.
fn host_text<S: AsRef<str>>(host: &Host<S>) -> String {
    match host {
        Host::Domain(d) => d.as_ref().trim_end_matches('.').to_ascii_lowercase(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    }
}

/// Which outbound URLs request tools may reach.
#[derive(Clone, Debug)]
pub struct EgressPolicy {
    allow_private: bool,
    allowed_hosts: Vec<HostPattern>,
    denied_networks: Vec<IpNet>,
}

impl Default for EgressPolicy {
    /// `https` to public addresses only.
    fn default() -> Self {
        EgressPolicy { allow_private: false, allowed_hosts: Vec::new(), denied_networks: Vec::new() }
    }
}

impl EgressPolicy {
    /// `allow_private`: allow loopback/private/link-local… addresses and plain `http` (local use,
    /// tests). `allowed_hosts`: host patterns every URL must match (empty: any host).
    /// `denied_networks`: CIDRs always refused, whatever else is allowed.
    pub fn new(allow_private: bool, allowed_hosts: &[String], denied_networks: &[String]) -> Result<Self, PolicyError> {
        let allowed_hosts = allowed_hosts.iter().map(|h| HostPattern::parse(h)).collect::<Result<_, _>>()?;
        let denied_networks = denied_networks
            .iter()
            .map(|n| {
                let n = n.trim();
                n.parse::<IpNet>()
                    .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| PolicyError::InvalidNetwork(n.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(EgressPolicy { allow_private, allowed_hosts, denied_networks })
    }

    /// Whether loopback/private addresses and plain `http` are allowed.
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// The rule that refuses `ip`, if any.
    pub fn refuses(&self, ip: IpAddr) -> Option<Rule> {
        let embedded = address::embedded_v4(ip).map(IpAddr::V4);
        if self.denied_networks.iter().any(|n| n.contains(&ip) || embedded.is_some_and(|v4| n.contains(&v4))) {
            return Some(Rule::DeniedNetwork);
        }
        if self.allow_private {
            return None;
        }
        classify(ip)
    }

    /// Parses `url` and checks what needs no lookup: scheme, credentials, host patterns, and
    /// the address of an IP-literal host.
    pub fn check_url(&self, url: &str) -> Result<Url, Refusal> {
        let parsed = Url::parse(url.trim()).map_err(|e| Refusal::new(Rule::InvalidUrl, format!("not a URL: {e}")))?;
        let Some(host) = parsed.host() else {
            return Err(Refusal::new(Rule::InvalidUrl, "the URL has no host"));
        };
        let shown = host_text(&host);
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            other => {
                let allowed = if self.allow_private { "https or http" } else { "https" };
                return Err(Refusal::new(
                    Rule::Scheme,
                    format!("only {allowed} URLs are allowed, not '{other}' (rule scheme)"),
                ));
            }
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Refusal::new(
                Rule::Credentials,
                format!(
                    "the URL for {shown} carries credentials; use headers or authorization (rule credentials_in_url)"
                ),
            ));
        }
        if !self.allowed_hosts.is_empty() && !self.allowed_hosts.iter().any(|p| p.matches(&shown)) {
            return Err(Refusal::new(
                Rule::HostNotAllowed,
                format!("{shown} is not an allowed host (rule host_not_allowed)"),
            ));
        }
        let ip = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if !self.allow_private && (d == "localhost" || d.ends_with(".localhost")) {
                    return Err(Refusal::new(Rule::Loopback, format!("{d} is a loopback name (rule loopback)")));
                }
                None
            }
        };
        if let Some(ip) = ip
            && let Some(rule) = self.refuses(ip)
        {
            return Err(Refusal::address(rule, &shown, ip));
        }
        Ok(parsed)
    }

    /// Resolves the URL's host and checks every address; an IP-literal host needs no lookup.
    pub async fn check_resolved(&self, url: &Url, timeout: Duration) -> Result<(), Refusal> {
        let Some(Host::Domain(domain)) = url.host() else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = resolve(domain, port, timeout).await?;
        self.check_addresses(domain, &addrs)
    }

    fn check_addresses(&self, host: &str, addrs: &[SocketAddr]) -> Result<(), Refusal> {
        if addrs.is_empty() {
            return Err(Refusal::new(Rule::Unresolvable, format!("{host} has no address (rule unresolvable)")));
        }
        for addr in addrs {
            if let Some(rule) = self.refuses(addr.ip()) {
                return Err(Refusal::address(rule, host, addr.ip()));
            }
        }
        Ok(())
    }

    /// The HTTP client's side of the policy: every connection's resolved addresses are checked
    /// (one refused address fails the connection), redirects are followed only to URLs
    /// [`EgressPolicy::check_url`] accepts on the same origin (at most five; the request's
    /// credentials are its own server's), and no proxy is used (it would resolve the host
    /// itself).
    pub fn guard(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let redirects = self.clone();
        builder
            .dns_resolver(Arc::new(GuardedResolver { policy: self.clone() }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // `previous` holds every URL already requested, the first one included.
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(Refusal::new(Rule::Redirect, "too many redirects (rule redirect)"));
                }
                if let Err(refusal) = redirects.check_url(attempt.url().as_str()) {
                    return attempt.error(Refusal::new(
                        Rule::Redirect,
                        format!("a redirect was refused: {} (rule redirect)", refusal.message),
                    ));
                }
                // A request's credentials (custom headers reqwest does not strip) are for its
                // own server: a redirect elsewhere would hand them to another.
                let same_origin = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
                if !same_origin {
                    let host = attempt.url().host_str().unwrap_or_default().to_string();
                    return attempt.error(Refusal::new(
                        Rule::Redirect,
                        format!("a redirect to another origin ({host}) was refused: the request's credentials are for its own server (rule redirect)"),
                    ));
                }
                attempt.follow()
            }))
            .no_proxy()
    }
}

async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, Refusal> {
    let unresolvable = |why: String| Refusal::new(Rule::Unresolvable, format!("{host} {why} (rule unresolvable)"));
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(unresolvable(format!("did not resolve within {timeout:?}"))),
        Ok(Err(e)) => Err(unresolvable(format!("does not resolve: {e}"))),
        Ok(Ok(addrs)) => Ok(addrs.collect()),
    }
}

/// reqwest's resolver with the policy applied to every answer.
struct GuardedResolver {
    policy: EgressPolicy,
}

/// How long the connect-time lookup may take.
const CONNECT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs = resolve(&host, 0, CONNECT_RESOLVE_TIMEOUT).await?;
            policy.check_addresses(&host, &addrs)?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests;
