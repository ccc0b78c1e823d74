//! The ranked lists HYBRID fuses, each one SQL statement over a contact's (or a tenant's) rows:
//! nearest by vector, BM25 by words (of each message, and of each message with its neighbours),
//! the graph's facts around the entities a query names, the window of messages around each one,
//! and what was said in the window of time a question names.
//! `search.rs` fuses them; each list returns `(key, score)` best first, at most `depth` long.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pgvector::Vector;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::search::Key;
use super::when::{Window, YEARS_BACK};
use super::{HitKind, MemoryEngine, MemoryError, SearchQuery};

/// An entity is linked to a query by meaning when its name is at least this similar.
const ENTITY_LINK_SIMILARITY: f32 = 0.55;

/// One row of a ranked list: `kind` is `m` (a memory) or `f` (a fact).
#[derive(sqlx::FromRow)]
pub(super) struct Scored {
    kind: String,
    id: Uuid,
    score: f32,
}

pub(super) fn rows_to_keys(rows: Vec<Scored>) -> Vec<(Key, f32)> {
    rows.into_iter()
        .map(|r| {
            let kind = if r.kind == "m" {
                HitKind::Memory
            } else {
                HitKind::Fact
            };
            ((kind, r.id), r.score)
        })
        .collect()
}

/// The best `depth` of a list, best first.
fn top(mut list: Vec<(Key, f32)>, depth: usize) -> Vec<(Key, f32)> {
    sort_desc(&mut list);
    list.truncate(depth);
    list
}

fn sort_desc(list: &mut [(Key, f32)]) {
    list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}
impl MemoryEngine {
    /// Nearest memories and facts by cosine similarity (score = similarity, floored at 0).
    pub(super) async fn vector_list(
        &self,
        q: &SearchQuery,
        vector: &Vector,
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        let Some(contact_id) = q.contact_id else {
            return Ok(top(self.tenant_vector_list(q, vector, depth).await?, depth));
        };
        // One contact: an exact scan of its rows (the untyped expression keeps the planner off
        // every HNSW index).
        let rows = sqlx::query_as!(
            Scored,
            r#"(SELECT 'm' AS "kind!", id AS "id!", greatest(0, 1 - (embedding <=> $3::vector))::float4 AS "score!" FROM memories
               WHERE tenant_id = $1 AND contact_id = $2 AND embedding_model = $4
                 AND (cardinality($5::text[]) = 0 OR memory_type = ANY($5))
                 AND CASE WHEN $6::timestamptz IS NULL THEN valid_until IS NULL
                          ELSE valid_from <= $6 AND (valid_until IS NULL OR valid_until > $6) END
               ORDER BY embedding <=> $3::vector LIMIT $7)
             UNION ALL
             (SELECT 'f', id, greatest(0, 1 - (embedding <=> $3::vector))::float4 FROM memory_facts
               WHERE tenant_id = $1 AND contact_id = $2 AND embedding_model = $4
                 AND (cardinality($5::text[]) = 0 OR memory_type = ANY($5))
                 AND CASE WHEN $6::timestamptz IS NULL THEN invalid_at IS NULL
                          ELSE valid_at <= $6 AND (invalid_at IS NULL OR invalid_at > $6) END
               ORDER BY embedding <=> $3::vector LIMIT $7)"#,
            q.tenant_id,
            contact_id,
            vector as _,
            self.model(),
            &q.memory_types,
            q.as_of,
            depth as i64
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(top(rows_to_keys(rows), depth))
    }

    /// The contact's messages ranked by how near the query the five around each one are, on
    /// average (it, the two before and the two after): a conversation stays on a topic for a few
    /// messages, and the one that answers ("Yeah, since I was 17") often shares no word and
    /// little meaning with the question while its neighbours do. The average of the
    /// similarities rather than the similarity of the averaged vectors: as good here (LoCoMo dev
    /// R@10 0.799 against 0.804, held out 0.784 both) at the cost of one scan of the contact's
    /// rows, which the vector list makes too (+3 ms at LoCoMo's 600 messages a contact).
    pub(super) async fn window_list(
        &self,
        q: &SearchQuery,
        vector: &Vector,
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        let Some(contact_id) = q.contact_id else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query_as!(
            Scored,
            r#"SELECT 'm' AS "kind!", id AS "id!", near::float4 AS "score!" FROM (
                 SELECT id, avg(1 - (embedding <=> $3::vector))
                          OVER (ORDER BY valid_from ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS near
                   FROM memories
                  WHERE tenant_id = $1 AND contact_id = $2 AND embedding_model = $4
                    AND (cardinality($5::text[]) = 0 OR memory_type = ANY($5))
                    AND CASE WHEN $6::timestamptz IS NULL THEN valid_until IS NULL
                             ELSE valid_from <= $6 AND (valid_until IS NULL OR valid_until > $6) END) w
               ORDER BY near DESC, id LIMIT $7"#,
            q.tenant_id,
            contact_id,
            vector as _,
            self.model(),
            &q.memory_types,
            q.as_of,
            depth as i64
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows_to_keys(rows))
    }

    /// BM25 over each of the contact's messages read together with the one before and the one
    /// after it: in a chat the words of a question are in the question ("What's your best camping
    /// memory?") and the answer after it shares none of them ("Seeing the Perseids with the
    /// kids"), and the reaction that follows often names the thing ("I love camping too!"); read
    /// with them, the answer matches. LoCoMo R@10 0.795 → 0.813 (held out 0.786 → 0.810); with
    /// the message before only, 0.804 (held out 0.796). Memories only: facts have no neighbours.
    pub(super) async fn context_list(
        &self,
        q: &SearchQuery,
        terms: &[String],
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        let Some(contact_id) = q.contact_id else {
            return Ok(Vec::new());
        };
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query_as!(
            Scored,
            r#"WITH docs AS MATERIALIZED (
                 SELECT id, doc, length(doc) AS len FROM (
                   SELECT id, coalesce(lag(search) OVER w, ''::tsvector) || search
                              || coalesce(lead(search) OVER w, ''::tsvector) AS doc
                     FROM memories
                    WHERE tenant_id = $1 AND contact_id = $2
                      AND (cardinality($4::text[]) = 0 OR memory_type = ANY($4))
                      AND CASE WHEN $5::timestamptz IS NULL THEN valid_until IS NULL
                               ELSE valid_from <= $5 AND (valid_until IS NULL OR valid_until > $5) END
                   WINDOW w AS (ORDER BY valid_from)) m),
             terms AS (SELECT DISTINCT ON (q::text) q FROM (
                 SELECT to_tsquery('english', t) || to_tsquery('portuguese', t) AS q FROM unnest($3::text[]) AS t) x
                 WHERE numnode(q) > 0),
             stats AS (SELECT count(*)::float8 AS n, greatest(avg(len), 1)::float8 AS avgdl FROM docs),
             df AS (SELECT terms.q, count(docs.id)::float8 AS df FROM terms LEFT JOIN docs ON docs.doc @@ terms.q GROUP BY terms.q)
             SELECT 'm' AS "kind!", d.id AS "id!",
                    sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) * 2.2 / (1 + 1.2 * (0.25 + 0.75 * d.len / s.avgdl)))::float4 AS "score!"
               FROM docs d JOIN df ON d.doc @@ df.q CROSS JOIN stats s
              GROUP BY d.id ORDER BY 3 DESC, d.id LIMIT $6"#,
            q.tenant_id,
            contact_id,
            terms,
            &q.memory_types,
            q.as_of,
            depth as i64
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows_to_keys(rows))
    }

    /// A window the question named without a year ("em junho", "on 3 June") moved to the latest
    /// year, its own or one of the ten before, in which the contact's history has anything: a
    /// customer who asks what they bought "in June" means the June of their history, not this
    /// year's when nothing happened in it. Any other window, or none, is returned as it is.
    pub(super) async fn in_history(
        &self,
        q: &SearchQuery,
        window: Option<Window>,
    ) -> Result<Option<Window>, MemoryError> {
        let (Some(w), Some(contact_id)) = (window, q.contact_id) else {
            return Ok(window);
        };
        if !w.yearless {
            return Ok(window);
        }
        let spans: Vec<Window> = (0..=YEARS_BACK).filter_map(|n| w.years_back(n)).collect();
        let froms: Vec<DateTime<Utc>> = spans.iter().map(|s| s.from).collect();
        let tos: Vec<DateTime<Utc>> = spans.iter().map(|s| s.to).collect();
        let latest = sqlx::query_scalar!(
            r#"SELECT w.k AS "k!" FROM unnest($3::timestamptz[], $4::timestamptz[]) WITH ORDINALITY AS w(f, t, k)
                WHERE EXISTS (SELECT 1 FROM memories m
                               WHERE m.tenant_id = $1 AND m.contact_id = $2
                                 AND m.valid_from >= w.f AND m.valid_from < w.t)
                ORDER BY w.k LIMIT 1"#,
            q.tenant_id,
            contact_id,
            &froms,
            &tos
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(Some(
            latest
                .and_then(|k| spans.get(usize::try_from(k - 1).ok()?).copied())
                .unwrap_or(w),
        ))
    }

    /// The contact's memories from the window of time the question names, nearest first: what
    /// was said then, however it was worded.
    pub(super) async fn time_list(
        &self,
        q: &SearchQuery,
        window: Option<Window>,
        vector: &Vector,
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        let (Some(window), Some(contact_id)) = (window, q.contact_id) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query_as!(
            Scored,
            r#"SELECT 'm' AS "kind!", id AS "id!", greatest(0, 1 - (embedding <=> $3::vector))::float4 AS "score!" FROM memories
               WHERE tenant_id = $1 AND contact_id = $2 AND embedding_model = $4
                 AND (cardinality($5::text[]) = 0 OR memory_type = ANY($5))
                 AND CASE WHEN $6::timestamptz IS NULL THEN valid_until IS NULL
                          ELSE valid_from <= $6 AND (valid_until IS NULL OR valid_until > $6) END
                 AND valid_from >= $7 AND valid_from < $8
               ORDER BY embedding <=> $3::vector LIMIT $9"#,
            q.tenant_id,
            contact_id,
            vector as _,
            self.model(),
            &q.memory_types,
            q.as_of,
            window.from,
            window.to,
            depth as i64
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows_to_keys(rows))
    }

    /// Full-text matches (any query word, stemmed in English and Portuguese), by ts_rank; a whole
    /// tenant (one contact goes through [`Self::bm25_list`]).
    pub(super) async fn keyword_list(
        &self,
        q: &SearchQuery,
        terms: &[String],
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(contact_id) = q.contact_id {
            return self.bm25_list(q, contact_id, terms, depth).await;
        }
        let tsquery = terms.join(" | ");
        let rows = sqlx::query_as!(
            Scored,
            r#"WITH q AS (SELECT to_tsquery('english', $3) || to_tsquery('portuguese', $3) AS q)
             (SELECT 'm' AS "kind!", id AS "id!", ts_rank(search, q.q, 1)::float4 AS "score!" FROM memories, q
               WHERE tenant_id = $1 AND $2::uuid IS NULL AND search @@ q.q
                 AND (cardinality($4::text[]) = 0 OR memory_type = ANY($4))
                 AND CASE WHEN $5::timestamptz IS NULL THEN valid_until IS NULL
                          ELSE valid_from <= $5 AND (valid_until IS NULL OR valid_until > $5) END
               ORDER BY 3 DESC LIMIT $6)
             UNION ALL
             (SELECT 'f', id, ts_rank(search, q.q, 1)::float4 FROM memory_facts, q
               WHERE tenant_id = $1 AND $2::uuid IS NULL AND search @@ q.q
                 AND (cardinality($4::text[]) = 0 OR memory_type = ANY($4))
                 AND CASE WHEN $5::timestamptz IS NULL THEN invalid_at IS NULL
                          ELSE valid_at <= $5 AND (invalid_at IS NULL OR invalid_at > $5) END
               ORDER BY 3 DESC LIMIT $6)"#,
            q.tenant_id,
            q.contact_id,
            tsquery,
            &q.memory_types,
            q.as_of,
            depth as i64
        )
        .fetch_all(&self.pool)
        .await?;
        let mut list = rows_to_keys(rows);
        sort_desc(&mut list);
        list.truncate(depth);
        Ok(list)
    }

    /// BM25 over one contact's memories and facts. ts_rank has no notion of how rare a word is,
    /// so in a long history the contact's own name or "order" outweighs the one rare word that
    /// matters; here every query word is weighted by its inverse document frequency within the
    /// contact's rows (a few hundred to a few thousand: cheap to count exactly).
    async fn bm25_list(
        &self,
        q: &SearchQuery,
        contact_id: Uuid,
        terms: &[String],
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        let rows = sqlx::query_as!(
            Scored,
            r#"WITH docs AS MATERIALIZED (
                 SELECT 'm' AS kind, id, search, length(search) AS len FROM memories
                  WHERE tenant_id = $1 AND contact_id = $2
                    AND (cardinality($4::text[]) = 0 OR memory_type = ANY($4))
                    AND CASE WHEN $5::timestamptz IS NULL THEN valid_until IS NULL
                             ELSE valid_from <= $5 AND (valid_until IS NULL OR valid_until > $5) END
                 UNION ALL
                 SELECT 'f', id, search, length(search) FROM memory_facts
                  WHERE tenant_id = $1 AND contact_id = $2
                    AND (cardinality($4::text[]) = 0 OR memory_type = ANY($4))
                    AND CASE WHEN $5::timestamptz IS NULL THEN invalid_at IS NULL
                             ELSE valid_at <= $5 AND (invalid_at IS NULL OR invalid_at > $5) END),
             terms AS (SELECT DISTINCT ON (q::text) q FROM (
                 SELECT to_tsquery('english', t) || to_tsquery('portuguese', t) AS q FROM unnest($3::text[]) AS t) x
                 WHERE numnode(q) > 0),
             stats AS (SELECT count(*)::float8 AS n, greatest(avg(len), 1)::float8 AS avgdl FROM docs),
             df AS (SELECT terms.q, count(docs.id)::float8 AS df FROM terms LEFT JOIN docs ON docs.search @@ terms.q GROUP BY terms.q)
             SELECT d.kind AS "kind!", d.id AS "id!",
                    sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) * 2.2 / (1 + 1.2 * (0.25 + 0.75 * d.len / s.avgdl)))::float4 AS "score!"
               FROM docs d JOIN df ON d.search @@ df.q CROSS JOIN stats s
              GROUP BY d.kind, d.id ORDER BY 3 DESC, d.id LIMIT $6"#,
            q.tenant_id,
            contact_id,
            terms,
            &q.memory_types,
            q.as_of,
            depth as i64
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows_to_keys(rows))
    }

    /// Facts reached from the entities the query names (by name or by meaning) and the relations
    /// it asks about, plus the memories of the episodes those facts came from.
    pub(super) async fn graph_list(
        &self,
        q: &SearchQuery,
        terms: &[String],
        predicates: &[String],
        vector: &Vector,
        depth: usize,
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        let name_terms: Vec<&String> = terms.iter().filter(|t| t.chars().count() >= 3).collect();
        let simple_query = name_terms
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(" | ");
        // The scope is a fixed fragment rather than `($2 IS NULL OR contact_id = $2)`: with a
        // prepared statement's generic plan that form cannot use the per-contact indexes.
        let (scope, fact_scope) = if q.contact_id.is_some() {
            ("contact_id = $2", "f.contact_id = $2")
        } else {
            ("$2::uuid IS NULL", "$2::uuid IS NULL")
        };
        let linked: Vec<(Uuid, f32)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id, 1.0::float4 FROM memory_entities
              WHERE tenant_id = $1 AND {scope} AND entity_type <> 'contact'
                AND $3 <> '' AND search @@ to_tsquery('simple', $3)
             UNION ALL
             (SELECT id, greatest(0, 1 - (embedding <=> $4::vector))::float4 FROM memory_entities
               WHERE tenant_id = $1 AND {scope} AND entity_type <> 'contact' AND embedding_model = $5
               ORDER BY embedding <=> $4::vector LIMIT 8)"
        )))
        .bind(q.tenant_id)
        .bind(q.contact_id)
        .bind(&simple_query)
        .bind(vector)
        .bind(self.model())
        .fetch_all(&self.pool)
        .await?;
        let mut entity_scores: HashMap<Uuid, f32> = HashMap::new();
        for (id, score) in linked
            .into_iter()
            .filter(|(_, s)| *s >= ENTITY_LINK_SIMILARITY)
        {
            let slot = entity_scores.entry(id).or_default();
            *slot = slot.max(score);
        }
        if entity_scores.is_empty() && predicates.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, scores): (Vec<Uuid>, Vec<f32>) = entity_scores.into_iter().unzip();
        let rows = sqlx::query_as::<_, Scored>(AssertSqlSafe(format!(
            "WITH linked(id, s) AS (SELECT * FROM unnest($3::uuid[], $4::float4[])),
             facts AS (
               SELECT f.id, f.episode_ids, f.valid_at,
                      (2 * coalesce((SELECT max(s) FROM linked WHERE linked.id IN (f.subject_id, f.object_id)), 0)
                       + CASE WHEN f.predicate = ANY($5) THEN 1 ELSE 0 END)::float4 AS score
                 FROM memory_facts f
                WHERE f.tenant_id = $1 AND {fact_scope}
                  AND (f.subject_id = ANY($3) OR f.object_id = ANY($3) OR f.predicate = ANY($5))
                  AND (cardinality($6::text[]) = 0 OR f.memory_type = ANY($6))
                  AND CASE WHEN $7::timestamptz IS NULL THEN f.invalid_at IS NULL
                           ELSE f.valid_at <= $7 AND (f.invalid_at IS NULL OR f.invalid_at > $7) END
                ORDER BY score DESC, f.valid_at DESC LIMIT $8)
             SELECT 'f' AS kind, id, score FROM facts
             UNION ALL
             SELECT DISTINCT ON (m.id) 'm', m.id, (f.score * 0.9)::float4 FROM facts f JOIN memories m ON m.episode_id = ANY(f.episode_ids)
              WHERE m.tenant_id = $1 AND (cardinality($6::text[]) = 0 OR m.memory_type = ANY($6))
                AND CASE WHEN $7::timestamptz IS NULL THEN m.valid_until IS NULL
                         ELSE m.valid_from <= $7 AND (m.valid_until IS NULL OR m.valid_until > $7) END"
        )))
        .bind(q.tenant_id)
        .bind(q.contact_id)
        .bind(&ids)
        .bind(&scores)
        .bind(predicates)
        .bind(&q.memory_types)
        .bind(q.as_of)
        .bind(depth as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut list = rows_to_keys(rows);
        sort_desc(&mut list);
        list.truncate(depth);
        Ok(list)
    }
}
