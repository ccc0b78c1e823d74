//! Files in conversations, end to end: a customer's photo, voice note, document, location and
//! contact card go from WAHA's webhook through the Conversation's fetch activity into object
//! storage and come back through the API's signed links (a voice note's words, from a stand-in
//! speech-to-text service, reach memory); an operator's document goes out through WAHA's sendFile
//! with its ticks; bad uploads and other tenants' files are refused and change nothing.

use base64::Engine;

use super::*;

/// A 1×1 PNG.
const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
const WORDS: &str = "quero trocar o tamanho do tênis";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(PNG_B64)
        .unwrap()
}

/// The start of an Ogg Opus stream (what WhatsApp voice notes are).
fn opus() -> Vec<u8> {
    let mut bytes = b"OggS\0\x02".to_vec();
    bytes.resize(28, 0);
    bytes.extend_from_slice(b"OpusHead\x01\x01\x38\x01\x80\xbb\0\0\0\0\0");
    bytes.resize(200, 7);
    bytes
}

/// An OpenAI-compatible speech-to-text stand-in: checks the multipart request as the hosted
/// services document it (`model`, `file`) and answers `{"text": …}`.
async fn transcription_standin(words: &'static str) -> (String, Arc<Mutex<Vec<usize>>>) {
    use axum::extract::Multipart;
    let seen: Arc<Mutex<Vec<usize>>> = Arc::default();
    let log = seen.clone();
    let router = axum::Router::new().route(
        "/v1/audio/transcriptions",
        axum::routing::post(move |headers: HeaderMap, mut form: Multipart| {
            let log = log.clone();
            async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok())
                    != Some("Bearer stt-key")
                {
                    return (
                        StatusCode::UNAUTHORIZED,
                        axum::Json(json!({"error": "bad key"})),
                    );
                }
                let (mut model, mut size) = (None, None);
                while let Ok(Some(field)) = form.next_field().await {
                    match field.name() {
                        Some("model") => model = field.text().await.ok(),
                        Some("file") => size = field.bytes().await.ok().map(|b| b.len()),
                        _ => {}
                    }
                }
                match (model.as_deref(), size) {
                    (Some("whisper-test"), Some(size)) if size > 0 => {
                        log.lock().unwrap().push(size);
                        (StatusCode::OK, axum::Json(json!({"text": words})))
                    }
                    _ => (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({"error": "model and file are required"})),
                    ),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

/// Restarts the app's worker with the stand-in as its speech-to-text service.
async fn with_transcription(app: &mut TestApp, words: &'static str) -> Arc<Mutex<Vec<usize>>> {
    let (stt, transcribed) = transcription_standin(words).await;
    app.kill_worker();
    app.worker_env.extend([
        ("TRANSCRIPTION_BASE_URL".to_owned(), stt),
        ("TRANSCRIPTION_API_KEY".to_owned(), "stt-key".to_owned()),
        ("TRANSCRIPTION_MODEL".to_owned(), "whisper-test".to_owned()),
    ]);
    app.start_worker();
    transcribed
}

/// The conversation's messages, oldest first.
async fn thread(app: &TestApp) -> Vec<Value> {
    let (_, list) = app.get("/api/v1/conversations").await;
    let Some(id) = list["items"][0]["id"].as_str() else {
        return Vec::new();
    };
    let (status, page) = app
        .get(&format!("/api/v1/conversations/{id}/messages?sort=at"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn fetch(app: &TestApp, url: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let resp = app
        .http
        .get(format!("{}{url}", app.api))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_customers_files_location_and_card_are_stored_shown_and_a_voice_note_is_heard() {
    let mut app = TestApp::spawn(quiet_settings()).await;
    let transcribed = with_transcription(&mut app, WORDS).await;
    let chat = "5511988887777@c.us";
    app.customer_writes(
        chat,
        json!([
            {"body": "Olha o tênis", "media": {"mimetype": "image/jpeg", "data": PNG_B64}},
            {"media": {"mimetype": "audio/ogg; codecs=opus", "data": b64(&opus()), "voice": true}},
            {"body": "", "media": {"mimetype": "application/pdf", "filename": "../nota fiscal.pdf", "data": b64(PDF)}},
            {"location": {"latitude": "-23.5614", "longitude": -46.6559, "description": "Loja Paulista"}},
            {"vcards": ["BEGIN:VCARD\nVERSION:3.0\nFN:Ana Souza\nTEL;type=CELL:+55 11 99999-0000\nEND:VCARD"]},
            {"media": {"mimetype": "video/mp4", "data": b64(b"x"), "not_downloaded": true}},
        ]),
        1,
        false,
    )
    .await;

    let messages = eventually("every attachment settled", WAIT, || async {
        let messages = thread(&app).await;
        let settled = messages.len() == 6
            && messages.iter().all(|m| {
                m["attachments"]
                    .as_array()
                    .is_some_and(|a| a.len() == 1 && a[0]["status"] != "pending")
            });
        settled.then_some(messages)
    })
    .await;
    let file = |i: usize| messages[i]["attachments"][0].clone();
    app.record_history(
        app.only_conversation().await["workflow_id"]
            .as_str()
            .unwrap(),
        "conversation-inbound-media",
    )
    .await;

    // The photo: declared JPEG, really PNG; the bytes decide. Served by its signed link only.
    let photo = file(0);
    assert_eq!(
        (photo["kind"].as_str(), photo["status"].as_str()),
        (Some("image"), Some("stored")),
        "{photo}"
    );
    assert_eq!(photo["content_type"], "image/png");
    assert_eq!(photo["size_bytes"], png().len());
    assert_eq!(messages[0]["body"], "Olha o tênis");
    let url = photo["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/media/"), "{url}");
    let (status, headers, bytes) = fetch(&app, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, png());
    assert_eq!(headers["content-type"], "image/png");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    // A link altered in any part opens nothing.
    let sig_at = url.find("sig=").unwrap() + 4;
    let mut forged = url.clone();
    forged.replace_range(
        sig_at..sig_at + 1,
        if &url[sig_at..sig_at + 1] == "0" {
            "1"
        } else {
            "0"
        },
    );
    let other_tenant = url.replace(&app.tenant_id.to_string(), &Uuid::new_v4().to_string());
    let expires_at = url.find("expires=").unwrap() + 8;
    let mut later = url.clone();
    later.replace_range(expires_at..expires_at + 1, "9");
    for bad in [
        forged,
        other_tenant,
        later,
        url.split('?').next().unwrap().to_owned(),
    ] {
        let (status, _, body) = fetch(&app, &bad).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
        assert!(!body.starts_with(&png()[..8]));
    }

    // The voice note: kept, playable, and its words transcribed into the thread and memory.
    let voice = file(1);
    assert_eq!(voice["kind"], "voice", "{voice}");
    assert!(
        voice["content_type"]
            .as_str()
            .unwrap()
            .starts_with("audio/")
    );
    assert_eq!(voice["transcript"], WORDS);
    assert_eq!(
        transcribed.lock().unwrap().len(),
        1,
        "one transcription, not one per retry"
    );

    // The document keeps its name (without the path); a PDF is shown inline.
    let doc = file(2);
    assert_eq!(
        (doc["kind"].as_str(), doc["filename"].as_str()),
        (Some("document"), Some("nota fiscal.pdf"))
    );
    assert_eq!(doc["content_type"], "application/pdf");
    let (_, _, bytes) = fetch(&app, doc["url"].as_str().unwrap()).await;
    assert_eq!(bytes, PDF);

    // A location and a contact card need no file.
    let place = file(3);
    assert_eq!(place["kind"], "location");
    assert_eq!(place["details"]["latitude"], json!(-23.5614));
    assert_eq!(place["details"]["name"], "Loja Paulista");
    assert!(place["url"].is_null());
    let card = file(4);
    assert_eq!(card["kind"], "contact");
    assert_eq!(card["details"]["name"], "Ana Souza");
    assert_eq!(card["details"]["phones"], json!(["+55 11 99999-0000"]));

    // A file WAHA did not download is failed with the reason, and nothing else is held up.
    let missing = file(5);
    assert_eq!(missing["status"], "failed");
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .contains("did not make this file available")
    );

    // The API's view of one file, and the same file is not another tenant's.
    let (status, shown) = app
        .get(&format!("/api/v1/media/{}", photo["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["content_type"], "image/png");
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/media/{}", photo["id"].as_str().unwrap()),
            &other.secret,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Each message with files to fetch is announced once when they settle (the video WAHA never
    // had was failed on arrival, with nothing to wait for); the words reach memory.
    let announced = || async {
        app.outbox()
            .await
            .iter()
            .filter(|(t, _)| t == "message.media_stored")
            .count()
    };
    // (A file is shown stored a moment before its message's announcement commits.)
    eventually("photo, voice note and document announced", WAIT, || async {
        (announced().await >= 3).then_some(())
    })
    .await;
    eventually("the voice note's words in memory", WAIT, || async {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT content FROM memory_episodes WHERE tenant_id = $1 AND source_type = 'voice_note'",
        )
        .bind(app.tenant_id)
        .fetch_optional(&app.pool)
        .await
        .unwrap();
        found.filter(|c| c == WORDS)
    })
    .await;
    assert_eq!(announced().await, 3, "each message announced once");
    // Fetched once: the object store holds each file once per tenant, whatever the retries.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT storage_key) FROM media_files WHERE tenant_id = $1 AND status = 'stored' AND storage_key IS NOT NULL",
    )
    .bind(app.tenant_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 3);
}

async fn upload(
    app: &TestApp,
    token: &str,
    bytes: Vec<u8>,
    content_type: &str,
    query: &str,
) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!("{}/api/v1/media{query}", app.api))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn reply(app: &TestApp, conversation: &str, key: &str, body: Value) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!(
            "{}/api/v1/conversations/{conversation}/messages",
            app.api
        ))
        .bearer_auth(&app.api_key)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_operator_sends_a_document_with_a_caption_and_sees_its_ticks_once() {
    let app = TestApp::spawn(quiet_settings()).await;
    let chat = "5511977776666@c.us";
    app.customer_writes(chat, text("Pode mandar o orçamento?"), 1, false)
        .await;
    let conversation = eventually("the conversation", WAIT, || async {
        let (_, list) = app.get("/api/v1/conversations").await;
        list["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await;

    let (status, uploaded) = upload(
        &app,
        &app.api_key,
        PDF.to_vec(),
        "application/pdf",
        "?filename=orçamento.pdf",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(
        (uploaded["kind"].as_str(), uploaded["content_type"].as_str()),
        (Some("document"), Some("application/pdf"))
    );
    assert_eq!(uploaded["filename"], "orçamento.pdf");
    let media_id = uploaded["id"].as_str().unwrap().to_owned();
    let body = json!({"text": "Segue o orçamento", "media_id": media_id});
    let (status, accepted) = reply(&app, &conversation, "doc-1", body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let message_id = accepted["message_id"].as_str().unwrap().to_owned();

    // WAHA's sendFile got the very bytes, with the name and the caption; the ticks follow.
    app.wait_outbound(1, "read", WAIT).await;
    let sent = app.sim.sent();
    assert_eq!(sent.len(), 1);
    let media = sent[0].media.as_ref().expect("a media send");
    assert_eq!(
        (media.endpoint.as_str(), media.mimetype.as_str()),
        ("file", "application/pdf")
    );
    assert_eq!(media.filename.as_deref(), Some("orçamento.pdf"));
    assert_eq!(media.sha256, uploaded["sha256"]);
    assert_eq!(sent[0].body, "Segue o orçamento");
    let messages = thread(&app).await;
    let ours = messages
        .iter()
        .find(|m| m["id"] == message_id.as_str())
        .unwrap();
    assert_eq!(ours["status"], "read");
    assert_eq!(ours["attachments"][0]["id"], media_id.as_str());
    assert_eq!(ours["body"], "Segue o orçamento");

    // A retry is the same message; the same file under a new key is refused (upload it again).
    let (status, again) = reply(&app, &conversation, "doc-1", body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["message_id"], message_id.as_str());
    let (status, problem) =
        reply(&app, &conversation, "doc-2", json!({"media_id": media_id})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");

    // A photo with no caption, as an image.
    let (status, photo) = upload(&app, &app.api_key, png(), "image/png", "").await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    let (status, _) = reply(
        &app,
        &conversation,
        "photo-1",
        json!({"media_id": photo["id"]}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.wait_outbound(2, "read", WAIT).await;
    let sent = app.sim.sent();
    assert_eq!(sent.len(), 2, "nothing was sent twice");
    assert_eq!(sent[1].media.as_ref().unwrap().endpoint, "image");
    assert_eq!(sent[1].body, "");
}

#[tokio::test]
async fn bad_uploads_and_other_tenants_files_get_clear_errors_and_change_nothing() {
    let app = TestApp::spawn(quiet_settings()).await;
    app.customer_writes("5511966665555@c.us", text("Oi"), 1, false)
        .await;
    let conversation = eventually("the conversation", WAIT, || async {
        let (_, list) = app.get("/api/v1/conversations").await;
        list["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let before = (
        app.count("media_files").await,
        app.count("outbound_requests").await,
    );

    let mut huge = png();
    huge.resize(5 * 1024 * 1024 + 1, 0);
    let mut executable = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec();
    executable.resize(512, 0);
    let cases: Vec<(Vec<u8>, &str, &str, StatusCode)> = vec![
        (huge, "image/png", "", StatusCode::PAYLOAD_TOO_LARGE),
        (
            vec![0; 17 * 1024 * 1024],
            "application/pdf",
            "",
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            Vec::new(),
            "image/png",
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>".to_vec(),
            "image/svg+xml",
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            b"<html><script>alert(1)</script></html>".to_vec(),
            "image/png",
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            executable,
            "application/pdf",
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            PDF.to_vec(),
            "application/pdf",
            "?voice=true",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            PDF.to_vec(),
            "application/pdf",
            "?filename=..",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (bytes, content_type, query, expected) in cases {
        let (status, problem) = upload(&app, &app.api_key, bytes, content_type, query).await;
        assert_eq!(status, expected, "{content_type}{query}: {problem}");
    }
    // A viewer cannot upload.
    let viewer = create_user(&app, "viewer@example.com", "viewer").await;
    let (status, _) = upload(&app, &viewer, PDF.to_vec(), "application/pdf", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Another tenant's upload is not found here, to send or to see.
    let (other_tenant, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let (status, theirs) = upload(&app, &other.secret, PDF.to_vec(), "application/pdf", "").await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let their_id = theirs["id"].as_str().unwrap();
    let (status, problem) =
        reply(&app, &conversation, "steal", json!({"media_id": their_id})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, _) = app.get(&format!("/api/v1/media/{their_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Their signed link does not open with our tenant in it.
    let their_url = theirs["url"].as_str().unwrap();
    let (status, _, _) = fetch(
        &app,
        &their_url.replace(&other_tenant.to_string(), &app.tenant_id.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A caption too long, and an unknown file id.
    let (status, _) = reply(
        &app,
        &conversation,
        "long",
        json!({"media_id": their_id, "text": "x".repeat(1025)}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = reply(
        &app,
        &conversation,
        "unknown",
        json!({"media_id": Uuid::new_v4()}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(
        (
            app.count("media_files").await,
            app.count("outbound_requests").await
        ),
        (before.0 + 1, before.1),
        "only the other tenant's upload was stored; no reply was recorded"
    );
    assert!(app.sim.sent().is_empty());
}

/// The agent answers a voice note by its words: they are transcribed before the reply is decided,
/// so a refund asked for out loud is recorded and confirmed like a written one.
#[tokio::test]
async fn the_agent_answers_a_voice_note_from_its_words() {
    let (mut app, _agents) = support::ai_app(
        json!({"debounce_ms": 0, "ai": {"agent_type": "RouterAgent", "confidence_threshold": 0.3}}),
    )
    .await;
    with_transcription(
        &mut app,
        "O produto veio quebrado, quero meu dinheiro de volta",
    )
    .await;
    app.customer_writes(
        "5511999990402@c.us",
        json!([{"media": {"mimetype": "audio/ogg; codecs=opus", "data": b64(&opus()), "voice": true}}]),
        1,
        false,
    )
    .await;
    let sent = app.wait_outbound(1, "read", WAIT).await;
    let body: String = sqlx::query_scalar("SELECT body FROM messages WHERE id = $1")
        .bind(sent[0].0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        body.to_lowercase()
            .contains("registrei o seu pedido de reembolso"),
        "{body}"
    );
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM tickets")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(kinds, ["refund"]);
}

/// An S3-compatible server (moto's standalone server, from the test virtualenv) on a free port.
struct S3Server {
    url: String,
    child: std::process::Child,
}

impl S3Server {
    async fn start(bucket: &str) -> S3Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let python = std::env::var("VENTROS_PYTHON")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python").into());
        let port = support::free_port();
        let child = std::process::Command::new(python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto's S3 server");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        // Creating the bucket is also the readiness check.
        eventually("the S3 server", WAIT, || async {
            let resp = http.put(format!("{url}/{bucket}")).send().await.ok()?;
            resp.status().is_success().then_some(())
        })
        .await;
        S3Server { url, child }
    }

    async fn keys(&self, bucket: &str) -> Vec<String> {
        let xml = reqwest::get(format!("{}/{bucket}?list-type=2", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // ListObjectsV2: every object is a `<Key>…</Key>` element.
        xml.split("</Key>")
            .filter_map(|part| part.rsplit_once("<Key>"))
            .map(|(_, key)| key.to_owned())
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// With `MEDIA_STORE_URL=s3://…` (and the standard AWS variables) the worker keeps customers'
/// files in the bucket and reads operators' files from it; the API serves and stores through it.
#[tokio::test]
async fn files_live_in_an_s3_compatible_store_when_configured() {
    let s3 = S3Server::start("ventros-media").await;
    let endpoint = s3.url.clone();
    let app = TestApp::builder()
        .settings(quiet_settings())
        .api_config(move |config| {
            config.media_store = ventros_media::MediaStore::from_url_with(
                "s3://ventros-media/files",
                &[
                    ("aws_endpoint", &endpoint),
                    ("aws_allow_http", "true"),
                    ("aws_access_key_id", "test"),
                    ("aws_secret_access_key", "test"),
                    ("aws_region", "us-east-1"),
                ],
            )
            .unwrap();
        })
        .worker_env("MEDIA_STORE_URL", "s3://ventros-media/files")
        .worker_env("AWS_ENDPOINT", &s3.url)
        .worker_env("AWS_ALLOW_HTTP", "true")
        .worker_env("AWS_ACCESS_KEY_ID", "test")
        .worker_env("AWS_SECRET_ACCESS_KEY", "test")
        .worker_env("AWS_REGION", "us-east-1")
        .spawn()
        .await;
    app.customer_writes(
        "5511955550001@c.us",
        json!([{"body": "Foto", "media": {"mimetype": "image/png", "data": PNG_B64}}]),
        1,
        false,
    )
    .await;
    let photo = eventually("the photo stored", WAIT, || async {
        let messages = thread(&app).await;
        let file = messages.first()?["attachments"][0].clone();
        (file["status"] == "stored").then_some(file)
    })
    .await;
    let (status, _, bytes) = fetch(&app, photo["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, png());

    let conversation = app.only_conversation().await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, uploaded) = upload(
        &app,
        &app.api_key,
        PDF.to_vec(),
        "application/pdf",
        "?filename=nota.pdf",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let (status, _) = reply(
        &app,
        &conversation,
        "s3-doc",
        json!({"media_id": uploaded["id"]}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.wait_outbound(1, "read", WAIT).await;
    assert_eq!(
        app.sim.sent()[0].media.as_ref().unwrap().sha256,
        uploaded["sha256"]
    );

    // Both files are objects of this tenant in the bucket, and nothing went to the local store.
    let keys = s3.keys("ventros-media").await;
    let prefix = format!("files/{}/", app.tenant_id);
    assert_eq!(
        keys.iter().filter(|k| k.starts_with(&prefix)).count(),
        2,
        "{keys:?}"
    );
    assert!(
        !std::env::temp_dir()
            .join("ventros-media")
            .join(app.tenant_id.to_string())
            .exists()
    );
}
