//! The [`TokenProvider`] trait, the fixed-token provider, and scope validation.

use std::sync::Arc;

use crate::error::TokenError;
use crate::token::{AccessToken, Secret};

/// Something that can produce a bearer token for one scope, e.g.
/// `https://ai.azure.com/.default`.
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync + std::fmt::Debug {
    /// Returns a token valid for `scope` (exactly one scope).
    async fn token(&self, scope: &str) -> Result<AccessToken, TokenError>;

    /// A short, stable name for logs and metrics: `"static"`, `"managed_identity"` or
    /// `"workload_identity"` (wrappers report the kind they wrap).
    fn kind(&self) -> &'static str;
}

#[async_trait::async_trait]
impl<T: TokenProvider + ?Sized> TokenProvider for Arc<T> {
    async fn token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        (**self).token(scope).await
    }

    fn kind(&self) -> &'static str {
        (**self).kind()
    }
}

/// A fixed token (for local use, e.g. from `AGENTHOST_TOOLBOX_TOKEN`), returned for every
/// scope and never expiring.
#[derive(Debug, Clone)]
pub struct StaticToken {
    token: AccessToken,
}

impl StaticToken {
    /// Wraps `secret` as a token that never expires.
    pub fn new(secret: impl Into<Secret>) -> Self {
        Self { token: AccessToken::never_expiring(secret) }
    }
}

#[async_trait::async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self, _scope: &str) -> Result<AccessToken, TokenError> {
        Ok(self.token.clone())
    }

    fn kind(&self) -> &'static str {
        "static"
    }
}

/// Checks that `scope` is a single, non-empty scope and returns it trimmed.
pub(crate) fn validate_scope(scope: &str) -> Result<&str, TokenError> {
    let trimmed = scope.trim();
    let invalid = |reason| TokenError::InvalidScope { scope: scope.to_owned(), reason };
    if trimmed.is_empty() {
        return Err(invalid("scope is empty"));
    }
    if trimmed.contains(char::is_whitespace) {
        return Err(invalid("exactly one scope is supported"));
    }
    Ok(trimmed)
}

/// The managed-identity `resource` for `scope`: the scope without its `/.default` suffix.
pub(crate) fn scope_to_resource(scope: &str) -> Result<&str, TokenError> {
    let scope_ok = validate_scope(scope)?;
    let resource = scope_ok.strip_suffix("/.default").unwrap_or(scope_ok);
    if resource.is_empty() {
        return Err(TokenError::InvalidScope {
            scope: scope.to_owned(),
            reason: "scope has no resource before /.default",
        });
    }
    Ok(resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_strips_default_suffix() {
        assert_eq!(scope_to_resource("https://ai.azure.com/.default").ok(), Some("https://ai.azure.com"));
        assert_eq!(scope_to_resource("https://ai.azure.com").ok(), Some("https://ai.azure.com"));
        assert!(scope_to_resource("/.default").is_err());
        assert!(scope_to_resource(" ").is_err());
        assert!(scope_to_resource("a/.default b/.default").is_err());
    }
}
