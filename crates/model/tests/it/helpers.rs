//! Shared helpers: running a model call to the end, fake token providers, bounded waits.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agenthost_agent::{Model, ModelError, ModelEvent, ModelRequest, RequestContext};
use agenthost_identity::{AccessToken, TokenError, TokenProvider};
use agenthost_responses::Item;
use futures::StreamExt;

/// Fails the test if `fut` takes longer than 5 s.
pub async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(5), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting"),
    }
}

/// Runs one model call: every event, and the error that ended it (always the last item).
pub async fn run(
    model: &dyn Model,
    ctx: &RequestContext,
    request: ModelRequest,
) -> (Vec<ModelEvent>, Option<ModelError>) {
    let mut stream = match model.stream(ctx, request).await {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut events = Vec::new();
    while let Some(item) = bounded(stream.next()).await {
        match item {
            Ok(event) => events.push(event),
            Err(error) => {
                assert!(bounded(stream.next()).await.is_none(), "events after an error");
                return (events, Some(error));
            }
        }
    }
    (events, None)
}

/// A request with one user message.
pub fn user(text: &str) -> ModelRequest {
    ModelRequest { input: vec![Item::user_text(text)], ..Default::default() }
}

pub fn ctx() -> RequestContext {
    RequestContext::local("caresp_test")
}

pub fn text(t: &str) -> ModelEvent {
    ModelEvent::TextDelta(t.into())
}

/// A token provider handing out `tok-1`, `tok-2`, … and recording the scopes asked for.
#[derive(Debug, Default)]
pub struct RotatingToken {
    pub calls: AtomicUsize,
    pub scopes: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl TokenProvider for RotatingToken {
    async fn token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        self.scopes.lock().unwrap().push(scope.to_string());
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AccessToken::never_expiring(format!("tok-{n}")))
    }

    fn kind(&self) -> &'static str {
        "static"
    }
}

/// A token provider that always fails.
#[derive(Debug)]
pub struct NoToken;

#[async_trait::async_trait]
impl TokenProvider for NoToken {
    async fn token(&self, _scope: &str) -> Result<AccessToken, TokenError> {
        Err(TokenError::Timeout { timeout: Duration::from_secs(1) })
    }

    fn kind(&self) -> &'static str {
        "managed_identity"
    }
}
