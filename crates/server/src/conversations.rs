//! The Conversations API (OpenAI's shapes): create, read, update and delete a conversation, and
//! add, list, read and delete its items. Partitioned by user like responses: another user's
//! conversation or item is a 404, indistinguishable from a missing one. Responses on a
//! conversation read it as history and append to it when they end (`create.rs`, the store).

use std::collections::HashMap;

use agenthost_responses::conversation::{self, CreateConversation};
use agenthost_responses::{Conversation, Item, id, unix_now};
use agenthost_store::Lookup;
use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response as HttpResponse};
use serde_json::json;

use crate::create::read_body;
use crate::error::ApiError;
use crate::platform::PlatformRequest;
use crate::read::{list, page_query};
use crate::state::AppState;

/// Items get ids in the conversation's partition.
fn with_ids(mut items: Vec<Item>, conversation: &str) -> Vec<Item> {
    for item in &mut items {
        item.ensure_id(conversation);
    }
    items
}

fn found<T>(lookup: Lookup<T>, id: &str) -> Result<T, ApiError> {
    match lookup {
        Lookup::Found(v) => Ok(v),
        Lookup::Deleted | Lookup::Missing => Err(ApiError::ConversationNotFound(id.to_string())),
    }
}

/// `POST /conversations` `{items?, metadata?}`.
pub async fn create(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    headers: HeaderMap,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(body, &headers, app.config.max_body_bytes, app.admission.body_timeout).await?;
    let request = CreateConversation::parse(&body)?;
    let conversation = Conversation::new(id::new_id(id::CONVERSATION, None), unix_now(), request.metadata);
    let items = with_ids(request.items, &conversation.id);
    app.store.create_conversation(&platform.caller(), conversation.clone(), items).await?;
    Ok(Json(conversation).into_response())
}

/// `GET /conversations/{id}`.
pub async fn get(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conversation = found(app.store.conversation(&platform.caller(), &id).await?, &id)?;
    Ok(Json(conversation).into_response())
}

/// `POST /conversations/{id}` `{metadata}`.
pub async fn update(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(body, &headers, app.config.max_body_bytes, app.admission.body_timeout).await?;
    let metadata = conversation::parse_update(&body)?;
    let conversation = found(app.store.update_conversation(&platform.caller(), &id, metadata).await?, &id)?;
    Ok(Json(conversation).into_response())
}

/// `DELETE /conversations/{id}`: its items go, the responses that produced them stay.
pub async fn delete(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
) -> Result<HttpResponse, ApiError> {
    found(app.store.delete_conversation(&platform.caller(), &id).await?, &id)?;
    Ok(Json(json!({"id": id, "object": "conversation.deleted", "deleted": true})).into_response())
}

/// `GET /conversations/{id}/items` (`limit`, `order`, `after`, `include`).
pub async fn list_items(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let page = page_query(&query)?;
    let page = found(app.store.conversation_items(&platform.caller(), &id, &page).await?, &id)?;
    Ok(Json(list(&page.data, page.has_more)).into_response())
}

/// `POST /conversations/{id}/items` `{items}`: the added items, as a list.
pub async fn add_items(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(body, &headers, app.config.max_body_bytes, app.admission.body_timeout).await?;
    let items = with_ids(conversation::parse_add_items(&body)?, &id);
    found(app.store.add_conversation_items(&platform.caller(), &id, items.clone()).await?, &id)?;
    Ok(Json(list(&items, false)).into_response())
}

/// `GET /conversations/{id}/items/{item_id}`.
pub async fn get_item(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path((id, item)): Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    match found(app.store.conversation_item(&platform.caller(), &id, &item).await?, &id)? {
        Some(found) => Ok(Json(found).into_response()),
        None => Err(ApiError::ConversationItemNotFound { conversation: id, item }),
    }
}

/// `DELETE /conversations/{id}/items/{item_id}`: the conversation, as OpenAI answers.
pub async fn delete_item(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path((id, item)): Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    match found(app.store.delete_conversation_item(&platform.caller(), &id, &item).await?, &id)? {
        Some(conversation) => Ok(Json(conversation).into_response()),
        None => Err(ApiError::ConversationItemNotFound { conversation: id, item }),
    }
}
