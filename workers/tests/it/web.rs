//! The web app in a real browser: `web/e2e/run.mjs` drives Debian's Chromium (playwright-core)
//! against this test's stack — the API serving the built app (`web/dist`), Temporal, PostgreSQL,
//! the worker, the agent service and the WAHA simulator. The scenarios and their assertions are in
//! the script; this test prepares the tenant (users, a deal, a segment) and requires it to pass.
//! Screenshots of each main page land in `web/e2e/artifacts/`.

use std::path::PathBuf;
use std::time::Duration;

use crate::support;
use crate::support::TestApp;
use reqwest::StatusCode;
use serde_json::json;

const PASSWORD: &str = "correct-horse-battery";

#[tokio::test]
async fn the_web_app_in_a_real_browser() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let web = root.join("web");
    let dist = web.join("dist");
    assert!(
        dist.join("index.html").is_file(),
        "build the web app first: cd web && npm ci && npm run build (scripts/test.sh does)"
    );

    let memory = format!("127.0.0.1:{}", support::free_port());
    let agents = support::AgentService::start(&memory).await;
    let app = TestApp::builder()
        .settings(json!({"debounce_ms": 0}))
        .agents(&agents.address, &memory)
        .web_dir(dist)
        .spawn()
        .await;

    // The SPA is served at / and for its own paths; API paths stay API.
    let index = app
        .http
        .get(format!("{}/inbox/123", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert!(index.text().await.unwrap().contains("<div id=\"root\">"));
    let (status, _) = app.get("/api/v1/no-such-route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for (email, role) in [
        ("agent@web.test", "agent"),
        ("viewer@web.test", "viewer"),
        ("admin@web.test", "admin"),
    ] {
        let (status, user) = app
            .post(
                "/api/v1/users",
                json!({"email": email, "name": role, "role": role, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
    }
    let (status, daniel) = app
        .post("/api/v1/contacts", json!({"display_name": "Deal Daniel"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{daniel}");
    let (status, deal) = app
        .post(
            "/api/v1/deals",
            json!({"contact_id": daniel["id"], "title": "Annual plan"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    let (status, carla) = app
        .post(
            "/api/v1/contacts",
            json!({"display_name": "Campaign Carla", "tags": ["sabado"],
                   "identities": [{"channel_id": app.channel_id, "kind": "wa_user", "external_id": "5511933332222@c.us"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{carla}");
    let (status, segment) = app
        .post(
            "/api/v1/segments",
            json!({"name": "Saturday", "filter": {"tags_all": ["sabado"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{segment}");

    let output = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new("node")
            .arg("e2e/run.mjs")
            .current_dir(&web)
            .env("VENTROS_URL", &app.api)
            .env("SIM_URL", &app.sim_url)
            .env("AGENT_EMAIL", "agent@web.test")
            .env("VIEWER_EMAIL", "viewer@web.test")
            .env("ADMIN_EMAIL", "admin@web.test")
            .env("PASSWORD", PASSWORD)
            .env("API_KEY", &app.api_key)
            .env("WAHA_KEY", crate::support::WAHA_KEY)
            .env("DEAL_ID", deal["id"].as_str().unwrap())
            .env("ARTIFACTS", web.join("e2e/artifacts"))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser tests finish within 10 minutes")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "browser tests failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all 26 steps passed"), "{stdout}");
    for page in [
        "inbox",
        "conversation",
        "pipelines",
        "contact",
        "sending-protection",
        "knowledge",
        "campaign",
        "dashboard",
        "inbox-phone",
        "login-pt-BR",
        "channel-settings-pt-BR",
        "settings-users-pt-BR",
        "settings-api-keys-pt-BR",
        "settings-webhooks-pt-BR",
        "settings-pipelines",
        "phone-settings-users-pt-BR",
        "channel-messenger",
        "segment-builder",
        "settings-viewer-pt-BR",
        "merge-preview-pt-BR",
        "invite-pt-BR",
    ] {
        assert!(
            web.join(format!("e2e/artifacts/{page}.png")).is_file(),
            "screenshot {page}"
        );
    }
    // Every page in both languages, as the issue asks for its screenshots.
    for page in [
        "inbox",
        "tickets",
        "contacts",
        "contact",
        "pipelines",
        "campaigns",
        "campaign-new",
        "campaign",
        "knowledge",
        "quick-replies",
        "channels",
        "dashboard",
        "settings-profile",
        "settings-users",
        "settings-segments",
        "settings-api-keys",
        "settings-pipelines",
        "settings-webhooks",
    ] {
        for language in ["en", "pt-BR"] {
            assert!(
                web.join(format!("e2e/artifacts/page-{page}-{language}.png"))
                    .is_file(),
                "screenshot of {page} in {language}"
            );
        }
    }
}
