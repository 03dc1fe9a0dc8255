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
    let unknown = Url::parse("https://does-not-exist.invalid/").unwrap();
    assert_eq!(p.check_resolved(&unknown, Duration::from_secs(5)).await.unwrap_err().rule, Rule::Unresolvable);
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
