//! The realtime stream: an inbound message arrives live, and a reconnect resumes where it left.

use super::*;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_stream(app: &TestApp, query: &str) -> Socket {
    let url = format!(
        "{}/api/v1/stream?access_token={}{query}",
        app.api.replacen("http", "ws", 1),
        app.api_key
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket");
    let ready = next_event(&mut socket).await;
    assert_eq!(ready["type"], "stream.ready", "{ready}");
    socket
}

async fn next_event(socket: &mut Socket) -> Value {
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("an event in time")
            .expect("open")
            .expect("frame")
        {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(_) => panic!("stream closed"),
            _ => {}
        }
    }
}

async fn event_of_type(socket: &mut Socket, event_type: &str) -> (Value, Instant) {
    loop {
        let event = next_event(socket).await;
        if event["type"] == event_type {
            return (event, Instant::now());
        }
    }
}

#[tokio::test]
async fn the_stream_pushes_an_inbound_message_live_and_resumes_after_a_reconnect() {
    let app = TestApp::spawn(quiet_settings()).await;
    let mut socket = open_stream(&app, "").await;
    app.customer_writes("5511999990131@c.us", text("Oi, tudo bem?"), 1, false)
        .await;
    // Pushed on the open socket, without asking (how fast is a benchmark's question, not a test's:
    // a busy machine must not fail it).
    let (event, _) = event_of_type(&mut socket, "message.received").await;
    assert!(event["id"].as_i64().unwrap() > 0 && event["aggregate_type"] == "message");
    let last_seen = event["id"].as_i64().unwrap();
    socket.close(None).await.ok();

    // While disconnected: a contact is created and tagged. Reconnecting with the last id seen
    // replays exactly what was missed, in order, then continues live.
    let (status, contact) = app
        .post(
            "/api/v1/contacts",
            json!({"display_name": "Dora", "tags": ["vip"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut socket = open_stream(&app, &format!("&last_event_id={last_seen}")).await;
    let mut missed = Vec::new();
    while !missed.contains(&"contact.tagged".to_owned()) {
        let event = next_event(&mut socket).await;
        assert!(
            event["id"].as_i64().unwrap() > last_seen,
            "nothing already seen comes again: {event}"
        );
        missed.push(event["type"].as_str().unwrap().to_owned());
    }
    assert!(
        missed.ends_with(&[
            "contact.created".to_owned(),
            "contact.updated".to_owned(),
            "contact.tagged".to_owned()
        ]),
        "{missed:?}"
    );
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/contacts/{}/tags", contact["id"].as_str().unwrap()),
            &app.api_key,
            Some(json!({"tag": "b2b"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (event, _) = event_of_type(&mut socket, "contact.tagged").await;
    assert_eq!(event["data"]["tag"], "b2b");

    // Another tenant's stream sees none of it; a bad credential is refused before the upgrade.
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let url = format!(
        "{}/api/v1/stream?access_token={}&last_event_id=0",
        app.api.replacen("http", "ws", 1),
        other.secret
    );
    let (mut foreign, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let ready = next_event(&mut foreign).await;
    assert_eq!(ready["type"], "stream.ready");
    assert_eq!(
        ready["last_event_id"], 0,
        "the other tenant has no events to catch up on"
    );
    let refused = tokio_tungstenite::connect_async(format!(
        "{}/api/v1/stream?access_token=vtr_x_y",
        app.api.replacen("http", "ws", 1)
    ))
    .await;
    assert!(refused.is_err());
    foreign.send(Message::Close(None)).await.ok();

    // A stream ends when its credential is revoked (checked periodically; here every 200 ms).
    let quick = app
        .api()
        .configure(|c| c.stream_reauthenticate_every = Duration::from_millis(200))
        .spawn()
        .await;
    let (status, key) = app
        .post(
            "/api/v1/api-keys",
            json!({"name": "dashboard", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let url = format!(
        "{}/api/v1/stream?access_token={}",
        quick.replacen("http", "ws", 1),
        key["api_key"].as_str().unwrap()
    );
    let (mut revocable, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(next_event(&mut revocable).await["type"], "stream.ready");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap()),
            &app.api_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let closed = loop {
        match tokio::time::timeout(WAIT, revocable.next())
            .await
            .expect("the stream closes in time")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(closed.map(|f| u16::from(f.code)), Some(4001));
}
