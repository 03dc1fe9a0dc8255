//! `foundry-toolbox://` markers: any server_url text in an `mcp` tool.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|url: &str| {
    let tools = [json!({"type": "mcp", "server_label": "x", "server_url": url})];
    if let Ok(markers) = agenthost_toolbox::parse_markers(&tools) {
        for (_, marker) in markers {
            // A marker name is one safe path segment.
            assert!(!marker.name.is_empty() && !marker.name.contains(['/', '?', '#']), "{marker:?}");
        }
    }
});
