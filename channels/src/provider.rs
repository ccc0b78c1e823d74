//! The channel abstraction: what the activities need from a messaging provider, whichever it is.
//!
//! The workflows never see a provider. They see what [`Capabilities`] expose (whether delivery
//! receipts exist) and the normalised shapes here; the activities turn a channel row into a
//! [`ChannelAdapter`] (WAHA, Messenger or Instagram) and call it. Inbound payloads stay raw in the
//! webhook inbox and are normalised by [`normalise_inbound`] when they are stored as messages.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::channel::WahaConfig;
use crate::meta::{GraphApi, GraphError, MetaConfig, MetaMessage, MetaPlatform, messaging_type};
use crate::waha::{ChatKind, MessagePayload, WahaApi, WahaError, classify_chat_id};

/// How far back a retried WAHA send looks in the chat's history for an earlier attempt.
const WAHA_RECONCILE_LOOKBACK: u32 = 50;

/// How long a retried Meta send waits for the echo of an earlier attempt (which carries our
/// message id) before concluding the attempt never reached Meta and sending again.
const META_ECHO_WAIT: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// A channel's provider settings, decoded by channel kind.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderConfig {
    Waha(WahaConfig),
    Meta {
        platform: MetaPlatform,
        config: MetaConfig,
    },
}

/// How far ahead of our clock a provider's timestamp may be (clock skew between machines).
pub const MAX_PROVIDER_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// A provider's timestamp as used to order state: missing means now, and a time in the future is
/// clamped to now plus [`MAX_PROVIDER_SKEW`], so that one event dated in the year 9999 cannot pin
/// a status or sort a message after everything to come.
pub fn provider_time(at: Option<chrono::DateTime<Utc>>) -> chrono::DateTime<Utc> {
    let now = Utc::now();
    at.map_or(now, |t| t.min(now + MAX_PROVIDER_SKEW))
}

impl ProviderConfig {
    pub fn decode(kind: &str, value: Value) -> Result<ProviderConfig, String> {
        if kind == "waha" {
            return serde_json::from_value(value)
                .map(ProviderConfig::Waha)
                .map_err(|e| format!("provider_config: {e}"));
        }
        let platform = MetaPlatform::from_kind(kind).ok_or_else(|| {
            format!("channel kind {kind:?} is not one of waha, messenger, instagram")
        })?;
        let config = serde_json::from_value(value).map_err(|e| format!("provider_config: {e}"))?;
        Ok(ProviderConfig::Meta { platform, config })
    }

    pub fn validate(&self) -> Result<(), String> {
        match self {
            ProviderConfig::Waha(c) => c.validate(),
            ProviderConfig::Meta { config, .. } => config.validate(),
        }
    }

    /// The addresses Ventros will connect to for this channel, with their field names (checked
    /// against the network policy when the channel is stored, and again at every call).
    pub fn urls(&self) -> Vec<(&str, &'static str)> {
        match self {
            ProviderConfig::Waha(c) => vec![(c.base_url.as_str(), "provider_config.base_url")],
            ProviderConfig::Meta { config, .. } => vec![(
                config.graph_base_url.as_str(),
                "provider_config.graph_base_url",
            )],
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            ProviderConfig::Waha(c) => serde_json::to_value(c),
            ProviderConfig::Meta { config, .. } => serde_json::to_value(config),
        }
        .expect("provider config serialises")
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ProviderConfig::Waha(_) => "waha",
            ProviderConfig::Meta { platform, .. } => platform.kind(),
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        match self {
            ProviderConfig::Waha(_) => Capabilities {
                delivery_receipts: true,
                seen: true,
                typing: true,
                messaging_window: false,
            },
            ProviderConfig::Meta { platform, .. } => Capabilities {
                delivery_receipts: platform.has_delivery_receipts(),
                seen: true,
                typing: true,
                messaging_window: true,
            },
        }
    }
}

/// What a provider can do, as far as the workflows and the campaign rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// A "delivered" receipt exists (Instagram only reports "seen").
    pub delivery_receipts: bool,
    pub seen: bool,
    pub typing: bool,
    /// Sending is limited to a window after the customer's last message (Meta's 24-hour rule).
    pub messaging_window: bool,
}

/// An inbound customer message, whatever channel it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// The provider's message id: the dedupe key.
    pub provider_message_id: String,
    /// The chat address: `…@c.us`/`…@lid`, PSID or IGSID.
    pub sender: String,
    /// `wa_user`, `wa_lid`, `psid`, `igsid`.
    pub identity_kind: &'static str,
    pub timestamp: DateTime<Utc>,
    pub text: Option<String>,
    pub media: Option<Value>,
    pub display_name: Option<String>,
    /// The sender's other WhatsApp address (phone number ↔ hidden id), when the payload carries it.
    pub alternate_sender: Option<String>,
    /// Files, locations and contact cards the message carries.
    pub attachments: Vec<crate::attachments::InboundAttachment>,
}

/// Reads a webhook inbox payload (stored raw, as the provider sent it) of a channel of `kind`.
pub fn normalise_inbound(kind: &str, payload: Value) -> Result<InboundMessage, String> {
    if kind == "waha" {
        let attachments = crate::attachments::from_waha(&payload);
        let message: MessagePayload =
            serde_json::from_value(payload).map_err(|e| format!("not a WAHA message: {e}"))?;
        let (chat_id, chat_kind) = classify_chat_id(&message.from);
        let identity_kind = match chat_kind {
            ChatKind::User => "wa_user",
            ChatKind::Lid => "wa_lid",
            ChatKind::Other => return Err("not a one-to-one chat".into()),
        };
        let media = message.has_media.then(|| {
            message
                .media
                .clone()
                .unwrap_or(json!({"downloaded": false}))
        });
        return Ok(InboundMessage {
            display_name: message.push_name(),
            alternate_sender: message.alternate_sender(),
            provider_message_id: message.id,
            sender: chat_id,
            identity_kind,
            timestamp: provider_time(Utc.timestamp_opt(message.timestamp, 0).single()),
            // WEBJS puts a location's map thumbnail (base64) in `body`: not words.
            text: message.body.filter(|body| {
                let thumbnail = attachments.iter().any(|a| a.kind == "location")
                    && body.len() > 200
                    && !body.contains(char::is_whitespace);
                !thumbnail
            }),
            media,
            attachments,
        });
    }
    let platform =
        MetaPlatform::from_kind(kind).ok_or_else(|| format!("unknown channel kind {kind:?}"))?;
    let message: MetaMessage =
        serde_json::from_value(payload).map_err(|e| format!("not a Meta message: {e}"))?;
    let mut media = None;
    if !message.attachments.is_empty()
        || message.postback_payload.is_some()
        || message.quick_reply_payload.is_some()
    {
        let mut m = json!({});
        if !message.attachments.is_empty() {
            m["attachments"] = Value::Array(message.attachments.clone());
        }
        if let Some(p) = &message.postback_payload {
            m["postback_payload"] = json!(p);
        }
        if let Some(p) = &message.quick_reply_payload {
            m["quick_reply_payload"] = json!(p);
        }
        media = Some(m);
    }
    Ok(InboundMessage {
        provider_message_id: message.mid,
        sender: message.sender_id,
        identity_kind: platform.identity_kind(),
        timestamp: provider_time(Utc.timestamp_millis_opt(message.timestamp_ms).single()),
        text: message.text,
        media,
        display_name: None,
        alternate_sender: None,
        attachments: crate::attachments::from_meta(&message.attachments),
    })
}

/// A file to send, read from storage.
pub struct OutgoingFile<'a> {
    /// `image`, `audio`, `voice`, `video`, `document` or `sticker`.
    pub kind: &'a str,
    /// Checked from the bytes when it was uploaded.
    pub content_type: &'a str,
    pub filename: Option<&'a str>,
    pub bytes: &'a [u8],
    /// A signed, expiring link to the file, for providers that fetch files themselves (Meta).
    pub url: &'a str,
}

/// One outbound message, with what the provider rules need to decide how to send it.
pub struct Outgoing<'a> {
    pub message_id: Uuid,
    pub chat_id: &'a str,
    /// The text, or the caption of `file`.
    pub text: &'a str,
    pub file: Option<OutgoingFile<'a>>,
    /// greeting, away, operator, agent, campaign.
    pub origin: Option<&'a str>,
    /// When the customer last wrote on this channel.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// When an earlier attempt of this send started, if any (it may have reached the provider).
    pub previous_attempt_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Retrying will not help: the message fails with this reason.
    #[error("{0}")]
    Permanent(String),
    /// Worth retrying, after `after` when the provider said how long. `unknown_outcome`: there
    /// was no clear answer, so the message may have gone out and the retry must reconcile first.
    #[error("{reason}")]
    Retry {
        reason: String,
        after: Option<Duration>,
        unknown_outcome: bool,
    },
}

impl From<WahaError> for ProviderError {
    fn from(err: WahaError) -> Self {
        // WAHA's chat history makes reconciling cheap: every retryable failure is treated as
        // possibly sent.
        if err.is_permanent() {
            ProviderError::Permanent(err.to_string())
        } else {
            ProviderError::Retry {
                reason: err.to_string(),
                after: None,
                unknown_outcome: true,
            }
        }
    }
}

impl From<GraphError> for ProviderError {
    fn from(err: GraphError) -> Self {
        match &err {
            GraphError::Rejected { .. } | GraphError::Refused(_) => {
                ProviderError::Permanent(err.to_string())
            }
            // Meta's limits reset over seconds to an hour; back off at least 10 s.
            GraphError::RateLimited { .. } => ProviderError::Retry {
                reason: err.to_string(),
                after: Some(Duration::from_secs(10)),
                unknown_outcome: false,
            },
            GraphError::Unavailable(_) => ProviderError::Retry {
                reason: err.to_string(),
                after: None,
                unknown_outcome: false,
            },
            GraphError::Transport(_) => ProviderError::Retry {
                reason: err.to_string(),
                after: None,
                unknown_outcome: true,
            },
        }
    }
}

/// Sending, presence and reconciliation for one channel.
#[async_trait]
pub trait ChannelAdapter: Send + Sync {
    fn capabilities(&self) -> Capabilities;
    /// After an attempt that may have reached the provider: the provider ids that may be that
    /// earlier send, oldest first (the caller takes the first one no other message has recorded:
    /// two replies with the same text look alike in a chat's history); empty if it did not go out
    /// and sending again is safe.
    async fn find_earlier_send(&self, out: &Outgoing<'_>) -> Result<Vec<String>, ProviderError>;
    /// Sends the text. Returns the provider's message id.
    async fn send_text(&self, out: &Outgoing<'_>) -> Result<String, ProviderError>;
    /// Marks the customer's messages seen (blue ticks).
    async fn mark_seen(&self, chat_id: &str, provider_ids: &[String]) -> Result<(), ProviderError>;
    /// Shows or hides "typing…".
    async fn typing(&self, chat_id: &str, on: bool) -> Result<(), ProviderError>;
}

/// The provider clients, shared by every channel; [`Channels::adapter`] binds them to one
/// channel's configuration.
#[derive(Clone)]
pub struct Channels {
    pub waha: Arc<dyn WahaApi>,
    pub graph: Arc<dyn GraphApi>,
}

impl Channels {
    pub fn new(waha: Arc<dyn WahaApi>, graph: Arc<dyn GraphApi>) -> Self {
        Channels { waha, graph }
    }

    pub fn adapter<'a>(&'a self, config: &'a ProviderConfig) -> Box<dyn ChannelAdapter + 'a> {
        match config {
            ProviderConfig::Waha(cfg) => Box::new(WahaChannel {
                api: &*self.waha,
                cfg,
            }),
            ProviderConfig::Meta { platform, config } => Box::new(MetaChannel {
                api: &*self.graph,
                cfg: config,
                platform: *platform,
            }),
        }
    }
}

struct WahaChannel<'a> {
    api: &'a dyn WahaApi,
    cfg: &'a WahaConfig,
}

#[async_trait]
impl ChannelAdapter for WahaChannel<'_> {
    fn capabilities(&self) -> Capabilities {
        ProviderConfig::Waha(self.cfg.clone()).capabilities()
    }

    async fn find_earlier_send(&self, out: &Outgoing<'_>) -> Result<Vec<String>, ProviderError> {
        // WAHA has no idempotency key: an earlier attempt is recognised in the chat's history.
        let Some(attempted) = out.previous_attempt_at else {
            return Ok(Vec::new());
        };
        let since = attempted - chrono::TimeDelta::seconds(5);
        // Whatever the lookup answers short of the history itself (an error, a 404 from a WAHA
        // without the endpoint, an outage) says nothing about the earlier attempt: the outcome
        // stays unknown and the send is retried later, never failed and never sent blindly again.
        let recent = self
            .api
            .recent_messages(self.cfg, out.chat_id, WAHA_RECONCILE_LOOKBACK)
            .await
            .map_err(|e| ProviderError::Retry {
                reason: format!(
                    "could not yet tell whether an earlier attempt was sent ({e}); checking again"
                ),
                after: None,
                unknown_outcome: true,
            })?;
        // The history is newest first.
        Ok(recent
            .into_iter()
            .rev()
            .filter(|m| {
                m.from_me
                    && m.body.as_deref() == Some(out.text)
                    && m.timestamp.is_none_or(|t| t >= since.timestamp())
            })
            .map(|m| m.id)
            .collect())
    }

    async fn send_text(&self, out: &Outgoing<'_>) -> Result<String, ProviderError> {
        let sent = match &out.file {
            Some(file) => {
                self.api
                    .send_media(self.cfg, out.chat_id, file, out.text)
                    .await?
            }
            None => self.api.send_text(self.cfg, out.chat_id, out.text).await?,
        };
        Ok(sent.id)
    }

    async fn mark_seen(&self, chat_id: &str, provider_ids: &[String]) -> Result<(), ProviderError> {
        Ok(self.api.send_seen(self.cfg, chat_id, provider_ids).await?)
    }

    async fn typing(&self, chat_id: &str, on: bool) -> Result<(), ProviderError> {
        Ok(self.api.typing(self.cfg, chat_id, on).await?)
    }
}

struct MetaChannel<'a> {
    api: &'a dyn GraphApi,
    cfg: &'a MetaConfig,
    platform: MetaPlatform,
}

#[async_trait]
impl ChannelAdapter for MetaChannel<'_> {
    fn capabilities(&self) -> Capabilities {
        ProviderConfig::Meta {
            platform: self.platform,
            config: self.cfg.clone(),
        }
        .capabilities()
    }

    async fn find_earlier_send(&self, out: &Outgoing<'_>) -> Result<Vec<String>, ProviderError> {
        // The Send API has no idempotency key either, but the echo of every message we send
        // carries our message id (`metadata`), and the webhook records the provider id from it:
        // a recent attempt whose echo has not come yet is waited for rather than repeated.
        match out.previous_attempt_at {
            Some(attempted) if out.now - attempted < META_ECHO_WAIT => Err(ProviderError::Retry {
                reason: "an earlier attempt may have reached Meta; waiting for its echo".into(),
                after: Some(Duration::from_secs(5)),
                unknown_outcome: true,
            }),
            _ => Ok(Vec::new()),
        }
    }

    async fn send_text(&self, out: &Outgoing<'_>) -> Result<String, ProviderError> {
        let kind = messaging_type(out.origin, out.last_inbound_at, out.now)
            .map_err(ProviderError::Permanent)?;
        let metadata = out.message_id.to_string();
        let sent = match &out.file {
            Some(file) => {
                let attachment_type = match file.kind {
                    "image" | "sticker" => "image",
                    "audio" | "voice" => "audio",
                    "video" => "video",
                    _ => "file",
                };
                self.api
                    .send_attachment(
                        self.cfg,
                        out.chat_id,
                        attachment_type,
                        file.url,
                        kind,
                        &metadata,
                    )
                    .await?
            }
            None => {
                self.api
                    .send_text(self.cfg, out.chat_id, out.text, kind, &metadata)
                    .await?
            }
        };
        Ok(sent.message_id)
    }

    async fn mark_seen(
        &self,
        chat_id: &str,
        _provider_ids: &[String],
    ) -> Result<(), ProviderError> {
        // Meta marks the whole thread seen; there is no per-message form.
        Ok(self
            .api
            .sender_action(self.cfg, chat_id, "mark_seen")
            .await?)
    }

    async fn typing(&self, chat_id: &str, on: bool) -> Result<(), ProviderError> {
        Ok(self
            .api
            .sender_action(
                self.cfg,
                chat_id,
                if on { "typing_on" } else { "typing_off" },
            )
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_payloads_of_every_kind_normalise() {
        let waha = json!({"id": "false_551199@c.us_AAA", "timestamp": 1_700_000_000, "from": "551199@c.us", "fromMe": false,
                          "body": "oi", "hasMedia": false, "_data": {"notifyName": "Ana"}});
        let m = normalise_inbound("waha", waha).unwrap();
        assert_eq!(
            (
                m.identity_kind,
                m.sender.as_str(),
                m.display_name.as_deref()
            ),
            ("wa_user", "551199@c.us", Some("Ana"))
        );
        let meta = json!({"mid": "m_1", "sender_id": "123", "timestamp_ms": 1_700_000_000_123i64, "text": "hello", "postback_payload": "YES"});
        let m = normalise_inbound("instagram", meta.clone()).unwrap();
        assert_eq!(
            (m.identity_kind, m.timestamp.timestamp_millis()),
            ("igsid", 1_700_000_000_123)
        );
        assert_eq!(m.media.unwrap()["postback_payload"], "YES");
        assert_eq!(
            normalise_inbound("messenger", meta).unwrap().identity_kind,
            "psid"
        );
        assert!(
            normalise_inbound(
                "waha",
                json!({"id": "x", "timestamp": 1, "from": "123@g.us"})
            )
            .is_err()
        );
    }

    #[test]
    fn instagram_has_no_delivery_receipts() {
        let cfg = |kind: &str| {
            ProviderConfig::decode(kind, json!({"page_id": "1", "access_token": "token-123", "app_secret": "0123456789abcdef", "verify_token": "v"}))
                .unwrap()
        };
        assert!(cfg("messenger").capabilities().delivery_receipts);
        assert!(!cfg("instagram").capabilities().delivery_receipts);
        assert!(cfg("instagram").capabilities().messaging_window);
        assert!(ProviderConfig::decode("sms", json!({})).is_err());
    }
}
