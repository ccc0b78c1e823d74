//! One tag at a time: only a real change writes `contact.tagged` / `contact.untagged`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_domain::EventType;
use ventros_store::append_outbox;

use super::{Contact, fetch_contact, lock_contact};
use crate::auth::{AsAgent, Authorized, Principal};
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;
use crate::routes::required_text;
use crate::{AppState, parse_id};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagBody {
    pub tag: String,
}

/// Adds a tag.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/tags", tag = "contacts", params(("id" = Uuid, Path)), request_body = TagBody,
    responses((status = 200, description = "The contact", body = Contact), (status = 404, description = "No such contact")))]
pub async fn add_tag(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    id: Id<Contact>,
    ApiJson(req): ApiJson<TagBody>,
) -> Result<Json<Contact>, ApiError> {
    let tag = required_text(&req.tag, "tag", 64)?;
    change_tag(&state, principal, id.get(), &tag, true).await
}

/// Removes a tag.
#[utoipa::path(delete, path = "/api/v1/contacts/{id}/tags/{tag}", tag = "contacts", params(("id" = Uuid, Path), ("tag" = String, Path)),
    responses((status = 200, description = "The contact", body = Contact), (status = 404, description = "No such contact")))]
pub async fn remove_tag(
    State(state): State<AppState>,
    Authorized(principal): AsAgent,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Json<Contact>, ApiError> {
    let id = parse_id(&id, "contact")?;
    change_tag(&state, principal, id, &tag, false).await
}

async fn change_tag(
    state: &AppState,
    principal: Principal,
    id: Uuid,
    tag: &str,
    add: bool,
) -> Result<Json<Contact>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    lock_contact(&mut tx, id).await?;
    let (changed, event) = if add {
        let added = sqlx::query!(
            "UPDATE contacts SET tags = array_append(tags, $2) WHERE id = $1 AND NOT tags @> ARRAY[$2]::text[] AND cardinality(tags) < 50",
            id,
            tag,
        )
        .execute(&mut *tx)
        .await?;
        (added.rows_affected(), EventType::ContactTagged)
    } else {
        let removed = sqlx::query!(
            "UPDATE contacts SET tags = array_remove(tags, $2) WHERE id = $1 AND tags @> ARRAY[$2]::text[]",
            id,
            tag,
        )
        .execute(&mut *tx)
        .await?;
        (removed.rows_affected(), EventType::ContactUntagged)
    };
    if changed > 0 {
        append_outbox(
            &mut tx,
            principal.tenant_id,
            event,
            "contact",
            id,
            json!({"contact_id": id, "tag": tag}),
        )
        .await?;
    }
    let contact = fetch_contact(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(contact))
}
