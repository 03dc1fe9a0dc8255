//! The consent parser: a JSON-RPC error (code, message, data) from the toolbox proxy. It must
//! never panic and never yield a link that fails validation.
#![no_main]

use agenthost_toolbox::consent::{LinkPolicy, Signal, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (i32, &str, &str, bool)| {
    let (code, message, data, loopback) = input;
    let policy = LinkPolicy { allow_loopback_http: loopback };
    let data = serde_json::from_str::<serde_json::Value>(data).ok();
    for data in [data.as_ref(), None] {
        if let Signal::Consent { consents, .. } = parse("tb", code, message, data, policy) {
            for c in consents {
                assert!(policy.is_valid(&c.consent_link), "invalid link {:?}", c.consent_link);
            }
        }
    }
});
