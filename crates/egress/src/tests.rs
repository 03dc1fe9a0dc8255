use std::net::SocketAddr;
use std::time::Duration;

use super::*;

fn strict() -> EgressPolicy {
    EgressPolicy::default()
}

fn rule(policy: &EgressPolicy, url: &str) -> Option<Rule> {
    policy.check_url(url).err().map(|r| r.rule)
}

#[test]
fn addresses_that_are_not_the_public_internet_are_refused() {
    let p = strict();
    let cases = [
        ("https://127.0.0.1/", Rule::Loopback),
        ("https://127.9.9.9/", Rule::Loopback),
        ("https://2130706433/", Rule::Loopback),
        ("https://0177.0.0.1/", Rule::Loopback),
        ("https://0x7f.1/", Rule::Loopback),
        ("https://[::1]/", Rule::Loopback),
        ("https://[::ffff:127.0.0.1]/", Rule::Loopback),
        ("https://localhost/", Rule::Loopback),
        ("https://api.localhost./", Rule::Loopback),
        ("https://10.0.0.1/", Rule::Private),
        ("https://172.16.5.4/", Rule::Private),
        ("https://192.168.1.1/", Rule::Private),
        ("https://[fd00:ec2::254]/", Rule::Private),
        ("https://[fc00::1]/", Rule::Private),
        ("https://[::ffff:10.0.0.1]/", Rule::Private),
        ("https://[64:ff9b::10.0.0.1]/", Rule::Private),
        ("https://169.254.169.254/latest/meta-data", Rule::LinkLocal),
        ("https://[fe80::1]/", Rule::LinkLocal),
        ("https://100.64.0.1/", Rule::SharedAddress),
        ("https://224.0.0.1/", Rule::Multicast),
        ("https://[ff02::1]/", Rule::Multicast),
        ("https://0.0.0.0/", Rule::Unspecified),
        ("https://[::]/", Rule::Unspecified),
        ("https://255.255.255.255/", Rule::Broadcast),
        ("https://240.0.0.1/", Rule::Reserved),
        ("https://192.0.2.1/", Rule::Documentation),
        ("https://[2001:db8::1]/", Rule::Documentation),
    ];
    for (url, expected) in cases {
        assert_eq!(rule(&p, url), Some(expected), "{url}");
    }
    for public in ["https://93.184.216.34/mcp", "https://[2606:4700::1111]/", "https://mcp.example.com/mcp"] {
        assert_eq!(rule(&p, public), None, "{public}");
    }
}

#[test]
fn schemes_credentials_and_messages() {
    let p = strict();
    assert_eq!(rule(&p, "http://mcp.example.com/"), Some(Rule::Scheme));
    assert!(matches!(rule(&p, "file:///etc/passwd"), Some(Rule::InvalidUrl | Rule::Scheme)));
    assert_eq!(rule(&p, "ftp://mcp.example.com/"), Some(Rule::Scheme));
    assert_eq!(rule(&p, "https://user:pw@mcp.example.com/"), Some(Rule::Credentials));
    assert_eq!(rule(&p, "not a url"), Some(Rule::InvalidUrl));
    let refusal = p.check_url("https://169.254.169.254/latest/meta-data?token=secret").unwrap_err();
    assert_eq!(refusal.message, "169.254.169.254 is a link-local address (rule link_local)");
    assert!(!refusal.message.contains("secret") && !refusal.message.contains("meta-data"));
}

#[test]
fn private_networks_can_be_allowed_but_denied_networks_never() {
    let p = EgressPolicy::new(true, &[], &["10.96.0.0/12".into(), "169.254.169.254".into()]).unwrap();
    assert!(p.allows_private());
    assert_eq!(rule(&p, "http://127.0.0.1:8080/mcp"), None);
    assert_eq!(rule(&p, "http://localhost:8080/mcp"), None);
    assert_eq!(rule(&p, "http://10.1.2.3/"), None);
    assert_eq!(rule(&p, "http://10.100.0.1/"), Some(Rule::DeniedNetwork));
    assert_eq!(rule(&p, "http://[::ffff:10.100.0.1]/"), Some(Rule::DeniedNetwork));
    assert_eq!(rule(&p, "http://169.254.169.254/"), Some(Rule::DeniedNetwork));
    assert_eq!(rule(&p, "ftp://127.0.0.1/"), Some(Rule::Scheme));
    assert!(matches!(EgressPolicy::new(false, &[], &["10.0.0.0/33".into()]), Err(PolicyError::InvalidNetwork(_))));
}

#[test]
fn allowed_host_patterns() {
    let p = EgressPolicy::new(false, &["mcp.example.com".into(), "*.tools.example".into()], &[]).unwrap();
    assert_eq!(rule(&p, "https://MCP.example.com./mcp"), None);
    assert_eq!(rule(&p, "https://a.tools.example/"), None);
    assert_eq!(rule(&p, "https://a.b.tools.example/"), None);
    assert_eq!(rule(&p, "https://tools.example/"), Some(Rule::HostNotAllowed));
    assert_eq!(rule(&p, "https://evil-tools.example/"), Some(Rule::HostNotAllowed));
    assert_eq!(rule(&p, "https://other.example.com/"), Some(Rule::HostNotAllowed));
    let ips = EgressPolicy::new(true, &["127.0.0.1".into(), "[::1]".into()], &[]).unwrap();
    assert_eq!(rule(&ips, "http://127.0.0.1:1/"), None);
    assert_eq!(rule(&ips, "http://[::1]:1/"), None);
    assert_eq!(rule(&ips, "http://127.0.0.2/"), Some(Rule::HostNotAllowed));
    assert!(matches!(EgressPolicy::new(false, &["*.".into()], &[]), Err(PolicyError::InvalidHostPattern(_))));
    assert!(matches!(EgressPolicy::new(false, &["a b".into()], &[]), Err(PolicyError::InvalidHostPattern(_))));
}

#[tokio::test]
async fn resolved_addresses_are_checked() {
    let p = strict();
    // `localhost.` passes the name check only when spelled differently; resolution still refuses.
    let url = Url::parse("https://localhost/").unwrap();
    assert_eq!(p.check_resolved(&url, Duration::from_secs(5)).await.unwrap_err().rule, Rule::Loopback);
    let ip = Url::parse("https://127.0.0.1/").unwrap();
    assert_eq!(p.check_resolved(&ip, Duration::from_secs(5)).await, Ok(()), "IP literals are check_url's");
    // A failed lookup (a NUL byte fails inside the resolver, so no query leaves the machine).
    let refusal = resolve("bad\0name", 443, Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(refusal.rule, Rule::Unresolvable);
    assert!(refusal.message.ends_with("(rule unresolvable)"), "{}", refusal.message);
}

fn client(policy: &EgressPolicy) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    policy.guard(reqwest::Client::builder()).build().unwrap()
}

/// A loopback listener that counts accepted connections and answers each with `response`.
async fn listener(response: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = l.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 2048];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (port, count)
}

#[tokio::test]
async fn the_client_refuses_a_name_that_resolves_to_a_refused_address() {
    let (port, count) = listener("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let err = client(&strict()).get(format!("http://localhost:{port}/")).send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let chain = format!("{:?}", err);
    assert!(chain.contains("loopback"), "{chain}");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 0, "no connection was made");
    // The same client reaches it when the policy allows private networks.
    let ok = client(&EgressPolicy::new(true, &[], &[]).unwrap()).get(format!("http://localhost:{port}/")).send().await;
    assert_eq!(ok.unwrap().status(), 200);
}

#[tokio::test]
async fn redirects_to_refused_urls_are_not_followed() {
    let (port, _) =
        listener("HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest\r\ncontent-length: 0\r\n\r\n").await;
    let policy = EgressPolicy::new(true, &[], &["169.254.0.0/16".into()]).unwrap();
    let err = client(&policy).get(format!("http://localhost:{port}/")).send().await.unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert!(format!("{err:?}").contains("denied network"), "{err:?}");
}

#[test]
fn ipv6_forms_embedding_an_ipv4_address_are_judged_by_it() {
    let p = strict();
    let cases = [
        ("https://[::ffff:169.254.169.254]/", Some(Rule::LinkLocal)),
        ("https://[::ffff:0:127.0.0.1]/", Some(Rule::Loopback)), // SIIT
        ("https://[::127.0.0.1]/", Some(Rule::Loopback)),        // IPv4-compatible
        ("https://[64:ff9b::a9fe:a9fe]/", Some(Rule::LinkLocal)), // NAT64 of 169.254.169.254
        ("https://[2002:7f00:1::1]/", Some(Rule::Loopback)),     // 6to4 of 127.0.0.1
        ("https://[2002:c0a8:101::1]/", Some(Rule::Private)),    // 6to4 of 192.168.1.1
        ("https://[64:ff9b:1::a00:1]/", Some(Rule::Private)),    // local-use NAT64
        ("https://[64:ff9b::808:808]/", None),                   // NAT64 of 8.8.8.8
        ("https://[2002:808:808::1]/", None),                    // 6to4 of 8.8.8.8
    ];
    for (url, expected) in cases {
        assert_eq!(rule(&p, url), expected, "{url}");
    }
}

#[test]
fn the_remaining_special_ranges_are_refused_and_their_neighbours_are_not() {
    let p = strict();
    let cases = [
        ("https://0.1.2.3/", Some(Rule::Unspecified)),
        ("https://0/", Some(Rule::Unspecified)),
        ("https://100.127.255.254/", Some(Rule::SharedAddress)),
        ("https://100.63.255.255/", None),
        ("https://100.128.0.0/", None),
        ("https://172.31.255.255/", Some(Rule::Private)),
        ("https://172.32.0.1/", None),
        ("https://239.255.255.250/", Some(Rule::Multicast)),
        ("https://192.0.0.170/", Some(Rule::Reserved)),
        ("https://198.18.0.1/", Some(Rule::Reserved)),
        ("https://192.88.99.1/", Some(Rule::Reserved)),
        ("https://203.0.113.7/", Some(Rule::Documentation)),
        ("https://[fec0::1]/", Some(Rule::Private)),
        ("https://[100::1]/", Some(Rule::Reserved)),
        ("https://[4000::1]/", Some(Rule::Reserved)),
        ("https://[3fff::1]/", Some(Rule::Documentation)),
        ("https://[3fff:1000::1]/", None),
    ];
    for (url, expected) in cases {
        assert_eq!(rule(&p, url), expected, "{url}");
    }
}

#[test]
fn only_http_and_https_are_ever_allowed_and_userinfo_never() {
    let open = EgressPolicy::new(true, &[], &[]).unwrap();
    for url in ["ftp://127.0.0.1/", "ws://127.0.0.1/", "wss://mcp.example.com/", "gopher://127.0.0.1:70/"] {
        assert_eq!(rule(&open, url), Some(Rule::Scheme), "{url}");
        assert_eq!(rule(&strict(), url), Some(Rule::Scheme), "{url}");
    }
    for url in ["https://user@mcp.example.com/", "https://:pw@mcp.example.com/", "http://u:p@127.0.0.1/"] {
        assert_eq!(rule(&open, url), Some(Rule::Credentials), "{url}");
    }
    let refusal = strict().check_url("https://alice:hunter2@mcp.example.com/x?k=v").unwrap_err();
    assert!(!refusal.message.contains("hunter2") && !refusal.message.contains("alice"), "{}", refusal.message);
}

#[test]
fn one_refused_address_among_public_ones_refuses_the_host() {
    let addrs: Vec<SocketAddr> =
        ["8.8.8.8:443", "[2606:4700::1111]:443", "10.0.0.1:443"].iter().map(|a| a.parse().unwrap()).collect();
    let refusal = strict().check_addresses("mixed.example.com", &addrs).unwrap_err();
    assert_eq!(
        refusal,
        Refusal {
            rule: Rule::Private,
            message: "mixed.example.com resolves to 10.0.0.1, a private address (rule private)".into()
        }
    );
    assert_eq!(strict().check_addresses("public.example.com", &addrs[..2]), Ok(()));
    assert_eq!(strict().check_addresses("empty.example.com", &[]).unwrap_err().rule, Rule::Unresolvable);
}

#[test]
fn host_patterns_are_normalised_like_url_hosts() {
    let p = EgressPolicy::new(false, &["BÜCHER.de".into(), "Example.COM.".into(), "8.8.4.4".into()], &[]).unwrap();
    for ok in ["https://bücher.de/", "https://xn--bcher-kva.de/", "https://example.com/", "https://8.8.4.4/"] {
        assert_eq!(rule(&p, ok), None, "{ok}");
    }
    for refused in ["https://example.com.evil.net/", "https://www.example.com/", "https://8.8.8.8/"] {
        assert_eq!(rule(&p, refused), Some(Rule::HostNotAllowed), "{refused}");
    }
    // An allowed host is still subject to the address rules.
    let p = EgressPolicy::new(false, &["10.0.0.5".into()], &[]).unwrap();
    assert_eq!(rule(&p, "https://10.0.0.5/"), Some(Rule::Private));
    for bad in ["https://example.com", "example.com:443", "ex*ample.com", "*.10.0.0.1", "a/b", "*", ""] {
        assert_eq!(
            EgressPolicy::new(false, &[bad.into()], &[]).unwrap_err(),
            PolicyError::InvalidHostPattern(bad.into()),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn the_client_refuses_denied_networks_at_connect_time_even_with_private_allowed() {
    let (port, count) = listener("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let denied = EgressPolicy::new(true, &[], &["127.0.0.0/8".into(), "::1".into()]).unwrap();
    let err = client(&denied).get(format!("http://localhost:{port}/")).send().await.unwrap_err();
    let refusal = Refusal::find(&err).unwrap_or_else(|| panic!("no refusal in {err:?}"));
    assert_eq!(refusal.rule, Rule::DeniedNetwork);
    assert!(refusal.message.starts_with("localhost resolves to "), "{}", refusal.message);
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 0, "no connection was made");
}

#[tokio::test]
async fn refused_and_cross_origin_redirects_are_not_followed() {
    let (port, count) =
        listener("HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest?k=secret\r\ncontent-length: 0\r\n\r\n")
            .await;
    let policy = EgressPolicy::new(true, &[], &["169.254.0.0/16".into()]).unwrap();
    let err = client(&policy).get(format!("http://127.0.0.1:{port}/")).send().await.unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert_eq!(
        Refusal::find(&err),
        Some(&Refusal {
            rule: Rule::Redirect,
            message:
                "a redirect was refused: 169.254.169.254 is a denied network (rule denied_network) (rule redirect)"
                    .into()
        })
    );
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (end, _) = listener("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nend").await;
    let hop: &'static str = Box::leak(
        format!("HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{end}/end\r\ncontent-length: 0\r\n\r\n").into(),
    );
    let (start, _) = listener(hop).await;
    // An allowed address on another origin is still refused: the request's credentials are for
    // its own server. (Same-origin redirects are followed: `redirects_stop_after_the_limit`.)
    let err = client(&policy).get(format!("http://127.0.0.1:{start}/")).send().await.unwrap_err();
    let refusal = Refusal::find(&err).unwrap_or_else(|| panic!("no refusal in {err:?}"));
    assert_eq!(refusal.rule, Rule::Redirect);
    assert!(refusal.message.starts_with("a redirect to another origin (127.0.0.1) was refused"), "{}", refusal.message);
}

#[tokio::test]
async fn redirects_stop_after_the_limit() {
    let (port, count) = listener("HTTP/1.1 302 Found\r\nlocation: /again\r\ncontent-length: 0\r\n\r\n").await;
    let policy = EgressPolicy::new(true, &[], &[]).unwrap();
    let err = client(&policy).get(format!("http://127.0.0.1:{port}/")).send().await.unwrap_err();
    assert_eq!(Refusal::find(&err).map(|r| r.rule), Some(Rule::Redirect), "{err:?}");
    // The first request and MAX_REDIRECTS followed redirects reached the server.
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), MAX_REDIRECTS + 1);
}

#[test]
fn rule_names_are_stable() {
    let all = [
        (Rule::InvalidUrl, "invalid_url"),
        (Rule::Scheme, "scheme"),
        (Rule::Credentials, "credentials_in_url"),
        (Rule::HostNotAllowed, "host_not_allowed"),
        (Rule::Loopback, "loopback"),
        (Rule::Private, "private"),
        (Rule::LinkLocal, "link_local"),
        (Rule::SharedAddress, "shared_address"),
        (Rule::Multicast, "multicast"),
        (Rule::Unspecified, "unspecified"),
        (Rule::Broadcast, "broadcast"),
        (Rule::Documentation, "documentation"),
        (Rule::Reserved, "reserved"),
        (Rule::DeniedNetwork, "denied_network"),
        (Rule::Unresolvable, "unresolvable"),
        (Rule::Redirect, "redirect"),
    ];
    for (rule, name) in all {
        assert_eq!(rule.as_str(), name);
    }
}
