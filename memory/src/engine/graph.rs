//! The knowledge graph: a contact's entities and facts as a view, and the writes behind them
//! (entity upsert, facts with Graphiti-style temporal resolution).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use pgvector::Vector;

use super::{EntityRef, EntityView, Episode, FactView, GraphView, MemoryEngine, MemoryError};
use crate::extract::{self, Cardinality, Predicate};

pub(super) fn predicate_info(name: &str) -> Predicate {
    if name.starts_with("attribute:") {
        extract::attribute_predicate()
    } else {
        extract::predicate(name).copied().unwrap_or(Predicate {
            name: "related_to",
            cardinality: Cardinality::Many,
            object_type: "thing",
            memory_type: "fact",
            phrase: "is related to",
            opposite: None,
        })
    }
}

impl MemoryEngine {
    /// A contact's knowledge graph: facts true at `as_of` (now when None), or every fact ever
    /// recorded with `include_history`. `depth` 1 keeps facts about the contact itself; each
    /// extra hop adds facts about the entities reached.
    pub async fn graph(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
        as_of: Option<DateTime<Utc>>,
        include_history: bool,
        depth: u32,
        entity_type: Option<&str>,
    ) -> Result<GraphView, MemoryError> {
        self.contact_name(tenant_id, contact_id).await?;
        let entities = sqlx::query_as!(
            EntityView,
            "SELECT id, name, entity_type, summary FROM memory_entities WHERE tenant_id = $1 AND contact_id = $2",
            tenant_id,
            contact_id
        )
        .fetch_all(&self.pool)
        .await?;
        let facts = sqlx::query_as!(
            FactView,
            r#"SELECT f.id, f.subject_id, f.predicate, f.object_id, f.fact, f.valid_at, f.invalid_at, f.created_at, f.expired_at,
                    array(SELECT e.source_type || ':' || e.source_id FROM memory_episodes e WHERE e.id = ANY(f.episode_ids) ORDER BY e.occurred_at) AS "sources!"
               FROM memory_facts f
              WHERE f.tenant_id = $1 AND f.contact_id = $2
                AND ($4 OR CASE WHEN $3::timestamptz IS NULL THEN f.invalid_at IS NULL
                                ELSE f.valid_at <= $3 AND (f.invalid_at IS NULL OR f.invalid_at > $3) END)
              ORDER BY f.valid_at, f.created_at"#,
            tenant_id,
            contact_id,
            as_of,
            include_history
        )
        .fetch_all(&self.pool)
        .await?;
        // Breadth-first from the contact entity, `depth` hops.
        let mut reached: BTreeSet<Uuid> = entities
            .iter()
            .filter(|e| e.entity_type == "contact")
            .map(|e| e.id)
            .collect();
        let mut kept: BTreeSet<Uuid> = BTreeSet::new();
        for _ in 0..depth.clamp(1, 5) {
            let frontier: Vec<Uuid> = reached.iter().copied().collect();
            for f in &facts {
                if frontier.contains(&f.subject_id) || frontier.contains(&f.object_id) {
                    kept.insert(f.id);
                    reached.insert(f.subject_id);
                    reached.insert(f.object_id);
                }
            }
        }
        let type_of: HashMap<Uuid, &str> = entities
            .iter()
            .map(|e| (e.id, e.entity_type.as_str()))
            .collect();
        let facts: Vec<FactView> = facts
            .into_iter()
            .filter(|f| kept.contains(&f.id))
            .filter(|f| {
                entity_type.is_none_or(|t| {
                    type_of.get(&f.object_id) == Some(&t) || type_of.get(&f.subject_id) == Some(&t)
                })
            })
            .collect();
        let used: BTreeSet<Uuid> = facts
            .iter()
            .flat_map(|f| [f.subject_id, f.object_id])
            .collect();
        let entities = entities
            .into_iter()
            .filter(|e| used.contains(&e.id) || e.entity_type == "contact")
            .collect();
        Ok(GraphView { entities, facts })
    }
}
/// How an entity is told apart within a contact's graph (with its type).
pub(super) fn entity_key(entity: &EntityRef) -> String {
    // The contact's own node is keyed by role, not name: renaming the contact keeps one node.
    if entity.entity_type == "contact" {
        "contact".to_owned()
    } else {
        entity.normalized()
    }
}

pub(super) async fn upsert_entity(
    tx: &mut Transaction<'_, Postgres>,
    episode: &Episode,
    entity: &EntityRef,
    vector: Option<Vector>,
    model: &str,
) -> Result<Uuid, sqlx::Error> {
    let normalized = entity_key(entity);
    sqlx::query_scalar!(
        "INSERT INTO memory_entities (id, tenant_id, contact_id, name, normalized, entity_type, embedding, embedding_model)
         VALUES ($1, $2, $3, $4, $5, $6, $7::vector, CASE WHEN $7 IS NULL THEN NULL ELSE $8 END)
         ON CONFLICT (tenant_id, contact_id, entity_type, normalized) DO UPDATE
            SET name = CASE WHEN EXCLUDED.entity_type = 'contact' THEN EXCLUDED.name ELSE memory_entities.name END,
                embedding = coalesce(memory_entities.embedding, EXCLUDED.embedding),
                embedding_model = coalesce(memory_entities.embedding_model, EXCLUDED.embedding_model)
         RETURNING id",
        Uuid::now_v7(),
        episode.tenant_id,
        episode.contact_id,
        entity.name,
        normalized,
        entity.entity_type,
        vector as _,
        model
    )
    .fetch_one(&mut **tx)
    .await
}

pub(super) enum Applied {
    Added { invalidated: usize },
    Reinforced,
    Duplicate,
}

/// Adds one fact with Graphiti-style temporal resolution: a single-valued predicate's current
/// value, or the opposite statement about the same object, is invalidated at the new fact's
/// `valid_at` — unless the new fact is older than what we already know (messages can be ingested
/// out of order), in which case the new fact goes in already superseded.
#[allow(clippy::too_many_arguments)]
pub(super) async fn apply_fact(
    tx: &mut Transaction<'_, Postgres>,
    episode: &Episode,
    episode_id: Uuid,
    ordinal: usize,
    subject: Uuid,
    object: Uuid,
    predicate: &str,
    text: &str,
    language: &str,
    vector: Option<&Vector>,
    model: &str,
) -> Result<Applied, sqlx::Error> {
    let key = format!("{episode_id}:{ordinal}");
    let seen = sqlx::query_scalar!(
        "SELECT id FROM memory_facts WHERE tenant_id = $1 AND idempotency_key = $2",
        episode.tenant_id,
        key
    )
    .fetch_optional(&mut **tx)
    .await?;
    if seen.is_some() {
        return Ok(Applied::Duplicate);
    }
    let info = predicate_info(predicate);
    // Stating a current fact again adds provenance, not a duplicate.
    let same = sqlx::query_scalar!(
        "UPDATE memory_facts SET episode_ids = array_append(episode_ids, $4)
          WHERE subject_id = $1 AND predicate = $2 AND object_id = $3 AND invalid_at IS NULL AND NOT ($4 = ANY(episode_ids))
          RETURNING id",
        subject,
        predicate,
        object,
        episode_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    if same.is_some() {
        return Ok(Applied::Reinforced);
    }
    // Every statement that overlaps the new one in world time: the current value, and for a late
    // (out-of-order) statement also an older value whose validity we had extended past it.
    let at = episode.occurred_at;
    let conflicts: Vec<(Uuid, DateTime<Utc>)> = sqlx::query!(
        "SELECT id, valid_at FROM memory_facts
          WHERE subject_id = $1 AND (invalid_at IS NULL OR invalid_at > $6)
            AND (($2 AND predicate = $3 AND object_id <> $4) OR (predicate = $5 AND object_id = $4))
          FOR UPDATE",
        subject,
        info.cardinality == Cardinality::One,
        predicate,
        object,
        info.opposite.unwrap_or(""),
        at
    )
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|r| (r.id, r.valid_at))
    .collect();
    // A newer statement already holds: this one was true only until that one.
    let superseded_by = conflicts
        .iter()
        .filter(|(_, valid_at)| *valid_at > at)
        .min_by_key(|(_, valid_at)| *valid_at)
        .copied();
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO memory_facts (id, tenant_id, contact_id, subject_id, predicate, object_id, fact, memory_type, language,
                                   embedding, embedding_model, valid_at, invalid_at, expired_at, invalidated_by, episode_ids, idempotency_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::regconfig, $10::vector, CASE WHEN $10 IS NULL THEN NULL ELSE $11 END,
                 $12, $13, CASE WHEN $13::timestamptz IS NULL THEN NULL ELSE now() END, $14, ARRAY[$15::uuid]::uuid[], $16)",
        id,
        episode.tenant_id,
        episode.contact_id,
        subject,
        predicate,
        object,
        text,
        info.memory_type,
        language,
        vector as _,
        model,
        at,
        superseded_by.map(|(_, t)| t),
        superseded_by.map(|(id, _)| id),
        episode_id,
        key
    )
    .execute(&mut **tx)
    .await?;
    let older: Vec<Uuid> = conflicts
        .iter()
        .filter(|(_, valid_at)| *valid_at <= at)
        .map(|(id, _)| *id)
        .collect();
    if !older.is_empty() {
        sqlx::query!(
            "UPDATE memory_facts SET invalid_at = $2, expired_at = coalesce(expired_at, now()), invalidated_by = $3 WHERE id = ANY($1)",
            &older,
            at,
            id
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(Applied::Added {
        invalidated: older.len(),
    })
}
