//! Request `mcp` servers: the tool spec and the outbound-safety URL check. What the policy
//! accepts is https (or http where private networks are allowed) with a host.
#![no_main]

use agenthost_egress::EgressPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    let (url, tool) = input;
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(tool) {
        let _ = agenthost_remote_mcp::parse(&[value]);
    }
    let strict = EgressPolicy::default();
    if let Ok(parsed) = strict.check_url(url) {
        assert_eq!(parsed.scheme(), "https", "{url}");
        assert!(parsed.host().is_some());
        assert!(parsed.username().is_empty() && parsed.password().is_none());
    }
});
