//! Outbound webhooks: signed, and retried until the receiver recovers.

use super::*;

/// What the test receiver saw, and how many more calls it fails.
#[derive(Default)]
struct Receiver {
    calls: Vec<(HeaderMap, Vec<u8>)>,
    failures_left: usize,
}

#[tokio::test]
async fn webhook_deliveries_are_signed_and_retried_until_the_receiver_recovers() {
    let mut app = TestApp::spawn(quiet_settings()).await;
    app.kill_worker();
    app.worker_env.extend([
        ("WEBHOOK_RETRY_INITIAL_MS".into(), "200".into()),
        ("WEBHOOK_RETRY_MAX_MS".into(), "400".into()),
    ]);
    app.start_worker();

    // A receiver that is down (503) for its first two calls.
    let receiver = Arc::new(Mutex::new(Receiver {
        failures_left: 2,
        ..Default::default()
    }));
    let shared = receiver.clone();
    let router = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let shared = shared.clone();
            async move {
                let mut r = shared.lock().unwrap();
                r.calls.push((headers, body.to_vec()));
                if r.failures_left > 0 {
                    r.failures_left -= 1;
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (status, subscription) = app
        .post(
            "/api/v1/webhook-subscriptions",
            json!({"url": url, "event_types": ["contact.created"], "description": "CRM sync"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{subscription}");
    let secret = subscription["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let (status, problem) = app
        .post(
            "/api/v1/webhook-subscriptions",
            json!({"url": "ftp://x", "event_types": ["contact.created"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = app
        .post(
            "/api/v1/webhook-subscriptions",
            json!({"url": url, "event_types": ["contact.exploded"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    let (status, contact) = app
        .post("/api/v1/contacts", json!({"display_name": "Fábio"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let sub_path = format!(
        "/api/v1/webhook-subscriptions/{}/deliveries",
        subscription["id"].as_str().unwrap()
    );
    let delivery = eventually("the delivery to succeed", WAIT, || async {
        let (_, page) = app.get(&sub_path).await;
        page["items"]
            .as_array()
            .and_then(|i| i.first().cloned())
            .filter(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(delivery["attempts"], 3, "{delivery}");
    assert_eq!(delivery["last_status_code"], 204);
    assert!(
        delivery["workflow"]["id"]
            .as_str()
            .unwrap()
            .starts_with("webhook:")
    );

    let calls = std::mem::take(&mut receiver.lock().unwrap().calls);
    assert_eq!(calls.len(), 3);
    let ids: Vec<&str> = calls
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap())
        .collect();
    assert!(
        ids.iter().all(|id| *id == delivery["id"].as_str().unwrap()),
        "one delivery id across retries: {ids:?}"
    );
    for (headers, body) in &calls {
        let timestamp: i64 = headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 120);
        let expected =
            ventros_activities::outbound_webhooks::sign(&secret, ids[0], timestamp, body).unwrap();
        assert_eq!(
            headers["webhook-signature"].to_str().unwrap(),
            expected,
            "valid signature"
        );
        let tampered = ventros_activities::outbound_webhooks::sign(
            &secret,
            ids[0],
            timestamp,
            &[body.as_slice(), b" "].concat(),
        )
        .unwrap();
        assert_ne!(headers["webhook-signature"].to_str().unwrap(), tampered);
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            (event["type"].as_str(), event["data"]["contact_id"].as_str()),
            (Some("contact.created"), contact["id"].as_str())
        );
    }
    // Events the subscription did not ask for are not delivered.
    assert_eq!(app.count("webhook_deliveries").await, 1);
    app.record_history(
        delivery["workflow"]["id"].as_str().unwrap(),
        "webhook-delivery-retried",
    )
    .await;
}
