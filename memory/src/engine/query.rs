//! Reading a query: its words (safe to splice into a tsquery) and the relations they point at
//! ("where does she live" → `lives_in`), in English and Portuguese.

use std::collections::BTreeSet;

/// Words of a query, safe to splice into a tsquery (letters and digits only).
pub(crate) fn query_terms(query: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .filter(|w| seen.insert(w.clone()))
        .take(32)
        .collect()
}

/// The query without the contact's own name, for a search inside that contact's memory: there
/// every row is about them, so their name tells nothing apart; worse, it matches the many short
/// rows that only greet or thank them ("Valeu, Ana!") and pulls the embedding towards them.
/// Returns the query unchanged when nothing else would be left.
pub(crate) fn without_name(query: &str, name: &str) -> String {
    // Particles ("Maria da Silva") are ordinary words in a query.
    const PARTICLES: &[&str] = &[
        "da", "de", "do", "das", "dos", "di", "du", "del", "la", "le", "van", "von", "e", "y",
    ];
    let names: Vec<String> = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .filter(|w| !PARTICLES.contains(&w.as_str()))
        .collect();
    let kept: Vec<&str> = query
        .split_whitespace()
        .filter(|word| {
            let bare = word
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            let bare = bare
                .strip_suffix("'s")
                .or_else(|| bare.strip_suffix("’s"))
                .unwrap_or(&bare);
            !names.iter().any(|n| n == bare)
        })
        .collect();
    if kept.iter().any(|w| w.chars().any(char::is_alphanumeric)) {
        kept.join(" ")
    } else {
        query.to_owned()
    }
}

/// Query words that point at a relation rather than a thing ("where does she live" → lives_in).
pub(super) fn linked_predicates(terms: &[String]) -> Vec<String> {
    const TRIGGERS: &[(&str, &[&str])] = &[
        (
            "lives_in",
            &[
                "live",
                "lives",
                "living",
                "moved",
                "move",
                "city",
                "where",
                "address",
                "mora",
                "moro",
                "cidade",
                "mudou",
                "endereço",
                "onde",
            ],
        ),
        (
            "works_at",
            &[
                "work", "works", "job", "company", "employer", "trabalha", "trabalho", "empresa",
                "emprego",
            ],
        ),
        ("email", &["email", "mail", "e-mail"]),
        ("name", &["name", "called", "nome"]),
        (
            "birthday",
            &["birthday", "born", "aniversário", "aniversario", "nasceu"],
        ),
        (
            "likes",
            &[
                "like",
                "likes",
                "love",
                "enjoy",
                "favorite",
                "favourite",
                "gosta",
                "adora",
                "preferido",
                "favorito",
            ],
        ),
        ("dislikes", &["dislike", "hate", "odeia"]),
        (
            "prefers",
            &["prefer", "prefers", "preference", "prefere", "preferência"],
        ),
        (
            "purchased",
            &[
                "bought",
                "buy",
                "purchase",
                "purchased",
                "order",
                "ordered",
                "comprou",
                "compra",
                "pedido",
            ],
        ),
        (
            "wants",
            &["want", "wants", "interested", "quer", "interesse"],
        ),
        (
            "has_problem_with",
            &[
                "problem",
                "issue",
                "broken",
                "complaint",
                "support",
                "problema",
                "defeito",
                "reclamação",
            ],
        ),
        (
            "in_stage",
            &[
                "stage", "deal", "pipeline", "status", "etapa", "negócio", "funil",
            ],
        ),
        ("has_deal", &["deal", "deals", "negócio", "oportunidade"]),
        ("tagged", &["tag", "tags", "tagged", "label", "etiqueta"]),
    ];
    // A plural asks about the same relation ("problemas", "cidades", "purchases").
    fn singular(t: &str) -> &str {
        t.strip_suffix('s').unwrap_or(t)
    }
    TRIGGERS
        .iter()
        .filter(|(_, words)| {
            terms
                .iter()
                .any(|t| words.contains(&t.as_str()) || words.contains(&singular(t)))
        })
        .map(|(p, _)| (*p).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contacts_own_name_is_left_out() {
        assert_eq!(
            without_name("Quais cores a Ana evita?", "Ana Souza"),
            "Quais cores a evita?"
        );
        assert_eq!(
            without_name("What is Caroline's identity?", "Caroline"),
            "What is identity?"
        );
        assert_eq!(
            without_name("What did Melanie paint?", "Caroline"),
            "What did Melanie paint?",
            "another person's name stays"
        );
        assert_eq!(without_name("Ana Souza?", "Ana Souza"), "Ana Souza?");
        assert_eq!(
            without_name("O que Maria comprou da loja?", "Maria da Silva"),
            "O que comprou da loja?",
            "a particle of the name is an ordinary word"
        );
    }

    #[test]
    fn queries_link_relations() {
        let terms = query_terms("Where does Ana live now?");
        assert!(linked_predicates(&terms).contains(&"lives_in".to_owned()));
        let plural = query_terms("Por quais cidades ela passou? Que problemas teve?");
        assert_eq!(
            linked_predicates(&plural),
            vec!["lives_in".to_owned(), "has_problem_with".to_owned()]
        );
        assert_eq!(
            query_terms("a ' OR 1=1; --"),
            vec!["or".to_owned()],
            "only words reach tsquery"
        );
    }
}
