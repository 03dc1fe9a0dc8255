//! `Debug`/`Display` of secrets, tokens and providers never show the secret.

use std::time::{Duration, SystemTime};

use agenthost_identity::{AccessToken, CachedProvider, Secret, StaticToken, TOOLBOX_SCOPE, TokenProvider, far_future};

#[test]
fn secret_prints_redacted() {
    let secret = Secret::new("s3cr3t");
    assert_eq!(format!("{secret:?}"), "[redacted]");
    assert_eq!(secret.to_string(), "[redacted]");
    assert_eq!(secret.expose(), "s3cr3t");
}

#[test]
fn access_token_debug_shows_expiry_only() {
    let token = AccessToken::new("s3cr3t", SystemTime::UNIX_EPOCH + Duration::from_secs(5));
    let text = format!("{token:?}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("expires_at"), "{text}");
    assert!(token.is_expired_at(SystemTime::UNIX_EPOCH + Duration::from_secs(5)));
    assert!(!token.is_expired_at(SystemTime::UNIX_EPOCH + Duration::from_secs(4)));
    assert_eq!(token.remaining_at(SystemTime::UNIX_EPOCH + Duration::from_secs(2)), Duration::from_secs(3));
}

#[tokio::test]
async fn static_token_never_expires_and_is_redacted() {
    let provider = CachedProvider::new(StaticToken::new("s3cr3t"));
    let token = provider.token(TOOLBOX_SCOPE).await.expect("token");
    assert_eq!(token.secret().expose(), "s3cr3t");
    assert_eq!(token.expires_at(), far_future());
    assert!(token.expires_at() > SystemTime::now() + Duration::from_secs(100 * 365 * 86_400));
    assert_eq!(provider.kind(), "static");
    let text = format!("{provider:?} {token:?}");
    assert!(!text.contains("s3cr3t"), "{text}");
}
