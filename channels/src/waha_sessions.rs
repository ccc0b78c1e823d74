//! A WAHA session's life from Ventros: create it with Ventros's webhook, start, stop, restart,
//! log out, and link a phone by QR code or pairing code (`POST /api/sessions`,
//! `POST /api/sessions/{session}/start|stop|restart|logout`, `GET /api/{session}/auth/qr`,
//! `POST /api/{session}/auth/request-code`), so an admin connects WhatsApp from the web app.

use serde_json::{Value, json};

use crate::channel::WahaConfig;
use crate::waha::{HEADER_API_KEY, HttpWahaClient, WahaError};

/// One session operation.
#[derive(Debug, Clone)]
pub enum SessionOp {
    /// Create and start the session, its webhook pointing at Ventros (`config.webhooks[0]`).
    Create {
        webhook: Value,
    },
    /// Replace the stopped session's config with Ventros's webhook (`PUT`: WAHA replaces the
    /// whole config).
    Configure {
        webhook: Value,
    },
    Start,
    Stop,
    Restart,
    /// Unlink the phone; WAHA waits for a new one.
    Logout,
    /// The current QR code as `{mimetype, data}` (base64 PNG).
    Qr,
    /// A pairing code for this phone number (digits, international format): `{code}`.
    RequestCode {
        phone_number: String,
    },
}

/// The webhook Ventros registers on a session it manages.
pub fn ventros_webhook(url: &str, hmac_key: Option<&str>) -> Value {
    let mut hook = json!({
        "url": url,
        "events": ["message", "message.ack", "session.status"],
        "retries": {"policy": "exponential", "delaySeconds": 2, "attempts": 15},
    });
    if let Some(key) = hmac_key {
        hook["hmac"] = json!({"key": key});
    }
    hook
}

pub(crate) async fn session_op(
    client: &HttpWahaClient,
    cfg: &WahaConfig,
    op: SessionOp,
) -> Result<Value, WahaError> {
    let session = cfg.session.as_str();
    let http = client.http();
    let request = match &op {
        SessionOp::Create { webhook } => http
            .post(client.endpoint(cfg, &["api", "sessions"])?)
            .json(&json!({"name": session, "start": true, "config": {"webhooks": [webhook]}})),
        SessionOp::Configure { webhook } => http
            .put(client.endpoint(cfg, &["api", "sessions", session])?)
            .json(&json!({"name": session, "config": {"webhooks": [webhook]}})),
        SessionOp::Start | SessionOp::Stop | SessionOp::Restart | SessionOp::Logout => {
            let action = match op {
                SessionOp::Start => "start",
                SessionOp::Stop => "stop",
                SessionOp::Restart => "restart",
                _ => "logout",
            };
            http.post(client.endpoint(cfg, &["api", "sessions", session, action])?)
                .json(&json!({}))
        }
        SessionOp::Qr => http
            .get(client.endpoint(cfg, &["api", session, "auth", "qr"])?)
            .query(&[("format", "image")])
            .header(reqwest::header::ACCEPT, "application/json"),
        SessionOp::RequestCode { phone_number } => http
            .post(client.endpoint(cfg, &["api", session, "auth", "request-code"])?)
            .json(&json!({"phoneNumber": phone_number})),
    };
    let resp = request.header(HEADER_API_KEY, &cfg.api_key).send().await;
    match op {
        // Lifecycle calls answer with the session, or nothing on some versions: either is fine.
        SessionOp::Start | SessionOp::Stop | SessionOp::Restart | SessionOp::Logout => {
            HttpWahaClient::status_only(resp)
                .await
                .map(|()| Value::Null)
        }
        _ => HttpWahaClient::read(resp).await,
    }
}
