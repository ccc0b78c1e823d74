//! Tenancy and access: row-level security hides other tenants even from a query
//! without a tenant filter; roles, tokens, rate and size limits are enforced.

use super::*;

#[tokio::test]
async fn row_level_security_hides_other_tenants_even_from_a_query_without_a_tenant_filter() {
    let app = TestApp::spawn(quiet_settings()).await;
    app.customer_writes("5511999990101@c.us", text("Oi"), 1, false)
        .await;
    eventually("the inbound message", WAIT, || async {
        (app.count("messages").await == 1).then_some(())
    })
    .await;
    let (other_tenant, other_key) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    let (status, other_contact) = app
        .call(
            Method::POST,
            "/api/v1/contacts",
            &other_key.secret,
            Some(json!({"display_name": "Bruno"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // The role the API runs as: not a superuser, cannot bypass RLS, owns no table.
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'ventros_app'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!superuser && !bypass);
    let unprotected: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT c.relrowsecurity
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(
        unprotected.is_empty(),
        "tenant tables without RLS: {unprotected:?}"
    );

    // A query that "forgets" its tenant filter, run the way every API request runs.
    // The owner cannot be the API's login: the pool refuses it.
    let Err(refused) = ventros_api::db::app_pool(&app.database_url, 1).await else {
        panic!("the owner is refused as the API's login")
    };
    assert!(refused.to_string().contains("must not log in"), "{refused}");
    let api_url =
        ventros_api::db::login_url(&app.database_url, ventros_api::db::API_LOGIN).unwrap();
    let api_pool = ventros_api::db::app_pool(&api_url, 2).await.unwrap();
    let mut tx = ventros_api::db::tenant_tx(&api_pool, app.tenant_id)
        .await
        .unwrap();
    let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM contacts")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, vec![app.tenant_id]);
    for table in [
        "messages",
        "conversation_sessions",
        "contact_identities",
        "channels",
        "api_keys",
        "outbox_events",
    ] {
        let foreign: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE tenant_id <> $1"
        )))
        .bind(app.tenant_id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(foreign, 0, "{table} leaked another tenant's rows");
    }
    // Writing a row for another tenant is refused by the policy's WITH CHECK.
    let write = sqlx::query("INSERT INTO contacts (id, tenant_id) VALUES ($1, $2)")
        .bind(Uuid::now_v7())
        .bind(other_tenant)
        .execute(&mut *tx)
        .await;
    assert!(write.is_err(), "a cross-tenant insert must fail");
    drop(tx);
    // Without a tenant the same role sees nothing at all, and cannot leave its role's limits.
    let mut conn = api_pool.acquire().await.unwrap();
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(visible, 0);
    assert_eq!(
        app.count("contacts").await,
        2,
        "the owner (worker) still sees both tenants"
    );

    // The production shape: a login role that is only a member of ventros_app. It cannot become
    // anyone else, and sees one tenant per transaction like the API's pool.
    let login = format!("api_{}", Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {login} LOGIN PASSWORD 'only-for-this-test' IN ROLE ventros_app"
    )))
    .execute(&app.pool)
    .await
    .unwrap();
    let restricted_url =
        app.database_url
            .replacen("postgres@", &format!("{login}:only-for-this-test@"), 1);
    let restricted = ventros_api::db::app_pool(&restricted_url, 1)
        .await
        .expect("the restricted role connects");
    let mut conn = restricted.acquire().await.unwrap();
    assert!(
        sqlx::query("SET ROLE postgres")
            .execute(&mut *conn)
            .await
            .is_err(),
        "no way out of ventros_app"
    );
    drop(conn);
    let mut tx = ventros_api::db::tenant_tx(&restricted, other_tenant)
        .await
        .unwrap();
    let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM contacts")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, vec![other_tenant]);
    drop(tx);

    // Through the API: other tenants' ids are unknown, for reads and as references in writes.
    let other_id = other_contact["id"].as_str().unwrap();
    let (status, _) = app.get(&format!("/api/v1/contacts/{other_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem) = app
        .call(
            Method::POST,
            "/api/v1/deals",
            &app.api_key,
            Some(json!({"contact_id": other_id, "title": "Steal"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/contacts/{other_id}"),
            &app.api_key,
            Some(json!({"display_name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/contacts",
            &other_key.secret,
            Some(json!({"identities": [{"channel_id": app.channel_id, "kind": "wa_user", "external_id": "5511999990102@c.us"}]})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another tenant's channel is not a channel"
    );
    let (_, list) = app
        .call(Method::GET, "/api/v1/contacts", &other_key.secret, None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn roles_tokens_and_limits_are_enforced() {
    let app = TestApp::spawn(quiet_settings()).await;
    app.customer_writes("5511999990111@c.us", text("Oi"), 1, false)
        .await;
    let conversation = eventually("a conversation", WAIT, || async {
        let (_, list) = app.get("/api/v1/conversations").await;
        list["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    let conversation_id = conversation["id"].as_str().unwrap().to_owned();
    let viewer = create_user(&app, "viewer@example.com", "viewer").await;
    let agent = create_user(&app, "agent@example.com", "agent").await;
    let channel = format!("/api/v1/channels/{}", app.channel_id);

    // A viewer reads but cannot send, take over, or change channels.
    assert_eq!(
        app.call(Method::GET, "/api/v1/contacts", &viewer, None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/api/v1/conversations/{conversation_id}"),
            &viewer,
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, problem) = app
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            &viewer,
            Some(json!({"text": "hi"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["status"], 403);
    assert_eq!(
        app.call(
            Method::POST,
            &format!("/api/v1/conversations/{conversation_id}/takeover"),
            &viewer,
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::PATCH, &channel, &viewer, Some(json!({"name": "x"})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::POST, "/api/v1/contacts", &viewer, Some(json!({})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // An agent works contacts and conversations but does not administer.
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v1/contacts",
            &agent,
            Some(json!({"display_name": "Carla"}))
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.call(Method::PATCH, &channel, &agent, Some(json!({"name": "x"})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::POST, "/api/v1/users", &agent, Some(json!({})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::GET, "/api/v1/api-keys", &agent, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // The admin does.
    let (status, renamed) = app
        .call(
            Method::PATCH,
            &channel,
            &app.api_key,
            Some(json!({"name": "WhatsApp vendas"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["name"], "WhatsApp vendas");

    // API keys carry roles too, and revoked keys stop working at once.
    let (status, key) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            &app.api_key,
            Some(json!({"name": "BI export", "role": "viewer"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let viewer_key = key["api_key"].as_str().unwrap();
    assert_eq!(
        app.call(Method::GET, "/api/v1/deals", viewer_key, None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.call(Method::POST, "/api/v1/deals", viewer_key, Some(json!({})))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (_, keys) = app
        .call(Method::GET, "/api/v1/api-keys", &app.api_key, None)
        .await;
    let listed = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key["id"])
        .unwrap()
        .clone();
    assert!(
        listed["last_used_at"].is_string(),
        "last use is recorded: {listed}"
    );
    assert!(
        listed.get("api_key").is_none() && !keys.to_string().contains(viewer_key),
        "secrets are never listed"
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap()),
            &app.api_key,
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call(Method::GET, "/api/v1/deals", viewer_key, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Login: wrong passwords and unknown e-mails look the same; refresh tokens rotate, and a
    // reused one revokes its whole family.
    let (status, problem) = login(&app, "agent@example.com", "wrong password!").await;
    assert_eq!(
        (status, problem["detail"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("wrong e-mail or password"))
    );
    assert_eq!(
        login(&app, "nobody@example.com", "whatever it is").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, tokens) = login(&app, "agent@example.com", "correct horse battery").await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            let resp = app
                .http
                .post(format!("{}/api/v1/auth/refresh", app.api))
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = refresh(first.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (_, me) = app
        .call(
            Method::GET,
            "/api/v1/me",
            rotated["access_token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(
        (me["role"].as_str(), me["actor"]["email"].as_str()),
        (Some("agent"), Some("agent@example.com"))
    );
    assert_eq!(
        refresh(first).await.0,
        StatusCode::UNAUTHORIZED,
        "a used refresh token is dead"
    );
    assert_eq!(
        refresh(rotated["refresh_token"].as_str().unwrap().to_owned())
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "its family too"
    );
    assert_eq!(
        app.call(
            Method::GET,
            "/api/v1/me",
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    // Oversized bodies: 413, problem+json.
    let resp = app
        .http
        .post(format!("{}/api/v1/contacts", app.api))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"display_name\": \"{}\"}}",
            "x".repeat(300 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");

    // Rate limits: 429 with Retry-After once the burst is spent.
    let limited = app
        .api()
        .configure(|c| {
            c.rate_limit_per_minute = 30;
            c.rate_limit_burst = 3;
            c.cors_origins = vec!["http://localhost:5173".into()];
        })
        .spawn()
        .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let resp = app
            .http
            .get(format!("{limited}/api/v1/channels"))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert!(
        retry_after.is_some_and(|s| (1..=2).contains(&s)),
        "Retry-After: {retry_after:?}"
    );
    // CORS for the web app's origin.
    let preflight = app
        .http
        .request(Method::OPTIONS, format!("{limited}/api/v1/contacts"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://localhost:5173")
    );
}
