//! Channels: where customers reach the tenant (a WAHA session today).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;
use ventros_activities::channel::{ChannelSettings, WahaConfig};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiJson};
use crate::{AppState, parse_id};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    pub name: String,
    #[serde(default = "waha")]
    pub kind: String,
    pub provider_config: WahaConfig,
    #[serde(default)]
    pub settings: Option<ChannelSettings>,
}

fn waha() -> String {
    "waha".into()
}

/// A channel as the API shows it: secrets are never returned, only whether they are set.
fn view(state: &AppState, row: &sqlx::postgres::PgRow) -> Result<Value, ApiError> {
    let id: Uuid = row.try_get("id")?;
    let provider: Value = row.try_get("provider_config")?;
    let config: WahaConfig = serde_json::from_value(provider).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(json!({
        "id": id,
        "name": row.try_get::<String, _>("name")?,
        "kind": row.try_get::<String, _>("kind")?,
        "status": row.try_get::<String, _>("status")?,
        "status_changed_at": row.try_get::<Option<chrono::DateTime<chrono::Utc>>, _>("status_changed_at")?,
        "provider_config": {
            "base_url": config.base_url,
            "session": config.session,
            "api_key_set": !config.api_key.is_empty(),
            "hmac_key_set": config.hmac_key.is_some(),
        },
        "settings": row.try_get::<Value, _>("settings")?,
        "webhook": {
            "url": format!("{}/webhooks/waha/{id}", state.config.public_base_url),
            "events": ["message", "message.ack", "session.status"],
            "hmac": config.hmac_key.is_some(),
        },
        "created_at": row.try_get::<chrono::DateTime<chrono::Utc>, _>("created_at")?,
    }))
}

macro_rules! channel_columns {
    () => {
        "id, name, kind, status, status_changed_at, provider_config, settings, created_at"
    };
}

pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(req): ApiJson<CreateChannel>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if req.kind != "waha" {
        return Err(ApiError::Unprocessable(format!("channel kind {:?} is not supported yet; use \"waha\"", req.kind)));
    }
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::Unprocessable("name must be 1 to 200 characters".into()));
    }
    req.provider_config.validate().map_err(ApiError::Unprocessable)?;
    let settings = req.settings.unwrap_or_default();
    settings.validate().map_err(ApiError::Unprocessable)?;
    let row = sqlx::query(concat!(
        "INSERT INTO channels (id, tenant_id, kind, name, provider_config, settings) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        channel_columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(tenant.tenant_id)
    .bind(&req.kind)
    .bind(name)
    .bind(serde_json::to_value(&req.provider_config).map_err(|e| ApiError::Internal(e.into()))?)
    .bind(serde_json::to_value(&settings).map_err(|e| ApiError::Internal(e.into()))?)
    .fetch_one(&state.pool)
    .await?;
    Ok((StatusCode::CREATED, Json(view(&state, &row)?)))
}

pub async fn list(State(state): State<AppState>, tenant: Tenant) -> Result<Json<Value>, ApiError> {
    let rows = sqlx::query(concat!("SELECT ", channel_columns!(), " FROM channels WHERE tenant_id = $1 ORDER BY created_at"))
        .bind(tenant.tenant_id)
        .fetch_all(&state.pool)
        .await?;
    let items = rows.iter().map(|r| view(&state, r)).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "items": items })))
}

pub async fn show(State(state): State<AppState>, tenant: Tenant, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "channel")?;
    let row = sqlx::query(concat!("SELECT ", channel_columns!(), " FROM channels WHERE id = $1 AND tenant_id = $2"))
        .bind(id)
        .bind(tenant.tenant_id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("channel {id} not found")))?;
    Ok(Json(view(&state, &row)?))
}
