//! The CRM records: contacts, deals and pipelines (search, pagination, moves) and segments.

use super::*;

#[tokio::test]
async fn contacts_deals_and_pipelines_support_search_pagination_and_moves() {
    let app = TestApp::spawn(quiet_settings()).await;
    let channel = app.channel_id;
    for (i, name) in ["Ana Souza", "Bruno Lima", "Carla Dias", "Ana Paula"]
        .iter()
        .enumerate()
    {
        let (status, body) = app
            .post(
                "/api/v1/contacts",
                json!({"display_name": name, "tags": if i % 2 == 0 { json!(["vip"]) } else { json!([]) },
                       "custom_attributes": {"plan": if i < 2 { "pro" } else { "free" }},
                       "identities": [{"channel_id": channel, "kind": "wa_user", "external_id": format!("55119888800{i}0@c.us")}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["display_name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&app.get("/api/v1/contacts?q=ana&sort=created_at").await.1),
        ["Ana Souza", "Ana Paula"]
    );
    assert_eq!(
        names(
            &app.get("/api/v1/contacts?phone=%2B55%2011%209888-8001&sort=created_at")
                .await
                .1
        ),
        ["Bruno Lima"]
    );
    assert_eq!(
        names(&app.get("/api/v1/contacts?tag=vip&sort=created_at").await.1),
        ["Ana Souza", "Carla Dias"]
    );
    assert_eq!(
        names(
            &app.get("/api/v1/contacts?attribute=plan:pro&sort=created_at")
                .await
                .1
        ),
        ["Ana Souza", "Bruno Lima"]
    );
    // Cursor pagination walks every contact exactly once.
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/contacts?limit=3&cursor={c}"),
            None => "/api/v1/contacts?limit=3".to_owned(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["Ana Paula", "Carla Dias", "Bruno Lima", "Ana Souza"]);
    for bad in [
        "/api/v1/contacts?sort=name",
        "/api/v1/contacts?limit=0",
        "/api/v1/contacts?cursor=garbage",
        "/api/v1/conversations?status=maybe",
    ] {
        let (status, problem) = app.get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
    }
    // The same address cannot belong to two contacts.
    let (status, _) = app
        .post("/api/v1/contacts", json!({"identities": [{"channel_id": channel, "kind": "wa_user", "external_id": "5511988880000@c.us"}]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Attributes merge, null removes; tags replace.
    let (_, list) = app.get("/api/v1/contacts?q=Bruno").await;
    let bruno = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/contacts/{bruno}"),
            &app.api_key,
            Some(json!({"custom_attributes": {"plan": null, "city": "Recife"}, "tags": ["b2b"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["custom_attributes"], json!({"city": "Recife"}));
    assert_eq!(updated["tags"], json!(["b2b"]));

    // A pipeline of our own; a deal moves across it and each move is an event.
    let (status, pipeline) = app
        .post("/api/v1/pipelines", json!({"name": "Onboarding", "stages": [{"key": "todo", "name": "To do"}, {"key": "doing", "name": "Doing"}, {"key": "won", "name": "Done"}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pipeline}");
    let stage = |i: usize| pipeline["stages"][i]["id"].as_str().unwrap().to_owned();
    let (status, deal) = app
        .post(
            "/api/v1/deals",
            json!({"contact_id": bruno, "title": "Setup", "pipeline_id": pipeline["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    assert_eq!(deal["stage_key"], "todo");
    let deal_id = deal["id"].as_str().unwrap();
    // Its worth: unknown at first, then exact in centavos; a negative amount or a currency that
    // is not an ISO code is refused and changes nothing.
    assert_eq!(
        (deal["value_minor"].clone(), deal["currency"].as_str()),
        (Value::Null, Some("BRL"))
    );
    for bad in [
        json!({"value_minor": -1}),
        json!({"value_minor": 5, "currency": "real"}),
        json!({"value_minor": 1_000_000_000_000_000_i64}),
    ] {
        let (status, problem) = app
            .call(
                Method::PATCH,
                &format!("/api/v1/deals/{deal_id}"),
                &app.api_key,
                Some(bad),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    }
    let (status, valued) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/deals/{deal_id}"),
            &app.api_key,
            Some(json!({"value_minor": 150050, "currency": "USD"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{valued}");
    assert_eq!(
        (valued["value_minor"].as_i64(), valued["currency"].as_str()),
        (Some(150050), Some("USD"))
    );
    let (_, renamed) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/deals/{deal_id}"),
            &app.api_key,
            Some(json!({"title": "Setup inicial"})),
        )
        .await;
    assert_eq!(
        renamed["value_minor"].as_i64(),
        Some(150050),
        "a rename keeps the value"
    );
    let (_, listed) = app
        .get(&format!(
            "/api/v1/deals?pipeline_id={}",
            pipeline["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(listed["items"][0]["value_minor"].as_i64(), Some(150050));
    let (status, moved) = app
        .post(
            &format!("/api/v1/deals/{deal_id}/move"),
            json!({"stage_id": stage(2)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (moved["stage_key"].as_str(), moved["status"].as_str()),
        (Some("won"), Some("won"))
    );
    let (status, moved) = app
        .post(
            &format!("/api/v1/deals/{deal_id}/move"),
            json!({"stage_id": stage(1)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (moved["stage_key"].as_str(), moved["status"].as_str()),
        (Some("doing"), Some("open"))
    );
    let (_, other_pipeline) = app.get("/api/v1/pipelines").await;
    assert_eq!(other_pipeline["items"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .post(
            &format!("/api/v1/deals/{deal_id}/move"),
            json!({"stage_id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let moves: Vec<(String, String)> = sqlx::query_as(
        "SELECT payload->>'from_stage', payload->>'stage' FROM outbox_events WHERE event_type = 'deal.stage_changed' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        moves,
        [
            ("todo".to_owned(), "won".to_owned()),
            ("won".to_owned(), "doing".to_owned())
        ]
    );
    let (_, deals) = app
        .get(&format!(
            "/api/v1/deals?pipeline_id={}&status=open",
            pipeline["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(deals["items"].as_array().unwrap().len(), 1);
    // Stages reorder; a stage or pipeline holding deals cannot be deleted.
    let path = format!(
        "/api/v1/pipelines/{}/stages/{}",
        pipeline["id"].as_str().unwrap(),
        stage(2)
    );
    let (status, reordered) = app
        .call(
            Method::PATCH,
            &path,
            &app.api_key,
            Some(json!({"position": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reordered}");
    let keys: Vec<&str> = reordered["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["won", "todo", "doing"]);
    let doing = format!(
        "/api/v1/pipelines/{}/stages/{}",
        pipeline["id"].as_str().unwrap(),
        stage(1)
    );
    assert_eq!(
        app.call(Method::DELETE, &doing, &app.api_key, None).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/pipelines/{}", pipeline["id"].as_str().unwrap()),
            &app.api_key,
            None
        )
        .await
        .0,
        StatusCode::CONFLICT
    );

    // The channel's provider session, as the (simulated) WAHA reports it now.
    let (status, session) = app
        .get(&format!("/api/v1/channels/{channel}/session"))
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["provider"]["available"], true, "{session}");
    assert_eq!(session["provider"]["name"], "default");
}

#[tokio::test]
async fn segments_select_by_tags_attributes_stage_activity_and_channel_and_skip_opted_out_contacts()
{
    let app = TestApp::spawn(quiet_settings()).await;
    // One contact who talked (a session, so an identity on the channel and recent activity) …
    app.customer_writes("5511999990161@c.us", text("Oi"), 1, false)
        .await;
    let talker = eventually("the talking contact", WAIT, || async {
        let (_, list) = app.get("/api/v1/contacts").await;
        list["items"]
            .as_array()
            .and_then(|i| i.first())
            .map(|c| c["id"].as_str().unwrap().to_owned())
    })
    .await;
    app.call(
        Method::PATCH,
        &format!("/api/v1/contacts/{talker}"),
        &app.api_key,
        Some(json!({"tags": ["vip"], "custom_attributes": {"plan": "pro"}})),
    )
    .await;
    // … and three created through the API.
    let mut ids = Vec::new();
    for (name, tags, plan) in [
        ("Gil", json!(["vip", "b2b"]), "pro"),
        ("Hana", json!(["b2b"]), "free"),
        ("Ivo", json!([]), "pro"),
    ] {
        let (status, c) = app
            .post(
                "/api/v1/contacts",
                json!({"display_name": name, "tags": tags, "custom_attributes": {"plan": plan}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    let (_, deal) = app
        .post(
            "/api/v1/deals",
            json!({"contact_id": ids[1], "title": "Trial"}),
        )
        .await;
    let stage = deal["stage_id"].clone();

    let count = |filter: Value| {
        let app = &app;
        async move {
            let (status, preview) = app
                .post("/api/v1/segments/preview", json!({"filter": filter}))
                .await;
            assert_eq!(status, StatusCode::OK, "{preview}");
            preview["count"].as_i64().unwrap()
        }
    };
    assert_eq!(count(json!({})).await, 4);
    assert_eq!(count(json!({"tags_all": ["vip"]})).await, 2);
    assert_eq!(
        count(json!({"tags_any": ["vip", "b2b"], "tags_none": ["vip"]})).await,
        1
    );
    assert_eq!(count(json!({"attributes": {"plan": "pro"}})).await, 3);
    assert_eq!(count(json!({"pipeline_stage_ids": [stage]})).await, 1);
    assert_eq!(
        count(json!({"channel_id": app.channel_id})).await,
        1,
        "only the talker has a WhatsApp identity"
    );
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    assert_eq!(count(json!({"last_activity_after": hour_ago})).await, 1);
    assert_eq!(
        count(json!({"last_activity_before": hour_ago})).await,
        3,
        "never talked counts as inactive"
    );

    // Opting out removes a contact from segments (unless asked for) and is an event.
    let (status, gil) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/contacts/{}", ids[0]),
            &app.api_key,
            Some(json!({"opted_out": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(gil["opted_out_at"].is_string());
    assert_eq!(count(json!({"tags_all": ["vip"]})).await, 1);
    assert_eq!(
        count(json!({"tags_all": ["vip"], "include_opted_out": true})).await,
        2
    );
    assert_eq!(
        app.count("outbox_events WHERE event_type = 'contact.opted_out'")
            .await,
        1
    );

    // Saved segments show their live count and a sample; bad filters change nothing.
    let (status, segment) = app
        .post(
            "/api/v1/segments",
            json!({"name": "Pro plan", "filter": {"attributes": {"plan": "pro"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{segment}");
    assert_eq!(segment["count"], 2, "Gil opted out");
    assert_eq!(segment["sample"].as_array().unwrap().len(), 2);
    for bad in [
        json!({"name": "x", "filter": {"tags_all": ["a"], "tags_none": ["a"]}}),
        json!({"name": "x", "filter": {"channel_id": Uuid::now_v7()}}),
        json!({"name": "x", "filter": {"pipeline_stage_ids": [Uuid::now_v7()]}}),
        json!({"name": "x", "filter": {"unknown": 1}}),
    ] {
        let (status, problem) = app.post("/api/v1/segments", bad.clone()).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{bad}: {status} {problem}"
        );
    }
    let (status, _) = app
        .post(
            "/api/v1/segments",
            json!({"name": "Pro plan", "filter": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(app.count("segments").await, 1);
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/segments/{}", segment["id"].as_str().unwrap()),
            &other.secret,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = app
        .call(
            Method::POST,
            "/api/v1/segments/preview",
            &other.secret,
            Some(json!({"filter": {}})),
        )
        .await;
    assert_eq!(
        theirs["count"], 0,
        "another tenant's preview sees none of these contacts"
    );
}
