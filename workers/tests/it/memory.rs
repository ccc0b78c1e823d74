//! The memory service against real PostgreSQL + pgvector, the real MiniLM embedder, the real
//! Temporal dev server and (for the last test) the real Python agent service.
//!
//! Engine-level tests ingest episodes directly with chosen dates; end-to-end tests go the whole
//! way: WAHA webhook → Conversation → outbox → memory feed → MemoryShard → graph → REST/gRPC.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::support;
use crate::support::{TestApp, eventually};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;
use ventros_memory::embed::{OnnxEmbedder, SharedEmbedder, locate_local_model};
use ventros_memory::engine::{
    EntityRef, Episode, FactInput, Hit, HitKind, Mode, SearchQuery, Weights,
};
use ventros_memory::{MemoryEngine, MemoryError};

const WAIT: Duration = Duration::from_secs(60);

/// MiniLM on the runtime the worker uses by default (int8, ONNX Runtime); candle's f32 path is
/// tested against it in `ventros-memory`.
pub(crate) fn embedder() -> SharedEmbedder {
    static EMBEDDER: OnceLock<SharedEmbedder> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            Arc::new(
                OnnxEmbedder::load(&locate_local_model(None).expect("model files"))
                    .expect("model loads"),
            )
        })
        .clone()
}

async fn engine() -> (MemoryEngine, PgPool) {
    let (pool, _) = support::fresh_database().await;
    let engine = MemoryEngine::new(pool.clone(), embedder());
    engine.ensure_space().await.expect("embedding space");
    (engine, pool)
}

pub(crate) async fn tenant_with_contact(pool: &PgPool, name: &str) -> (Uuid, Uuid) {
    let (tenant, _) = ventros_api::auth::create_tenant(pool, "Memory tenant")
        .await
        .expect("tenant");
    let contact = Uuid::now_v7();
    sqlx::query("INSERT INTO contacts (id, tenant_id, display_name) VALUES ($1, $2, $3)")
        .bind(contact)
        .bind(tenant)
        .bind(name)
        .execute(pool)
        .await
        .expect("contact");
    (tenant, contact)
}

pub(crate) fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, d, 12, 0, 0).unwrap()
}

pub(crate) fn message(
    tenant_id: Uuid,
    contact_id: Uuid,
    source_id: &str,
    at: DateTime<Utc>,
    text: &str,
) -> Episode {
    Episode {
        tenant_id,
        contact_id,
        kind: "message",
        source_type: "message".into(),
        source_id: source_id.into(),
        role: "contact",
        content: text.into(),
        occurred_at: at,
        metadata: json!({}),
        remember: true,
        context: None,
        extract: true,
        facts: vec![],
    }
}

pub(crate) fn query(
    tenant_id: Uuid,
    contact_id: Option<Uuid>,
    text: &str,
    mode: Mode,
) -> SearchQuery {
    SearchQuery {
        tenant_id,
        contact_id,
        query: text.into(),
        mode,
        limit: 10,
        memory_types: vec![],
        as_of: None,
        weights: Weights::default(),
        include_embeddings: false,
    }
}

fn facts_only(hits: &[Hit]) -> Vec<String> {
    hits.iter()
        .filter(|h| h.kind == HitKind::Fact)
        .map(|h| h.content.clone())
        .collect()
}

#[tokio::test]
async fn a_move_invalidates_the_old_city_without_deleting_it_and_as_of_sees_the_past() {
    let (engine, pool) = engine().await;
    let (tenant, contact) = tenant_with_contact(&pool, "Ana").await;
    engine
        .ingest(&message(
            tenant,
            contact,
            "m1",
            day(1),
            "Hi! I live in São Paulo.",
        ))
        .await
        .unwrap();
    let moved = engine
        .ingest(&message(
            tenant,
            contact,
            "m2",
            day(10),
            "Big news: I moved to Rio de Janeiro",
        ))
        .await
        .unwrap();
    assert_eq!((moved.facts_added, moved.facts_invalidated), (1, 1));
    // Ingesting the same source again changes nothing.
    let again = engine
        .ingest(&message(
            tenant,
            contact,
            "m2",
            day(10),
            "Big news: I moved to Rio de Janeiro",
        ))
        .await
        .unwrap();
    assert!(again.already_ingested);

    let now = engine
        .search(&query(
            tenant,
            Some(contact),
            "Where does Ana live?",
            Mode::Graph,
        ))
        .await
        .unwrap();
    assert_eq!(
        facts_only(&now.hits),
        vec!["Ana lives in Rio de Janeiro".to_owned()],
        "current truth only"
    );
    let mut before = query(tenant, Some(contact), "Where does Ana live?", Mode::Graph);
    before.as_of = Some(day(5));
    let then = engine.search(&before).await.unwrap();
    assert_eq!(
        facts_only(&then.hits),
        vec!["Ana lives in São Paulo".to_owned()],
        "as of day 5"
    );
    let hybrid = engine
        .search(&query(
            tenant,
            Some(contact),
            "which city is Ana in now",
            Mode::Hybrid,
        ))
        .await
        .unwrap();
    assert!(
        !facts_only(&hybrid.hits)
            .iter()
            .any(|f| f.contains("São Paulo")),
        "the old city is not current: {:?}",
        hybrid.hits
    );

    type FactTimes = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let rows: Vec<FactTimes> =
        sqlx::query_as("SELECT fact, invalid_at, expired_at FROM memory_facts WHERE predicate = 'lives_in' ORDER BY valid_at").fetch_all(&pool).await.unwrap();
    assert_eq!(rows.len(), 2, "nothing deleted");
    assert_eq!(
        rows[0].1,
        Some(day(10)),
        "São Paulo stopped being true when she moved"
    );
    assert!(rows[0].2.is_some(), "and we recorded when we learnt it");
    assert_eq!((rows[1].1, rows[1].2), (None, None));

    // Out of order: an older statement arriving late goes in already superseded.
    engine
        .ingest(&message(tenant, contact, "m0", day(2), "I work at Acme"))
        .await
        .unwrap();
    engine
        .ingest(&message(
            tenant,
            contact,
            "m3",
            day(20),
            "I work at Globex now",
        ))
        .await
        .unwrap();
    engine
        .ingest(&message(
            tenant,
            contact,
            "m-late",
            day(15),
            "I work at Initech",
        ))
        .await
        .unwrap();
    let works: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> =
        sqlx::query_as("SELECT fact, valid_at, invalid_at FROM memory_facts WHERE predicate = 'works_at' ORDER BY valid_at").fetch_all(&pool).await.unwrap();
    assert_eq!(
        works
            .iter()
            .map(|w| (w.0.as_str(), w.2))
            .collect::<Vec<_>>(),
        vec![
            ("Ana works at Acme", Some(day(15))),
            ("Ana works at Initech", Some(day(20))),
            ("Ana works at Globex", None),
        ]
    );

    let graph = engine
        .graph(tenant, contact, Some(day(5)), false, 1, None)
        .await
        .unwrap();
    assert!(
        graph
            .facts
            .iter()
            .any(|f| f.fact == "Ana lives in São Paulo")
            && graph.facts.iter().all(|f| !f.fact.contains("Rio"))
    );
    let history = engine
        .graph(tenant, contact, None, true, 1, None)
        .await
        .unwrap();
    assert_eq!(history.facts.len(), 5);
    let contact_node = history
        .entities
        .iter()
        .find(|e| e.entity_type == "contact")
        .unwrap();
    assert!(
        contact_node.summary.contains("Rio de Janeiro") && contact_node.summary.contains("Globex"),
        "{}",
        contact_node.summary
    );
}

/// A mixed fixture: some answers need the exact word, some the meaning, some the graph.
async fn mixed_fixture(
    engine: &MemoryEngine,
    tenant: Uuid,
    contact: Uuid,
) -> Vec<(&'static str, &'static str)> {
    let texts = [
        ("m1", day(1), "My order #48213 arrived with a cracked lid"),
        ("m2", day(2), "I bought the Vitamix blender on Black Friday"),
        (
            "m3",
            day(3),
            "The invoice you sent has the wrong tax number",
        ),
        (
            "m4",
            day(4),
            "I prefer to be contacted on WhatsApp after 6pm",
        ),
        ("m5", day(5), "Meu filho adora o liquidificador novo"),
        ("m6", day(6), "Can you deliver to my office next week?"),
        (
            "m7",
            day(7),
            "I work at Petrobras in the finance department",
        ),
        ("m8", day(8), "Thanks, that solved it!"),
        ("m9", day(9), "The weather is nice today"),
        ("m10", day(10), "I moved to Curitiba last month"),
        // Other orders whose numbers differ by a digit or two: to a sentence embedding the
        // numbers look alike, so "48213" needs the exact word (int8 MiniLM found it first
        // among ten unrelated messages, and HYBRID could not beat a perfect VECTOR).
        ("m11", day(12), "My order #48231 was a gift for my sister"),
        ("m12", day(13), "Order #84213 was paid by card"),
    ];
    for (id, at, text) in texts {
        engine
            .ingest(&message(tenant, contact, id, at, text))
            .await
            .unwrap();
    }
    // A CRM event: facts without extraction.
    let mut deal = message(
        tenant,
        contact,
        "deal-1",
        day(11),
        "Deal \"Annual subscription\" is in stage Proposal",
    );
    deal.kind = "crm_event";
    deal.source_type = "outbox".into();
    deal.role = "system";
    deal.extract = false;
    deal.facts = vec![
        FactInput {
            subject: None,
            predicate: "has_deal".into(),
            object: EntityRef::new("Annual subscription", "deal"),
        },
        FactInput {
            subject: Some(EntityRef::new("Annual subscription", "deal")),
            predicate: "in_stage".into(),
            object: EntityRef::new("Proposal", "stage"),
        },
    ];
    engine.ingest(&deal).await.unwrap();
    vec![
        // exact tokens
        ("48213", "message:m1"),
        ("tax number", "message:m3"),
        // meaning, no shared words
        ("kitchen appliance purchase", "message:m2"),
        ("which hours are best to reach me", "message:m4"),
        ("damaged package", "message:m1"),
        // relations (graph)
        ("which city", "message:m10"),
        ("employer", "message:m7"),
        ("what stage is the deal in", "outbox:deal-1"),
    ]
}

async fn reciprocal_rank(
    engine: &MemoryEngine,
    tenant: Uuid,
    contact: Uuid,
    cases: &[(&str, &str)],
    mode: Mode,
) -> f32 {
    let mut total = 0.0;
    for (text, source) in cases {
        let mut q = query(tenant, Some(contact), text, mode);
        q.limit = 5;
        let hits = engine.search(&q).await.unwrap().hits;
        if let Some(rank) = hits
            .iter()
            .position(|h| h.sources.iter().any(|s| s == source))
        {
            total += 1.0 / (rank as f32 + 1.0);
        }
    }
    total / cases.len() as f32
}

#[tokio::test]
async fn each_mode_finds_what_it_should_and_hybrid_beats_every_single_mode() {
    let (engine, pool) = engine().await;
    let (tenant, contact) = tenant_with_contact(&pool, "Bruno").await;
    let cases = mixed_fixture(&engine, tenant, contact).await;

    let top = |hits: &[Hit]| hits.first().map(|h| h.sources.clone()).unwrap_or_default();
    let keyword = engine
        .search(&query(tenant, Some(contact), "48213", Mode::Keyword))
        .await
        .unwrap();
    assert_eq!(top(&keyword.hits), vec!["message:m1".to_owned()]);
    assert_eq!(
        keyword.total_count, 1,
        "keyword search matches words, nothing else"
    );
    let vector = engine
        .search(&query(
            tenant,
            Some(contact),
            "a new kitchen appliance",
            Mode::Vector,
        ))
        .await
        .unwrap();
    assert!(
        top(&vector.hits).contains(&"message:m2".to_owned()),
        "{:?}",
        vector.hits
    );
    let none = engine
        .search(&query(
            tenant,
            Some(contact),
            "a new kitchen appliance",
            Mode::Keyword,
        ))
        .await
        .unwrap();
    assert!(
        none.hits
            .iter()
            .all(|h| !h.sources.contains(&"message:m2".to_owned())),
        "no shared word, no keyword hit"
    );
    let graph = engine
        .search(&query(tenant, Some(contact), "which city", Mode::Graph))
        .await
        .unwrap();
    assert_eq!(graph.hits[0].content, "Bruno lives in Curitiba");
    assert_eq!(
        graph.hits[0].sources,
        vec!["message:m10".to_owned()],
        "facts keep their provenance"
    );
    let pt = engine
        .search(&query(
            tenant,
            Some(contact),
            "liquidificadores",
            Mode::Keyword,
        ))
        .await
        .unwrap();
    assert_eq!(
        top(&pt.hits),
        vec!["message:m5".to_owned()],
        "Portuguese stemming"
    );
    for outcome in [&keyword, &vector, &graph] {
        assert!(outcome.hits.iter().all(|h| (0.0..=1.0).contains(&h.score)));
        assert!(outcome.latency_ms > 0.0);
    }
    let purchases = {
        let mut q = query(tenant, Some(contact), "blender", Mode::Hybrid);
        q.memory_types = vec!["purchase".into()];
        engine.search(&q).await.unwrap()
    };
    assert!(
        !purchases.hits.is_empty() && purchases.hits.iter().all(|h| h.memory_type == "purchase")
    );

    let mut scores = Vec::new();
    for mode in [Mode::Vector, Mode::Keyword, Mode::Graph, Mode::Hybrid] {
        scores.push((
            mode,
            reciprocal_rank(&engine, tenant, contact, &cases, mode).await,
        ));
    }
    let hybrid = scores[3].1;
    for (mode, score) in &scores[..3] {
        assert!(
            hybrid > *score,
            "HYBRID MRR {hybrid:.3} must beat {mode:?} {score:.3}: {scores:?}"
        );
    }
}

/// "em junho" with no year is the June of the customer's history: two years ago, when nothing
/// was said this June.
#[tokio::test]
async fn a_month_named_without_a_year_is_the_latest_one_in_the_contacts_history() {
    let (engine, pool) = engine().await;
    let (tenant, contact) = tenant_with_contact(&pool, "Renata").await;
    let year = Utc::now().year() - 2;
    let at = |m: u32, d: u32| Utc.with_ymd_and_hms(year, m, d, 15, 0, 0).unwrap();
    for (id, when, text) in [
        (
            "m1",
            at(3, 5),
            "Comprei o fogão de cinco bocas e comprei também o exaustor.",
        ),
        (
            "m2",
            at(3, 6),
            "Eu comprei a mesa de jantar de seis lugares.",
        ),
        (
            "m3",
            at(6, 10),
            "Fechei a geladeira frost free de 400 litros.",
        ),
        ("m4", at(9, 2), "Vocês abrem no feriado?"),
    ] {
        engine
            .ingest(&message(tenant, contact, id, when, text))
            .await
            .expect("ingested");
    }
    let hits = engine
        .search(&query(
            tenant,
            Some(contact),
            "O que eu comprei em junho?",
            Mode::Hybrid,
        ))
        .await
        .expect("search")
        .hits;
    assert_eq!(
        hits.first().map(|h| h.sources.clone()),
        Some(vec!["message:m3".to_owned()]),
        "June {year}'s purchase first: {:?}",
        hits.iter().map(|h| &h.sources).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn another_tenants_memories_never_appear_whatever_the_query() {
    let (engine, pool) = engine().await;
    let (tenant_a, contact_a) = tenant_with_contact(&pool, "Carla").await;
    let (tenant_b, contact_b) = tenant_with_contact(&pool, "Carla").await;
    for (tenant, contact) in [(tenant_a, contact_a), (tenant_b, contact_b)] {
        engine
            .ingest(&message(
                tenant,
                contact,
                "same-id",
                day(1),
                "I live in Lisbon and I bought the Pro plan",
            ))
            .await
            .unwrap();
    }
    let b_ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM memories WHERE tenant_id = $1 UNION ALL SELECT id FROM memory_facts WHERE tenant_id = $1")
        .bind(tenant_b)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(b_ids.len() >= 3);
    for mode in [Mode::Hybrid, Mode::Vector, Mode::Keyword, Mode::Graph] {
        for scope in [Some(contact_a), None] {
            for text in ["Lisbon", "Pro plan", "where does Carla live", "bought"] {
                let hits = engine
                    .search(&query(tenant_a, scope, text, mode))
                    .await
                    .unwrap()
                    .hits;
                assert!(!hits.is_empty() || mode == Mode::Graph, "{mode:?} {text}");
                assert!(
                    hits.iter().all(|h| !b_ids.contains(&h.id)),
                    "{mode:?} {scope:?} {text}: leaked {hits:?}"
                );
            }
        }
    }
    // B's contact through A's tenant: not found, whatever the operation.
    assert!(matches!(
        engine
            .search(&query(tenant_a, Some(contact_b), "Lisbon", Mode::Hybrid))
            .await,
        Err(MemoryError::NotFound(_))
    ));
    assert!(matches!(
        engine.graph(tenant_a, contact_b, None, true, 1, None).await,
        Err(MemoryError::NotFound(_))
    ));
}

#[tokio::test]
async fn bad_search_requests_are_refused_over_grpc_and_rest() {
    use ventros_proto::v1::{MemorySearchRequest, RelatedEntitiesRequest};

    let app = TestApp::spawn(json!({"debounce_ms": 0})).await;
    let contact = Uuid::now_v7();
    sqlx::query("INSERT INTO contacts (id, tenant_id, display_name) VALUES ($1, $2, 'Dora')")
        .bind(contact)
        .bind(app.tenant_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let mut client = eventually("MemoryService up", WAIT, || async {
        support::memory_client(&app.memory_address, app.tenant_id).await
    })
    .await;
    let base = MemorySearchRequest {
        contact_id: contact.to_string(),
        tenant_id: app.tenant_id.to_string(),
        query: "plan".into(),
        ..Default::default()
    };
    let ok = client
        .search_memories(base.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.total_count, 0);
    let cases = [
        (
            MemorySearchRequest {
                query: "  ".into(),
                ..base.clone()
            },
            tonic::Code::InvalidArgument,
        ),
        (
            MemorySearchRequest {
                mode: 99,
                ..base.clone()
            },
            tonic::Code::InvalidArgument,
        ),
        (
            MemorySearchRequest {
                limit: 101,
                ..base.clone()
            },
            tonic::Code::InvalidArgument,
        ),
        (
            MemorySearchRequest {
                limit: -1,
                ..base.clone()
            },
            tonic::Code::InvalidArgument,
        ),
        (
            MemorySearchRequest {
                contact_id: "nope".into(),
                ..base.clone()
            },
            tonic::Code::InvalidArgument,
        ),
        (
            MemorySearchRequest {
                contact_id: Uuid::now_v7().to_string(),
                ..base.clone()
            },
            tonic::Code::NotFound,
        ),
        (
            MemorySearchRequest {
                tenant_id: Uuid::now_v7().to_string(),
                ..base.clone()
            },
            tonic::Code::PermissionDenied,
        ),
    ];
    for (request, code) in cases {
        let err = client
            .search_memories(request.clone())
            .await
            .expect_err("refused");
        assert_eq!(err.code(), code, "{request:?}: {err:?}");
    }
    let err = client
        .get_related_entities(RelatedEntitiesRequest {
            contact_id: contact.to_string(),
            tenant_id: app.tenant_id.to_string(),
            depth: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    let path = format!("/api/v1/contacts/{contact}/memories");
    for (query, status) in [
        ("", StatusCode::BAD_REQUEST),
        ("?q=plan&mode=psychic", StatusCode::BAD_REQUEST),
        ("?q=plan&limit=1000", StatusCode::BAD_REQUEST),
        ("?q=plan&as_of=yesterday", StatusCode::BAD_REQUEST),
        ("?q=plan&mode=keyword", StatusCode::OK),
    ] {
        let (got, body) = app.get(&format!("{path}{query}")).await;
        assert_eq!(got, status, "{query}: {body}");
    }
    let (status, _) = app
        .get(&format!(
            "/api/v1/contacts/{}/memories?q=plan",
            Uuid::now_v7()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&format!("/api/v1/contacts/{contact}/graph?depth=0"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

fn at(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0).unwrap().to_rfc3339()
}

#[tokio::test]
async fn messages_become_memories_and_facts_through_the_ingestion_workflow() {
    let app = TestApp::spawn(json!({"debounce_ms": 0})).await;
    let now = Utc::now().timestamp();
    let (three_days_ago, one_day_ago) = (now - 3 * 86_400, now - 86_400);
    app.customer_writes(
        "5511999990100@c.us",
        json!([
            {"body": "Oi! Eu moro em São Paulo", "timestamp": three_days_ago},
            {"body": "Update: I moved to Rio de Janeiro", "timestamp": one_day_ago},
        ]),
        2, // every webhook delivered twice: still one episode per message
        false,
    )
    .await;
    let contact: Uuid = eventually("the contact", WAIT, || async {
        sqlx::query_scalar("SELECT id FROM contacts")
            .fetch_optional(&app.pool)
            .await
            .unwrap()
    })
    .await;
    let graph = eventually("both messages in the graph", WAIT, || async {
        let (status, graph) = app
            .get(&format!("/api/v1/contacts/{contact}/graph?history=true"))
            .await;
        (status == StatusCode::OK && graph["facts"].as_array().is_some_and(|f| f.len() == 2))
            .then_some(graph)
    })
    .await;
    let facts = graph["facts"].as_array().unwrap();
    assert_eq!(facts[0]["fact"], "Test Customer lives in São Paulo");
    assert_eq!(
        facts[0]["invalid_at"],
        json!(at(one_day_ago)),
        "invalidated when she moved, not deleted"
    );
    assert!(facts[0]["expired_at"].is_string());
    assert_eq!(facts[1]["fact"], "Test Customer lives in Rio de Janeiro");
    assert!(facts[1]["invalid_at"].is_null());

    let (_, current) = app
        .get(&format!(
            "/api/v1/contacts/{contact}/memories?q=where+does+the+customer+live&mode=graph"
        ))
        .await;
    assert_eq!(
        current["items"][0]["content"], "Test Customer lives in Rio de Janeiro",
        "{current}"
    );
    let as_of = at(now - 2 * 86_400);
    let (_, past) = app.get(&format!("/api/v1/contacts/{contact}/memories?q=where+does+the+customer+live&mode=graph&as_of={}", as_of.replace('+', "%2B"))).await;
    assert_eq!(
        past["items"][0]["content"], "Test Customer lives in São Paulo",
        "{past}"
    );
    let (_, hybrid) = app
        .get(&format!("/api/v1/contacts/{contact}/memories?q=Rio"))
        .await;
    assert!(
        hybrid["search_latency_ms"].as_f64().unwrap() > 0.0
            && hybrid["total_count"].as_i64().unwrap() >= 2,
        "{hybrid}"
    );

    // Exactly once despite double deliveries: one episode and one memory per message.
    assert_eq!(
        app.count("memory_episodes WHERE source_type = 'message'")
            .await,
        2
    );
    assert_eq!(app.count("memories").await, 2);
    let language: String =
        sqlx::query_scalar("SELECT language::text FROM memories WHERE content LIKE 'Oi!%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(language, "portuguese");
    // The contact's ingestion queue did the work (its signals and inputs are ids by type).
    let workflow_id = app.memory_shard_workflow(contact);
    // Its workflow task ends after the episodes commit: wait for its record of the (local)
    // ingestion activities.
    eventually("the workflow ran the ingestion activity", WAIT, || async {
        let events = app.history_events(&workflow_id).await;
        (support::local_activities(&events, "memory.ingest_event") >= 2).then_some(())
    })
    .await;
    app.record_history(&workflow_id, "memory-shard").await;
}

#[tokio::test]
async fn a_crashed_worker_loses_and_duplicates_no_episode() {
    let mut app = TestApp::spawn(json!({"debounce_ms": 0})).await;
    let messages: Vec<Value> = (0..6)
        .map(|i| json!({"body": format!("I bought gadget number {i}")}))
        .collect();
    app.customer_writes("5511999990101@c.us", Value::Array(messages), 1, false)
        .await;
    eventually("ingestion under way", WAIT, || async {
        (app.count("memory_episodes").await >= 1).then_some(())
    })
    .await;
    app.kill_worker();
    app.start_worker();
    eventually("six episodes ingested", WAIT, || async {
        (app.count("memory_episodes WHERE ingested_at IS NOT NULL AND source_type = 'message'")
            .await
            == 6)
            .then_some(())
    })
    .await;
    assert_eq!(app.count("memories").await, 6);
    assert_eq!(
        app.count("memory_facts WHERE predicate = 'purchased'")
            .await,
        6
    );
    assert_eq!(
        app.count("outbox_events WHERE memory_fed_at IS NULL AND event_type = 'message.received'")
            .await,
        0
    );
}

#[tokio::test]
async fn python_agents_answer_with_what_the_memory_service_remembers() {
    let memory = format!("127.0.0.1:{}", support::free_port());
    let agents = support::AgentService::start(&memory).await;
    let app = TestApp::builder()
        .settings(
            json!({"debounce_ms": 0, "ai": {"agent_type": "RouterAgent", "confidence_threshold": 0.3}}),
        )
        .agents(&agents.address, &memory)
        .spawn()
        .await;
    let chat = "5511999990102@c.us";
    app.customer_writes(
        chat,
        json!([{"body": "I want to buy the Vitamix blender"}]),
        1,
        false,
    )
    .await;
    app.wait_outbound(1, "read", WAIT).await;
    eventually("the wish remembered", WAIT, || async {
        (app.count("memory_facts WHERE predicate = 'wants'").await == 1).then_some(())
    })
    .await;
    app.customer_writes(chat, json!([{"body": "where is my order?"}]), 1, false)
        .await;
    let outbound = app.wait_outbound(2, "read", WAIT).await;
    let reply: String = sqlx::query_scalar("SELECT body FROM messages WHERE id = $1")
        .bind(outbound[1].0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        reply.contains("Vitamix blender"),
        "the reply uses what was remembered: {reply}"
    );
    drop(agents);
}

#[tokio::test]
async fn with_the_agent_extractor_facts_come_from_the_fact_extraction_agent() {
    let memory = format!("127.0.0.1:{}", support::free_port());
    let agents = support::AgentService::start(&memory).await;
    let mut app = TestApp::builder()
        .settings(json!({"debounce_ms": 0}))
        .agents(&agents.address, &memory)
        .spawn()
        .await;
    app.kill_worker();
    app.worker_env
        .push(("MEMORY_FACT_EXTRACTOR".into(), "agent".into()));
    app.start_worker();
    app.customer_writes(
        "5511999990103@c.us",
        json!([{"body": "Hello, I moved to Lisbon and my email is ana@example.com"}]),
        1,
        false,
    )
    .await;
    let facts = eventually("facts from the agent", WAIT, || async {
        let facts: Vec<String> = sqlx::query_scalar("SELECT fact FROM memory_facts ORDER BY fact")
            .fetch_all(&app.pool)
            .await
            .unwrap();
        (facts.len() == 2).then_some(facts)
    })
    .await;
    assert_eq!(
        facts,
        vec![
            "Test Customer has the email ana@example.com".to_owned(),
            "Test Customer lives in Lisbon".to_owned()
        ]
    );
    let (_, listed) = app.get("/api/v1/agents").await;
    let extractor = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "FactExtractionAgent")
        .cloned()
        .unwrap();
    assert!(
        extractor["executions"].as_i64().unwrap() >= 1,
        "the agent service did the extraction: {extractor}"
    );
    drop(agents);
}

/// An OpenAI-compatible `/v1/embeddings` endpoint (the documented contract), with a tiny
/// deterministic model: hashed bag of words in 16 dimensions.
async fn fake_openai_embeddings() -> String {
    use axum::{Json, Router, routing::post};
    let app = Router::new().route(
        "/v1/embeddings",
        post(|Json(body): Json<Value>| async move {
            let inputs: Vec<String> = body["input"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
            let data: Vec<Value> = inputs
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    let mut v = [0.01f32; 16];
                    for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                        let h = word.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
                        v[(h % 16) as usize] += 1.0;
                    }
                    json!({"object": "embedding", "index": i, "embedding": v.to_vec()})
                })
                .collect();
            Json(json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/v1")
}

#[tokio::test]
async fn switching_the_embedding_model_re_embeds_everything_before_searches_use_it() {
    let mut app = TestApp::spawn(json!({"debounce_ms": 0})).await;
    app.customer_writes(
        "5511999990104@c.us",
        json!([{"body": "I live in Porto"}, {"body": "My blender stopped working"}]),
        1,
        false,
    )
    .await;
    // The business's knowledge is embedded too, and moves with the model.
    let (status, doc) = app
        .post(
            "/api/v1/knowledge/documents",
            json!({"title": "Hours", "format": "markdown", "content": "# Opening hours\nWe open Monday to Friday, 9am to 6pm."}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{doc}");
    eventually(
        "the knowledge passage with a MiniLM vector",
        WAIT,
        || async {
            (app.count("knowledge_passages WHERE embedding_model = 'minilm_l6_v2'")
                .await
                == 1)
                .then_some(())
        },
    )
    .await;
    eventually("two memories with MiniLM vectors", WAIT, || async {
        (app.count(
            "memories WHERE embedding_model = 'minilm_l6_v2' AND vector_dims(embedding) = 384",
        )
        .await
            == 2)
            .then_some(())
    })
    .await;
    let base_url = fake_openai_embeddings().await;
    app.kill_worker();
    app.worker_env.extend([
        ("EMBEDDING_PROVIDER".into(), "openai".into()),
        ("EMBEDDING_BASE_URL".into(), base_url),
        ("EMBEDDING_MODEL".into(), "text-embedding-3-small".into()),
        ("EMBEDDING_DIMENSIONS".into(), "16".into()),
    ]);
    app.start_worker();
    let model = "oa_text_embedding_3_small_16";
    let spaces = eventually(
        "the new model active, the old one retired",
        WAIT,
        || async {
            let spaces: Vec<(String, i32, String)> = sqlx::query_as(
                "SELECT model, dimensions, state FROM embedding_spaces ORDER BY model",
            )
            .fetch_all(&app.pool)
            .await
            .unwrap();
            spaces
                .iter()
                .any(|(m, _, s)| m == model && s == "active")
                .then_some(spaces)
        },
    )
    .await;
    assert_eq!(
        spaces,
        vec![
            ("minilm_l6_v2".to_owned(), 384, "retired".to_owned()),
            (model.to_owned(), 16, "active".to_owned())
        ]
    );
    // Every vector is in the new space before it went active: no mixed dimensions anywhere.
    assert_eq!(app.count("memories WHERE embedding_model IS DISTINCT FROM 'oa_text_embedding_3_small_16' OR vector_dims(embedding) <> 16").await, 0);
    assert_eq!(
        app.count(
            "memory_facts WHERE embedding_model IS DISTINCT FROM 'oa_text_embedding_3_small_16'"
        )
        .await,
        0
    );
    assert_eq!(
        app.count("knowledge_passages WHERE embedding_model IS DISTINCT FROM 'oa_text_embedding_3_small_16' OR vector_dims(embedding) <> 16").await,
        0
    );
    let reembed_id = ventros_workflows::ids::reembed_workflow_id(model);
    let reembedded: u64 = app
        .temporal
        .get_workflow_handle::<ventros_workflows::ReembedMemories>(reembed_id.clone())
        .get_result(Default::default())
        .await
        .expect("ReembedMemories completed");
    app.record_history(&reembed_id, "reembed-memories").await;
    assert!(
        reembedded >= 5,
        "memories, facts, entities and knowledge passages re-embedded: {reembedded}"
    );
    let contact: Uuid = sqlx::query_scalar("SELECT id FROM contacts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (status, found) = app
        .get(&format!(
            "/api/v1/contacts/{contact}/memories?q=blender+stopped+working&mode=vector"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        found["items"][0]["content"], "My blender stopped working",
        "{found}"
    );
}

/// A customer writes one message; once memory ingestion has taken it in, the customer's contact.
async fn one_message_ingested(app: &TestApp, chat: &str, body: &str) -> Uuid {
    app.customer_writes(chat, json!([{ "body": body }]), 1, false)
        .await;
    eventually("the customer's message ingested", WAIT, || async {
        (app.count("memory_episodes WHERE source_type = 'message' AND ingested_at IS NOT NULL")
            .await
            == 1)
            .then_some(())
    })
    .await;
    sqlx::query_scalar("SELECT contact_id FROM messages WHERE direction = 'inbound'")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A greeting is our template, not something the contact said: its `message.sent` leaves the
/// outbox without waking the contact's memory queue (no signal, no episode), while what the
/// customer wrote is remembered as before.
#[tokio::test]
async fn our_greeting_templates_are_not_ingested_as_memory() {
    let app =
        TestApp::spawn(json!({"greeting": "Olá! Recebemos sua mensagem.", "debounce_ms": 0})).await;
    let contact = one_message_ingested(
        &app,
        "5511999990301@c.us",
        "Comprei um sofá cinza semana passada",
    )
    .await;
    // Both events taken off the outbox by the feed: the customer's message and our greeting.
    eventually("the greeting's message.sent fed", WAIT, || async {
        (app.count(
            "outbox_events o JOIN messages m ON m.id = o.aggregate_id
              WHERE o.event_type = 'message.sent' AND m.origin = 'greeting' AND o.memory_fed_at IS NOT NULL",
        )
        .await
            == 1)
            .then_some(())
    })
    .await;
    assert_eq!(
        app.count("memory_episodes WHERE metadata->>'direction' = 'outbound'")
            .await,
        0,
        "no episode of the greeting"
    );
    // One memory_events signal: the customer's message only.
    let events = app
        .history_events(&app.memory_shard_workflow(contact))
        .await;
    assert_eq!(
        crate::support::signals_in(&events),
        1,
        "the greeting did not wake the contact's memory queue"
    );
    assert_eq!(
        support::local_activities(&events, "memory.ingest_event"),
        1,
        "one event ingested: the customer's message"
    );
}

/// Memory ingestion runs on a task queue of its own (`<queue>-memory`, polled by the same worker
/// process with a few activity slots), where a backlog of episodes to embed waits without taking
/// the workflow-task and activity slots the reply path polls with. The episode is taken in as a
/// local activity of that worker: no activity task goes through the server at all.
#[tokio::test]
async fn memory_ingestion_runs_on_a_task_queue_of_its_own() {
    let app = TestApp::spawn(json!({"debounce_ms": 0})).await;
    let contact = one_message_ingested(
        &app,
        "5511999990302@c.us",
        "Me mudei para Campinas mês passado",
    )
    .await;
    let workflow_id = app.memory_shard_workflow(contact);
    use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
    // The episode commits inside the workflow task; its marker is in the history once that ends.
    let events = eventually("the ingestion's workflow task recorded", WAIT, || async {
        let events = app.history_events(&workflow_id).await;
        (support::local_activities(&events, "memory.ingest_event") > 0).then_some(events)
    })
    .await;
    let queues: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                a.task_queue.as_ref().map(|q| q.name.clone())
            }
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => {
                a.task_queue.as_ref().map(|q| q.name.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        support::local_activities(&events, "memory.ingest_event"),
        1,
        "one local activity took the message in"
    );
    let memory_queue = format!("{}-memory", app.task_queue);
    assert!(!queues.is_empty(), "a start: {queues:?}");
    assert!(
        queues.iter().all(|q| *q == memory_queue),
        "MemoryShard and its activities on {memory_queue}: {queues:?}"
    );
}

/// Memory ingestion costs no workflow start per contact (issue 23: a start is what the Temporal
/// server pays most for): new customers' messages go to the tenant's few MemoryShard queues, one
/// signal per queue and feed pass, and each contact's events to the same queue.
#[tokio::test]
async fn new_customers_messages_are_ingested_by_the_tenants_few_queues() {
    use ventros_workflows::ids;
    let app = TestApp::spawn(json!({"debounce_ms": 0})).await;
    let customers = 12;
    for i in 0..customers {
        let chat = format!("55119999904{i:02}@c.us");
        app.customer_writes(
            &chat,
            json!([{ "body": format!("Meu pedido {i} chegou") }]),
            1,
            false,
        )
        .await;
    }
    eventually("every message ingested", WAIT, || async {
        (app.count("memory_episodes WHERE source_type = 'message' AND ingested_at IS NOT NULL")
            .await
            == customers)
            .then_some(())
    })
    .await;
    let contacts: Vec<Uuid> =
        sqlx::query_scalar("SELECT DISTINCT contact_id FROM messages WHERE direction = 'inbound'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(contacts.len() as i64, customers);
    // Each queue's workflow task ends after its episodes commit: wait for all the markers.
    let shards: Vec<String> = (0..ids::DEFAULT_MEMORY_SHARDS)
        .map(|shard| ids::memory_shard_workflow_id(app.tenant_id, shard))
        .collect();
    let ingested_by = |events: &[_]| support::local_activities(events, "memory.ingest_event");
    let per_shard = eventually("every ingestion recorded by a queue", WAIT, || async {
        let mut per_shard = Vec::new();
        for id in &shards {
            per_shard.push(match app.history_events_if_any(id).await {
                Some(events) => ingested_by(&events),
                None => 0,
            });
        }
        (per_shard.iter().sum::<usize>() as i64 == customers).then_some(per_shard)
    })
    .await;
    for contact in &contacts {
        let own = ids::memory_ingestion_workflow_id(app.tenant_id, *contact);
        assert!(
            app.history_events_if_any(&own).await.is_none(),
            "no workflow of the contact's own"
        );
    }
    assert!(
        per_shard.iter().filter(|n| **n > 0).count() > 1,
        "contacts spread over the queues: {per_shard:?}"
    );
}
