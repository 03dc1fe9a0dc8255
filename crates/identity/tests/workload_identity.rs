//! Workload identity against a local mock: the token request form, re-reading the rotated
//! assertion file, authority handling and error hygiene.

mod common;

use agenthost_identity::{JWT_BEARER_ASSERTION_TYPE, TOOLBOX_SCOPE, TokenError, TokenProvider, WorkloadIdentity};
use common::{Mock, Reply, TempFile, fast_http};
use serde_json::json;

fn provider(mock: &Mock, file: &TempFile) -> WorkloadIdentity {
    WorkloadIdentity::new("tenant-123", "client-abc", file.path(), Some(&mock.url), &fast_http()).expect("provider")
}

fn form(assertion: &str) -> Vec<(String, String)> {
    [
        ("grant_type", "client_credentials"),
        ("client_id", "client-abc"),
        ("scope", TOOLBOX_SCOPE),
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", assertion),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

#[tokio::test]
async fn posts_client_credentials_form() {
    let mock = Mock::start(Reply::token_in(3600)).await;
    let file = TempFile::new("assertion-one\n");
    let token = provider(&mock, &file).token(TOOLBOX_SCOPE).await.expect("token");
    assert_eq!(token.secret().expose(), "tok-1");

    let req = mock.single_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/tenant-123/oauth2/v2.0/token");
    assert!(req.query.is_empty());
    assert_eq!(req.header("content-type").as_deref(), Some("application/x-www-form-urlencoded"));
    assert_eq!(req.form(), form("assertion-one"));
}

#[tokio::test]
async fn rereads_the_assertion_file_on_every_fetch() {
    let mock = Mock::start(Reply::token_in(3600)).await;
    let file = TempFile::new("assertion-one");
    let provider = provider(&mock, &file);
    provider.token(TOOLBOX_SCOPE).await.expect("first");
    file.write("assertion-two");
    let second = provider.token(TOOLBOX_SCOPE).await.expect("second");
    assert_eq!(second.secret().expose(), "tok-2");

    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].form(), form("assertion-one"));
    assert_eq!(requests[1].form(), form("assertion-two"));
}

#[tokio::test]
async fn authority_host_path_and_default() {
    let mock = Mock::start(Reply::token_in(3600)).await;
    let file = TempFile::new("a");
    let provider = WorkloadIdentity::new(
        "tenant-123",
        "client-abc",
        file.path(),
        Some(&format!("{}/custom/", mock.url)),
        &fast_http(),
    )
    .expect("provider");
    provider.token(TOOLBOX_SCOPE).await.expect("token");
    assert_eq!(mock.single_request().path, "/custom/tenant-123/oauth2/v2.0/token");

    let default = WorkloadIdentity::new("tenant-123", "client-abc", file.path(), None, &fast_http()).expect("provider");
    assert_eq!(default.token_endpoint().as_str(), "https://login.microsoftonline.com/tenant-123/oauth2/v2.0/token");
    assert_eq!(default.kind(), "workload_identity");
}

#[tokio::test]
async fn missing_or_empty_file_is_reported_with_its_path() {
    let mock = Mock::start(Reply::token_in(3600)).await;
    let file = TempFile::new("  \n");
    let provider = provider(&mock, &file);
    let err = provider.token(TOOLBOX_SCOPE).await.expect_err("empty file");
    match &err {
        TokenError::FederatedTokenFile { path, .. } => assert_eq!(path, file.path()),
        other => panic!("unexpected {other:?}"),
    }
    let path = file.path().to_owned();
    drop(file);
    let err = provider.token(TOOLBOX_SCOPE).await.expect_err("missing file");
    assert!(matches!(&err, TokenError::FederatedTokenFile { path: p, .. } if *p == path), "{err:?}");
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    assert_eq!(mock.hits(), 0);
}

#[tokio::test]
async fn errors_never_contain_the_assertion_or_token() {
    let assertion = "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJhdWQiOiJhcGk6Ly9BenVyZUFEVG9rZW5FeGNoYW5nZSJ9.c2ln";
    let mock = Mock::start(Reply::new(
        401,
        json!({
            "error": "invalid_client",
            "error_description": format!("AADSTS700024: Client assertion {assertion} is not within its valid time range."),
        })
        .to_string(),
    ))
    .await;
    let file = TempFile::new(assertion);
    let err = provider(&mock, &file).token(TOOLBOX_SCOPE).await.expect_err("401");
    let text = format!("{err} | {err:?}");
    assert!(!text.contains(assertion), "{text}");
    assert!(!text.contains("eyJ"), "{text}");
    assert!(text.contains("AADSTS700024"), "{text}");
    assert!(matches!(err, TokenError::Http { status: 401, .. }));
    assert_eq!(mock.hits(), 1, "401 is not retried");
}

#[test]
fn rejects_unsafe_tenant_and_empty_client() {
    let http = fast_http();
    for tenant in ["", "..", "a/b", "t?x=1", "t#f"] {
        let err = WorkloadIdentity::new(tenant, "c", "/f", None, &http).expect_err(tenant);
        assert!(matches!(err, TokenError::InvalidConfig { .. }), "{tenant}: {err:?}");
    }
    let err = WorkloadIdentity::new("t", " ", "/f", None, &http).expect_err("client");
    assert!(matches!(err, TokenError::InvalidConfig { .. }));
}
