//! The router in-process: requests go through `tower::ServiceExt::oneshot`, with no socket, no
//! worker and no Temporal (its handle points at a closed port). What a request meets before any
//! workflow starts is checked here in milliseconds: authentication on every documented route,
//! role checks, and input validation, each answered with problem+json and changing nothing.
//!
//! The database is real (one per test, on the run's shared PostgreSQL from `DATABASE_URL`), and
//! the API logs in to it as its restricted role, as in production.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;
use ventros_api::auth::{Role, create_tenant, insert_api_key};
use ventros_api::routes::agents::AgentDirectory;
use ventros_api::routes::memories::MemoryClient;
use ventros_api::{ApiConfig, AppState, TemporalHandle};

struct App {
    router: Router,
    owner: PgPool,
    admin: String,
    viewer: String,
}

/// A fresh database with the schema, a tenant with an admin and a viewer key, and the router over
/// the API's own pools.
async fn app() -> App {
    // As the API binary does first thing: the TLS provider its HTTP clients use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin_url = std::env::var("DATABASE_URL").expect("DATABASE_URL (scripts/test.sh sets it)");
    let (owner, url) = ventros_migrations::fresh_database(&admin_url, 2)
        .await
        .expect("a fresh database");
    let (tenant, admin) = create_tenant(&owner, "Router tests").await.expect("tenant");
    let viewer = insert_api_key(&owner, tenant, "viewer", Role::Viewer)
        .await
        .expect("viewer key");

    let api_url = ventros_api::db::login_url(&url, ventros_api::db::API_LOGIN).expect("API URL");
    let pool = ventros_api::db::app_pool(&api_url, 2)
        .await
        .expect("API pool");
    let reports_url =
        ventros_api::db::login_url(&url, ventros_api::db::REPORT_LOGIN).expect("reports URL");
    let reports = ventros_api::db::report_pool(&reports_url, 1)
        .await
        .expect("reports pool");
    let temporal =
        TemporalHandle::connect_in_background("http://127.0.0.1:9".into(), "default".into());
    let auth = ventros_activities::internal_auth::InternalAuth::new(
        "router-tests-internal-secret-0123456789",
    )
    .expect("internal auth");
    let memory = MemoryClient::connect_lazy(None, auth).expect("memory client");
    let state = AppState::new(
        pool,
        reports,
        temporal,
        ApiConfig::new("router-tests", "http://localhost"),
        AgentDirectory::new(None),
        memory,
    );
    App {
        router: ventros_api::router(state),
        owner,
        admin: admin.secret,
        viewer: viewer.secret,
    }
}

impl App {
    /// How many rows `table` holds (counted as the owner, past row-level security).
    async fn rows(&self, table: &str) -> i64 {
        // `table` is one of this file's literals.
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&self.owner)
            .await
            .expect("count rows")
    }
}

/// One request; the status, the content type and the body as JSON (Null when it is not JSON).
async fn call(
    app: &App,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, String, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned())),
        None => request.body(Body::empty()),
    }
    .expect("request");
    let response = app
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Every documented operation, with its path's `{placeholders}` filled with a fresh id.
fn operations() -> Vec<(Method, String)> {
    let spec = serde_json::to_value(ventros_api::openapi::document()).expect("document");
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let concrete: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    Uuid::new_v4().to_string()
                } else {
                    segment.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("path item").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            operations.push((method, concrete.clone()));
        }
    }
    operations
}

#[tokio::test]
async fn every_route_but_login_refuses_a_caller_without_valid_credentials() {
    let app = app().await;
    // A token signed with another key, and an API key that does not exist.
    let forged = ventros_api::auth::TokenKeys::new(&[7; 32]).issue(
        Uuid::new_v4(),
        Uuid::new_v4(),
        Role::Admin,
        Uuid::new_v4(),
    );
    // The token of an invitation link is its own credential (tested in
    // workers/tests/it/api/invitations.rs: made-up, used, revoked and expired ones are 404).
    let public = [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/invitations/lookup",
        "/api/v1/invitations/accept",
    ];
    let mut checked = 0;
    for (method, path) in operations() {
        if public.contains(&path.as_str()) {
            continue;
        }
        for key in [None, Some(forged.as_str()), Some("vtr_nosuchkey_x")] {
            let (status, content_type, body) =
                call(&app, method.clone(), &path, key, Some("{}")).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {key:?}"
            );
            assert_eq!(content_type, "application/problem+json", "{method} {path}");
            assert_eq!(body["status"], 401, "{method} {path}: {body}");
        }
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} operations checked");
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_write_and_nothing_changes() {
    let app = app().await;
    let (status, _, body) = call(&app, Method::GET, "/api/v1/deals", Some(&app.viewer), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let writes = [
        (
            Method::POST,
            "/api/v1/contacts",
            r#"{"display_name": "Ana"}"#,
        ),
        (Method::POST, "/api/v1/pipelines", r#"{"name": "Vendas"}"#),
        (
            Method::POST,
            "/api/v1/api-keys",
            r#"{"name": "mine", "role": "admin"}"#,
        ),
        (
            Method::POST,
            "/api/v1/segments",
            r#"{"name": "all", "filter": {}}"#,
        ),
    ];
    for (method, path, body) in writes {
        let (status, content_type, problem) =
            call(&app, method.clone(), path, Some(&app.viewer), Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {problem}");
        assert_eq!(content_type, "application/problem+json");
    }
    assert_eq!(app.rows("contacts").await, 0);
    assert_eq!(app.rows("segments").await, 0);
    assert_eq!(app.rows("api_keys").await, 2, "no key was created");
}

#[tokio::test]
async fn bad_input_is_a_problem_that_says_what_is_wrong_and_changes_nothing() {
    let app = app().await;
    let key = Some(app.admin.as_str());
    let cases = [
        // Not JSON, unknown fields, wrong types: the body cannot be read (400).
        (
            Method::POST,
            "/api/v1/contacts",
            "{",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v1/contacts",
            r#"{"display_name": "Ana", "colour": "red"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v1/deals",
            r#"{"contact_id": "not-a-uuid", "title": "x"}"#,
            StatusCode::BAD_REQUEST,
        ),
        // Rules the types cannot express (422), and query parameters (400).
        (
            Method::POST,
            "/api/v1/pipelines",
            r#"{"name": "   "}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/deals",
            &format!(r#"{{"contact_id": "{}", "title": "x"}}"#, Uuid::new_v4()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/api/v1/deals?limit=0",
            "",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/v1/deals?status=closed",
            "",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/v1/deals?sort=title;drop",
            "",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/v1/deals?cursor=garbage",
            "",
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (method, path, body, expected) in cases {
        let body = (!body.is_empty()).then_some(body);
        let (status, content_type, problem) = call(&app, method.clone(), path, key, body).await;
        assert_eq!(status, expected, "{method} {path} {body:?}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{method} {path}");
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{method} {path}: a problem says what is wrong: {problem}"
        );
    }
    assert_eq!(app.rows("contacts").await, 0);
    assert_eq!(app.rows("deals").await, 0);
    // Another tenant's (or no one's) id is simply not found.
    let (status, _, _) = call(
        &app,
        Method::GET,
        &format!("/api/v1/deals/{}", Uuid::new_v4()),
        key,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
