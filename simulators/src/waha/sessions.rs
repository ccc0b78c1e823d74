//! WAHA's session endpoints: create, update, get and list sessions.

use super::*;

#[derive(Deserialize)]
pub(super) struct CreateSession {
    name: Option<String>,
    #[serde(default)]
    start: Option<bool>,
    #[serde(default)]
    config: Option<SessionConfig>,
}

pub(super) fn session_json(s: &Session) -> Value {
    json!({"name": s.name, "status": s.status, "engine": {"engine": "WEBJS"}, "config": s.config,
           "me": if s.status == "WORKING" { json!({"id": ME, "pushName": "Ventros Demo"}) } else { Value::Null }})
}

pub(super) async fn create_session(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    Json(req): Json<CreateSession>,
) -> Response {
    if !sim.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let name = req.name.unwrap_or_else(|| "default".into());
    let start = req.start.unwrap_or(true);
    let body = {
        let mut state = sim.state.lock().expect("sim state");
        if state.sessions.contains_key(&name) {
            return problem(StatusCode::UNPROCESSABLE_ENTITY, "Session already exists");
        }
        let paired = !state.pairing_required;
        let session = Session {
            name: name.clone(),
            status: "STOPPED".into(),
            config: req.config.unwrap_or_default(),
            paired,
            qr_since_ms: now_ms(),
        };
        state.sessions.insert(name.clone(), session);
        if start {
            started(&mut state, &name);
        }
        session_json(&state.sessions[&name])
    };
    if start {
        announce(&sim, &name);
    }
    (StatusCode::CREATED, Json(body)).into_response()
}

pub(super) async fn update_session(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(req): Json<CreateSession>,
) -> Response {
    if !sim.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let mut state = sim.state.lock().expect("sim state");
    let session = state
        .sessions
        .entry(name.clone())
        .or_insert_with(|| Session {
            name,
            status: "WORKING".into(),
            config: SessionConfig::default(),
            paired: true,
            qr_since_ms: now_ms(),
        });
    // PUT replaces the whole config, as WAHA does.
    session.config = req.config.unwrap_or_default();
    Json(session_json(session)).into_response()
}

pub(super) async fn get_session(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if !sim.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let state = sim.state.lock().expect("sim state");
    match state.sessions.get(&name) {
        Some(s) => Json(session_json(s)).into_response(),
        None => problem(StatusCode::NOT_FOUND, "Session not found"),
    }
}

pub(super) async fn list_sessions(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
) -> Response {
    if !sim.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let state = sim.state.lock().expect("sim state");
    Json(
        state
            .sessions
            .values()
            .map(session_json)
            .collect::<Vec<_>>(),
    )
    .into_response()
}
