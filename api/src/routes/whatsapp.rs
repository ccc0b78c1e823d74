//! Connecting a WhatsApp channel from the web app (admins): start its WAHA session with Ventros's
//! webhook, show the QR code until a phone is linked (or give a pairing code), stop, restart and
//! log out. The session's status reaches the web app live: WAHA's `session.status` webhooks
//! become `channel.status_changed` events.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;
use ventros_channels::channel::WahaConfig;
use ventros_channels::provider::ProviderConfig;
use ventros_channels::waha::WahaError;
use ventros_channels::waha_sessions::{SessionOp, ventros_webhook};

use super::channels::Channel;
use crate::AppState;
use crate::auth::{AsAdmin, Authorized, Principal};
use crate::db::tenant_tx;
use crate::error::{ApiError, ApiJson};
use crate::ids::Id;

/// How long a WAHA call may take before the admin is told it did not answer.
const WAHA_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// The WhatsApp session as WAHA reports it now.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhatsAppSession {
    pub channel_id: Uuid,
    /// WAHA's status: `STOPPED`, `STARTING`, `SCAN_QR_CODE`, `WORKING` or `FAILED`.
    pub status: String,
    /// The linked phone's WhatsApp id and name, once `WORKING`.
    #[schema(value_type = Option<Object>, required = true)]
    pub me: Option<Value>,
}

/// The QR code to scan with WhatsApp (Linked devices), as WAHA serves it; it changes every 20 s
/// or so while WAHA waits, so fetch it again while the status is `SCAN_QR_CODE`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhatsAppQr {
    /// `image/png`.
    pub mimetype: String,
    /// The image as a `data:` URL, ready for an `<img>`.
    pub data_url: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairingCodeRequest {
    /// The phone to link, in international format (`+55 11 98765-4321`).
    pub phone_number: String,
}

/// The code to type in WhatsApp (Linked devices → Link with phone number instead).
#[derive(Debug, Serialize, ToSchema)]
pub struct PairingCode {
    pub code: String,
}

/// The channel's WAHA settings and the webhook Ventros registers (only WhatsApp channels have a
/// session).
async fn waha(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<(WahaConfig, Value), ApiError> {
    let mut tx = tenant_tx(&state.pool, principal.tenant_id).await?;
    let row = sqlx::query!(
        "SELECT kind, provider_config FROM channels WHERE id = $1",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("channel {id} not found")))?;
    let provider = ProviderConfig::decode(&row.kind, row.provider_config)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    let ProviderConfig::Waha(config) = provider else {
        return Err(ApiError::Unprocessable(
            "only WhatsApp channels have a session to connect".into(),
        ));
    };
    let url = format!("{}/webhooks/waha/{id}", state.config.public_base_url);
    let webhook = ventros_webhook(&url, config.hmac_key.as_deref());
    Ok((config, webhook))
}

fn waha_failure(err: WahaError) -> ApiError {
    match err {
        WahaError::Rejected { status: 404, .. } => {
            ApiError::Conflict("the WhatsApp session does not exist yet: start it first".into())
        }
        WahaError::Rejected { status, detail } => ApiError::Conflict(format!(
            "WAHA refused (HTTP {status}){}",
            detail.map(|d| format!(": {d}")).unwrap_or_default()
        )),
        WahaError::Refused(why) => ApiError::Unprocessable(why),
        other => ApiError::Unavailable(format!("{other}; retry")),
    }
}

async fn call(state: &AppState, config: &WahaConfig, op: SessionOp) -> Result<Value, ApiError> {
    match tokio::time::timeout(WAHA_DEADLINE, state.waha.session_op(config, op)).await {
        Ok(result) => result.map_err(waha_failure),
        Err(_) => Err(ApiError::Unavailable(
            "WAHA did not answer in time; retry".into(),
        )),
    }
}

async fn current(
    state: &AppState,
    id: Uuid,
    config: &WahaConfig,
) -> Result<WhatsAppSession, ApiError> {
    let session = match tokio::time::timeout(WAHA_DEADLINE, state.waha.session(config)).await {
        Ok(result) => result.map_err(waha_failure)?,
        Err(_) => {
            return Err(ApiError::Unavailable(
                "WAHA did not answer in time; retry".into(),
            ));
        }
    };
    Ok(WhatsAppSession {
        channel_id: id,
        status: session["status"].as_str().unwrap_or("UNKNOWN").to_owned(),
        me: session.get("me").filter(|m| !m.is_null()).cloned(),
    })
}

/// Starts the channel's WhatsApp session: creates it with Ventros's webhook when WAHA has none,
/// points a stopped one's webhook at Ventros, and starts it. Then scan the QR code (or ask for a
/// pairing code) until the status is `WORKING`.
#[utoipa::path(post, path = "/api/v1/channels/{id}/whatsapp/start", tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The session now", body = WhatsAppSession), (status = 404, description = "No such channel"),
              (status = 422, description = "Not a WhatsApp channel"), (status = 503, description = "WAHA did not answer")))]
pub async fn start(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Channel>,
) -> Result<Json<WhatsAppSession>, ApiError> {
    let id = id.get();
    let (config, webhook) = waha(&state, &principal, id).await?;
    match tokio::time::timeout(WAHA_DEADLINE, state.waha.session(&config)).await {
        Ok(Err(WahaError::Rejected { status: 404, .. })) => {
            call(&state, &config, SessionOp::Create { webhook }).await?;
        }
        Ok(Ok(session)) if session["status"] == "STOPPED" => {
            call(&state, &config, SessionOp::Configure { webhook }).await?;
            call(&state, &config, SessionOp::Start).await?;
        }
        // Starting, waiting for a scan or working: nothing to do.
        Ok(Ok(_)) => {}
        Ok(Err(err)) => return Err(waha_failure(err)),
        Err(_) => {
            return Err(ApiError::Unavailable(
                "WAHA did not answer in time; retry".into(),
            ));
        }
    }
    Ok(Json(current(&state, id, &config).await?))
}

macro_rules! lifecycle {
    ($name:ident, $op:expr, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "channels", params(("id" = Uuid, Path)),
            responses((status = 200, description = "The session now", body = WhatsAppSession), (status = 404, description = "No such channel"),
                      (status = 409, description = "WAHA refused (no such session)"), (status = 503, description = "WAHA did not answer")))]
        pub async fn $name(
            State(state): State<AppState>,
            Authorized(principal): AsAdmin,
            id: Id<Channel>,
        ) -> Result<Json<WhatsAppSession>, ApiError> {
            let id = id.get();
            let (config, _) = waha(&state, &principal, id).await?;
            call(&state, &config, $op).await?;
            Ok(Json(current(&state, id, &config).await?))
        }
    };
}

lifecycle!(
    stop,
    SessionOp::Stop,
    "/api/v1/channels/{id}/whatsapp/stop",
    "Stops the session: no messages in or out until it starts again (the phone stays linked)."
);
lifecycle!(
    restart,
    SessionOp::Restart,
    "/api/v1/channels/{id}/whatsapp/restart",
    "Restarts the session (what WAHA advises for `FAILED`)."
);
lifecycle!(
    logout,
    SessionOp::Logout,
    "/api/v1/channels/{id}/whatsapp/logout",
    "Unlinks the phone: the session waits for a new scan (re-pair)."
);

/// The QR code to scan now. Only while the status is `SCAN_QR_CODE` (409 otherwise).
#[utoipa::path(get, path = "/api/v1/channels/{id}/whatsapp/qr", tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The QR code", body = WhatsAppQr), (status = 404, description = "No such channel"),
              (status = 409, description = "The session is not waiting for a scan"), (status = 503, description = "WAHA did not answer")))]
pub async fn qr(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Channel>,
) -> Result<Json<WhatsAppQr>, ApiError> {
    let (config, _) = waha(&state, &principal, id.get()).await?;
    let image = call(&state, &config, SessionOp::Qr).await?;
    let (Some(mimetype), Some(data)) = (image["mimetype"].as_str(), image["data"].as_str()) else {
        return Err(ApiError::Unavailable("WAHA sent no QR image; retry".into()));
    };
    if mimetype != "image/png"
        || !data
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
    {
        return Err(ApiError::Unavailable(
            "WAHA sent an unexpected QR image".into(),
        ));
    }
    Ok(Json(WhatsAppQr {
        mimetype: mimetype.to_owned(),
        data_url: format!("data:{mimetype};base64,{data}"),
    }))
}

/// A pairing code for linking by phone number instead of a scan (while `SCAN_QR_CODE`).
#[utoipa::path(post, path = "/api/v1/channels/{id}/whatsapp/pairing-code", tag = "channels", params(("id" = Uuid, Path)),
    request_body = PairingCodeRequest,
    responses((status = 200, description = "The code", body = PairingCode), (status = 409, description = "The session is not waiting for a phone"),
              (status = 422, description = "Not a phone number")))]
pub async fn pairing_code(
    State(state): State<AppState>,
    Authorized(principal): AsAdmin,
    id: Id<Channel>,
    ApiJson(req): ApiJson<PairingCodeRequest>,
) -> Result<Json<PairingCode>, ApiError> {
    let digits = super::phone_digits(&req.phone_number).ok_or_else(|| {
        ApiError::Unprocessable(
            "phone_number must be a number with country code, 10 to 15 digits".into(),
        )
    })?;
    let (config, _) = waha(&state, &principal, id.get()).await?;
    let answer = call(
        &state,
        &config,
        SessionOp::RequestCode {
            phone_number: digits,
        },
    )
    .await?;
    let code = answer["code"]
        .as_str()
        .ok_or_else(|| ApiError::Unavailable("WAHA sent no code; retry".into()))?;
    Ok(Json(PairingCode {
        code: code.to_owned(),
    }))
}
