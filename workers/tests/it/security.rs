//! Attacks on trust boundaries, against the real stack: each reproduces what an outside review
//! did (issue "Security: close the holes an outside review found") and checks it is refused now.

use std::collections::HashSet;
use std::time::Duration;

use crate::support;
use crate::support::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// A viewer's API key for `app`'s tenant.
async fn viewer_key(app: &TestApp) -> String {
    let (status, key) = app
        .post(
            "/api/v1/api-keys",
            json!({"name": "viewer", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key["api_key"].as_str().expect("api_key").to_owned()
}

async fn report(app: &TestApp, key: &str, sql: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/v1/reports/query",
        key,
        Some(json!({"sql": sql})),
    )
    .await
}

async fn insert_contact(app: &TestApp, tenant_id: Uuid, name: &str) {
    sqlx::query("INSERT INTO contacts (id, tenant_id, display_name) VALUES ($1, $2, $3)")
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(name)
        .execute(&app.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn free_sql_cannot_leave_the_reporting_views() {
    let app = TestApp::spawn(json!({})).await;
    let viewer = viewer_key(&app).await;
    let (other_tenant, _) = ventros_api::auth::create_tenant(&app.pool, "Other tenant")
        .await
        .unwrap();
    insert_contact(&app, other_tenant, "Zelda Segredo").await;
    insert_contact(&app, app.tenant_id, "Ana").await;

    // The literal that made the old guard execute text it never checked: PostgreSQL reads one
    // string here, and the report returns it as such (the old guard ran re-printed SQL instead).
    let hostile =
        "SELECT '\\''' AS a, ' AS x, (SELECT set_config(''role'', ''none'', true)) --' AS d";
    let (status, body) = report(&app, &viewer, hostile).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["rows"],
        json!([{"a": "\\'", "d": " AS x, (SELECT set_config('role', 'none', true)) --"}]),
        "{body}"
    );
    assert_eq!(
        body["sql"],
        json!(hostile),
        "the SQL that ran is the SQL that was sent"
    );

    // CTE names are scoped like PostgreSQL scopes them: no catalog behind a CTE's name.
    for sql in [
        "WITH pg_roles AS (SELECT * FROM pg_roles) SELECT rolname FROM pg_roles",
        "SELECT * FROM (WITH pg_settings AS (SELECT 1) SELECT 1) x, pg_settings",
        "SELECT query FROM (SELECT 1) x, LATERAL (WITH pg_stat_activity AS (SELECT 1) SELECT 1) y, pg_stat_activity",
        "SELECT statement FROM pg_prepared_statements",
        "SELECT set_config('role', 'none', true)",
        "SELECT query_to_xml('SELECT * FROM public.api_keys', true, false, '')",
        "SELECT * FROM generate_series(1, 3)",
        "SELECT 'x'::regclass",
    ] {
        let (status, body) = report(&app, &viewer, sql).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{sql}: {body}");
    }

    // Security barrier views: another tenant's rows are gone before the caller's filter runs, so
    // neither a failing cast nor a division by zero can test or show them.
    for sql in [
        "SELECT count(*) AS n FROM contacts WHERE display_name LIKE 'Z%' AND display_name::int = 1",
        "SELECT count(*) AS n FROM contacts WHERE 1 / (CASE WHEN display_name LIKE 'Zelda%' THEN 0 ELSE 1 END) = 1 AND display_name <> 'Ana'",
    ] {
        let (status, body) = report(&app, &viewer, sql).await;
        assert_eq!(
            (status, &body["rows"]),
            (StatusCode::OK, &json!([{"n": 0}])),
            "{sql}: {body}"
        );
    }
    // Errors on the caller's own rows say what went wrong, not the value.
    let (status, body) = report(&app, &viewer, "SELECT display_name::int FROM contacts").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!body.to_string().contains("Ana"), "{body}");

    // Underneath: the reports pool logs in as a role that has nothing to fall back to.
    let reports_url =
        ventros_api::db::login_url(&app.database_url, ventros_api::db::REPORT_LOGIN).unwrap();
    let reports = ventros_api::db::report_pool(&reports_url, 1).await.unwrap();
    let mut tx = ventros_api::db::tenant_tx(&reports, app.tenant_id)
        .await
        .unwrap();
    sqlx::query("SELECT set_config('role', 'none', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let (superuser, user): (bool, String) = sqlx::query_as(
        "SELECT rolsuper, current_user::text FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert!(!superuser && user == "ventros_report", "{user}");
    for sql in [
        "SELECT count(*) FROM public.api_keys",
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT count(*) FROM public.contacts",
    ] {
        let mut sp = sqlx::Connection::begin(&mut *tx).await.unwrap();
        let denied = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *sp)
            .await
            .expect_err(sql);
        assert!(
            denied.to_string().contains("permission denied"),
            "{sql}: {denied}"
        );
        sp.rollback().await.unwrap();
    }
    let written = sqlx::query("UPDATE reporting.contacts SET display_name = 'x'")
        .execute(&mut *tx)
        .await;
    assert!(written.is_err(), "reports never write");
    drop(tx);
    // And the API's own pool cannot be the owner either.
    assert!(
        ventros_api::db::report_pool(&app.database_url, 1)
            .await
            .is_err(),
        "the owner is refused as the reports login"
    );
}

#[tokio::test]
async fn report_responses_are_bounded() {
    let app = TestApp::spawn(json!({})).await;
    let viewer = viewer_key(&app).await;
    // 1,000 contacts with 6 kB names: 6 MB of names in all.
    let name = "n".repeat(6_000);
    sqlx::query("INSERT INTO contacts (id, tenant_id, display_name) SELECT gen_random_uuid(), $1, $2 || i FROM generate_series(1, 1000) i")
        .bind(app.tenant_id)
        .bind(&name)
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = report(&app, &viewer, "SELECT display_name FROM contacts").await;
    assert_eq!(status, StatusCode::OK, "{}", body["title"]);
    assert_eq!(body["truncated"], json!(true));
    let size = body.to_string().len();
    assert!(
        size <= ventros_api::routes::reports::MAX_BYTES + 64 * 1024,
        "{size} bytes"
    );
    assert!(body["row_count"].as_u64().unwrap() < 1000);
    // One row larger than the cap is refused, not returned.
    let (status, body) = report(
        &app,
        &viewer,
        "SELECT string_agg(display_name, '') AS all_names FROM contacts",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than"),
        "{body}"
    );
    // The amplifiers are not there to call.
    for sql in [
        "SELECT format('%1000000000s', 'x')",
        "SELECT repeat('x', 1000000000)",
        "SELECT lpad('x', 1000000000)",
    ] {
        let (status, _) = report(&app, &viewer, sql).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{sql}");
    }
    // Named reports and ordinary SELECTs still work.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/reports/delivery_rates",
            &viewer,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = report(&app, &viewer, "SELECT count(*) AS n FROM contacts").await;
    assert_eq!(
        (status, &body["rows"]),
        (StatusCode::OK, &json!([{"n": 1000}]))
    );
}

/// A small deterministic generator (xorshift): no dependency, same queries every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// One generated SELECT: hostile literals and comments, CTEs that shadow catalogs, nested
/// subqueries, allowed and forbidden relations and functions.
fn generate(rng: &mut Rng) -> String {
    const RELATIONS: &[&str] = &[
        "contacts",
        "messages",
        "reporting.deals",
        "channels",
        "pg_roles",
        "pg_settings",
        "pg_stat_activity",
        "public.api_keys",
        "pg_catalog.pg_authid",
        "users",
        "t",
        "pg_prepared_statements",
    ];
    const EXPRS: &[&str] = &[
        "count(*)",
        "lower('A')",
        "coalesce(NULL, 1)",
        "set_config('role', 'none', true)",
        "current_setting('is_superuser')",
        "pg_read_file('/etc/hostname')",
        "1",
        "'\\''' ",
        "E'\\''",
        "$$ ) -- $$",
        "'/*'",
        "now()",
        "query_to_xml('select 1', true, true, '')",
        "(SELECT count(*) FROM pg_roles)",
        "(SELECT 1 FROM t LIMIT 1)",
        "pg_sleep(0)",
        "'a' || 'b'",
    ];
    const SHAPES: &[&str] = &[
        "SELECT {e} AS c FROM {r}",
        "WITH {n} AS (SELECT {e} AS c FROM {r}) SELECT * FROM {n}",
        "WITH {n} AS (SELECT 1 AS c) SELECT (SELECT {e}) AS c FROM {r}",
        "SELECT * FROM (WITH {n} AS (SELECT 1 AS c) SELECT c FROM {n}) x, {r2}",
        "WITH RECURSIVE {n} AS (SELECT 1 AS c UNION ALL SELECT c + 1 FROM {n} WHERE c < 2) SELECT {e} AS c FROM {r}",
        "SELECT {e} AS c FROM {r} -- {e}\n",
        "SELECT {e} AS c /* {e} */ FROM {r}",
        "SELECT {e} AS c FROM {r} UNION ALL SELECT 1 FROM {r2}",
    ];
    const NAMES: &[&str] = &["t", "pg_roles", "pg_settings", "contacts", "api_keys"];
    rng.pick(SHAPES)
        .replace("{e}", rng.pick(EXPRS))
        .replace("{r2}", rng.pick(RELATIONS))
        .replace("{r}", rng.pick(RELATIONS))
        .replace("{n}", rng.pick(NAMES))
}

/// Relations and function names PostgreSQL's plan mentions, string constants left out.
fn plan_objects(plan: &Value, relations: &mut HashSet<String>, functions: &mut HashSet<String>) {
    match plan {
        Value::Object(map) => {
            if let Some(Value::String(rel)) = map.get("Relation Name") {
                let schema = map.get("Schema").and_then(Value::as_str).unwrap_or("?");
                relations.insert(format!("{schema}.{rel}"));
            }
            for value in map.values() {
                plan_objects(value, relations, functions);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| plan_objects(i, relations, functions)),
        Value::String(text) => {
            // The views' own tenant check (ventros_current_tenant(), inlined by the planner).
            let text = text.replace("current_setting('ventros.tenant_id'", "tenant_check(");
            let mut outside = String::new();
            let mut quoted = false;
            for ch in text.chars() {
                if ch == '\'' {
                    quoted = !quoted;
                } else if !quoted {
                    outside.push(ch);
                }
            }
            let bytes = outside.as_bytes();
            for (i, _) in outside.match_indices('(') {
                let start = outside[..i]
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                    .map_or(0, |p| p + 1);
                if start < i && bytes[start].is_ascii_alphabetic() {
                    functions.insert(outside[start..i].to_lowercase());
                }
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn whatever_the_guard_accepts_plans_over_reporting_views_only() {
    let app = TestApp::spawn(json!({})).await;
    let reports_url =
        ventros_api::db::login_url(&app.database_url, ventros_api::db::REPORT_LOGIN).unwrap();
    let reports = ventros_api::db::report_pool(&reports_url, 1).await.unwrap();
    // The base tables behind the reporting views.
    let tables: HashSet<&str> = [
        "public.channels",
        "public.contacts",
        "public.conversation_sessions",
        "public.messages",
        "public.agent_runs",
        "public.pipelines",
        "public.pipeline_stages",
        "public.deals",
        "public.campaigns",
        "public.campaign_recipients",
    ]
    .into();
    // What a plan may call: the allowlist, the tenant check inside the views, and the words
    // EXPLAIN prints with parentheses that are not calls.
    let mut callable: HashSet<String> = ventros_api::sql_guard::FUNCTIONS
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    callable.extend(
        [
            "tenant_check",
            "row",
            "any",
            "all",
            "subplan",
            "initplan",
            "cte",
            "and",
            "or",
            "not",
            "numeric",
            "text",
        ]
        .map(String::from),
    );
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..3_000 {
        let sql = generate(&mut rng);
        let Ok(checked) = ventros_api::sql_guard::check(&sql, 10) else {
            refused += 1;
            continue;
        };
        accepted += 1;
        let mut tx = ventros_api::db::tenant_tx(&reports, app.tenant_id)
            .await
            .unwrap();
        sqlx::raw_sql("SET LOCAL search_path = reporting, pg_catalog, pg_temp")
            .execute(&mut *tx)
            .await
            .unwrap();
        let explain = format!("EXPLAIN (VERBOSE, FORMAT JSON) {}", checked.sql);
        let plan: Value = match sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
            .fetch_one(&mut *tx)
            .await
        {
            Ok(plan) => plan,
            Err(e) => {
                assert!(
                    !e.to_string().contains("permission denied"),
                    "{sql}: the guard let through {e}"
                );
                continue;
            }
        };
        let (mut relations, mut functions) = (HashSet::new(), HashSet::new());
        plan_objects(&plan, &mut relations, &mut functions);
        for relation in &relations {
            assert!(
                tables.contains(relation.as_str()),
                "{sql}: the plan reads {relation}"
            );
        }
        for function in &functions {
            let name = function.rsplit('.').next().unwrap_or(function);
            assert!(callable.contains(name), "{sql}: the plan calls {function}");
        }
    }
    // Both sides are exercised: many hostile queries refused, and enough accepted to mean something.
    assert!(
        accepted >= 300 && refused >= 300,
        "accepted {accepted}, refused {refused}"
    );
}

/// The requests a [`recorder`] saw: path and `X-Api-Key`.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;

/// A loopback HTTP server that records what reaches it and answers every request with `answer`.
async fn recorder(answer: axum::http::Response<axum::body::Body>) -> (String, Seen) {
    let seen: Seen = Default::default();
    let (status, location) = (answer.status(), answer.headers().get("location").cloned());
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let log = log.clone();
        let location = location.clone();
        async move {
            let key = req
                .headers()
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            log.lock().unwrap().push((req.uri().path().to_owned(), key));
            let mut resp = axum::http::Response::builder().status(status);
            if let Some(location) = location {
                resp = resp.header("location", location);
            }
            resp.body(axum::body::Body::from("{}")).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn channel_and_webhook_addresses_cannot_reach_internal_services() {
    use ventros_channels::channel::WahaConfig;
    use ventros_channels::net_guard::NetPolicy;
    use ventros_channels::waha::{HttpWahaClient, WahaApi, WahaError};

    let app = TestApp::spawn(json!({})).await;
    // An API with the production policy (public addresses only) over the same database.
    let api = app
        .api()
        .configure(|config| {
            config.provider_network = NetPolicy::public_only();
            config.webhook_network = NetPolicy::public_only();
        })
        .spawn()
        .await;
    let create = |provider: Value, kind: &str| {
        let (api, key, http) = (api.clone(), app.api_key.clone(), app.http.clone());
        let body = json!({"name": "x", "kind": kind, "provider_config": provider});
        async move {
            let resp = http
                .post(format!("{api}/api/v1/channels"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                resp.status(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let waha = |base_url: &str, session: &str, hmac: Option<&str>| json!({"base_url": base_url, "api_key": "k", "session": session, "hmac_key": hmac});
    let hmac = Some("a-long-enough-hmac-key");
    for (provider, why) in [
        (
            waha("http://169.254.169.254/latest/meta-data/", "default", hmac),
            "not a public address",
        ),
        (
            waha("http://127.0.0.1:5432", "default", hmac),
            "not a public address",
        ),
        (
            waha("http://localhost:7233", "default", hmac),
            "not a public address",
        ),
        (
            waha("http://[::ffff:10.0.0.1]:3000", "default", hmac),
            "not a public address",
        ),
        (
            waha("http://2130706433:3000", "default", hmac),
            "not a public address",
        ),
        (
            waha("https://admin:pw@waha.example.com", "default", hmac),
            "credentials",
        ),
        (
            waha("https://waha.example.com", "../../api/server/stop", hmac),
            "session",
        ),
        (
            waha("https://waha.example.com", "default", None),
            "hmac_key is required",
        ),
    ] {
        let (status, problem) = create(provider.clone(), "waha").await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{provider}: {problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap_or_default().contains(why),
            "{provider}: {problem}"
        );
    }
    let meta = json!({"page_id": "1234", "access_token": "page-token", "app_secret": "an-app-secret-long", "verify_token": "v",
                      "graph_base_url": "http://10.1.2.3:8080"});
    let (status, problem) = create(meta, "messenger").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = create(waha("https://waha.example.com", "default", hmac), "waha").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a public WAHA is fine: {problem}"
    );
    const EVENT: &str = "message.received";
    for url in [
        "http://127.0.0.1:9/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://[2002:7f00:1::1]/hook",
        "http://240.0.0.1/hook",
        "http://192.0.0.8/hook",
    ] {
        let resp = app
            .http
            .post(format!("{api}/api/v1/webhook-subscriptions"))
            .bearer_auth(&app.api_key)
            .json(&json!({"url": url, "event_types": [EVENT]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
    }
    let resp = app
        .http
        .post(format!("{api}/api/v1/webhook-subscriptions"))
        .bearer_auth(&app.api_key)
        .json(&json!({"url": "https://hooks.example.com/ventros", "event_types": [EVENT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "a public receiver is fine"
    );

    // Where the connection is made: no redirect is followed (the API key stays home), a private
    // address is refused before any byte leaves, and the session is one encoded path segment.
    let (target, stolen) = recorder(
        axum::http::Response::builder()
            .status(200)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    let (redirector, seen) = recorder(
        axum::http::Response::builder()
            .status(307)
            .header("location", format!("{target}/steal"))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    let cfg = WahaConfig {
        base_url: redirector.clone(),
        api_key: "secret-key".into(),
        session: "../admin".into(),
        hmac_key: None,
    };
    let loopback_ok = HttpWahaClient::with_policy(NetPolicy::private_allowed());
    assert!(
        loopback_ok.session(&cfg).await.is_err(),
        "a redirect is not an answer"
    );
    assert!(
        stolen.lock().unwrap().is_empty(),
        "the redirect was followed: {:?}",
        stolen.lock().unwrap()
    );
    assert_eq!(seen.lock().unwrap()[0].0, "/api/sessions/..%2Fadmin");
    let production = HttpWahaClient::new();
    let refused = production.session(&cfg).await.unwrap_err();
    assert!(
        matches!(refused, WahaError::Refused(_)) && refused.is_permanent(),
        "{refused}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "nothing was sent to the private address"
    );
}

#[tokio::test]
async fn waha_webhooks_must_be_signed_and_cannot_date_themselves_in_the_future() {
    let app = TestApp::spawn(json!({})).await;
    // A channel stored before keys were required has none: its webhook accepts nothing.
    let legacy = Uuid::now_v7();
    sqlx::query("INSERT INTO channels (id, tenant_id, kind, name, provider_config) VALUES ($1, $2, 'waha', 'old', $3)")
        .bind(legacy)
        .bind(app.tenant_id)
        .bind(json!({"base_url": app.sim_url, "api_key": "k", "session": "default"}))
        .execute(&app.pool)
        .await
        .unwrap();
    let forged = serde_json::to_vec(&json!({"event": "session.status", "session": "default", "timestamp": chrono::Utc::now().timestamp_millis(),
                                            "payload": {"status": "FAILED"}})).unwrap();
    let (status, _, _) = app.raw_webhook(&legacy.to_string(), forged, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an unsigned webhook is refused"
    );

    // A status dated in the year 9999 does not pin the channel: the next genuine one still counts.
    let status_event = |status: &str, at_ms: i64| {
        serde_json::to_vec(&json!({"event": "session.status", "session": "default", "timestamp": at_ms, "payload": {"status": status}})).unwrap()
    };
    let future = status_event("STOPPED", 253_402_300_799_000);
    let signature = ventros_channels::waha::sign_body(support::HMAC_KEY, &future);
    let (status, body, _) = app
        .raw_webhook(&app.channel_id.to_string(), future, Some(signature))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = status_event(
        "WORKING",
        chrono::Utc::now().timestamp_millis() + 10 * 60 * 1000,
    );
    let signature = ventros_channels::waha::sign_body(support::HMAC_KEY, &now);
    let (status, body, _) = app
        .raw_webhook(&app.channel_id.to_string(), now, Some(signature))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{body}"
    );
    let (stored, at): (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT status, status_changed_at FROM channels WHERE id = $1")
            .bind(app.channel_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, "WORKING");
    assert!(
        at <= chrono::Utc::now() + chrono::Duration::minutes(6),
        "{at}"
    );
}

/// Webhook bodies must be read whole before their signature can be checked, and anyone may send
/// them: a flood of bodies of just under the limit once took the API to hundreds of MiB. They
/// share a budget now; one that finds no room is turned away (503 with `Retry-After`, which WAHA
/// retries) before its body is read, and gets through once the room is back.
#[tokio::test]
async fn anonymous_webhook_bodies_cannot_fill_the_apis_memory() {
    use tokio::io::AsyncWriteExt;
    const BUDGET: usize = 1024 * 1024;
    let budget =
        ventros_api::body_budget::BodyBudget::with_wait(BUDGET, Duration::from_millis(500));
    let shared = budget.clone();
    let app = TestApp::builder()
        .api_config(move |config| config.body_budgets.webhooks = shared)
        .spawn()
        .await;
    // Someone declares a body as large as the whole budget and sends it slowly.
    let addr = app.api.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /webhooks/waha/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {BUDGET}\r\n\r\n{{\"event\":",
        app.channel_id
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    support::eventually(
        "the slow body's reservation",
        Duration::from_secs(10),
        || async { (budget.available() == 0).then_some(()) },
    )
    .await;

    let genuine = serde_json::to_vec(&json!({"event": "session.status", "session": "default",
        "timestamp": chrono::Utc::now().timestamp_millis(), "payload": {"status": "WORKING"}}))
    .unwrap();
    let signature = ventros_channels::waha::sign_body(support::HMAC_KEY, &genuine);
    let resp = app
        .http
        .post(format!("{}/webhooks/waha/{}", app.api, app.channel_id))
        .header("Content-Type", "application/json")
        .header("X-Webhook-Hmac", &signature)
        .body(genuine.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "1");
    let stored: Option<String> = sqlx::query_scalar("SELECT status FROM channels WHERE id = $1")
        .bind(app.channel_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_ne!(
        stored.as_deref(),
        Some("WORKING"),
        "the refused webhook changed nothing"
    );

    // The slow sender gives up: its room comes back, and WAHA's retry goes through.
    drop(slow);
    support::eventually(
        "the budget's room back",
        Duration::from_secs(10),
        || async { (budget.available() == BUDGET).then_some(()) },
    )
    .await;
    let (status, body, _) = app
        .raw_webhook(&app.channel_id.to_string(), genuine, Some(signature))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

const PASSWORD: &str = "correct horse battery";

async fn login_as(app: &TestApp, body: Value) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let resp = app
        .http
        .post(format!("{}/api/v1/auth/login", app.api))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

/// Creates a user of `app`'s tenant (as its admin key) and logs in: (user id, access token, refresh token).
async fn user_session(
    app: &TestApp,
    key: &str,
    email: &str,
    role: &str,
) -> (String, String, String) {
    let (status, user) = app
        .call(
            Method::POST,
            "/api/v1/users",
            key,
            Some(json!({"email": email, "name": "U", "role": role, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let (status, tokens, _) = login_as(app, json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (
        user["id"].as_str().unwrap().to_owned(),
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// Polls until `path` answers `expected` with `token` (sessions are re-checked within seconds).
async fn answers(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    expected: StatusCode,
) {
    support::eventually(
        &format!("{path} to answer {expected}"),
        std::time::Duration::from_secs(15),
        || {
            let (token, method, body) = (token.to_owned(), method.clone(), body.clone());
            async move { (app.call(method, path, &token, body).await.0 == expected).then_some(()) }
        },
    )
    .await;
}

#[tokio::test]
async fn access_tokens_end_with_their_session_and_follow_the_users_role() {
    let app = TestApp::spawn(json!({})).await;
    // Disabled: the token stops working (it kept working for 15 minutes before).
    let (id, token, _) = user_session(&app, &app.api_key, "disabled@sec.test", "agent").await;
    assert_eq!(
        app.call(Method::GET, "/api/v1/me", &token, None).await.0,
        StatusCode::OK
    );
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &app.api_key,
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    answers(
        &app,
        &token,
        Method::GET,
        "/api/v1/me",
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Demoted: the admin's old token no longer administers (the role change ends the sessions).
    let (id, token, _) = user_session(&app, &app.api_key, "demoted@sec.test", "admin").await;
    let key = Some(json!({"name": "made by an admin"}));
    assert_eq!(
        app.call(Method::POST, "/api/v1/api-keys", &token, key.clone())
            .await
            .0,
        StatusCode::CREATED
    );
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &app.api_key,
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    answers(
        &app,
        &token,
        Method::POST,
        "/api/v1/api-keys",
        key.clone(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Logged in again, the user has the new role only.
    let (status, tokens, _) = login_as(
        &app,
        json!({"email": "demoted@sec.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, tokens["role"].as_str()),
        (StatusCode::OK, Some("viewer"))
    );
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/api-keys",
            tokens["access_token"].as_str().unwrap(),
            key,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Logged out: the access token of that login ends with it.
    let (_, token, refresh) = user_session(&app, &app.api_key, "leaving@sec.test", "agent").await;
    let resp = app
        .http
        .post(format!("{}/api/v1/auth/logout", app.api))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    answers(
        &app,
        &token,
        Method::GET,
        "/api/v1/me",
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Changing your own password needs the current one.
    let (id, token, _) = user_session(&app, &app.api_key, "self@sec.test", "agent").await;
    let path = format!("/api/v1/users/{id}");
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"password": "a brand new password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"password": "a brand new password", "current_password": "not it at all"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = login_as(
        &app,
        json!({"email": "self@sec.test", "password": "a brand new password"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "nothing changed");
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"password": "a brand new password", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, tokens, _) = login_as(
        &app,
        json!({"email": "self@sec.test", "password": "a brand new password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The new password ended the old session.
    let token = tokens["access_token"].as_str().unwrap().to_owned();

    // The language the web app speaks is each user's own choice, among the ones it speaks; a
    // colleague cannot change it for them.
    let (status, user) = app
        .call(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"locale": "pt-BR"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["locale"], "pt-BR");
    let (_, me) = app.call(Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!(me["actor"]["locale"], "pt-BR", "{me}");
    let (status, _) = app
        .call(Method::PATCH, &path, &token, Some(json!({"locale": "fr"})))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a language we do not speak"
    );
    let (_, colleague, _) = user_session(&app, &app.api_key, "colleague@sec.test", "agent").await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            &colleague,
            Some(json!({"locale": "en"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, users) = app
        .call(Method::GET, "/api/v1/users", &app.api_key, None)
        .await;
    let stored: Vec<&Value> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["id"] == json!(id))
        .map(|u| &u["locale"])
        .collect();
    assert_eq!(stored, [&json!("pt-BR")], "unchanged by the refusals");
}

#[tokio::test]
async fn another_tenants_users_stay_invisible_and_logins_are_limited_per_address() {
    let app = TestApp::spawn(json!({})).await;
    user_session(&app, &app.api_key, "shared@sec.test", "agent").await;
    // Another tenant's admin creates a user with the same e-mail: nothing says it exists.
    let (_, other) = ventros_api::auth::create_tenant(&app.pool, "Other tenant")
        .await
        .unwrap();
    let (status, body) = app
        .call(Method::POST, "/api/v1/users", &other.secret, Some(json!({"email": "Shared@sec.test", "name": "B", "role": "viewer", "password": "another long password"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Within one tenant an e-mail is still unique.
    let (status, _) = app
        .call(Method::POST, "/api/v1/users", &other.secret, Some(json!({"email": "shared@sec.test", "name": "C", "role": "viewer", "password": "another long password"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Each password opens its own account.
    let (status, a, _) = login_as(
        &app,
        json!({"email": "shared@sec.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, a["tenant_id"].as_str()),
        (StatusCode::OK, Some(app.tenant_id.to_string().as_str()))
    );
    let (status, b, _) = login_as(
        &app,
        json!({"email": "shared@sec.test", "password": "another long password"}),
    )
    .await;
    assert_eq!(
        (status, b["role"].as_str()),
        (StatusCode::OK, Some("viewer"))
    );
    assert_ne!(a["tenant_id"], b["tenant_id"]);

    // Guessing across many e-mails from one address runs into the per-address limit.
    let mut limited = 0;
    for i in 0..25 {
        let (status, _, headers) = login_as(
            &app,
            json!({"email": format!("guess{i}@sec.test"), "password": "wrong password 123"}),
        )
        .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(headers.contains_key("retry-after"));
            limited += 1;
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    // 10 attempts at once from one address, then one every 6 s: whatever the hashing speed, most
    // of 25 quick guesses are refused before any password is checked.
    assert!(limited >= 8, "only {limited} of 25 guesses were limited");
}

#[tokio::test]
async fn the_browser_gets_security_headers_and_a_refresh_cookie_it_cannot_read() {
    let app = TestApp::spawn(json!({})).await;
    let (status, _) = app.call(Method::POST, "/api/v1/users", &app.api_key, Some(json!({"email": "web@sec.test", "name": "W", "role": "agent", "password": PASSWORD}))).await;
    assert_eq!(status, StatusCode::CREATED);
    for path in ["/healthz", "/api/v1/me", "/inbox"] {
        let resp = app
            .http
            .get(format!("{}{path}", app.api))
            .send()
            .await
            .unwrap();
        let h = resp.headers();
        assert_eq!(
            h.get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            h.get("x-frame-options").and_then(|v| v.to_str().ok()),
            Some("DENY"),
            "{path}"
        );
        assert!(h.get("referrer-policy").is_some(), "{path}");
        let request_id = h
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            uuid::Uuid::parse_str(request_id).is_ok(),
            "{path}: every response names its request: {request_id:?}"
        );
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
    }
    // A caller's own request id is kept, so its logs and ours meet.
    let resp = app
        .http
        .get(format!("{}/healthz", app.api))
        .header("x-request-id", "client-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("client-req-42")
    );
    let (status, body, headers) = login_as(
        &app,
        json!({"email": "web@sec.test", "password": PASSWORD, "refresh_cookie": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.get("refresh_token").is_none(),
        "the refresh token is not in the page's reach: {body}"
    );
    let cookie = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/auth"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_owned();
    let refresh = |cookie: String| {
        let (http, api) = (app.http.clone(), app.api.clone());
        async move {
            let resp = http
                .post(format!("{api}/api/v1/auth/refresh"))
                .header("cookie", cookie)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            (
                resp.status(),
                resp.headers()
                    .get("set-cookie")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };
    let (status, rotated) = refresh(pair.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(
        rotated.split(';').next().unwrap(),
        pair,
        "the cookie rotates"
    );
    // The old cookie was used: presenting it again is refused (and revokes the family).
    assert_eq!(refresh(pair).await.0, StatusCode::UNAUTHORIZED);
}
