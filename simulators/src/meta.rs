//! A Meta simulator: the Graph API Send API and the Messenger/Instagram webhooks, speaking the
//! contract of `shared/reference/channels.md` §2.2, so the stack, the tests and the demo run
//! without Meta. Production talks to Meta.
//!
//! The Meta side: `POST /{version}/{page-id}/messages` (text with `messaging_type`/`tag` and
//! `metadata`, or a `sender_action`), authenticated by the page's access token, enforcing the
//! 24-hour window (7 days with `HUMAN_AGENT`) with Meta's error shape. Every accepted message is
//! echoed (`is_echo`, our `metadata`), then acknowledged: Messenger with `delivery` and `read`
//! watermarks, Instagram with `read` (`messaging_seen`). Webhooks are serialised the way Meta does
//! (non-ASCII as `\uXXXX`), signed with `X-Hub-Signature-256`, and retried a few times on failure.
//!
//! The control side (`/sim/…`, ours): register a page (the simulator performs the verify-token
//! handshake against the webhook URL, as Meta does on subscription), inject customer messages
//! (batched entries, the `changes[]` shape, duplicates, reversed order, past timestamps), inject
//! failures (rate limits, 5xx, refused recipients, no receipts), list what was sent.

use std::collections::{BTreeMap, HashMap};
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

use ventros_channels::meta::{
    HEADER_SIGNATURE, HUMAN_AGENT_WINDOW, MetaPlatform, STANDARD_WINDOW, sign_body, to_escaped_json,
};

/// A page (or Instagram account) registered with the simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimPage {
    pub page_id: String,
    pub platform: MetaPlatform,
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
    pub webhook_url: String,
}

/// Failures to inject, set through `POST /sim/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaFaults {
    /// The next this-many send calls answer Meta's rate-limit error (code 613).
    #[serde(default)]
    pub rate_limit_calls: u32,
    /// Share of send calls answered with a 500 (code 2, temporary).
    #[serde(default)]
    pub error_rate: f64,
    /// Sends to these recipients answer code 551 ("This person isn't available right now").
    #[serde(default)]
    pub reject_recipient_ids: Vec<String>,
    /// Neither echoes nor receipts are sent.
    #[serde(default)]
    pub no_receipts: bool,
}

/// A message as the simulator saw it (sent by the page, or written by a customer).
#[derive(Debug, Clone, Serialize)]
pub struct SimMetaMessage {
    pub mid: String,
    pub page_id: String,
    pub user_id: String,
    pub text: String,
    pub from_page: bool,
    pub timestamp_ms: i64,
    pub messaging_type: Option<String>,
    pub tag: Option<String>,
    pub metadata: Option<String>,
    /// A file sent by the page: `{type, content_type, size, sha256}` as fetched from its URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Value>,
}

#[derive(Debug, Default, Serialize)]
struct Counters {
    send_calls: u64,
    rejected_calls: u64,
    sender_actions: BTreeMap<String, u64>,
    webhooks_delivered: u64,
    webhooks_failed_attempts: u64,
}

#[derive(Default)]
struct SimState {
    pages: HashMap<String, SimPage>,
    messages: Vec<SimMetaMessage>,
    /// (page, user) → the customer's last message time (ms): the messaging window.
    last_user_message: HashMap<(String, String), i64>,
    faults: MetaFaults,
    counters: Counters,
    /// Customers' files, served at `/sim/cdn/{name}` as Meta's CDN serves attachments.
    files: HashMap<String, (String, Vec<u8>)>,
}

/// The simulator. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct MetaSimulator {
    receipt_delay: Duration,
    webhook_attempts: u32,
    state: Arc<Mutex<SimState>>,
    http: reqwest::Client,
}

impl MetaSimulator {
    /// `receipt_delay` separates a sent message's echo, delivery and read webhooks.
    pub fn new(receipt_delay: Duration) -> Self {
        MetaSimulator {
            receipt_delay,
            webhook_attempts: 20,
            state: Arc::default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("reqwest client"),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/{version}/{node}/messages", post(send_api))
            .route("/sim/pages", post(register_page))
            .route("/sim/inbound", post(inject_inbound))
            .route("/sim/cdn/{name}", get(serve_cdn))
            .route("/sim/faults", post(set_faults).get(get_faults))
            .route("/sim/sent", get(list_sent))
            .route("/health", get(|| async { "ok" }))
            .with_state(self.clone())
    }

    /// Messages the pages sent, oldest first.
    pub fn sent(&self) -> Vec<SimMetaMessage> {
        self.state
            .lock()
            .expect("sim state")
            .messages
            .iter()
            .filter(|m| m.from_page)
            .cloned()
            .collect()
    }

    pub fn sender_actions(&self, action: &str) -> u64 {
        self.state
            .lock()
            .expect("sim state")
            .counters
            .sender_actions
            .get(action)
            .copied()
            .unwrap_or_default()
    }

    pub fn set_faults(&self, faults: MetaFaults) {
        self.state.lock().expect("sim state").faults = faults;
    }

    fn page(&self, page_id: &str) -> Option<SimPage> {
        self.state
            .lock()
            .expect("sim state")
            .pages
            .get(page_id)
            .cloned()
    }

    /// Registers a page after the verify-token handshake with its webhook URL succeeds.
    pub async fn register(&self, page: SimPage) -> Result<(), String> {
        let challenge = rand::rng()
            .random_range(1_000_000_000u64..9_999_999_999)
            .to_string();
        let resp = self
            .http
            .get(&page.webhook_url)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", page.verify_token.as_str()),
                ("hub.challenge", challenge.as_str()),
            ])
            .send()
            .await
            .map_err(|e| format!("the webhook URL could not be reached: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if status != 200 || body != challenge {
            return Err(format!(
                "the webhook did not echo the challenge (HTTP {status})"
            ));
        }
        self.state
            .lock()
            .expect("sim state")
            .pages
            .insert(page.page_id.clone(), page);
        Ok(())
    }

    /// Posts one webhook body (serialised and signed as Meta does) to the page's URL, retrying a
    /// few times on failure. Returns the last HTTP status (0 when unreachable).
    pub async fn deliver(&self, page: &SimPage, body: &Value) -> u16 {
        let bytes = to_escaped_json(body);
        let signature = sign_body(&page.app_secret, &bytes);
        let mut last = 0;
        for attempt in 0..self.webhook_attempts {
            let sent = self
                .http
                .post(&page.webhook_url)
                .header("Content-Type", "application/json")
                .header(HEADER_SIGNATURE, &signature)
                .body(bytes.clone())
                .send()
                .await;
            last = sent.map_or(0, |r| r.status().as_u16());
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
            if attempt + 1 < self.webhook_attempts {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        last
    }

    /// One `entry` holding `items` for the page, in the page's webhook envelope.
    fn envelope(page: &SimPage, entries: Vec<Value>) -> Value {
        json!({"object": page.platform.webhook_object(), "entry": entries})
    }

    fn entry(page: &SimPage, items: Vec<Value>) -> Value {
        json!({"id": page.page_id, "time": now_ms(), "messaging": items})
    }

    /// Echo, then receipts, for a message the page sent.
    async fn acknowledge(&self, page: SimPage, message: SimMetaMessage) {
        let item = |extra: (&str, Value), from_user: bool| {
            let (sender, recipient) = if from_user {
                (&message.user_id, &page.page_id)
            } else {
                (&page.page_id, &message.user_id)
            };
            let mut v = json!({"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": now_ms()});
            v[extra.0] = extra.1;
            v
        };
        let mut echo = json!({"mid": message.mid, "is_echo": true, "app_id": 1_517_000_000_000_000u64, "text": message.text});
        if let Some(metadata) = &message.metadata {
            echo["metadata"] = json!(metadata);
        }
        tokio::time::sleep(self.receipt_delay).await;
        self.deliver(
            &page,
            &Self::envelope(
                &page,
                vec![Self::entry(&page, vec![item(("message", echo), false)])],
            ),
        )
        .await;
        if page.platform.has_delivery_receipts() {
            tokio::time::sleep(self.receipt_delay).await;
            let delivery = json!({"mids": [message.mid], "watermark": now_ms()});
            self.deliver(
                &page,
                &Self::envelope(
                    &page,
                    vec![Self::entry(&page, vec![item(("delivery", delivery), true)])],
                ),
            )
            .await;
        }
        tokio::time::sleep(self.receipt_delay).await;
        let mut read = json!({"watermark": now_ms()});
        if page.platform == MetaPlatform::Instagram {
            read["mid"] = json!(message.mid);
        }
        self.deliver(
            &page,
            &Self::envelope(
                &page,
                vec![Self::entry(&page, vec![item(("read", read), true)])],
            ),
        )
        .await;
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn new_mid() -> String {
    let mut rng = rand::rng();
    let chars: String = (0..43)
        .map(|_| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                    [rng.random_range(0..64)],
            )
        })
        .collect();
    format!("m_{chars}")
}

/// A Graph API error, in Meta's shape.
fn graph_error(status: StatusCode, code: i64, subcode: Option<i64>, message: &str) -> Response {
    let mut error = json!({"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AsimFbTrace01"});
    if let Some(sub) = subcode {
        error["error_subcode"] = json!(sub);
    }
    (status, Json(json!({"error": error}))).into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

async fn send_api(
    State(sim): State<MetaSimulator>,
    Path((_version, node)): Path<(String, String)>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(page) = sim.page(&node) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(33),
            "Unsupported post request. Object does not exist",
        );
    };
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if q.access_token.or(bearer).as_deref() != Some(page.access_token.as_str()) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "(#100) Invalid JSON body",
        );
    };
    let Some(recipient) = req
        .pointer("/recipient/id")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "(#100) The parameter recipient is required",
        );
    };
    if let Some(action) = req.get("sender_action").and_then(Value::as_str) {
        if !matches!(action, "mark_seen" | "typing_on" | "typing_off") {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) Param sender_action must be one of {MARK_SEEN, TYPING_ON, TYPING_OFF}",
            );
        }
        *sim.state
            .lock()
            .expect("sim state")
            .counters
            .sender_actions
            .entry(action.to_owned())
            .or_default() += 1;
        return Json(json!({"recipient_id": recipient})).into_response();
    }

    let faults = {
        let mut state = sim.state.lock().expect("sim state");
        state.counters.send_calls += 1;
        let faults = state.faults.clone();
        if state.faults.rate_limit_calls > 0 {
            state.faults.rate_limit_calls -= 1;
        }
        faults
    };
    let reject = |sim: &MetaSimulator, status, code, subcode, message: &str| {
        sim.state.lock().expect("sim state").counters.rejected_calls += 1;
        graph_error(status, code, subcode, message)
    };
    if faults.rate_limit_calls > 0 {
        return reject(
            &sim,
            StatusCode::BAD_REQUEST,
            613,
            None,
            "(#613) Calls to this api have exceeded the rate limit.",
        );
    }
    if faults.error_rate > 0.0 && rand::rng().random_bool(faults.error_rate.clamp(0.0, 1.0)) {
        return reject(
            &sim,
            StatusCode::INTERNAL_SERVER_ERROR,
            2,
            None,
            "An unexpected error has occurred. Please retry your request later.",
        );
    }
    if faults.reject_recipient_ids.contains(&recipient) {
        return reject(
            &sim,
            StatusCode::BAD_REQUEST,
            551,
            Some(1_545_041),
            "(#551) This person isn't available right now.",
        );
    }
    let attachment = match req.pointer("/message/attachment") {
        Some(attachment) => match fetch_attachment(&sim, attachment).await {
            Ok(fetched) => Some(fetched),
            Err(message) => return reject(&sim, StatusCode::BAD_REQUEST, 100, None, &message),
        },
        None => None,
    };
    let text = req
        .pointer("/message/text")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let Some(text) = text.or_else(|| attachment.as_ref().map(|_| String::new())) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "(#100) Param message[text] must be a non-empty UTF-8 encoded string",
        );
    };
    if text.chars().count() > 2000 {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "(#100) Length of param message[text] must be less than or equal to 2000",
        );
    }
    let messaging_type = req
        .get("messaging_type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let tag = req.get("tag").and_then(Value::as_str).map(str::to_owned);
    let last = sim
        .state
        .lock()
        .expect("sim state")
        .last_user_message
        .get(&(page.page_id.clone(), recipient.clone()))
        .copied();
    let Some(last) = last else {
        return reject(
            &sim,
            StatusCode::BAD_REQUEST,
            100,
            Some(2_018_001),
            "(#100) No matching user found",
        );
    };
    let age = chrono::TimeDelta::milliseconds(now_ms() - last);
    let allowed = age <= STANDARD_WINDOW
        || (messaging_type.as_deref() == Some("MESSAGE_TAG")
            && tag.as_deref() == Some("HUMAN_AGENT")
            && age <= HUMAN_AGENT_WINDOW);
    if !allowed {
        return reject(
            &sim,
            StatusCode::BAD_REQUEST,
            10,
            Some(2_018_278),
            "(#10) This message is sent outside of allowed window.",
        );
    }
    let message = SimMetaMessage {
        mid: new_mid(),
        page_id: page.page_id.clone(),
        user_id: recipient.clone(),
        text,
        from_page: true,
        timestamp_ms: now_ms(),
        messaging_type,
        tag,
        metadata: req
            .pointer("/message/metadata")
            .and_then(Value::as_str)
            .map(str::to_owned),
        attachment,
    };
    sim.state
        .lock()
        .expect("sim state")
        .messages
        .push(message.clone());
    if !faults.no_receipts {
        let (sim, page, message) = (sim.clone(), page.clone(), message.clone());
        tokio::spawn(async move { sim.acknowledge(page, message).await });
    }
    Json(json!({"recipient_id": recipient, "message_id": message.mid})).into_response()
}

async fn register_page(State(sim): State<MetaSimulator>, Json(page): Json<SimPage>) -> Response {
    match sim.register(page).await {
        Ok(()) => (StatusCode::CREATED, Json(json!({"subscribed": true}))).into_response(),
        Err(reason) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"subscribed": false, "reason": reason})),
        )
            .into_response(),
    }
}

/// `POST /sim/inbound`: a customer writes to a page.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRequest {
    pub page_id: String,
    /// PSID or IGSID.
    pub from: String,
    pub messages: Vec<InboundMessage>,
    /// Every webhook is delivered this many times (Meta retries).
    #[serde(default = "one")]
    pub deliveries: u32,
    /// Deliver in reverse order (Meta: "may not be delivered in the order they were sent").
    #[serde(default)]
    pub reverse: bool,
    /// One webhook with one entry per message (Meta batches), instead of one webhook each.
    #[serde(default)]
    pub batched: bool,
    /// The `entry[].changes[]` shape of Instagram Login apps, instead of `entry[].messaging[]`.
    #[serde(default)]
    pub changes_shape: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundMessage {
    #[serde(default)]
    pub text: Option<String>,
    /// Files (served from `/sim/cdn/…` and linked from `payload.url`) or locations.
    #[serde(default)]
    pub attachments: Vec<InboundAttachment>,
    /// A postback button tap instead of a text: `{title, payload}`.
    #[serde(default)]
    pub postback: Option<Value>,
    /// Milliseconds; now when absent.
    #[serde(default)]
    pub timestamp_ms: Option<i64>,
    #[serde(default)]
    pub mid: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundAttachment {
    /// `image`, `video`, `audio`, `file` or `location`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub mimetype: Option<String>,
    /// Base64 bytes of a file.
    #[serde(default)]
    pub data: Option<String>,
    /// A location's `{coordinates: {lat, long}}`.
    #[serde(default)]
    pub payload: Option<Value>,
}

fn one() -> u32 {
    1
}

/// `GET /sim/cdn/{name}`: a customer's file, as Meta's signed attachment URLs serve it.
async fn serve_cdn(State(sim): State<MetaSimulator>, Path(name): Path<String>) -> Response {
    let file = sim
        .state
        .lock()
        .expect("sim state")
        .files
        .get(&name)
        .cloned();
    match file {
        Some((mimetype, bytes)) => {
            ([(axum::http::header::CONTENT_TYPE, mimetype)], bytes).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Meta fetches a sent attachment from `payload.url` (it must answer 200 with the file).
async fn fetch_attachment(sim: &MetaSimulator, attachment: &Value) -> Result<Value, String> {
    let kind = attachment
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(kind, "image" | "audio" | "video" | "file") {
        return Err(
            "(#100) Param message[attachment][type] must be one of {IMAGE, AUDIO, VIDEO, FILE}"
                .into(),
        );
    }
    let url = attachment
        .pointer("/payload/url")
        .and_then(Value::as_str)
        .ok_or("(#100) An attachment needs payload.url or an attachment_id")?;
    let failed = || "(#100) Failed to fetch the file from the url".to_owned();
    let response = sim.http.get(url).send().await.map_err(|_| failed())?;
    if !response.status().is_success() {
        return Err(failed());
    }
    let content_type = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.bytes().await.map_err(|_| failed())?;
    if bytes.is_empty() || bytes.len() > 25 * 1024 * 1024 {
        return Err("(#100) The attachment is empty or larger than 25 MB".into());
    }
    Ok(
        json!({"type": kind, "content_type": content_type, "size": bytes.len(),
              "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))}),
    )
}

async fn inject_inbound(
    State(sim): State<MetaSimulator>,
    headers: HeaderMap,
    Json(req): Json<InboundRequest>,
) -> Response {
    // Attachment links point back at this simulator, at the address the caller reached it by.
    let cdn = format!(
        "http://{}",
        headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
    );
    let Some(page) = sim.page(&req.page_id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "page is not registered"})),
        )
            .into_response();
    };
    if req.messages.is_empty()
        || req.from.is_empty()
        || !req.from.chars().all(|c| c.is_ascii_digit())
    {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "from must be a numeric PSID/IGSID and messages must not be empty"})))
            .into_response();
    }
    let now = now_ms();
    let mut items = Vec::new();
    let mut mids = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let mid = m.mid.clone().unwrap_or_else(new_mid);
        let ts = m.timestamp_ms.unwrap_or(now + i as i64);
        let mut item =
            json!({"sender": {"id": req.from}, "recipient": {"id": page.page_id}, "timestamp": ts});
        let mut attachments = Vec::new();
        for (n, a) in m.attachments.iter().enumerate() {
            match (&a.data, &a.payload) {
                (Some(data), _) => {
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .unwrap_or_default();
                    let mimetype = a
                        .mimetype
                        .clone()
                        .unwrap_or_else(|| "application/octet-stream".into());
                    let extension = mimetype
                        .split(['/', ';'])
                        .nth(1)
                        .unwrap_or("bin")
                        .to_owned();
                    let name = format!("{}-{n}.{extension}", new_mid().trim_start_matches("m_"));
                    attachments.push(json!({"type": a.kind, "payload": {"url": format!("{cdn}/sim/cdn/{name}?oh=sig&oe=exp")}}));
                    sim.state
                        .lock()
                        .expect("sim state")
                        .files
                        .insert(name, (mimetype, bytes));
                }
                (None, Some(payload)) => {
                    attachments.push(json!({"type": a.kind, "payload": payload}));
                }
                (None, None) => {}
            }
        }
        match (&m.text, &m.postback) {
            (_, Some(postback)) => {
                let mut p = postback.clone();
                p["mid"] = json!(mid);
                item["postback"] = p;
            }
            (text, None) if text.is_some() || !attachments.is_empty() => {
                item["message"] = json!({"mid": mid});
                if let Some(text) = text {
                    item["message"]["text"] = json!(text);
                }
                if !attachments.is_empty() {
                    item["message"]["attachments"] = json!(attachments);
                }
            }
            (_, None) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "a message needs text or postback"})),
                )
                    .into_response();
            }
        }
        {
            let mut state = sim.state.lock().expect("sim state");
            let last = state
                .last_user_message
                .entry((page.page_id.clone(), req.from.clone()))
                .or_insert(ts);
            *last = (*last).max(ts);
            state.messages.push(SimMetaMessage {
                mid: mid.clone(),
                page_id: page.page_id.clone(),
                user_id: req.from.clone(),
                text: m.text.clone().unwrap_or_default(),
                from_page: false,
                timestamp_ms: ts,
                messaging_type: None,
                tag: None,
                metadata: None,
                attachment: None,
            });
        }
        mids.push(mid);
        items.push(item);
    }
    if req.reverse {
        items.reverse();
    }
    let entry_of = |item: Value| {
        if req.changes_shape {
            json!({"id": page.page_id, "time": now_ms(), "changes": [{"field": "messages", "value": item}]})
        } else {
            MetaSimulator::entry(&page, vec![item])
        }
    };
    let bodies: Vec<Value> = if req.batched {
        vec![MetaSimulator::envelope(
            &page,
            items.into_iter().map(entry_of).collect(),
        )]
    } else {
        items
            .into_iter()
            .map(|item| MetaSimulator::envelope(&page, vec![entry_of(item)]))
            .collect()
    };
    let mut statuses = Vec::new();
    for body in &bodies {
        for _ in 0..req.deliveries.max(1) {
            statuses.push(sim.deliver(&page, body).await);
        }
    }
    Json(json!({"mids": mids, "statuses": statuses})).into_response()
}

async fn set_faults(State(sim): State<MetaSimulator>, Json(faults): Json<MetaFaults>) -> Response {
    sim.set_faults(faults.clone());
    Json(faults).into_response()
}

async fn get_faults(State(sim): State<MetaSimulator>) -> Response {
    Json(sim.state.lock().expect("sim state").faults.clone()).into_response()
}

async fn list_sent(State(sim): State<MetaSimulator>) -> Response {
    let state = sim.state.lock().expect("sim state");
    let sent: Vec<&SimMetaMessage> = state.messages.iter().filter(|m| m.from_page).collect();
    Json(json!({"sent": sent, "counters": state.counters})).into_response()
}
