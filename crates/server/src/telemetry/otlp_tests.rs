//! OTLP/HTTP export reaches a collector (a receiver started by the test), and an unreachable
//! collector never affects requests.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;

use super::{LoggedExporter, Settings, exporter, otel_layer, provider};
use crate::test_support::{ServeArgs, app, post as post_to, settle, vars};

type Received = Arc<Mutex<Vec<(String, Bytes)>>>;

/// A collector on 127.0.0.1:0 recording each `POST /v1/traces` (content type, body).
async fn collector() -> (String, Received) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let router = Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                sink.lock().expect("lock").push((ct, body));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), received)
}

/// Runs one response under a subscriber exporting over OTLP to `endpoint`, then flushes.
async fn respond_and_flush(endpoint: &str) -> Result<(), String> {
    let env = vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint), ("OTEL_SERVICE_NAME", "agenthost-test")]);
    let settings = Settings::from_env(&env).map_err(|e| e.to_string())?;
    let exporter = exporter(&settings)?.ok_or("no exporter")?;
    let provider = provider(&settings, Some(LoggedExporter::new(exporter)));
    let subscriber = tracing_subscriber::registry().with(otel_layer(&provider));
    {
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = app(ServeArgs::default(), &vars(&[])).await;
        let (status, body) = post_to(&app, "/responses", json!({"input": "hello"}), &[]).await;
        assert_eq!(status, 200, "{body}");
        settle(&app).await;
    }
    let flushed = tokio::task::spawn_blocking(move || {
        let flushed = provider.force_flush().map_err(|e| e.to_string());
        let _ = provider.shutdown();
        flushed
    });
    flushed.await.map_err(|e| e.to_string())?
}

#[tokio::test]
async fn spans_reach_an_otlp_http_collector() {
    let (endpoint, received) = collector().await;
    respond_and_flush(&endpoint).await.expect("flush");
    let received = received.lock().expect("lock").clone();
    assert!(!received.is_empty(), "nothing exported");
    let mut names = Vec::new();
    let mut services = Vec::new();
    for (content_type, body) in &received {
        assert_eq!(content_type, "application/x-protobuf");
        let request = ExportTraceServiceRequest::decode(body.as_ref()).expect("OTLP protobuf");
        for rs in request.resource_spans {
            let resource = rs.resource.unwrap_or_default();
            for kv in resource.attributes.iter().filter(|kv| kv.key == "service.name") {
                if let Some(any_value::Value::StringValue(s)) = kv.value.as_ref().and_then(|v| v.value.clone()) {
                    services.push(s);
                }
            }
            names.extend(rs.scope_spans.into_iter().flat_map(|ss| ss.spans).map(|s| s.name));
        }
    }
    names.sort();
    assert_eq!(names, ["POST /responses", "chat scripted", "invoke_agent agenthost"]);
    assert!(services.iter().all(|s| s == "agenthost-test") && !services.is_empty(), "{services:?}");
}

#[tokio::test]
async fn an_unreachable_collector_costs_the_request_nothing() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
    let endpoint = format!("http://127.0.0.1:{}", port.expect("free port"));
    // The request succeeds inside `respond_and_flush`; only the flush reports the failure.
    let error = respond_and_flush(&endpoint).await.expect_err("the flush fails");
    assert!(error.contains("HTTP export failed"), "{error}");
}
