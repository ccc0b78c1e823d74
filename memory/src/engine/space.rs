//! Embedding spaces: which model's vectors searches use, the per-model HNSW indexes, and the
//! re-embedding that moves every row to a new model before it becomes the one searched.

use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{MemoryEngine, MemoryError, embedding_text};
use pgvector::Vector;

pub enum SpaceStatus {
    Active,
    NeedsReembed { model: String, dimensions: usize },
}

impl MemoryEngine {
    /// Registers this engine's model and its HNSW indexes. The first model becomes active; a
    /// different model is registered as `building` and returned, for the re-embed workflow.
    pub async fn ensure_space(&self) -> Result<SpaceStatus, MemoryError> {
        let model = self.model().to_owned();
        let dims = self.embedder.dimensions() as i32;
        let existing: Option<(i32, String)> =
            sqlx::query_as("SELECT dimensions, state FROM embedding_spaces WHERE model = $1")
                .bind(&model)
                .fetch_optional(&self.pool)
                .await?;
        if let Some((stored, state)) = &existing {
            if *stored != dims {
                return Err(MemoryError::Invalid(format!(
                    "model {model} was registered with {stored} dimensions, now reports {dims}"
                )));
            }
            if state == "retired" {
                // Switching back to a model used before: its vectors are stale, rebuild them.
                sqlx::query("UPDATE embedding_spaces SET state = 'building' WHERE model = $1")
                    .bind(&model)
                    .execute(&self.pool)
                    .await?;
            }
        }
        let has_active: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM embedding_spaces WHERE state = 'active')",
        )
        .fetch_one(&self.pool)
        .await?;
        let state = if has_active { "building" } else { "active" };
        sqlx::query("INSERT INTO embedding_spaces (model, dimensions, state) VALUES ($1, $2, $3) ON CONFLICT (model) DO NOTHING")
            .bind(&model)
            .bind(dims)
            .bind(state)
            .execute(&self.pool)
            .await?;
        self.ensure_indexes().await?;
        let state: String =
            sqlx::query_scalar("SELECT state FROM embedding_spaces WHERE model = $1")
                .bind(&model)
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

    /// One partial HNSW index per table for this model: vectors of other models (other
    /// dimensions) are outside the index predicate, so they are never compared.
    pub async fn ensure_indexes(&self) -> Result<(), MemoryError> {
        let model = self.model();
        if !model
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || model.len() > 48
        {
            return Err(MemoryError::Invalid(format!(
                "embedding model id {model:?} is not a safe identifier"
            )));
        }
        let dims = self.embedder.dimensions();
        for table in ["memories", "memory_facts"] {
            let sql = format!(
                "CREATE INDEX IF NOT EXISTS {table}_hnsw_{model} ON {table} USING hnsw ((embedding::vector({dims})) vector_cosine_ops)
                 WITH (m = 16, ef_construction = 64) WHERE embedding_model = '{model}'"
            );
            sqlx::query(AssertSqlSafe(sql)).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Rows (memories, facts, entities) whose vectors are not from this engine's model yet.
    pub async fn reembed_batch(&self, batch: i64) -> Result<u64, MemoryError> {
        let model = self.model().to_owned();
        // One table per call, memories first; the caller repeats until nothing is left.
        for (table, context, text) in [
            ("memories", "context", "content"),
            ("memory_facts", "NULL", "fact"),
            ("memory_entities", "NULL", "name"),
        ] {
            let sql = format!(
                "SELECT id, {context}::text AS context, {text} AS text FROM {table} WHERE embedding_model IS DISTINCT FROM $1 ORDER BY id LIMIT $2"
            );
            let rows: Vec<(Uuid, Option<String>, String)> = sqlx::query_as(AssertSqlSafe(sql))
                .bind(&model)
                .bind(batch)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                continue;
            }
            // The same text each row was first embedded from (memories: context, then content).
            let texts: Vec<String> = rows
                .iter()
                .map(|(_, context, text)| embedding_text(context.as_deref(), text))
                .collect();
            let vectors: Vec<Vector> = self
                .embedder
                .embed(&texts)
                .await?
                .into_iter()
                .map(Vector::from)
                .collect();
            let ids: Vec<Uuid> = rows.iter().map(|(id, _, _)| *id).collect();
            let sql = format!(
                "UPDATE {table} t SET embedding = u.v::vector, embedding_model = $3 FROM unnest($1::uuid[], $2::vector[]) AS u(id, v) WHERE t.id = u.id"
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(&ids)
                .bind(&vectors)
                .bind(&model)
                .execute(&self.pool)
                .await?;
            return Ok(rows.len() as u64);
        }
        Ok(0)
    }

    /// Makes this engine's model the one searches use; the previous one is retired.
    pub async fn activate_space(&self) -> Result<(), MemoryError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE embedding_spaces SET state = 'retired' WHERE state = 'active' AND model <> $1",
        )
        .bind(self.model())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE embedding_spaces SET state = 'active' WHERE model = $1")
            .bind(self.model())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Search
    // -----------------------------------------------------------------------------------------
}
