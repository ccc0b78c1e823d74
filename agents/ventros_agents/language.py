"""Which language a customer writes in, so every reply is in that language.

Ventros's customers write Portuguese, English and Spanish on WhatsApp. Lingua (restricted to those
three, which makes it both faster and surer) reads each message; a message too short or too
ambiguous to say ("ok", "hmm", "oi") keeps the conversation's language: the hint, read from the
customer's earlier messages or given by the caller (`context["language"]`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

SUPPORTED = ("pt", "en", "es")
DEFAULT = "pt"
NAMES = {"pt": "Portuguese", "en": "English", "es": "Spanish"}
_CODES = {Language.PORTUGUESE: "pt", Language.ENGLISH: "en", Language.SPANISH: "es"}
# Below this share of the detector's confidence, or with fewer words, a hint wins.
_SURE = 0.6
_MIN_WORDS = 3
# Without a hint, an unsure reading within this of the default language is a tie, and goes to it.
_TIE = 0.05


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*_CODES).build()


# A capitalised word inside a sentence: a name ("Curitiba", "São Paulo", "Ana"), which belongs to
# no language and tips a short message towards the wrong one.
_NAME = re.compile(r"(?<=[^\W\d_] )[A-ZÀ-Ý][^\W\d_]+|(?<=[^\W\d_][,;:] )[A-ZÀ-Ý][^\W\d_]+")


def _without_names(text: str) -> str:
    stripped = _NAME.sub(" ", text)
    return stripped if len(re.findall(r"[^\W\d_]+", stripped)) >= _MIN_WORDS else text


def scores(text: str) -> list[tuple[str, float]]:
    """(language, confidence) for the supported languages, most likely first."""
    if not re.search(r"[^\W\d_]", text):
        return []
    values = _detector().compute_language_confidence_values(_without_names(text))
    return [(_CODES[v.language], v.value) for v in values]


def detect(text: str, hint: str | None = None) -> str:
    """The language of `text`; `hint` (the conversation's language) decides when the text cannot."""
    hint = hint if hint in SUPPORTED else None
    ranked = scores(text)
    if not ranked:
        return hint or DEFAULT
    best, confidence = ranked[0]
    short = len(re.findall(r"[^\W\d_]+", text)) < _MIN_WORDS
    if hint and (short or confidence < _SURE):
        return hint
    if confidence < _SURE and confidence - dict(ranked).get(DEFAULT, 0.0) <= _TIE:
        # A toss-up with Portuguese: most of Ventros's customers write it.
        return DEFAULT
    return best


def conversation_hint(earlier_messages: list[str], given: str | None = None) -> str | None:
    """The conversation's language from the caller, or from the customer's earlier messages."""
    if given in SUPPORTED:
        return given
    text = " ".join(m for m in earlier_messages[-5:] if m)
    ranked = scores(text) if text.strip() else []
    if ranked and len(re.findall(r"[^\W\d_]+", text)) >= _MIN_WORDS and ranked[0][1] >= _SURE:
        return ranked[0][0]
    return None
