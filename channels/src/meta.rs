//! Meta's two messaging channels, Messenger and Instagram: the channel configuration, the webhook
//! wire types and their normalisation into [`MetaEvent`]s, the `X-Hub-Signature-256` check, and
//! the Graph API Send API client.
//!
//! Shapes follow Meta's documentation as summarised in `shared/reference/channels.md` §2.2. The
//! client is behind [`GraphApi`] so that the one used everywhere, [`HttpGraphClient`], can talk to
//! Meta or to our simulator (`ventros-simulators`) alike.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::net_guard::NetPolicy;

pub const HEADER_SIGNATURE: &str = "X-Hub-Signature-256";

/// Meta's standard messaging window: after the customer's last message, any reply is allowed.
pub const STANDARD_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// Outside the standard window a human agent may still answer with the `HUMAN_AGENT` tag.
pub const HUMAN_AGENT_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Which of Meta's messaging products a channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetaPlatform {
    Messenger,
    Instagram,
}

impl MetaPlatform {
    pub fn from_kind(kind: &str) -> Option<MetaPlatform> {
        match kind {
            "messenger" => Some(MetaPlatform::Messenger),
            "instagram" => Some(MetaPlatform::Instagram),
            _ => None,
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            MetaPlatform::Messenger => "messenger",
            MetaPlatform::Instagram => "instagram",
        }
    }

    /// The webhook `object` Meta sends for this product.
    pub fn webhook_object(self) -> &'static str {
        match self {
            MetaPlatform::Messenger => "page",
            MetaPlatform::Instagram => "instagram",
        }
    }

    /// The contact identity kind of this product's user ids: PSIDs and IGSIDs differ for the
    /// same person.
    pub fn identity_kind(self) -> &'static str {
        match self {
            MetaPlatform::Messenger => "psid",
            MetaPlatform::Instagram => "igsid",
        }
    }

    /// Instagram sends no delivery receipts, only "seen".
    pub fn has_delivery_receipts(self) -> bool {
        self == MetaPlatform::Messenger
    }
}

/// How Ventros reaches a Facebook Page or Instagram professional account and recognises its
/// webhooks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetaConfig {
    /// The Page id (Messenger) or the Instagram account id: the `entry[].id` of its webhooks and
    /// the node the Send API posts to.
    pub page_id: String,
    /// Page access token (or Instagram user access token), sent as `access_token`.
    pub access_token: String,
    /// The app secret: webhooks are signed with it (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// The Verify Token typed into the App Dashboard for the subscription handshake.
    pub verify_token: String,
    /// `https://graph.facebook.com` (Messenger, Instagram through a Page) or
    /// `https://graph.instagram.com` (Instagram API with Instagram Login).
    #[serde(default = "default_graph_base_url")]
    pub graph_base_url: String,
    #[serde(default = "default_api_version")]
    pub api_version: String,
}

fn default_graph_base_url() -> String {
    "https://graph.facebook.com".into()
}

fn default_api_version() -> String {
    "v21.0".into()
}

impl MetaConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.page_id.is_empty()
            || self.page_id.len() > 64
            || !self.page_id.chars().all(|c| c.is_ascii_digit())
        {
            return Err(
                "provider_config.page_id must be the numeric Page or Instagram account id".into(),
            );
        }
        if self.access_token.len() < 8 {
            return Err("provider_config.access_token must be a Page access token".into());
        }
        if self.app_secret.len() < 16 {
            return Err(
                "provider_config.app_secret must be the app secret (at least 16 characters)".into(),
            );
        }
        if self.verify_token.is_empty() || self.verify_token.len() > 200 {
            return Err("provider_config.verify_token must be 1 to 200 characters".into());
        }
        let url = self.graph_base_url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
            return Err("provider_config.graph_base_url must be an http(s) URL".into());
        }
        if !self.api_version.starts_with('v') || self.api_version.len() > 10 {
            return Err("provider_config.api_version looks like v21.0".into());
        }
        Ok(())
    }
}

/// Hex HMAC-SHA256 of a body, as Meta puts (after `sha256=`) in `X-Hub-Signature-256`.
pub fn sign_body(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks `X-Hub-Signature-256` over the raw bytes as received (Meta signs its escaped-unicode
/// serialisation; a re-serialised body would not match), in constant time.
pub fn verify_signature(app_secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(signature) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Serialises JSON the way Meta does: non-ASCII characters as `\uXXXX` escapes (UTF-16 code
/// units, lower-case hex). The simulator signs and sends exactly these bytes.
pub fn to_escaped_json(value: &Value) -> Vec<u8> {
    let plain = serde_json::to_string(value).expect("JSON serialises");
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.into_bytes()
}

/// One thing a Meta webhook tells us, normalised.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaEvent {
    /// The customer wrote (a message, or tapped a postback button).
    Message(MetaMessage),
    /// Our own message, echoed back (sent by us through the Send API, or by someone in Meta's
    /// inbox). `metadata` is what we attached when sending: our message id.
    Echo {
        mid: String,
        recipient_id: String,
        metadata: Option<String>,
        timestamp_ms: i64,
    },
    /// `delivery`: the listed messages, or every message sent before `watermark`, were delivered.
    Delivered {
        user_id: String,
        mids: Vec<String>,
        watermark_ms: Option<i64>,
    },
    /// `read` / `messaging_seen`: every message sent before `watermark` was read.
    Read {
        user_id: String,
        watermark_ms: Option<i64>,
        mid: Option<String>,
    },
    /// A reaction to one of the messages of the conversation.
    Reaction {
        user_id: String,
        mid: String,
        emoji: Option<String>,
        reaction: Option<String>,
        removed: bool,
        timestamp_ms: i64,
    },
    /// Understood and deliberately not acted on (referral, standby, optins, another page's entry).
    Ignored { reason: String },
}

/// An inbound message or postback, as stored in the webhook inbox and read back by the
/// activities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaMessage {
    /// `mid`: the dedupe key. Postbacks carry their own `mid` (or are given a derived one).
    pub mid: String,
    /// PSID or IGSID.
    pub sender_id: String,
    /// Milliseconds.
    pub timestamp_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_reply_payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postback_payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_mid: Option<String>,
}

/// A webhook body that cannot be understood.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MetaParseError(pub String);

/// Reads a webhook body (`object` + `entry[]`) into events, entry by entry. Entries for another
/// page or account become `Ignored`; both the `messaging[]` and the `changes[]` shapes are read.
pub fn parse_webhook(
    body: &Value,
    platform: MetaPlatform,
    page_id: &str,
) -> Result<Vec<MetaEvent>, MetaParseError> {
    let object = body
        .get("object")
        .and_then(Value::as_str)
        .ok_or_else(|| MetaParseError("`object` is missing".into()))?;
    if object != platform.webhook_object() {
        return Err(MetaParseError(format!(
            "object {object:?} does not belong to a {} channel (expected {:?})",
            platform.kind(),
            platform.webhook_object()
        )));
    }
    let entries = body
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| MetaParseError("`entry` must be an array".into()))?;
    let mut events = Vec::new();
    for entry in entries {
        let entry_id = match entry.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(MetaParseError("entry[].id is missing".into())),
        };
        if entry_id != page_id {
            events.push(MetaEvent::Ignored {
                reason: "entry for another page or account".into(),
            });
            continue;
        }
        let mut items: Vec<Value> = Vec::new();
        if let Some(messaging) = entry.get("messaging") {
            items.extend(
                messaging
                    .as_array()
                    .ok_or_else(|| MetaParseError("entry[].messaging must be an array".into()))?
                    .iter()
                    .cloned(),
            );
        }
        if let Some(changes) = entry.get("changes") {
            let changes = changes
                .as_array()
                .ok_or_else(|| MetaParseError("entry[].changes must be an array".into()))?;
            for change in changes {
                let field = change
                    .get("field")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match (field, change.get("value")) {
                    (
                        "messages"
                        | "messaging_seen"
                        | "message_reactions"
                        | "messaging_postbacks"
                        | "message_echoes",
                        Some(value),
                    ) => items.push(value.clone()),
                    _ => events.push(MetaEvent::Ignored {
                        reason: format!("change field {field:?} is not a messaging event"),
                    }),
                }
            }
        }
        if let Some(standby) = entry.get("standby").and_then(Value::as_array) {
            events.extend(standby.iter().map(|_| MetaEvent::Ignored {
                reason: "standby (another app owns the thread)".into(),
            }));
        }
        for item in &items {
            events.push(parse_messaging_item(item)?);
        }
    }
    Ok(events)
}

fn id_of(v: Option<&Value>) -> Option<String> {
    match v?.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_ms(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn parse_messaging_item(item: &Value) -> Result<MetaEvent, MetaParseError> {
    let sender = id_of(item.get("sender"));
    let recipient = id_of(item.get("recipient"));
    let timestamp_ms = as_ms(item.get("timestamp")).unwrap_or_default();
    let missing = |what: &str| MetaParseError(format!("messaging item without {what}"));

    if let Some(message) = item.get("message") {
        let mid = message
            .get("mid")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty() && m.len() <= 512)
            .ok_or_else(|| missing("message.mid"))?;
        if message
            .get("is_echo")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return Ok(MetaEvent::Echo {
                mid: mid.to_owned(),
                recipient_id: recipient.ok_or_else(|| missing("recipient.id"))?,
                metadata: message
                    .get("metadata")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                timestamp_ms,
            });
        }
        if message
            .get("is_deleted")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return Ok(MetaEvent::Ignored {
                reason: "the customer deleted a message".into(),
            });
        }
        let attachments = message
            .get("attachments")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let text = message
            .get("text")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if text.is_none() && attachments.is_empty() {
            return Ok(MetaEvent::Ignored {
                reason: "message without text or attachments".into(),
            });
        }
        return Ok(MetaEvent::Message(MetaMessage {
            mid: mid.to_owned(),
            sender_id: sender.ok_or_else(|| missing("sender.id"))?,
            timestamp_ms,
            text,
            attachments,
            quick_reply_payload: message
                .pointer("/quick_reply/payload")
                .and_then(Value::as_str)
                .map(str::to_owned),
            postback_payload: None,
            reply_to_mid: message
                .pointer("/reply_to/mid")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }));
    }
    if let Some(postback) = item.get("postback") {
        let sender = sender.ok_or_else(|| missing("sender.id"))?;
        // Postbacks have a `mid` on current API versions; older ones get a stable derived key.
        let mid = postback.get("mid").and_then(Value::as_str).map_or_else(
            || format!("postback:{sender}:{timestamp_ms}"),
            str::to_owned,
        );
        return Ok(MetaEvent::Message(MetaMessage {
            mid,
            sender_id: sender,
            timestamp_ms,
            text: postback
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_owned),
            attachments: Vec::new(),
            quick_reply_payload: None,
            postback_payload: postback
                .get("payload")
                .and_then(Value::as_str)
                .map(str::to_owned),
            reply_to_mid: None,
        }));
    }
    if let Some(delivery) = item.get("delivery") {
        let mids = delivery
            .get("mids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        return Ok(MetaEvent::Delivered {
            user_id: sender.ok_or_else(|| missing("sender.id"))?,
            mids,
            watermark_ms: as_ms(delivery.get("watermark")),
        });
    }
    if let Some(read) = item.get("read") {
        return Ok(MetaEvent::Read {
            user_id: sender.ok_or_else(|| missing("sender.id"))?,
            watermark_ms: as_ms(read.get("watermark")),
            mid: read.get("mid").and_then(Value::as_str).map(str::to_owned),
        });
    }
    if let Some(reaction) = item.get("reaction") {
        return Ok(MetaEvent::Reaction {
            user_id: sender.ok_or_else(|| missing("sender.id"))?,
            mid: reaction
                .get("mid")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("reaction.mid"))?
                .to_owned(),
            emoji: reaction
                .get("emoji")
                .and_then(Value::as_str)
                .map(str::to_owned),
            reaction: reaction
                .get("reaction")
                .and_then(Value::as_str)
                .map(str::to_owned),
            removed: reaction.get("action").and_then(Value::as_str) == Some("unreact"),
            timestamp_ms,
        });
    }
    let kind = [
        "referral",
        "optin",
        "account_linking",
        "pass_thread_control",
        "take_thread_control",
        "policy_enforcement",
    ]
    .into_iter()
    .find(|k| item.get(*k).is_some())
    .unwrap_or("unknown");
    Ok(MetaEvent::Ignored {
        reason: format!("{kind} events are not handled"),
    })
}

/// How a message may be sent under Meta's messaging policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagingType {
    /// Inside the 24-hour standard window.
    Response,
    /// Outside it, by a human, up to 7 days after the customer's last message.
    HumanAgentTag,
}

/// Meta's messaging policy for one outbound message: who wrote it (`origin`) and when the customer
/// last wrote. Automated messages (agent, auto-replies, campaigns) only inside 24 hours; an
/// operator's reply up to 7 days with the `HUMAN_AGENT` tag.
pub fn messaging_type(
    origin: Option<&str>,
    last_inbound_at: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<MessagingType, String> {
    let Some(last) = last_inbound_at else {
        return Err("outside Meta's messaging window: the customer has never written on this channel, so nothing may be sent".into());
    };
    let since = now - last;
    if since <= STANDARD_WINDOW {
        return Ok(MessagingType::Response);
    }
    if origin == Some("operator") && since <= HUMAN_AGENT_WINDOW {
        return Ok(MessagingType::HumanAgentTag);
    }
    if origin == Some("operator") {
        Err("outside Meta's messaging window: the customer last wrote more than 7 days ago, past the HUMAN_AGENT tag's limit".into())
    } else {
        Err("outside Meta's 24-hour messaging window: only a human agent may reply now (HUMAN_AGENT tag, up to 7 days after the customer's last message)".into())
    }
}

/// What the Send API answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SendResponse {
    pub recipient_id: Option<String>,
    pub message_id: String,
}

/// A Graph API error, classified. Codes from Meta's error reference for the Send API.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Rate limited (codes 4, 17, 32, 613, 80006…): retry later.
    #[error("Meta rate limit (code {code}): {message}")]
    RateLimited { code: i64, message: String },
    /// Will not succeed by retrying (policy, unknown recipient, bad token, bad request).
    #[error("Meta refused the message (code {code}{}): {message}", subcode.map(|s| format!(", subcode {s}")).unwrap_or_default())]
    Rejected {
        code: i64,
        subcode: Option<i64>,
        message: String,
    },
    /// Meta answered with a temporary failure (5xx, code 1/2): retry.
    #[error("Meta is unavailable: {0}")]
    Unavailable(String),
    /// No answer (connection refused, timeout): the message may or may not have reached Meta.
    #[error("could not reach Meta: {0}")]
    Transport(String),
    /// Never sent: the channel's Graph address is not one Ventros may connect to.
    #[error("not sent: {0}")]
    Refused(String),
}

impl GraphError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, GraphError::Rejected { .. } | GraphError::Refused(_))
    }

    /// Classifies an HTTP answer of the Graph API.
    pub fn from_response(status: u16, body: &Value) -> GraphError {
        let error = body.get("error");
        let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
        let subcode = error
            .and_then(|e| e.get("error_subcode"))
            .and_then(Value::as_i64);
        let message: String = error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("no error message")
            .chars()
            .take(300)
            .collect();
        match code {
            Some(c @ (4 | 17 | 32 | 613 | 80001..=80009)) => {
                GraphError::RateLimited { code: c, message }
            }
            Some(1 | 2) => {
                GraphError::Unavailable(format!("code {}: {message}", code.unwrap_or_default()))
            }
            Some(c) if status < 500 => GraphError::Rejected {
                code: c,
                subcode,
                message,
            },
            _ if status >= 500 => GraphError::Unavailable(format!("HTTP {status}")),
            _ => GraphError::Rejected {
                code: i64::from(status),
                subcode,
                message,
            },
        }
    }
}

/// The Graph API calls Ventros makes.
#[async_trait]
pub trait GraphApi: Send + Sync {
    /// `POST /{version}/{page-id}/messages` with a text message. `metadata` comes back in the
    /// echo, which is how a retried send recognises an earlier attempt that reached Meta.
    async fn send_text(
        &self,
        cfg: &MetaConfig,
        recipient_id: &str,
        text: &str,
        kind: MessagingType,
        metadata: &str,
    ) -> Result<SendResponse, GraphError>;
    /// `POST /{version}/{page-id}/messages` with an attachment Meta fetches from `url`
    /// (`image`, `audio`, `video` or `file`); Meta's attachments carry no caption.
    async fn send_attachment(
        &self,
        cfg: &MetaConfig,
        recipient_id: &str,
        attachment_type: &str,
        url: &str,
        kind: MessagingType,
        metadata: &str,
    ) -> Result<SendResponse, GraphError>;
    /// `sender_action`: `mark_seen`, `typing_on`, `typing_off`.
    async fn sender_action(
        &self,
        cfg: &MetaConfig,
        recipient_id: &str,
        action: &str,
    ) -> Result<(), GraphError>;
}

/// [`GraphApi`] over HTTP with reqwest.
#[derive(Clone)]
pub struct HttpGraphClient {
    http: reqwest::Client,
    /// Where a channel's `graph_base_url` may point (tenant input, checked on every call).
    policy: NetPolicy,
}

impl Default for HttpGraphClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpGraphClient {
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
        HttpGraphClient { http, policy }
    }

    /// One Send API message (`message` is its `message` object) under the window's rules.
    async fn send_message(
        &self,
        cfg: &MetaConfig,
        recipient_id: &str,
        message: Value,
        kind: MessagingType,
    ) -> Result<SendResponse, GraphError> {
        let mut body = json!({"recipient": {"id": recipient_id}, "message": message});
        match kind {
            MessagingType::Response => body["messaging_type"] = json!("RESPONSE"),
            MessagingType::HumanAgentTag => {
                body["messaging_type"] = json!("MESSAGE_TAG");
                body["tag"] = json!("HUMAN_AGENT");
            }
        }
        let value = self.post(cfg, body).await?;
        serde_json::from_value(value)
            .map_err(|e| GraphError::Unavailable(format!("unexpected Send API answer: {e}")))
    }

    async fn post(&self, cfg: &MetaConfig, body: Value) -> Result<Value, GraphError> {
        let mut url = self
            .policy
            .check_url(&cfg.graph_base_url, "the channel's graph_base_url")
            .map_err(GraphError::Refused)?;
        url.path_segments_mut()
            .map_err(|_| {
                GraphError::Refused("the channel's graph_base_url cannot take a path".into())
            })?
            .pop_if_empty()
            .extend([cfg.api_version.as_str(), cfg.page_id.as_str(), "messages"]);
        let resp = self
            .http
            .post(url)
            .query(&[("access_token", cfg.access_token.as_str())])
            .json(&body)
            .send()
            .await
            // reqwest's message would include the URL, and with it the access token.
            .map_err(|e| {
                GraphError::Transport(if e.is_timeout() {
                    "timed out".into()
                } else {
                    "could not connect".into()
                })
            })?;
        let status = resp.status().as_u16();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(GraphError::from_response(status, &value))
        }
    }
}

#[async_trait]
impl GraphApi for HttpGraphClient {
    async fn send_text(
        &self,
        cfg: &MetaConfig,
        recipient_id: &str,
        text: &str,
        kind: MessagingType,
        metadata: &str,
    ) -> Result<SendResponse, GraphError> {
        self.send_message(
            cfg,
            recipient_id,
            json!({"text": text, "metadata": metadata}),
            kind,
        )
        .await
    }

    async fn send_attachment(
        &self,
        cfg: &MetaConfig,
        recipient_id: &str,
        attachment_type: &str,
        url: &str,
        kind: MessagingType,
        metadata: &str,
    ) -> Result<SendResponse, GraphError> {
        let message = json!({
            "attachment": {"type": attachment_type, "payload": {"url": url, "is_reusable": false}},
            "metadata": metadata,
        });
        self.send_message(cfg, recipient_id, message, kind).await
    }

    async fn sender_action(
        &self,
        cfg: &MetaConfig,
        recipient_id: &str,
        action: &str,
    ) -> Result<(), GraphError> {
        self.post(
            cfg,
            json!({"recipient": {"id": recipient_id}, "sender_action": action}),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn signatures_are_over_the_raw_escaped_bytes() {
        let body = json!({"object": "page", "entry": [{"id": "1", "messaging": [{"message": {"mid": "m", "text": "äöå"}}]}]});
        let escaped = to_escaped_json(&body);
        assert!(
            String::from_utf8(escaped.clone())
                .unwrap()
                .contains(r"\u00e4\u00f6\u00e5")
        );
        let sig = sign_body("secret-secret-secret", &escaped);
        assert!(verify_signature("secret-secret-secret", &escaped, &sig));
        // The same JSON serialised with raw UTF-8 is a different byte string: it must not verify.
        assert!(!verify_signature(
            "secret-secret-secret",
            serde_json::to_string(&body).unwrap().as_bytes(),
            &sig
        ));
        assert!(!verify_signature("another-secret-123", &escaped, &sig));
        assert!(!verify_signature(
            "secret-secret-secret",
            &escaped,
            sig.trim_start_matches("sha256=")
        ));
        // Characters outside the BMP become surrogate pairs, as in JavaScript's JSON.
        assert_eq!(to_escaped_json(&json!("😀")), br#""\ud83d\ude00""#.to_vec());
    }

    #[test]
    fn both_shapes_and_every_item_kind_are_read() {
        let body = json!({"object": "instagram", "entry": [
            {"id": "42", "time": 1, "messaging": [
                {"sender": {"id": "7"}, "recipient": {"id": "42"}, "timestamp": 10, "message": {"mid": "a", "text": "hi"}},
                {"sender": {"id": "42"}, "recipient": {"id": "7"}, "timestamp": 11, "message": {"mid": "b", "text": "ours", "is_echo": true, "metadata": "x"}},
                {"sender": {"id": "7"}, "recipient": {"id": "42"}, "timestamp": 12, "read": {"watermark": 11}},
                {"sender": {"id": "7"}, "recipient": {"id": "42"}, "timestamp": 13, "reaction": {"mid": "b", "action": "react", "reaction": "love", "emoji": "❤"}},
                {"sender": {"id": "7"}, "recipient": {"id": "42"}, "timestamp": 14, "postback": {"title": "Yes", "payload": "YES", "mid": "p"}}
            ]},
            {"id": "42", "changes": [{"field": "messages", "value": {"sender": {"id": "8"}, "recipient": {"id": "42"}, "timestamp": "15", "message": {"mid": "c", "text": "from changes"}}}]},
            {"id": "99", "messaging": [{"sender": {"id": "7"}, "message": {"mid": "z", "text": "other page"}}]}
        ]});
        let events = parse_webhook(&body, MetaPlatform::Instagram, "42").unwrap();
        assert_eq!(events.len(), 7);
        assert!(
            matches!(&events[0], MetaEvent::Message(m) if m.mid == "a" && m.sender_id == "7" && m.text.as_deref() == Some("hi"))
        );
        assert!(
            matches!(&events[1], MetaEvent::Echo { mid, metadata: Some(x), .. } if mid == "b" && x == "x")
        );
        assert!(matches!(
            &events[2],
            MetaEvent::Read {
                watermark_ms: Some(11),
                ..
            }
        ));
        assert!(matches!(
            &events[3],
            MetaEvent::Reaction { removed: false, .. }
        ));
        assert!(
            matches!(&events[4], MetaEvent::Message(m) if m.postback_payload.as_deref() == Some("YES"))
        );
        assert!(
            matches!(&events[5], MetaEvent::Message(m) if m.mid == "c" && m.timestamp_ms == 15)
        );
        assert!(matches!(&events[6], MetaEvent::Ignored { .. }));
        assert!(
            parse_webhook(&body, MetaPlatform::Messenger, "42").is_err(),
            "an instagram body on a Messenger channel"
        );
    }

    #[test]
    fn the_messaging_window_allows_humans_longer() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let hours = |h| Some(now - chrono::TimeDelta::hours(h));
        assert_eq!(
            messaging_type(Some("agent"), hours(23), now),
            Ok(MessagingType::Response)
        );
        assert!(
            messaging_type(Some("agent"), hours(25), now)
                .unwrap_err()
                .contains("24-hour")
        );
        assert!(messaging_type(Some("campaign"), None, now).is_err());
        assert_eq!(
            messaging_type(Some("operator"), hours(25), now),
            Ok(MessagingType::HumanAgentTag)
        );
        assert!(messaging_type(Some("operator"), hours(24 * 8), now).is_err());
    }

    #[test]
    fn graph_errors_are_classified_by_code() {
        let err = |code: i64| json!({"error": {"message": "m", "type": "OAuthException", "code": code, "fbtrace_id": "x"}});
        assert!(matches!(
            GraphError::from_response(400, &err(613)),
            GraphError::RateLimited { code: 613, .. }
        ));
        assert!(matches!(
            GraphError::from_response(400, &err(551)),
            GraphError::Rejected { code: 551, .. }
        ));
        assert!(matches!(
            GraphError::from_response(500, &err(2)),
            GraphError::Unavailable(_)
        ));
        assert!(matches!(
            GraphError::from_response(502, &Value::Null),
            GraphError::Unavailable(_)
        ));
        assert!(GraphError::from_response(400, &err(10)).is_permanent());
    }
}
