//! Reranking of HYBRID's fused candidates by what rank fusion cannot see: who said a message,
//! whether it only asks something (its answer comes next), how much it says, and whether it was
//! said when the question asks about.
//!
//! Each factor multiplies the fused score. Their sizes were measured on LoCoMo's conversations
//! 26, 30, 41 and 42 (recall@10 0.722 → 0.788) and held up on 43, 44 and 47, which were never
//! looked at while tuning (0.718 → 0.779), and on our Portuguese CRM set (0.897 either way, MRR
//! 0.497 → 0.614); the README has the breakdown.

use std::collections::{BTreeSet, HashSet};

use uuid::Uuid;

use super::Hit;
use super::when::Window;

/// A message by someone the question names: ×1.3; by someone else while the question names
/// somebody: ×0.8 (LoCoMo dev 0.722 → 0.750 with the ask penalty; the Portuguese set loses one
/// question of 162, as the store's own promises rank lower when the customer is named).
const NAMED_SPEAKER: f32 = 1.3;
const OTHER_SPEAKER: f32 = 0.8;
/// A message that only asks is rarely the answer: ×0.7 (its answer gets its score instead).
const ONLY_ASKS: f32 = 0.7;
/// Length: ×(1 + 0.2·ln(words/20)), within 0.5..1.5. Fusion favours short lines (BM25 divides by
/// length, a long message's vector is an average of many things), yet the messages that answer
/// are the ones that say something (LoCoMo dev +0.006 R@10, MRR 0.486 → 0.518; Portuguese +0.006).
const LENGTH: f32 = 0.2;
/// Said within the window of time the question names: ×1.3.
const IN_WINDOW: f32 = 1.3;
/// A message that says when something happened ("yesterday", "two weeks ago", "semana passada"),
/// when the question asks when or for how long: ×1.5. In a chat the date of an event is the day
/// the message was sent plus what it says, so the message that dates the event is the one with
/// the time word (LoCoMo temporal R@10 0.826 → 0.845, MRR 0.667 → 0.724; on the conversations
/// held out 0.693 → 0.731). ×2 ranked LoCoMo's answers higher still but put messages that
/// schedule something ("montagem para 21 de julho") above the purchase a "quando comprou"
/// question is about (Portuguese MRR 0.626 → 0.607); ×1.5 costs it 0.007, and R@10 did not move.
const SAYS_WHEN: f32 = 1.5;

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

/// Multiplies each hit's score by its factors and sorts, best first.
pub(super) fn rerank(hits: &mut [Hit], q: &Question<'_>) {
    let subjects = subjects(hits, q);
    for hit in hits.iter_mut() {
        let words = hit.content.split_whitespace().count().max(1) as f32;
        let mut factor = (1.0 + LENGTH * (words / 20.0).ln()).clamp(0.5, 1.5);
        if q.askers.contains(&hit.id) {
            factor *= ONLY_ASKS;
        }
        if let Some(subjects) = &subjects
            && let Some(w) = who(hit, q.contact)
        {
            factor *= if subjects.contains(&w) {
                NAMED_SPEAKER
            } else {
                OTHER_SPEAKER
            };
        }
        if q.window
            .is_some_and(|w| hit.valid_from >= w.from && hit.valid_from < w.to)
        {
            factor *= IN_WINDOW;
        }
        if q.asks_when && super::when::says_when(&hit.content) {
            factor *= SAYS_WHEN;
        }
        hit.score *= factor;
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
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

    #[test]
    fn the_person_asked_about_comes_first() {
        let line = "we went camping in the mountains with the kids last week, it was lovely";
        let mut hits = vec![hit(1, line, "Caroline", 1.0), hit(2, line, "Melanie", 0.9)];
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
        rerank(&mut hits, &q);
        assert_eq!(hits[0].id.as_u128(), 2, "Melanie's own words");
        let mut alone = vec![hit(1, line, "Caroline", 1.0), hit(2, line, "Caroline", 0.9)];
        rerank(&mut alone, &q);
        assert_eq!(
            alone[0].id.as_u128(),
            1,
            "one speaker: nothing to tell apart"
        );
    }

    #[test]
    fn a_question_about_when_prefers_the_message_that_says_when() {
        let mut hits = vec![
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
                0.8,
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
        rerank(&mut hits, &question(false));
        assert_eq!(hits[0].id.as_u128(), 1, "what she said of it, first");
        rerank(&mut hits, &question(true));
        assert_eq!(hits[0].id.as_u128(), 2, "when: the message that dates it");
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
