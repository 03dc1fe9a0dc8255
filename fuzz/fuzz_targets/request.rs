//! The create-request parser (JSON body -> CreateRequest) and what reads its tools: the echo
//! without credentials, toolbox markers and request `mcp` servers.
#![no_main]

use agenthost_responses::{CreateRequest, Created, Response, AgentReference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(request) = CreateRequest::parse(body) else { return };
    let echoed = request.echoed_tools();
    assert_eq!(echoed.len(), request.tools.len());
    let _ = agenthost_toolbox::parse_markers(&request.tools);
    let _ = agenthost_remote_mcp::parse(&request.tools);
    let _ = Response::from_request(
        &request,
        Created {
            id: String::from("caresp_0000000000000000000000000000000000000000000000"),
            created_at: 0,
            default_model: String::new(),
            agent: AgentReference::new("a", None),
            session_id: String::from("s"),
        },
    );
});
