"""Words of a text for the metrics and the answer checks, plus the normal forms used as keys
(``normalize`` for storage, ``fold`` and ``shingles`` for matching near-duplicates)."""

from __future__ import annotations

import re
import unicodedata

from llm_engineering.application.text.scripts import HANGUL

_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    """NFC, whitespace runs collapsed to one space, stripped."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def fold(text: str) -> str:
    """A key for matching: NFKC, case-folded, single spaces."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def shingles(text: str, size: int = 5) -> set[str]:
    """Character ``size``-grams of the folded text (works for any script, spaces included)."""
    folded = fold(text)
    if len(folded) <= size:
        return {folded} if folded else set()
    return {folded[i : i + size] for i in range(len(folded) - size + 1)}


def words(text: str) -> list[str]:
    """Case-folded word tokens (``\\w+``: Hangul eojeol, Latin words, digits)."""
    return [w.casefold() for w in _WORD.findall(text or "")]


def lexical_units(text: str) -> list[str]:
    """Words, plus character bigrams inside Hangul words (Korean particles glue onto nouns)."""
    units: list[str] = []
    for word in words(text):
        units.append(word)
        if len(word) > 2 and HANGUL.search(word):
            units.extend(word[i : i + 2] for i in range(len(word) - 1))
    return units


def punctuation_chars(text: str) -> list[str]:
    """Every Unicode punctuation character of a text (categories P*), in order."""
    return [c for c in text or "" if unicodedata.category(c).startswith("P")]
