//! WAHA (WhatsApp HTTP API): the wire types of its webhooks and the HTTP client we send with.
//!
//! Shapes follow WAHA's documentation (`shared/reference/channels.md`). The client is behind the
//! [`WahaApi`] trait so activities can be tested against any implementation; the one in production
//! and in the tests is [`HttpWahaClient`], talking real HTTP to WAHA or to our simulator.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha512;

use crate::channel::WahaConfig;
use crate::net_guard::NetPolicy;

pub const HEADER_API_KEY: &str = "X-Api-Key";
pub const HEADER_HMAC: &str = "X-Webhook-Hmac";
pub const HEADER_HMAC_ALGORITHM: &str = "X-Webhook-Hmac-Algorithm";
pub const HEADER_REQUEST_ID: &str = "X-Webhook-Request-Id";
pub const HEADER_TIMESTAMP: &str = "X-Webhook-Timestamp";

/// The envelope of every WAHA webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookEnvelope {
    /// Lower-case ULID, `evt_…`; the same across WAHA's retries of one delivery.
    #[serde(default)]
    pub id: Option<String>,
    /// Milliseconds.
    #[serde(default)]
    pub timestamp: Option<i64>,
    pub event: String,
    pub session: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub me: Option<Value>,
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// `payload` of a `message` event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessagePayload {
    pub id: String,
    /// Seconds.
    pub timestamp: i64,
    pub from: String,
    #[serde(rename = "fromMe", default)]
    pub from_me: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(rename = "hasMedia", default)]
    pub has_media: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<i64>,
    #[serde(rename = "replyTo", default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Value>,
    #[serde(rename = "_data", default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl MessagePayload {
    /// The sender's profile name, where the engine reports one.
    pub fn push_name(&self) -> Option<String> {
        let data = self.data.as_ref()?;
        ["notifyName", "pushName"]
            .iter()
            .find_map(|k| data.get(*k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(200).collect())
    }

    /// The sender's other WhatsApp address, where the engine reports it: the phone number
    /// (`…@c.us`) of a message from a hidden id (`…@lid`), or the other way round. WEBJS says
    /// nothing; NOWEB puts it in `_data.key` (`remoteJidAlt`, older `senderPn`/`senderLid`), GOWS
    /// in `_data.Info` (`SenderAlt`). Only an address of the other kind is returned.
    pub fn alternate_sender(&self) -> Option<String> {
        let data = self.data.as_ref()?;
        let (_, own_kind) = classify_chat_id(&self.from);
        let candidates = [
            data.pointer("/key/remoteJidAlt"),
            data.pointer("/key/senderPn"),
            data.pointer("/key/senderLid"),
            data.pointer("/Info/SenderAlt"),
            data.pointer("/Info/Sender"),
        ];
        candidates
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(|raw| {
                let (chat_id, kind) = classify_chat_id(&without_device(raw));
                let other = matches!(
                    (own_kind, kind),
                    (ChatKind::Lid, ChatKind::User) | (ChatKind::User, ChatKind::Lid)
                );
                other.then_some(chat_id)
            })
    }
}

/// `5511…:12@s.whatsapp.net` (an address with a device number) → `5511…@s.whatsapp.net`.
fn without_device(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => format!("{}@{domain}", local.split(':').next().unwrap_or(local)),
        None => address.to_owned(),
    }
}

/// `payload` of a `message.ack` event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckPayload {
    pub id: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub participant: Option<String>,
    #[serde(rename = "fromMe", default)]
    pub from_me: Option<bool>,
    pub ack: i64,
    #[serde(rename = "ackName", default)]
    pub ack_name: Option<String>,
}

/// `payload` of a `session.status` event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionStatusPayload {
    #[serde(default)]
    pub name: Option<String>,
    pub status: String,
}

/// The session status values WAHA documents.
pub const SESSION_STATUSES: &[&str] = &[
    "STOPPED",
    "STARTING",
    "SCAN_QR_CODE",
    "PASSKEY_REQUIRED",
    "PASSKEY_CONFIRMATION_REQUIRED",
    "WORKING",
    "FAILED",
];

/// What kind of address a WhatsApp chat id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    /// `…@c.us`: a phone number.
    User,
    /// `…@lid`: a hidden linked id.
    Lid,
    /// Groups, newsletters, status broadcasts: not one-to-one conversations.
    Other,
}

/// Normalises a chat id (`…@s.whatsapp.net` becomes `…@c.us`) and says what it is.
pub fn classify_chat_id(chat_id: &str) -> (String, ChatKind) {
    let normalised = chat_id
        .strip_suffix("@s.whatsapp.net")
        .map_or_else(|| chat_id.to_owned(), |n| format!("{n}@c.us"));
    let local = normalised.split('@').next().unwrap_or_default();
    let well_formed = !local.is_empty() && local.chars().all(|c| c.is_ascii_digit());
    let kind = if normalised.ends_with("@c.us") && well_formed {
        ChatKind::User
    } else if normalised.ends_with("@lid") && well_formed {
        ChatKind::Lid
    } else {
        ChatKind::Other
    };
    (normalised, kind)
}

/// Hex HMAC-SHA512 of a body, as WAHA puts in `X-Webhook-Hmac`.
pub fn sign_body(key: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks `X-Webhook-Hmac` in constant time.
pub fn verify_signature(key: &str, body: &[u8], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// A message as WAHA returns it from `sendText` and `GET /api/messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub id: String,
    pub body: Option<String>,
    pub from_me: bool,
    /// Seconds.
    pub timestamp: Option<i64>,
}

impl SentMessage {
    /// Accepts the engines' shapes of a message id: a string (`true_…@c.us_ABC`), WEBJS's object
    /// with `_serialized`, or NOWEB's `key`.
    pub fn from_json(v: &Value) -> Option<SentMessage> {
        let id = match v.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(obj @ Value::Object(_)) => obj.get("_serialized")?.as_str()?.to_owned(),
            _ => {
                let key = v.get("key")?;
                let remote = key.get("remoteJid")?.as_str()?;
                let (chat, _) = classify_chat_id(remote);
                let from_me = key.get("fromMe").and_then(Value::as_bool).unwrap_or(true);
                format!("{from_me}_{chat}_{}", key.get("id")?.as_str()?)
            }
        };
        if id.is_empty() {
            return None;
        }
        Some(SentMessage {
            id,
            body: v.get("body").and_then(Value::as_str).map(str::to_owned),
            from_me: v.get("fromMe").and_then(Value::as_bool).unwrap_or(true),
            timestamp: v.get("timestamp").and_then(Value::as_i64),
        })
    }
}

/// Why a WAHA call failed. `Rejected` is final; everything else is worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum WahaError {
    #[error("WAHA rejected the request (HTTP {status}){}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Rejected { status: u16, detail: Option<String> },
    #[error("WAHA is unavailable (HTTP {status})")]
    Unavailable { status: u16 },
    #[error("could not reach WAHA: {0}")]
    Transport(String),
    #[error("WAHA answered with an unexpected body: {0}")]
    InvalidResponse(String),
    /// Never sent: the channel's address is not one Ventros may connect to.
    #[error("not sent: {0}")]
    Refused(String),
}

impl WahaError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, WahaError::Rejected { .. } | WahaError::Refused(_))
    }
}

/// The WAHA calls Ventros makes.
#[async_trait]
pub trait WahaApi: Send + Sync {
    /// `POST /api/sendText`.
    async fn send_text(
        &self,
        cfg: &WahaConfig,
        chat_id: &str,
        text: &str,
    ) -> Result<SentMessage, WahaError>;
    /// `POST /api/sendImage`, `/api/sendVoice`, `/api/sendVideo` or `/api/sendFile` (by the file's
    /// kind), the file inline as base64 (`file.data`): WAHA need not reach our network.
    async fn send_media(
        &self,
        cfg: &WahaConfig,
        chat_id: &str,
        file: &crate::provider::OutgoingFile<'_>,
        caption: &str,
    ) -> Result<SentMessage, WahaError>;
    /// The chat's latest messages, newest first: `GET /api/{session}/chats/{chatId}/messages`, or
    /// the older `GET /api/messages?chatId=&session=` where that is missing.
    async fn recent_messages(
        &self,
        cfg: &WahaConfig,
        chat_id: &str,
        limit: u32,
    ) -> Result<Vec<SentMessage>, WahaError>;
    /// `POST /api/sendSeen`: blue ticks on the customer's messages.
    async fn send_seen(
        &self,
        cfg: &WahaConfig,
        chat_id: &str,
        message_ids: &[String],
    ) -> Result<(), WahaError>;
    /// `POST /api/startTyping` / `POST /api/stopTyping`.
    async fn typing(&self, cfg: &WahaConfig, chat_id: &str, on: bool) -> Result<(), WahaError>;
    /// `GET /api/sessions/{session}`: the session as WAHA reports it (`name`, `status`, `me`, …).
    async fn session(&self, cfg: &WahaConfig) -> Result<serde_json::Value, WahaError>;
    /// `GET /api/{session}/lids/{lid}`: the phone chat id (`…@c.us`) behind a hidden id, `None`
    /// when WAHA does not know it (`pn: null`, or 404).
    async fn lid_phone(&self, cfg: &WahaConfig, lid: &str) -> Result<Option<String>, WahaError>;
    /// `GET /api/{session}/lids/pn/{phoneNumber}`: the hidden id (`…@lid`) of a phone chat id,
    /// `None` when WAHA does not know one.
    async fn phone_lid(&self, cfg: &WahaConfig, phone: &str) -> Result<Option<String>, WahaError>;
    /// The session's life and linking a phone: see [`crate::waha_sessions`].
    async fn session_op(
        &self,
        cfg: &WahaConfig,
        op: crate::waha_sessions::SessionOp,
    ) -> Result<Value, WahaError>;
}

/// [`WahaApi`] over HTTP with reqwest.
#[derive(Clone)]
pub struct HttpWahaClient {
    http: reqwest::Client,
    /// Where a channel's `base_url` may point (checked again on every call: it is tenant input).
    policy: NetPolicy,
}

impl HttpWahaClient {
    /// A client that reaches public addresses only and follows no redirects.
    pub fn new() -> Self {
        Self::with_policy(NetPolicy::public_only())
    }

    pub fn with_policy(policy: NetPolicy) -> Self {
        let http = policy
            .client_builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client builds");
        HttpWahaClient { http, policy }
    }

    /// `base_url` + `path`, once `base_url` passes the policy; `path`'s segments are encoded.
    pub(crate) fn endpoint(
        &self,
        cfg: &WahaConfig,
        segments: &[&str],
    ) -> Result<reqwest::Url, WahaError> {
        let mut url = self
            .policy
            .check_url(&cfg.base_url, "the channel's base_url")
            .map_err(WahaError::Refused)?;
        url.path_segments_mut()
            .map_err(|_| WahaError::Refused("the channel's base_url cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `POST /api/{endpoint}` of one of the send endpoints; the created message's id.
    async fn post_send(
        &self,
        cfg: &WahaConfig,
        endpoint: &str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Result<SentMessage, WahaError> {
        let mut request = self
            .http
            .post(self.endpoint(cfg, &["api", endpoint])?)
            .header(HEADER_API_KEY, &cfg.api_key)
            .json(body);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let value = Self::read(request.send().await).await?;
        SentMessage::from_json(&value)
            .ok_or_else(|| WahaError::InvalidResponse("no message id".into()))
    }

    pub(crate) async fn read(
        resp: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Value, WahaError> {
        let resp = resp.map_err(|e| WahaError::Transport(without_url(&e)))?;
        let status = resp.status();
        if status.is_success() {
            return resp
                .json::<Value>()
                .await
                .map_err(|e| WahaError::InvalidResponse(without_url(&e)));
        }
        let code = status.as_u16();
        if status.is_client_error() && code != 408 && code != 429 {
            let body = resp.json::<Value>().await.ok();
            Err(WahaError::Rejected {
                status: code,
                detail: body.as_ref().and_then(rejection_detail),
            })
        } else {
            Err(WahaError::Unavailable { status: code })
        }
    }
}

/// WAHA's explanation of a refusal (`message`), kept short and without anything that looks like a
/// phone number: it ends up in failure reasons, logs and the API.
fn rejection_detail(body: &Value) -> Option<String> {
    let message = body.get("message")?.as_str()?;
    static DIGITS: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\d{6,}").expect("valid regex"));
    let scrubbed = DIGITS.replace_all(message, "…");
    let short: String = scrubbed.chars().take(200).collect();
    (!short.trim().is_empty()).then_some(short)
}

impl HttpWahaClient {
    /// For calls whose answer body does not matter (WAHA documents none for them).
    pub(crate) async fn status_only(
        resp: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<(), WahaError> {
        let resp = resp.map_err(|e| WahaError::Transport(without_url(&e)))?;
        let status = resp.status();
        let code = status.as_u16();
        if status.is_success() {
            Ok(())
        } else if status.is_client_error() && code != 408 && code != 429 {
            let body = resp.json::<Value>().await.ok();
            Err(WahaError::Rejected {
                status: code,
                detail: body.as_ref().and_then(rejection_detail),
            })
        } else {
            Err(WahaError::Unavailable { status: code })
        }
    }
}

impl Default for HttpWahaClient {
    fn default() -> Self {
        Self::new()
    }
}

/// `{"lid": "…@lid", "pn": "…@c.us" | null}` → the phone chat id, if it is one.
pub fn phone_of_lid_answer(value: &Value) -> Option<String> {
    let (chat_id, kind) = classify_chat_id(&without_device(value.get("pn")?.as_str()?));
    (kind == ChatKind::User).then_some(chat_id)
}

/// reqwest errors print the URL, which for `GET /api/messages` carries the chat id.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_decode() {
        "invalid JSON"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[async_trait]
impl WahaApi for HttpWahaClient {
    async fn send_text(
        &self,
        cfg: &WahaConfig,
        chat_id: &str,
        text: &str,
    ) -> Result<SentMessage, WahaError> {
        let body = serde_json::json!({ "session": cfg.session, "chatId": chat_id, "text": text });
        self.post_send(cfg, "sendText", &body, None).await
    }

    async fn send_media(
        &self,
        cfg: &WahaConfig,
        chat_id: &str,
        file: &crate::provider::OutgoingFile<'_>,
        caption: &str,
    ) -> Result<SentMessage, WahaError> {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(file.bytes);
        let mut body = serde_json::json!({
            "session": cfg.session,
            "chatId": chat_id,
            "file": {"mimetype": file.content_type, "filename": file.filename, "data": data},
        });
        let endpoint = match file.kind {
            "image" => "sendImage",
            "video" => "sendVideo",
            // A voice note must be Opus in Ogg; WAHA converts anything else when asked to.
            "voice" => {
                body["convert"] = serde_json::json!(!file.content_type.starts_with("audio/ogg"));
                "sendVoice"
            }
            _ => "sendFile",
        };
        if endpoint == "sendVideo" {
            body["convert"] = serde_json::json!(false);
        }
        if !caption.is_empty() && endpoint != "sendVoice" {
            body["caption"] = serde_json::json!(caption);
        }
        // A file takes longer to hand over than a text.
        self.post_send(cfg, endpoint, &body, Some(Duration::from_secs(14)))
            .await
    }

    async fn session_op(
        &self,
        cfg: &WahaConfig,
        op: crate::waha_sessions::SessionOp,
    ) -> Result<Value, WahaError> {
        crate::waha_sessions::session_op(self, cfg, op).await
    }

    async fn session(&self, cfg: &WahaConfig) -> Result<serde_json::Value, WahaError> {
        // The session name is tenant input: one encoded path segment, never `../`.
        let resp = self
            .http
            .get(self.endpoint(cfg, &["api", "sessions", &cfg.session])?)
            .header(HEADER_API_KEY, &cfg.api_key)
            .send()
            .await;
        Self::read(resp).await
    }

    async fn recent_messages(
        &self,
        cfg: &WahaConfig,
        chat_id: &str,
        limit: u32,
    ) -> Result<Vec<SentMessage>, WahaError> {
        // WAHA's current endpoint for a chat's history; versions without it have the older
        // `GET /api/messages`, tried when this one is not there.
        let current = self
            .http
            .get(self.endpoint(cfg, &["api", &cfg.session, "chats", chat_id, "messages"])?)
            .query(&[
                ("limit", limit.to_string().as_str()),
                ("downloadMedia", "false"),
            ])
            .header(HEADER_API_KEY, &cfg.api_key)
            .send()
            .await;
        let value = match Self::read(current).await {
            Err(WahaError::Rejected {
                status: 404 | 405, ..
            }) => {
                let legacy = self
                    .http
                    .get(self.endpoint(cfg, &["api", "messages"])?)
                    .query(&[
                        ("chatId", chat_id),
                        ("limit", &limit.to_string()),
                        ("session", &cfg.session),
                        ("downloadMedia", "false"),
                    ])
                    .header(HEADER_API_KEY, &cfg.api_key)
                    .send()
                    .await;
                Self::read(legacy).await?
            }
            other => other?,
        };
        let list = value
            .as_array()
            .ok_or_else(|| WahaError::InvalidResponse("expected an array".into()))?;
        Ok(list.iter().filter_map(SentMessage::from_json).collect())
    }

    async fn lid_phone(&self, cfg: &WahaConfig, lid: &str) -> Result<Option<String>, WahaError> {
        let resp = self
            .http
            .get(self.endpoint(cfg, &["api", &cfg.session, "lids", lid])?)
            .header(HEADER_API_KEY, &cfg.api_key)
            .send()
            .await;
        let value = match Self::read(resp).await {
            Err(WahaError::Rejected { status: 404, .. }) => return Ok(None),
            other => other?,
        };
        Ok(phone_of_lid_answer(&value))
    }

    async fn phone_lid(&self, cfg: &WahaConfig, phone: &str) -> Result<Option<String>, WahaError> {
        let resp = self
            .http
            .get(self.endpoint(cfg, &["api", &cfg.session, "lids", "pn", phone])?)
            .header(HEADER_API_KEY, &cfg.api_key)
            .send()
            .await;
        let value = match Self::read(resp).await {
            Err(WahaError::Rejected { status: 404, .. }) => return Ok(None),
            other => other?,
        };
        let (lid, kind) = classify_chat_id(&without_device(
            value.get("lid").and_then(Value::as_str).unwrap_or_default(),
        ));
        Ok((kind == ChatKind::Lid).then_some(lid))
    }

    async fn send_seen(
        &self,
        cfg: &WahaConfig,
        chat_id: &str,
        message_ids: &[String],
    ) -> Result<(), WahaError> {
        let mut body = serde_json::json!({ "session": cfg.session, "chatId": chat_id });
        if !message_ids.is_empty() {
            body["messageIds"] = serde_json::json!(message_ids);
        }
        let resp = self
            .http
            .post(self.endpoint(cfg, &["api", "sendSeen"])?)
            .header(HEADER_API_KEY, &cfg.api_key)
            .json(&body)
            .send()
            .await;
        Self::status_only(resp).await
    }

    async fn typing(&self, cfg: &WahaConfig, chat_id: &str, on: bool) -> Result<(), WahaError> {
        let path = if on { "startTyping" } else { "stopTyping" };
        let body = serde_json::json!({ "session": cfg.session, "chatId": chat_id });
        let resp = self
            .http
            .post(self.endpoint(cfg, &["api", path])?)
            .header(HEADER_API_KEY, &cfg.api_key)
            .json(&body)
            .send()
            .await;
        Self::status_only(resp).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(from: &str, data: Value) -> MessagePayload {
        serde_json::from_value(
            serde_json::json!({"id": "x", "timestamp": 1, "from": from, "_data": data}),
        )
        .expect("payload")
    }

    #[test]
    fn the_other_address_is_read_from_each_engine() {
        // NOWEB: key.remoteJidAlt (and the older senderPn), device numbers dropped.
        let noweb = message(
            "123456789@lid",
            serde_json::json!({"key": {"remoteJidAlt": "5511987654321:7@s.whatsapp.net"}}),
        );
        assert_eq!(
            noweb.alternate_sender().as_deref(),
            Some("5511987654321@c.us")
        );
        let older = message(
            "123456789@lid",
            serde_json::json!({"key": {"senderPn": "5511987654321@s.whatsapp.net"}}),
        );
        assert_eq!(
            older.alternate_sender().as_deref(),
            Some("5511987654321@c.us")
        );
        // GOWS, the other way round: a phone sender whose hidden id is known.
        let gows = message(
            "5511987654321@c.us",
            serde_json::json!({"Info": {"Sender": "5511987654321@s.whatsapp.net", "SenderAlt": "123456789@lid"}}),
        );
        assert_eq!(gows.alternate_sender().as_deref(), Some("123456789@lid"));
        // Nothing of the other kind (WEBJS, groups, junk): nothing.
        assert_eq!(
            message(
                "5511987654321@c.us",
                serde_json::json!({"notifyName": "Ana"})
            )
            .alternate_sender(),
            None
        );
        assert_eq!(
            message(
                "123456789@lid",
                serde_json::json!({"key": {"remoteJidAlt": "120363@g.us"}})
            )
            .alternate_sender(),
            None
        );
        assert_eq!(
            message(
                "123456789@lid",
                serde_json::json!({"key": {"remoteJidAlt": "98765@lid"}})
            )
            .alternate_sender(),
            None
        );
    }

    #[test]
    fn a_lid_answer_gives_a_phone_or_nothing() {
        assert_eq!(
            phone_of_lid_answer(&serde_json::json!({"lid": "1@lid", "pn": "5511987654321@c.us"}))
                .as_deref(),
            Some("5511987654321@c.us")
        );
        assert_eq!(
            phone_of_lid_answer(
                &serde_json::json!({"lid": "1@lid", "pn": "5511987654321@s.whatsapp.net"})
            )
            .as_deref(),
            Some("5511987654321@c.us")
        );
        assert_eq!(
            phone_of_lid_answer(&serde_json::json!({"lid": "1@lid", "pn": null})),
            None
        );
        assert_eq!(
            phone_of_lid_answer(&serde_json::json!({"lid": "1@lid", "pn": "nope"})),
            None
        );
    }

    #[test]
    fn signatures_verify_and_reject_tampering() {
        let sig = sign_body("secret-key-123456", b"{\"a\":1}");
        assert_eq!(sig.len(), 128);
        assert!(verify_signature("secret-key-123456", b"{\"a\":1}", &sig));
        assert!(!verify_signature("secret-key-123456", b"{\"a\":2}", &sig));
        assert!(!verify_signature("other-key-1234567", b"{\"a\":1}", &sig));
        assert!(!verify_signature("secret-key-123456", b"{\"a\":1}", "zz"));
    }

    #[test]
    fn chat_ids_are_classified() {
        assert_eq!(classify_chat_id("5511999990000@c.us").1, ChatKind::User);
        assert_eq!(
            classify_chat_id("5511999990000@s.whatsapp.net"),
            ("5511999990000@c.us".into(), ChatKind::User)
        );
        assert_eq!(classify_chat_id("123456789@lid").1, ChatKind::Lid);
        assert_eq!(classify_chat_id("120363@g.us").1, ChatKind::Other);
        assert_eq!(classify_chat_id("status@broadcast").1, ChatKind::Other);
    }

    #[test]
    fn message_ids_in_every_engine_shape() {
        let s = serde_json::json!({"id": "true_1@c.us_AB", "body": "x", "fromMe": true});
        assert_eq!(SentMessage::from_json(&s).unwrap().id, "true_1@c.us_AB");
        let webjs = serde_json::json!({"id": {"fromMe": true, "remote": "1@c.us", "id": "AB", "_serialized": "true_1@c.us_AB"}});
        assert_eq!(SentMessage::from_json(&webjs).unwrap().id, "true_1@c.us_AB");
        let noweb = serde_json::json!({"key": {"remoteJid": "1@s.whatsapp.net", "fromMe": true, "id": "AB"}});
        assert_eq!(SentMessage::from_json(&noweb).unwrap().id, "true_1@c.us_AB");
    }
}
