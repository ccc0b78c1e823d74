//! Connecting WhatsApp from the API: start a WAHA session with Ventros's webhook, scan its QR code
//! (or ask for a pairing code), watch its status arrive by `session.status` webhooks, log out and
//! re-pair; only admins, only their tenant's channels.

use base64::Engine;

use super::*;
use crate::support::{HMAC_KEY, WAHA_KEY};

async fn channel_status(app: &TestApp, id: &str) -> String {
    let (_, channel) = app.get(&format!("/api/v1/channels/{id}")).await;
    channel["status"].as_str().unwrap_or_default().to_owned()
}

async fn reported(app: &TestApp, id: &str, status: &str) {
    eventually(&format!("the channel {status}"), WAIT, || async {
        (channel_status(app, id).await == status).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_admin_pairs_whatsapp_by_qr_code_and_re_pairs_after_logout() {
    let app = TestApp::spawn(quiet_settings()).await;
    app.sim.require_pairing(true);
    let (status, channel) = app
        .post("/api/v1/channels", json!({"name": "Loja 2", "kind": "waha",
              "provider_config": {"base_url": app.sim_url, "api_key": WAHA_KEY, "session": "loja2", "hmac_key": HMAC_KEY}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let id = channel["id"].as_str().unwrap().to_owned();
    let path = |action: &str| format!("/api/v1/channels/{id}/whatsapp/{action}");

    // Nothing to scan before the session exists; only admins of this tenant may start it.
    let (status, problem) = app.get(&path("qr")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let agent = create_user(&app, "agent@example.com", "agent").await;
    let (status, _) = app.call(Method::POST, &path("start"), &agent, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let (status, _) = app
        .call(Method::POST, &path("start"), &other.secret, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Started: WAHA waits for a phone, and says so by webhook (the web app watches the channel).
    let (status, session) = app.post(&path("start"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["status"], "SCAN_QR_CODE");
    reported(&app, &id, "SCAN_QR_CODE").await;
    assert!(
        app.outbox()
            .await
            .iter()
            .any(|(t, p)| t == "channel.status_changed" && p["status"] == "SCAN_QR_CODE")
    );
    let (status, qr) = app.get(&path("qr")).await;
    assert_eq!(status, StatusCode::OK, "{qr}");
    let data = qr["data_url"]
        .as_str()
        .unwrap()
        .strip_prefix("data:image/png;base64,")
        .expect("a PNG data URL");
    let png = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (status, _) = app
        .post(
            &path("pairing-code"),
            json!({"phone_number": "not a phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, code) = app
        .post(
            &path("pairing-code"),
            json!({"phone_number": "+55 11 98888-0001"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{code}");
    let code = code["code"].as_str().unwrap();
    assert!(code.len() == 9 && code.as_bytes()[4] == b'-', "{code}");

    // The phone scans: WORKING, and there is no QR code any more.
    let scan = |session: &'static str| {
        let (http, url) = (app.http.clone(), format!("{}/sim/scan", app.sim_url));
        async move {
            http.post(url)
                .json(&json!({"session": session}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(scan("loja2").await, StatusCode::OK);
    reported(&app, &id, "WORKING").await;
    let (_, live) = app.get(&format!("/api/v1/channels/{id}/session")).await;
    assert_eq!(live["provider"]["status"], "WORKING", "{live}");
    let (status, _) = app.get(&path("qr")).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Logged out: WAHA waits for a new phone; stopped and started again, it still does.
    let (status, session) = app.post(&path("logout"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    reported(&app, &id, "SCAN_QR_CODE").await;
    let (_, session) = app.post(&path("stop"), json!({})).await;
    assert_eq!(session["status"], "STOPPED");
    reported(&app, &id, "STOPPED").await;
    let (_, session) = app.post(&path("start"), json!({})).await;
    assert_eq!(session["status"], "SCAN_QR_CODE", "{session}");
    assert_eq!(scan("loja2").await, StatusCode::OK);
    reported(&app, &id, "WORKING").await;
    let (_, session) = app.post(&path("restart"), json!({})).await;
    assert_eq!(session["status"], "WORKING", "a linked phone stays linked");
    // The webhook WAHA calls is Ventros's own, signed with the channel's key.
    let (_, sessions) = app
        .http
        .get(format!("{}/api/sessions/loja2", app.sim_url))
        .header("X-Api-Key", WAHA_KEY)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .map(|v| (0, v))
        .unwrap();
    let hook = &sessions["config"]["webhooks"][0];
    assert_eq!(hook["url"], format!("{}/webhooks/waha/{id}", app.api));
    assert_eq!(hook["hmac"]["key"], HMAC_KEY);
}
