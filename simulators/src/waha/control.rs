//! The control side (`/sim/…`, ours): inject customer messages, set faults, emit `session.status`,
//! list what was sent.

use super::*;

/// `POST /sim/inbound`: a customer writes. Each message is delivered `deliveries` times (WAHA
/// retries and replays), in the given order or reversed (out-of-order delivery).
#[derive(Deserialize)]
pub struct InboundRequest {
    #[serde(default = "default_session_name")]
    pub session: String,
    pub from: String,
    #[serde(default)]
    pub push_name: Option<String>,
    pub messages: Vec<InboundMessage>,
    #[serde(default = "one")]
    pub deliveries: u32,
    #[serde(default)]
    pub reverse: bool,
    /// The sender's other address, carried in `_data.key.remoteJidAlt` as WAHA's NOWEB engine does.
    #[serde(default)]
    pub alternate: Option<String>,
}

#[derive(Deserialize)]
pub struct InboundMessage {
    #[serde(default)]
    pub body: String,
    /// A file the customer sends (served back at `/api/files/…`, linked from `media.url`).
    #[serde(default)]
    pub media: Option<InboundFile>,
    /// `{latitude, longitude, description}`, as WAHA's `location`.
    #[serde(default)]
    pub location: Option<Value>,
    /// Contact cards (vCard text), as WAHA's `vCards`.
    #[serde(default)]
    pub vcards: Vec<String>,
    /// Seconds; now when absent.
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Deserialize)]
pub struct InboundFile {
    pub mimetype: String,
    #[serde(default)]
    pub filename: Option<String>,
    /// Base64.
    pub data: String,
    /// A voice note (`_data.type: "ptt"`) rather than an audio file.
    #[serde(default)]
    pub voice: bool,
    /// WAHA could not download it (`media.error`), or media download is off (`media: null`).
    #[serde(default)]
    pub not_downloaded: bool,
}

/// Where WAHA says its files are: its own `WAHA_BASE_URL`, which by default is not an address
/// anyone else can reach (clients read `/api/files/…` from the WAHA they are configured with).
const FILES_BASE: &str = "http://localhost:3000";

pub(super) fn default_session_name() -> String {
    "default".into()
}
pub(super) fn one() -> u32 {
    1
}

pub(super) async fn inject_inbound(
    State(sim): State<WahaSimulator>,
    Json(req): Json<InboundRequest>,
) -> Response {
    if !valid_chat_id(&req.from) || req.messages.is_empty() {
        return problem(
            StatusCode::BAD_REQUEST,
            "from must be a chat id and messages must not be empty",
        );
    }
    let now = now_ms() / 1000;
    let mut files = Vec::new();
    let mut payloads: Vec<(String, Value)> = req
        .messages
        .iter()
        .map(|m| {
            let id = m.id.clone().unwrap_or_else(|| format!("false_{}_{}", req.from, new_message_hex()));
            let mut data = json!({});
            if let Some(name) = &req.push_name {
                data = json!({"notifyName": name});
            }
            if let Some(alternate) = &req.alternate {
                data["key"] = json!({"remoteJid": req.from, "remoteJidAlt": alternate.replace("@c.us", "@s.whatsapp.net"), "fromMe": false});
            }
            let mut payload = json!({
                "id": id, "timestamp": m.timestamp.unwrap_or(now), "from": req.from, "fromMe": false,
                "source": "app", "to": ME, "body": m.body, "hasMedia": false, "ack": 1, "_data": data,
            });
            if let Some(file) = &m.media {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD.decode(&file.data).unwrap_or_default();
                let extension = file.mimetype.split(['/', ';']).nth(1).unwrap_or("bin").trim().to_owned();
                let name = format!("{}.{extension}", id.rsplit('_').next().unwrap_or("file"));
                payload["hasMedia"] = json!(true);
                payload["media"] = if file.not_downloaded {
                    Value::Null
                } else {
                    json!({"url": format!("{FILES_BASE}/api/files/{}/{name}", req.session),
                           "mimetype": file.mimetype, "filename": file.filename, "error": null})
                };
                payload["_data"]["type"] = json!(if file.voice {
                    "ptt"
                } else {
                    match file.mimetype.split('/').next() {
                        Some("image") => "image",
                        Some("video") => "video",
                        Some("audio") => "audio",
                        _ => "document",
                    }
                });
                files.push((name, file.mimetype.clone(), bytes));
            }
            if let Some(location) = &m.location {
                payload["location"] = location.clone();
            }
            if !m.vcards.is_empty() {
                payload["vCards"] = json!(m.vcards);
            }
            (id, payload)
        })
        .collect();
    if req.reverse {
        payloads.reverse();
    }
    {
        let mut state = sim.state.lock().expect("sim state");
        for (name, mimetype, bytes) in files {
            state.files.insert(name, (mimetype, bytes));
        }
        for (id, p) in &payloads {
            state.messages.push(SimMessage {
                id: id.clone(),
                session: req.session.clone(),
                chat_id: req.from.clone(),
                body: p["body"].as_str().unwrap_or_default().to_owned(),
                from_me: false,
                timestamp: p["timestamp"].as_i64().unwrap_or(now),
                received_at_ms: now_ms(),
                media: None,
            });
        }
    }
    let mut statuses = Vec::new();
    for (_, payload) in &payloads {
        for _ in 0..req.deliveries.max(1) {
            statuses.extend(sim.deliver(&req.session, "message", payload.clone()).await);
        }
    }
    let ids: Vec<String> = payloads.into_iter().map(|(id, _)| id).collect();
    Json(json!({"ids": ids, "statuses": statuses})).into_response()
}

pub(super) async fn set_faults(
    State(sim): State<WahaSimulator>,
    Json(faults): Json<Faults>,
) -> Response {
    sim.set_faults(faults.clone());
    Json(faults).into_response()
}

pub(super) async fn get_faults(State(sim): State<WahaSimulator>) -> Response {
    Json(sim.state.lock().expect("sim state").faults.clone()).into_response()
}

#[derive(Deserialize)]
pub(super) struct SessionStatusRequest {
    #[serde(default = "default_session_name")]
    session: String,
    status: String,
}

pub(super) async fn emit_session_status(
    State(sim): State<WahaSimulator>,
    Json(req): Json<SessionStatusRequest>,
) -> Response {
    if let Some(s) = sim
        .state
        .lock()
        .expect("sim state")
        .sessions
        .get_mut(&req.session)
    {
        s.status = req.status.clone();
    }
    let statuses = sim
        .deliver(
            &req.session,
            "session.status",
            json!({"name": req.session, "status": req.status}),
        )
        .await;
    Json(json!({"statuses": statuses})).into_response()
}

pub(super) async fn list_sent(State(sim): State<WahaSimulator>) -> Response {
    let state = sim.state.lock().expect("sim state");
    let sent: Vec<&SimMessage> = state.messages.iter().filter(|m| m.from_me).collect();
    Json(json!({"sent": sent, "counters": state.counters})).into_response()
}
