//! The operator reply: retried with the same idempotency key, it is sent once.

use super::*;

#[tokio::test]
async fn an_operator_reply_retried_with_the_same_idempotency_key_is_sent_once() {
    let app = TestApp::spawn(quiet_settings()).await;
    let chat = "5511999990121@c.us";
    app.customer_writes(chat, text("Preciso de ajuda"), 1, false)
        .await;
    let conversation = eventually("a conversation", WAIT, || async {
        let (_, list) = app.get("/api/v1/conversations").await;
        list["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    let path = format!(
        "{}/api/v1/conversations/{}/messages",
        app.api,
        conversation["id"].as_str().unwrap()
    );
    let send = |key: &'static str, text: &'static str| {
        let (http, path, token) = (app.http.clone(), path.clone(), app.api_key.clone());
        async move {
            let resp = http
                .post(path)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&json!({"text": text}))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    // Three concurrent retries of one request, then a late one.
    let (a, b, c) = tokio::join!(
        send("reply-1", "Claro, já vejo."),
        send("reply-1", "Claro, já vejo."),
        send("reply-1", "Claro, já vejo.")
    );
    let late = send("reply-1", "Claro, já vejo.").await;
    let ids: Vec<&Value> = [&a, &b, &c, &late]
        .iter()
        .map(|(status, body)| {
            assert!(
                *status == StatusCode::ACCEPTED || *status == StatusCode::CONFLICT,
                "{status} {body}"
            );
            &body["message_id"]
        })
        .collect();
    let accepted: Vec<&Value> = ids.into_iter().filter(|id| id.is_string()).collect();
    assert!(
        !accepted.is_empty() && accepted.iter().all(|id| *id == accepted[0]),
        "one message id for one key: {accepted:?}"
    );
    // The same key for a different request is refused.
    let (status, problem) = send("reply-1", "Outra coisa").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    let outbound = app.wait_outbound(1, "read", WAIT).await;
    assert_eq!(app.sent_to(chat), vec!["Claro, já vejo.".to_owned()]);
    assert_eq!(json!(outbound[0].0), *accepted[0]);
    let (_, message) = app
        .get(&format!("/api/v1/messages/{}", outbound[0].0))
        .await;
    assert_eq!(message["origin"], "operator");
    assert!(
        message["workflow"]["url"]
            .as_str()
            .unwrap()
            .contains("/namespaces/default/workflows/message:"),
        "{}",
        message["workflow"]
    );
    // A retry after the send finished still answers with the same message and sends nothing.
    let (status, again) = send("reply-1", "Claro, já vejo.").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["message_id"], *accepted[0]);
    assert_eq!(app.sim.sent().len(), 1);

    // Assigning to a user is a takeover in that user's name, visible in the live state.
    let conversation_id = conversation["id"].as_str().unwrap();
    let (status, user) = app
        .post("/api/v1/users", json!({"email": "op@example.com", "name": "Operator", "role": "agent", "password": "correct horse battery"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, assigned) = app
        .post(
            &format!("/api/v1/conversations/{conversation_id}/assign"),
            json!({"user_id": user["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(assigned["state"]["assignment"], "human", "{assigned}");
    let (_, mine) = app
        .get(&format!(
            "/api/v1/conversations?assignee={}",
            user["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{conversation_id}/assign"),
            json!({"user_id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.record_history(
        message["workflow_id"].as_str().unwrap(),
        "outbound-operator-reply",
    )
    .await;
}
