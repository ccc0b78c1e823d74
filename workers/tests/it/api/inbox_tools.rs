//! Working faster in the inbox: private notes (never sent, remembered as operator notes, only the
//! team's) and quick replies (variables checked when saved, filled per conversation), through the
//! API on the real worker, with the roles and tenants that must not reach them.

use super::*;

#[tokio::test]
async fn a_private_note_is_never_sent_and_is_remembered_as_an_operator_note() {
    let (app, agents) = support::ai_app(quiet_settings()).await;
    app.customer_writes("5511999990601@c.us", text("Oi, tudo bem?"), 1, false)
        .await;
    let conversation = eventually("the conversation", WAIT, || async {
        let (_, page) = app.get("/api/v1/conversations").await;
        page["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    let id = conversation["id"].as_str().unwrap();
    let notes = format!("/api/v1/conversations/{id}/notes");

    let (status, problem) = app.post(&notes, json!({"body": "   "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let viewer = create_user(&app, "viewer@example.com", "viewer").await;
    let (status, _) = app
        .call(Method::POST, &notes, &viewer, Some(json!({"body": "x"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let (status, _) = app.call(Method::GET, &notes, &other.secret, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::POST,
            &notes,
            &other.secret,
            Some(json!({"body": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("conversation_notes").await, 0, "nothing written");

    let secret = "Cliente prefere entrega depois das 18h, portão azul";
    let (status, note) = app.post(&notes, json!({"body": secret})).await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!(note["conversation_id"], conversation["id"]);
    let (_, listed) = app.call(Method::GET, &notes, &viewer, None).await;
    assert_eq!(listed["items"][0]["body"], secret, "viewers read notes");
    // Remembered for the contact as an operator note, searchable like any memory.
    let contact = conversation["contact_id"].as_str().unwrap();
    let found = eventually("the note remembered", WAIT, || async {
        let (_, hits) = app
            .get(&format!(
                "/api/v1/contacts/{contact}/memories?q=port%C3%A3o+azul&mode=keyword"
            ))
            .await;
        hits["items"].as_array().and_then(|i| {
            i.iter()
                .find(|m| m["memory_type"] == "operator_note")
                .cloned()
        })
    })
    .await;
    assert_eq!(found["content"], secret);
    // Never sent to the customer, and never offered to a webhook.
    assert!(app.sim.sent().iter().all(|m| !m.body.contains("portão")));
    assert!(!ventros_domain::EventType::NoteAdded.subscribable());
    assert!(app.outbox().await.iter().any(|(t, _)| t == "note.added"));
    // The agents never see it, so no reply can quote it to the customer (they saw it before:
    // "Vejo no seu histórico: Cliente prefere entrega…").
    let (status, draft) = app
        .post(
            "/api/v1/agents/draft",
            json!({"contact_id": contact, "message": "Vocês entregam hoje? Onde fica o portão?"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{draft}");
    let text = draft["draft"].as_str().unwrap();
    assert!(
        !text.contains("portão azul") && !text.contains("18h"),
        "{text}"
    );
    drop(agents);
}

#[tokio::test]
async fn quick_replies_are_checked_when_saved_and_filled_per_conversation() {
    let app = TestApp::spawn(quiet_settings()).await;
    app.customer_writes("5511999990602@c.us", text("Oi"), 1, false)
        .await;
    let conversation = eventually("the conversation", WAIT, || async {
        let (_, page) = app.get("/api/v1/conversations").await;
        page["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    for (bad, status) in [
        (
            json!({"shortcut": "oi", "title": "Oi", "body": "Olá {{contact.cpf}}"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"shortcut": "Olá mundo", "title": "Oi", "body": "Olá"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"shortcut": "oi", "title": "", "body": "Olá"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"shortcut": "oi", "title": "Oi", "body": "Olá", "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (got, problem) = app.post("/api/v1/quick-replies", bad.clone()).await;
        assert!(
            got == status || got == StatusCode::BAD_REQUEST,
            "{bad} → {got} {problem}"
        );
    }
    assert_eq!(app.count("quick_replies").await, 0);
    let body = "Olá, {{contact.first_name}}! Aqui é {{ agent.name }} da {{business.name}}. Seu pedido sai hoje.";
    let (status, saved) = app
        .post(
            "/api/v1/quick-replies",
            json!({"shortcut": "/envio", "title": "Pedido sai hoje", "body": body}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["shortcut"], "envio", "the slash is not part of it");
    let (status, _) = app
        .post(
            "/api/v1/quick-replies",
            json!({"shortcut": "envio", "title": "Outro", "body": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let render = format!(
        "/api/v1/quick-replies/{}/render",
        saved["id"].as_str().unwrap()
    );
    // As a user: the agent's name is the user's.
    let agent = create_user(&app, "carla@example.com", "agent").await;
    let (status, rendered) = app
        .call(
            Method::POST,
            &render,
            &agent,
            Some(json!({"conversation_id": conversation["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rendered}");
    let business: String = sqlx::query_scalar("SELECT name FROM tenants WHERE id = $1")
        .bind(app.tenant_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        rendered["text"],
        format!("Olá, Test! Aqui é carla@example.com da {business}. Seu pedido sai hoje.")
    );
    // Another tenant: neither the reply nor the conversation exists.
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let (status, _) = app
        .call(
            Method::POST,
            &render,
            &other.secret,
            Some(json!({"conversation_id": conversation["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = app
        .call(Method::GET, "/api/v1/quick-replies", &other.secret, None)
        .await;
    assert_eq!(theirs["items"], json!([]));
    // Edited and deleted; a viewer can do neither.
    let path = format!("/api/v1/quick-replies/{}", saved["id"].as_str().unwrap());
    let viewer = create_user(&app, "viewer@example.com", "viewer").await;
    let (status, _) = app
        .call(Method::PATCH, &path, &viewer, Some(json!({"title": "x"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, edited) = app
        .call(
            Method::PATCH,
            &path,
            &app.api_key,
            Some(json!({"body": "Até já, {{contact.name}}"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            &app.api_key,
            Some(json!({"body": "{{agent.phone}}"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.call(Method::DELETE, &path, &app.api_key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.call(Method::DELETE, &path, &app.api_key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
