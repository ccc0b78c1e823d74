//! Channels: where customers reach the tenant: a WAHA session (WhatsApp), a Facebook Page
//! (Messenger) or an Instagram professional account. Reading is for everyone; creating, changing
//! and deleting is for admins. Secrets are never returned.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json as Jsonb;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_channels::channel::ChannelSettings;
use ventros_channels::meta::MetaPlatform;
use ventros_channels::provider::ProviderConfig;

use super::required_text;
use crate::AppState;
use crate::auth::{AsAdmin, Authorized, Principal};
use crate::db::{List, tenant_tx};
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;

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

/// A provider's settings as the API shows them: every secret replaced by whether it is set.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProviderView {
    Waha {
        base_url: String,
        session: String,
        api_key_set: bool,
        hmac_key_set: bool,
    },
    Meta {
        page_id: String,
        graph_base_url: String,
        api_version: String,
        access_token_set: bool,
        app_secret_set: bool,
        verify_token_set: bool,
    },
}

/// Where and how the provider must call Ventros: what an admin pastes into WAHA or Meta's App
/// Dashboard.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum WebhookSetup {
    Waha {
        url: String,
        events: Vec<&'static str>,
        /// Whether WAHA signs its calls (an HMAC key is set).
        hmac: bool,
    },
    Meta {
        /// The Callback URL (the Verify Token goes beside it).
        url: String,
        /// `page` (Messenger) or `instagram`.
        object: &'static str,
        fields: Vec<&'static str>,
        signature: &'static str,
    },
}

/// Where the channel's campaign clock stands.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PacingClock {
    #[schema(required = true)]
    pub next_slot_at: Option<DateTime<Utc>>,
    /// The calendar day `reserved_on_day` counts (in the last campaign's time zone).
    #[schema(required = true)]
    pub day: Option<chrono::NaiveDate>,
    pub reserved_on_day: i32,
}

/// How campaign sends on this channel are paced (defaults included), and its clock.
#[derive(Debug, Serialize, ToSchema)]
pub struct PacingView {
    pub min_interval_secs: u32,
    pub max_interval_secs: u32,
    /// `null`: no daily cap.
    #[schema(required = true)]
    pub daily_cap: Option<u32>,
    pub typing: bool,
    /// Null until the channel's first paced send.
    #[schema(required = true)]
    pub clock: Option<PacingClock>,
}

/// A channel as the API shows it: secrets are never returned, only whether they are set.
#[derive(Debug, Serialize, ToSchema)]
pub struct Channel {
    pub id: Uuid,
    pub name: String,
    /// Null where campaigns are not paced (a Meta channel without pacing settings).
    #[schema(required = true)]
    pub campaign_pacing: Option<PacingView>,
    /// `waha`, `messenger` or `instagram`.
    pub kind: String,
    /// The provider session's last reported status (WAHA `session.status`; `UNKNOWN` before any).
    pub status: String,
    #[schema(required = true)]
    pub status_changed_at: Option<DateTime<Utc>>,
    pub provider_config: ProviderView,
    /// Auto-reply and timing settings, as stored.
    #[schema(value_type = Object)]
    pub settings: Value,
    pub webhook: WebhookSetup,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl crate::ids::Resource for Channel {
    const NAME: &'static str = "channel";
}

/// A channel's row, as stored.
struct ChannelRow {
    id: Uuid,
    name: String,
    kind: String,
    status: String,
    status_changed_at: Option<DateTime<Utc>>,
    provider_config: Value,
    settings: Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    pacing_clock: Option<Jsonb<PacingClock>>,
}

/// The tenant's channels (`only`: just that one), oldest first.
async fn channel_rows(
    tx: &mut sqlx::PgConnection,
    only: Option<Uuid>,
) -> Result<Vec<ChannelRow>, ApiError> {
    Ok(sqlx::query_as!(
        ChannelRow,
        r#"SELECT id, name, kind, status, status_changed_at, provider_config, settings, created_at, updated_at,
                  (SELECT jsonb_build_object('next_slot_at', p.next_slot_at, 'day', p.slot_day, 'reserved_on_day', p.slots_on_day)
                     FROM channel_campaign_pacing p WHERE p.channel_id = channels.id) AS "pacing_clock: Jsonb<PacingClock>"
             FROM channels WHERE ($1::uuid IS NULL OR id = $1) ORDER BY created_at"#,
        only
    )
    .fetch_all(&mut *tx)
    .await?)
}

fn provider_view(
    state: &AppState,
    id: Uuid,
    provider: &ProviderConfig,
) -> (ProviderView, WebhookSetup) {
    match provider {
        ProviderConfig::Waha(config) => (
            ProviderView::Waha {
                base_url: config.base_url.clone(),
                session: config.session.clone(),
                api_key_set: !config.api_key.is_empty(),
                hmac_key_set: config.hmac_key.is_some(),
            },
            WebhookSetup::Waha {
                url: format!("{}/webhooks/waha/{id}", state.config.public_base_url),
                events: vec!["message", "message.ack", "session.status"],
                hmac: config.hmac_key.is_some(),
            },
        ),
        ProviderConfig::Meta { platform, config } => (
            ProviderView::Meta {
                page_id: config.page_id.clone(),
                graph_base_url: config.graph_base_url.clone(),
                api_version: config.api_version.clone(),
                access_token_set: !config.access_token.is_empty(),
                app_secret_set: !config.app_secret.is_empty(),
                verify_token_set: !config.verify_token.is_empty(),
            },
            WebhookSetup::Meta {
                url: format!("{}/webhooks/meta/{id}", state.config.public_base_url),
                object: platform.webhook_object(),
                fields: match platform {
                    MetaPlatform::Messenger => vec![
                        "messages",
                        "messaging_postbacks",
                        "message_deliveries",
                        "message_reads",
                        "message_echoes",
                        "message_reactions",
                    ],
                    MetaPlatform::Instagram => vec![
                        "messages",
                        "messaging_postbacks",
                        "messaging_seen",
                        "message_reactions",
                    ],
                },
                signature: "X-Hub-Signature-256",
            },
        ),
    }
}

fn view(state: &AppState, row: ChannelRow) -> Result<Channel, ApiError> {
    let provider = ProviderConfig::decode(&row.kind, row.provider_config)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    let (provider_config, webhook) = provider_view(state, row.id, &provider);
    // The pacing campaign sends follow, defaults included (a WAHA channel always has one), and
    // where its clock stands: the next free moment and the sends reserved on the current day.
    let pacing = serde_json::from_value::<ChannelSettings>(row.settings.clone())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored channel settings: {e}")))?
        .campaign_pacing_for(&row.kind);
    let campaign_pacing = pacing.map(|pacing| PacingView {
        min_interval_secs: pacing.min_interval_secs,
        max_interval_secs: pacing.max_interval_secs,
        daily_cap: pacing.daily_cap,
        typing: pacing.typing,
        clock: row.pacing_clock.map(|clock| clock.0),
    });
    Ok(Channel {
        id: row.id,
        name: row.name,
        campaign_pacing,
        kind: row.kind,
        status: row.status,
        status_changed_at: row.status_changed_at,
        provider_config,
        settings: row.settings,
        webhook,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// One channel as the API shows it, or 404.
async fn load(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    id: Uuid,
) -> Result<Channel, ApiError> {
    let row = channel_rows(tx, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("channel {id} not found")))?;
    view(state, row)
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

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(e.into()))
}

/// Creates a channel (admin).
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", request_body = CreateChannel,
    responses((status = 201, description = "The channel, with the webhook URL to configure in WAHA", body = Channel), (status = 422, description = "Invalid settings")))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    ApiJson(req): ApiJson<CreateChannel>,
) -> Result<(StatusCode, Json<Channel>), ApiError> {
    let name = required_text(&req.name, "name", 200)?;
    let provider = provider_config(&state, &req.kind, req.provider_config)?;
    let settings = req.settings.unwrap_or_default();
    settings.validate().map_err(ApiError::Unprocessable)?;
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO channels (id, tenant_id, kind, name, provider_config, settings) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        principal.tenant_id,
        provider.kind(),
        name,
        provider.to_json(),
        to_json(&settings)?,
    )
    .execute(&mut *tx)
    .await?;
    let channel = load(&state, &mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(channel)))
}

/// Lists channels.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", responses((status = 200, description = "Channels", body = List<Channel>)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<List<Channel>>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let items = channel_rows(&mut tx, None)
        .await?
        .into_iter()
        .map(|row| view(&state, row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(List { items }))
}

/// A channel.
#[utoipa::path(get, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The channel", body = Channel), (status = 404, description = "No such channel")))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Channel>,
) -> Result<Json<Channel>, ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    Ok(Json(load(&state, &mut tx, id.get()).await?))
}

/// Changes a channel's name, provider settings or auto-reply settings (admin). Running
/// conversations pick up new settings at their next event.
#[utoipa::path(patch, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = Uuid, Path)), request_body = UpdateChannel,
    responses((status = 200, description = "The channel", body = Channel), (status = 404, description = "No such channel")))]
pub async fn update(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Channel>,
    ApiJson(req): ApiJson<UpdateChannel>,
) -> Result<Json<Channel>, ApiError> {
    let id = id.get();
    let name = req
        .name
        .as_deref()
        .map(|n| required_text(n, "name", 200))
        .transpose()?;
    if let Some(settings) = &req.settings {
        settings.validate().map_err(ApiError::Unprocessable)?;
    }
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let current = load(&state, &mut tx, id).await?;
    let provider = req
        .provider_config
        .map(|value| provider_config(&state, &current.kind, value).map(|p| p.to_json()))
        .transpose()?;
    sqlx::query!(
        "UPDATE channels SET name = coalesce($2, name), provider_config = coalesce($3, provider_config), settings = coalesce($4, settings)
          WHERE id = $1",
        id,
        name,
        provider,
        req.settings.as_ref().map(to_json).transpose()?,
    )
    .execute(&mut *tx)
    .await?;
    let channel = load(&state, &mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(channel))
}

/// Deletes a channel that has no conversations (one with history stays, so nothing is lost).
#[utoipa::path(delete, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such channel"), (status = 409, description = "The channel has conversations")))]
pub async fn delete(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Channel>,
) -> Result<StatusCode, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    load(&state, &mut tx, id).await?;
    let used = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM conversation_sessions WHERE channel_id = $1) AS "used!""#,
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    if used {
        return Err(ApiError::Conflict(
            "the channel has conversations; their history would be lost".into(),
        ));
    }
    sqlx::query!("DELETE FROM channels WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The provider session as the provider reports it now (WAHA `GET /api/sessions/{session}`),
/// beside the status last received by webhook.
/// The provider session's status as the last webhook reported it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportedStatus {
    pub status: String,
    #[schema(required = true)]
    pub at: Option<DateTime<Utc>>,
}

/// The provider's session now, when it can be asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderSession {
    /// Null for a channel without a provider session (Messenger, Instagram).
    #[schema(required = true)]
    pub available: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// WAHA's session name, status (`WORKING`, `SCAN_QR_CODE`, …), account and engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub name: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub status: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub me: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub engine: Option<Value>,
}

impl ProviderSession {
    fn unavailable(available: Option<bool>, reason: String) -> ProviderSession {
        ProviderSession {
            available,
            reason: Some(reason),
            name: None,
            status: None,
            me: None,
            engine: None,
        }
    }
}

/// What the webhook last said about the provider session, and what the provider says now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelSession {
    pub channel_id: Uuid,
    pub last_webhook_status: ReportedStatus,
    pub provider: ProviderSession,
}

/// The provider session as the provider reports it now (WAHA `GET /api/sessions/{session}`),
/// beside the status last received by webhook.
#[utoipa::path(get, path = "/api/v1/channels/{id}/session", tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The session", body = ChannelSession), (status = 404, description = "No such channel"),
              (status = 503, description = "The provider did not answer")))]
pub async fn session(
    State(state): State<AppState>,
    principal: Principal,
    id: Id<Channel>,
) -> Result<Json<ChannelSession>, ApiError> {
    let id = id.get();
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let row = channel_rows(&mut tx, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("channel {id} not found")))?;
    drop(tx);
    let provider = ProviderConfig::decode(&row.kind, row.provider_config)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    let live = match &provider {
        ProviderConfig::Waha(config) => match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            state.waha.session(config),
        )
        .await
        {
            Ok(Ok(session)) => ProviderSession {
                available: Some(true),
                reason: None,
                name: Some(session["name"].clone()),
                status: Some(session["status"].clone()),
                me: Some(session["me"].clone()),
                engine: Some(session["engine"].clone()),
            },
            Ok(Err(err)) => ProviderSession::unavailable(Some(false), err.to_string()),
            Err(_) => {
                ProviderSession::unavailable(Some(false), "WAHA did not answer within 5 s".into())
            }
        },
        // A Page or Instagram account has no session to scan or restart: it is connected while its
        // access token is valid, which the Send API reports on every send.
        ProviderConfig::Meta { .. } => {
            ProviderSession::unavailable(None, "Meta channels have no provider session".into())
        }
    };
    Ok(Json(ChannelSession {
        channel_id: id,
        last_webhook_status: ReportedStatus {
            status: row.status,
            at: row.status_changed_at,
        },
        provider: live,
    }))
}
