//! The tenant's API keys (admin): named, with a role, revocable, showing when each was last used.
//! The secret is returned once, at creation.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::required_text;
use crate::AppState;
use crate::auth::{self, Actor, AsAdmin, Authorized, Role};
use crate::db::{List, execute_found, tenant_tx};
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    /// Defaults to `agent`.
    pub role: Option<Role>,
}

/// An API key as listed: never its secret, only the prefix it starts with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// `vtr_<prefix>_…`: tells keys apart without showing them.
    pub prefix: String,
    pub role: Role,
    #[schema(required = true)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A new key, with its secret: the only time it is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub role: Role,
    /// `Authorization: Bearer <api_key>`; store it now, it cannot be shown again.
    pub api_key: String,
}

/// Lists API keys (never their secrets).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", responses((status = 200, description = "API keys", body = List<ApiKey>)))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
) -> Result<Json<List<ApiKey>>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let items = sqlx::query_as!(
        ApiKey,
        r#"SELECT id, name, prefix, role AS "role: Role", last_used_at, revoked_at, created_at
             FROM api_keys ORDER BY created_at"#
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(Json(List { items }))
}

/// Creates an API key; the response carries the secret, shown only this once.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, description = "The key with its secret", body = CreatedApiKey)))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let name = required_text(&req.name, "name", 200)?;
    let role = req.role.unwrap_or(Role::Agent);
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let key = auth::insert_api_key(&mut *tx, principal.tenant_id, &name, role).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            id: key.id,
            name,
            prefix: key.prefix,
            role,
            api_key: key.secret,
        }),
    ))
}

/// Revokes an API key at once.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such key")))]
pub async fn revoke(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<ApiKey>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    if principal.actor == Actor::ApiKey(id) {
        return Err(ApiError::Conflict(
            "a key cannot revoke itself; use another admin credential".into(),
        ));
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    execute_found(
        &mut tx,
        sqlx::query!(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1",
            id
        ),
        || format!("API key {id}"),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

impl crate::ids::Resource for ApiKey {
    const NAME: &'static str = "API key";
}
