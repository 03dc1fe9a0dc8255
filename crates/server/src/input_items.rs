//! `GET /responses/{id}/input_items` (§5.7): a page of a stored response's input items.

use std::collections::HashMap;

use agenthost_responses::Item;
use agenthost_store::{Lookup, PageQuery};
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response as HttpResponse};
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;
use crate::platform::PlatformRequest;
use crate::routes::store_error;

/// `GET /responses/{id}/input_items`.
pub async fn input_items(
    State(app): State<AppState>,
    Extension(platform): Extension<PlatformRequest>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let limit = match query.get("limit") {
        None => 20,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_value",
                    "'limit' must be between 1 and 100.",
                    Some("limit"),
                ));
            }
        },
    };
    let descending = match query.get("order").map(String::as_str) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            return Err(ApiError::bad_request("invalid_value", "'order' must be 'asc' or 'desc'.", Some("order")));
        }
    };
    let page =
        PageQuery { limit, descending, after: query.get("after").cloned(), before: query.get("before").cloned() };
    let user = platform.user.partition();
    match app.store.input_items(user, &id, &page).await.map_err(store_error)? {
        Lookup::Found(p) => Ok(Json(json!({
            "object": "list",
            "first_id": p.data.first().and_then(Item::id),
            "last_id": p.data.last().and_then(Item::id),
            "has_more": p.has_more,
            "data": p.data,
        }))
        .into_response()),
        Lookup::Deleted => Err(ApiError::response_deleted(&id)),
        Lookup::Missing => Err(ApiError::response_not_found(&id)),
    }
}
