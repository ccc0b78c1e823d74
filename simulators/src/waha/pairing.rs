//! Linking a phone, as WAHA does it: a started session that is not paired waits in
//! `SCAN_QR_CODE`; `GET /api/{session}/auth/qr` serves the current QR code (a PNG, base64 JSON
//! with `Accept: application/json`, or the raw value with `format=raw`), renewed every 20 s;
//! `POST /api/{session}/auth/request-code` gives a pairing code instead. A test "scans" with
//! `POST /sim/scan`, and the session reports `WORKING`. Start, stop, restart and logout move the
//! session and announce each status with a `session.status` webhook.

use base64::Engine;

use super::*;

/// WAHA renews the code this often while it waits for a scan.
const QR_ROUND_MS: i64 = 20_000;

/// The session starts: working if a phone is linked, otherwise waiting for one.
pub(super) fn started(state: &mut SimState, name: &str) {
    if let Some(s) = state.sessions.get_mut(name) {
        s.status = if s.paired { "WORKING" } else { "SCAN_QR_CODE" }.into();
        s.qr_since_ms = now_ms();
    }
}

/// Tells the session's webhooks its status, as WAHA does on every change (in the background: the
/// API call that caused it answers first). A pre-paired simulator session that just works stays
/// quiet, as the tests written before pairing expect.
pub(super) fn announce(sim: &WahaSimulator, name: &str) {
    let (status, pairing) = {
        let state = sim.state.lock().expect("sim state");
        let Some(s) = state.sessions.get(name) else {
            return;
        };
        (s.status.clone(), state.pairing_required)
    };
    if !pairing {
        return;
    }
    let sim = sim.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        sim.deliver(
            &name,
            "session.status",
            json!({"name": name, "status": status}),
        )
        .await;
    });
}

/// `POST /api/sessions/{session}/{start|stop|restart|logout}`.
pub(super) async fn session_action(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    if !sim.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let apply: fn(&mut SimState, &str) = match action.as_str() {
        "start" | "restart" => started,
        "stop" => stopped,
        "logout" => logged_out,
        _ => return problem(StatusCode::NOT_FOUND, "Cannot POST this path"),
    };
    let body = {
        let mut state = sim.state.lock().expect("sim state");
        if !state.sessions.contains_key(&name) {
            return problem(StatusCode::NOT_FOUND, "Session not found");
        }
        apply(&mut state, &name);
        session_json(&state.sessions[&name])
    };
    announce(&sim, &name);
    Json(body).into_response()
}

fn stopped(state: &mut SimState, name: &str) {
    if let Some(s) = state.sessions.get_mut(name) {
        s.status = "STOPPED".into();
    }
}

fn logged_out(state: &mut SimState, name: &str) {
    if let Some(s) = state.sessions.get_mut(name) {
        s.paired = false;
    }
    // WAHA starts the session again, waiting for a new phone.
    started(state, name);
}

#[derive(Deserialize)]
pub(super) struct QrQuery {
    #[serde(default)]
    format: Option<String>,
}

/// The code of the current round: it changes every [`QR_ROUND_MS`], like WhatsApp's.
fn qr_value(s: &Session) -> String {
    let round = (now_ms() - s.qr_since_ms).max(0) / QR_ROUND_MS;
    format!("2@sim-{}-{round},ventros-simulator", s.name)
}

/// The QR code as a black-on-white PNG with a quiet zone, 4 pixels a module.
fn qr_png(value: &str) -> Vec<u8> {
    let code = qrcode::QrCode::new(value.as_bytes()).expect("a short value fits a QR code");
    let width = code.width();
    let colors = code.to_colors();
    let (scale, quiet) = (4usize, 4usize);
    let side = (width + 2 * quiet) * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = ((i % width + quiet) * scale, (i / width + quiet) * scale);
        for dy in 0..scale {
            let row = (y + dy) * side;
            pixels[row + x..row + x + scale].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("PNG header");
    writer.write_image_data(&pixels).expect("PNG data");
    writer.finish().expect("PNG end");
    out
}

pub(super) async fn auth_qr(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<QrQuery>,
) -> Response {
    if !sim.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let value = {
        let state = sim.state.lock().expect("sim state");
        let Some(s) = state.sessions.get(&name) else {
            return problem(StatusCode::NOT_FOUND, "Session not found");
        };
        if s.status != "SCAN_QR_CODE" {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!(
                    "Can get QR code only in SCAN_QR_CODE status. The current status is '{}'",
                    s.status
                ),
            );
        }
        qr_value(s)
    };
    if query.format.as_deref() == Some("raw") {
        return Json(json!({"value": value})).into_response();
    }
    let png = qr_png(&value);
    let wants_json = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        return Json(json!({"mimetype": "image/png", "data": data})).into_response();
    }
    ([(axum::http::header::CONTENT_TYPE, "image/png")], png).into_response()
}

#[derive(Deserialize)]
pub(super) struct RequestCode {
    #[serde(rename = "phoneNumber")]
    phone_number: String,
}

pub(super) async fn request_code(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(req): Json<RequestCode>,
) -> Response {
    if !sim.authorised(&headers) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let state = sim.state.lock().expect("sim state");
    let Some(s) = state.sessions.get(&name) else {
        return problem(StatusCode::NOT_FOUND, "Session not found");
    };
    if s.status != "SCAN_QR_CODE" {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The session is not waiting for a phone",
        );
    }
    let digits: String = req
        .phone_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if !(8..=15).contains(&digits.len()) {
        return problem(
            StatusCode::BAD_REQUEST,
            "phoneNumber must be a number in international format",
        );
    }
    // Eight characters from WhatsApp's alphabet, shown as two groups of four.
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
    let seed: u64 = digits
        .bytes()
        .fold(7, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let code: String = (0..8)
        .map(|i| ALPHABET[((seed >> (i * 5)) % ALPHABET.len() as u64) as usize] as char)
        .collect();
    Json(json!({"code": format!("{}-{}", &code[..4], &code[4..])})).into_response()
}

#[derive(Deserialize)]
pub(super) struct PairingRequest {
    required: bool,
}

/// `POST /sim/pairing {"required": true}`: sessions created from now on wait for a phone.
pub(super) async fn set_pairing(
    State(sim): State<WahaSimulator>,
    Json(req): Json<PairingRequest>,
) -> Response {
    sim.require_pairing(req.required);
    Json(json!({"required": req.required})).into_response()
}

#[derive(Deserialize)]
pub(super) struct ScanRequest {
    #[serde(default = "default_session_name")]
    session: String,
}

/// `POST /sim/scan`: the phone scanned the code (or entered the pairing code).
pub(super) async fn scan(
    State(sim): State<WahaSimulator>,
    Json(req): Json<ScanRequest>,
) -> Response {
    {
        let mut state = sim.state.lock().expect("sim state");
        let Some(s) = state.sessions.get_mut(&req.session) else {
            return problem(StatusCode::NOT_FOUND, "Session not found");
        };
        if s.status != "SCAN_QR_CODE" {
            return problem(
                StatusCode::CONFLICT,
                "The session is not waiting for a scan",
            );
        }
        s.paired = true;
        s.status = "WORKING".into();
    }
    announce(&sim, &req.session);
    Json(json!({"status": "WORKING"})).into_response()
}

impl WahaSimulator {
    /// Sessions created from now on wait in `SCAN_QR_CODE` until scanned.
    pub fn require_pairing(&self, required: bool) {
        self.state.lock().expect("sim state").pairing_required = required;
    }
}
