//! Search: the vector, keyword (BM25), graph, window and time lists, their reciprocal-rank fusion
//! (HYBRID), the answers to candidates that only ask, reranking (`rerank.rs`), and hydrating the
//! winning keys into hits with provenance.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use serde_json::{Map, Value, json};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::query::{linked_predicates, query_terms, without_name};
use super::{
    Hit, HitKind, MAX_LIMIT, MAX_QUERY_CHARS, MemoryEngine, MemoryError, Mode, SearchOutcome,
    SearchQuery,
};
use pgvector::Vector;

/// Reciprocal-rank-fusion constant: a rank-1 hit is worth 2.5× a rank-10 hit. The usual 60 (1.15×)
/// flattened each list's order, so a turn ranked first by one list and absent from the other lost
/// to turns ranked middling by both; with 5, LoCoMo HYBRID recall@10 rose from 0.692 to 0.726 on
/// the conversations we tuned on and from 0.688 to 0.720 on those held out (2 and 10 were within
/// 0.01; the Portuguese set's recall@10 did not move).
const RRF_K: f32 = 5.0;
/// The window list's weight in the fusion (see `window_list`).
const WINDOW_WEIGHT: f32 = 0.5;
/// An entity is linked to a query by meaning when its name is at least this similar.
const ENTITY_LINK_SIMILARITY: f32 = 0.55;
pub(super) type Key = (HitKind, Uuid);

/// Reciprocal-rank fusion of ranked lists, normalised so a hit ranked first everywhere scores 1.
fn fuse(lists: &[(f32, &[(Key, f32)])]) -> Vec<(Key, f32)> {
    let mut scores: HashMap<Key, f32> = HashMap::new();
    let best: f32 = lists
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(w, _)| w / (RRF_K + 1.0))
        .sum();
    for (weight, list) in lists {
        for (rank, (key, _)) in list.iter().enumerate() {
            *scores.entry(*key).or_default() += weight / (RRF_K + 1.0 + rank as f32);
        }
    }
    let mut fused: Vec<(Key, f32)> = scores
        .into_iter()
        .map(|(k, s)| (k, if best > 0.0 { s / best } else { 0.0 }))
        .collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused
}

/// The graph list's weight in the fusion. A question that names a relation ("which products did
/// she buy", "por quais cidades passou") is one the graph answers across sessions, where each
/// message alone matches it weakly: there the graph list counts double (the Portuguese set's
/// R@10 0.868 → 0.885 when it was written; ×4 gave no more). Elsewhere the graph only adds entity neighbours, and at
/// full weight those crowd out better turns (LoCoMo R@10 0.723 → 0.716 with the graph at 1 for
/// every question; 0.720 with this rule).
fn graph_weight(weight: f32, predicates: &[String]) -> f32 {
    if predicates.is_empty() {
        weight
    } else {
        weight * 2.0
    }
}

/// Drops a hit whose every source is already behind a better hit (a fact and the message it was
/// read from are one piece of evidence: two slots for it would push another piece out), then
/// keeps `limit`.
fn one_per_episode(hits: Vec<Hit>, limit: usize) -> Vec<Hit> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(limit);
    for hit in hits {
        if out.len() == limit {
            break;
        }
        if !hit.sources.is_empty() && hit.sources.iter().all(|s| seen.contains(s)) {
            continue;
        }
        seen.extend(hit.sources.iter().cloned());
        out.push(hit);
    }
    out
}

/// Scores of one list rescaled to 0..1 by its best hit.
fn normalised(list: Vec<(Key, f32)>) -> Vec<(Key, f32)> {
    let max = list.iter().map(|(_, s)| *s).fold(0.0f32, f32::max);
    list.into_iter()
        .map(|(k, s)| {
            (
                k,
                if max > 0.0 {
                    (s / max).clamp(0.0, 1.0)
                } else {
                    0.0
                },
            )
        })
        .collect()
}

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
    pub async fn search(&self, q: &SearchQuery) -> Result<SearchOutcome, MemoryError> {
        let started = Instant::now();
        let query = q.query.trim();
        if query.is_empty() {
            return Err(MemoryError::Invalid("query must not be empty".into()));
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(MemoryError::Invalid(format!(
                "query is longer than {MAX_QUERY_CHARS} characters"
            )));
        }
        if q.limit == 0 || q.limit > MAX_LIMIT {
            return Err(MemoryError::Invalid(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        for w in [q.weights.vector, q.weights.keyword, q.weights.graph] {
            if !(0.0..=10.0).contains(&w) {
                return Err(MemoryError::Invalid(
                    "weights must be between 0 and 10".into(),
                ));
            }
        }
        let (focused, contact_name) = match q.contact_id {
            Some(contact_id) => {
                let name = self.contact_name(q.tenant_id, contact_id).await?;
                (without_name(query, &name), Some(name))
            }
            None => (query.to_owned(), None),
        };
        let original = query.to_owned();
        let query = focused.as_str();
        let depth = if q.mode == Mode::Hybrid {
            (q.limit * 3).max(30)
        } else {
            q.limit
        };
        let terms = query_terms(query);
        let predicates = linked_predicates(&terms);
        let window = super::when::anchor(&original, q.as_of.unwrap_or_else(chrono::Utc::now));
        let mut time_list = Vec::new();
        let mut window_list = Vec::new();
        let (vec_list, kw_list, graph_list) = match q.mode {
            Mode::Vector => {
                let v = self.query_vector(query).await?;
                (self.vector_list(q, &v, depth).await?, vec![], vec![])
            }
            Mode::Keyword => (vec![], self.keyword_list(q, &terms, depth).await?, vec![]),
            Mode::Graph => {
                let v = self.query_vector(query).await?;
                (
                    vec![],
                    vec![],
                    self.graph_list(q, &terms, &predicates, &v, depth).await?,
                )
            }
            Mode::Hybrid => {
                // BM25 needs no vector: PostgreSQL runs it while the model embeds the query.
                let (v, b) = tokio::try_join!(
                    self.query_vector(query),
                    self.keyword_list(q, &terms, depth)
                )?;
                let (a, c, t, w) = tokio::try_join!(
                    self.vector_list(q, &v, depth),
                    self.graph_list(q, &terms, &predicates, &v, depth),
                    self.time_list(q, window, &v, depth),
                    self.window_list(q, &v, depth)
                )?;
                time_list = t;
                window_list = w;
                (a, b, c)
            }
        };
        let distinct: BTreeSet<Key> = vec_list
            .iter()
            .chain(&kw_list)
            .chain(&graph_list)
            .map(|(k, _)| *k)
            .collect();
        let ranked = match q.mode {
            Mode::Vector => vec_list,
            Mode::Keyword => normalised(kw_list),
            Mode::Graph => normalised(graph_list),
            Mode::Hybrid => fuse(&[
                (q.weights.vector, &vec_list),
                (q.weights.keyword, &kw_list),
                (graph_weight(q.weights.graph, &predicates), &graph_list),
                // A question that names a date ("on 3 June, 2023", "em março") also ranks what
                // was said then (LoCoMo dev R@10 0.755 → 0.771; 13 % of its questions name one).
                (1.0, &time_list),
                // Half weight: at full weight it crowds out the turns the other lists agree on
                // (LoCoMo dev 0.788 at 1, 0.799 at 0.5 and at 0.3, first measured with averaged
                // vectors; the Portuguese set 0.897 → 0.916 at 0.5).
                (WINDOW_WEIGHT, &window_list),
            ]),
        };
        // Three times the limit: the reranker reorders them, and a hit whose episode a better hit
        // already stands for gives its slot up.
        let top: Vec<(Key, f32)> = ranked.into_iter().take(q.limit * 3).collect();
        let mut hydrated = self
            .hydrate(q.tenant_id, &top, q.include_embeddings)
            .await?;
        if q.mode == Mode::Hybrid {
            if q.contact_id.is_some() {
                let answers = self.answers(q, &hydrated).await?;
                let extra: Vec<(Key, f32)> = answers
                    .into_iter()
                    .filter(
                        |(key, score)| match hydrated.iter_mut().find(|h| h.id == key.1) {
                            Some(h) => {
                                h.score = h.score.max(*score);
                                false
                            }
                            None => true,
                        },
                    )
                    .collect();
                hydrated.extend(
                    self.hydrate(q.tenant_id, &extra, q.include_embeddings)
                        .await?,
                );
            }
            super::rerank::rerank(
                &mut hydrated,
                &super::rerank::Question {
                    words: &query_terms(&original),
                    contact: contact_name.as_deref(),
                    names_contact: focused != original,
                    window,
                },
            );
        }
        let hits = one_per_episode(hydrated, q.limit);
        let took = started.elapsed();
        ventros_activities::metrics::memory_search(
            match q.mode {
                Mode::Hybrid => "hybrid",
                Mode::Vector => "vector",
                Mode::Keyword => "keyword",
                Mode::Graph => "graph",
            },
            if q.contact_id.is_some() {
                "contact"
            } else {
                "tenant"
            },
            took,
        );
        Ok(SearchOutcome {
            hits,
            total_count: distinct.len(),
            latency_ms: took.as_secs_f32() * 1000.0,
        })
    }

    /// Nearest memories and facts by cosine similarity (score = similarity, floored at 0).
    async fn vector_list(
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

    /// The message that follows each candidate that only asks ("Which dance were you doing?"),
    /// with the asker's score: in a chat the answer comes next, and it seldom repeats the words
    /// the question matched (LoCoMo dev R@10 0.775 → 0.785, before the length factor). Keys of
    /// the answers, one per asker, none for an asker without a later message.
    async fn answers(&self, q: &SearchQuery, hits: &[Hit]) -> Result<Vec<(Key, f32)>, MemoryError> {
        let askers: Vec<(Uuid, f32)> = hits
            .iter()
            .filter(|h| h.kind == HitKind::Memory && super::rerank::only_asks(&h.content))
            .map(|h| (h.id, h.score))
            .collect();
        if askers.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = askers.iter().map(|(id, _)| *id).collect();
        let rows = sqlx::query!(
            r#"SELECT a.id AS "asker!", n.id AS "answer!" FROM memories a CROSS JOIN LATERAL (
                 SELECT n.id FROM memories n
                  WHERE n.tenant_id = a.tenant_id AND n.contact_id = a.contact_id
                    AND n.valid_from > a.valid_from
                    AND (cardinality($3::text[]) = 0 OR n.memory_type = ANY($3))
                    AND CASE WHEN $4::timestamptz IS NULL THEN n.valid_until IS NULL
                             ELSE n.valid_from <= $4 AND (n.valid_until IS NULL OR n.valid_until > $4) END
                  ORDER BY n.valid_from LIMIT 1) n
               WHERE a.id = ANY($1) AND a.tenant_id = $2"#,
            &ids,
            q.tenant_id,
            &q.memory_types,
            q.as_of
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(Key, f32)> = Vec::new();
        for r in rows {
            let score = askers
                .iter()
                .find(|(id, _)| *id == r.asker)
                .map_or(0.0, |(_, s)| *s);
            match out.iter_mut().find(|(k, _)| k.1 == r.answer) {
                Some(slot) => slot.1 = slot.1.max(score),
                None => out.push(((HitKind::Memory, r.answer), score)),
            }
        }
        Ok(out)
    }

    /// The contact's messages ranked by how near the query the five around each one are, on
    /// average (it, the two before and the two after): a conversation stays on a topic for a few
    /// messages, and the one that answers ("Yeah, since I was 17") often shares no word and
    /// little meaning with the question while its neighbours do. The average of the
    /// similarities rather than the similarity of the averaged vectors: as good here (LoCoMo dev
    /// R@10 0.799 against 0.804, held out 0.784 both) at the cost of one scan of the contact's
    /// rows, which the vector list makes too (+3 ms at LoCoMo's 600 messages a contact).
    async fn window_list(
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

    /// The contact's memories from the window of time the question names, nearest first: what
    /// was said then, however it was worded.
    async fn time_list(
        &self,
        q: &SearchQuery,
        window: Option<super::when::Window>,
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
    async fn keyword_list(
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
    async fn graph_list(
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

    async fn hydrate(
        &self,
        tenant_id: Uuid,
        top: &[(Key, f32)],
        include_embeddings: bool,
    ) -> Result<Vec<Hit>, MemoryError> {
        let memory_ids: Vec<Uuid> = top
            .iter()
            .filter(|((k, _), _)| *k == HitKind::Memory)
            .map(|((_, id), _)| *id)
            .collect();
        let fact_ids: Vec<Uuid> = top
            .iter()
            .filter(|((k, _), _)| *k == HitKind::Fact)
            .map(|((_, id), _)| *id)
            .collect();
        let mut found: HashMap<Key, Hit> = HashMap::new();
        if !memory_ids.is_empty() {
            let rows = sqlx::query!(
                r#"SELECT m.id, m.content, m.memory_type, m.metadata, m.created_at, m.valid_from, m.valid_until,
                        m.episode_id, e.source_type || ':' || e.source_id AS "source?",
                        CASE WHEN $3 THEN m.embedding::float4[] END AS embedding
                   FROM memories m LEFT JOIN memory_episodes e ON e.id = m.episode_id
                  WHERE m.id = ANY($1) AND m.tenant_id = $2"#,
                &memory_ids,
                tenant_id,
                include_embeddings
            )
            .fetch_all(&self.pool)
            .await?;
            for r in rows {
                let mut metadata = match r.metadata {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                metadata.insert("kind".into(), json!("memory"));
                if let Some(episode) = r.episode_id {
                    metadata.insert("episode_id".into(), json!(episode));
                }
                found.insert(
                    (HitKind::Memory, r.id),
                    Hit {
                        id: r.id,
                        kind: HitKind::Memory,
                        content: r.content,
                        memory_type: r.memory_type,
                        score: 0.0,
                        created_at: r.created_at,
                        valid_from: r.valid_from,
                        valid_until: r.valid_until,
                        metadata,
                        sources: r.source.into_iter().collect(),
                        embedding: r.embedding.unwrap_or_default(),
                    },
                );
            }
        }
        if !fact_ids.is_empty() {
            let rows = sqlx::query!(
                r#"SELECT f.id, f.fact, f.memory_type, f.predicate, s.name AS subject, o.name AS object, f.created_at,
                        f.valid_at, f.invalid_at, f.expired_at,
                        array(SELECT e.source_type || ':' || e.source_id FROM memory_episodes e WHERE e.id = ANY(f.episode_ids) ORDER BY e.occurred_at) AS "sources!",
                        CASE WHEN $3 THEN f.embedding::float4[] END AS embedding
                   FROM memory_facts f JOIN memory_entities s ON s.id = f.subject_id JOIN memory_entities o ON o.id = f.object_id
                  WHERE f.id = ANY($1) AND f.tenant_id = $2"#,
                &fact_ids,
                tenant_id,
                include_embeddings
            )
            .fetch_all(&self.pool)
            .await?;
            for r in rows {
                let mut metadata = Map::new();
                metadata.insert("kind".into(), json!("fact"));
                metadata.insert("subject".into(), json!(r.subject));
                metadata.insert("predicate".into(), json!(r.predicate));
                metadata.insert("object".into(), json!(r.object));
                if let Some(expired) = r.expired_at {
                    metadata.insert("expired_at".into(), json!(expired.to_rfc3339()));
                }
                found.insert(
                    (HitKind::Fact, r.id),
                    Hit {
                        id: r.id,
                        kind: HitKind::Fact,
                        content: r.fact,
                        memory_type: r.memory_type,
                        score: 0.0,
                        created_at: r.created_at,
                        valid_from: r.valid_at,
                        valid_until: r.invalid_at,
                        metadata,
                        sources: r.sources,
                        embedding: r.embedding.unwrap_or_default(),
                    },
                );
            }
        }
        Ok(top
            .iter()
            .filter_map(|(key, score)| {
                found.remove(key).map(|mut hit| {
                    hit.score = *score;
                    hit
                })
            })
            .collect())
    }

    // -----------------------------------------------------------------------------------------
    // Writing
    // -----------------------------------------------------------------------------------------
}
#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128) -> Key {
        (HitKind::Memory, Uuid::from_u128(n))
    }

    #[test]
    fn fusion_rewards_agreement_and_normalises() {
        let vector = vec![(key(1), 0.9), (key(2), 0.8), (key(3), 0.7)];
        let keyword = vec![(key(2), 5.0), (key(4), 4.0)];
        let graph = vec![(key(2), 3.0)];
        let fused = fuse(&[(1.0, &vector), (1.0, &keyword), (1.0, &graph)]);
        assert_eq!(fused[0].0, key(2), "found by all three lists");
        assert!(fused.iter().all(|(_, s)| (0.0..=1.0).contains(s)));
        let alone = fuse(&[(1.0, &vector), (1.0, &[]), (1.0, &[])]);
        assert!(
            (alone[0].1 - 1.0).abs() < 1e-6,
            "first everywhere it could be = 1"
        );
        let weighted = fuse(&[(0.0, &vector), (1.0, &keyword), (0.0, &graph)]);
        assert_eq!(weighted[0].0, key(2));
        assert_eq!(
            weighted.iter().filter(|(_, s)| *s > 0.0).count(),
            2,
            "a zero weight silences a list"
        );
    }

    #[test]
    fn a_question_about_a_relation_leans_on_the_graph() {
        let asks = |q: &str| graph_weight(0.5, &linked_predicates(&query_terms(q)));
        assert!((asks("Quais produtos ela já comprou?") - 1.0).abs() < 1e-6);
        assert!((asks("Where does she live now?") - 1.0).abs() < 1e-6);
        assert!((asks("What did she paint last week?") - 0.5).abs() < 1e-6);
    }

    fn hit(n: u128, kind: HitKind, sources: &[&str]) -> Hit {
        Hit {
            id: Uuid::from_u128(n),
            kind,
            content: String::new(),
            memory_type: "conversation".into(),
            score: 0.0,
            created_at: chrono::Utc::now(),
            valid_from: chrono::Utc::now(),
            valid_until: None,
            metadata: Map::new(),
            sources: sources.iter().map(ToString::to_string).collect(),
            embedding: vec![],
        }
    }

    #[test]
    fn one_slot_per_piece_of_evidence() {
        let hits = vec![
            hit(1, HitKind::Memory, &["message:a"]),
            hit(2, HitKind::Fact, &["message:a"]),
            hit(3, HitKind::Fact, &["message:a", "message:b"]),
            hit(4, HitKind::Memory, &[]),
            hit(5, HitKind::Memory, &["message:c"]),
        ];
        let kept: Vec<u128> = one_per_episode(hits, 3)
            .iter()
            .map(|h| h.id.as_u128())
            .collect();
        assert_eq!(
            kept,
            vec![1, 3, 4],
            "the fact read from a kept message goes; one adding a source stays; the limit holds"
        );
    }
}
