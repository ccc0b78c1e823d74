//! Contacts and the addresses they have on each channel.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use sqlx::Row;

use crate::auth::Tenant;
use crate::error::ApiError;
use crate::{AppState, parse_id};

pub async fn show(State(state): State<AppState>, tenant: Tenant, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "contact")?;
    let contact = sqlx::query("SELECT id, display_name, custom_attributes, created_at, updated_at FROM contacts WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(tenant.tenant_id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("contact {id} not found")))?;
    let identities = sqlx::query(
        "SELECT id, channel_id, kind, external_id, created_at FROM contact_identities WHERE contact_id = $1 AND tenant_id = $2 ORDER BY created_at",
    )
    .bind(id)
    .bind(tenant.tenant_id)
    .fetch_all(&state.pool)
    .await?;
    let identities = identities
        .iter()
        .map(|r| -> Result<Value, sqlx::Error> {
            Ok(json!({
                "id": r.try_get::<uuid::Uuid, _>("id")?,
                "channel_id": r.try_get::<uuid::Uuid, _>("channel_id")?,
                "kind": r.try_get::<String, _>("kind")?,
                "external_id": r.try_get::<String, _>("external_id")?,
                "created_at": r.try_get::<chrono::DateTime<chrono::Utc>, _>("created_at")?,
            }))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({
        "id": id,
        "display_name": contact.try_get::<Option<String>, _>("display_name")?,
        "custom_attributes": contact.try_get::<Value, _>("custom_attributes")?,
        "identities": identities,
        "created_at": contact.try_get::<chrono::DateTime<chrono::Utc>, _>("created_at")?,
        "updated_at": contact.try_get::<chrono::DateTime<chrono::Utc>, _>("updated_at")?,
    })))
}
