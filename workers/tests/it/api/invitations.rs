//! Invitation links (adversarial): a link works once, for its own tenant, until it expires or is
//! revoked; only admins make and see them; the token is never stored or shown again; used,
//! revoked, expired and made-up links are the same 404.

use super::*;

const PASSWORD: &str = "a long first password";

/// A public call (no credential), as the invitation page makes it.
async fn public(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!("{}{path}", app.api))
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn invite(app: &TestApp, key: &str, email: &str, role: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/v1/invitations",
        key,
        Some(json!({"email": email, "name": "Nova Pessoa", "role": role})),
    )
    .await
}

/// Whether a link still opens (the status of its lookup).
async fn lookup(app: &TestApp, token: &str) -> StatusCode {
    public(app, "/api/v1/invitations/lookup", json!({"token": token}))
        .await
        .0
}

async fn revoke(app: &TestApp, key: &str, id: &str) -> StatusCode {
    app.call(
        Method::DELETE,
        &format!("/api/v1/invitations/{id}"),
        key,
        None,
    )
    .await
    .0
}

fn token_of(created: &Value) -> String {
    let url = created["url"].as_str().expect("a link");
    url.split_once("/invite#")
        .expect("the token in the fragment")
        .1
        .to_owned()
}

#[tokio::test]
async fn an_invitation_link_works_once_for_its_tenant_until_it_expires_or_is_revoked() {
    let app = TestApp::spawn(json!({})).await;
    let (status, created) = invite(&app, &app.api_key, "nova@invite.test", "agent").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = token_of(&created);
    assert!(token.len() >= 40, "an unguessable token");
    // Shown once: the list has no token or link, and the database holds only its hash.
    let (status, list) = app.get("/api/v1/invitations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["email"], "nova@invite.test");
    assert!(!list.to_string().contains(&token) && list["items"][0].get("url").is_none());
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM user_invitations WHERE position(convert_to($1, 'UTF8') IN token_sha256) > 0 OR email = $1",
    )
    .bind(&token)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 0, "the token itself is not stored");

    // Only admins invite or list; another tenant neither sees nor revokes ours.
    let (_, agent) = app
        .post(
            "/api/v1/api-keys",
            json!({"name": "agent", "role": "agent"}),
        )
        .await;
    let agent = agent["api_key"].as_str().unwrap();
    assert_eq!(
        invite(&app, agent, "x@invite.test", "admin").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_as("/api/v1/invitations", agent).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other tenant")
        .await
        .unwrap();
    let (status, theirs) = app
        .call(Method::GET, "/api/v1/invitations", &other.secret, None)
        .await;
    assert_eq!(
        (status, theirs["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    let id = created["id"].as_str().unwrap();
    assert_eq!(revoke(&app, &other.secret, id).await, StatusCode::NOT_FOUND);

    // Bad input changes nothing; an address with an account cannot be invited again.
    let (status, _) = invite(&app, &app.api_key, "not an address", "agent").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/invitations",
            &app.api_key,
            Some(json!({"email": "y@invite.test", "name": "Y", "role": "owner"})),
        )
        .await;
    assert!(status.is_client_error(), "{status}");

    // The page reads who is invited; a made-up token is a 404 like any other dead link.
    let (status, view) = public(&app, "/api/v1/invitations/lookup", json!({"token": token})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        (view["email"].as_str(), view["role"].as_str()),
        (Some("nova@invite.test"), Some("agent"))
    );
    let made_up = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(lookup(&app, &made_up).await, StatusCode::NOT_FOUND);

    // A short password is refused and the link still works.
    let (status, _) = public(
        &app,
        "/api/v1/invitations/accept",
        json!({"token": token, "password": "short"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, accepted) = public(
        &app,
        "/api/v1/invitations/accept",
        json!({"token": token, "name": "Nova Silva", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{accepted}");
    // The person logs in with the password they chose, with the role they were invited with.
    let (status, tokens) = public(
        &app,
        "/api/v1/auth/login",
        json!({"email": "nova@invite.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, tokens["role"].as_str()),
        (StatusCode::OK, Some("agent")),
        "{tokens}"
    );
    assert_eq!(tokens["tenant_id"], json!(app.tenant_id));
    let (_, users) = app.get("/api/v1/users").await;
    assert!(
        users["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "Nova Silva")
    );
    // Once: the link is dead now, and no second account can be made with it.
    let (status, _) = public(
        &app,
        "/api/v1/invitations/accept",
        json!({"token": token, "password": "another long password"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(lookup(&app, &token).await, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/invitations").await.1["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    // Now the address has an account here.
    assert_eq!(
        invite(&app, &app.api_key, "Nova@invite.test", "viewer")
            .await
            .0,
        StatusCode::CONFLICT
    );

    // Inviting again replaces the link; a revoked link and an expired one are dead.
    let (_, first) = invite(&app, &app.api_key, "outra@invite.test", "viewer").await;
    let (_, second) = invite(&app, &app.api_key, "outra@invite.test", "viewer").await;
    assert_eq!(lookup(&app, &token_of(&first)).await, StatusCode::NOT_FOUND);
    assert_eq!(lookup(&app, &token_of(&second)).await, StatusCode::OK);
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(
        revoke(&app, &app.api_key, second_id).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        revoke(&app, &app.api_key, second_id).await,
        StatusCode::NOT_FOUND
    );
    let (status, _) = public(
        &app,
        "/api/v1/invitations/accept",
        json!({"token": token_of(&second), "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, late) = invite(&app, &app.api_key, "tarde@invite.test", "agent").await;
    sqlx::query(
        "UPDATE user_invitations SET expires_at = now() - interval '1 second' WHERE id = $1",
    )
    .bind(Uuid::parse_str(late["id"].as_str().unwrap()).unwrap())
    .execute(&app.pool)
    .await
    .unwrap();
    let (status, _) = public(
        &app,
        "/api/v1/invitations/accept",
        json!({"token": token_of(&late), "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let accounts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE email LIKE '%@invite.test'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(accounts, 1, "only the accepted invitation made an account");
}
