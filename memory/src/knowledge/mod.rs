//! The business's own knowledge: documents and product catalogues a tenant uploads, indexed into
//! passages and searched the way memories are (vectors and full text, fused by rank), so agents
//! answer opening hours, delivery areas, prices and policies from what the business wrote, quote
//! it, and hand over when it says nothing.
//!
//! Indexing is the KnowledgeIngestion workflow's one activity ([`MemoryEngine::index_knowledge`]):
//! idempotent, and version-checked under a row lock, so a re-upload that lands while an older
//! version is being indexed always wins and a deleted document stays deleted.

pub mod parse;

use std::collections::HashMap;

use pgvector::Vector;
use serde_json::{Map, Value};
use uuid::Uuid;
use ventros_domain::{KnowledgeFormat, KnowledgeStatus};

use crate::engine::{MemoryEngine, MemoryError, query_terms};

/// How many passages are embedded per model call.
const EMBED_BATCH: usize = 32;
/// Each ranked list the fusion reads.
const CANDIDATES: i64 = 24;
const RRF_K: f32 = 60.0;

/// What indexing one version of a document came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOutcome {
    Indexed {
        passages: usize,
    },
    /// The source cannot be read; the document says why.
    Failed,
    /// A newer version was uploaded: that version's own run indexes it.
    Superseded,
    /// The document was deleted.
    Gone,
}

/// A passage found for a question, with what it was found by.
#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeHit {
    pub passage_id: Uuid,
    pub document_id: Uuid,
    pub document_title: String,
    pub heading: Option<String>,
    pub content: String,
    pub fields: Map<String, Value>,
    /// Rank fusion of the two lists, 1 for a passage first in both.
    pub score: f32,
    /// Cosine similarity of the question and the passage (0 when the vector list missed it).
    pub similarity: f32,
    /// Whether a word of the question (stemmed) is in the passage.
    pub keyword_match: bool,
    /// The share of the question's meaningful words (stop words left out, stemmed in the
    /// passage's language) that the passage contains: "do you sell tickets for Saturday's show"
    /// shares one word in four with the opening hours, "are you open on Saturday" all of them.
    pub coverage: f32,
}

fn regconfig(language: &str) -> &'static str {
    match language {
        "en" => "english",
        "es" => "spanish",
        _ => "portuguese",
    }
}

/// What a passage is embedded from: its heading gives a short answer its subject.
fn passage_text(heading: Option<&str>, content: &str) -> String {
    match heading {
        Some(h) => format!("{h}\n{content}"),
        None => content.to_owned(),
    }
}

impl MemoryEngine {
    /// Indexes `version` of a document: reads its source, embeds its passages and replaces the
    /// document's passages with them, unless a newer version or a deletion came first.
    pub async fn index_knowledge(
        &self,
        tenant_id: Uuid,
        document_id: Uuid,
        version: i32,
    ) -> Result<IndexOutcome, MemoryError> {
        let Some(doc) = sqlx::query!(
            r#"SELECT version, format AS "format: KnowledgeFormat", source
                 FROM knowledge_documents WHERE id = $1 AND tenant_id = $2"#,
            document_id,
            tenant_id,
        )
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(IndexOutcome::Gone);
        };
        if doc.version != version {
            return Ok(IndexOutcome::Superseded);
        }
        let (passages, language) = match parse::passages(doc.format, &doc.source) {
            Ok(read) => read,
            Err(unreadable) => {
                // Only while this version is still the document's: a newer one may be indexed
                // by now, and its passages must stay.
                let mut tx = self.pool().begin().await?;
                let marked = sqlx::query!(
                    "UPDATE knowledge_documents SET status = $4, error = $5, passage_count = 0
                      WHERE id = $1 AND tenant_id = $2 AND version = $3",
                    document_id,
                    tenant_id,
                    version,
                    KnowledgeStatus::Failed as KnowledgeStatus,
                    unreadable.0,
                )
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if marked == 0 {
                    return Ok(IndexOutcome::Superseded);
                }
                sqlx::query!(
                    "DELETE FROM knowledge_passages WHERE document_id = $1 AND tenant_id = $2",
                    document_id,
                    tenant_id
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(IndexOutcome::Failed);
            }
        };
        let texts: Vec<String> = passages
            .iter()
            .map(|p| passage_text(p.heading.as_deref(), &p.content))
            .collect();
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(EMBED_BATCH) {
            vectors.extend(
                self.embedder()
                    .embed_background(batch)
                    .await?
                    .into_iter()
                    .map(Vector::from),
            );
        }

        let mut tx = self.pool().begin().await?;
        let current = sqlx::query_scalar!(
            "SELECT version FROM knowledge_documents WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
            document_id,
            tenant_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        match current {
            None => return Ok(IndexOutcome::Gone),
            Some(v) if v != version => return Ok(IndexOutcome::Superseded),
            Some(_) => {}
        }
        sqlx::query!(
            "DELETE FROM knowledge_passages WHERE document_id = $1 AND tenant_id = $2",
            document_id,
            tenant_id
        )
        .execute(&mut *tx)
        .await?;
        let model = self.embedder().model().to_owned();
        for (ordinal, (passage, vector)) in passages.iter().zip(vectors).enumerate() {
            sqlx::query!(
                "INSERT INTO knowledge_passages
                     (tenant_id, document_id, version, ordinal, heading, content, fields, language,
                      embedding, embedding_model)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::regconfig, $9, $10)",
                tenant_id,
                document_id,
                version,
                ordinal as i32,
                passage.heading,
                passage.content,
                Value::Object(passage.fields.clone()),
                regconfig(language),
                vector as _,
                model,
            )
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query!(
            "UPDATE knowledge_documents
                SET status = $4, error = NULL, indexed_version = $3, passage_count = $5, language = $6
              WHERE id = $1 AND tenant_id = $2",
            document_id,
            tenant_id,
            version,
            KnowledgeStatus::Indexed as KnowledgeStatus,
            passages.len() as i32,
            language,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(IndexOutcome::Indexed {
            passages: passages.len(),
        })
    }

    /// The tenant's passages that best answer `question`: vector and full-text lists fused by
    /// rank. Passages are scanned per tenant (a small business's knowledge is a few thousand
    /// passages at most), so no index has to name the embedding model.
    pub async fn search_knowledge(
        &self,
        tenant_id: Uuid,
        question: &str,
        limit: usize,
    ) -> Result<Vec<KnowledgeHit>, MemoryError> {
        let question = question.trim();
        if question.is_empty() {
            return Err(MemoryError::Invalid("the question is empty".into()));
        }
        let vector = Vector::from(
            self.embedder()
                .embed_query(&[question.chars().take(2_000).collect()])
                .await?
                .swap_remove(0),
        );
        let by_meaning = sqlx::query!(
            r#"SELECT id, (1 - (embedding <=> $2))::float4 AS "similarity!"
                 FROM knowledge_passages
                WHERE tenant_id = $1 AND embedding_model = $3
                ORDER BY embedding <=> $2 LIMIT $4"#,
            tenant_id,
            vector as _,
            self.embedder().model(),
            CANDIDATES,
        )
        .fetch_all(self.pool())
        .await?;
        let words = query_terms(question);
        let terms = words.join(" | ");
        let by_words = sqlx::query!(
            r#"WITH q AS (SELECT to_tsquery('portuguese', $2) || to_tsquery('english', $2)
                                 || to_tsquery('spanish', $2) AS q)
               SELECT id, ts_rank_cd(search, q.q)::float4 AS "rank!"
                 FROM knowledge_passages, q
                WHERE tenant_id = $1 AND $2 <> '' AND search @@ q.q
                ORDER BY 2 DESC, id LIMIT $3"#,
            tenant_id,
            terms,
            CANDIDATES,
        )
        .fetch_all(self.pool())
        .await?;

        let mut fused: HashMap<Uuid, (f32, f32, bool)> = HashMap::new();
        for (rank, row) in by_meaning.iter().enumerate() {
            let entry = fused.entry(row.id).or_default();
            entry.0 += 1.0 / (RRF_K + 1.0 + rank as f32);
            entry.1 = row.similarity;
        }
        for (rank, row) in by_words.iter().enumerate() {
            let entry = fused.entry(row.id).or_default();
            entry.0 += 1.0 / (RRF_K + 1.0 + rank as f32);
            entry.2 = true;
        }
        let best = 2.0 / (RRF_K + 1.0);
        let mut ranked: Vec<(Uuid, (f32, f32, bool))> = fused.into_iter().collect();
        ranked.sort_by(|a, b| b.1.0.total_cmp(&a.1.0).then(a.0.cmp(&b.0)));
        ranked.truncate(limit.clamp(1, 20));
        let ids: Vec<Uuid> = ranked.iter().map(|(id, _)| *id).collect();
        let rows = sqlx::query!(
            r#"SELECT p.id, p.document_id, d.title, p.heading, p.content, p.fields,
                      coalesce((SELECT (count(*) FILTER (WHERE p.search @@ to_tsquery(p.language, w)))::float4
                                       / nullif(count(*) FILTER (WHERE numnode(to_tsquery(p.language, w)) > 0), 0)
                                  FROM unnest($3::text[]) AS w), 0)::float4 AS "coverage!"
                 FROM knowledge_passages p JOIN knowledge_documents d ON d.id = p.document_id
                WHERE p.tenant_id = $1 AND p.id = ANY($2)"#,
            tenant_id,
            &ids,
            &words,
        )
        .fetch_all(self.pool())
        .await?;
        let mut by_id: HashMap<Uuid, _> = rows.into_iter().map(|r| (r.id, r)).collect();
        Ok(ranked
            .into_iter()
            .filter_map(|(id, (score, similarity, keyword_match))| {
                let row = by_id.remove(&id)?;
                Some(KnowledgeHit {
                    passage_id: id,
                    document_id: row.document_id,
                    document_title: row.title,
                    heading: row.heading,
                    content: row.content,
                    fields: row.fields.as_object().cloned().unwrap_or_default(),
                    score: (score / best).min(1.0),
                    similarity,
                    keyword_match,
                    coverage: row.coverage,
                })
            })
            .collect())
    }
}
