//! WAHA's hidden-id (`@lid`) map: a lid to its phone number and back, as WAHA resolves them.

use super::*;

/// A call to the lid map: counted, then refused without the key or during an outage.
pub(super) fn lid_map<'a>(
    sim: &'a WahaSimulator,
    headers: &HeaderMap,
) -> Result<std::sync::MutexGuard<'a, SimState>, (StatusCode, &'static str)> {
    if !sim.authorised(headers) {
        return Err((StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    let mut state = sim.state.lock().expect("sim state");
    state.counters.lid_calls += 1;
    if state.faults.outage {
        state.counters.rejected_calls += 1;
        return Err((StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"));
    }
    Ok(state)
}

/// `GET /api/{session}/lids/{lid}`: `{"lid", "pn"}`, `pn` null when the account does not know it.
pub(super) async fn lid_to_phone(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    axum::extract::Path((_session, lid)): axum::extract::Path<(String, String)>,
) -> Response {
    let state = match lid_map(&sim, &headers) {
        Ok(state) => state,
        Err((status, reason)) => return problem(status, reason),
    };
    let lid = if lid.contains('@') {
        lid
    } else {
        format!("{lid}@lid")
    };
    let pn = state.lids.get(&lid).cloned();
    Json(json!({"lid": lid, "pn": pn})).into_response()
}

/// `GET /api/{session}/lids/pn/{phoneNumber}`: `{"lid", "pn"}`, `lid` null when unknown.
pub(super) async fn phone_to_lid(
    State(sim): State<WahaSimulator>,
    headers: HeaderMap,
    axum::extract::Path((_session, phone)): axum::extract::Path<(String, String)>,
) -> Response {
    let state = match lid_map(&sim, &headers) {
        Ok(state) => state,
        Err((status, reason)) => return problem(status, reason),
    };
    let phone = if phone.contains('@') {
        phone
    } else {
        format!("{phone}@c.us")
    };
    let lid = state
        .lids
        .iter()
        .find(|(_, pn)| **pn == phone)
        .map(|(lid, _)| lid.clone());
    Json(json!({"lid": lid, "pn": phone})).into_response()
}

#[derive(Deserialize)]
pub(super) struct LidRequest {
    lid: String,
    pn: String,
}

pub(super) async fn add_lid(
    State(sim): State<WahaSimulator>,
    Json(req): Json<LidRequest>,
) -> Response {
    sim.set_lid(&req.lid, &req.pn);
    StatusCode::NO_CONTENT.into_response()
}
