//! The knowledge base end to end: uploads through the API become passages through a
//! KnowledgeIngestion workflow on the real worker, searchable through MemoryService; a re-upload
//! replaces them, deleting removes them, another tenant never sees them, and bad uploads change
//! nothing.

use super::*;

const POLICIES: &str = "# Horário de funcionamento\n\
Abrimos de segunda a sexta, das 9h às 18h, e aos sábados das 9h às 13h. Não abrimos aos domingos nem feriados.\n\n\
# Entrega\n\
Entregamos em Curitiba e região metropolitana em até 2 dias úteis. Frete grátis acima de R$ 150.\n\n\
# Formas de pagamento\n\
Aceitamos Pix, cartão de crédito em até 6x sem juros e boleto bancário.\n";

// As a spreadsheet in Portuguese saves it: `;` between columns, decimal commas.
const CATALOGUE: &str = "nome;descrição;preço;disponibilidade\n\
Café Especial 500g;Grãos torrados do sul de Minas com notas de chocolate;R$ 49,90;em estoque\n\
Moedor Manual;\"Moedor de café; ajuste de moagem\";R$ 189,00;sob encomenda\n";

async fn upload(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, "/api/v1/knowledge/documents", key, Some(body))
        .await
}

/// Waits until the document's `version` is indexed (or failed) and returns the document.
async fn indexed(app: &TestApp, id: &str, version: i64) -> Value {
    eventually("the document indexed", WAIT, || async {
        let (_, doc) = app.get(&format!("/api/v1/knowledge/documents/{id}")).await;
        let done = doc["status"] != "pending" && doc["version"] == version;
        let current = doc["status"] == "failed" || doc["indexed_version"] == version;
        (done && current).then_some(doc)
    })
    .await
}

async fn search(app: &TestApp, key: &str, q: &str) -> Vec<Value> {
    let (status, found) = app
        .get_as(
            &format!("/api/v1/knowledge/search?q={}", percent_encoded(q)),
            key,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    found["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn uploaded_knowledge_is_indexed_replaced_deleted_and_stays_in_its_tenant() {
    let app = TestApp::spawn(quiet_settings()).await;
    let key = app.api_key.clone();

    let (status, doc) = upload(
        &app,
        &key,
        json!({"title": "Políticas da loja", "format": "markdown", "content": POLICIES}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{doc}");
    assert_eq!(
        (&doc["status"], &doc["version"]),
        (&json!("pending"), &json!(1))
    );
    assert!(
        doc["workflow"]["id"]
            .as_str()
            .unwrap()
            .starts_with("knowledge-")
    );
    let id = doc["id"].as_str().unwrap().to_owned();
    let workflow_id = doc["workflow"]["id"].as_str().unwrap().to_owned();
    let doc = indexed(&app, &id, 1).await;
    eventually("the ingestion workflow completed", WAIT, || async {
        app.temporal
            .get_workflow_handle::<ventros_workflows::KnowledgeIngestion>(workflow_id.clone())
            .get_result(Default::default())
            .await
            .ok()
    })
    .await;
    app.record_history(&workflow_id, "knowledge-ingestion")
        .await;
    assert_eq!(doc["status"], "indexed", "{doc}");
    assert_eq!(doc["passage_count"], 3);
    assert_eq!(doc["language"], "pt");

    let hits = search(&app, &key, "Vocês abrem no sábado?").await;
    assert_eq!(hits[0]["heading"], "Horário de funcionamento", "{hits:?}");
    assert_eq!(hits[0]["document_title"], "Políticas da loja");
    assert!(
        hits[0]["content"]
            .as_str()
            .unwrap()
            .contains("sábados das 9h às 13h")
    );
    let hits = search(&app, &key, "aceitam pix?").await;
    assert_eq!(hits[0]["heading"], "Formas de pagamento", "{hits:?}");
    assert_eq!(hits[0]["keyword_match"], true);

    // A catalogue: one passage per product, price and availability in it.
    let (status, catalogue) = upload(
        &app,
        &key,
        json!({"title": "Catálogo", "format": "csv", "content": CATALOGUE}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{catalogue}");
    let catalogue_id = catalogue["id"].as_str().unwrap().to_owned();
    assert_eq!(indexed(&app, &catalogue_id, 1).await["passage_count"], 2);
    let hits = search(&app, &key, "quanto custa o moedor manual?").await;
    assert_eq!(hits[0]["heading"], "Moedor Manual", "{hits:?}");
    assert!(hits[0]["content"].as_str().unwrap().contains("R$ 189,00"));
    assert_eq!(hits[0]["fields"]["disponibilidade"], "sob encomenda");

    // Re-uploading replaces the passages: the old hours are gone once version 2 is indexed.
    let changed = POLICIES.replace("aos sábados das 9h às 13h", "aos sábados das 8h às 12h");
    let (status, again) = app
        .call(
            Method::PUT,
            &format!("/api/v1/knowledge/documents/{id}"),
            &key,
            Some(json!({"title": "Políticas da loja", "format": "markdown", "content": changed})),
        )
        .await;
    assert_eq!(
        (status, &again["version"]),
        (StatusCode::ACCEPTED, &json!(2)),
        "{again}"
    );
    assert_eq!(indexed(&app, &id, 2).await["passage_count"], 3);
    let hours: Vec<String> = search(&app, &key, "horário de sábado")
        .await
        .iter()
        .map(|h| h["content"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        hours.iter().any(|c| c.contains("das 8h às 12h")),
        "{hours:?}"
    );
    assert!(
        !hours.iter().any(|c| c.contains("das 9h às 13h")),
        "{hours:?}"
    );
    let passages: i64 =
        sqlx::query_scalar("SELECT count(*) FROM knowledge_passages WHERE document_id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        passages, 3,
        "the old version's passages are replaced, not added to"
    );

    // Another tenant: no passages, and the document is not found.
    let (_, other_key) = ventros_api::auth::create_tenant(&app.pool, "Other")
        .await
        .unwrap();
    assert!(
        search(&app, &other_key.secret, "Vocês abrem no sábado?")
            .await
            .is_empty()
    );
    let (status, _) = app
        .get_as(
            &format!("/api/v1/knowledge/documents/{id}"),
            &other_key.secret,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/knowledge/documents/{id}"),
            &other_key.secret,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting removes the passages at once.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/knowledge/documents/{id}"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let left = search(&app, &key, "Vocês abrem no sábado?").await;
    assert!(
        left.iter()
            .all(|h| h["document_id"] == catalogue_id.as_str()),
        "{left:?}"
    );
}

#[tokio::test]
async fn bad_uploads_are_refused_and_unreadable_sources_say_why() {
    let app = TestApp::spawn(quiet_settings()).await;
    let key = app.api_key.clone();
    let refused = [
        json!({"title": "x", "format": "pdf", "content": "not base64, and a PDF"}),
        json!({"title": "x", "format": "markdown", "content_base64": "%%%"}),
        json!({"title": "x", "format": "markdown", "content": "a", "content_base64": "YQ=="}),
        json!({"title": "x", "format": "markdown"}),
        json!({"title": "", "format": "markdown", "content": "Texto"}),
        json!({"title": "x", "format": "docx", "content": "Texto"}),
        json!({"title": "x", "format": "text", "content": "   "}),
        // Over the API's general body limit, under the upload limit: read, then refused for
        // what it is (not a PDF), not for its size.
        json!({"title": "x", "format": "pdf", "content_base64": base64_of(&vec![b'a'; 300 * 1024])}),
    ];
    for body in refused {
        let (status, problem) = upload(&app, &key, body.clone()).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{body}: {status} {problem}"
        );
    }
    assert_eq!(app.count("knowledge_documents").await, 0);

    // Only admins change the knowledge base; everyone reads it.
    let agent = super::create_user(&app, "agent@example.com", "agent").await;
    let (status, _) = upload(
        &app,
        &agent,
        json!({"title": "x", "format": "text", "content": "Texto"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get_as("/api/v1/knowledge/documents", &agent).await;
    assert_eq!(status, StatusCode::OK);

    // Accepted but unreadable: the document says why, and has no passages.
    let (status, doc) = upload(
        &app,
        &key,
        json!({"title": "Sem nome", "format": "csv", "content": "descrição,preço\nAlgo,10\n"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{doc}");
    let doc = indexed(&app, doc["id"].as_str().unwrap(), 1).await;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert!(
        doc["error"].as_str().unwrap().contains("name column"),
        "{doc}"
    );
    assert_eq!(doc["passage_count"], 0);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The whole path: the knowledge uploaded through the API answers a customer on WhatsApp through
/// the Conversation workflow, the real agent service and MemoryService (real embeddings, real
/// full text); the passages are stored with the run; a question it does not cover goes to a person.
#[tokio::test]
async fn a_customer_is_answered_from_the_business_knowledge_or_handed_over() {
    let (app, agents) = support::ai_app(
        json!({"debounce_ms": 0, "ai": {"agent_type": "RouterAgent", "confidence_threshold": 0.3}}),
    )
    .await;
    let (status, doc) = upload(
        &app,
        &app.api_key,
        json!({"title": "Políticas da loja", "format": "markdown", "content": POLICIES}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{doc}");
    indexed(&app, doc["id"].as_str().unwrap(), 1).await;

    app.customer_writes(
        "5511999990301@c.us",
        text("Bom dia! Vocês abrem no sábado?"),
        1,
        false,
    )
    .await;
    let sent = app.wait_outbound(1, "read", WAIT).await;
    let (body, metadata, assigned): (Option<String>, Value, String) = sqlx::query_as(
        "SELECT m.body, r.metadata, s.assigned_to FROM messages m
           JOIN agent_runs r ON r.id = m.id JOIN conversation_sessions s ON s.id = m.session_id
          WHERE m.id = $1",
    )
    .bind(sent[0].0)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let body = body.unwrap();
    assert!(
        body.contains("aos sábados das 9h às 13h"),
        "{body} {metadata}"
    );
    assert_eq!(assigned, "bot", "answered, not handed over");
    let used: Value =
        serde_json::from_str(metadata["knowledge_passages"].as_str().unwrap()).unwrap();
    assert_eq!(used[0]["heading"], "Horário de funcionamento", "{used}");
    // Operators see what the answer stands on, in the conversation.
    let conversation = app.only_conversation().await;
    let (_, detail) = app
        .get(&format!(
            "/api/v1/conversations/{}",
            conversation["id"].as_str().unwrap()
        ))
        .await;
    let answer = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["direction"] == "outbound")
        .unwrap();
    assert_eq!(
        answer["knowledge_sources"][0]["document_title"], "Políticas da loja",
        "{answer}"
    );
    // An operator's "suggest a reply" gets the same answer, with what it stands on.
    let (status, draft) = app
        .post(
            "/api/v1/agents/draft",
            json!({"contact_id": conversation["contact_id"], "message": "Vocês aceitam pix?"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{draft}");
    assert!(draft["draft"].as_str().unwrap().contains("Pix"), "{draft}");
    assert_eq!(draft["language"], "pt");
    assert_eq!(
        draft["knowledge_sources"][0]["heading"], "Formas de pagamento",
        "{draft}"
    );

    // Not in the knowledge base: no invented answer, a colleague takes over.
    app.customer_writes(
        "5511999990302@c.us",
        text("Vocês vendem ingressos para o show de sábado?"),
        1,
        false,
    )
    .await;
    let sent = app.wait_outbound(2, "read", WAIT).await;
    let mut replies = Vec::new();
    for (id, _, _) in &sent {
        replies.push(body_of(&app, *id).await);
    }
    let reply = replies.into_iter().find(|r| *r != body).unwrap();
    assert!(!reply.contains("9h"), "{reply}");
    eventually("the second chat handed to a person", WAIT, || async {
        let assigned: Vec<String> =
            sqlx::query_scalar("SELECT assigned_to FROM conversation_sessions ORDER BY created_at")
                .fetch_all(&app.pool)
                .await
                .unwrap();
        (assigned == ["bot", "human"]).then_some(())
    })
    .await;
    drop(agents);
}

async fn body_of(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar::<_, Option<String>>("SELECT body FROM messages WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .unwrap_or_default()
}
