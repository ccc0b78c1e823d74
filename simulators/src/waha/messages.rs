//! WAHA's messaging endpoints: sendText (acknowledged by signed `message.ack` webhooks), sendSeen,
//! typing, and the message lists a chat's history is read from.

use super::*;

#[derive(Deserialize)]
pub(super) struct SendTextRequest {
    session: Option<String>,
    #[serde(rename = "chatId")]
    chat_id: Option<String>,
    text: Option<String>,
    caption: Option<String>,
}

pub(super) fn valid_chat_id(chat_id: &str) -> bool {
    let (local, domain) = chat_id.split_once('@').unwrap_or(("", ""));
    !local.is_empty() && matches!(domain, "c.us" | "lid" | "g.us" | "s.whatsapp.net")
}

pub(super) async fn send_text(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    send(sim, headers, body, None).await
}

/// `POST /api/sendImage|sendFile|sendVoice|sendVideo`: `file` is `{mimetype, filename, data}`
/// (base64) or `{mimetype, filename, url}`; images, files and videos take a `caption`.
pub(super) async fn send_media(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    body: axum::body::Bytes,
    endpoint: &'static str,
) -> Response {
    send(sim, headers, body, Some(endpoint)).await
}

/// The file of a media send, checked as WAHA would: a mimetype and the bytes (or a URL).
fn read_file(req: &Value, endpoint: &str) -> Result<SimMedia, &'static str> {
    use base64::Engine as _;
    let file = req
        .get("file")
        .filter(|f| f.is_object())
        .ok_or("file is required")?;
    let mimetype = file
        .get("mimetype")
        .and_then(Value::as_str)
        .filter(|m| m.contains('/'))
        .ok_or("file.mimetype is required")?;
    let bytes = match (
        file.get("data").and_then(Value::as_str),
        file.get("url").and_then(Value::as_str),
    ) {
        (Some(data), _) => base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| "file.data must be base64")?,
        (None, Some(url)) if url.starts_with("http") => url.as_bytes().to_vec(),
        _ => return Err("file.data or file.url is required"),
    };
    if bytes.is_empty() {
        return Err("file is empty");
    }
    if endpoint == "voice" && !mimetype.starts_with("audio/") {
        return Err("a voice message must be audio");
    }
    Ok(SimMedia {
        endpoint: endpoint.to_owned(),
        mimetype: mimetype.to_owned(),
        filename: file
            .get("filename")
            .and_then(Value::as_str)
            .map(str::to_owned),
        size: bytes.len(),
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
    })
}

async fn send(
    sim: WahaSimulator,
    headers: HeaderMap,
    body: axum::body::Bytes,
    media_endpoint: Option<&'static str>,
) -> Response {
    if !sim.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let faults = {
        let mut state = sim.state.lock().expect("sim state");
        state.counters.send_calls += 1;
        state.faults.clone()
    };
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if faults.outage {
        sim.state.lock().expect("sim state").counters.rejected_calls += 1;
        return problem(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    if sim.take_counted_failure(|f| &mut f.fail_before_sending) {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
    }
    if faults.error_rate > 0.0 && rand::rng().random_bool(faults.error_rate.clamp(0.0, 1.0)) {
        sim.state.lock().expect("sim state").counters.rejected_calls += 1;
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
    }
    if let Some(status) = faults
        .reject_status
        .and_then(|s| StatusCode::from_u16(s).ok())
    {
        sim.state.lock().expect("sim state").counters.rejected_calls += 1;
        return problem(status, "The number is not registered on WhatsApp");
    }
    let Ok(raw) = serde_json::from_slice::<Value>(&body) else {
        return problem(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let media = match media_endpoint.map(|e| read_file(&raw, e)) {
        Some(Ok(media)) => Some(media),
        Some(Err(reason)) => return problem(StatusCode::BAD_REQUEST, reason),
        None => None,
    };
    let Ok(req) = serde_json::from_value::<SendTextRequest>(raw) else {
        return problem(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let text = match &media {
        Some(_) => Some(req.caption.unwrap_or_default()),
        None => req.text,
    };
    let (Some(chat_id), Some(text)) = (req.chat_id, text) else {
        return problem(StatusCode::BAD_REQUEST, "chatId and text are required");
    };
    if faults.reject_chat_ids.contains(&chat_id) {
        sim.state.lock().expect("sim state").counters.rejected_calls += 1;
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The number is not registered on WhatsApp",
        );
    }
    let session = req.session.unwrap_or_else(|| "default".into());
    if !valid_chat_id(&chat_id) || (text.is_empty() && media.is_none()) {
        return problem(
            StatusCode::BAD_REQUEST,
            "chatId must be a WhatsApp chat id and text must not be empty",
        );
    }
    let message = SimMessage {
        id: format!("true_{chat_id}_{}", new_message_hex()),
        session: session.clone(),
        chat_id: chat_id.clone(),
        body: text,
        from_me: true,
        timestamp: now_ms() / 1000,
        received_at_ms: now_ms(),
        media,
    };
    {
        let mut state = sim.state.lock().expect("sim state");
        if !state.sessions.contains_key(&session) {
            return problem(StatusCode::UNPROCESSABLE_ENTITY, "Session does not exist");
        }
        state.messages.push(message.clone());
    }
    if !faults.no_acks {
        let sim = sim.clone();
        let (id, chat) = (message.id.clone(), chat_id.clone());
        tokio::spawn(async move {
            for (ack, name) in [(1, "SERVER"), (2, "DEVICE"), (3, "READ")] {
                tokio::time::sleep(sim.ack_delay).await;
                let payload = json!({"id": id, "from": chat, "participant": null, "fromMe": true, "ack": ack, "ackName": name});
                sim.deliver(&message.session, "message.ack", payload).await;
            }
        });
    }
    let response = json!({
        "id": message.id, "timestamp": message.timestamp, "from": ME, "fromMe": true, "source": "api",
        "to": chat_id, "body": message.body, "hasMedia": message.media.is_some(), "ack": 0, "ackName": "PENDING",
    });
    if faults.answer_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.answer_delay_ms)).await;
    }
    if sim.take_counted_failure(|f| &mut f.fail_after_sending) {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
    }
    (StatusCode::CREATED, Json(response)).into_response()
}

pub(super) async fn send_seen(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    Json(req): Json<Value>,
) -> Response {
    if !sim.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    if req
        .get("chatId")
        .and_then(Value::as_str)
        .is_none_or(|c| !valid_chat_id(c))
    {
        return problem(StatusCode::BAD_REQUEST, "chatId is required");
    }
    sim.state.lock().expect("sim state").counters.seen += 1;
    (StatusCode::CREATED, Json(json!({}))).into_response()
}

pub(super) async fn typing(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    Json(req): Json<Value>,
    on: bool,
) -> Response {
    if !sim.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let Some(chat_id) = req
        .get("chatId")
        .and_then(Value::as_str)
        .filter(|c| valid_chat_id(c))
    else {
        return problem(StatusCode::BAD_REQUEST, "chatId is required");
    };
    let mut state = sim.state.lock().expect("sim state");
    state.counters.typing += 1;
    state.typing_log.push(TypingEvent {
        chat_id: chat_id.to_owned(),
        on,
        at_ms: now_ms(),
    });
    (StatusCode::CREATED, Json(json!({}))).into_response()
}

#[derive(Deserialize)]
pub(super) struct MessagesQuery {
    #[serde(rename = "chatId")]
    chat_id: String,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    session: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ChatMessagesQuery {
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/{session}/chats/{chatId}/messages`: the chat's messages, newest first (WAHA's current
/// endpoint for a chat's history).
pub(super) async fn list_chat_messages(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    axum::extract::Path((session, chat_id)): axum::extract::Path<(String, String)>,
    Query(q): Query<ChatMessagesQuery>,
) -> Response {
    chat_history(&sim, &headers, session, chat_id, q.limit, false)
}

pub(super) async fn list_messages(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    Query(q): Query<MessagesQuery>,
) -> Response {
    chat_history(
        &sim,
        &headers,
        q.session.unwrap_or_else(|| "default".into()),
        q.chat_id,
        q.limit,
        true,
    )
}

pub(super) fn chat_history(
    sim: &WahaSimulator,
    headers: &HeaderMap,
    session: String,
    chat_id: String,
    limit: Option<usize>,
    legacy: bool,
) -> Response {
    if !sim.authorised(headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    {
        let mut state = sim.state.lock().expect("sim state");
        state.counters.history_calls += 1;
        if state.faults.outage {
            state.counters.rejected_calls += 1;
            return problem(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
        if state.faults.history_unavailable {
            return problem(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
        }
        if legacy && state.faults.legacy_messages_removed {
            return problem(StatusCode::NOT_FOUND, "Cannot GET /api/messages");
        }
    }
    let q = MessagesQuery {
        chat_id,
        limit,
        session: Some(session.clone()),
    };
    let state = sim.state.lock().expect("sim state");
    let list: Vec<Value> = state
        .messages
        .iter()
        .rev()
        .filter(|m| m.chat_id == q.chat_id && m.session == session)
        .take(q.limit.unwrap_or(100))
        .map(|m| {
            json!({"id": m.id, "timestamp": m.timestamp, "from": if m.from_me { ME } else { &m.chat_id },
                   "fromMe": m.from_me, "to": if m.from_me { &m.chat_id } else { ME }, "body": m.body, "hasMedia": m.media.is_some()})
        })
        .collect();
    Json(list).into_response()
}

/// `GET /api/files/{session}/{name}`: a file a customer sent (WAHA serves downloaded media here,
/// behind the API key).
pub(super) async fn serve_file(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    axum::extract::Path((_session, name)): axum::extract::Path<(String, String)>,
) -> Response {
    if !sim.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
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
        None => problem(StatusCode::NOT_FOUND, "File not found"),
    }
}
