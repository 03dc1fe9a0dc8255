//! The ceiling for `tests/scripts/bench.sh`: a bare axum handler that does the least a Responses
//! server must do — read and parse the JSON body, answer with a response of agenthost's size —
//! and nothing else (no store, no run, no spans, no metrics).
//!
//! `cargo run --release -p agenthost --example bare -- 127.0.0.1:8090`

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;

/// What agenthost answers to `{"model":"bench","input":"hello benchmark world"}` (1,047 bytes).
const RESPONSE: &str = r#"{"id":"caresp_8b46f85ba35e445700mJFtPHDSp6J3cAQvTfZwOWaSJ9mgRTXf","object":"response","created_at":1796622106,"status":"completed","completed_at":1796622106,"error":null,"incomplete_details":null,"instructions":null,"model":"bench","output":[{"type":"message","id":"msg_8b46f85ba35e445700Ur5AoUtRp60IajAynbHxLg8IrTqXF3xI","role":"assistant","content":[{"type":"output_text","text":"You said: hello benchmark world","annotations":[],"logprobs":[]}],"status":"completed","response_id":"caresp_8b46f85ba35e445700mJFtPHDSp6J3cAQvTfZwOWaSJ9mgRTXf","agent_reference":{"type":"agent_reference","name":"agenthost"}}],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"temperature":null,"top_p":null,"metadata":{},"usage":{"input_tokens":3,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":8},"background":false,"store":true,"agent_reference":{"type":"agent_reference","name":"agenthost"},"agent_session_id":"5a59d62ad3e8859fc13cec1ed3c3ba3de4fcdf068ddd0e32bbabbab4eabc1d2"}"#;

async fn respond(body: Bytes) -> impl IntoResponse {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], RESPONSE),
        Err(_) => (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json")], "{}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8090".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let app = Router::new().route("/responses", post(respond));
    axum::serve(listener, app).await?;
    Ok(())
}
