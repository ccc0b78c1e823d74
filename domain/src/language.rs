//! The languages customers write in, as stored on sessions and contacts (`pt`, `en`, `es`), and
//! reading one from a message. Lingua (the same detector the agent service uses), limited to these
//! three; the same rule as the agent service too: a message of fewer than three words, or one
//! Lingua is less than 60 % sure of, says nothing, and the caller keeps what it knew.

use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};

/// The stored codes, in the order a text is chosen when the customer's is not given (most
/// customers are Brazilian).
pub const LANGUAGES: [&str; 3] = ["pt", "en", "es"];

const MIN_WORDS: usize = 3;
const MIN_CONFIDENCE: f64 = 0.6;

/// `pt`, `en` or `es` when the text is long and clear enough to tell; None otherwise.
pub fn language_of(text: &str) -> Option<&'static str> {
    scores(text)
        .into_iter()
        .next()
        .filter(|(_, confidence)| *confidence >= MIN_CONFIDENCE)
        .map(|(code, _)| code)
}

/// How likely each language is, most likely first, summing to 1; empty for a text of fewer than
/// three words (too short for any detector to be right often enough).
pub fn scores(text: &str) -> Vec<(&'static str, f64)> {
    static DETECTOR: std::sync::LazyLock<LanguageDetector> = std::sync::LazyLock::new(|| {
        LanguageDetectorBuilder::from_languages(&[
            Language::Portuguese,
            Language::English,
            Language::Spanish,
        ])
        .build()
    });
    if text.split_whitespace().count() < MIN_WORDS {
        return Vec::new();
    }
    DETECTOR
        .compute_language_confidence_values(without_names(text))
        .into_iter()
        // The crate is built with these three languages only, so the match is exhaustive.
        .map(|(language, confidence)| {
            let code = match language {
                Language::Portuguese => "pt",
                Language::English => "en",
                Language::Spanish => "es",
            };
            (code, confidence)
        })
        .collect()
}

/// The text without the capitalised words inside its sentences ("Curitiba", "São Paulo", "Ana"):
/// names belong to no language and tip a short message towards the wrong one (the agent service
/// reads messages the same way). The whole text when too little would be left.
fn without_names(text: &str) -> std::borrow::Cow<'_, str> {
    let mut kept = Vec::new();
    let mut previous: Option<&str> = None;
    for word in text.split_whitespace() {
        let inside_sentence = previous.is_some_and(|p| {
            p.chars()
                .last()
                .is_some_and(|c| c.is_alphabetic() || matches!(c, ',' | ';' | ':'))
        });
        let capitalised = word.chars().next().is_some_and(char::is_uppercase)
            && word.chars().filter(|c| c.is_alphabetic()).count() > 1;
        if !(inside_sentence && capitalised) {
            kept.push(word);
        }
        previous = Some(word);
    }
    if kept.len() >= MIN_WORDS {
        std::borrow::Cow::Owned(kept.join(" "))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Whether the text is clearly at least `MIN_CONFIDENCE` one of `codes` taken together (Portuguese
/// and Spanish are close enough that a short message can be clearly one of them and not clearly
/// either).
pub fn clearly_among(text: &str, codes: &[&str]) -> bool {
    scores(text)
        .iter()
        .filter(|(code, _)| codes.contains(code))
        .map(|(_, confidence)| confidence)
        .sum::<f64>()
        >= MIN_CONFIDENCE
}

#[cfg(test)]
mod tests {
    use super::language_of;

    #[test]
    fn a_language_is_read_only_from_clear_words() {
        for (text, code) in [
            ("Oi, quero saber se vocês entregam em Curitiba", "pt"),
            ("O produto veio quebrado, quero meu dinheiro de volta", "pt"),
            ("Hello, do you deliver to Lisbon on weekends?", "en"),
            ("Hi, are you open on Saturday?", "en"),
            // Place names read as no language's words.
            ("Do you deliver in Curitiba?", "en"),
            ("Do you deliver in Sao Paulo?", "en"),
            ("Hola, ¿hacen envíos a Madrid este fin de semana?", "es"),
        ] {
            assert_eq!(language_of(text), Some(code), "{text}");
        }
        for unclear in ["ok", "Obrigado!", "Quero comprar", "", "👍👍👍"] {
            assert_eq!(language_of(unclear), None, "{unclear}");
        }
    }
}
