//! A WAHA simulator: a small HTTP server that speaks WAHA's documented contract
//! (`shared/reference/channels.md`) so the stack, the tests and the benchmark can run without
//! WhatsApp. Production uses the real WAHA.
//!
//! The WAHA side: `POST/GET/PUT /api/sessions…` (with `config.webhooks[]`: url, events, hmac key,
//! retries), `POST /api/sendText`, `POST /api/sendSeen`, `POST /api/startTyping|stopTyping`,
//! `GET /api/messages`, all behind `X-Api-Key`. Sent messages are acknowledged with signed
//! `message.ack` webhooks (SERVER, DEVICE, READ) carrying WAHA's headers, retried per the webhook's
//! retry policy.
//!
//! The control side (`/sim/…`, ours): inject customer messages as signed `message` webhooks (with
//! duplicate and out-of-order delivery), inject failures (5xx rate, latency, outage, a fixed 4xx),
//! emit `session.status`, and list what was sent. With pairing required (`/sim/pairing`), a started
//! session waits in `SCAN_QR_CODE` with a real QR code (`GET /api/{session}/auth/qr`, renewed every
//! 20 s) or a pairing code, until a test "scans" it (`/sim/scan`): then it is `WORKING`.

mod control;
mod lids;
mod messages;
mod pairing;
mod sessions;

use control::*;
pub use control::{InboundMessage, InboundRequest};
use lids::*;
use messages::*;
use pairing::*;
use sessions::*;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use ventros_channels::waha::{
    HEADER_API_KEY, HEADER_HMAC, HEADER_HMAC_ALGORITHM, HEADER_REQUEST_ID, HEADER_TIMESTAMP,
    sign_body,
};

/// The simulated account's own WhatsApp id.
pub const ME: &str = "15550001111@c.us";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookRetries {
    #[serde(default = "default_policy")]
    pub policy: String,
    /// WAHA takes whole seconds; fractions are accepted here so tests need not wait seconds.
    #[serde(rename = "delaySeconds", default = "default_delay")]
    pub delay_seconds: f64,
    #[serde(default = "default_attempts")]
    pub attempts: u32,
}

fn default_policy() -> String {
    "constant".into()
}
fn default_delay() -> f64 {
    2.0
}
fn default_attempts() -> u32 {
    15
}

impl Default for WebhookRetries {
    fn default() -> Self {
        WebhookRetries {
            policy: default_policy(),
            delay_seconds: default_delay(),
            attempts: default_attempts(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HmacConfig {
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookConfig {
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub hmac: Option<HmacConfig>,
    #[serde(default)]
    pub retries: Option<WebhookRetries>,
    #[serde(rename = "customHeaders", default)]
    pub custom_headers: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionConfig {
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
struct Session {
    name: String,
    status: String,
    config: SessionConfig,
    /// A phone is linked (the QR was scanned or the pairing code entered).
    paired: bool,
    /// When the current QR code round began (WAHA renews the code every 20 s while it waits).
    qr_since_ms: i64,
}

/// Failures to inject, set through `POST /sim/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Faults {
    /// Share of send calls answered with 500 (0.0 – 1.0).
    #[serde(default)]
    pub error_rate: f64,
    /// Added to every send call.
    #[serde(default)]
    pub latency_ms: u64,
    /// Every WAHA call answers 503.
    #[serde(default)]
    pub outage: bool,
    /// Every send call answers this 4xx (a permanent refusal).
    #[serde(default)]
    pub reject_status: Option<u16>,
    /// Do not acknowledge sent messages.
    #[serde(default)]
    pub no_acks: bool,
    /// Sends to these chats answer 422 (a number that is not on WhatsApp), whatever else is set.
    #[serde(default)]
    pub reject_chat_ids: Vec<String>,
    /// The next N sends are answered 500 without being taken (a definite failure that looks like
    /// the ambiguous one). Counted down before `fail_after_sending`.
    #[serde(default)]
    pub fail_before_sending: u32,
    /// The next N sends are taken (the customer gets the message) and then answered 500: the
    /// ambiguous failure, where only the chat's history can tell.
    #[serde(default)]
    pub fail_after_sending: u32,
    /// After taking a message, wait this long before answering (a send in flight).
    #[serde(default)]
    pub answer_delay_ms: u64,
    /// `GET /api/messages` answers 404, as on WAHA versions that only have the per-chat endpoint.
    #[serde(default)]
    pub legacy_messages_removed: bool,
    /// Neither history endpoint answers (500): WAHA cannot say what it sent.
    #[serde(default)]
    pub history_unavailable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimMessage {
    pub id: String,
    pub session: String,
    #[serde(rename = "chatId")]
    pub chat_id: String,
    pub body: String,
    #[serde(rename = "fromMe")]
    pub from_me: bool,
    pub timestamp: i64,
    /// When the simulator received it, in Unix milliseconds (benchmarks measure with this).
    pub received_at_ms: i64,
    /// The file of a media message (sendImage, sendFile, sendVoice, sendVideo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<SimMedia>,
}

/// What a media send carried, as the simulator checked it.
#[derive(Debug, Clone, Serialize)]
pub struct SimMedia {
    /// The endpoint: `image`, `file`, `voice` or `video`.
    pub endpoint: String,
    pub mimetype: String,
    pub filename: Option<String>,
    pub size: usize,
    /// Hex SHA-256 of the bytes received.
    pub sha256: String,
}

#[derive(Debug, Default, Serialize)]
struct Counters {
    send_calls: u64,
    /// Calls answered with an injected failure (outage, 5xx, 4xx), on any endpoint.
    rejected_calls: u64,
    seen: u64,
    typing: u64,
    /// Calls to either chat-history endpoint.
    history_calls: u64,
    /// Calls to either lid-map endpoint.
    lid_calls: u64,
    webhooks_delivered: u64,
    webhooks_failed_attempts: u64,
}

#[derive(Default)]
struct SimState {
    sessions: BTreeMap<String, Session>,
    messages: Vec<SimMessage>,
    faults: Faults,
    counters: Counters,
    /// WhatsApp's lid map as this account knows it: hidden id → phone chat id.
    lids: BTreeMap<String, String>,
    typing_log: Vec<TypingEvent>,
    /// New sessions wait for a phone to be linked (`SCAN_QR_CODE`) instead of working at once.
    pairing_required: bool,
    /// Files customers sent, served at `/api/files/{session}/{name}`: name → (mimetype, bytes).
    files: BTreeMap<String, (String, Vec<u8>)>,
}

/// A `startTyping` (`on`) or `stopTyping` call.
#[derive(Debug, Clone, Serialize)]
pub struct TypingEvent {
    pub chat_id: String,
    pub on: bool,
    pub at_ms: i64,
}

/// The simulator. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct WahaSimulator {
    api_key: Arc<str>,
    ack_delay: Duration,
    state: Arc<Mutex<SimState>>,
    http: reqwest::Client,
}

impl WahaSimulator {
    /// `ack_delay` separates the SERVER, DEVICE and READ receipts of a sent message.
    pub fn new(api_key: &str, ack_delay: Duration) -> Self {
        WahaSimulator {
            api_key: api_key.into(),
            ack_delay,
            state: Arc::default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("reqwest client"),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/sessions", post(create_session).get(list_sessions))
            .route(
                "/api/sessions/{session}",
                get(get_session).put(update_session),
            )
            .route("/api/sessions/{session}/{action}", post(session_action))
            .route("/api/{session}/auth/qr", get(auth_qr))
            .route("/api/{session}/auth/request-code", post(request_code))
            .route("/api/sendText", post(send_text))
            .route(
                "/api/sendImage",
                post(|s, h, b| send_media(s, h, b, "image")),
            )
            .route("/api/sendFile", post(|s, h, b| send_media(s, h, b, "file")))
            .route(
                "/api/sendVoice",
                post(|s, h, b| send_media(s, h, b, "voice")),
            )
            .route(
                "/api/sendVideo",
                post(|s, h, b| send_media(s, h, b, "video")),
            )
            .route("/api/files/{session}/{name}", get(serve_file))
            .route("/api/sendSeen", post(send_seen))
            .route(
                "/api/startTyping",
                post(|sim, headers, body| typing(sim, headers, body, true)),
            )
            .route(
                "/api/stopTyping",
                post(|sim, headers, body| typing(sim, headers, body, false)),
            )
            .route("/api/messages", get(list_messages))
            .route(
                "/api/{session}/chats/{chat_id}/messages",
                get(list_chat_messages),
            )
            .route("/api/{session}/lids/{lid}", get(lid_to_phone))
            .route("/api/{session}/lids/pn/{phone}", get(phone_to_lid))
            .route("/sim/inbound", post(inject_inbound))
            .route("/sim/lids", post(add_lid))
            .route("/sim/faults", post(set_faults).get(get_faults))
            .route("/sim/session-status", post(emit_session_status))
            .route("/sim/pairing", post(set_pairing))
            .route("/sim/scan", post(scan))
            .route("/sim/sent", get(list_sent))
            .route("/health", get(|| async { "ok" }))
            .with_state(self.clone())
    }

    /// Messages sent through `sendText`, oldest first.
    pub fn sent(&self) -> Vec<SimMessage> {
        self.state
            .lock()
            .expect("sim state")
            .messages
            .iter()
            .filter(|m| m.from_me)
            .cloned()
            .collect()
    }

    /// How many calls were answered with an injected failure.
    pub fn rejected_calls(&self) -> u64 {
        self.state
            .lock()
            .expect("sim state")
            .counters
            .rejected_calls
    }

    /// Webhook deliveries the receiver did not accept (each retry counts).
    pub fn webhook_failures(&self) -> u64 {
        self.state
            .lock()
            .expect("sim state")
            .counters
            .webhooks_failed_attempts
    }

    /// How many times a chat's history was asked for.
    pub fn history_calls(&self) -> u64 {
        self.state.lock().expect("sim state").counters.history_calls
    }

    /// Teaches the account that hidden id `lid` is phone chat id `phone` (both with their suffix).
    pub fn set_lid(&self, lid: &str, phone: &str) {
        self.state
            .lock()
            .expect("sim state")
            .lids
            .insert(lid.to_owned(), phone.to_owned());
    }

    /// Every startTyping/stopTyping call, oldest first.
    pub fn typing_log(&self) -> Vec<TypingEvent> {
        self.state.lock().expect("sim state").typing_log.clone()
    }

    /// How many times the lid map was asked.
    pub fn lid_calls(&self) -> u64 {
        self.state.lock().expect("sim state").counters.lid_calls
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.lock().expect("sim state").faults = faults;
    }

    /// Uses up one of a counted fault (`fail_before_sending`, `fail_after_sending`): whether this
    /// call is to fail.
    fn take_counted_failure(&self, counter: impl FnOnce(&mut Faults) -> &mut u32) -> bool {
        let mut state = self.state.lock().expect("sim state");
        let left = counter(&mut state.faults);
        if *left == 0 {
            return false;
        }
        *left -= 1;
        state.counters.rejected_calls += 1;
        true
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        headers.get(HEADER_API_KEY).and_then(|v| v.to_str().ok()) == Some(&*self.api_key)
    }

    fn webhooks_for(&self, session: &str, event: &str) -> Vec<WebhookConfig> {
        let state = self.state.lock().expect("sim state");
        state
            .sessions
            .get(session)
            .map(|s| {
                s.config
                    .webhooks
                    .iter()
                    .filter(|w| {
                        w.events.is_empty() || w.events.iter().any(|e| e == event || e == "*")
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Delivers one event to every subscribed webhook, retrying per its policy. Returns the status
    /// of the last attempt at each webhook.
    pub async fn deliver(&self, session: &str, event: &str, payload: Value) -> Vec<u16> {
        let envelope = json!({
            "id": new_event_id(),
            "timestamp": now_ms(),
            "event": event,
            "session": session,
            "metadata": {},
            "me": {"id": ME, "pushName": "Ventros Demo"},
            "payload": payload,
            "engine": "WEBJS",
            "environment": {"tier": "CORE", "version": "2026.6.1", "engine": "WEBJS", "browser": null},
        });
        let body = serde_json::to_vec(&envelope).expect("envelope serialises");
        let mut statuses = Vec::new();
        for hook in self.webhooks_for(session, event) {
            statuses.push(self.deliver_to(&hook, &body).await);
        }
        statuses
    }

    async fn deliver_to(&self, hook: &WebhookConfig, body: &[u8]) -> u16 {
        let retries = hook.retries.clone().unwrap_or_default();
        let attempts = retries.attempts.max(1);
        let mut last = 0;
        for attempt in 0..attempts {
            let mut req = self
                .http
                .post(&hook.url)
                .header("Content-Type", "application/json")
                .header(HEADER_REQUEST_ID, new_event_id())
                .header(HEADER_TIMESTAMP, now_ms().to_string())
                .body(body.to_vec());
            if let Some(hmac) = &hook.hmac {
                req = req
                    .header(HEADER_HMAC, sign_body(&hmac.key, body))
                    .header(HEADER_HMAC_ALGORITHM, "sha512");
            }
            last = match req.send().await {
                Ok(resp) => resp.status().as_u16(),
                Err(_) => 0,
            };
            if (200..300).contains(&last) {
                self.state
                    .lock()
                    .expect("sim state")
                    .counters
                    .webhooks_delivered += 1;
                return last;
            }
            self.state
                .lock()
                .expect("sim state")
                .counters
                .webhooks_failed_attempts += 1;
            // A 4xx other than 404/409/429/503 will not get better; WAHA retries all non-2xx, the
            // simulator does the same.
            if attempt + 1 < attempts {
                let base = retries.delay_seconds.max(0.0);
                let delay = match retries.policy.as_str() {
                    "linear" => base * f64::from(attempt + 1),
                    "exponential" => {
                        base * 2f64.powi(attempt as i32) * rand::rng().random_range(0.8..1.2)
                    }
                    _ => base,
                };
                tokio::time::sleep(Duration::from_secs_f64(delay)).await;
            }
        }
        last
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn new_event_id() -> String {
    let mut rng = rand::rng();
    let chars: String = (0..26)
        .map(|_| char::from(b"0123456789abcdefghjkmnpqrstvwxyz"[rng.random_range(0..32)]))
        .collect();
    format!("evt_{chars}")
}

fn new_message_hex() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(b"0123456789ABCDEF"[rng.random_range(0..16)]))
        .collect()
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"statusCode": status.as_u16(), "message": message, "error": status.canonical_reason()}))).into_response()
}
