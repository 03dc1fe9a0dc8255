//! `GET /playground`: a single-page chat app for trying the server in a browser, consent popups
//! and approvals included. Its three files are compiled into the binary (no CDN, no build step,
//! works offline) and served under a strict Content-Security-Policy: scripts and styles only
//! from this origin, `connect-src 'self'`, nothing framed, no third-party request possible.
//!
//! The page is plain JavaScript against the public routes (`POST /responses` with SSE,
//! `POST /responses/{id}/cancel`, `GET /readiness`); it has no private API.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The policy every playground file is served with. `connect-src 'self'` keeps the page's fetches
/// on this server; consent links open in a popup window, which no directive here governs.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../assets/playground/index.html");
const APP_JS: &str = include_str!("../assets/playground/app.js");
const APP_CSS: &str = include_str!("../assets/playground/app.css");
const ICON_SVG: &str = include_str!("../assets/playground/icon.svg");

/// The playground's routes, to be merged into the API router when `--playground` is on.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/playground", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/playground/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/playground/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/playground/icon.svg", get(|| async { asset("image/svg+xml", ICON_SVG) }))
}

/// One embedded file with the security headers. `no-cache` so a new binary's page is picked up
/// at once (the files are small; revalidation costs one round trip).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin")),
    ];
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use crate::test_support::{ServeArgs, app, vars};

    async fn get(app: &crate::state::AppState, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = crate::app::router(app.clone()).oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        (parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn serves_the_embedded_files_with_a_strict_policy() {
        let on = app(ServeArgs { playground: Some("true".into()), ..ServeArgs::default() }, &vars(&[])).await;
        for (path, content_type) in [
            ("/playground", "text/html; charset=utf-8"),
            ("/playground/app.js", "text/javascript; charset=utf-8"),
            ("/playground/app.css", "text/css; charset=utf-8"),
            ("/playground/icon.svg", "image/svg+xml"),
        ] {
            let (status, headers, body) = get(&on, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers["content-type"], content_type, "{path}");
            assert_eq!(headers["content-security-policy"], super::CSP, "{path}");
            assert_eq!(headers["x-content-type-options"], "nosniff");
            assert!(!body.is_empty());
        }
        let (_, _, html) = get(&on, "/playground").await;
        // No inline script or style, and nothing loaded from another origin.
        assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains(" style="), "{html}");
        assert!(!html.contains("http://") && !html.contains("https://"), "{html}");
        for hook in ["prompt", "send", "stop", "new-conversation", "user-picker", "toolbox-panel"] {
            assert!(html.contains(&format!("data-testid=\"{hook}\"")), "missing hook {hook}");
        }
    }

    #[tokio::test]
    async fn off_unless_asked_for() {
        let off = app(ServeArgs::default(), &vars(&[])).await;
        let (status, _, body) = get(&off, "/playground").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("\"code\""), "{body}");
    }
}
