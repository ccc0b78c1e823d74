//! Reranking of HYBRID's fused candidates by what rank fusion cannot see: who said a message
//! (the person the question asks about, or the other one), whether it only asks something (its
//! answer comes next), how much it says, whether it was said in the window of time the question
//! names or says when something happened, and where each list ranked it.
//!
//! Each candidate gets `FEATURES`; a linear model over them, learned offline from LoCoMo and our
//! Portuguese CRM set (`bench/rerank/train.py`), gives its score, the estimated probability that
//! it is evidence for the question. It replaced hand-tuned factors over the same signals (a
//! message by the person named ×1.3, one that only asks ×0.7, …), which were a log-linear model
//! with guessed weights: learned ones, each conversation scored by weights learned on the
//! others, took LoCoMo recall@10 from 0.826 to 0.836 and the Portuguese set from 0.907 to 0.914.

use std::collections::{BTreeSet, HashMap, HashSet};

use uuid::Uuid;

use super::Hit;
use super::when::Window;

/// The lists fusion ranks, in the order of `Signals::ranks` (see `search.rs`).
pub const LISTS: [&str; 6] = ["vector", "keyword", "graph", "time", "window", "context"];

/// What the scorer reads of each candidate, in the order of `WEIGHTS` (`bench/rerank/train.py`
/// prints weights in this order).
pub const FEATURES: [&str; 17] = [
    "ln_score",
    "ln_fused",
    "lent",
    "rr_vector",
    "rr_keyword",
    "rr_time",
    "rr_window",
    "rr_context",
    "vector_similarity",
    "ln_length",
    "only_asks",
    "by_subject",
    "by_other",
    "in_window",
    "says_when_asked_when",
    "says_when",
    "only_lent",
];

/// One candidate's features, named by `FEATURES`.
pub type Features = [f32; FEATURES.len()];

/// The scorer's weights and bias: a pairwise logistic regression over `FEATURES`, calibrated so
/// that the score is the estimated probability that a candidate is evidence for the question.
/// Learned by `bench/rerank/train.py` from `ventros-memory-eval --dump-candidates` on LoCoMo's
/// seven conversations and our six Portuguese CRM histories together (README, "Memory"). Each
/// conversation scored by weights learned on all the others: LoCoMo recall@10 0.826 with the
/// hand-tuned factors this replaced, 0.836 learned; Portuguese 0.907 → 0.914. The graph list and
/// facts have no feature of their own and count through the fused score: LoCoMo's graph finds
/// almost nothing (GRAPH_ONLY 0.008), and weights that learned so distrusted the graph and its
/// facts, which answer a CRM's questions (the Portuguese set with e5: 0.885 with those two
/// features, 0.936 without).
const WEIGHTS: Features = [
    1.0091,  // ln_score
    0.2721,  // ln_fused
    0.5667,  // lent
    2.0175,  // rr_vector
    2.5839,  // rr_keyword
    -3.5599, // rr_time
    3.2940,  // rr_window
    2.6934,  // rr_context
    -0.0055, // vector_similarity
    0.6597,  // ln_length
    -1.2922, // only_asks
    0.4543,  // by_subject
    -0.4543, // by_other
    3.1641,  // in_window
    1.4189,  // says_when_asked_when
    0.4022,  // says_when
    1.4660,  // only_lent
];
const BIAS: f32 = -3.0771;

/// What fusion knew of a candidate.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Signals {
    /// Its fused score; None for a message only a lender brought in.
    pub(super) fused: Option<f32>,
    /// The best score a lender gave it (a question before it, a line it replies to).
    pub(super) lent: Option<f32>,
    /// Its rank (from 0) and raw score in each list, in `LISTS` order.
    pub(super) ranks: [Option<(usize, f32)>; LISTS.len()],
}

/// Whether a message only asks: it ends with a question, says nothing besides short reactions
/// ("Wow, that's great! Which one?"), and is not a statement with a tag ("vamos trocar em 5
/// dias, combinado?", "it ships Monday, right?").
pub(super) fn only_asks(content: &str) -> bool {
    // A shared photo's caption is not a sentence of the message.
    let body = content.split(" [shares").next().unwrap_or(content).trim();
    if !body.ends_with('?') {
        return false;
    }
    let mut sentences: Vec<&str> = body
        .split_inclusive(['.', '!', '?'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let Some(last) = sentences.pop() else {
        return false;
    };
    let said_more = sentences
        .iter()
        .any(|s| !s.ends_with('?') && s.split_whitespace().count() > 5);
    let tag = last
        .trim_end_matches('?')
        .rsplit_once(',')
        .is_some_and(|(_, tail)| tail.split_whitespace().count() <= 2);
    !said_more && !tag
}

/// Who a hit is by or about, lowercased: a message's sender (`speaker`; the contact for the
/// contact's own messages), a fact's subject.
fn who(hit: &Hit, contact: Option<&str>) -> Option<String> {
    let field = |k: &str| hit.metadata.get(k).and_then(|v| v.as_str());
    field("speaker")
        .or_else(|| field("subject"))
        .or_else(|| {
            (field("role") == Some("contact"))
                .then_some(contact)
                .flatten()
        })
        .map(str::to_lowercase)
}

/// What the reranker knows about the question.
pub(super) struct Question<'a> {
    /// The question's words (lowercased), its contact's name taken out or not.
    pub(super) words: &'a [String],
    /// The contact searched, by name, and whether the question named them.
    pub(super) contact: Option<&'a str>,
    pub(super) names_contact: bool,
    pub(super) window: Option<Window>,
    /// The memories among the hits that only ask (`only_asks`).
    pub(super) askers: &'a HashSet<Uuid>,
    /// Whether the question asks when, or for how long (`when::asks_when`).
    pub(super) asks_when: bool,
    /// The question as asked.
    pub(super) text: &'a str,
}

/// Of two or more people a question names, the one it asks about as the speaker ("What does Gina
/// say to Jon…", "What did Jon say about Gina's store?", "O que a Ana disse para o Bruno?"): the
/// first named who is neither a possessive ("Caroline's", "de Ana") nor after a preposition ("to
/// Jon", "sobre a Gina"). None when the names are joined ("Jon and Gina") or fewer than two are named.
fn speaker_asked(text: &str, named: &[String]) -> Option<String> {
    const BEFORE_OBJECT: &[&str] = &[
        "to", "with", "about", "for", "at", "from", "of", "para", "com", "sobre", "ao", "de", "da",
        "do", "con", "del",
    ];
    const JOINING: &[&str] = &["and", "&", "e", "y"];
    let tokens: Vec<String> = text
        .split_whitespace()
        .map(|t| {
            t.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
                .to_lowercase()
        })
        .collect();
    let mut mentions: Vec<(String, bool)> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let bare = token.trim_end_matches("'s").trim_end_matches("’s");
        let Some(person) = named
            .iter()
            .find(|p| p.split_whitespace().any(|w| w == bare))
        else {
            continue;
        };
        // "sobre a Gina", "para o Bruno": the article sits between the preposition and the name.
        let before: Vec<&str> = tokens[..i]
            .iter()
            .rev()
            .take(2)
            .map(String::as_str)
            .collect();
        let after_preposition = match before.as_slice() {
            [one, ..] if BEFORE_OBJECT.contains(one) => true,
            ["a" | "o" | "the", two, ..] => BEFORE_OBJECT.contains(two),
            _ => false,
        };
        let joined = before.first().is_some_and(|w| JOINING.contains(w))
            || tokens
                .get(i + 1)
                .is_some_and(|w| JOINING.contains(&w.as_str()));
        if joined {
            return None;
        }
        mentions.push((
            person.clone(),
            bare.len() != token.len() || after_preposition,
        ));
    }
    let distinct: BTreeSet<&String> = mentions.iter().map(|(p, _)| p).collect();
    if distinct.len() < 2 {
        return None;
    }
    mentions
        .into_iter()
        .find(|(_, not_speaker)| !not_speaker)
        .map(|(p, _)| p)
}

/// Whom the question asks about, among the people the candidates are by; None when there is
/// nothing to tell apart (one speaker, or a question naming nobody).
fn subjects(hits: &[Hit], q: &Question<'_>) -> Option<Vec<String>> {
    let people: BTreeSet<String> = hits.iter().filter_map(|h| who(h, q.contact)).collect();
    let mut subjects: Vec<String> = people
        .iter()
        .filter(|p| p.split_whitespace().any(|w| q.words.iter().any(|x| x == w)))
        .cloned()
        .collect();
    if q.names_contact
        && let Some(c) = q.contact
    {
        subjects.push(c.to_lowercase());
    }
    if people.len() < 2 || subjects.is_empty() {
        return None;
    }
    // Two people named: the lines of the one asked about as the speaker count, not the other's
    // (LoCoMo 0.816 → 0.818 on the conversations tuned on, 0.815 → 0.817 held out; Portuguese MRR
    // 0.619 → 0.625).
    if let Some(speaker) = speaker_asked(q.text, &subjects) {
        subjects = vec![speaker];
    }
    Some(subjects)
}

/// The memories among `hits` by someone other than the person the question asks about.
pub(super) fn by_others(hits: &[Hit], q: &Question<'_>) -> HashSet<Uuid> {
    let Some(subjects) = subjects(hits, q) else {
        return HashSet::new();
    };
    hits.iter()
        .filter(|h| h.kind == super::HitKind::Memory)
        .filter(|h| who(h, q.contact).is_some_and(|w| !subjects.contains(&w)))
        .map(|h| h.id)
        .collect()
}

/// A candidate's features (`FEATURES`). `subjects` is `subjects(hits, q)` over the whole pool.
pub(super) fn features(
    hit: &Hit,
    signals: &Signals,
    q: &Question<'_>,
    subjects: Option<&[String]>,
) -> Features {
    let ln = |x: f32| x.max(1e-3).ln();
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let fused = signals.fused.unwrap_or(0.0);
    let lent = signals.lent.unwrap_or(0.0);
    let rr = |list: usize| {
        signals.ranks[list].map_or(0.0, |(rank, _)| {
            1.0 / (super::search::RRF_K + 1.0 + rank as f32)
        })
    };
    let words = hit.content.split_whitespace().count().max(1) as f32;
    let speaker = subjects.and_then(|s| who(hit, q.contact).map(|w| s.contains(&w)));
    let says_when = super::when::says_when(&hit.content);
    [
        ln(fused.max(lent)),
        ln(fused),
        lent,
        rr(0),
        rr(1),
        rr(3),
        rr(4),
        rr(5),
        signals.ranks[0].map_or(0.0, |(_, s)| s),
        (words / 20.0).ln().clamp(-1.5, 1.0),
        flag(q.askers.contains(&hit.id)),
        flag(speaker == Some(true)),
        flag(speaker == Some(false)),
        flag(
            q.window
                .is_some_and(|w| hit.valid_from >= w.from && hit.valid_from < w.to),
        ),
        flag(says_when && q.asks_when),
        flag(says_when),
        flag(signals.lent.is_some() && signals.fused.is_none()),
    ]
}

/// The scorer: the estimated probability that a candidate is evidence.
pub(super) fn score(features: &Features) -> f32 {
    let z: f32 = BIAS
        + WEIGHTS
            .iter()
            .zip(features)
            .map(|(w, x)| w * x)
            .sum::<f32>();
    1.0 / (1.0 + (-z).exp())
}

/// Each hit with its features, scored (`Hit.score` becomes the scorer's probability) and sorted
/// best first. `signals` has an entry for every hit (a missing one reads as a candidate no list
/// ranked).
pub(super) fn rerank(
    hits: Vec<Hit>,
    signals: &HashMap<Uuid, Signals>,
    q: &Question<'_>,
) -> Vec<(Hit, Features)> {
    let subjects = subjects(&hits, q);
    let mut scored: Vec<(Hit, Features)> = hits
        .into_iter()
        .map(|mut hit| {
            let f = features(
                &hit,
                &signals.get(&hit.id).copied().unwrap_or_default(),
                q,
                subjects.as_deref(),
            );
            hit.score = score(&f);
            (hit, f)
        })
        .collect();
    scored.sort_by(|a, b| b.0.score.total_cmp(&a.0.score));
    scored
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    #[test]
    fn what_only_asks() {
        for asks in [
            "Caroline: Wow, Mel, that's awesome! What's your best camping memory?",
            "Vocês têm o sofá em azul?",
            "Tudo bem? Qual o modelo?",
        ] {
            let body = asks.split_once(": ").map_or(asks, |(_, b)| b);
            assert!(only_asks(body), "{asks}");
        }
        for says in [
            "Vamos trocar por um novo em até 5 dias úteis, combinado?",
            "Antes de tudo: meu endereço é no bairro Batel, em Curitiba. Pode cadastrar?",
            "I painted that lake sunrise last year!",
            "It ships Monday, right?",
        ] {
            assert!(!only_asks(says), "{says}");
        }
    }

    fn hit(n: u128, content: &str, speaker: &str, score: f32) -> Hit {
        let mut metadata = Map::new();
        metadata.insert("speaker".into(), json!(speaker));
        Hit {
            id: Uuid::from_u128(n),
            kind: super::super::HitKind::Memory,
            content: content.into(),
            memory_type: "conversation".into(),
            score,
            created_at: chrono::Utc::now(),
            valid_from: chrono::Utc::now(),
            valid_until: None,
            metadata,
            sources: vec![],
            embedding: vec![],
        }
    }

    /// The hits' ids, best first, after the reranker scored them; each hit's `score` stands for
    /// its fused score, and the list order for its vector rank.
    fn ranked(mut hits: Vec<Hit>, q: &Question<'_>) -> Vec<u128> {
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        let signals: HashMap<Uuid, Signals> = hits
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let mut s = Signals {
                    fused: Some(h.score),
                    ..Signals::default()
                };
                s.ranks[0] = Some((i, 0.5));
                (h.id, s)
            })
            .collect();
        let ranked = rerank(hits, &signals, q);
        assert!(ranked.iter().all(|(h, _)| (0.0..=1.0).contains(&h.score)));
        ranked.iter().map(|(h, _)| h.id.as_u128()).collect()
    }

    #[test]
    fn the_learned_weights_read_evidence_the_right_way() {
        let weight = |name: &str| WEIGHTS[FEATURES.iter().position(|f| *f == name).unwrap()];
        for up in [
            "ln_score",
            "rr_vector",
            "rr_keyword",
            "rr_context",
            "lent",
            "ln_length",
            "by_subject",
            "in_window",
            "says_when_asked_when",
        ] {
            assert!(weight(up) > 0.0, "{up}");
        }
        for down in ["only_asks", "by_other"] {
            assert!(weight(down) < 0.0, "{down}");
        }
    }

    #[test]
    fn the_person_asked_about_comes_first() {
        let line = "we went camping in the mountains with the kids last week, it was lovely";
        let hits = vec![hit(1, line, "Caroline", 1.0), hit(2, line, "Melanie", 0.9)];
        let words = vec![
            "where".to_owned(),
            "melanie".to_owned(),
            "camped".to_owned(),
        ];
        let q = Question {
            words: &words,
            contact: Some("Caroline"),
            names_contact: false,
            window: None,
            askers: &HashSet::new(),
            asks_when: false,
            text: "where melanie camped",
        };
        assert_eq!(ranked(hits, &q)[0], 2, "Melanie's own words");
        let alone = vec![hit(1, line, "Caroline", 1.0), hit(2, line, "Caroline", 0.9)];
        assert_eq!(
            ranked(alone, &q)[0],
            1,
            "one speaker: nothing to tell apart"
        );
    }

    #[test]
    fn a_question_about_when_prefers_the_message_that_says_when() {
        let hits = vec![
            hit(
                1,
                "I love my pottery class, it's like therapy",
                "Melanie",
                1.0,
            ),
            hit(
                2,
                "I signed up for a pottery class yesterday",
                "Melanie",
                0.5,
            ),
        ];
        let words = vec!["pottery".to_owned(), "class".to_owned()];
        let askers = HashSet::new();
        let question = |asks_when| Question {
            words: &words,
            contact: None,
            names_contact: false,
            window: None,
            askers: &askers,
            asks_when,
            text: "",
        };
        assert_eq!(
            ranked(hits.clone(), &question(false))[0],
            1,
            "what she said of it, first"
        );
        assert_eq!(
            ranked(hits, &question(true))[0],
            2,
            "when: the message that dates it"
        );
    }

    #[test]
    fn the_person_who_speaks_in_the_question() {
        let named = |names: &[&str]| names.iter().map(ToString::to_string).collect::<Vec<_>>();
        let jon_gina = named(&["gina", "jon"]);
        for (question, speaker) in [
            (
                "What does Gina say to Jon about the grand opening?",
                Some("gina"),
            ),
            (
                "What did Jon say about Gina's progress with her store?",
                Some("jon"),
            ),
            ("What does Melanie think about Caroline's decision?", None),
            ("How do Jon and Gina both like to destress?", None),
            ("Why did Jon decide to start his dance studio?", None),
            ("O que a Gina disse para o Jon sobre a loja?", Some("gina")),
            ("O que o Jon achou da loja da Gina?", Some("jon")),
        ] {
            assert_eq!(
                speaker_asked(question, &jon_gina).as_deref(),
                speaker,
                "{question}"
            );
        }
        let two = named(&["caroline", "melanie"]);
        assert_eq!(
            speaker_asked("What does Melanie think about Caroline's decision?", &two).as_deref(),
            Some("melanie")
        );
    }

    #[test]
    fn the_lines_of_the_person_not_asked_about() {
        let hits = vec![
            hit(
                1,
                "I'm adopting, it's been a dream to make a family",
                "Caroline",
                1.0,
            ),
            hit(2, "You'll be an awesome mom!", "Melanie", 0.5),
        ];
        let words = vec![
            "melanie".to_owned(),
            "caroline".to_owned(),
            "adopt".to_owned(),
        ];
        let askers = HashSet::new();
        let question = |text| Question {
            words: &words,
            contact: None,
            names_contact: false,
            window: None,
            askers: &askers,
            asks_when: false,
            text,
        };
        let others = by_others(
            &hits,
            &question("What does Melanie think about Caroline's decision to adopt?"),
        );
        assert_eq!(others, HashSet::from([Uuid::from_u128(1)]));
        assert!(
            by_others(
                &hits,
                &question("How do Melanie and Caroline feel about adoption?")
            )
            .is_empty(),
            "both asked about"
        );
    }
}
