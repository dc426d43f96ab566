"""Language-agnostic text helpers shared by the evaluation metrics (Hangul, Latin, CJK alike)."""

from __future__ import annotations

import re
import unicodedata

_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])\s+|\n+")
_WORD = re.compile(r"\w+", re.UNICODE)


def is_hangul(char: str) -> bool:
    return "\uac00" <= char <= "\ud7a3" or "\u1100" <= char <= "\u11ff" or "\u3130" <= char <= "\u318f"


def split_sentences(text: str) -> list[str]:
    """Sentences of a text: split after . ! ? 。 ！ ？ … followed by space, and at line breaks."""
    return [s.strip() for s in _SENTENCE_END.split(text or "") if s and s.strip()]


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
