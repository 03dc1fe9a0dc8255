//! The MCP client's reader: an SSE body (in arbitrary chunks) whose `data` lines are JSON-RPC
//! messages from the server.
#![no_main]

use futures::StreamExt;
use libfuzzer_sys::fuzz_target;
use rmcp::model::ServerJsonRpcMessage;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (first, second) = input;
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![Ok(first.into()), Ok(second.into())];
    let mut events = sse_stream::SseStream::from_bytes_stream(futures::stream::iter(chunks));
    futures::executor::block_on(async {
        while let Some(event) = events.next().await {
            let Ok(event) = event else { break };
            if let Some(data) = event.data {
                let _ = serde_json::from_str::<ServerJsonRpcMessage>(&data);
            }
        }
    });
});
