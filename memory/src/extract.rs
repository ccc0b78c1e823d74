//! Offline fact extraction: what a customer says about themselves, as (predicate, object) pairs the
//! knowledge graph can reason about over time; plus the language and memory type of a message.
//!
//! Rules, not a model: deterministic, instant, English and Portuguese. They only fire on first-person
//! statements ("I moved to…", "moro em…"), which keeps junk out of the graph; an LLM extractor can
//! replace them through configuration (the FactExtractionAgent), the graph logic stays the same.

use std::sync::LazyLock;

use regex::Regex;

/// How a predicate behaves over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// At most one current value (lives_in, works_at, email, a deal's stage): a new value
    /// invalidates the old one.
    One,
    /// Accumulates (purchased, likes, tagged); only an explicit opposite invalidates.
    Many,
}

#[derive(Debug, Clone, Copy)]
pub struct Predicate {
    pub name: &'static str,
    pub cardinality: Cardinality,
    pub object_type: &'static str,
    pub memory_type: &'static str,
    /// English phrase between subject and object in the fact's text.
    pub phrase: &'static str,
    /// The predicate whose fact about the same object this one contradicts.
    pub opposite: Option<&'static str>,
}

pub const PREDICATES: &[Predicate] = &[
    Predicate {
        name: "lives_in",
        cardinality: Cardinality::One,
        object_type: "place",
        memory_type: "profile",
        phrase: "lives in",
        opposite: None,
    },
    Predicate {
        name: "works_at",
        cardinality: Cardinality::One,
        object_type: "organization",
        memory_type: "profile",
        phrase: "works at",
        opposite: None,
    },
    Predicate {
        name: "email",
        cardinality: Cardinality::One,
        object_type: "email",
        memory_type: "profile",
        phrase: "has the email",
        opposite: None,
    },
    Predicate {
        name: "name",
        cardinality: Cardinality::One,
        object_type: "name",
        memory_type: "profile",
        phrase: "is called",
        opposite: None,
    },
    Predicate {
        name: "birthday",
        cardinality: Cardinality::One,
        object_type: "date",
        memory_type: "profile",
        phrase: "has a birthday on",
        opposite: None,
    },
    Predicate {
        name: "likes",
        cardinality: Cardinality::Many,
        object_type: "topic",
        memory_type: "preference",
        phrase: "likes",
        opposite: Some("dislikes"),
    },
    Predicate {
        name: "dislikes",
        cardinality: Cardinality::Many,
        object_type: "topic",
        memory_type: "preference",
        phrase: "dislikes",
        opposite: Some("likes"),
    },
    Predicate {
        name: "prefers",
        cardinality: Cardinality::Many,
        object_type: "topic",
        memory_type: "preference",
        phrase: "prefers",
        opposite: None,
    },
    Predicate {
        name: "purchased",
        cardinality: Cardinality::Many,
        object_type: "product",
        memory_type: "purchase",
        phrase: "purchased",
        opposite: None,
    },
    Predicate {
        name: "wants",
        cardinality: Cardinality::Many,
        object_type: "product",
        memory_type: "purchase",
        phrase: "wants",
        opposite: None,
    },
    Predicate {
        name: "has_problem_with",
        cardinality: Cardinality::Many,
        object_type: "product",
        memory_type: "support_ticket",
        phrase: "has a problem with",
        opposite: None,
    },
    // Structured CRM events (no extraction involved).
    Predicate {
        name: "has_deal",
        cardinality: Cardinality::Many,
        object_type: "deal",
        memory_type: "deal",
        phrase: "has the deal",
        opposite: None,
    },
    Predicate {
        name: "in_stage",
        cardinality: Cardinality::One,
        object_type: "stage",
        memory_type: "deal",
        phrase: "is in stage",
        opposite: None,
    },
    Predicate {
        name: "tagged",
        cardinality: Cardinality::Many,
        object_type: "tag",
        memory_type: "profile",
        phrase: "is tagged",
        opposite: None,
    },
];

pub fn predicate(name: &str) -> Option<&'static Predicate> {
    PREDICATES.iter().find(|p| p.name == name)
}

/// Custom attributes set on the contact become single-valued `attribute:<key>` facts.
pub fn attribute_predicate() -> Predicate {
    Predicate {
        name: "attribute",
        cardinality: Cardinality::One,
        object_type: "value",
        memory_type: "profile",
        phrase: "has",
        opposite: None,
    }
}

/// One statement pulled out of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub predicate: &'static str,
    pub object: String,
}

struct Rule {
    predicate: &'static str,
    pattern: Regex,
}

// The object is the rest of the clause: up to punctuation or a conjunction.
const OBJECT: &str = r"(?P<o>[^.,!?;:\n]{2,60})";

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |predicate: &'static str, pattern: &str| Rule {
        predicate,
        pattern: Regex::new(&format!(r"(?i)(?:^|[^\p{{L}}]){pattern}\s+{OBJECT}"))
            .expect("valid rule"),
    };
    vec![
        // Negations first: "I don't like X" must not also read as "I like X".
        rule(
            "dislikes",
            r"(?:i\s+(?:don'?t|do\s+not|no\s+longer|never)\s+(?:like|love|enjoy)|i\s+hate|i\s+can'?t\s+stand|n[ãa]o\s+gosto\s+(?:mais\s+)?d[eoa]s?|odeio)",
        ),
        rule(
            "lives_in",
            r"(?:i\s+(?:now\s+)?live\s+in|i'?m\s+living\s+in|i\s+(?:just\s+|recently\s+)?(?:moved|relocated)\s+to|we\s+(?:just\s+)?moved\s+to|i'?m\s+based\s+in|(?:eu\s+)?moro\s+(?:em|no|na)|(?:me\s+)?mudei\s+(?:para|pra)(?:\s+[oa])?|mudei\s+de\s+(?:casa|endere[çc]o)\W+(?:agora\s+)?(?:estou|moro|fico)\s+(?:em|no|na)|meu\s+(?:novo\s+)?endere[çc]o\s+(?:[ée]|fica)\s+(?:em|no|na)|vivo\s+em)",
        ),
        rule(
            "works_at",
            r"(?:i\s+(?:now\s+)?work\s+(?:at|for)|i'?m\s+working\s+(?:at|for)|i\s+got\s+a\s+job\s+at|trabalho\s+(?:na|no|em|para|pra))",
        ),
        rule(
            "name",
            r"(?:my\s+name\s+is|call\s+me|meu\s+nome\s+[ée]|me\s+chamo)",
        ),
        rule(
            "birthday",
            r"(?:my\s+birthday\s+is(?:\s+on)?|meu\s+anivers[áa]rio\s+[ée](?:\s+(?:em|dia))?)",
        ),
        rule(
            "purchased",
            r"(?:i\s+(?:just\s+)?(?:bought|purchased|ordered)|i'?ll\s+take|comprei|encomendei|fechei|(?:quero|queria|vou|pode|podemos)\s+fechar|(?:vou|quero|queria)\s+levar)",
        ),
        rule(
            "wants",
            r"(?:i\s+(?:want|would\s+like|'d\s+like)\s+to\s+(?:buy|order|purchase)|i'?m\s+interested\s+in|quero\s+comprar|tenho\s+interesse\s+(?:em|no|na))",
        ),
        rule("prefers", r"(?:i\s+prefer|prefiro)"),
        rule(
            "likes",
            r"(?:i\s+(?:really\s+)?(?:like|love|enjoy)|i'?m\s+a\s+(?:big\s+)?fan\s+of|gosto\s+(?:muito\s+)?d[eoa]s?|adoro|amo)",
        ),
        rule(
            "has_problem_with",
            r"(?:(?:a\s+)?problem\s+with|issue\s+with|problema\s+(?:com|no|na))",
        ),
    ]
});

/// "<my/the thing> <arrived/stopped/…> <how it is wrong>", in Portuguese and English: up to three
/// words may come between the verb and the defect ("veio numa cor diferente").
static DEFECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:^|[^\p{L}])(?:o|a|os|as|meu|minha|meus|minhas|my|the|our)\s+(?P<o>[^.,!?;:\n]{2,60}?)\s+(?:(?:veio|vieram|chegou|chegaram|est[áa]|est[ãa]o|ficou|ficaram|arrived|came)(?:\s+[^\s.,!?;:]+){0,3}?\s+(?:quebrad[oa]s?|com\s+defeito|errad[oa]s?|faltando|diferente|danificad[oa]s?|amassad[oa]s?|rasgad[oa]s?|sem\s+\p{L}+|broken|damaged|wrong|missing|defective)|(?:parou|pararam)\s+de\s+funcionar|stopped\s+working|n[ãa]o\s+(?:est[áa]\s+)?funciona)",
    )
    .expect("valid")
});
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").expect("valid"));
static CLAUSE_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\s+(?:and|but|because|since|so|which|who|when|e|mas|porque|pois|que|quando)\s")
        .expect("valid")
});
static LEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:the|a|an|my|our|to|that|this|o|a|os|as|um|uma|meu|minha|aquel[ea]s?|ess[ea]s?|est[ea]s?)\s+").expect("valid")
});
static TRAILING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\s+(?:now|today|yesterday|last\s+\w+|this\s+\w+|a\s+lot|very\s+much|so\s+much|too|agora|hoje|ontem|muito)$").expect("valid")
});

fn clean_object(raw: &str) -> Option<String> {
    let mut object = raw.trim();
    if let Some(m) = CLAUSE_END.find(object) {
        object = &object[..m.start()];
    }
    let mut object = LEADING.replace(object.trim(), "").into_owned();
    loop {
        let trimmed = TRAILING.replace(&object, "").into_owned();
        if trimmed == object {
            break;
        }
        object = trimmed;
    }
    let words: Vec<&str> = object.split_whitespace().take(6).collect();
    let object = words.join(" ");
    let letters = object.chars().filter(|c| c.is_alphanumeric()).count();
    // Pronouns, fillers and clauses are not things ("I like it", "I love that you came",
    // "I like how it looks").
    const VAGUE: &[&str] = &[
        "it", "that", "this", "these", "those", "them", "you", "your", "how", "what", "when",
        "where", "why", "who", "all", "being", "so", "very", "really", "just", "isso", "disso",
        "ele", "ela", "voce", "você", "que", "como", "quando",
        // "fechar a conta / o pedido": the bill or the order, not a product.
        "conta", "pedido", "compra",
    ];
    let first = object
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_lowercase();
    (letters >= 2 && !VAGUE.contains(&first.as_str())).then_some(object)
}

/// First-person statements in a customer's message.
pub fn extract_facts(text: &str) -> Vec<Extracted> {
    let mut facts: Vec<Extracted> = Vec::new();
    let mut claimed: Vec<std::ops::Range<usize>> = Vec::new();
    for rule in RULES.iter() {
        for caps in rule.pattern.captures_iter(text) {
            let whole = caps.get(0).expect("match");
            // A span already read by an earlier (more specific) rule is not read again.
            if claimed
                .iter()
                .any(|r| r.start < whole.end() && whole.start() < r.end)
            {
                continue;
            }
            let raw = caps.name("o").expect("object group");
            let Some(object) = clean_object(raw.as_str()) else {
                continue;
            };
            // Only the clause read is claimed: "… and I work at X" stays readable by other rules.
            let clause_end = raw.start()
                + CLAUSE_END
                    .find(raw.as_str())
                    .map_or(raw.len(), |m| m.start());
            claimed.push(whole.start()..clause_end);
            let fact = Extracted {
                predicate: rule.predicate,
                object,
            };
            if !facts.contains(&fact) {
                facts.push(fact);
            }
        }
    }
    // A complaint names the thing before what went wrong with it ("o sofá veio numa cor
    // diferente", "my order arrived damaged").
    for caps in DEFECT.captures_iter(text) {
        let Some(object) = clean_object(&caps["o"]) else {
            continue;
        };
        let fact = Extracted {
            predicate: "has_problem_with",
            object,
        };
        if !facts.contains(&fact) {
            facts.push(fact);
        }
    }
    if let Some(email) = EMAIL.find(text) {
        facts.push(Extracted {
            predicate: "email",
            object: email.as_str().to_lowercase(),
        });
    }
    facts
}

/// Reads FactExtractionAgent's answer, `{"facts": [{"predicate": "lives_in", "object": "Rio"}]}`.
/// Predicates outside the vocabulary, structural ones (deals, tags) and vague objects are dropped:
/// a model's answer never writes anything the rules could not have written.
pub fn parse_agent_facts(answer: &str) -> Vec<Extracted> {
    // Models like to wrap JSON in prose or code fences: read the outermost object.
    let json = match (answer.find('{'), answer.rfind('}')) {
        (Some(start), Some(end)) if start < end => &answer[start..=end],
        _ => return Vec::new(),
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    const FROM_TEXT: &[&str] = &[
        "lives_in",
        "works_at",
        "email",
        "name",
        "birthday",
        "likes",
        "dislikes",
        "prefers",
        "purchased",
        "wants",
        "has_problem_with",
    ];
    let mut facts = Vec::new();
    for item in value["facts"].as_array().into_iter().flatten() {
        let (Some(predicate), Some(object)) = (item["predicate"].as_str(), item["object"].as_str())
        else {
            continue;
        };
        let Some(predicate) = FROM_TEXT.iter().find(|p| **p == predicate) else {
            continue;
        };
        let Some(object) = clean_object(object) else {
            continue;
        };
        let fact = Extracted { predicate, object };
        if !facts.contains(&fact) {
            facts.push(fact);
        }
    }
    facts
}

/// `english` or `portuguese`: the text-search configuration a memory is indexed with (the two
/// the keyword search queries). The message's language when its words are clear (Lingua, see
/// [`ventros_domain::language`]; Spanish goes with Portuguese, the nearer stemmer), else the
/// language the contact writes in (`known`, as the agent service detected it), else English, whose
/// stemmer leaves words it does not know alone.
pub fn detect_language(text: &str, known: Option<&str>) -> &'static str {
    use ventros_domain::language::clearly_among;
    if clearly_among(text, &["pt", "es"]) {
        "portuguese"
    } else if clearly_among(text, &["en"]) {
        "english"
    } else if matches!(known, Some("pt" | "es")) {
        "portuguese"
    } else {
        "english"
    }
}

/// What kind of memory a customer message is, for filtering by memory type.
pub fn classify_memory(text: &str) -> &'static str {
    let t = text.to_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if any(&[
        "broken",
        "not working",
        "doesn't work",
        "error",
        "refund",
        "complain",
        "defect",
        "stopped working",
        "problem",
        "issue",
        "quebr",
        "não funciona",
        "nao funciona",
        "erro",
        "reembolso",
        "reclama",
        "defeito",
        "problema",
    ]) {
        "support_ticket"
    } else if any(&[
        "bought",
        "purchase",
        "ordered",
        "order #",
        "invoice",
        "paid",
        "comprei",
        "pedido",
        "paguei",
        "nota fiscal",
    ]) {
        "purchase"
    } else if any(&[
        "prefer",
        "i like",
        "i love",
        "favorite",
        "favourite",
        "i hate",
        "prefiro",
        "gosto",
        "adoro",
        "odeio",
        "favorit",
    ]) {
        "preference"
    } else {
        "conversation"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(&'static str, String)> {
        extract_facts(text)
            .into_iter()
            .map(|f| (f.predicate, f.object))
            .collect()
    }

    #[test]
    fn first_person_statements_in_english_and_portuguese() {
        assert_eq!(
            pairs("Hi! I live in São Paulo and I work at Acme Corp."),
            vec![
                ("lives_in", "São Paulo".to_owned()),
                ("works_at", "Acme Corp".to_owned())
            ]
        );
        assert_eq!(
            pairs("Good news: I moved to Rio last month"),
            vec![("lives_in", "Rio".to_owned())]
        );
        assert_eq!(
            pairs("Eu moro em Belo Horizonte, mas trabalho na Petrobras"),
            vec![
                ("lives_in", "Belo Horizonte".to_owned()),
                ("works_at", "Petrobras".to_owned())
            ]
        );
        assert_eq!(
            pairs("I don't like spicy food but I love sushi"),
            vec![
                ("dislikes", "spicy food".to_owned()),
                ("likes", "sushi".to_owned())
            ]
        );
        assert_eq!(
            pairs("comprei o Plano Pro ontem, meu email é ana@example.com"),
            vec![
                ("purchased", "Plano Pro".to_owned()),
                ("email", "ana@example.com".to_owned())
            ]
        );
        assert_eq!(
            pairs(
                "Queria fechar aquele sofá retrátil de 3 lugares que vi no Instagram. Ainda tem?"
            ),
            vec![("purchased", "sofá retrátil de 3 lugares".to_owned())],
            "closing a product is buying it"
        );
        assert_eq!(
            pairs("Pode ser, vou levar a cadeira ergonômica"),
            vec![("purchased", "cadeira ergonômica".to_owned())]
        );
        assert_eq!(
            pairs("Mudei de casa! Agora estou no Savassi, em Belo Horizonte"),
            vec![("lives_in", "Savassi".to_owned())]
        );
        assert_eq!(
            pairs("Meu endereço é na Rua das Flores 12"),
            vec![("lives_in", "Rua das Flores 12".to_owned())]
        );
        assert!(
            pairs("Quero fechar a conta").is_empty() && pairs("Vou fechar o pedido").is_empty(),
            "closing the bill or the order names no product"
        );
        assert!(
            pairs("Mudei de ideia").is_empty(),
            "a change of mind is not a move"
        );
        assert_eq!(
            pairs(
                "Estou chateada, o sofá retrátil de 3 lugares veio numa cor diferente da que eu escolhi"
            ),
            vec![("has_problem_with", "sofá retrátil de 3 lugares".to_owned())]
        );
        assert_eq!(
            pairs("A geladeira frost free parou de funcionar depois de uma semana"),
            vec![("has_problem_with", "geladeira frost free".to_owned())]
        );
        assert_eq!(
            pairs("My order arrived damaged"),
            vec![("has_problem_with", "order".to_owned())]
        );
        assert!(
            pairs("O sofá chegou ontem, ficou lindo na sala").is_empty(),
            "an arrival without a defect is no complaint"
        );
        assert!(pairs("I like it").is_empty(), "pronouns are not things");
        assert!(
            pairs("I love that you came, I like how it looks").is_empty(),
            "clauses are not things"
        );
        assert_eq!(pairs("I like to swim"), vec![("likes", "swim".to_owned())]);
        assert!(
            pairs("She lives in Paris").is_empty(),
            "third-person hearsay is not a fact about the contact"
        );
    }

    #[test]
    fn agent_answers_are_read_within_the_vocabulary() {
        let answer = "Sure! ```json\n{\"facts\": [{\"predicate\": \"lives_in\", \"object\": \"Rio de Janeiro\"},
                      {\"predicate\": \"in_stage\", \"object\": \"won\"}, {\"predicate\": \"likes\", \"object\": \"it\"},
                      {\"predicate\": \"owns_spaceship\", \"object\": \"X\"}]}\n```";
        assert_eq!(
            parse_agent_facts(answer),
            vec![Extracted {
                predicate: "lives_in",
                object: "Rio de Janeiro".into()
            }]
        );
        assert!(parse_agent_facts("no JSON here").is_empty());
        assert!(parse_agent_facts("{\"facts\": 3}").is_empty());
    }

    #[test]
    fn language_and_memory_type() {
        for pt in [
            "Olá, eu quero comprar um plano",
            "Vocês abrem no sábado?",
            "Me mudei para Curitiba no mês passado",
            "O produto veio quebrado, quero meu dinheiro de volta",
        ] {
            assert_eq!(detect_language(pt, None), "portuguese", "{pt}");
            assert_eq!(detect_language(pt, Some("en")), "portuguese", "{pt}");
        }
        assert_eq!(
            detect_language("Hello, I want to buy a plan", None),
            "english"
        );
        for en in [
            "Can you deliver it to my office tomorrow morning?",
            "I moved to Lisbon last month and I love the food there",
        ] {
            assert_eq!(detect_language(en, None), "english", "{en}");
            assert_eq!(detect_language(en, Some("pt")), "english", "{en}");
        }
        // Too short to tell: the contact's language decides, English when it is not known.
        for short in ["Bom dia!", "ok", "Quero comprar", "You too!"] {
            assert_eq!(detect_language(short, Some("pt")), "portuguese", "{short}");
            assert_eq!(detect_language(short, Some("en")), "english", "{short}");
            assert_eq!(detect_language(short, None), "english", "{short}");
        }
        assert_eq!(
            classify_memory("My router stopped working"),
            "support_ticket"
        );
        assert_eq!(classify_memory("I bought the Pro plan"), "purchase");
        assert_eq!(classify_memory("I prefer WhatsApp"), "preference");
        assert_eq!(classify_memory("see you tomorrow"), "conversation");
    }
}
