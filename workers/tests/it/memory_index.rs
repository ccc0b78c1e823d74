//! Tenant-wide vector search's indexes: a tenant past the threshold gets a partial HNSW index of
//! its own (built once, by one worker, repaired when a build failed, dropped with its tenant or
//! its model), searches give the same answers before and after, and never cross tenants.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::memory::{day, embedder, message, query, tenant_with_contact};
use crate::support::{self, TestApp, eventually};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;
use ventros_memory::MemoryEngine;
use ventros_memory::engine::{Mode, tenant_index_name};

const MODEL: &str = "minilm_l6_v2";

const SAID: &[&str] = &[
    "My blender stopped working after a week",
    "I live in Curitiba now, we moved in March",
    "Can you deliver the sofa on Saturday morning?",
    "I paid the second installment yesterday",
    "The air fryer arrived with a broken handle",
    "My daughter's birthday is on the 12th",
    "I prefer to be contacted by WhatsApp, not email",
    "The internet keeps dropping every evening",
    "Quero trocar a geladeira por uma maior",
    "O pedido 4471 ainda não chegou",
    "Meu cachorro precisa de ração sem grãos",
    "Vou buscar os óculos na sexta-feira",
    "Please cancel the annual subscription",
    "The technician never showed up on Tuesday",
];

/// Every index on `table` whose name starts with `prefix`, with whether it is valid.
async fn indexes(pool: &PgPool, table: &str, prefix: &str) -> Vec<(String, bool)> {
    sqlx::query_as(
        "SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = $1::regclass AND starts_with(c.relname::text, $2) ORDER BY 1",
    )
    .bind(table)
    .bind(prefix)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn tenant_wide(engine: &MemoryEngine, tenant: Uuid, text: &str) -> Vec<Uuid> {
    engine
        .search(&query(tenant, None, text, Mode::Vector))
        .await
        .unwrap()
        .hits
        .iter()
        .map(|h| h.id)
        .collect()
}

#[tokio::test]
async fn a_large_tenant_gets_its_own_vector_index_and_loses_it_with_the_tenant() {
    let (pool, _) = support::fresh_database().await;
    let engine = MemoryEngine::new(pool.clone(), embedder()).with_tenant_index_min_rows(12);
    engine.ensure_space().await.unwrap();
    let (large, contact) = tenant_with_contact(&pool, "Bruna").await;
    let (small, other) = tenant_with_contact(&pool, "Bruna").await;
    for (i, text) in SAID.iter().enumerate() {
        let at = day(1 + i as u32);
        engine
            .ingest(&message(large, contact, &format!("m{i}"), at, text))
            .await
            .unwrap();
        if i < 3 {
            engine
                .ingest(&message(small, other, &format!("m{i}"), at, text))
                .await
                .unwrap();
        }
    }
    let questions = [
        "broken kitchen appliance",
        "where does she live",
        "geladeira",
    ];
    let facts: i64 = sqlx::query_scalar("SELECT count(*) FROM memory_facts WHERE tenant_id = $1")
        .bind(large)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        facts < 12,
        "the fixture keeps the facts table under the threshold: {facts}"
    );
    let mut before = Vec::new();
    for q in questions {
        before.push(tenant_wide(&engine, large, q).await);
    }

    // Two workers at once: the advisory lock lets one build, the other finds nothing to do.
    let (a, b) = tokio::join!(
        engine.maintain_tenant_indexes(),
        engine.maintain_tenant_indexes()
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.created + b.created, 1, "{a:?} {b:?}");
    let name = tenant_index_name('m', MODEL, large);
    assert_eq!(
        indexes(&pool, "memories", "mhnsw_").await,
        vec![(name.clone(), true)],
        "the large tenant's memories are indexed, the small tenant's are not"
    );
    assert_eq!(indexes(&pool, "memory_facts", "fhnsw_").await, vec![]);
    let again = engine.maintain_tenant_indexes().await.unwrap();
    assert_eq!((again.created, again.dropped), (0, 0));

    // Same answers through the index as from the exact scan, and none from the other tenant.
    let small_ids: BTreeSet<Uuid> =
        sqlx::query_scalar("SELECT id FROM memories WHERE tenant_id = $1 UNION ALL SELECT id FROM memory_facts WHERE tenant_id = $1")
            .bind(small)
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    for (q, expected) in questions.iter().zip(&before) {
        let now = tenant_wide(&engine, large, q).await;
        assert_eq!(&now, expected, "{q}");
        assert!(now.iter().all(|id| !small_ids.contains(id)), "{q}");
        let theirs = tenant_wide(&engine, small, q).await;
        assert!(theirs.iter().all(|id| small_ids.contains(id)), "{q}");
    }

    // A build that failed half-way leaves an invalid index: searches ignore it, the next pass
    // rebuilds it.
    sqlx::query("UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass")
        .bind(&name)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(tenant_wide(&engine, large, questions[0]).await, before[0]);
    let repaired = engine.maintain_tenant_indexes().await.unwrap();
    assert_eq!(repaired.created, 1);
    assert_eq!(
        indexes(&pool, "memories", "mhnsw_").await,
        vec![(name.clone(), true)]
    );

    // A retired model's index goes, and so does a deleted tenant's.
    sqlx::query("INSERT INTO embedding_spaces (model, dimensions, state) VALUES ('old_model', 8, 'retired')")
        .execute(&pool)
        .await
        .unwrap();
    let stale = tenant_index_name('m', "old_model", small);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE INDEX {stale} ON memories (id) WHERE tenant_id = '{small}'"
    )))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(large)
        .execute(&pool)
        .await
        .unwrap();
    let cleaned = engine.maintain_tenant_indexes().await.unwrap();
    assert_eq!((cleaned.created, cleaned.dropped), (0, 2));
    assert_eq!(indexes(&pool, "memories", "mhnsw_").await, vec![]);
}

#[tokio::test]
async fn the_worker_builds_a_tenants_index_once_it_grows() {
    let app = TestApp::builder()
        .settings(json!({"debounce_ms": 0}))
        .worker_env("MEMORY_TENANT_INDEX_ROWS", "3")
        .worker_env("MEMORY_INDEX_INTERVAL_SECS", "1")
        .spawn()
        .await;
    let name = tenant_index_name('m', MODEL, app.tenant_id);
    assert_eq!(indexes(&app.pool, "memories", &name).await, vec![]);
    app.customer_writes(
        "5511999990301@c.us",
        json!([{"body": "I live in Recife"}, {"body": "My order 5512 is late"}, {"body": "I want the blue sofa"}]),
        1,
        false,
    )
    .await;
    eventually(
        "the tenant's memories indexed",
        Duration::from_secs(60),
        || async {
            (indexes(&app.pool, "memories", &name).await == vec![(name.clone(), true)])
                .then_some(())
        },
    )
    .await;
}
