//! The contact merge workflow: interrupted by a worker kill, it completes and moves everything once.

use super::*;

#[tokio::test]
async fn a_merge_interrupted_by_a_worker_kill_completes_and_moves_everything_once() {
    let mut app = TestApp::spawn(quiet_settings()).await;
    app.customer_writes("5511999990141@c.us", text("Oi, sou a Eva"), 1, false)
        .await;
    app.customer_writes(
        "5511999990142@c.us",
        text("Oi de novo, outro número"),
        1,
        false,
    )
    .await;
    let contacts: Vec<String> = eventually("two contacts", WAIT, || async {
        let (_, list) = app.get("/api/v1/contacts?sort=created_at").await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 2).then(|| {
            items
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect()
        })
    })
    .await;
    let (keep, fold) = (&contacts[0], &contacts[1]);
    eventually("both conversations' messages", WAIT, || async {
        (app.count("messages").await == 2).then_some(())
    })
    .await;
    let (status, deal) = app
        .post(
            "/api/v1/deals",
            json!({"contact_id": fold, "title": "Plano anual"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    app.post(
        &format!("/api/v1/contacts/{fold}/tags"),
        json!({"tag": "second-number"}),
    )
    .await;
    // Let the memory feed finish with both contacts (messages, deal, tag), so their memories and
    // graphs are there to move.
    let fold_uuid = Uuid::parse_str(fold).unwrap();
    eventually("the folded contact's memory episodes", WAIT, || async {
        let episodes: i64 = sqlx::query_scalar("SELECT count(*) FROM memory_episodes WHERE contact_id = $1 AND ingested_at IS NOT NULL")
            .bind(fold_uuid)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (episodes >= 3).then_some(())
    })
    .await;

    // The preview says what the merge will move and the contact that will remain, and changes
    // nothing; it is checked against what the merge then really did (below).
    app.post(
        &format!("/api/v1/contacts/{keep}/tags"),
        json!({"tag": "first-number"}),
    )
    .await;
    let (status, preview) = app
        .get(&format!(
            "/api/v1/contacts/{keep}/merge-preview?merge_contact_id={fold}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(
        app.count("contact_merges").await,
        0,
        "a preview merges nothing"
    );
    assert_eq!(
        preview["result"]["tags"],
        json!(["first-number", "second-number"])
    );
    let (status, problem) = app
        .get(&format!(
            "/api/v1/contacts/{keep}/merge-preview?merge_contact_id={keep}"
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = app
        .get(&format!(
            "/api/v1/contacts/{keep}/merge-preview?merge_contact_id={}",
            Uuid::now_v7()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, problem) = app
        .get(&format!(
            "/api/v1/contacts/{keep}/merge-preview?merge_contact_id=nope"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (_, viewer) = app
        .post(
            "/api/v1/api-keys",
            json!({"name": "viewer", "role": "viewer"}),
        )
        .await;
    let (status, problem) = app
        .get_as(
            &format!("/api/v1/contacts/{keep}/merge-preview?merge_contact_id={fold}"),
            viewer["api_key"].as_str().unwrap(),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "viewers do not merge: {problem}"
    );

    let (status, merge) = app
        .post(
            &format!("/api/v1/contacts/{keep}/merge"),
            json!({"merge_contact_id": fold}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{merge}");
    app.kill_worker();
    let merge_id = merge["id"].as_str().unwrap().to_owned();
    // Repeating the request while it runs is the same merge; another merge of these contacts waits.
    let (status, again) = app
        .post(
            &format!("/api/v1/contacts/{keep}/merge"),
            json!({"merge_contact_id": fold}),
        )
        .await;
    assert_eq!(
        (status, &again["id"]),
        (StatusCode::ACCEPTED, &merge["id"]),
        "{again}"
    );
    let (status, third) = app
        .post("/api/v1/contacts", json!({"display_name": "Third"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = app
        .post(
            &format!("/api/v1/contacts/{}/merge", third["id"].as_str().unwrap()),
            json!({"merge_contact_id": fold}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    app.start_worker();

    let done = eventually("the merge to complete", WAIT, || async {
        let (_, merge) = app.get(&format!("/api/v1/contact-merges/{merge_id}")).await;
        (merge["status"] == "completed").then_some(merge)
    })
    .await;
    assert_eq!(done["moved"]["identities"], 1);
    assert_eq!(
        done["moved"]["conversations"], 2,
        "one session and its message: {}",
        done["moved"]
    );
    assert_eq!(done["moved"]["deals"], 1);
    let moves = &preview["moves"];
    assert_eq!(moves["identities"], done["moved"]["identities"]);
    assert_eq!(
        moves["conversations"].as_i64().unwrap() + moves["messages"].as_i64().unwrap(),
        done["moved"]["conversations"].as_i64().unwrap(),
        "sessions and messages (no agent runs here): {moves}"
    );
    assert_eq!(
        moves["deals"].as_i64().unwrap()
            + moves["tickets"].as_i64().unwrap()
            + moves["tasks"].as_i64().unwrap(),
        done["moved"]["deals"].as_i64().unwrap()
    );
    assert!(moves["memories"].as_i64().unwrap() >= 1, "{moves}");
    let fold_rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM contact_identities WHERE contact_id = $1) + (SELECT count(*) FROM conversation_sessions WHERE contact_id = $1)
              + (SELECT count(*) FROM messages WHERE contact_id = $1) + (SELECT count(*) FROM deals WHERE contact_id = $1)",
    )
    .bind(Uuid::parse_str(fold).unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(fold_rows, 0);
    let fold_memory: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM memory_episodes WHERE contact_id = $1) + (SELECT count(*) FROM memories WHERE contact_id = $1)
              + (SELECT count(*) FROM memory_facts WHERE contact_id = $1) + (SELECT count(*) FROM memory_entities WHERE contact_id = $1)",
    )
    .bind(fold_uuid)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(fold_memory, 0, "memories and the graph moved too");
    assert!(
        done["moved"]["memories"].as_u64().unwrap() >= 3,
        "{}",
        done["moved"]
    );
    let (status, facts) = app.get(&format!("/api/v1/contacts/{keep}/graph")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        facts["facts"].to_string().contains("second-number"),
        "the folded contact's tag fact is in the kept graph: {facts}"
    );
    let (_, kept) = app.get(&format!("/api/v1/contacts/{keep}")).await;
    assert_eq!(kept["identities"].as_array().unwrap().len(), 2);
    assert_eq!(kept["conversations"].as_array().unwrap().len(), 2);
    assert_eq!(kept["deals"][0]["title"], "Plano anual");
    assert_eq!(
        kept["tags"], preview["result"]["tags"],
        "as the preview said"
    );
    assert_eq!(
        kept["custom_attributes"],
        preview["result"]["custom_attributes"]
    );
    let (_, folded) = app.get(&format!("/api/v1/contacts/{fold}")).await;
    assert_eq!(folded["merged_into"], json!(keep));
    let (_, list) = app.get("/api/v1/contacts").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "merged contacts leave the list (the kept one and Third remain)"
    );
    // The list says when each last talked: the kept contact did, Third never.
    let listed = |name: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["display_name"] == name)
            .cloned()
            .unwrap()
    };
    assert!(listed("Third")["last_activity_at"].is_null());
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == json!(keep) && c["last_activity_at"].is_string()),
        "{list}"
    );
    assert_eq!(
        app.count("outbox_events WHERE event_type = 'contact.merged'")
            .await,
        1
    );
    // The next message on the folded number lands on the surviving contact.
    app.customer_writes("5511999990142@c.us", text("Ainda aqui"), 1, false)
        .await;
    eventually("the third message", WAIT, || async {
        (app.count("messages").await == 3).then_some(())
    })
    .await;
    let on_keep: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE contact_id = $1")
        .bind(Uuid::parse_str(keep).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(on_keep, 3);
    // An event about the folded contact that reaches memory only after the merge (queued before
    // it) lands in the survivor's memory, not on the tombstone.
    let late: i64 = sqlx::query_scalar(
        "INSERT INTO outbox_events (tenant_id, event_type, aggregate_type, aggregate_id, payload)
         VALUES ($1, 'contact.tagged', 'contact', $2, jsonb_build_object('contact_id', $2, 'tag', 'late-tag')) RETURNING id",
    )
    .bind(app.tenant_id)
    .bind(fold_uuid)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let owner: Uuid = eventually("the late event's episode", WAIT, || async {
        sqlx::query_scalar("SELECT contact_id FROM memory_episodes WHERE source_type = 'outbox' AND source_id = $1 AND ingested_at IS NOT NULL")
            .bind(late.to_string())
            .fetch_optional(&app.pool)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(owner.to_string(), *keep);
    app.record_history(
        done["workflow_id"].as_str().unwrap(),
        "contact-merge-after-kill",
    )
    .await;
}
