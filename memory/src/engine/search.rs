//! Search: the ranked lists (`lists.rs`) and their reciprocal-rank fusion (HYBRID), the messages
//! next to candidates that only ask or that the other person said (`neighbours`), the learned
//! rerank of that pool (`rerank.rs`), and hydrating the winning keys into hits with provenance.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::query::{linked_predicates, query_terms, without_name};
use super::rerank::Features;
use super::{
    Hit, HitKind, MAX_LIMIT, MAX_QUERY_CHARS, MemoryEngine, MemoryError, Mode, SearchOutcome,
    SearchQuery,
};

/// Reciprocal-rank-fusion constant: a rank-1 hit is worth 2.5× a rank-10 hit. The usual 60 (1.15×)
/// flattened each list's order, so a turn ranked first by one list and absent from the other lost
/// to turns ranked middling by both; with 5, LoCoMo HYBRID recall@10 rose from 0.692 to 0.726 on
/// the conversations we tuned on and from 0.688 to 0.720 on those held out (2 and 10 were within
/// 0.01; the Portuguese set's recall@10 did not move).
pub(super) const RRF_K: f32 = 5.0;
/// The window list's weight in the fusion (see `window_list`).
const WINDOW_WEIGHT: f32 = 0.5;
/// When a question asks about one of two people ("What does Melanie think about Caroline's
/// decision?"), a candidate line by the other lends this share of its score to the message after
/// it, which in a chat is the reply of the person asked about, and to the message before it, which
/// that line reacts to ("Wow, congrats on the adoption!"): ×0.5 (LoCoMo R@10 0.818 → 0.825 on the
/// conversations tuned on, 0.817 → 0.822 held out, for the reply; the message before added 0.003
/// on both; 0.4–0.6 were within 0.004, 0.8 and 1 lent so much that the statement's reply outranked
/// the statement asked about; the Portuguese set 0.909 → 0.907).
const REPLY_TO_OTHER: f32 = 0.5;
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

/// The memories among `hits` that only ask (`rerank::only_asks`).
fn asking(hits: &[Hit]) -> HashSet<Uuid> {
    hits.iter()
        .filter(|h| h.kind == HitKind::Memory && super::rerank::only_asks(&h.content))
        .map(|h| h.id)
        .collect()
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

impl MemoryEngine {
    pub async fn search(&self, q: &SearchQuery) -> Result<SearchOutcome, MemoryError> {
        Ok(self.run(q, false).await?.0)
    }

    /// HYBRID's whole reranked pool (more than `limit`: every candidate the reranker scored), each
    /// hit with the features it was scored by, best first. What `bench/rerank/train.py` learns
    /// the reranker's weights from (`ventros-memory-eval --dump-candidates`).
    pub async fn explain(&self, q: &SearchQuery) -> Result<Vec<(Hit, Features)>, MemoryError> {
        if q.mode != Mode::Hybrid {
            return Err(MemoryError::Invalid(
                "only a HYBRID search is reranked".into(),
            ));
        }
        Ok(self.run(q, true).await?.1)
    }

    async fn run(
        &self,
        q: &SearchQuery,
        explain: bool,
    ) -> Result<(SearchOutcome, Vec<(Hit, Features)>), MemoryError> {
        let started = Instant::now();
        let mut pool: Vec<(Hit, Features)> = Vec::new();
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
        let mut window = super::when::anchor(&original, q.as_of.unwrap_or_else(chrono::Utc::now));
        let mut time_list = Vec::new();
        let mut window_list = Vec::new();
        let mut context_list = Vec::new();
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
                // BM25 needs no vector: PostgreSQL runs both keyword lists while the model embeds the
                // query.
                let (v, b, w, cx) = tokio::try_join!(
                    self.query_vector(query),
                    self.keyword_list(q, &terms, depth),
                    self.in_history(q, window),
                    self.context_list(q, &terms, depth)
                )?;
                window = w;
                context_list = cx;
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
            .chain(&time_list)
            .chain(&window_list)
            .chain(&context_list)
            .map(|(k, _)| *k)
            .collect();
        // Each candidate's place in every list, which the reranker reads (`rerank::LISTS` order).
        let mut signals: HashMap<Uuid, super::rerank::Signals> = HashMap::new();
        if q.mode == Mode::Hybrid {
            let lists = [
                &vec_list,
                &kw_list,
                &graph_list,
                &time_list,
                &window_list,
                &context_list,
            ];
            for (l, list) in lists.iter().enumerate() {
                for (rank, ((_, id), score)) in list.iter().enumerate() {
                    signals.entry(*id).or_default().ranks[l] = Some((rank, *score));
                }
            }
        }
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
                // A keyword list: the keyword weight sets it too.
                (q.weights.keyword, &context_list),
            ]),
        };
        // Three times the limit: the reranker reorders them, and a hit whose episode a better hit
        // already stands for gives its slot up.
        let top: Vec<(Key, f32)> = ranked.into_iter().take(q.limit * 3).collect();
        let mut hydrated = self
            .hydrate(q.tenant_id, &top, q.include_embeddings)
            .await?;
        if q.mode == Mode::Hybrid {
            let words = query_terms(&original);
            // The messages that only ask, each read once: they lend their score to their answers
            // and count less themselves.
            let first_askers: HashSet<Uuid> = asking(&hydrated);
            let mut askers = first_askers.clone();
            let asks_when = super::when::asks_when(&original);
            let question = |askers| super::rerank::Question {
                words: &words,
                contact: contact_name.as_deref(),
                names_contact: focused != original,
                window,
                askers,
                asks_when,
                text: &original,
            };
            for h in &hydrated {
                signals.entry(h.id).or_default().fused = Some(h.score);
            }
            if q.contact_id.is_some() {
                let others = super::rerank::by_others(&hydrated, &question(&first_askers));
                let mut after: Vec<(Uuid, f32)> = Vec::new();
                let mut before: Vec<(Uuid, f32)> = Vec::new();
                for h in &hydrated {
                    if first_askers.contains(&h.id) {
                        after.push((h.id, h.score));
                    } else if others.contains(&h.id) {
                        after.push((h.id, h.score * REPLY_TO_OTHER));
                        before.push((h.id, h.score * REPLY_TO_OTHER));
                    }
                }
                let mut extra: Vec<(Key, f32)> = Vec::new();
                for (key, score) in self.neighbours(q, &after, &before).await? {
                    signals.entry(key.1).or_default().lent = Some(score);
                    if !hydrated.iter().any(|h| h.id == key.1) {
                        extra.push((key, score));
                    }
                }
                let extra = self
                    .hydrate(q.tenant_id, &extra, q.include_embeddings)
                    .await?;
                askers.extend(asking(&extra));
                hydrated.extend(extra);
            }
            let reranked = super::rerank::rerank(hydrated, &signals, &question(&askers));
            if explain {
                pool = reranked.clone();
            }
            hydrated = reranked.into_iter().map(|(hit, _)| hit).collect();
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
        Ok((
            SearchOutcome {
                hits,
                total_count: distinct.len(),
                latency_ms: took.as_secs_f32() * 1000.0,
            },
            pool,
        ))
    }

    /// The message that follows each of `after` (a candidate that only asks, "Which dance were you
    /// doing?", or a line by someone the question does not ask about) and the one that precedes
    /// each of `before` (a line by that other person: what it reacts to), with the lender's
    /// score: in a chat the answer, or the reaction, comes next, and it seldom repeats the words
    /// the lender matched (LoCoMo dev R@10 0.775 → 0.785 for askers, before the length factor).
    /// One key per neighbour, with the best score lent to it. One round trip: two indexed
    /// LATERAL lookups.
    async fn neighbours(
        &self,
        q: &SearchQuery,
        after: &[(Uuid, f32)],
        before: &[(Uuid, f32)],
    ) -> Result<Vec<(Key, f32)>, MemoryError> {
        if after.is_empty() && before.is_empty() {
            return Ok(Vec::new());
        }
        let after_ids: Vec<Uuid> = after.iter().map(|(id, _)| *id).collect();
        let before_ids: Vec<Uuid> = before.iter().map(|(id, _)| *id).collect();
        let rows = sqlx::query!(
            r#"SELECT a.id AS "lender!", n.id AS "neighbour!", true AS "next!" FROM memories a
               CROSS JOIN LATERAL (
                 SELECT n.id FROM memories n
                  WHERE n.tenant_id = a.tenant_id AND n.contact_id = a.contact_id
                    AND n.valid_from > a.valid_from
                    AND (cardinality($3::text[]) = 0 OR n.memory_type = ANY($3))
                    AND CASE WHEN $4::timestamptz IS NULL THEN n.valid_until IS NULL
                             ELSE n.valid_from <= $4 AND (n.valid_until IS NULL OR n.valid_until > $4) END
                  ORDER BY n.valid_from LIMIT 1) n
               WHERE a.id = ANY($1) AND a.tenant_id = $2
               UNION ALL
               SELECT a.id, n.id, false FROM memories a
               CROSS JOIN LATERAL (
                 SELECT n.id FROM memories n
                  WHERE n.tenant_id = a.tenant_id AND n.contact_id = a.contact_id
                    AND n.valid_from < a.valid_from
                    AND (cardinality($3::text[]) = 0 OR n.memory_type = ANY($3))
                    AND CASE WHEN $4::timestamptz IS NULL THEN n.valid_until IS NULL
                             ELSE n.valid_from <= $4 AND (n.valid_until IS NULL OR n.valid_until > $4) END
                  ORDER BY n.valid_from DESC LIMIT 1) n
               WHERE a.id = ANY($5) AND a.tenant_id = $2"#,
            &after_ids,
            q.tenant_id,
            &q.memory_types,
            q.as_of,
            &before_ids
        )
        .fetch_all(&self.pool)
        .await?;
        let after: HashMap<Uuid, f32> = after.iter().copied().collect();
        let before: HashMap<Uuid, f32> = before.iter().copied().collect();
        // In the rows' order, so that ties rerank the same way every time.
        let mut out: Vec<(Key, f32)> = Vec::new();
        let mut slot_of: HashMap<Uuid, usize> = HashMap::new();
        for r in rows {
            let lenders = if r.next { &after } else { &before };
            let score = lenders.get(&r.lender).copied().unwrap_or(0.0);
            match slot_of.get(&r.neighbour) {
                Some(&i) => out[i].1 = out[i].1.max(score),
                None => {
                    slot_of.insert(r.neighbour, out.len());
                    out.push(((HitKind::Memory, r.neighbour), score));
                }
            }
        }
        Ok(out)
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
