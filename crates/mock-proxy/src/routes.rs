//! HTTP routes: the toolbox MCP endpoints (recording, auth expiry, faults, then rmcp), the
//! consent page, and the `/_mock/*` control routes.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Query, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService, streamable_http_server::session::local::LocalSessionManager,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{
    faults,
    mcp::{CALL_ID_HEADER, RouteInfo, ToolboxHandler},
    scenario::Mode,
    server::ConnHandle,
    state::{RecordedRequest, Shared, user_from_call_id, user_from_label},
    storage,
};

/// Largest MCP request body the mock buffers.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// JSON-RPC code of the 404 answer for an unknown toolbox or version (MCP "resource not found").
pub const TOOLBOX_NOT_FOUND_CODE: i32 = -32002;

type McpService = StreamableHttpService<ToolboxHandler, LocalSessionManager>;

/// Router state: the shared mock state plus one rmcp service per toolbox.
#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    services: Arc<HashMap<String, McpService>>,
}

/// Builds the whole router. `shutdown` also ends rmcp sessions and SSE streams.
pub(crate) fn router(shared: Arc<Shared>, shutdown: &CancellationToken) -> Router {
    let mut config = StreamableHttpServerConfig::default()
        // The mock is reached as 127.0.0.1, localhost, a container name, ...: no Host check.
        .disable_allowed_hosts()
        .with_cancellation_token(shutdown.child_token());
    if shared.scenario.mode == Mode::Stateless {
        config = config.with_legacy_session_mode(false).with_json_response(true);
    }
    let services = shared
        .scenario
        .toolboxes
        .iter()
        .map(|tb| {
            let handler = ToolboxHandler::new(shared.clone(), &tb.name);
            let service = StreamableHttpService::new(
                move || Ok(handler.clone()),
                Arc::new(LocalSessionManager::default()),
                config.clone(),
            );
            (tb.name.clone(), service)
        })
        .collect();
    let app = App { shared, services: Arc::new(services) };
    Router::new()
        .route("/consent", get(consent))
        .route("/consent/done.js", get(consent_done_js))
        .route("/_mock/requests", get(list_requests).delete(clear_requests))
        .route("/_mock/state", get(get_state))
        .route("/_mock/grant", post(grant))
        .route("/_mock/revoke", post(revoke))
        .route("/_mock/expire", post(expire))
        .route("/_mock/reset", post(reset))
        .route("/_mock/storage/requests", get(storage_requests))
        .route("/_mock/storage/fail", post(storage_fail))
        .fallback(mcp_entry)
        .with_state(app)
}

/// Finds `(toolbox, version)` in `{prefix}/toolboxes/{name}/mcp` or
/// `{prefix}/toolboxes/{name}/versions/{v}/mcp` (one trailing `/` tolerated).
pub(crate) fn parse_mcp_path(path: &str) -> Option<(String, Option<String>)> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let segs: Vec<&str> = path.split('/').collect();
    let i = segs.iter().rposition(|s| *s == "toolboxes")?;
    match &segs[i + 1..] {
        [name, "mcp"] if !name.is_empty() => Some(((*name).to_owned(), None)),
        [name, "versions", v, "mcp"] if !name.is_empty() && !v.is_empty() => {
            Some(((*name).to_owned(), Some((*v).to_owned())))
        }
        _ => None,
    }
}

/// What the mock needs from a POSTed JSON-RPC message.
#[derive(Debug, Default)]
struct Peek {
    method: Option<String>,
    tool: Option<String>,
    id: Option<Value>,
}

fn peek(body: &[u8]) -> Peek {
    let Ok(Value::Object(msg)) = serde_json::from_slice::<Value>(body) else {
        return Peek::default();
    };
    let method = msg.get("method").and_then(Value::as_str).map(str::to_owned);
    let tool = (method.as_deref() == Some("tools/call"))
        .then(|| msg.get("params")?.get("name")?.as_str().map(str::to_owned))
        .flatten();
    Peek { method, tool, id: msg.get("id").cloned() }
}

fn record_headers(headers: &HeaderMap) -> (std::collections::BTreeMap<String, String>, Vec<String>) {
    let mut map = std::collections::BTreeMap::new();
    let mut repeated = Vec::new();
    for name in headers.keys() {
        let values: Vec<String> =
            headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
        if values.len() > 1 {
            repeated.push(name.as_str().to_owned());
        }
        map.insert(name.as_str().to_owned(), values.join(", "));
    }
    (map, repeated)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// HTTP 404 with a JSON-RPC error body echoing the request id.
fn not_found(id: Option<Value>, message: String, toolbox: &str, version: Option<&str>) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(Value::Null),
        "error": {
            "code": TOOLBOX_NOT_FOUND_CODE,
            "message": message,
            "data": {"reason": "TOOLBOX_NOT_FOUND", "toolbox": toolbox, "version": version},
        }
    });
    json_response(StatusCode::NOT_FOUND, &body)
}

/// Every request that is not a control route: MCP endpoints, else a plain 404.
async fn mcp_entry(State(app): State<App>, req: Request) -> Response {
    if let Some(segments) = storage::route_of(req.uri().path()) {
        return storage::handle(&app.shared.storage, |u| app.shared.is_expired(u), segments, req).await;
    }
    let Some((toolbox, version)) = parse_mcp_path(req.uri().path()) else {
        return (StatusCode::NOT_FOUND, "mock-proxy: no such route").into_response();
    };
    let (mut parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(err) => {
            return (StatusCode::BAD_REQUEST, format!("mock-proxy: cannot read body: {err}")).into_response();
        }
    };
    let msg = if parts.method == Method::POST { peek(&bytes) } else { Peek::default() };
    let call_id = parts.headers.get(CALL_ID_HEADER).and_then(|v| v.to_str().ok());
    let user = user_from_call_id(call_id);
    let (headers, repeated_headers) = record_headers(&parts.headers);
    app.shared.record(RecordedRequest {
        toolbox: toolbox.clone(),
        version: version.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        http_method: parts.method.as_str().to_owned(),
        jsonrpc_method: msg.method.clone(),
        tool: msg.tool.clone(),
        user: user.clone(),
        headers,
        repeated_headers,
    });

    // An expired user token fails the calls that use it; listing goes on and, since expiry also
    // forgot the user's consents, asks for consent again (the proxy's re-consent path).
    if msg.method.as_deref() == Some("tools/call") && app.shared.is_expired(&user) {
        return faults::expired_response(&user, msg.id);
    }
    let Some(spec) = app.shared.scenario.find_toolbox(&toolbox) else {
        let message = format!("toolbox not found: {toolbox}");
        return not_found(msg.id, message, &toolbox, version.as_deref());
    };
    if let (Some(v), Some(allowed)) = (&version, &spec.versions)
        && !allowed.contains(v)
    {
        let message = format!("toolbox version not found: {toolbox} version {v}");
        return not_found(msg.id, message, &toolbox, Some(v));
    }
    let Some(service) = app.services.get(&toolbox).cloned() else {
        let message = format!("toolbox not found: {toolbox}");
        return not_found(msg.id, message, &toolbox, version.as_deref());
    };
    if parts.method == Method::POST {
        let plan = app.shared.plan_faults(&toolbox, &user, msg.method.as_deref());
        let conn = parts.extensions.get::<ConnHandle>().cloned();
        if let Some(response) = faults::execute(plan, conn.as_ref()).await {
            return response;
        }
    }
    parts.extensions.insert(RouteInfo { user });
    let req = Request::from_parts(parts, Body::from(bytes));
    service.handle(req).await.map(Body::new)
}

/// `GET /consent?toolbox=&source=&user=&state=`: grants the consent of a link the mock issued.
async fn consent(State(app): State<App>, Query(q): Query<HashMap<String, String>>) -> Response {
    let field = |k: &str| q.get(k).map(String::as_str);
    let (Some(toolbox), Some(source), Some(user), Some(state)) =
        (field("toolbox"), field("source"), field("user"), field("state"))
    else {
        return (StatusCode::BAD_REQUEST, "Bad consent link: missing parameters").into_response();
    };
    if !app.shared.redeem(state, toolbox, source, user) {
        return (StatusCode::BAD_REQUEST, "Bad consent link: unknown or mismatched state").into_response();
    }
    // done.js tells the window that opened this one (a browser playground's sign-in popup) and
    // closes it, so the demo's consent loop is one click; opened directly, the page just stays.
    let page = format!(
        "<!doctype html><html><head><title>Consent granted</title>\
         <script src=\"/consent/done.js\" defer></script></head>\
         <body><h1>Consent granted</h1><p>{} may now use {} in toolbox {}.</p>\
         <p>You can close this window.</p></body></html>",
        html_escape(user),
        html_escape(source),
        html_escape(toolbox)
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// The script of the consent page: post `{"type":"agenthost.consent","status":"granted"}` to the
/// opener (nothing secret: the opener checks the message comes from the window it opened), then
/// close. `window.close()` only works on script-opened windows, which is exactly the popup case.
const CONSENT_DONE_JS: &str = r#"if (window.opener && !window.opener.closed) {
  window.opener.postMessage({ type: "agenthost.consent", status: "granted" }, "*");
  window.close();
}
"#;

async fn consent_done_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], CONSENT_DONE_JS).into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn list_requests(State(app): State<App>) -> Json<Vec<RecordedRequest>> {
    Json(app.shared.requests())
}

async fn clear_requests(State(app): State<App>) -> StatusCode {
    app.shared.clear_requests();
    StatusCode::NO_CONTENT
}

async fn get_state(State(app): State<App>) -> Response {
    Json(app.shared.snapshot()).into_response()
}

/// Body of `/_mock/grant` and `/_mock/revoke`. `user` absent, `""` or `"container"`: container.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    #[serde(default)]
    user: String,
    #[serde(default)]
    source: Option<String>,
}

/// Body of `/_mock/expire`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpireBody {
    #[serde(default)]
    user: String,
    #[serde(default = "yes")]
    expired: bool,
}

fn yes() -> bool {
    true
}

async fn grant(State(app): State<App>, Json(body): Json<ConsentBody>) -> Response {
    let Some(source) = body.source else {
        return (StatusCode::BAD_REQUEST, "grant needs a source").into_response();
    };
    app.shared.grant(&user_from_label(&body.user), &source);
    Json(app.shared.snapshot()).into_response()
}

async fn revoke(State(app): State<App>, Json(body): Json<ConsentBody>) -> Response {
    app.shared.revoke(&user_from_label(&body.user), body.source.as_deref());
    Json(app.shared.snapshot()).into_response()
}

async fn expire(State(app): State<App>, Json(body): Json<ExpireBody>) -> Response {
    let user = user_from_label(&body.user);
    if body.expired {
        app.shared.expire(&user);
    } else {
        app.shared.unexpire(&user);
    }
    Json(app.shared.snapshot()).into_response()
}

async fn storage_requests(State(app): State<App>) -> Json<Vec<storage::StorageRequest>> {
    Json(app.shared.storage.requests())
}

/// Body of `/_mock/storage/fail`: answer the next `count` storage calls with `status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageFailBody {
    status: u16,
    count: u32,
}

async fn storage_fail(State(app): State<App>, Json(body): Json<StorageFailBody>) -> StatusCode {
    app.shared.storage.fail(body.status, body.count);
    StatusCode::NO_CONTENT
}

async fn reset(State(app): State<App>) -> StatusCode {
    app.shared.reset();
    StatusCode::NO_CONTENT
}
