//! `select` precedence over variables read from `HashMap` environments (the process env is
//! never read or modified):
//! static → workload identity → managed identity (App Service, MSI, Cloud Shell) → IMDS
//! (opt-in) → none. Each choice is verified by the request it sends.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use agenthost_identity::{
    IdentityVars, SelectOptions, TOOLBOX_SCOPE, TOOLBOX_TOKEN_VAR, TokenError, TokenProvider, select,
};
use common::{Mock, Reply, TempFile, fast_http};

/// How the caller reads the environment: whether it passes a static token from
/// `AGENTHOST_TOOLBOX_TOKEN`, and whether IMDS is allowed.
#[derive(Default)]
struct Opts {
    static_token_var: Option<&'static str>,
    allow_imds: bool,
}

fn opts(allow_imds: bool) -> Opts {
    Opts { static_token_var: Some(TOOLBOX_TOKEN_VAR), allow_imds }
}

/// What the server does: read the variables, then select.
fn from_env(env: &HashMap<String, String>, opts: &Opts) -> Result<Option<Arc<dyn TokenProvider>>, TokenError> {
    let vars = IdentityVars::read(|k| env.get(k).cloned());
    let options = SelectOptions {
        static_token: opts.static_token_var.and_then(|k| env.get(k).cloned()),
        allow_imds: opts.allow_imds,
        http: fast_http(),
        ..SelectOptions::default()
    };
    select(&vars, &options)
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn build(env: &HashMap<String, String>, opts: &Opts) -> Arc<dyn TokenProvider> {
    from_env(env, opts).expect("valid env").expect("a provider")
}

fn query(req: &common::Recorded, key: &str) -> Option<String> {
    req.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

#[test]
fn nothing_configured_is_none() {
    assert!(from_env(&env(&[]), &opts(false)).expect("ok").is_none());
    // IDENTITY_ENDPOINT without IDENTITY_HEADER is not enough.
    let partial = env(&[("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi")]);
    assert!(from_env(&partial, &opts(false)).expect("ok").is_none());
}

#[tokio::test]
async fn static_token_wins_over_everything() {
    let file = TempFile::new("assertion");
    let vars = env(&[
        (TOOLBOX_TOKEN_VAR, " local-token "),
        ("AZURE_FEDERATED_TOKEN_FILE", &file.path().to_string_lossy()),
        ("AZURE_CLIENT_ID", "c"),
        ("AZURE_TENANT_ID", "t"),
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi"),
        ("IDENTITY_HEADER", "h"),
    ]);
    let provider = build(&vars, &opts(true));
    assert_eq!(provider.kind(), "static");
    let token = provider.token(TOOLBOX_SCOPE).await.expect("token");
    assert_eq!(token.secret().expose(), "local-token");
    assert!(!format!("{provider:?}").contains("local-token"));
}

#[test]
fn static_token_needs_the_caller_to_name_the_variable() {
    let vars = env(&[(TOOLBOX_TOKEN_VAR, "local-token")]);
    let unnamed = Opts::default();
    assert!(from_env(&vars, &unnamed).expect("ok").is_none());
    let empty = env(&[(TOOLBOX_TOKEN_VAR, "  ")]);
    assert!(from_env(&empty, &opts(false)).expect("ok").is_none());
}

#[tokio::test]
async fn workload_identity_beats_managed_identity() {
    let entra = Mock::start(Reply::token_in(3600)).await;
    let msi = Mock::start(Reply::token_in(3600)).await;
    let file = TempFile::new("assertion");
    let vars = env(&[
        ("AZURE_FEDERATED_TOKEN_FILE", &file.path().to_string_lossy()),
        ("AZURE_CLIENT_ID", "client-abc"),
        ("AZURE_TENANT_ID", "tenant-1"),
        ("AZURE_AUTHORITY_HOST", &entra.url),
        ("IDENTITY_ENDPOINT", &msi.url),
        ("IDENTITY_HEADER", "h"),
    ]);
    let provider = build(&vars, &opts(true));
    assert_eq!(provider.kind(), "workload_identity");
    provider.token(TOOLBOX_SCOPE).await.expect("token");
    provider.token(TOOLBOX_SCOPE).await.expect("cached token");
    let req = entra.single_request();
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/tenant-1/oauth2/v2.0/token"));
    assert_eq!(msi.hits(), 0);
}

#[tokio::test]
async fn partial_workload_config_falls_through_to_app_service() {
    let msi = Mock::start(Reply::token_in(3600)).await;
    let vars = env(&[
        ("AZURE_FEDERATED_TOKEN_FILE", "/nonexistent"),
        ("AZURE_CLIENT_ID", "azure-client"),
        ("IDENTITY_ENDPOINT", &format!("{}/msi/token", msi.url)),
        ("IDENTITY_HEADER", "hdr-value"),
    ]);
    let provider = build(&vars, &opts(false));
    assert_eq!(provider.kind(), "managed_identity");
    provider.token(TOOLBOX_SCOPE).await.expect("token");
    let req = msi.single_request();
    assert_eq!((req.method.as_str(), req.path.as_str()), ("GET", "/msi/token"));
    assert_eq!(req.header("x-identity-header").as_deref(), Some("hdr-value"));
    assert_eq!(query(&req, "api-version").as_deref(), Some("2019-08-01"));
    assert_eq!(query(&req, "client_id").as_deref(), Some("azure-client"));
    assert!(!format!("{provider:?}").contains("hdr-value"));
}

#[tokio::test]
async fn foundry_instance_client_id_is_preferred() {
    let msi = Mock::start(Reply::token_in(3600)).await;
    let vars = env(&[
        ("AZURE_CLIENT_ID", "azure-client"),
        ("FOUNDRY_AGENT_INSTANCE_CLIENT_ID", "foundry-client"),
        ("IDENTITY_ENDPOINT", &msi.url),
        ("IDENTITY_HEADER", "h"),
    ]);
    build(&vars, &opts(false)).token(TOOLBOX_SCOPE).await.expect("token");
    assert_eq!(query(&msi.single_request(), "client_id").as_deref(), Some("foundry-client"));
}

#[tokio::test]
async fn msi_endpoint_with_secret_uses_the_app_service_protocol() {
    let msi = Mock::start(Reply::token_in(3600)).await;
    let vars = env(&[("MSI_ENDPOINT", &msi.url), ("MSI_SECRET", "msi-secret")]);
    build(&vars, &opts(false)).token(TOOLBOX_SCOPE).await.expect("token");
    let req = msi.single_request();
    assert_eq!(req.method, "GET");
    assert_eq!(req.header("x-identity-header").as_deref(), Some("msi-secret"));
}

#[tokio::test]
async fn msi_endpoint_alone_is_cloud_shell() {
    let msi = Mock::start(Reply::token_in(3600)).await;
    let vars = env(&[("MSI_ENDPOINT", &msi.url)]);
    build(&vars, &opts(false)).token(TOOLBOX_SCOPE).await.expect("token");
    let req = msi.single_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("metadata").as_deref(), Some("true"));
}

#[tokio::test]
async fn imds_only_when_the_caller_opts_in() {
    let imds = Mock::start(Reply::token_in(3600)).await;
    let vars = env(&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", &format!("{}/", imds.url))]);
    assert!(from_env(&vars, &opts(false)).expect("ok").is_none());

    let provider = build(&vars, &opts(true));
    assert_eq!(provider.kind(), "managed_identity");
    provider.token(TOOLBOX_SCOPE).await.expect("token");
    let req = imds.single_request();
    assert_eq!(req.path, "/metadata/identity/oauth2/token");
    assert_eq!(req.header("metadata").as_deref(), Some("true"));
    assert_eq!(query(&req, "api-version").as_deref(), Some("2018-02-01"));
}

#[test]
fn invalid_values_are_errors_not_fallthrough() {
    let vars = env(&[("IDENTITY_ENDPOINT", "::not a url::"), ("IDENTITY_HEADER", "h")]);
    let err = from_env(&vars, &opts(true)).expect_err("invalid");
    assert!(matches!(err, TokenError::InvalidConfig { .. }), "{err:?}");

    let vars =
        env(&[("AZURE_FEDERATED_TOKEN_FILE", "/f"), ("AZURE_CLIENT_ID", "c"), ("AZURE_TENANT_ID", "bad/tenant")]);
    let err = from_env(&vars, &opts(true)).expect_err("invalid");
    assert!(matches!(err, TokenError::InvalidConfig { .. }), "{err:?}");
}

#[test]
fn vars_debug_shows_names_not_values() {
    let vars = IdentityVars::read(|k| (k == "IDENTITY_HEADER").then(|| "secret-header".to_string()));
    let shown = format!("{vars:?}");
    assert!(shown.contains("IDENTITY_HEADER") && !shown.contains("secret-header"), "{shown}");
}
