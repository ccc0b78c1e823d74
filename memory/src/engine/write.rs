//! Writing memory: a single memory (the agents' `store_memory`) and ingesting an episode
//! (embed, extract facts, store the memory, its entities and facts in one transaction).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use serde_json::{Map, Value, json};
use uuid::Uuid;

use pgvector::Vector;

use crate::extract;

use super::graph::{Applied, apply_fact, entity_key, predicate_info, upsert_entity};
use super::{EntityRef, Episode, FactInput, IngestOutcome, MemoryEngine, MemoryError};

/// An entity's identity in a contact's graph: its type and key.
fn key_of(entity: &EntityRef) -> (String, String) {
    (entity.entity_type.clone(), entity_key(entity))
}

/// What a memory's vector is computed from: the preceding message, then the memory itself.
pub fn embedding_text(context: Option<&str>, content: &str) -> String {
    match context.map(str::trim).filter(|c| !c.is_empty()) {
        Some(context) => format!("{context}\n{content}"),
        None => content.to_owned(),
    }
}

fn fact_text(subject: &str, predicate: &str, object: &str) -> String {
    match predicate.strip_prefix("attribute:") {
        Some(key) => format!("{subject} has {}: {object}", key.replace('_', " ")),
        None => format!("{subject} {} {object}", predicate_info(predicate).phrase),
    }
}

impl MemoryEngine {
    /// A memory stated directly (an agent's `StoreMemory`): its own episode for provenance, no
    /// fact extraction (an agent's words are not the customer's). Idempotent on `idempotency_key`.
    pub async fn store_memory(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
        content: &str,
        memory_type: &str,
        metadata: Value,
        idempotency_key: Option<&str>,
    ) -> Result<(Uuid, bool), MemoryError> {
        let contact = self.contact(tenant_id, contact_id).await?;
        if let Some(key) = idempotency_key {
            let existing = sqlx::query_scalar!(
                "SELECT id FROM memories WHERE tenant_id = $1 AND idempotency_key = $2",
                tenant_id,
                key
            )
            .fetch_optional(&self.pool)
            .await?;
            if let Some(id) = existing {
                return Ok((id, false));
            }
        }
        let vector = self.embed_one(content).await?;
        let mut tx = self.pool.begin().await?;
        let source_id = idempotency_key.map_or_else(|| Uuid::now_v7().to_string(), str::to_owned);
        let episode_id = sqlx::query_scalar!(
            "INSERT INTO memory_episodes (id, tenant_id, contact_id, kind, source_type, source_id, role, content, occurred_at, ingested_at)
             VALUES ($1, $2, $3, 'note', 'store_memory', $4, 'agent', $5, now(), now())
             ON CONFLICT (tenant_id, source_type, source_id) DO UPDATE SET updated_at = now() RETURNING id",
            Uuid::now_v7(),
            tenant_id,
            contact_id,
            source_id,
            content
        )
        .fetch_one(&mut *tx)
        .await?;
        // The text search configuration and the vector are types the macros cannot name: bound
        // with `as _`, cast in SQL, exactly as PostgreSQL receives them.
        let inserted = sqlx::query_scalar!(
            "INSERT INTO memories (id, tenant_id, contact_id, content, memory_type, metadata, idempotency_key, episode_id, language, embedding, embedding_model)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::regconfig, $10::vector, $11)
             ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id",
            Uuid::now_v7(),
            tenant_id,
            contact_id,
            content,
            memory_type,
            metadata,
            idempotency_key,
            episode_id,
            extract::detect_language(content, contact.language.as_deref()),
            &vector as _,
            self.model()
        )
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        match inserted {
            Some(id) => Ok((id, true)),
            None => {
                let id = sqlx::query_scalar!(
                    "SELECT id FROM memories WHERE tenant_id = $1 AND idempotency_key = $2",
                    tenant_id,
                    idempotency_key
                )
                .fetch_one(&self.pool)
                .await?;
                Ok((id, false))
            }
        }
    }

    /// Stores an episode and everything derived from it, exactly once: the episode row is unique
    /// per source and `ingested_at` is set in the same transaction as the memory and the facts.
    pub async fn ingest(&self, episode: &Episode) -> Result<IngestOutcome, MemoryError> {
        let contact = self.contact(episode.tenant_id, episode.contact_id).await?;
        let (episode_id, ingested_at) = self.record_episode(episode).await?;
        if ingested_at.is_some() {
            return Ok(IngestOutcome::already(episode_id));
        }
        let mut derived = self.derive(episode, &contact.name).await?;
        let language = extract::detect_language(&episode.content, contact.language.as_deref());

        let mut tx = self.pool.begin().await?;
        if !claim_episode(&mut tx, episode.contact_id, episode_id).await? {
            return Ok(IngestOutcome::already(episode_id));
        }
        let mut outcome = IngestOutcome {
            episode_id,
            ..Default::default()
        };
        if derived.remember {
            outcome.memory_id = self
                .insert_memory(
                    &mut tx,
                    episode,
                    episode_id,
                    language,
                    derived.memory_vector.take(),
                )
                .await?;
        }
        let touched = self
            .write_graph(
                &mut tx,
                episode,
                episode_id,
                &contact.name,
                language,
                derived,
                &mut outcome,
            )
            .await?;
        // Entity summaries evolve with what is currently true about them.
        sqlx::query!(
            "UPDATE memory_entities e SET summary = coalesce((
                 SELECT left(string_agg(fact, '; ' ORDER BY valid_at DESC), 600) FROM (
                   SELECT fact, valid_at FROM memory_facts f WHERE (f.subject_id = e.id OR f.object_id = e.id) AND f.invalid_at IS NULL
                   ORDER BY valid_at DESC LIMIT 12) recent), '')
              WHERE e.id = ANY($1)",
            &touched
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE memory_episodes SET ingested_at = now() WHERE id = $1",
            episode_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        ventros_activities::metrics::memory_episode(episode.kind);
        Ok(outcome)
    }

    /// The episode's row, once per source: its id, and when it was ingested if it already was.
    async fn record_episode(
        &self,
        episode: &Episode,
    ) -> Result<(Uuid, Option<DateTime<Utc>>), MemoryError> {
        let row = sqlx::query!(
            "INSERT INTO memory_episodes (id, tenant_id, contact_id, kind, source_type, source_id, role, content, occurred_at, metadata)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (tenant_id, source_type, source_id) DO UPDATE SET updated_at = memory_episodes.updated_at
             RETURNING id, ingested_at",
            Uuid::now_v7(),
            episode.tenant_id,
            episode.contact_id,
            episode.kind,
            episode.source_type,
            episode.source_id,
            episode.role,
            episode.content,
            episode.occurred_at,
            episode.metadata
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.id, row.ingested_at))
    }

    /// Everything the episode will write, embedded in one batch before the transaction
    /// (inference is the slow part): the memory, the stated and extracted facts, their entities.
    async fn derive(&self, episode: &Episode, contact_name: &str) -> Result<Derived, MemoryError> {
        let mut facts: Vec<FactInput> = episode.facts.clone();
        if episode.extract && episode.role == "contact" {
            for f in self.extract(episode).await? {
                let p = predicate_info(f.predicate);
                facts.push(FactInput {
                    subject: None,
                    predicate: f.predicate.to_owned(),
                    object: EntityRef::new(f.object, p.object_type),
                });
            }
        }
        let remember = episode.remember && !episode.content.trim().is_empty();
        let mut texts = Vec::new();
        if remember {
            texts.push(embedding_text(episode.context.as_deref(), &episode.content));
        }
        let fact_texts: Vec<String> = facts
            .iter()
            .map(|f| {
                fact_text(
                    f.subject.as_ref().map_or(contact_name, |s| s.name.as_str()),
                    &f.predicate,
                    &f.object.name,
                )
            })
            .collect();
        texts.extend(fact_texts.iter().cloned());
        let mut entities: Vec<EntityRef> = Vec::new();
        for f in &facts {
            for e in f.subject.iter().chain(std::iter::once(&f.object)) {
                if !entities.contains(e) {
                    entities.push(e.clone());
                }
            }
        }
        // An entity the graph already holds keeps its vector: embedding its name again would be
        // thrown away by the upsert (a customer names the same products and places often).
        let known = self.known_entities(episode, &entities).await?;
        let fresh: Vec<bool> = entities
            .iter()
            .map(|e| !known.contains(&key_of(e)))
            .collect();
        texts.extend(
            entities
                .iter()
                .zip(&fresh)
                .filter(|(_, fresh)| **fresh)
                .map(|(e, _)| e.name.clone()),
        );
        let mut vectors = self
            .embedder
            .embed_background(&texts)
            .await?
            .into_iter()
            .map(Vector::from);
        let memory_vector = if remember { vectors.next() } else { None };
        let fact_vectors = fact_texts.iter().map(|_| vectors.next()).collect();
        let entity_vectors = fresh
            .iter()
            .map(|fresh| if *fresh { vectors.next() } else { None })
            .collect();
        Ok(Derived {
            remember,
            memory_vector,
            facts,
            fact_texts,
            fact_vectors,
            entities,
            entity_vectors,
        })
    }

    /// Which of `entities` the contact's graph already holds with a vector of this model.
    async fn known_entities(
        &self,
        episode: &Episode,
        entities: &[EntityRef],
    ) -> Result<Vec<(String, String)>, MemoryError> {
        if entities.is_empty() {
            return Ok(Vec::new());
        }
        let (types, keys): (Vec<String>, Vec<String>) = entities.iter().map(key_of).unzip();
        Ok(sqlx::query!(
            "SELECT entity_type, normalized FROM memory_entities
              WHERE tenant_id = $1 AND contact_id = $2 AND embedding_model = $3
                AND (entity_type, normalized) IN (SELECT * FROM unnest($4::text[], $5::text[]))",
            episode.tenant_id,
            episode.contact_id,
            self.model(),
            &types,
            &keys
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| (r.entity_type, r.normalized))
        .collect())
    }

    /// The episode's own memory, typed from its words (purchase, support ticket, ...).
    async fn insert_memory(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        episode: &Episode,
        episode_id: Uuid,
        language: &str,
        vector: Option<Vector>,
    ) -> Result<Option<Uuid>, MemoryError> {
        let memory_type = match episode.kind {
            "crm_event" => "crm_event",
            "note" => "operator_note",
            "message" => extract::classify_memory(&episode.content),
            _ => "conversation",
        };
        let mut metadata = match &episode.metadata {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        metadata.insert("role".into(), json!(episode.role));
        Ok(sqlx::query_scalar!(
                "INSERT INTO memories (id, tenant_id, contact_id, content, memory_type, metadata, episode_id, language, embedding, embedding_model, valid_from, context)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::regconfig, $9::vector, $10, $11, $12)
                 ON CONFLICT (episode_id, memory_type) WHERE episode_id IS NOT NULL DO NOTHING RETURNING id",
            Uuid::now_v7(),
            episode.tenant_id,
            episode.contact_id,
            episode.content,
            memory_type,
            Value::Object(metadata),
            episode_id,
            language,
            vector as _,
            self.model(),
            episode.occurred_at,
            episode.context.as_deref()
        )
        .fetch_optional(&mut **tx)
        .await?)
    }

    /// The entities and facts (with temporal resolution), counted into `outcome`; returns every
    /// entity touched, whose summary is then refreshed.
    #[allow(clippy::too_many_arguments)]
    async fn write_graph(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        episode: &Episode,
        episode_id: Uuid,
        contact_name: &str,
        language: &str,
        derived: Derived,
        outcome: &mut IngestOutcome,
    ) -> Result<Vec<Uuid>, MemoryError> {
        let mut entity_ids: Vec<Uuid> = Vec::with_capacity(derived.entities.len());
        for (e, vector) in derived.entities.iter().zip(derived.entity_vectors) {
            entity_ids.push(upsert_entity(tx, episode, e, vector, self.model()).await?);
        }
        let contact_entity = upsert_entity(
            tx,
            episode,
            &EntityRef::new(contact_name.to_owned(), "contact"),
            None,
            self.model(),
        )
        .await?;
        let id_of = |e: &EntityRef| {
            derived
                .entities
                .iter()
                .position(|x| x == e)
                .map(|i| entity_ids[i])
                .expect("entity upserted")
        };
        let mut touched: BTreeSet<Uuid> = BTreeSet::from([contact_entity]);
        for (i, f) in derived.facts.iter().enumerate() {
            let subject = f.subject.as_ref().map_or(contact_entity, id_of);
            let object = id_of(&f.object);
            touched.extend([subject, object]);
            let applied = apply_fact(
                tx,
                episode,
                episode_id,
                i,
                subject,
                object,
                &f.predicate,
                &derived.fact_texts[i],
                language,
                derived.fact_vectors[i].as_ref(),
                self.model(),
            )
            .await?;
            match applied {
                Applied::Added { invalidated } => {
                    outcome.facts_added += 1;
                    outcome.facts_invalidated += invalidated;
                }
                Applied::Reinforced => outcome.facts_reinforced += 1,
                Applied::Duplicate => {}
            }
        }
        Ok(touched.into_iter().collect())
    }

    // -----------------------------------------------------------------------------------------
    // Reading the graph
    // -----------------------------------------------------------------------------------------
}

/// What one episode writes besides its own row, with the vectors already computed.
struct Derived {
    remember: bool,
    memory_vector: Option<Vector>,
    facts: Vec<FactInput>,
    fact_texts: Vec<String>,
    fact_vectors: Vec<Option<Vector>>,
    entities: Vec<EntityRef>,
    entity_vectors: Vec<Option<Vector>>,
}

impl IngestOutcome {
    fn already(episode_id: Uuid) -> IngestOutcome {
        IngestOutcome {
            episode_id,
            already_ingested: true,
            ..Default::default()
        }
    }
}

/// Takes the contact's graph for this transaction (one writer per contact graph, whoever calls:
/// workflow, tools, evaluation) and the episode if no one ingested it meanwhile.
async fn claim_episode(
    tx: &mut Transaction<'_, Postgres>,
    contact_id: Uuid,
    episode_id: Uuid,
) -> Result<bool, MemoryError> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 7))",
        contact_id
    )
    .execute(&mut **tx)
    .await?;
    let still_pending = sqlx::query_scalar!(
        "SELECT id FROM memory_episodes WHERE id = $1 AND ingested_at IS NULL FOR UPDATE",
        episode_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(still_pending.is_some())
}
