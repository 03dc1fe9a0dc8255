//! Shared behaviour of both backends: retries, error codes, timeouts, authentication, trace
//! propagation and cancellation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agenthost_agent::{Model, ModelErrorCode, ModelEvent, TraceHeaders, UserKey};
use agenthost_identity::{COGNITIVE_SERVICES_SCOPE, Secret};
use agenthost_model::mock::{MockChunk, MockEnd, MockOpenAi, MockTurn};
use agenthost_model::{ApiKeyStyle, ModelConfig, ModelConfigError, Provider, build, codes};
use futures::StreamExt;
use serde_json::json;

use crate::helpers::{NoToken, RotatingToken, bounded, ctx, run, text, user};

const BOTH: [Provider; 2] = [Provider::OpenAiResponses, Provider::OpenAiChat];

fn model(config: ModelConfig) -> Arc<dyn Model> {
    build(config).unwrap()
}

#[tokio::test]
async fn rate_limit_then_success_honours_retry_after() {
    for provider in BOTH {
        let mock = MockOpenAi::start(vec![
            MockTurn::error(429, json!({"error": {"message": "Too many requests", "code": "429"}}))
                .with_header("retry-after-ms", "200"),
            MockTurn::text(&["ok"]),
        ])
        .await;
        let (events, error) = run(&*model(mock.config(provider)), &ctx(), user("hi")).await;
        assert_eq!((events, error), (vec![text("ok")], None), "{provider}");
        let requests = mock.requests();
        assert_eq!(requests.len(), 2);
        let gap = requests[1].received_at - requests[0].received_at;
        assert!(gap >= Duration::from_millis(200), "retried after {gap:?}");
        assert_eq!(requests[0].body, requests[1].body);
    }
}

#[tokio::test]
async fn retry_after_seconds_and_server_errors_are_retried() {
    let mock = MockOpenAi::start(vec![
        MockTurn::error_text(503, "upstream overloaded").retry_after("0"),
        MockTurn::error(500, json!({"error": {"message": "internal"}})),
        MockTurn::text(&["ok"]),
    ])
    .await;
    let (events, error) = run(&*model(mock.config(Provider::OpenAiChat)), &ctx(), user("hi")).await;
    assert_eq!((events, error), (vec![text("ok")], None));
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn retries_run_out_with_the_upstream_message() {
    let limited = || MockTurn::error(429, json!({"error": {"message": "Rate limit reached", "type": "requests"}}));
    let mock = MockOpenAi::start(vec![limited(), limited(), limited(), MockTurn::text(&["never"])]).await;
    let mut config = mock.config(Provider::OpenAiResponses);
    config.max_retries = 2;
    let (events, error) = run(&*model(config), &ctx(), user("hi")).await;
    assert!(events.is_empty());
    let error = error.unwrap();
    assert_eq!((error.code, error.message.as_str()), (codes::RATE_LIMITED, "Rate limit reached"));
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_is_not_waited_for() {
    let mock = MockOpenAi::start(vec![
        MockTurn::error(429, json!({"error": {"message": "come back later"}})).retry_after("120"),
        MockTurn::text(&["never"]),
    ])
    .await;
    let started = Instant::now();
    let (_, error) = run(&*model(mock.config(Provider::OpenAiChat)), &ctx(), user("hi")).await;
    assert_eq!(error.unwrap().code, codes::RATE_LIMITED);
    assert_eq!(mock.requests().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn server_error_after_partial_output_is_not_retried() {
    for provider in BOTH {
        for end in [MockEnd::ServerError("The server had an error".into()), MockEnd::Drop] {
            let mock = MockOpenAi::start(vec![
                MockTurn::text(&["par", "tial"]).ending(end.clone()),
                MockTurn::text(&["never"]),
            ])
            .await;
            let (events, error) = run(&*model(mock.config(provider)), &ctx(), user("hi")).await;
            assert_eq!(events, vec![text("par"), text("tial")], "{provider} {end:?}");
            let error = error.unwrap();
            assert_eq!(error.code, codes::MODEL_UNAVAILABLE, "{provider} {end:?}");
            if matches!(end, MockEnd::ServerError(_)) {
                assert_eq!(error.message, "The server had an error");
            }
            assert_eq!(mock.requests().len(), 1);
            assert_eq!(mock.remaining(), 1);
        }
    }
}

#[tokio::test]
async fn a_stream_that_breaks_before_any_output_is_retried() {
    for provider in BOTH {
        let mock =
            MockOpenAi::start(vec![MockTurn::text(&["lost"]).fail_after(0, MockEnd::Drop), MockTurn::text(&["ok"])])
                .await;
        let (events, error) = run(&*model(mock.config(provider)), &ctx(), user("hi")).await;
        assert_eq!((events, error), (vec![text("ok")], None), "{provider}");
        assert_eq!(mock.requests().len(), 2);
    }
}

#[tokio::test]
async fn context_length_errors_keep_the_upstream_message() {
    let message =
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens.";
    for provider in BOTH {
        let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}});
        let mock = MockOpenAi::start(vec![MockTurn::error(400, body)]).await;
        let (events, error) = run(&*model(mock.config(provider)), &ctx(), user("hi")).await;
        assert!(events.is_empty());
        let error = error.unwrap();
        assert_eq!((error.code, error.message.as_str()), (codes::CONTEXT_LENGTH_EXCEEDED, message));
        assert_eq!(mock.requests().len(), 1);
    }
}

#[tokio::test]
async fn other_client_errors_map_to_stable_codes() {
    let mock = MockOpenAi::start(vec![
        MockTurn::error(404, json!({"error": {"message": "The model `x` does not exist", "code": "model_not_found"}})),
        MockTurn::error(403, json!({"error": {"message": "forbidden"}})),
        MockTurn::reply(vec![MockChunk::raw("data: {not json\n\n")]),
        MockTurn::reply(vec![MockChunk::event(
            json!({"type": "error", "code": "invalid_prompt", "message": "flagged"}),
        )]),
    ])
    .await;
    let model = model(mock.config(Provider::OpenAiResponses));
    let mut got = Vec::new();
    for _ in 0..4 {
        let (_, error) = run(&*model, &ctx(), user("hi")).await;
        let error = error.unwrap();
        got.push((error.code, error.message));
    }
    let expected = [
        (codes::INVALID_MODEL_REQUEST, "The model `x` does not exist"),
        (codes::MODEL_AUTH_FAILED, "forbidden"),
        (codes::MODEL_ERROR, "the model stream carried an event that is not valid JSON"),
        (codes::MODEL_ERROR, "flagged"),
    ];
    let got: Vec<(ModelErrorCode, &str)> = got.iter().map(|(c, m)| (*c, m.as_str())).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn credentials_echoed_by_the_upstream_are_scrubbed() {
    let mock = MockOpenAi::start(vec![MockTurn::error(
        401,
        json!({"error": {"message": "Incorrect API key provided: sk-test-1234567. Header was Authorization: Bearer sk-test-1234567"}}),
    )])
    .await;
    let mut config = mock.config(Provider::OpenAiChat);
    config.api_key = Some(Secret::new("sk-test-1234567"));
    let (_, error) = run(&*model(config), &ctx(), user("hi")).await;
    let error = error.unwrap();
    assert_eq!(error.code, codes::MODEL_AUTH_FAILED);
    assert_eq!(error.message, "Incorrect API key provided: [redacted]. Header was Authorization: Bearer [redacted]");
}

#[tokio::test]
async fn hanging_models_time_out_quickly() {
    for provider in BOTH {
        let mock = MockOpenAi::start(vec![MockTurn::hang(), MockTurn::text(&["first"]).ending(MockEnd::Hang)]).await;
        let mut config = mock.config(provider);
        config.first_byte_timeout = Duration::from_millis(150);
        config.idle_timeout = Duration::from_millis(150);
        let model = model(config);

        let started = Instant::now();
        let (events, error) = run(&*model, &ctx(), user("hi")).await;
        assert!(events.is_empty());
        assert_eq!(error.unwrap().code, codes::MODEL_TIMEOUT, "{provider}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // The abandoned request's connection is closed.
        bounded(mock.wait_for_disconnects(1)).await;

        let (events, error) = run(&*model, &ctx(), user("hi")).await;
        assert_eq!(events, vec![text("first")]);
        assert_eq!(error.unwrap().code, codes::MODEL_TIMEOUT);
        assert_eq!(mock.requests().len(), 2, "timeouts are not retried");
        bounded(mock.wait_for_disconnects(2)).await;
    }
}

#[tokio::test]
async fn the_request_deadline_bounds_the_call() {
    let mock = MockOpenAi::start(vec![MockTurn::hang()]).await;
    let mut ctx = ctx();
    ctx.deadline = Some(tokio::time::Instant::now() + Duration::from_millis(100));
    let (_, error) = run(&*model(mock.config(Provider::OpenAiResponses)), &ctx, user("hi")).await;
    let error = error.unwrap();
    assert_eq!(error.code, codes::MODEL_TIMEOUT);
    assert_eq!(error.message, "the request deadline passed before the model finished");
}

#[tokio::test]
async fn cancelling_stops_the_stream_and_closes_the_connection() {
    for provider in BOTH {
        let mock = MockOpenAi::start(vec![MockTurn::text(&["first"]).ending(MockEnd::Hang), MockTurn::hang()]).await;
        let model = model(mock.config(provider));

        // Mid-stream.
        let ctx = ctx();
        let mut stream = model.stream(&ctx, user("hi")).await.unwrap();
        assert_eq!(bounded(stream.next()).await, Some(Ok(text("first"))));
        ctx.cancel.cancel();
        assert_eq!(bounded(stream.next()).await, None);
        bounded(mock.wait_for_disconnects(1)).await;

        // While waiting for the response headers.
        let ctx = crate::helpers::ctx();
        let mut stream = model.stream(&ctx, user("hi")).await.unwrap();
        let cancel = ctx.cancel.clone();
        let waiter = tokio::spawn(async move { stream.next().await });
        bounded(mock.wait_for_requests(2)).await;
        cancel.cancel();
        assert_eq!(bounded(waiter).await.unwrap(), None);
        bounded(mock.wait_for_disconnects(2)).await;
    }
}

#[tokio::test]
async fn api_key_styles() {
    let mock = MockOpenAi::start(vec![MockTurn::text(&["a"]), MockTurn::text(&["b"]), MockTurn::text(&["c"])]).await;
    let mut config = mock.config(Provider::OpenAiResponses);
    config.api_key = Some(Secret::new("key-123"));
    run(&*model(config.clone()), &ctx(), user("hi")).await;
    config.api_key_header = ApiKeyStyle::ApiKeyHeader;
    run(&*model(config.clone()), &ctx(), user("hi")).await;
    config.api_key_header = ApiKeyStyle::Bearer;
    config.extra_headers = vec![("x-ms-useragent".into(), "tests".into())];
    run(&*model(config), &ctx(), user("hi")).await;
    let r = mock.requests();
    // 127.0.0.1 is not an Azure host: Auto means Bearer.
    assert_eq!((r[0].header("authorization"), r[0].header("api-key")), (Some("Bearer key-123"), None));
    assert_eq!((r[1].header("authorization"), r[1].header("api-key")), (None, Some("key-123")));
    assert_eq!(r[2].header("authorization"), Some("Bearer key-123"));
    assert_eq!(r[2].header("x-ms-useragent"), Some("tests"));
}

#[tokio::test]
async fn entra_tokens_are_fetched_per_call() {
    let mock = MockOpenAi::start(vec![MockTurn::text(&["a"]), MockTurn::text(&["b"])]).await;
    let provider = Arc::new(RotatingToken::default());
    let mut config = mock.config(Provider::OpenAiChat);
    config.token = Some(provider.clone());
    let model = model(config);
    run(&*model, &ctx(), user("hi")).await;
    run(&*model, &ctx(), user("hi")).await;
    let r = mock.requests();
    assert_eq!(r[0].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(r[1].header("authorization"), Some("Bearer tok-2"));
    assert_eq!(*provider.scopes.lock().unwrap(), vec![COGNITIVE_SERVICES_SCOPE; 2]);
}

#[tokio::test]
async fn a_token_failure_fails_without_calling_the_model() {
    let mock = MockOpenAi::start(vec![MockTurn::text(&["never"])]).await;
    let mut config = mock.config(Provider::OpenAiResponses);
    config.token = Some(Arc::new(NoToken));
    let (_, error) = run(&*model(config), &ctx(), user("hi")).await;
    assert_eq!(error.unwrap().code, codes::MODEL_AUTH_FAILED);
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn trace_context_is_forwarded_and_user_ids_are_not() {
    let mock = MockOpenAi::start(vec![MockTurn::text(&["a"])]).await;
    let mut ctx = ctx();
    ctx.user = UserKey::new("alice-user-id");
    ctx.call_id = Some("call-id-xyz".into());
    ctx.trace = TraceHeaders {
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        tracestate: Some("congo=t61rcWkgMzE".into()),
        baggage: Some("user=alice-user-id".into()),
    };
    run(&*model(mock.config(Provider::OpenAiResponses)), &ctx, user("hi")).await;
    let r = &mock.requests()[0];
    assert_eq!(r.header("traceparent"), ctx.trace.traceparent.as_deref());
    assert_eq!(r.header("tracestate"), Some("congo=t61rcWkgMzE"));
    assert_eq!(r.header("baggage"), None);
    let everything = format!("{:?} {}", r.headers, r.body);
    assert!(!everything.contains("alice-user-id"));
    assert!(!everything.contains("call-id-xyz"));
}

#[tokio::test]
async fn build_checks_the_configuration() {
    let base = ModelConfig::new(Provider::OpenAiChat, "https://example.test/v1", "gpt");
    assert_eq!(build(base.clone()).unwrap().provider(), "openai-chat");
    let responses = ModelConfig { provider: Provider::OpenAiResponses, ..base.clone() };
    assert_eq!(build(responses).unwrap().provider(), "openai");

    let err = |c: ModelConfig| build(c).err().unwrap();
    assert!(matches!(
        err(ModelConfig { base_url: "nope".into(), ..base.clone() }),
        ModelConfigError::InvalidBaseUrl(_)
    ));
    assert_eq!(err(ModelConfig { model: " ".into(), ..base.clone() }), ModelConfigError::MissingModel);
    let both = ModelConfig {
        api_key: Some(Secret::new("k")),
        token: Some(Arc::new(RotatingToken::default())),
        ..base.clone()
    };
    assert_eq!(err(both), ModelConfigError::ConflictingAuth);
    let bad_header = ModelConfig { extra_headers: vec![("bad header".into(), "v".into())], ..base };
    assert_eq!(err(bad_header), ModelConfigError::InvalidHeader("bad header".into()));
}

#[tokio::test]
async fn events_before_the_terminal_event_are_not_lost() {
    // A failed response after output: the output is delivered, then the error.
    let mock = MockOpenAi::start(vec![MockTurn::reply(vec![
        MockChunk::text("a"),
        MockChunk::event(json!({"type": "response.failed", "response": {"error": {"code": "rate_limit_exceeded", "message": "slow down"}}})),
    ])])
    .await;
    let (events, error) = run(&*model(mock.config(Provider::OpenAiResponses)), &ctx(), user("hi")).await;
    assert_eq!(events, vec![ModelEvent::TextDelta("a".into())]);
    let error = error.unwrap();
    assert_eq!((error.code, error.message.as_str()), (codes::RATE_LIMITED, "slow down"));
}
