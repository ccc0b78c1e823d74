//! The MCP server end to end: a real MCP client (rmcp's) starts `ventros-mcp` over stdio against
//! this test's stack (API, Temporal, PostgreSQL, worker, WAHA simulator), lists and checks the
//! tools, and drives the CRM through them; plus the discovery-first mode and the authenticated
//! streamable HTTP transport.

use std::path::PathBuf;
use std::time::Duration;

use crate::support;
use crate::support::{TestApp, eventually};
use reqwest::StatusCode;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, GetPromptRequestParams, ReadResourceRequestParams,
    ResourceContents,
};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

fn mcp_binary() -> PathBuf {
    // Built with the workspace (scripts/test.sh builds every target first), next to the worker.
    let path = PathBuf::from(env!("CARGO_BIN_EXE_ventros-worker")).with_file_name("ventros-mcp");
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

async fn connect(app: &TestApp, key: &str, discovery: bool) -> RunningService<RoleClient, ()> {
    let (api, key) = (app.api.clone(), key.to_owned());
    let transport =
        TokioChildProcess::new(tokio::process::Command::new(mcp_binary()).configure(|cmd| {
            cmd.arg("stdio")
                .env("VENTROS_API_URL", &api)
                .env("VENTROS_API_KEY", &key)
                .env("RUST_LOG", "warn");
            if discovery {
                cmd.env("VENTROS_MCP_DISCOVERY", "true");
            }
        }))
        .expect("spawn ventros-mcp");
    ().serve(transport).await.expect("MCP handshake")
}

async fn call(client: &RunningService<RoleClient, ()>, name: &str, args: Value) -> CallToolResult {
    let args: Map<String, Value> = args.as_object().cloned().unwrap_or_default();
    client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{name}: protocol error {e}"))
}

/// A successful tool call's JSON.
async fn ok(client: &RunningService<RoleClient, ()>, name: &str, args: Value) -> Value {
    let result = call(client, name, args).await;
    assert_ne!(
        result.is_error,
        Some(true),
        "{name} failed: {:?}",
        result.content
    );
    result.structured_content.clone().unwrap_or_else(|| {
        let text = result
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone())
            .unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    })
}

/// A failed tool call's message (a tool error, not a protocol error).
async fn refused(client: &RunningService<RoleClient, ()>, name: &str, args: Value) -> String {
    let result = call(client, name, args).await;
    assert_eq!(
        result.is_error,
        Some(true),
        "{name} should fail: {:?}",
        result.content
    );
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_mcp_client_drives_the_crm_over_stdio() {
    let app =
        TestApp::spawn(json!({"greeting": "Olá! Em que posso ajudar?", "debounce_ms": 0})).await;
    let chat = "5511977776666@c.us";
    app.customer_writes(
        chat,
        json!([{"body": "Quero saber o preço do plano anual"}]),
        1,
        false,
    )
    .await;
    app.wait_outbound(1, "read", WAIT).await;

    let client = connect(&app, &app.api_key, false).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("ventros")
    );

    // Tools: at least 30, each with a well-formed input schema and annotations.
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.len() >= 30, "{} tools", tools.len());
    for tool in &tools {
        let schema = Value::Object((*tool.input_schema).clone());
        assert!(
            jsonschema::meta::is_valid(&schema),
            "{}: the input schema is not valid JSON Schema",
            tool.name
        );
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", tool.name));
        assert!(
            tool.description.as_deref().is_some_and(|d| d.len() > 20),
            "{} needs a description",
            tool.name
        );
        let annotations = tool
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no annotations", tool.name));
        assert!(
            annotations.read_only_hint.is_some() && annotations.destructive_hint.is_some(),
            "{}",
            tool.name
        );
    }
    let hint = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .unwrap()
            .annotations
            .clone()
            .unwrap()
    };
    assert_eq!(hint("search_contacts").read_only_hint, Some(true));
    assert_eq!(hint("send_message").destructive_hint, Some(true));
    assert_eq!(hint("run_query").read_only_hint, Some(true));

    // Search a contact, read its conversation.
    let found = ok(&client, "search_contacts", json!({"q": "Test Customer"})).await;
    let contact = &found["items"][0];
    let contact_id = contact["id"].as_str().expect("a contact").to_owned();
    let conversations = ok(
        &client,
        "list_conversations",
        json!({"contact_id": contact_id}),
    )
    .await;
    let conversation_id = conversations["items"][0]["id"].as_str().unwrap().to_owned();
    let history = ok(
        &client,
        "get_conversation_history",
        json!({"conversation_id": conversation_id}),
    )
    .await;
    let texts: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert!(
        texts.contains(&"Quero saber o preço do plano anual"),
        "{texts:?}"
    );
    let state = ok(
        &client,
        "get_conversation_state",
        json!({"conversation_id": conversation_id}),
    )
    .await;
    assert!(
        state.get("messages").is_none() && state["status"] == "open",
        "{state}"
    );

    // Send a message that reaches WhatsApp; the same idempotency key never sends twice.
    let send = json!({"conversation_id": conversation_id, "text": "O plano anual custa R$ 990.", "idempotency_key": "mcp-1"});
    let sent = ok(&client, "send_message", send.clone()).await;
    let again = ok(&client, "send_message", send).await;
    assert_eq!(sent["message_id"], again["message_id"]);
    eventually("the message at the simulator", WAIT, || async {
        app.sent_to(chat)
            .iter()
            .any(|t| t == "O plano anual custa R$ 990.")
            .then_some(())
    })
    .await;
    app.wait_outbound(2, "read", WAIT).await;
    assert_eq!(
        app.sent_to(chat)
            .iter()
            .filter(|t| *t == "O plano anual custa R$ 990.")
            .count(),
        1
    );

    // A file, retried (uploaded again) under the same key: one message, one file at WhatsApp.
    let pdf = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
    };
    let file = json!({"conversation_id": conversation_id, "content_base64": pdf, "content_type": "application/pdf",
                      "filename": "plano-anual.pdf", "caption": "O contrato do plano", "idempotency_key": "mcp-file-1"});
    let sent = ok(&client, "send_file", file.clone()).await;
    let again = ok(&client, "send_file", file).await;
    assert_eq!(sent["message_id"], again["message_id"]);
    app.wait_outbound(3, "read", WAIT).await;
    let files: Vec<_> = app.sim.sent().into_iter().filter_map(|m| m.media).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].filename.as_deref(), Some("plano-anual.pdf"));

    // Move a deal through the pipeline.
    // (The first deal creates the tenant's default pipeline.)
    let deal = ok(
        &client,
        "create_deal",
        json!({"contact_id": contact_id, "title": "Plano anual"}),
    )
    .await;
    let deal_id = deal["id"].as_str().unwrap().to_owned();
    let pipelines = ok(&client, "list_pipelines", json!({})).await;
    let stages = pipelines["items"][0]["stages"]
        .as_array()
        .unwrap_or_else(|| panic!("{pipelines}"))
        .clone();
    let target = stages[1]["id"].as_str().unwrap();
    ok(
        &client,
        "move_deal",
        json!({"deal_id": deal_id, "stage_id": target}),
    )
    .await;
    let moved = ok(&client, "get_deal", json!({"deal_id": deal_id})).await;
    assert_eq!(moved["stage_id"], target, "{moved}");

    // Read-only BI: a named report and free SQL over the reporting views.
    let rates = ok(&client, "run_query", json!({"report": "delivery_rates"})).await;
    let whatsapp = rates["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "waha")
        .expect("the WhatsApp channel")
        .clone();
    assert_eq!(
        (whatsapp["outbound"].as_i64(), whatsapp["read"].as_i64()),
        (Some(3), Some(3)),
        "{rates}"
    );
    let by_direction = ok(&client, "run_query", json!({"sql": "SELECT direction, count(*) AS n FROM messages GROUP BY direction ORDER BY direction"})).await;
    assert_eq!(
        by_direction["rows"],
        json!([{"direction": "inbound", "n": 1}, {"direction": "outbound", "n": 3}])
    );

    // Writes through RunQuery fail cleanly and change nothing.
    let contacts_before = app.count("contacts").await;
    for sql in [
        "DELETE FROM contacts",
        "UPDATE contacts SET display_name = 'x'",
        "SELECT set_config('ventros.tenant_id', 'x', true)",
        "SELECT * FROM api_keys",
        "WITH gone AS (DELETE FROM deals RETURNING id) SELECT count(*) FROM gone",
    ] {
        let message = refused(&client, "run_query", json!({"sql": sql})).await;
        assert!(message.contains("422"), "{sql}: {message}");
    }
    assert_eq!(app.count("contacts").await, contacts_before);
    assert_eq!(app.count("deals").await, 1);
    // Underneath the parser: the role reports run as can read the views and nothing else.
    for sql in [
        "SELECT count(*) FROM public.contacts",
        "SELECT count(*) FROM public.api_keys",
        "DELETE FROM reporting.contacts",
        "INSERT INTO reporting.deals (id) VALUES (gen_random_uuid())",
    ] {
        let mut tx = app.pool.begin().await.unwrap();
        sqlx::query("SET LOCAL ROLE ventros_reader")
            .execute(&mut *tx)
            .await
            .unwrap();
        let denied = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .expect_err(sql);
        assert!(
            denied.to_string().contains("permission denied")
                || denied.to_string().contains("cannot"),
            "{sql}: {denied}"
        );
    }

    // Another tenant's data: not found, and invisible to SQL.
    let (other_tenant, other_key) = ventros_api::auth::create_tenant(&app.pool, "Other tenant")
        .await
        .unwrap();
    let other = connect(&app, &other_key.secret, false).await;
    let theirs = ok(
        &other,
        "create_contact",
        json!({"display_name": "Somebody Else"}),
    )
    .await;
    let their_id = theirs["id"].as_str().unwrap();
    let message = refused(&client, "get_contact", json!({"contact_id": their_id})).await;
    assert!(message.contains("404"), "{message}");
    let message = refused(
        &client,
        "tag_contact",
        json!({"contact_id": their_id, "tag": "stolen"}),
    )
    .await;
    assert!(message.contains("404"), "{message}");
    let counted = ok(
        &client,
        "run_query",
        json!({"sql": "SELECT count(*) AS n FROM contacts"}),
    )
    .await;
    assert_eq!(counted["rows"][0]["n"], 1, "only this tenant's contact");
    let counted = ok(
        &other,
        "run_query",
        json!({"sql": "SELECT count(*) AS n, min(display_name) AS name FROM contacts"}),
    )
    .await;
    assert_eq!(counted["rows"][0], json!({"n": 1, "name": "Somebody Else"}));
    assert_ne!(other_tenant, app.tenant_id);
    other.cancel().await.ok();

    // Bad arguments are tool errors with a reason, not protocol failures.
    let message = refused(
        &client,
        "get_contact",
        json!({"contact_id": "../../api-keys"}),
    )
    .await;
    assert!(message.contains("UUID"), "{message}");
    let message = refused(&client, "move_deal", json!({"deal_id": deal_id})).await;
    assert!(message.contains("stage_id"), "{message}");

    // Resources and prompts.
    let templates = client.list_all_resource_templates().await.unwrap();
    assert!(
        templates
            .iter()
            .any(|t| t.uri_template == "ventros://contacts/{contact_id}")
    );
    let resource = client
        .read_resource(ReadResourceRequestParams::new(format!(
            "ventros://contacts/{contact_id}"
        )))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &resource.contents[0] else {
        panic!("text resource")
    };
    assert!(text.contains("Test Customer"), "{text}");
    let conversation = client
        .read_resource(ReadResourceRequestParams::new(format!(
            "ventros://conversations/{conversation_id}"
        )))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &conversation.contents[0] else {
        panic!("text resource")
    };
    assert!(
        text.contains("R$ 990"),
        "the conversation resource carries the history"
    );
    assert!(
        client
            .read_resource(ReadResourceRequestParams::new(format!(
                "ventros://contacts/{their_id}"
            )))
            .await
            .is_err(),
        "another tenant's contact"
    );
    let prompts = client.list_all_prompts().await.unwrap();
    assert!(prompts.iter().any(|p| p.name == "summarise_customer"));
    let mut prompt_args = Map::new();
    prompt_args.insert("contact_id".into(), json!(contact_id));
    let prompt = client
        .get_prompt(GetPromptRequestParams::new("summarise_customer").with_arguments(prompt_args))
        .await
        .unwrap();
    let text = prompt.messages[0]
        .content
        .as_text()
        .map(|t| t.text.clone())
        .unwrap_or_default();
    assert!(
        text.contains("Test Customer") && text.contains("Plano anual"),
        "{text}"
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn discovery_mode_and_the_authenticated_http_transport() {
    let app = TestApp::spawn(json!({})).await;

    // Discovery-first: three tools that reach the whole catalog.
    let client = connect(&app, &app.api_key, true).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        ["ventros_catalog", "ventros_describe", "ventros_execute"]
    );
    let catalog = ok(&client, "ventros_catalog", json!({})).await;
    assert!(catalog["tools"].as_array().unwrap().len() >= 30);
    let described = ok(
        &client,
        "ventros_describe",
        json!({"name": "create_contact"}),
    )
    .await;
    assert_eq!(described["input_schema"]["type"], "object");
    let created = ok(
        &client,
        "ventros_execute",
        json!({"name": "create_contact", "arguments": {"display_name": "Via discovery"}}),
    )
    .await;
    assert!(Uuid::parse_str(created["id"].as_str().unwrap()).is_ok());
    let message = refused(&client, "ventros_execute", json!({"name": "no_such_tool"})).await;
    assert!(message.contains("ventros_catalog"), "{message}");
    client.cancel().await.ok();

    // Streamable HTTP: every request needs a valid API key as bearer.
    let port = support::free_port();
    let mut server = tokio::process::Command::new(mcp_binary())
        .args(["http", "--bind", &format!("127.0.0.1:{port}")])
        .env("VENTROS_API_URL", &app.api)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ventros-mcp http");
    let url = format!("http://127.0.0.1:{port}/mcp");
    eventually("the HTTP transport up", WAIT, || async {
        app.http
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let post = |bearer: Option<&str>| {
        let mut request = app
            .http
            .post(&url)
            .header("Accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(b) = bearer {
            request = request.bearer_auth(b);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(Some("vtr_not_a_real_key")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let accepted = post(Some(&app.api_key)).await.unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    let body = accepted.text().await.unwrap();
    assert!(
        body.contains("\"ventros\""),
        "the initialize result names the server: {body}"
    );
    server.kill().await.ok();
}

#[tokio::test]
async fn named_reports_bad_parameters_row_caps_and_agent_drafts() {
    let memory = format!("127.0.0.1:{}", support::free_port());
    let agents = support::AgentService::start(&memory).await;
    let app = TestApp::builder()
        .settings(json!({"greeting": "Oi!", "debounce_ms": 0}))
        .agents(&agents.address, &memory)
        .spawn()
        .await;
    let chat = "5511966665555@c.us";
    app.customer_writes(
        chat,
        json!([{"body": "I want to buy product X"}, {"body": "How much is it?"}]),
        1,
        false,
    )
    .await;
    eventually("the reply read", WAIT, || async {
        let rows = app.outbound_statuses().await;
        (!rows.is_empty() && rows.iter().all(|(_, s, _)| s == "read")).then_some(())
    })
    .await;

    // Every named report runs; the catalog lists them with the views and their columns.
    let (status, catalog) = app.get("/api/v1/reports").await;
    assert_eq!(status, StatusCode::OK);
    let messages_view = catalog["views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "messages")
        .unwrap();
    let columns: Vec<&str> = messages_view["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        columns.contains(&"direction") && !columns.contains(&"body"),
        "no message text in reports: {columns:?}"
    );
    for report in catalog["reports"].as_array().unwrap() {
        let name = report["name"].as_str().unwrap();
        let (status, body) = app
            .post(&format!("/api/v1/reports/{name}"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
    }
    let (_, over_time) = app
        .post(
            "/api/v1/reports/messages_over_time",
            json!({"params": {"bucket": "hour"}}),
        )
        .await;
    assert_eq!(over_time["rows"][0]["inbound"], 2, "{over_time}");
    let (_, share) = app.post("/api/v1/reports/handling_share", json!({})).await;
    assert!(
        share["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "conversation" && r["handled_by"] == "bot"),
        "{share}"
    );

    // Bad input: clear errors.
    for (path, body, expected) in [
        ("/api/v1/reports/nope", json!({}), StatusCode::NOT_FOUND),
        (
            "/api/v1/reports/messages_over_time",
            json!({"params": {"bucket": "year"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/reports/messages_over_time",
            json!({"params": {"from": "yesterday"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/reports/intents",
            json!({"params": {"surprise": 1}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/reports/top_contacts",
            json!({"params": {"limit": 1000}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/reports/query",
            json!({"sql": "SELECT 1/0 AS boom FROM messages"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/reports/query",
            json!({"sql": "SELECT * FROM messages", "max_rows": 5000}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, problem) = app.post(path, body.clone()).await;
        assert_eq!(status, expected, "{path} {body}: {problem}");
    }
    // The row cap: more rows than asked for means `truncated`.
    let (_, capped) = app
        .post(
            "/api/v1/reports/query",
            json!({"sql": "SELECT id, direction FROM messages ORDER BY created_at", "max_rows": 1}),
        )
        .await;
    assert_eq!(
        (capped["row_count"].as_u64(), capped["truncated"].as_bool()),
        (Some(1), Some(true)),
        "{capped}"
    );
    assert_eq!(
        capped["columns"],
        json!(["id", "direction"]),
        "columns in the query's order"
    );

    // An agent drafts a reply through MCP; nothing is stored or sent.
    let sent_before = app.sim.sent().len();
    let outbound_before = app.count("messages WHERE direction = 'outbound'").await;
    let client = connect(&app, &app.api_key, false).await;
    let contact_id = ok(
        &client,
        "search_contacts",
        json!({"phone": "5511966665555"}),
    )
    .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let draft = ok(
        &client,
        "draft_agent_reply",
        json!({"contact_id": contact_id}),
    )
    .await;
    assert!(
        draft["draft"].as_str().is_some_and(|d| !d.is_empty()),
        "{draft}"
    );
    assert_eq!(draft["sent"], false);
    let draft = ok(&client, "draft_agent_reply", json!({"contact_id": contact_id, "message": "Where is my order?", "agent_type": "OrderStatusAgent"})).await;
    assert_eq!(draft["agent_type"], "OrderStatusAgent", "{draft}");
    assert_eq!(app.sim.sent().len(), sent_before);
    assert_eq!(
        app.count("messages WHERE direction = 'outbound'").await,
        outbound_before
    );
    let message = refused(
        &client,
        "draft_agent_reply",
        json!({"contact_id": Uuid::now_v7().to_string()}),
    )
    .await;
    assert!(message.contains("404"), "{message}");
    client.cancel().await.ok();
}
