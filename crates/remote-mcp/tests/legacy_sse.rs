//! The older HTTP+SSE transport against a hand-written 2024-11-05 server on loopback: chosen for
//! a `/sse` URL, and as the fallback when the Streamable HTTP POST is refused with 405.

use std::sync::Arc;

use agenthost_remote_mcp::{Pool, Settings, parse};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use futures::Stream;
use rmcp::model::JsonObject;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
struct Legacy {
    /// The open stream's sender (one client at a time is enough here).
    stream: Arc<Mutex<Option<mpsc::Sender<Value>>>>,
}

async fn open(State(s): State<Legacy>) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let (tx, mut rx) = mpsc::channel::<Value>(16);
    *s.stream.lock().await = Some(tx);
    let events = async_stream::stream! {
        yield Ok(Event::default().event("endpoint").data("/messages?session=1"));
        while let Some(message) = rx.recv().await {
            yield Ok(Event::default().event("message").data(message.to_string()));
        }
    };
    Sse::new(events)
}

async fn message(State(s): State<Legacy>, body: axum::Json<Value>) -> StatusCode {
    let id = body.get("id").cloned();
    let result = match body.get("method").and_then(Value::as_str) {
        Some("initialize") => json!({
            "protocolVersion": "2024-11-05",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "legacy", "version": "1"}
        }),
        Some("tools/list") => {
            json!({"tools": [{"name": "add", "description": "Adds.", "inputSchema": {"type": "object"}}]})
        }
        Some("tools/call") => {
            let args = &body["params"]["arguments"];
            let sum = args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0);
            json!({"content": [{"type": "text", "text": sum.to_string()}]})
        }
        _ => return StatusCode::ACCEPTED,
    };
    if let (Some(id), Some(tx)) = (id, s.stream.lock().await.clone()) {
        let _ = tx.send(json!({"jsonrpc": "2.0", "id": id, "result": result})).await;
    }
    StatusCode::ACCEPTED
}

async fn server() -> String {
    let app = Router::new()
        .route("/sse", get(open))
        .route("/legacy", get(open).post(|| async { StatusCode::METHOD_NOT_ALLOWED }))
        .route("/messages", post(message))
        .with_state(Legacy::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn add_through(url: String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pool = Pool::new(reqwest::Client::new(), Settings::default());
    let spec = parse(&[json!({"type":"mcp","server_label":"old","server_url":url})]).unwrap().remove(0);
    let tools = pool.list(&spec, &CancellationToken::new()).await.unwrap();
    assert_eq!(tools.iter().map(|t| t.name.to_string()).collect::<Vec<_>>(), ["add"]);
    let mut args = JsonObject::new();
    args.insert("a".into(), json!(2));
    args.insert("b".into(), json!(40));
    let result = pool.call(&spec, "add", args, &CancellationToken::new(), None).await.unwrap();
    assert_eq!(agenthost_remote_mcp::render::render(&result, 100), Ok("42".into()));
}

#[tokio::test]
async fn an_sse_url_uses_the_older_transport() {
    add_through(format!("{}/sse", server().await)).await;
}

#[tokio::test]
async fn a_refused_post_falls_back_to_the_older_transport() {
    add_through(format!("{}/legacy", server().await)).await;
}
