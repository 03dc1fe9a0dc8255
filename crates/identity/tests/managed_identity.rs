//! Managed identity against a local mock: request shapes (App Service, IMDS, Cloud Shell),
//! expiry parsing, retries and error hygiene.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agenthost_identity::{
    COGNITIVE_SERVICES_SCOPE, HttpOptions, ManagedIdentity, TOOLBOX_SCOPE, TokenError, TokenProvider,
};
use common::{Mock, Reply, fast_http};
use serde_json::json;

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn app_service(mock: &Mock, client_id: Option<&str>) -> ManagedIdentity {
    ManagedIdentity::app_service(
        &format!("{}/msi/token", mock.url),
        "hdr-secret-123",
        client_id.map(str::to_owned),
        &fast_http(),
    )
    .expect("provider")
}

#[tokio::test]
async fn app_service_request_shape_and_string_expiry() {
    let mock =
        Mock::start(Reply::json(json!({"access_token": "tok-{n}", "expires_on": "1900000000", "resource": "x"}))).await;
    let token = app_service(&mock, Some("cid-1")).token(TOOLBOX_SCOPE).await.expect("token");
    assert_eq!(token.secret().expose(), "tok-1");
    assert_eq!(token.expires_at(), UNIX_EPOCH + Duration::from_secs(1_900_000_000));

    let req = mock.single_request();
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/msi/token");
    assert_eq!(
        req.query,
        pairs(&[("api-version", "2019-08-01"), ("resource", "https://ai.azure.com"), ("client_id", "cid-1"),])
    );
    assert_eq!(req.header("x-identity-header").as_deref(), Some("hdr-secret-123"));
    assert_eq!(req.header("metadata"), None);
}

#[tokio::test]
async fn app_service_number_expiry_and_no_client_id() {
    let mock = Mock::start(Reply::json(json!({"access_token": "tok-{n}", "expires_on": 1_900_000_123u64}))).await;
    let token = app_service(&mock, None).token(COGNITIVE_SERVICES_SCOPE).await.expect("token");
    assert_eq!(token.expires_at(), UNIX_EPOCH + Duration::from_secs(1_900_000_123));
    assert_eq!(
        mock.single_request().query,
        pairs(&[("api-version", "2019-08-01"), ("resource", "https://cognitiveservices.azure.com"),])
    );
}

#[tokio::test]
async fn imds_request_shape_and_expires_in() {
    let mock =
        Mock::start(Reply::json(json!({"access_token": "tok-{n}", "expires_in": "3599", "token_type": "Bearer"})))
            .await;
    let endpoint = format!("{}/metadata/identity/oauth2/token", mock.url);
    let provider = ManagedIdentity::imds(Some(&endpoint), Some("uami".into()), &fast_http()).expect("imds");
    assert_eq!(provider.source_name(), "imds");
    let before = SystemTime::now();
    let token = provider.token(TOOLBOX_SCOPE).await.expect("token");
    let after = SystemTime::now();
    let lifetime = Duration::from_secs(3599);
    assert!(token.expires_at() >= before + lifetime - Duration::from_secs(1));
    assert!(token.expires_at() <= after + lifetime);

    let req = mock.single_request();
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/metadata/identity/oauth2/token");
    assert_eq!(
        req.query,
        pairs(&[("api-version", "2018-02-01"), ("resource", "https://ai.azure.com"), ("client_id", "uami"),])
    );
    assert_eq!(req.header("metadata").as_deref(), Some("true"));
    assert_eq!(req.header("x-identity-header"), None);
}

#[tokio::test]
async fn cloud_shell_posts_form_with_metadata_header() {
    let mock = Mock::start(Reply::json(json!({"access_token": "tok-{n}", "expires_on": "1900000000"}))).await;
    let provider =
        ManagedIdentity::cloud_shell(&format!("{}/oauth2/token", mock.url), &fast_http()).expect("cloud shell");
    provider.token(TOOLBOX_SCOPE).await.expect("token");
    let req = mock.single_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/oauth2/token");
    assert!(req.query.is_empty());
    assert_eq!(req.header("metadata").as_deref(), Some("true"));
    assert_eq!(req.form(), pairs(&[("resource", "https://ai.azure.com")]));
}

#[tokio::test]
async fn retries_503_and_429_honouring_retry_after() {
    let mock = Mock::start(Reply::token_in(3600)).await;
    mock.push(Reply::new(503, "{}").header("retry-after", "0"));
    mock.push(Reply::new(429, "{}").header("retry-after", "0"));
    let token = app_service(&mock, None).token(TOOLBOX_SCOPE).await.expect("token after retries");
    assert_eq!(token.secret().expose(), "tok-3");
    assert_eq!(mock.hits(), 3);
}

#[tokio::test]
async fn imds_retries_410() {
    let mock = Mock::start(Reply::token_in(3600)).await;
    mock.push(Reply::new(410, "{}"));
    let provider = ManagedIdentity::imds(Some(&mock.url), None, &fast_http()).expect("imds provider");
    provider.token(TOOLBOX_SCOPE).await.expect("token");
    assert_eq!(mock.hits(), 2);
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let mock = Mock::start(Reply::new(500, r#"{"error":"server_error"}"#)).await;
    let err = app_service(&mock, None).token(TOOLBOX_SCOPE).await.expect_err("must fail");
    assert!(matches!(err, TokenError::Http { status: 500, .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(mock.hits(), 3, "1 attempt + max_retries (2)");
}

#[tokio::test]
async fn does_not_retry_client_errors() {
    let mock =
        Mock::start(Reply::new(400, r#"{"error":"invalid_request","error_description":"Identity not found"}"#)).await;
    let err = app_service(&mock, None).token(TOOLBOX_SCOPE).await.expect_err("must fail");
    match &err {
        TokenError::Http { status, code, description } => {
            assert_eq!(*status, 400);
            assert_eq!(code.as_deref(), Some("invalid_request"));
            assert_eq!(description.as_deref(), Some("Identity not found"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn retry_after_beyond_max_backoff_is_not_retried_early() {
    let mock = Mock::start(Reply::new(503, "{}").header("retry-after", "3600")).await;
    let err = app_service(&mock, None).token(TOOLBOX_SCOPE).await.expect_err("must fail");
    assert!(matches!(err, TokenError::Http { status: 503, .. }), "{err:?}");
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn error_messages_never_contain_secrets() {
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    let mock = Mock::start(Reply::new(
        401,
        json!({
            "error": "invalid_client",
            "error_description": format!("bad header hdr-secret-123, token {jwt}")
        })
        .to_string(),
    ))
    .await;
    let provider = app_service(&mock, None);
    let err = provider.token(TOOLBOX_SCOPE).await.expect_err("must fail");
    for text in [err.to_string(), format!("{err:?}"), format!("{provider:?}")] {
        assert!(!text.contains("hdr-secret-123"), "{text}");
        assert!(!text.contains(jwt), "{text}");
    }
    assert!(err.to_string().contains("invalid_client"), "{err}");
}

#[tokio::test]
async fn invalid_success_bodies_are_rejected_without_echo() {
    let mock = Mock::start(Reply::json(json!({"expires_in": 3600}))).await;
    let err = app_service(&mock, None).token(TOOLBOX_SCOPE).await.expect_err("no token");
    assert!(matches!(err, TokenError::InvalidResponse { .. }), "{err:?}");

    let mock = Mock::start(Reply::json(json!({"access_token": "tok-secret-9", "expires_on": "tok-secret-9"}))).await;
    let err = app_service(&mock, None).token(TOOLBOX_SCOPE).await.expect_err("bad expiry");
    assert!(matches!(err, TokenError::InvalidResponse { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("tok-secret-9"));
}

#[tokio::test]
async fn times_out() {
    let mock = Mock::start_gated(Reply::token_in(3600)).await;
    let http = HttpOptions { timeout: Duration::from_millis(200), ..fast_http() };
    let provider = ManagedIdentity::imds(Some(&mock.url), None, &http).expect("imds");
    let err = provider.token(TOOLBOX_SCOPE).await.expect_err("must time out");
    assert!(matches!(err, TokenError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn connection_refused_is_a_transient_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let provider = ManagedIdentity::imds(Some(&format!("http://127.0.0.1:{port}")), None, &fast_http()).expect("imds");
    let err = provider.token(TOOLBOX_SCOPE).await.expect_err("must fail");
    assert!(matches!(err, TokenError::Transport { connect: true, .. }), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn rejects_bad_configuration_without_echoing_secrets() {
    let err = ManagedIdentity::app_service("http://127.0.0.1:1/x", "bad\nsecret-v", None, &fast_http())
        .expect_err("bad header");
    assert!(matches!(err, TokenError::InvalidConfig { .. }), "{err:?}");
    assert!(!err.to_string().contains("secret-v"));

    let err = ManagedIdentity::imds(Some("not a url"), None, &fast_http()).expect_err("bad url");
    assert!(matches!(err, TokenError::InvalidConfig { .. }), "{err:?}");

    let mock = Mock::start(Reply::token_in(3600)).await;
    let err = app_service(&mock, None).token("a/.default b/.default").await.expect_err("two scopes");
    assert!(matches!(err, TokenError::InvalidScope { .. }), "{err:?}");
    assert_eq!(mock.hits(), 0);
}
