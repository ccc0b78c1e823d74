//! Channels: where customers reach the tenant: a WAHA session (WhatsApp), a Facebook Page
//! (Messenger) or an Instagram professional account. Reading is for everyone; creating, changing
//! and deleting is for admins. Secrets are never returned.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_channels::channel::ChannelSettings;
use ventros_channels::provider::ProviderConfig;

use super::required_text;
use crate::auth::{AsAdmin, Authorized, Principal};
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiJson};
use crate::{AppState, parse_id};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    pub name: String,
    /// `waha`, `messenger` or `instagram`.
    #[serde(default = "waha")]
    pub kind: String,
    /// WAHA: `base_url`, `api_key`, `session`, `hmac_key`. Messenger and Instagram: `page_id`,
    /// `access_token`, `app_secret`, `verify_token`, optional `graph_base_url`, `api_version`.
    #[schema(value_type = Object)]
    pub provider_config: Value,
    /// Auto-reply and timing settings.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<ChannelSettings>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    pub name: Option<String>,
    /// Replaces the provider settings (same shape as at creation, for the channel's kind).
    #[schema(value_type = Option<Object>)]
    pub provider_config: Option<Value>,
    /// Replaces the auto-reply and timing settings.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<ChannelSettings>,
}

fn waha() -> String {
    "waha".into()
}

/// A channel as the API shows it: secrets are never returned, only whether they are set.
fn view(state: &AppState, row: &sqlx::postgres::PgRow) -> Result<Value, ApiError> {
    let id: Uuid = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let provider = ProviderConfig::decode(&kind, row.try_get("provider_config")?)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    let (provider_config, webhook) = match &provider {
        ProviderConfig::Waha(config) => (
            json!({
                "base_url": config.base_url,
                "session": config.session,
                "api_key_set": !config.api_key.is_empty(),
                "hmac_key_set": config.hmac_key.is_some(),
            }),
            json!({
                "url": format!("{}/webhooks/waha/{id}", state.config.public_base_url),
                "events": ["message", "message.ack", "session.status"],
                "hmac": config.hmac_key.is_some(),
            }),
        ),
        ProviderConfig::Meta { platform, config } => (
            json!({
                "page_id": config.page_id,
                "graph_base_url": config.graph_base_url,
                "api_version": config.api_version,
                "access_token_set": !config.access_token.is_empty(),
                "app_secret_set": !config.app_secret.is_empty(),
                "verify_token_set": !config.verify_token.is_empty(),
            }),
            json!({
                // Callback URL and Verify Token go into the App Dashboard's webhook settings.
                "url": format!("{}/webhooks/meta/{id}", state.config.public_base_url),
                "object": platform.webhook_object(),
                "fields": match platform {
                    ventros_channels::meta::MetaPlatform::Messenger =>
                        json!(["messages", "messaging_postbacks", "message_deliveries", "message_reads", "message_echoes", "message_reactions"]),
                    ventros_channels::meta::MetaPlatform::Instagram =>
                        json!(["messages", "messaging_postbacks", "messaging_seen", "message_reactions"]),
                },
                "signature": "X-Hub-Signature-256",
            }),
        ),
    };
    let settings: Value = row.try_get("settings")?;
    // The pacing campaign sends follow, defaults included (a WAHA channel always has one), and
    // where its clock stands: the next free moment and the sends reserved on the current day.
    let pacing = serde_json::from_value::<ChannelSettings>(settings.clone())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored channel settings: {e}")))?
        .campaign_pacing_for(&kind)
        .map(|pacing| {
            let mut view = json!(pacing);
            view["clock"] = row
                .try_get::<Option<Value>, _>("pacing_clock")
                .ok()
                .flatten()
                .unwrap_or(Value::Null);
            view
        });
    Ok(json!({
        "id": id,
        "name": row.try_get::<String, _>("name")?,
        "campaign_pacing": pacing,
        "kind": kind,
        "status": row.try_get::<String, _>("status")?,
        "status_changed_at": row.try_get::<Option<chrono::DateTime<chrono::Utc>>, _>("status_changed_at")?,
        "provider_config": provider_config,
        "settings": settings,
        "webhook": webhook,
        "created_at": row.try_get::<chrono::DateTime<chrono::Utc>, _>("created_at")?,
        "updated_at": row.try_get::<chrono::DateTime<chrono::Utc>, _>("updated_at")?,
    }))
}

/// Decodes and validates provider settings for a channel kind, including where they point.
fn provider_config(state: &AppState, kind: &str, value: Value) -> Result<ProviderConfig, ApiError> {
    let config = ProviderConfig::decode(kind, value).map_err(ApiError::Unprocessable)?;
    config.validate().map_err(ApiError::Unprocessable)?;
    for (url, field) in config.urls() {
        state.config.provider_network.check_url(url, field).map_err(|e| {
            ApiError::Unprocessable(format!("{e}; a private address needs PROVIDER_PRIVATE_HOSTS (or PROVIDER_ALLOW_PRIVATE_NETWORKS in development)"))
        })?;
    }
    Ok(config)
}

const CHANNEL_COLUMNS: &str = "id, name, kind, status, status_changed_at, provider_config, settings, created_at, updated_at,
    (SELECT jsonb_build_object('next_slot_at', p.next_slot_at, 'day', p.slot_day, 'reserved_on_day', p.slots_on_day)
       FROM channel_campaign_pacing p WHERE p.channel_id = channels.id) AS pacing_clock";

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(e.into()))
}

/// Creates a channel (admin).
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", request_body = CreateChannel,
    responses((status = 201, description = "The channel, with the webhook URL to configure in WAHA", body = Value), (status = 422, description = "Invalid settings")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    ApiJson(req): ApiJson<CreateChannel>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = required_text(&req.name, "name", 200)?;
    let provider = provider_config(&state, &req.kind, req.provider_config)?;
    let settings = req.settings.unwrap_or_default();
    settings.validate().map_err(ApiError::Unprocessable)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO channels (id, tenant_id, kind, name, provider_config, settings) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {CHANNEL_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(principal.tenant_id)
    .bind(provider.kind())
    .bind(&name)
    .bind(provider.to_json())
    .bind(to_json(&settings)?)
    .fetch_one(&mut *tx)
    .await?;
    let view = view(&state, &row)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists channels.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", responses((status = 200, description = "Channels", body = Value)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY created_at"
    )))
    .fetch_all(&mut *tx)
    .await?;
    let items = rows
        .iter()
        .map(|r| view(&state, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "items": items })))
}

async fn load(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<sqlx::postgres::PgRow, ApiError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("channel {id} not found")))
}

/// A channel.
#[utoipa::path(get, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = String, Path)),
    responses((status = 200, description = "The channel", body = Value), (status = 404, description = "No such channel")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "channel")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let row = load(&mut tx, id).await?;
    Ok(Json(view(&state, &row)?))
}

/// Changes a channel's name, provider settings or auto-reply settings (admin). Running
/// conversations pick up new settings at their next event.
#[utoipa::path(patch, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = String, Path)), request_body = UpdateChannel,
    responses((status = 200, description = "The channel", body = Value), (status = 404, description = "No such channel")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateChannel>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "channel")?;
    let name = req
        .name
        .as_deref()
        .map(|n| required_text(n, "name", 200))
        .transpose()?;
    if let Some(settings) = &req.settings {
        settings.validate().map_err(ApiError::Unprocessable)?;
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let provider = match req.provider_config {
        Some(value) => {
            let kind: String = load(&mut tx, id).await?.try_get("kind")?;
            Some(provider_config(&state, &kind, value)?.to_json())
        }
        None => None,
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE channels SET name = coalesce($2, name), provider_config = coalesce($3, provider_config), settings = coalesce($4, settings)
          WHERE id = $1 RETURNING {CHANNEL_COLUMNS}"
    )))
    .bind(id)
    .bind(name)
    .bind(provider)
    .bind(req.settings.as_ref().map(to_json).transpose()?)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("channel {id} not found")))?;
    let view = view(&state, &row)?;
    tx.commit().await?;
    Ok(Json(view))
}

/// Deletes a channel that has no conversations (one with history stays, so nothing is lost).
#[utoipa::path(delete, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such channel"), (status = 409, description = "The channel has conversations")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "channel")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    load(&mut tx, id).await?;
    let used: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM conversation_sessions WHERE channel_id = $1)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if used {
        return Err(ApiError::Conflict(
            "the channel has conversations; their history would be lost".into(),
        ));
    }
    sqlx::query("DELETE FROM channels WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The provider session as the provider reports it now (WAHA `GET /api/sessions/{session}`),
/// beside the status last received by webhook.
#[utoipa::path(get, path = "/api/v1/channels/{id}/session", tag = "channels", params(("id" = String, Path)),
    responses((status = 200, description = "The session", body = Value), (status = 404, description = "No such channel"),
              (status = 503, description = "The provider did not answer")))]
pub async fn session(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "channel")?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let row = load(&mut tx, id).await?;
    drop(tx);
    let kind: String = row.try_get("kind")?;
    let provider = ProviderConfig::decode(&kind, row.try_get("provider_config")?)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    let reported = json!({"status": row.try_get::<String, _>("status")?, "at": row.try_get::<Option<chrono::DateTime<chrono::Utc>>, _>("status_changed_at")?});
    let live = match &provider {
        ProviderConfig::Waha(config) => match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            state.waha.session(config),
        )
        .await
        {
            Ok(Ok(session)) => {
                json!({"available": true, "name": session["name"], "status": session["status"], "me": session["me"], "engine": session["engine"]})
            }
            Ok(Err(err)) => json!({"available": false, "reason": err.to_string()}),
            Err(_) => json!({"available": false, "reason": "WAHA did not answer within 5 s"}),
        },
        // A Page or Instagram account has no session to scan or restart: it is connected while its
        // access token is valid, which the Send API reports on every send.
        ProviderConfig::Meta { .. } => {
            json!({"available": null, "reason": "Meta channels have no provider session"})
        }
    };
    Ok(Json(
        json!({"channel_id": id, "last_webhook_status": reported, "provider": live}),
    ))
}
