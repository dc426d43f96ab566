"""Language-agnostic text helpers (Hangul, Latin, CJK alike): sentences for the evaluation metrics
and the dataset extracts, words and punctuation for the metrics."""

from __future__ import annotations

import re
import unicodedata

_END = "[.!?…。！？]"
# Whitespace after a sentence end, or after a closing quote or bracket that follows one: the
# punctuation stays with its sentence.
_SENTENCE_END = re.compile(rf"(?<={_END})\s+|(?<={_END}[\"'”’)\]])\s+")
_SENTENCE_OR_LINE_END = re.compile(rf"{_SENTENCE_END.pattern}|\n+")
_WORD = re.compile(r"\w+", re.UNICODE)


def is_hangul(char: str) -> bool:
    return "\uac00" <= char <= "\ud7a3" or "\u1100" <= char <= "\u11ff" or "\u3130" <= char <= "\u318f"


def split_sentences(text: str, line_breaks: bool = True) -> list[str]:
    """Sentences of a text: cut where whitespace follows . ! ? 。 ！ ？ … (with any closing quote or
    bracket after it), and at line breaks unless ``line_breaks`` is false. Nothing but the
    whitespace at a cut is dropped."""
    pattern = _SENTENCE_OR_LINE_END if line_breaks else _SENTENCE_END
    return [s.strip() for s in pattern.split(text or "") if s and s.strip()]


def words(text: str) -> list[str]:
    """Case-folded word tokens (``\\w+``: Hangul eojeol, Latin words, digits)."""
    return [w.casefold() for w in _WORD.findall(text or "")]


def lexical_units(text: str) -> list[str]:
    """Words, plus character bigrams inside Hangul words (Korean particles glue onto nouns)."""
    units: list[str] = []
    for word in words(text):
        units.append(word)
        if len(word) > 2 and any(is_hangul(c) for c in word):
            units.extend(word[i : i + 2] for i in range(len(word) - 1))
    return units


def punctuation_chars(text: str) -> list[str]:
    """Every Unicode punctuation character of a text (categories P*), in order."""
    return [c for c in text or "" if unicodedata.category(c).startswith("P")]
