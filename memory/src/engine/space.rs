//! Embedding spaces: which model's vectors searches use, and the re-embedding that moves every
//! row to a new model before it becomes the one searched.

use uuid::Uuid;

use super::{MemoryEngine, MemoryError, embedding_text};
use pgvector::Vector;

/// A row whose vector is from another model: what it was embedded from.
struct StaleRow {
    id: Uuid,
    context: Option<String>,
    text: String,
}

fn ids_of(rows: &[StaleRow]) -> Vec<Uuid> {
    rows.iter().map(|r| r.id).collect()
}

pub enum SpaceStatus {
    Active,
    NeedsReembed { model: String, dimensions: usize },
}

impl MemoryEngine {
    /// Registers this engine's model and its HNSW indexes. The first model becomes active; a
    /// different model is registered as `building` and returned, for the re-embed workflow.
    pub async fn ensure_space(&self) -> Result<SpaceStatus, MemoryError> {
        let model = super::tenant_index::safe_model(self.model())?.to_owned();
        let dims = self.embedder.dimensions() as i32;
        let existing = sqlx::query!(
            "SELECT dimensions, state FROM embedding_spaces WHERE model = $1",
            model
        )
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = &existing {
            let (stored, state) = (row.dimensions, row.state.as_str());
            if stored != dims {
                return Err(MemoryError::Invalid(format!(
                    "model {model} was registered with {stored} dimensions, now reports {dims}"
                )));
            }
            if state == "retired" {
                // Switching back to a model used before: its vectors are stale, rebuild them.
                sqlx::query!(
                    "UPDATE embedding_spaces SET state = 'building' WHERE model = $1",
                    model
                )
                .execute(&self.pool)
                .await?;
            }
        }
        let has_active = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM embedding_spaces WHERE state = 'active') AS "exists!""#,
        )
        .fetch_one(&self.pool)
        .await?;
        let state = if has_active { "building" } else { "active" };
        sqlx::query!(
            "INSERT INTO embedding_spaces (model, dimensions, state) VALUES ($1, $2, $3) ON CONFLICT (model) DO NOTHING",
            model,
            dims,
            state
        )
        .execute(&self.pool)
        .await?;
        let state =
            sqlx::query_scalar!("SELECT state FROM embedding_spaces WHERE model = $1", model)
                .fetch_one(&self.pool)
                .await?;
        Ok(if state == "active" {
            SpaceStatus::Active
        } else {
            SpaceStatus::NeedsReembed {
                model,
                dimensions: dims as usize,
            }
        })
    }

    /// Rows (memories, facts, entities) whose vectors are not from this engine's model yet.
    pub async fn reembed_batch(&self, batch: i64) -> Result<u64, MemoryError> {
        // One table per call, memories first; the caller repeats until nothing is left.
        let memories = self.stale_memories(batch).await?;
        if !memories.is_empty() {
            let vectors = self.embed_rows(&memories).await?;
            sqlx::query!(
                "UPDATE memories t SET embedding = u.v::vector, embedding_model = $3
                 FROM unnest($1::uuid[], $2::vector[]) AS u(id, v) WHERE t.id = u.id",
                &ids_of(&memories),
                &vectors as _,
                self.model()
            )
            .execute(&self.pool)
            .await?;
            return Ok(memories.len() as u64);
        }
        let facts = sqlx::query_as!(
            StaleRow,
            r#"SELECT id, NULL::text AS context, fact AS "text!" FROM memory_facts
               WHERE embedding_model IS DISTINCT FROM $1 ORDER BY id LIMIT $2"#,
            self.model(),
            batch
        )
        .fetch_all(&self.pool)
        .await?;
        if !facts.is_empty() {
            let vectors = self.embed_rows(&facts).await?;
            sqlx::query!(
                "UPDATE memory_facts t SET embedding = u.v::vector, embedding_model = $3
                 FROM unnest($1::uuid[], $2::vector[]) AS u(id, v) WHERE t.id = u.id",
                &ids_of(&facts),
                &vectors as _,
                self.model()
            )
            .execute(&self.pool)
            .await?;
            return Ok(facts.len() as u64);
        }
        let entities = sqlx::query_as!(
            StaleRow,
            r#"SELECT id, NULL::text AS context, name AS "text!" FROM memory_entities
               WHERE embedding_model IS DISTINCT FROM $1 ORDER BY id LIMIT $2"#,
            self.model(),
            batch
        )
        .fetch_all(&self.pool)
        .await?;
        if !entities.is_empty() {
            let vectors = self.embed_rows(&entities).await?;
            sqlx::query!(
                "UPDATE memory_entities t SET embedding = u.v::vector, embedding_model = $3
                 FROM unnest($1::uuid[], $2::vector[]) AS u(id, v) WHERE t.id = u.id",
                &ids_of(&entities),
                &vectors as _,
                self.model()
            )
            .execute(&self.pool)
            .await?;
            return Ok(entities.len() as u64);
        }
        // The business's knowledge passages, embedded from their heading and content.
        let passages = sqlx::query_as!(
            StaleRow,
            r#"SELECT id, heading AS context, content AS "text!" FROM knowledge_passages
               WHERE embedding_model IS DISTINCT FROM $1 ORDER BY id LIMIT $2"#,
            self.model(),
            batch
        )
        .fetch_all(&self.pool)
        .await?;
        if !passages.is_empty() {
            let vectors = self.embed_rows(&passages).await?;
            sqlx::query!(
                "UPDATE knowledge_passages t SET embedding = u.v::vector, embedding_model = $3
                 FROM unnest($1::uuid[], $2::vector[]) AS u(id, v) WHERE t.id = u.id",
                &ids_of(&passages),
                &vectors as _,
                self.model()
            )
            .execute(&self.pool)
            .await?;
            return Ok(passages.len() as u64);
        }
        Ok(0)
    }

    async fn stale_memories(&self, batch: i64) -> Result<Vec<StaleRow>, MemoryError> {
        Ok(sqlx::query_as!(
            StaleRow,
            r#"SELECT id, context::text AS context, content AS "text!" FROM memories
               WHERE embedding_model IS DISTINCT FROM $1 ORDER BY id LIMIT $2"#,
            self.model(),
            batch
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The same text each row was first embedded from (memories: context, then content).
    async fn embed_rows(&self, rows: &[StaleRow]) -> Result<Vec<Vector>, MemoryError> {
        let texts: Vec<String> = rows
            .iter()
            .map(|r| embedding_text(r.context.as_deref(), &r.text))
            .collect();
        Ok(self
            .embedder
            .embed_background(&texts)
            .await?
            .into_iter()
            .map(Vector::from)
            .collect())
    }

    /// Makes this engine's model the one searches use; the previous one is retired.
    pub async fn activate_space(&self) -> Result<(), MemoryError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "UPDATE embedding_spaces SET state = 'retired' WHERE state = 'active' AND model <> $1",
            self.model()
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE embedding_spaces SET state = 'active' WHERE model = $1",
            self.model()
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Search
    // -----------------------------------------------------------------------------------------
}
