//! Measures the latency agenthost adds between a model chunk leaving the model and the client
//! receiving the matching SSE event.
//!
//! `cargo run --release -p agenthost-e2e --example model_latency [REQUESTS] [CHUNKS]`
//! (needs `target/release/agenthost`; build it first, or set `AGENTHOST_BIN_DIR`).
//!
//! An instrumented Responses-API upstream in this process stamps each `output_text.delta` just
//! before writing it; a client in this process stamps each delta as it arrives from agenthost.
//! Both use one clock, so the difference is the server's added latency plus two loopback hops.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agenthost_e2e::{EventReader, Server};
use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use serde_json::json;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let chunks: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();

    let stamp = sent.clone();
    let app = Router::new().route(
        "/v1/responses",
        post(move || {
            let stamp = stamp.clone();
            async move {
                let stream = async_stream::stream! {
                    for i in 0..chunks {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        let event = json!({"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":format!("w{i} ")});
                        stamp.lock().unwrap().push(Instant::now());
                        yield Ok::<_, Infallible>(Bytes::from(format!("event: response.output_text.delta\ndata: {event}\n\n")));
                    }
                    let done = json!({"type":"response.completed","response":{"usage":{"input_tokens":1,"output_tokens":1}}});
                    yield Ok(Bytes::from(format!("event: response.completed\ndata: {done}\n\n")));
                };
                axum::http::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(stream))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/v1", listener.local_addr().unwrap());
    // Like a real model server, no Nagle: each chunk leaves when it is written.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });

    let server = Server::start(&[
        ("AGENTHOST_MODEL_PROVIDER", "openai"),
        ("AGENTHOST_MODEL_BASE_URL", &upstream),
        ("AGENTHOST_MODEL", "latency-probe"),
        ("RUST_LOG", "warn"),
    ])
    .await;

    let mut samples = Vec::with_capacity(requests * chunks);
    for _ in 0..requests {
        sent.lock().unwrap().clear();
        let resp = server.sse("/responses", Some(&json!({"input":"go","stream":true,"store":false})), &[]).await;
        let mut reader = EventReader::new(resp);
        let mut received = Vec::with_capacity(chunks);
        while let Some(e) = reader.next().await {
            if e.name == "response.output_text.delta" {
                received.push(Instant::now());
            }
        }
        let sent = sent.lock().unwrap();
        assert_eq!(received.len(), sent.len(), "every chunk arrived");
        samples.extend(received.iter().zip(sent.iter()).map(|(r, s)| r.duration_since(*s)));
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "model chunk -> client SSE event, {} samples ({requests} streams x {chunks} chunks): p50 {:?}  p99 {:?}  max {:?}",
        samples.len(),
        pct(0.50),
        pct(0.99),
        samples[samples.len() - 1]
    );
}
